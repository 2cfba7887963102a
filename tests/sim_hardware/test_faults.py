"""The bench's fault manager on its own: a fault whose parameters the target board does not
take (a mistyped name, a value out of range) is refused, from the bench file's schedule or at
run time, with a one-line error naming it, and nothing is scheduled, started or recorded."""

from __future__ import annotations

import pytest

from hal.bench import FaultSpec
from hal.protocol.devices import sta_arm
from hal.protocol.pus import PusTc
from sim_hardware.devices.igloo import Igloo
from sim_hardware.devices.sta_arm import StaArm
from sim_hardware.faults import FaultError, FaultManager

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
        "sta_arm.arm: fault 'stall' takes no parameter 'idx' (it takes: index)"
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
