"""The Sample Transfer Arm app on its emulated boards: procedures as an operator runs them, and
the faults the arm handles on board (grasp slip, tube not seated, unreadable serial, joint
stall), each checked against the simulator's world (the truth) and the onboard inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsw.apps.sta import plan_waypoints
from fsw.dictionary.custody import custody_rows
from fsw.dictionary.lander import PLACES, SOURCES, STA_STATES
from hal.protocol.devices import sta_arm as arm_icd
from sim_hardware.devices.sta_arm import Obstacle
from tests.fsw.mission_rig import MissionRig

DEPOT = SOURCES.index("depot")
GROUND = SOURCES.index("ground_near_lander")
DONE = ["accepted", "started", "progress", "progress", "progress", "progress", "completed"]


@pytest.fixture
def lander(tmp_path: Path):
    with MissionRig(tmp_path, "lander") as rig:
        assert rig.command("modes.set", mode=2)[-1] == "completed"
        assert rig.command("sta.open_lid", timeout=120)[-1] == "completed"
        yield rig


def sta(rig: MissionRig) -> object:
    return rig.node.components["sta"]


def state(rig: MissionRig) -> str:
    return STA_STATES[rig.hk("sta.status")["state"]]


def test_waypoints_fold_turn_and_unfold_within_the_stowed_posture() -> None:
    legs = plan_waypoints(arm_icd.PICKUP_STATIONS["depot"], arm_icd.slot_pose(4))
    assert legs[0][1:] == arm_icd.STOW[1:] and legs[0][0] == arm_icd.PICKUP_STATIONS["depot"][0]
    assert legs[1][1:] == arm_icd.STOW[1:] and legs[1][0] == arm_icd.slot_pose(4)[0]
    assert legs[2] == arm_icd.slot_pose(4)
    assert plan_waypoints(arm_icd.STOW, arm_icd.STOW) == []


def test_two_tubes_from_the_depot_are_seated_and_handed_over_with_their_custody(lander) -> None:
    first = lander.command("sta.load_tube", source=DEPOT, timeout=900)
    second = lander.command("sta.load_tube", source=DEPOT, timeout=900)
    assert first == DONE and second == DONE
    world = lander.sim.world
    seated = [serial for serial in world.slots if serial is not None]
    assert len(seated) == 2
    inventory = sta(lander).inventory
    assert sorted(int(s) for s in inventory.slots().values()) == sorted(seated)
    for tube in inventory.tubes():
        assert [place for place, _, _ in tube.chain] == ["depot", "gripper", tube.place]
    assert lander.command("sta.hand_over")[-1].startswith("completion_failed precondition")
    assert lander.command("sta.close_lid", timeout=300)[-1] == "completed"
    assert lander.command("sta.hand_over")[-1] == "completed"
    assert str(world.os_location) == "in_mav"
    since = len(lander.packets)
    assert lander.command("sta.report_custody")[-1] == "completed"
    reports = lander.reports("sta.custody", since)  # every step of each tube, in TM[160,128]
    assert len(reports) == 1  # 8 rows: one report
    reported = custody_rows(reports[0])
    for serial in seated:
        steps = [(PLACES[r["place"]], r["steps"]) for r in reported if r["serial"] == serial]
        assert steps == [("depot", 1), ("gripper", 2), ("os_slot", 3), ("in_mav", 4)]
    assert {r["slot"] for r in reported if PLACES[r["place"]] == "in_mav"} == {0, 1}
    assert lander.hk("sta.status")["tubes_in_mav"] == 2
    names = [name for name, _ in lander.events()]
    assert names.count("sta.tube_loaded") == 2 and "sta.handed_over" in names
    assert lander.command("sta.load_tube", source=DEPOT)[-1].startswith("completion_failed")


def test_a_tube_that_slips_is_picked_up_again_near_the_lander(lander) -> None:
    lander.send("sta.load_tube", source=DEPOT)
    assert lander.run_until(lambda: sta(lander).inventory.holding is not None, 300)  # lifting
    lander.inject("sta_arm.gripper", "grasp_slip", duration=20.0)
    assert lander.run_until(lambda: "sta.tube_loaded" in [n for n, _ in lander.events()], 900)
    assert "sta.grasp_slip" in [n for n, _ in lander.events()]
    tube = sta(lander).inventory.tubes()[0]
    assert [how for _, _, how in tube.chain] == [
        "located", "grasped", "slipped", "grasped", "inserted",
    ]  # fmt: skip
    assert str(lander.sim.world.where(int(tube.serial)).location) == "os_slot"


def test_a_tube_that_will_not_seat_is_reseated_or_rejected_to_the_ground(lander) -> None:
    lander.inject("os_container.slots", "not_seated", index=0)
    result = lander.command("sta.load_tube", source=DEPOT, timeout=900)
    assert result[-1].startswith("completion_failed not_seated")
    tube = sta(lander).inventory.tubes()[0]
    assert tube.place == "ground_near_lander" and tube.chain[-1][2] == "rejected"
    assert str(lander.sim.world.where(int(tube.serial)).location) == "ground_near_lander"
    assert "sta.tube_rejected" in [n for n, _ in lander.events()]
    # the same tube again, from the ground: slot 0 is avoided now
    assert lander.command("sta.load_tube", source=GROUND, timeout=900) == DONE
    assert sta(lander).inventory.tube(tube.serial).slot == 1


def test_an_unreadable_serial_is_asked_of_the_ground(lander) -> None:
    lander.inject("sta_vision", "serial_unreadable")
    rig = lander
    rig.send("sta.load_tube", source=DEPOT)
    assert rig.run_until(lambda: state(rig) == "awaiting_serial", 600)
    assert "sta.serial_unreadable" in [n for n, _ in rig.events()]
    truth = rig.sim.emulators["sta_arm"].held_tube
    assert rig.command("sta.confirm_serial", serial=truth)[-1] == "completed"
    assert rig.run_until(lambda: "sta.tube_loaded" in [n for n, _ in rig.events()], 600)
    assert sta(rig).inventory.tube(str(truth)).slot == 0


def test_a_stalled_joint_stops_the_arm_and_sends_the_lander_safe(lander) -> None:
    lander.inject("sta_arm.arm", "stall", index=1)
    result = lander.command("sta.load_tube", source=DEPOT, timeout=600)
    assert result[-1].startswith("completion_failed arm_fault: joint 1")
    assert state(lander) == "stopped"
    assert lander.node.modes.mode == "safe"
    assert "sta.arm_fault" in [n for n, _ in lander.events()]


def test_a_reset_in_the_middle_of_loading_keeps_custody(lander) -> None:
    assert lander.command("sta.load_tube", source=DEPOT, timeout=900) == DONE
    rig = lander
    rig.send("sta.load_tube", source=DEPOT)
    assert rig.run_until(lambda: sta(rig).inventory.holding is not None, 600)
    held = sta(rig).inventory.holding
    before = {t.serial: t.place for t in sta(rig).inventory.tubes()}
    rig.boot("watchdog")  # the node restarts; the arm still holds the tube
    after = {t.serial: t.place for t in sta(rig).inventory.tubes()}
    assert after == before and sta(rig).inventory.holding == held
    assert rig.command("modes.set", mode=2)[-1] == "completed"
    assert rig.command("sta.load_tube", source=DEPOT, timeout=900)[-1] == "completed"
    assert sta(rig).inventory.tube(held).slot is not None
    assert rig.sim.world.where(int(held)).slot == sta(rig).inventory.tube(held).slot


def test_a_tube_that_slips_on_the_way_to_its_slot_is_recorded_near_the_lander(lander) -> None:
    arm = lander.sim.emulators["sta_arm"]
    heading = arm_icd.slot_pose(0)[0]
    lander.send("sta.load_tube", source=DEPOT)
    turning = lambda: arm.held_tube is not None and abs(arm.angle[0] - heading) < 10.0  # noqa: E731
    assert lander.run_until(turning, 600)  # lifted, checked held, turning to the OS
    lander.inject("sta_arm.gripper", "grasp_slip", duration=2.0)
    assert lander.run_until(lambda: state(lander) == "idle", 600)
    tube = sta(lander).inventory.tubes()[0]
    assert tube.place == "ground_near_lander"
    assert [how for _, _, how in tube.chain] == ["located", "grasped", "slipped"]
    assert str(lander.sim.world.where(int(tube.serial)).location) == "ground_near_lander"
    assert ("sta.grasp_slip", f"tube {tube.serial} slipped on the way to slot 0") in lander.events()
    # the ground loads it from where it fell
    assert lander.command("sta.load_tube", source=GROUND, timeout=900) == DONE
    assert sta(lander).inventory.tube(tube.serial).slot == 0


def test_an_encoder_glitch_is_ridden_through_and_a_lasting_one_stops_the_arm(lander) -> None:
    lander.send("sta.load_tube", source=DEPOT)
    assert lander.run_until(lambda: state(lander) == "moving", 120)
    lander.inject("sta_arm.arm", "bias", field="angle", index=1, offset=45.0, duration=6.0)
    assert lander.run_until(lambda: "sta.tube_loaded" in [n for n, _ in lander.events()], 900)
    glitches = [d for n, d in lander.events() if n == "sta.encoder_glitch"]
    assert glitches and all(d.startswith("joint 1 read ") for d in glitches)
    assert len(glitches) < 3 and "1 in a row" in glitches[0]
    assert sta(lander).glitches == 0  # the next good reading ended it
    assert lander.run_until(lambda: state(lander) == "idle", 300)  # retracted: the load done
    # a glitch that lasts: the encoder is not trusted, the arm is stopped
    lander.inject("sta_arm.arm", "bias", field="angle", index=2, offset=-45.0)
    result = lander.command("sta.load_tube", source=DEPOT, timeout=900)
    assert result[-1].startswith("completion_failed encoder_glitch: joint 2, 3 readings")
    assert state(lander) == "stopped"
    assert sum(n == "sta.encoder_glitch" for n, _ in lander.events()) == len(glitches) + 3


def test_a_rock_in_the_shoulders_way_stalls_it_and_the_arm_app_stops_the_arm(lander) -> None:
    arm = lander.sim.emulators["sta_arm"]
    with lander.lock:  # no fault: something in the model is where the shoulder goes
        arm.obstacles = [Obstacle(joint=1, lo=arm.angle[1] + 5.0, hi=arm.angle[1] + 30.0)]
    result = lander.command("sta.load_tube", source=DEPOT, timeout=600)
    assert result[-1].startswith("completion_failed arm_fault: joint 1 stalled")
    assert state(lander) == "stopped" and lander.node.modes.mode == "safe"
    assert not arm.faults
    with lander.lock:
        assert arm.angle[1] == pytest.approx(arm.obstacles[0].lo)
