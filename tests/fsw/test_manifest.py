"""The OS's manifest on the MAV (fsw/apps/manifest.py, decision 0053), on the mav node and its
emulated boards: three tubes seated in the OS, the OS latched into the MAV's nose, and the ground's
manifest loaded. Each tube is then checked against the OS's slot switches through the latch: a
tube that falls out is reported missing within one check period (its event, its custody report,
housekeeping), a slot the manifest does not list is reported, the state survives a restart, the
OS's release moves every tube still there, and a manifest that breaks its layout is refused with
its reason and changes nothing."""

from __future__ import annotations

import pytest

from fsw.apps.manifest import HELD, IN_TRANSIT, TOPIC
from fsw.dictionary.custody import PLACES, STATUSES, build_manifest, custody_rows
from sim_hardware.world import Location
from tests.fsw.mission_rig import MissionRig
from tests.fsw.test_launch_sequencer import pad

PERIOD = 10.0
"""``manifest.check_period``'s default."""
IDLE = 5.0
"""The mav's idle rate group runs this often: a read comes at the first cycle a period after
the last (at most ``PERIOD + IDLE`` after the load's own read, then every ``PERIOD``)."""


@pytest.fixture
def rig(tmp_path):
    """The mav node with three depot tubes in slots 0..2 of the OS, in the MAV's nose."""
    with MissionRig(tmp_path, "mav") as rig:
        with rig.lock:
            world = rig.sim.world
            for slot, serial in enumerate(world.tubes_at("depot")[:3]):
                world.pick_up(serial, "depot")
                world.insert(slot)
        pad(rig)
        yield rig


def seated(rig: MissionRig) -> list[tuple[int, int]]:
    """``(serial, slot)`` of the tubes in the OS, as the world has them."""
    return [(serial, slot) for slot, serial in enumerate(rig.sim.world.slots) if serial]


def rows(rig: MissionRig, since: int) -> list[dict]:
    """Every row of every custody report the node sent from packet ``since``."""
    return [row for r in rig.reports("manifest.custody", since) for row in custody_rows(r)]


def custody(report: dict) -> tuple[int, str, int, str]:
    return (report["serial"], PLACES[report["place"]], report["slot"],
            STATUSES[report["status"]])  # fmt: skip


def test_a_manifest_is_taken_and_confirmed_by_the_slot_switches(rig):
    tubes = seated(rig)
    mark = len(rig.packets)
    assert rig.command("manifest.load", data=build_manifest(tubes))[-1] == "completed"
    assert rig.events(mark) == [
        ("manifest.loaded", "3 tubes, OS in_mav; 3 confirmed by the slot switches")
    ]
    assert [custody(r) for r in rows(rig, mark)] == [
        (serial, "in_mav", slot, "present") for serial, slot in tubes
    ]
    assert rig.hk("manifest.status") == {"place": 1, "tubes": 3, "missing": 0, "unexpected": 0}
    mark = len(rig.packets)
    assert rig.command("manifest.report")[-1] == "completed"
    assert [(r["serial"], r["steps"]) for r in rows(rig, mark)] == [
        (serial, 1) for serial, _ in tubes
    ]


def test_a_tube_that_falls_out_is_reported_missing_within_one_period_and_after_a_restart(rig):
    tubes = seated(rig)
    rig.command("manifest.load", data=build_manifest(tubes))
    rig.run(2 * PERIOD)  # the reads settle on the rate group's cycles, a period apart
    serial, slot = tubes[1]
    with rig.lock:
        lost_at = rig.now()
        assert rig.sim.world.lose_tube(serial, at=lost_at).location is Location.IN_MAV
    mark = len(rig.packets)
    rig.run(PERIOD + 0.5)
    assert rig.events(mark) == [
        ("manifest.tube_missing", f"tube {serial} is not in slot {slot} (the OS is in_mav)")
    ]
    (report,) = rows(rig, mark)
    assert custody(report) == (serial, "in_mav", slot, "missing")
    assert lost_at <= report["since"] <= lost_at + PERIOD
    assert rig.hk("manifest.status")["missing"] == 1
    rig.boot("reset")  # the node restarts: the manifest comes back from its store
    rig.run(1.0)
    assert rig.hk("manifest.status") == {"place": 1, "tubes": 3, "missing": 1, "unexpected": 0}
    mark = len(rig.packets)
    rig.command("manifest.report")
    reported = [(r["serial"], r["steps"], STATUSES[r["status"]])
                for r in rows(rig, mark)]  # fmt: skip
    assert reported == [  # every step of every tube, oldest first
        (tubes[0][0], 1, "present"), (serial, 1, "present"), (serial, 2, "missing"),
        (tubes[2][0], 1, "present"),
    ]  # fmt: skip


def test_a_slot_the_manifest_does_not_list_is_reported(rig):
    tubes = seated(rig)
    mark = len(rig.packets)
    rig.command("manifest.load", data=build_manifest(tubes[:2]))
    events = rig.events(mark)
    assert ("manifest.unexpected", f"slot {tubes[2][1]} holds a tube the manifest does not "
            "list (the OS is in_mav)") in events  # fmt: skip
    assert rig.hk("manifest.status")["unexpected"] == 1


def test_the_release_moves_every_tube_still_there_into_orbit(rig):
    tubes = seated(rig)
    rig.command("manifest.load", data=build_manifest(tubes))
    with rig.lock:
        rig.sim.world.lose_tube(tubes[0][0], at=rig.now())
    rig.run(PERIOD + IDLE + 0.5)
    mark = len(rig.packets)
    assert rig.node is not None
    rig.node.bus.publish(TOPIC, ("in_orbit", rig.now()))  # as the launch sequencer does
    rig.run(1.0)
    assert rig.events(mark) == [("manifest.moved", "the OS is in_orbit: 3 tubes, 1 missing")]
    assert [custody(r) for r in rows(rig, mark)] == [
        (serial, "in_orbit", slot, "present") for serial, slot in tubes[1:]
    ]
    mark = len(rig.packets)
    rig.node.bus.publish(TOPIC, ("in_mav", rig.now()))  # never backwards
    rig.run(PERIOD + IDLE + 0.5)  # nor read any more: the MAV no longer holds the OS
    assert rig.events(mark) == [] and rows(rig, mark) == []
    assert rig.hk("manifest.status")["place"] == 2


def test_no_check_is_taken_while_the_os_is_carried_off_its_contact(rig):
    """The CCRS's gantry pulls the vessel off the capture mechanism's contact: an app says
    ``in_transit`` and the switches reading empty is not a tube missing; ``held`` (the carry
    ended where it began) and the checks go on."""
    tubes = seated(rig)
    rig.command("manifest.load", data=build_manifest(tubes))
    rig.run(2 * PERIOD)
    assert rig.node is not None
    rig.node.bus.publish(TOPIC, (IN_TRANSIT, rig.now()))
    with rig.lock:
        rig.sim.world.lose_tube(tubes[0][0], at=rig.now())  # the contact reads it gone
    mark = len(rig.packets)
    rig.run(2 * PERIOD + IDLE)
    assert rig.events(mark) == [] and rig.hk("manifest.status")["missing"] == 0
    rig.node.bus.publish(TOPIC, (HELD, rig.now()))
    rig.run(PERIOD + IDLE + 0.5)
    assert [name for name, _ in rig.events(mark)] == ["manifest.tube_missing"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "bad_length"),
        (b"\x00", "too_many"),
        (b"\x02" + bytes(5), "bad_length"),
        (b"\x01" + (0).to_bytes(4, "big") + b"\x00", "bad_serial"),
        (b"\x01" + (266).to_bytes(4, "big") + b"\xff", "bad_slot"),
        (b"\x02" + ((266).to_bytes(4, "big") + b"\x00") * 2, "duplicate"),
    ],
)
def test_a_manifest_that_breaks_its_layout_is_refused_and_changes_nothing(rig, data, reason):
    tubes = seated(rig)
    rig.command("manifest.load", data=build_manifest(tubes))
    stages = rig.command("manifest.load", data=data)
    assert stages[-1].startswith("completion_failed") and reason in stages[-1], stages
    assert rig.hk("manifest.status") == {"place": 1, "tubes": 3, "missing": 0, "unexpected": 0}
