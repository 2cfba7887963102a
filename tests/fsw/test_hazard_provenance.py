"""Only the ground removes an inhibit (decision 0024), as operator procedures on one node.

A command that arms, removes an inhibit, enters critical mode or fires is taken from a stored
sequence or the time-based schedule only when that sequence or schedule entry was loaded with the
ground's hazardous confirmation. It is checked when loaded, again when it executes, and again when
a reboot restores it from the NV store; each refusal is a failed verification and an event that
says why. Fault protection may only make things safer. A direct ground command needs the
confirmation mark too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fsw.core.config import ConfigError, load_config, parse_config
from fsw.core.hazard import CommandSource
from fsw.core.node import Node
from fsw.dictionary.loads import build_sequence_load
from fsw.dictionary.model import CONFIRMED_SOURCE, EventDecoded
from fsw.services.pus_11_scheduling import SequencingError, build_insert
from hal.clock import ManualClock
from hal.protocol.pus import PusTc
from tests.fsw.test_node import DICTIONARY, Spacecraft

FIRE_CODE = 140 << 8 | 1  # test.fire, as gate.arm names it
HAZARDOUS = [
    ("gate.remove_inhibit", {"inhibit": 0}),
    ("gate.arm", {"command": FIRE_CODE}),
    ("modes.set", {"mode": 3}),
]
IDS = [name for name, _ in HAZARDOUS]


def events(craft: Spacecraft, name: str) -> list[str]:
    """The details of every event ``name`` the node reported."""
    out = []
    for tm in craft.tm:
        if tm.service == 5:
            event = EventDecoded.parse(tm.source_data)
            if DICTIONARY.event(event.event_id).name == name:
                out.append(event.detail)
    return out


def nominal(craft: Spacecraft) -> None:
    assert craft.command("modes.set", mode=2)[-1] == "completed"


def untouched(craft: Spacecraft) -> None:
    """Nothing hazardous happened: every inhibit in place, nothing armed, not critical."""
    assert all(craft.node.gate.inhibits.values())
    assert craft.node.gate.armed(craft.clock.now()) == {}
    assert craft.node.modes.mode != "critical"


def craft_at(nv: Path) -> Spacecraft:
    return Spacecraft(nv)


@pytest.fixture
def craft(tmp_path: Path) -> Spacecraft:
    return craft_at(tmp_path / "nv")


# ------------------------------------------------------------------------------- direct commands


@pytest.mark.parametrize(("name", "args"), HAZARDOUS, ids=IDS)
def test_a_direct_ground_command_without_the_confirmation_mark_is_refused(craft, name, args):
    nominal(craft)
    stages = craft.send(craft.packet(name, confirmed=False, **args))
    assert stages == [f"acceptance_failed hazard:unconfirmed: {name} from ground: sent without "
                      "the ground's confirmation"]  # fmt: skip
    rejected = events(craft, "core.command_rejected")
    assert "hazard:unconfirmed" in rejected[-1] and "confirmation" in rejected[-1]
    untouched(craft)
    assert craft.send(craft.packet(name, confirmed=True, **args))[-1] == "completed"


def test_a_safing_command_needs_no_confirmation(craft):
    nominal(craft)
    assert craft.command("modes.set", mode=1, confirmed=False)[-1] == "completed"
    assert craft.command("gate.restore_inhibit", inhibit=0)[-1] == "completed"
    assert craft.command("gate.disarm", command=0xFFFF)[-1] == "completed"


# ------------------------------------------------------------------------------- the schedule


def insert(craft: Spacecraft, items: list, *, confirmed: bool) -> list[str]:
    data = build_insert(items)
    return craft.send(craft.packet("schedule.insert", confirmed=confirmed, data=data))


@pytest.mark.parametrize(("name", "args"), HAZARDOUS, ids=IDS)
def test_a_time_tagged_hazardous_command_without_the_confirmation_is_refused_at_load(
    craft, name, args
):
    nominal(craft)
    at = craft.clock.now() + 1.0
    stages = insert(craft, [(at, craft.packet(name, confirmed=True, **args))], confirmed=False)
    assert stages[-1].startswith(f"completion_failed hazard:unconfirmed: {name} from schedule")
    assert "loaded without the ground's confirmation" in stages[-1]
    refused = events(craft, "schedule.schedule_refused")[-1]
    assert refused.startswith("insert from ground: hazard:unconfirmed") and name in refused
    assert craft.node.schedule.schedule.activities() == []
    craft.command("schedule.enable")
    craft.run(2.0)
    untouched(craft)


@pytest.mark.parametrize(
    "source", [CommandSource.schedule(name="9"), CommandSource.sequence("old")], ids=str
)
@pytest.mark.parametrize(("name", "args"), HAZARDOUS, ids=IDS)
def test_an_unconfirmed_stored_command_is_refused_again_when_it_executes(craft, name, args, source):
    nominal(craft)
    packet = craft.packet(name, confirmed=True, **args)  # the mark inside counts for nothing
    craft.send(packet, source)
    assert craft.stages(packet)[0] == (
        f"acceptance_failed hazard:unconfirmed: {name} from {source}: loaded without the "
        "ground's confirmation"
    )
    rejected = events(craft, "core.command_rejected")[-1]
    assert rejected.startswith(f"hazard:unconfirmed: {name} from {source}: loaded without")
    untouched(craft)


def test_time_tagged_hazardous_commands_inserted_with_the_confirmation_run(craft):
    nominal(craft)
    at = craft.clock.now() + 1.0
    items = [(at, craft.packet("gate.remove_inhibit", inhibit=0)),
             (at, craft.packet("gate.remove_inhibit", inhibit=1)),
             (at + 0.5, craft.packet("modes.set", mode=3)),
             (at + 1.0, craft.packet("gate.arm", command=FIRE_CODE))]  # fmt: skip
    assert insert(craft, items, confirmed=True)[-1] == "completed"
    assert all(a.confirmed for a in craft.node.schedule.schedule.activities())
    craft.command("schedule.enable")
    craft.run(3.0)
    assert not any(craft.node.gate.inhibits.values())
    assert craft.node.modes.mode == "critical"
    assert set(craft.node.gate.armed(craft.clock.now())) == {"test.fire"}
    assert "by schedule:" in events(craft, "gate.hazard_armed")[-1]


def test_a_confirmed_schedule_entry_keeps_its_confirmation_across_a_reboot(tmp_path):
    craft = craft_at(tmp_path / "nv")
    at = 50.0
    items = [(at, craft.packet("gate.remove_inhibit", inhibit=0))]
    assert insert(craft, items, confirmed=True)[-1] == "completed"
    again = craft_at(tmp_path / "nv")  # a reset: the schedule comes back from the NV store
    restored = again.node.schedule.schedule.activities()
    assert [a.confirmed for a in restored] == [True]
    again.command("schedule.enable")
    again.run(51.0)
    assert again.node.gate.inhibits["arm_plug"] is False


@pytest.mark.parametrize("row_format", ["without flag", "flag false"])
def test_an_unconfirmed_hazardous_entry_found_in_the_schedule_after_a_reboot_is_dropped(
    tmp_path, row_format
):
    craft = craft_at(tmp_path / "nv")
    rows = []
    for ident, (name, args) in enumerate(HAZARDOUS, start=1):
        hexed = craft.packet(name, confirmed=True, **args).pack().hex()
        rows.append(
            [40.0 + ident, ident, hexed] + ([] if row_format == "without flag" else [False])
        )
    ping = craft.packet("core.ping").pack().hex()
    rows.append([45.0, 9, ping] + ([] if row_format == "without flag" else [False]))
    craft.node.nv.put("schedule", {"enabled": True, "next_id": 10, "activities": rows})

    again = craft_at(tmp_path / "nv")
    assert [a.id for a in again.node.schedule.schedule.activities()] == [9]  # the ping stays
    dropped = events(again, "schedule.schedule_refused")
    assert len(dropped) == 3
    for (name, _), detail in zip(HAZARDOUS, dropped, strict=True):
        assert "dropped at restore" in detail and f"hazard:unconfirmed: {name}" in detail
    assert again.node.nv.get("schedule")["activities"] == [[45.0, 9, ping, False]]
    nominal(again)
    again.command("schedule.enable")
    again.run(50.0)
    untouched(again)


# ------------------------------------------------------------------------------- stored sequences


def load(craft: Spacecraft, name: str, steps: list, *, confirmed: bool) -> list[str]:
    data = build_sequence_load(name, steps)
    return craft.send(craft.packet("seq.load", confirmed=confirmed, data=data))


@pytest.mark.parametrize(("name", "args"), HAZARDOUS, ids=IDS)
def test_a_sequence_load_with_a_hazardous_step_and_no_confirmation_is_refused(craft, name, args):
    steps = [(0.0, craft.packet("core.ping")), (1.0, craft.packet(name, **args))]
    stages = load(craft, "unsafe", steps, confirmed=False)
    assert stages[-1].startswith(f"completion_failed hazard:unconfirmed: {name} from sequence")
    assert "sequence:unsafe" in events(craft, "seq.sequence_refused")[-1]
    assert "unsafe" not in craft.node.sequences.names


def test_a_sequence_loaded_with_the_confirmation_runs_and_keeps_it_across_a_reboot(tmp_path):
    craft = craft_at(tmp_path / "nv")
    nominal(craft)
    steps = [(0.0, craft.packet("gate.remove_inhibit", inhibit=0)),
             (0.5, craft.packet("gate.remove_inhibit", inhibit=1)),
             (0.5, craft.packet("modes.set", mode=3)),
             (0.5, craft.packet("gate.arm", command=FIRE_CODE))]  # fmt: skip
    assert load(craft, "arm_fire", steps, confirmed=True)[-1] == "completed"
    index = craft.node.sequences.names.index("arm_fire")
    assert f"arm_fire is sequence {index}" in events(craft, "seq.sequence_loaded")[-1]
    assert craft.command("seq.start", sequence=index)[-1] == "completed"
    craft.run(2.0)
    assert craft.node.modes.mode == "critical"
    assert set(craft.node.gate.armed(craft.clock.now())) == {"test.fire"}

    again = craft_at(tmp_path / "nv")
    assert again.node.sequences.names.index("arm_fire") == index
    nominal(again)
    assert again.command("seq.start", sequence=index)[-1] == "completed"
    again.run(2.0)
    assert again.node.modes.mode == "critical"


def test_a_sequence_is_replaced_only_when_it_is_not_running(craft):
    steps = [(0.0, craft.packet("core.ping")), (30.0, craft.packet("core.ping"))]
    assert load(craft, "pings", steps, confirmed=False)[-1] == "completed"
    index = craft.node.sequences.names.index("pings")
    craft.command("seq.start", sequence=index)
    stages = load(craft, "pings", steps[:1], confirmed=False)
    assert stages[-1].startswith("completion_failed precondition: running")
    craft.command("seq.stop", sequence=index)
    assert load(craft, "pings", steps[:1], confirmed=False)[-1] == "completed"
    assert craft.node.sequences.engine.progress("pings") == (0, 1, "loaded")


def test_a_sequence_load_that_does_not_decode_is_refused_whole(craft):
    good = build_sequence_load("pings", [(0.0, craft.packet("core.ping"))])
    stages = craft.send(craft.packet("seq.load", data=good[:-3]))
    assert stages[-1].startswith("completion_failed bad_data: bad_length")
    nested = [(0.0, craft.packet("schedule.insert", data=build_insert([])))]
    stages = load(craft, "nested", nested, confirmed=True)
    assert "nested_load" in stages[-1]
    assert "pings" not in craft.node.sequences.names and "nested" not in craft.node.sequences.names


def test_an_unconfirmed_hazardous_sequence_found_after_a_reboot_is_dropped(tmp_path):
    craft = craft_at(tmp_path / "nv")
    arm = craft.packet("gate.arm", command=FIRE_CODE).pack().hex()
    state = craft.node.nv.get("sequences")
    state["sequences"].append(
        {"name": "old_arm", "steps": [[0.0, arm]], "step": 0, "state": "loaded"}
    )
    craft.node.nv.put("sequences", state)
    again = craft_at(tmp_path / "nv")
    assert "old_arm" not in again.node.sequences.names
    assert "status_burst" in again.node.sequences.names
    refused = events(again, "seq.sequence_refused")
    assert "old_arm dropped at restore" in refused[-1] and "hazard:unconfirmed" in refused[-1]


# ------------------------------------------------------------------------------- fault protection


def test_fault_protection_cannot_start_a_sequence_that_would_arm(craft):
    steps = [(0.0, craft.packet("gate.arm", command=FIRE_CODE))]
    assert load(craft, "arm_it", steps, confirmed=True)[-1] == "completed"
    with pytest.raises(SequencingError, match="fdir_not_safing"):
        craft.node.start_sequence("arm_it", "a fault response")
    assert "not started by fault protection" in events(craft, "seq.sequence_refused")[-1]
    assert craft.node.sequences.engine.running() == []


def test_fault_protection_may_only_send_commands_that_make_things_safer(craft):
    nominal(craft)
    fdir = CommandSource.fdir("overload")
    ping = craft.packet("core.ping")
    assert craft.send(ping, fdir)[0].startswith("acceptance_failed hazard:fdir_not_safing")
    remove = craft.packet("gate.remove_inhibit", inhibit=0)
    assert craft.send(remove, fdir)[0].startswith("acceptance_failed hazard:fdir_not_safing")
    assert "only make things safer" in events(craft, "core.command_rejected")[-1]
    assert craft.send(craft.packet("modes.set", mode=1), fdir)[-1] == "completed"
    untouched(craft)


def test_a_configured_sequence_cannot_hold_a_command_that_needs_the_confirmation(tmp_path):
    text = {
        "rate_groups": [{"name": "fast", "period": 0.1, "components": ["seq"]}],
        "sequences": [{"name": "bad", "steps": [
            {"delay": 0.0, "command": "gate.arm", "args": {"command": FIRE_CODE}}]}],
    }  # fmt: skip
    config = parse_config("lander", text, "test")
    with pytest.raises(ConfigError, match=r"hazard:unconfirmed: gate\.arm"):
        Node(DICTIONARY, config, tmp_path / "nv", ManualClock(0.0).now, lambda *a: None,
             durable=False)  # fmt: skip
    assert load_config("lander").sequences  # the shipped ones pass


# ------------------------------------------------------------------------------- a node process


def test_a_node_process_refuses_an_unmarked_arm_and_drops_a_planted_entry_after_a_power_cut(
    tmp_path: Path,
):
    """Through the authenticated space link and the NV store on disk, as on the bench."""
    from fsw.dictionary import node_dictionary
    from tests.fsw.bench_run import BenchRun

    mav = node_dictionary("mav")
    arm_launch = {"command": 170 << 8 | 3}

    def stages(run: BenchRun, name: str, *, mark: bool, **args: object) -> list[str]:
        packet = run.packet("mav", name, **args)
        packet.source_id = CONFIRMED_SOURCE if mark else 0  # what the station would not do
        run.ground["mav"].send(packet)
        run.cycles(10.0, lambda: any(v.subtype in (2, 4, 7, 8)
                                     for v in run.verifications("mav", packet)))  # fmt: skip
        return [v.stage + (f" ({v.reason})" if v.reason else "")
                for v in run.verifications("mav", packet)]  # fmt: skip

    with BenchRun(tmp_path, ["mav"]) as run:
        run.cycles(1.0)
        assert stages(run, "gate.arm", mark=False, **arm_launch) == [
            "acceptance_failed (hazard:unconfirmed: gate.arm from ground: sent without the "
            "ground's confirmation)"
        ]
        assert stages(run, "gate.arm", mark=True, **arm_launch)[-1] == "completed"
        assert stages(run, "gate.disarm", mark=False, command=0xFFFF)[-1] == "completed"
        message = mav.command("gate.remove_inhibit").message
        remove = PusTc(mav.apid, message.service, message.subtype, bytes([1]))
        wrapped = build_insert([(run.now + 100.0, remove)])
        refused = stages(run, "schedule.insert", mark=False, data=wrapped)
        assert refused[-1].startswith("completion_failed (hazard:unconfirmed: gate.remove_inhibit")

        run.kill_node("mav")  # a power cut; an older software left an unmarked entry behind
        store = run.nv_store("mav")
        planted = [[run.now + 5.0, 1, remove.pack().hex()]]  # no confirmation flag
        store.put("schedule", {"enabled": False, "next_id": 2, "activities": planted})
        mark = len(run.received["mav"])
        run.start_node("mav", boot_cause="restart")

        def dropped() -> list[str]:
            return [d for n, d in run.events("mav", mark) if n == "schedule.schedule_refused"]

        run.cycles(10.0, lambda: bool(dropped()))
        assert dropped() and "dropped at restore" in dropped()[0], run.events("mav", mark)
        assert "hazard:unconfirmed: gate.remove_inhibit" in dropped()[0]
        assert stages(run, "schedule.enable", mark=False)[-1] == "completed"
        run.cycles(10.0)
        _, gate = run.housekeeping("mav", "gate.status")[-1]
        assert gate["inhibits"] == 0b11 and gate["schedule_size"] == 0  # both still in place


def test_fault_protection_may_start_a_recovery_sequence_of_ordinary_commands(craft):
    steps = [(0.0, craft.packet("hk.report", sid=1)), (0.5, craft.packet("core.ping"))]
    assert load(craft, "recover", steps, confirmed=False)[-1] == "completed"
    craft.node.start_sequence("recover", "a fault response")
    craft.run(1.0)
    assert craft.node.sequences.engine.progress("recover")[2] == "completed"
