"""The flight-software core in one process, as procedures: a node on a manual clock, commanded
by packets, observed through the telemetry it sends (PUS 1, 3, 5, 17, 20), its NV store and its
events. The node's own services and a test app with one hazardous command."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fsw.core.component import CommandContext, Component
from fsw.core.config import NodeConfig, load_config, parse_config
from fsw.core.dispatcher import VERIFICATION_HISTORY
from fsw.core.hazard import CommandSource
from fsw.core.node import Node
from fsw.dictionary import Command, Message, build_node
from fsw.dictionary.model import CONFIRMED_SOURCE, EventDecoded, Field
from fsw.dictionary.verification import Verification
from fsw.services.pus_11_scheduling import build_insert
from fsw.services.pus_20_parameters import build_load
from hal.clock import ManualClock
from hal.devices.sta_arm import StaArmClient
from hal.errors import StoreError
from hal.links import open_link
from hal.protocol.framing import ASM
from hal.protocol.pus import ACK_ALL, ACK_COMPLETION, ACK_NONE, PusTc, PusTm, RequestId

APID = 0x200
FIRE = Command(
    "test.fire", "lander", APID,
    Message("fire", 140, 1, (Field("charge", "u8", "-", 1, 2, "which charge"),),
            "fire a test charge", hazardous=True),
    "test", modes=("critical",), window=10.0, inhibits=("arm_plug", "software_inhibit"),
)  # fmt: skip
DICTIONARY = build_node("lander", APID, commands=[FIRE], inhibits=("arm_plug", "software_inhibit"))


class ChargeApp(Component):
    """A component with one hazardous command and a precondition it checks itself."""

    name = "test"
    fired: list[int]
    door_open = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.fired = []

    def preconditions(self, cmd: CommandContext, now: float) -> dict[str, bool]:
        return {"door_open": self.door_open}

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        self.fired.append(cmd.args["charge"])


def core_monitors_only(config: NodeConfig) -> NodeConfig:
    """The lander's configuration without its apps, and with only the fault monitors of the
    core's housekeeping (the test dictionary has the core and a test app, not the lander's
    apps, their parameters and boards)."""
    points = {f"{p.name}.{f.name}" for p in DICTIONARY.hk for f in p.fields}
    fdir = dict(config.fdir)
    fdir["monitors"] = [m for m in fdir["monitors"] if m["point"] in points]
    groups = tuple(
        replace(g, components=tuple(c for c in g.components if c not in config.apps))
        for g in config.groups
    )
    return replace(config, fdir=fdir, apps={}, groups=groups)


class Spacecraft:
    """A node on a manual clock, with what it sent."""

    def __init__(self, nv: Path, config_text: dict[str, Any] | None = None) -> None:
        self.clock = ManualClock(0.0)
        self.log: list[tuple[str, str, str]] = []
        config = core_monitors_only(load_config("lander"))
        if config_text is not None:
            config = parse_config("lander", config_text, "test")
        node = Node(DICTIONARY, config, nv, self.clock.now, self.log_line, durable=False)
        app = ChargeApp(node.ctx)
        node.components["test"] = app
        self.node, self.app = node, app
        self.tm: list[PusTm] = []
        node.on_packet(self.tm.append)
        self.seq = 0
        node.cycle()

    def log_line(self, severity: str, name: str, detail: str) -> None:
        self.log.append((severity, name, detail))

    def packet(
        self, name: str, ack: int = ACK_ALL, confirmed: bool | None = None, **args: Any
    ) -> PusTc:
        """Command ``name``, marked confirmed as the ground station marks it (``confirmed``
        None: when the dictionary says it needs the confirmation)."""
        command = DICTIONARY.command(name)
        self.seq += 1
        if confirmed is None:
            confirmed = command.needs_confirmation(args)
        return PusTc(APID, command.message.service, command.message.subtype,
                     command.encode(**args), seq_count=self.seq, ack_flags=ack,
                     source_id=CONFIRMED_SOURCE if confirmed else 0)  # fmt: skip

    def send(self, packet: PusTc, source: CommandSource | None = None) -> list[str]:
        """Submit, run one cycle, return the verification stages of that packet."""
        self.node.submit(packet, source)
        self.run(0.1)
        return self.stages(packet)

    def command(self, name: str, **args: Any) -> list[str]:
        return self.send(self.packet(name, **args))

    def stages(self, packet: PusTc) -> list[str]:
        rid = RequestId.of(packet).pack()
        out = []
        for tm in self.tm:
            if tm.service == 1:
                v = Verification.decode(tm.subtype, tm.source_data)
                if v.request_id == rid:
                    out.append(v.stage + (f" {v.reason}" if v.reason else ""))
        return out

    def run(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end - 1e-9:
            self.clock.advance(0.1)
            self.node.cycle()

    def events(self) -> list[str]:
        return [DICTIONARY.event(EventDecoded.parse(t.source_data).event_id).name
                for t in self.tm if t.service == 5]  # fmt: skip

    def hk(self, sid: int = 1) -> list[dict[str, Any]]:
        packet = DICTIONARY.hk_packet(sid)
        return [packet.decode(t.source_data) for t in self.tm
                if t.service == 3 and t.source_data[:2] == sid.to_bytes(2, "big")]  # fmt: skip


@pytest.fixture
def craft(tmp_path: Path) -> Spacecraft:
    return Spacecraft(tmp_path / "nv")


def go_critical(craft: Spacecraft) -> None:
    assert craft.command("modes.set", mode=2)[-1] == "completed"
    assert craft.command("modes.set", mode=3)[-1] == "completed"


# ------------------------------------------------------------------------------- boot and modes


def test_the_node_comes_up_safe_and_disarmed_and_counts_its_boots(tmp_path):
    first = Spacecraft(tmp_path / "nv")
    assert first.node.modes.mode == "safe" and first.node.gate.armed(0.0) == {}
    assert all(first.node.gate.inhibits.values())
    go_critical(first)
    second = Spacecraft(tmp_path / "nv")  # a reset: nothing carries the mode across
    assert second.node.modes.mode == "safe"
    assert second.node.nv.get("boot") == {"count": 2}


def test_critical_is_reached_only_through_nominal_and_safe_from_anywhere(craft):
    assert craft.command("modes.set", mode=3)[-1].startswith("completion_failed precondition")
    go_critical(craft)
    assert craft.node.modes.request("safe", "fault")
    assert craft.node.modes.mode == "safe"


# ------------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    "packet, reason",
    [
        (PusTc(0x201, 17, 1, b"", seq_count=1), "unknown_apid"),
        (PusTc(APID, 17, 9, b"", seq_count=1), "unknown_command"),
        (PusTc(APID, 3, 31, b"\x00\x01", seq_count=1), "bad_length"),
        (PusTc(APID, 3, 31, b"\x00\x01" + bytes(4), seq_count=1), "out_of_range"),
        (PusTc(APID, 140, 1, b"\x01", seq_count=1), "wrong_mode"),
    ],
)
def test_a_bad_command_is_refused_at_acceptance_with_its_reason_and_no_side_effect(
    craft, packet, reason
):
    periods = dict(craft.node.hk.period)
    stages = craft.send(packet)
    assert len(stages) == 1 and stages[0].startswith(f"acceptance_failed {reason}")
    assert "core.command_rejected" in craft.events()
    assert craft.node.hk.period == periods and craft.app.fired == []


def test_success_reports_follow_the_ack_flags_and_failures_are_always_sent(craft):
    assert craft.send(craft.packet("core.ping", ack=ACK_NONE)) == []
    assert craft.send(craft.packet("core.ping")) == ["accepted", "started", "completed"]
    bad = PusTc(APID, 17, 9, b"", seq_count=77, ack_flags=ACK_NONE)
    assert craft.send(bad)[0].startswith("acceptance_failed")
    assert sum(1 for t in craft.tm if (t.service, t.subtype) == (17, 2)) == 2


def test_the_reports_of_a_request_are_sent_again_when_the_ground_asks_and_only_the_last_64(
    craft,
):
    """A report the downlink lost is asked for again (``core.report_verification``, decision
    0052): the node sends the same reports, in their order, and none of its own for the ask
    unless it fails; it keeps the reports of the last 64 requests."""

    def reports(packet: PusTc, since: int = 0) -> list[tuple[int, bytes]]:
        rid = RequestId.of(packet).pack()
        return [(t.subtype, t.source_data) for t in craft.tm[since:] if t.service == 1
                and Verification.decode(t.subtype, t.source_data).request_id == rid]  # fmt: skip

    def ask(packet: PusTc) -> tuple[list[tuple[int, bytes]], list[str]]:
        rid = int.from_bytes(RequestId.of(packet).pack(), "big")
        question = craft.packet("core.report_verification", ack=ACK_NONE, request_id=rid)
        before = len(craft.tm)
        own = craft.send(question)
        return reports(packet, before), own

    ping = craft.packet("core.ping")
    assert craft.send(ping) == ["accepted", "started", "completed"]
    sent = reports(ping)
    assert ask(ping) == (sent, [])  # the same reports again; the ask's own: none
    bad = PusTc(APID, 17, 9, b"", seq_count=500, ack_flags=ACK_NONE)
    assert craft.send(bad)[0].startswith("acceptance_failed unknown_command")
    sent = reports(bad)
    assert ask(bad) == (sent, [])  # its failure again
    for _ in range(VERIFICATION_HISTORY):
        craft.send(craft.packet("core.ping", ack=ACK_COMPLETION))
    again, own = ask(ping)  # the ping is now the 65th request back: forgotten
    assert again == [] and len(own) == 1
    assert own[0].startswith("completion_failed unknown_request: no reports kept for request")
    assert craft.node.dispatcher.repeated == 4


def test_a_flood_never_stops_the_rate_groups_and_the_node_answers_afterwards(craft):
    for _ in range(10_000):
        craft.node.submit(craft.packet("core.ping", ack=ACK_NONE))
    assert len(craft.node.dispatcher) == 64  # bounded: the rest dropped and counted
    assert craft.node.dispatcher.dropped == 10_000 - 64
    craft.run(3.0)
    assert "core.queue_overflow" in craft.events()
    status = craft.hk()
    assert len(status) >= 3 and status[-1]["slips"] == 0 and status[-1]["dropped"] == 9936
    assert craft.command("core.ping") == ["accepted", "started", "completed"]


# ------------------------------------------------------------------------------- housekeeping


def test_housekeeping_at_its_period_enable_disable_one_shot_and_new_period(craft):
    craft.run(3.0)
    assert len(craft.hk(2)) == 4  # at 0, 1, 2 and 3 s
    craft.command("hk.disable", sid=2)
    craft.run(2.0)
    assert len(craft.hk(2)) == 4
    craft.command("hk.report", sid=2)
    assert len(craft.hk(2)) == 5
    craft.command("hk.enable", sid=2)
    craft.command("hk.set_period", sid=2, period=0.5)
    before = len(craft.hk(2))
    craft.run(2.0)
    assert len(craft.hk(2)) - before == 4
    assert craft.command("hk.report", sid=99)[-1].startswith("completion_failed out_of_range")


# ------------------------------------------------------------------------------- events


def test_a_repeated_event_is_throttled_and_the_suppression_reported(craft):
    for _ in range(20):
        craft.node.emit("health.device_silent", "sta_arm")
    assert craft.events().count("health.device_silent") == 5
    craft.run(11.0)
    assert "events.throttled" in craft.events()
    assert craft.hk()[-1]["events_suppressed"] == 15
    craft.command("events.disable", event_id=DICTIONARY.event("health.device_silent").id)
    craft.node.emit("health.device_silent", "again")
    assert craft.events().count("health.device_silent") == 5


# ------------------------------------------------------------------------------- parameters


def test_a_parameter_table_is_loaded_validated_activated_and_survives_a_reset(tmp_path):
    craft = Spacecraft(tmp_path / "nv")
    assert craft.command("params.load", data=build_load({1: 7, 3: 10}))[-1] == "completed"
    assert craft.node.params.get("events.throttle_count") == 5  # staged, not active
    assert craft.command("params.validate")[-1] == "completed"
    assert craft.command("params.activate")[-1] == "completed"
    assert craft.node.params.get("events.throttle_count") == 7
    again = Spacecraft(tmp_path / "nv")
    assert again.node.params.get("events.throttle_count") == 7
    assert again.node.params.get("dispatch.max_per_cycle") == 10


@pytest.mark.parametrize(
    "values, words",
    [({1: 0}, "entry 0: events.throttle_count: 0 is outside 1..1000"),
     ({1: 2.5}, "2.5 is not a whole number (an int)"),
     ({3: 5, 999: 1}, "entry 1: no parameter id 999")],
)  # fmt: skip
def test_a_bad_value_rejects_the_whole_load_and_leaves_the_staging_table(craft, values, words):
    craft.command("params.load", data=build_load({2: 20.0}))
    stages = craft.command("params.load", data=build_load(values))
    assert stages[-1].startswith("completion_failed out_of_range") and words in stages[-1]
    assert craft.node.params.staging == {"events.throttle_window": 20.0}


def test_an_activation_that_cannot_be_persisted_is_rolled_back(craft, monkeypatch):
    craft.command("params.load", data=build_load({1: 9}))

    def broken(values: Any) -> None:
        raise StoreError("disk gone")

    monkeypatch.setattr(craft.node.nv, "put_many", broken)  # values and previous values
    assert craft.command("params.activate")[-1].startswith("completion_failed execution_failed")
    assert craft.node.params.get("events.throttle_count") == 5
    assert "params.rolled_back" in craft.events()


# ------------------------------------------------------------------------------- executive


def test_missed_rate_group_runs_are_counted_as_slips_with_an_event(craft):
    for group in craft.node.executive.groups:
        group.idle_period = None  # every group at its full rate, busy or not
    craft.clock.advance(0.55)  # held from 0 to 0.55 s: the runs at 0.1 .. 0.4 s were missed
    craft.node.cycle()
    assert craft.node.executive.slips == 4
    assert "core.cycle_slip" in [name for _, name, _ in craft.log]


def test_an_idle_node_runs_at_its_idle_period_and_a_busy_component_brings_the_full_rate(craft):
    craft.node.cycle()
    assert craft.node.next_due() == 1.0  # nothing busy: the fast group waits for the 1 s grid
    fast = craft.node.executive.groups[0]
    component = fast.components[0]
    component.busy = lambda now: True  # type: ignore[method-assign]
    assert craft.node.next_due() == pytest.approx(0.1)
    craft.clock.advance(0.35)
    craft.node.cycle()  # idle until now: the fine grid was not owed, so no slip
    assert craft.node.executive.slips == 0 and fast.last_start == pytest.approx(0.35)
    del component.busy
    component.next_due = lambda now: 0.77  # type: ignore[method-assign]
    assert craft.node.next_due() == pytest.approx(0.77)
    craft.clock.advance(0.42)
    craft.node.cycle()  # asked for: the group runs off its grid, not a slip
    assert fast.last_start == pytest.approx(0.77) and craft.node.executive.slips == 0


def test_only_a_component_that_runs_in_a_rate_group_can_ask_for_an_early_cycle(craft):
    craft.node.cycle()
    grouped = {c.name for g in craft.node.executive.groups for c in g.components}
    loose = Component(craft.node.ctx)  # in no rate group: it never runs, so it cannot ask
    loose.next_due = lambda now: 0.2  # type: ignore[method-assign]
    craft.node.components["loose"] = loose
    assert "loose" not in grouped
    assert craft.node.next_due() == 1.0  # the idle grid, not the loose component's 0.2 s


def test_a_component_that_keeps_failing_is_stopped_and_its_commands_refused(craft):
    def broken(now: float) -> None:
        raise RuntimeError("bad pointer")

    craft.node.executive.groups[0].components.append(craft.app)
    craft.app.cycle = broken  # type: ignore[method-assign]
    craft.run(5.0)  # the fast group idles at 1 Hz: five runs
    assert "test" in craft.node.executive.failed
    assert "core.app_failed" in craft.events()
    stages = craft.command("test.fire", charge=1)
    assert stages[0].startswith("acceptance_failed component_failed")


# ------------------------------------------------------------------------------- time and health


def test_time_reports_every_2_to_the_rate_seconds_for_correlation(craft):
    craft.run(3.0)
    reports = [t for t in craft.tm if (t.service, t.subtype) == (9, 2)]
    assert [round(t.time.seconds, 3) for t in reports] == [0.0, 1.0, 2.0, 3.0]
    assert reports[-1].source_data[1:7] == reports[-1].time.pack()  # onboard time = the stamp
    craft.command("time.set_rate", rate=2)
    before = len([t for t in craft.tm if t.service == 9])
    craft.run(8.0)
    assert len([t for t in craft.tm if t.service == 9]) - before == 2  # at 8 and 12 s
    assert "time.report_rate" in craft.events()


def test_health_pings_a_quiet_board_without_waiting_and_reports_it_failed(craft):
    with open_link("pty://") as far_end:  # the board's end of the line: nobody answers
        board = StaArmClient(far_end.peer_path, timeout=0.5, retries=0)  # a wall clock
        board.on_event = craft.node.board_event
        craft.node.health.boards = {"sta_arm": board}
        wall = time.monotonic()
        craft.run(4.0)
        assert time.monotonic() - wall < 0.5  # no cycle waited for the board
        sent = b""
        deadline = time.monotonic() + 2.0  # the writes may reach the far end in pieces
        while sent.count(ASM) < 4 and time.monotonic() < deadline:
            sent += far_end.read(4096, timeout=0.2)
        assert sent.count(ASM) == 4  # one heartbeat a second: each found missed by the next
        assert board.health.failures["no_reply"] == 3  # missed in node time; one in flight
        assert board.health.consecutive_failures == 3 and board.health.replies == 0
    status = craft.hk(2)[-1]
    assert (status["devices_ok"], status["devices_failed"]) == (0, 1)
    assert "health.device_silent" in craft.events()


def test_a_component_that_stops_completing_cycles_trips_the_watchdog_and_the_node_goes_safe(
    craft, monkeypatch
):
    go_critical(craft)
    executive = craft.node.executive
    run_one = executive._run_one

    def only_health(component: Component, now: float) -> None:  # every other component hung
        if component.name == "health":
            run_one(component, now)

    monkeypatch.setattr(executive, "_run_one", only_health)
    craft.run(3.0)
    assert craft.node.health.watchdog > 20
    assert "health.watchdog" in craft.events()
    assert craft.node.modes.mode == "safe"


# ------------------------------------------------------------------------------- hazardous gate


def arm_everything(craft: Spacecraft) -> None:
    go_critical(craft)
    for index in range(2):
        assert craft.command("gate.remove_inhibit", inhibit=index)[-1] == "completed"
    assert craft.command("gate.arm", command=140 << 8 | 1)[-1] == "completed"


def test_a_hazardous_command_fires_once_after_arm_inhibits_mode_and_preconditions(craft):
    arm_everything(craft)
    assert craft.command("test.fire", charge=2)[-1] == "completed"
    assert craft.app.fired == [2]
    assert (
        craft.command("test.fire", charge=2)[0] == "acceptance_failed hazard:not_armed: test.fire"
    )
    craft.command("gate.arm", command=140 << 8 | 1)
    craft.run(10.5)
    assert craft.command("test.fire", charge=1)[0].startswith("acceptance_failed hazard:expired")
    craft.command("gate.arm", command=140 << 8 | 1)
    craft.app.door_open = False
    assert "precondition:door_open" in craft.command("test.fire", charge=1)[0]
    craft.app.door_open = True
    craft.command("gate.restore_inhibit", inhibit=0)  # disarms
    assert "not_armed" in craft.command("test.fire", charge=1)[0]
    assert craft.app.fired == [2]


def test_safe_mode_disarms_and_a_stored_sequence_can_neither_arm_nor_fire_alone(craft):
    arm_everything(craft)
    craft.node.modes.request("safe", "fault")
    assert craft.node.gate.armed(craft.clock.now()) == {}
    arm = craft.packet("gate.arm", command=140 << 8 | 1)
    unconfirmed = craft.node.validate(arm, CommandSource.sequence("s"))
    assert unconfirmed.startswith("hazard:unconfirmed: gate.arm from sequence:s: loaded without")
    go_critical(craft)
    fire = craft.packet("test.fire", charge=1)
    at = craft.clock.now() + 1.0
    unconfirmed = craft.send(craft.packet("schedule.insert", data=build_insert([(at, fire)])))
    assert unconfirmed[-1].startswith("completion_failed hazard:unconfirmed: test.fire")
    confirmed = craft.packet("schedule.insert", confirmed=True, data=build_insert([(at, fire)]))
    assert craft.send(confirmed)[-1] == "completed"
    craft.command("schedule.enable")
    craft.run(2.0)
    assert craft.stages(fire)[0].startswith("acceptance_failed hazard:not_armed")
    assert craft.app.fired == []


# ------------------------------------------------------------------------------- state machine


class DispatcherMachine(RuleBasedStateMachine):
    """Any mix of good, malformed, misaddressed and hazardous commands: every command gets
    exactly one verdict at acceptance, a refused one changes nothing, the queue stays bounded,
    and the test charge never fires without a ground arm inside its window."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.craft = Spacecraft(Path(tempfile.mkdtemp()) / "nv")
        self.sent: list[PusTc] = []
        self.last_arm: float | None = None
        self.fires = 0

    def snapshot(self) -> tuple[Any, ...]:
        node = self.craft.node
        return (dict(node.hk.period), dict(node.hk.enabled), dict(node.params.active),
                node.modes.mode, len(self.craft.app.fired))  # fmt: skip

    @rule(
        service=st.sampled_from([3, 5, 17, 20, 140, 150, 151, 200]),
        subtype=st.integers(0, 140),
        data=st.binary(max_size=12),
        apid=st.sampled_from([APID, APID, 0x201]),
    )
    def random_packet(self, service: int, subtype: int, data: bytes, apid: int) -> None:
        self.craft.seq += 1
        packet = PusTc(apid, service, subtype, data, seq_count=self.craft.seq)
        before = self.snapshot()
        stages = self.craft.send(packet)
        assert len([s for s in stages if s.startswith(("accepted", "acceptance_failed"))]) == 1
        if stages[0].startswith("acceptance_failed"):
            assert self.snapshot() == before
        if packet.service == 140 and stages[-1] == "completed":
            self.check_fire()

    @rule(mode=st.integers(1, 3))
    def mode(self, mode: int) -> None:
        self.craft.command("modes.set", mode=mode)

    @rule(index=st.integers(0, 1), remove=st.booleans())
    def inhibit(self, index: int, remove: bool) -> None:
        name = "gate.remove_inhibit" if remove else "gate.restore_inhibit"
        if self.craft.command(name, inhibit=index)[-1] == "completed" and not remove:
            self.last_arm = None

    @rule()
    def arm(self) -> None:
        if self.craft.command("gate.arm", command=140 << 8 | 1)[-1] == "completed":
            self.last_arm = self.craft.clock.now()

    @rule(charge=st.integers(1, 2))
    def fire(self, charge: int) -> None:
        if self.craft.command("test.fire", charge=charge)[-1] == "completed":
            self.check_fire()

    @rule(seconds=st.sampled_from([0.5, 3.0, 11.0]))
    def wait(self, seconds: float) -> None:
        self.craft.run(seconds)

    def check_fire(self) -> None:
        now = self.craft.clock.now()
        assert self.last_arm is not None and now - self.last_arm <= 10.0 + 0.2
        self.last_arm = None
        self.fires += 1

    @invariant()
    def bounded(self) -> None:
        assert len(self.craft.node.dispatcher) <= 64
        if self.craft.node.modes.mode == "safe":
            armed = self.craft.node.gate.armed(self.craft.clock.now())
            self.last_arm = None if armed == {} else self.last_arm


TestDispatcherMachine = DispatcherMachine.TestCase
TestDispatcherMachine.settings = settings(max_examples=60, stateful_step_count=30)
