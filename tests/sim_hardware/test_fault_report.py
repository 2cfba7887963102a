"""The fault manager's report (decision 0040), without processes: every fault of the run with
where it came from, when it started and ended, and whether it ever changed what a device did. A
grasp slip while the gripper holds a tube takes effect; one while it holds nothing does not; a
link fault's effect is not observed; a fault scheduled past the end never starts."""

from __future__ import annotations

from hal.bench import FaultSpec
from sim_hardware.devices.igloo import Igloo
from sim_hardware.devices.sta_arm import StaArm
from sim_hardware.faults import FaultManager

BAUD = 115200


def _manager(schedule: tuple[FaultSpec, ...] = ()) -> FaultManager:
    boards = {"sta_arm": StaArm(), "igloo": Igloo()}
    return FaultManager(boards, dict.fromkeys(boards, BAUD), {}, lambda *_: None, schedule=schedule)


def test_a_slip_with_a_tube_held_takes_effect_and_one_with_an_empty_hand_does_not():
    schedule = (
        FaultSpec(at=1.0, target="sta_arm.gripper", kind="grasp_slip", duration=2.0),
        FaultSpec(at=99.0, target="sta_arm.arm", kind="stall", duration=1.0),
    )
    manager = _manager(schedule)
    arm = manager.boards["sta_arm"]
    manager.advance(4.0, arm.advance)  # the hand is empty from 1 s to 3 s
    arm.presented_tube = 266
    arm.finger_target, arm.set_force = 0.0, 20.0  # closing on the tube with 20 N
    manager.advance(9.0, arm.advance)
    assert arm.held_tube == 266
    manager.inject("sta_arm.gripper", "grasp_slip", 9.0, duration=2.0)
    manager.advance(13.0, arm.advance)
    assert arm.slipped == [266]

    empty, late, held = manager.report()
    assert (empty["origin"], empty["started"], empty["ended"], empty["ended_how"]) == (
        "schedule",
        1.0,
        3.0,
        "ended",
    )
    assert empty["effects"] == 0 and empty["first_effect"] is None
    assert late["started"] is None and late["ended"] is None and late["effects"] == 0
    assert (held["origin"], held["target"], held["kind"]) == (
        "inject",
        "sta_arm.gripper",
        "grasp_slip",
    )
    assert held["effects"] == 1 and 9.0 < held["first_effect"] <= 11.0  # in its step
    assert held["ended"] == 11.0


def test_a_lost_request_takes_effect_only_when_a_request_comes():
    manager = _manager()
    manager.inject("sta_arm.arm", "request_lost", 0.0, params={"count": 1})
    manager.advance(5.0, manager.boards["sta_arm"].advance)
    (fault,) = manager.report()
    assert fault["effects"] == 0 and fault["ended"] is None  # nothing asked of the arm yet


def test_a_link_fault_is_reported_with_its_effect_unknown():
    manager = FaultManager({}, {"sta_arm": BAUD}, {"lander": {}}, lambda *_: None)
    manager.inject("link:lander", "drop", 2.0, duration=1.0, params={"probability": 0.5})
    manager.advance(5.0, lambda _: None)
    (fault,) = manager.report()
    assert fault["effects"] is None and fault["first_effect"] is None
    assert (fault["started"], fault["ended"], fault["origin"]) == (2.0, 3.0, "inject")
