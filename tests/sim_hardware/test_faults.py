"""The bench's fault manager on its own: a fault whose parameters the target board does not
take (a mistyped name, a value out of range) is refused, from the bench file's schedule or at
run time, with a one-line error naming it, and nothing is scheduled, started or recorded."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hal.bench import FaultSpec
from hal.protocol.devices import sta_arm
from hal.protocol.pus import PusTc
from sim_hardware.devices.igloo import Igloo
from sim_hardware.devices.sta_arm import StaArm
from sim_hardware.faults import FaultError, FaultManager
from sim_hardware.space_link import Impairments

BAUD = 115200


def _manager(schedule: tuple[FaultSpec, ...] = ()) -> FaultManager:
    boards = {"sta_arm": StaArm(), "igloo": Igloo()}
    return FaultManager(boards, dict.fromkeys(boards, BAUD), {}, lambda *_: None, schedule=schedule)


def _nothing_happened(manager: FaultManager) -> None:
    assert manager.pending == [] and manager.active == {} and manager.history == []
    assert all(board.faults == [] for board in manager.boards.values())


def test_a_schedule_with_a_mistyped_parameter_is_refused_whole():
    schedule = (
        FaultSpec(at=5.0, target="igloo.heaters", kind="heater_zone_failure", params={"index": 2}),
        FaultSpec(at=9.0, target="sta_arm.arm", kind="stall", params={"idx": 3}),
    )
    with pytest.raises(FaultError) as refused:
        _manager(schedule)
    assert str(refused.value) == (
        "sta_arm.arm: fault 'stall' takes no parameter 'idx' (it takes: index, at)"
    )


@pytest.mark.parametrize(
    ("target", "kind", "params", "message"),
    [
        ("igloo.heaters", "heater_zone_failure", {"index": 3, "element": "prim"},
         "igloo.heaters: fault 'heater_zone_failure' parameter element 'prim' is not one of "
         "prime, redundant, both"),
        ("igloo", "heater_zone_failure", {"index": 16},
         "igloo: fault 'heater_zone_failure' parameter index 16 is not an integer in 0..15"),
        ("sta_arm.arm", "late_reply", {"delay": 1e6},
         "sta_arm.arm: fault 'late_reply' parameter delay 1000000.0 is not a number in 0..3600"),
        ("sta_arm.gripper", "grasp_slip", {"force": 0},
         "sta_arm.gripper: fault 'grasp_slip' takes no parameter 'force' (it takes none)"),
        ("sta_arm.arm", "stall", {"field": "angle"},
         "sta_arm.arm: fault 'stall' takes no status field ('angle')"),
    ],
)  # fmt: skip
def test_a_fault_injected_with_a_bad_parameter_is_refused_and_changes_nothing(
    target, kind, params, message
):
    manager = _manager()
    with pytest.raises(FaultError) as refused:
        manager.inject(target, kind, 0.0, params=params)
    assert str(refused.value) == message
    _nothing_happened(manager)
    with pytest.raises(FaultError):
        manager.inject(target, kind, 0.0, at=10.0, params=params)  # scheduled for later: same
    _nothing_happened(manager)


def test_the_same_fault_with_its_parameters_right_starts():
    manager = _manager()
    manager.inject("igloo.heaters", "heater_zone_failure", 0.0,
                   params={"index": 3, "element": "prime"})  # fmt: skip
    manager.inject("sta_arm.arm", "bias", 0.0, params={"field": "temperature", "index": 6,
                                                       "offset": 2.5})  # fmt: skip
    assert [f.kind for f in manager.boards["igloo"].faults] == ["heater_zone_failure"]
    assert manager.boards["sta_arm"].faults[0].params == {"index": 6, "offset": 2.5}
    assert [h["event"] for h in manager.history] == ["started", "started"]


def test_a_short_fault_inside_one_jump_of_the_clock_still_acts_for_its_whole_span():
    """A 2 s grasp slip put in just before the lockstep jumps 9 s: the held tube slips."""
    manager = _manager()
    arm = manager.boards["sta_arm"]
    arm.presented_tube = 266
    arm.finger_target, arm.set_force = 0.0, 20.0  # closing on the tube with 20 N
    arm.advance(5.0)
    assert arm.held_tube == 266
    manager.inject("sta_arm.gripper", "grasp_slip", 5.0, duration=2.0)
    manager.advance(14.0, arm.advance)
    assert arm.slipped == [266] and arm.held_tube is None
    assert [h["event"] for h in manager.history] == ["started", "ended"]


def test_the_physics_stops_at_every_fault_start_and_end_on_the_way():
    schedule = (
        FaultSpec(at=3.0, target="sta_arm.gripper", kind="grasp_slip", duration=2.0),
        FaultSpec(at=4.0, target="igloo.heaters", kind="heater_zone_failure", params={"index": 1}),
    )
    manager = _manager(schedule)
    times: list[float] = []
    manager.advance(10.0, times.append)
    assert times == [3.0, 4.0, 5.0, 10.0]
    assert [h["event"] for h in manager.history] == ["started", "started", "ended"]


def test_a_fault_asked_for_during_a_round_starts_and_ends_at_the_next_advance():
    """Decision 0034: in lockstep the back door's injections and clears wait for the boundary
    between rounds, and take effect at the time they were asked for."""
    manager = _manager()
    arm = manager.boards["sta_arm"]
    fault_id = manager.inject("sta_arm.gripper", "grasp_slip", 1.0, start=False)
    assert arm.faults == [] and [f["active"] for f in manager.listing()] == [False]
    times: list[float] = []
    manager.advance(1.1, times.append)
    assert times == [1.0, 1.1] and len(arm.faults) == 1
    manager.clear(fault_id, 1.1, later=True)
    assert len(arm.faults) == 1  # still in effect in the open round
    assert manager.listing() == []  # ... but the operator who cleared it sees it gone at once
    manager.advance(1.2, times.append)
    assert arm.faults == [] and manager.active == {}
    assert [(h["time"], h["event"]) for h in manager.history] == [(1.0, "started"),
                                                                  (1.1, "cleared")]  # fmt: skip
    with pytest.raises(FaultError, match="no fault 99"):
        manager.clear(99, 1.2, later=True)  # refused when asked, not at the next advance


def test_a_counted_loss_fault_leaves_the_listing_once_spent():
    manager = _manager()
    arm = manager.boards["sta_arm"]
    manager.inject("sta_arm.arm", "reply_lost", 0.0, params={"command": "stop", "count": 1})
    assert [f["kind"] for f in manager.listing()] == ["reply_lost"]
    stop = sta_arm.ARM.command("stop")
    assert arm.handle(PusTc(sta_arm.ARM.apid, stop.service, stop.subtype), 1.0) == []
    manager.advance(2.0, lambda t: None)
    assert manager.listing() == [] and manager.active == {}
    assert [h["event"] for h in manager.history] == ["started", "spent"]
    assert arm.acted[("arm", "stop")] == 1  # it acted; only its reply was lost


def test_a_line_fault_adds_to_the_lines_own_rate_and_clearing_it_returns_there():
    lines: list[tuple[str, str, dict]] = []
    radio = Impairments(delay=1.5, baud=9600, burst=0.1)
    boards = {"sta_arm": StaArm(), "igloo": Igloo()}
    manager = FaultManager(
        boards, {"sta_arm": BAUD, "igloo": 19200}, {"mav": {"up": radio, "down": radio}},
        lambda kind, name, given: lines.append((kind, name, dict(given))),
    )  # fmt: skip
    own = Impairments(baud=19200, burst=0.1)  # the bench's rate, a tick of credit
    drop = manager.inject("igloo", "drop", 0.0, params={"probability": 0.5})
    assert lines[-1] == ("board", "igloo", dict.fromkeys(("to_board", "from_board"),
                                                         replace(own, drop=0.5)))  # fmt: skip
    slow = manager.inject("igloo", "baud_throttle", 0.0, params={"baud": 9600, "burst": 0.0})
    assert lines[-1][2]["to_board"] == replace(own, drop=0.5, baud=9600, burst=0.0)
    manager.inject("igloo", "baud_throttle", 0.0, params={"baud": 57600})  # faster: no effect
    assert lines[-1][2]["from_board"].baud == 9600
    manager.clear(slow, 1.0)
    manager.clear(drop, 1.0)
    manager.clear_all(1.0)
    assert lines[-1] == ("board", "igloo", {"to_board": own, "from_board": own})  # not instant
    manager.inject("link:mav", "baud_throttle", 2.0, params={"direction": "down"})
    assert lines[-1][2] == {"up": radio, "down": radio}  # the default: the radio's own rate
    manager.clear_all(3.0)
    assert lines[-1] == ("space", "mav", {"up": radio, "down": radio})
