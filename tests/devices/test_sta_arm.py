"""The Sample Transfer Arm board: its emulator against its HAL driver over a pty, including every
fault the bench can inject on it, as a test engineer would run them on the bench."""

from __future__ import annotations

import math

import pytest

from hal.devices.base import DeviceFailed, DeviceTimeout, DeviceUnavailable
from hal.devices.sta_arm import StaArmClient
from hal.errors import EncodeError
from hal.protocol.devices import sta_arm as icd
from sim_hardware.devices.sta_arm import (
    COULOMB_TORQUE,
    DEG_PER_WATT,
    GRAVITY_TORQUE,
    HOLD_CURRENT,
    MAX_ACCEL,
    STALL_CURRENT,
    STALL_DETECT,
    THERMAL_TAU,
    TORQUE_CONSTANT,
    VISCOUS_TORQUE,
    WINDING_OHMS,
    Obstacle,
    StaArm,
    joint_current,
    move_time,
)
from tests.devices.conftest import SimTime


@pytest.fixture
def arm(connect, sim_time):
    emulator = StaArm()
    return connect(emulator, StaArmClient), emulator, sim_time


def test_the_arm_answers_ping_and_reports_a_status_within_the_icd(arm):
    client, _, _ = arm
    assert client.ping("arm") >= 0 and client.ping("gripper") >= 0
    status = client.read_arm()
    assert status.angle == (0.0,) * 7 and not status.moving
    assert status.current == pytest.approx([joint_current(j, 0.0, 0.0, 0.0) for j in range(7)])
    assert status.current[0] == pytest.approx(HOLD_CURRENT)  # a yaw joint carries no load
    assert client.read_gripper().opening == 60.0
    assert client.health.ok and client.health.replies == 4


def test_a_joint_moves_at_its_rate_and_arrives(arm):
    client, _, clock = arm
    client.move_joint(2, 30.0, rate=2.0)
    clock.now = 5.0
    moving = client.read_arm()
    ramp = 2.0**2 / (2 * MAX_ACCEL)  # degrees lost to the acceleration ramp
    assert moving.angle[2] == pytest.approx(10.0 - ramp) and moving.rate[2] == pytest.approx(2.0)
    assert moving.moving and moving.current[2] > joint_current(2, 0.0, 0.0, 0.0)
    clock.now = 20.0
    arrived = client.read_arm()
    assert arrived.angle[2] == pytest.approx(30.0) and not arrived.moving
    client.move_all([10, 20, 30, 0, 0, 0, 0], rate=4.0)
    clock.now = 30.0
    assert client.read_arm().angle[:3] == pytest.approx((10, 20, 30))


def test_commands_outside_the_limits_are_refused_with_the_reason(arm):
    client, _, _ = arm
    with pytest.raises(DeviceFailed) as failed:
        client.move_joint(1, 150.0, rate=1.0)  # shoulder pitch stops at 120
    assert failed.value.reason == "joint_limit" and failed.value.detail == 1
    with pytest.raises(EncodeError, match=r"rate = 50 is outside 0\.1\.\.10"):
        client.move_joint(1, 10.0, rate=50)  # refused before anything is sent
    assert client.health.requests == 1


def test_a_stalled_joint_latches_and_stays_refused_until_cleared(arm):
    client, emulator, clock = arm
    fault = emulator.inject("stall", "arm", index=3)
    client.move_joint(3, 90.0, rate=5.0)
    clock.now = 1.0
    status = client.read_arm()
    assert status.stalled() == [3] and status.over_current() == [3]
    assert status.angle[3] == 0.0 and not status.moving
    with pytest.raises(DeviceFailed, match="stalled"):
        client.move_joint(3, 45.0, rate=1.0)
    with pytest.raises(DeviceFailed, match="stalled"):
        client.clear_fault(3)  # still blocked
    emulator.clear(fault)
    client.clear_fault(3)
    client.move_joint(3, 45.0, rate=5.0)
    clock.now = 20.0
    assert client.read_arm().angle[3] == pytest.approx(45.0)


def test_the_gripper_holds_a_presented_tube_and_a_slip_is_seen(arm):
    client, emulator, clock = arm
    emulator.presented_tube = 266
    client.close_gripper(force=20.0)
    clock.now = 5.0
    held = client.read_gripper()
    assert held.holding and held.force == 20.0 and held.opening == pytest.approx(13.0)
    emulator.inject("grasp_slip", "gripper")
    clock.now = 6.0
    slipped = client.read_gripper()
    assert not slipped.holding and slipped.force == 0.0
    assert emulator.slipped == [266]


def test_a_silent_board_is_a_timeout_and_a_health_fault(arm):
    client, emulator, _ = arm
    emulator.inject("no_reply", "arm")
    for _ in range(3):
        with pytest.raises(DeviceTimeout, match="no reply"):
            client.read_arm()
    assert client.health.consecutive_failures == 3 and not client.health.ok
    assert client.health.retries == 3
    assert [n for n, _ in client.events] == ["device_silent"]
    client.ping("gripper")  # the other device still answers
    emulator.clear(kind="no_reply")
    assert client.read_arm().angle[0] == 0.0 and client.health.ok


def test_a_late_reply_times_out_and_does_not_confuse_the_next_request(arm):
    client, emulator, clock = arm
    emulator.inject("late_reply", "arm", delay=5.0)
    with pytest.raises(DeviceTimeout):
        client.move_joint(0, 10.0, rate=1.0)
    emulator.clear(kind="late_reply")
    clock.now = 6.0  # the late completion report arrives now
    ramp = 1.0**2 / (2 * MAX_ACCEL)  # degrees lost to the acceleration ramp
    assert client.read_arm().angle[0] == pytest.approx(6.0 - ramp)  # the move had been done


def test_garbage_from_the_board_is_counted_and_never_taken_for_a_reply(arm):
    client, emulator, _ = arm
    emulator.inject("garbage", "arm")
    with pytest.raises(DeviceTimeout):
        client.read_arm()
    errors = client._channel.link.stats.errors if client._channel else {}
    assert sum(errors.values()) > 0
    emulator.clear(kind="garbage")
    client.read_arm()


def test_stuck_biased_and_noisy_readings(arm):
    client, emulator, clock = arm
    emulator.inject("bias", "arm", field="temperature", offset=15.0, index=0)
    emulator.inject("noise", "gripper", field="force", sigma=0.5)
    emulator.inject("stuck", "arm", field="angle")
    client.move_joint(4, 20.0, rate=5.0)
    first = client.read_arm()
    clock.now = 10.0
    later = client.read_arm()
    assert later.angle == first.angle == (0.0,) * 7  # the resolvers froze
    assert later.temperature[0] - later.temperature[3] == pytest.approx(15.0, abs=0.01)  # no load
    forces = {client.read_gripper().force for _ in range(5)}
    assert len(forces) > 1
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        emulator.inject("melt", "arm")
    with pytest.raises(ValueError, match="needs a device and a status field"):
        emulator.inject("bias", "arm", field="colour")


def test_a_fault_with_a_mistyped_or_bad_parameter_is_refused_and_changes_nothing(arm):
    client, emulator, clock = arm
    with pytest.raises(ValueError) as refused:
        emulator.inject("stall", "arm", idx=3)  # the test engineer meant index
    assert str(refused.value) == (
        "sta_arm: fault 'stall' takes no parameter 'idx' (it takes: index, at)"
    )
    for joint in (7, -1, 1.0, True, "3"):  # seven joints: 0..6, and a joint is an integer
        with pytest.raises(ValueError) as refused:
            emulator.inject("stall", "arm", index=joint)
        assert str(refused.value) == (
            f"sta_arm: fault 'stall' parameter index {joint!r} is not an integer in 0..6"
        )
    for kind, device, params, words in [
        ("grasp_slip", "gripper", {"force": 0.0}, "takes no parameter 'force' (it takes none)"),
        ("late_reply", "arm", {"delay": -1}, "parameter delay -1 is not a number in 0..3600"),
        ("noise", "gripper", {"field": "force", "sigma": math.inf},
         "parameter sigma inf is not a number >= 0"),
        ("bias", "arm", {"field": "temperature", "offset": 15.0, "index": 7},
         "parameter index 7 is not an integer in 0..6"),  # one temperature per joint
        ("stall", "arm", {"field": "angle", "index": 3}, "'stall' takes no status field"),
    ]:  # fmt: skip
        with pytest.raises(ValueError) as refused:
            emulator.inject(kind, device, **params)
        assert words in str(refused.value) and "\n" not in str(refused.value), (kind, params)
    assert emulator.faults == []  # nothing started: the arm moves and reads true
    client.move_joint(3, 10.0, rate=5.0)
    clock.now = 3.0
    status = client.read_arm()
    assert status.stalled() == [] and status.angle[3] == pytest.approx(10.0)
    assert status.temperature[0] == pytest.approx(status.temperature[5])  # two unloaded joints


def test_an_unplugged_board_is_a_health_fault_and_its_return_an_event(arm, serve):
    client, emulator, _ = arm
    start = client.bytes_out
    client.read_arm()
    before = client.bytes_out
    client.board.stop()  # the USB cable is pulled
    with pytest.raises(DeviceUnavailable):
        client.read_arm()
    assert client.health.link == "lost"
    with pytest.raises(DeviceUnavailable, match=r"link to .* is down"):
        client.read_arm()  # within the backoff: no waiting, no reopening attempt
    client._next_open = 0.0
    serve(emulator)  # plugged in again at the same by-id path
    assert client.read_arm().angle == (0.0,) * 7
    assert [n for n, _ in client.events] == ["device_lost", "device_recovered"]
    assert client.health.reopens == 1 and client.health.ok
    # what it wrote is counted across the reopen (the lockstep's octets written)
    assert client.bytes_out == before + (before - start) > before


def test_a_board_found_again_by_its_usb_serial_number(serve, monkeypatch):
    emulator = StaArm()
    board = serve(emulator, name="renamed")
    client = StaArmClient("/dev/ttyUSB-gone", usb_serial="STA-0042", timeout=0.3)
    monkeypatch.setattr(
        "hal.links.serial_link.find_port_by_serial",
        lambda serial: board.path if serial == "STA-0042" else None,
    )
    try:
        assert client.ping("arm") >= 0
    finally:
        client.close()


def test_an_absent_board_fails_at_once_and_is_retried_with_backoff(tmp_path):
    client = StaArmClient(str(tmp_path / "nothing-here"), timeout=0.2)
    with pytest.raises(DeviceUnavailable, match="is down"):
        client.read_arm()
    assert client.health.link == "lost" and client.health.failures["link_down"] == 1


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert icd.BOARD.apids == {
        0x110: icd.ARM.max_packet_length,
        0x111: icd.GRIPPER.max_packet_length,
    }


def test_a_heartbeat_is_sent_and_its_answer_taken_later_without_waiting(serve):
    board = serve(StaArm())
    clock = SimTime()  # the client's clock, for the heartbeat's deadline
    client = StaArmClient(board.path, timeout=0.3, monotonic=clock)
    assert client.poll_ping() is None  # nothing in flight
    assert client.start_ping("arm")
    for _ in range(100):  # the answer's bytes, as they arrive (never a deadline here)
        if (answered := client.poll_ping()) is not None:
            break
        client._channel.poll(0.05)
    assert answered is True and client.health.replies == 1
    board.emulator.inject("no_reply", "arm")
    assert client.start_ping("arm") and client.start_ping("arm")  # one in flight, not two
    assert client.poll_ping() is None and client.health.requests == 2
    clock.now = 0.31  # past the client's timeout
    assert client.poll_ping() is False
    assert client.health.failures["no_reply"] == 1 and client.health.consecutive_failures == 1
    client.close()


# ---------------------------------------------------------------------- physics, closed form


def run(emulator: StaArm, seconds: float, step: float = 0.1) -> None:
    """Advance the emulator ``seconds`` in steps of ``step`` (as the simulator's rounds)."""
    end = emulator.now + seconds
    while emulator.now < end - 1e-9:
        emulator.advance(min(end, emulator.now + step))


def test_a_move_follows_its_trapezoidal_profile_in_the_closed_form_time():
    for degrees, rate in ((30.0, 4.0), (60.0, 5.0), (0.5, 4.0)):  # the last: never reaches 4
        arm = StaArm()
        arm.cmd_arm_move_joint({"joint": 0, "angle": degrees, "rate": rate}, 0.0)
        expected = move_time(degrees, rate)
        run(arm, expected - 0.1, step=0.01)
        assert arm.angle[0] < degrees - 1e-6  # not there before its time
        run(arm, 0.2, step=0.01)
        assert arm.angle[0] == pytest.approx(degrees) and arm.rate[0] == 0.0
    assert move_time(30.0, 4.0) == pytest.approx(30.0 / 4.0 + 4.0 / MAX_ACCEL)
    assert move_time(0.5, 4.0) == pytest.approx(2 * (0.5 / MAX_ACCEL) ** 0.5)


def test_the_current_is_the_load_and_the_friction_over_the_torque_constant():
    arm = StaArm()
    arm.cmd_arm_move_joint({"joint": 0, "angle": 90.0, "rate": 4.0}, 0.0)
    run(arm, 5.0)  # cruising, a yaw joint: friction only
    assert arm.rate[0] == pytest.approx(4.0)
    assert arm.current[0] == pytest.approx(
        HOLD_CURRENT + (COULOMB_TORQUE + VISCOUS_TORQUE * 4.0) / TORQUE_CONSTANT
    )
    arm = StaArm()
    arm.cmd_arm_move_joint({"joint": 1, "angle": 60.0, "rate": 5.0}, 0.0)
    run(arm, 30.0)  # the shoulder at rest at 60 deg holds half its horizontal load
    assert arm.angle[1] == pytest.approx(60.0)
    assert arm.current[1] == pytest.approx(HOLD_CURRENT + GRAVITY_TORQUE[1] * 0.5 / TORQUE_CONSTANT)


def test_a_winding_heats_toward_its_equilibrium_with_its_time_constant():
    arm = StaArm(ambient=-40.0)
    arm.cmd_arm_move_joint({"joint": 1, "angle": 0.0, "rate": 1.0}, 0.0)  # horizontal: full load
    run(arm, THERMAL_TAU, step=5.0)
    amps = HOLD_CURRENT + GRAVITY_TORQUE[1] / TORQUE_CONSTANT
    rise = DEG_PER_WATT * amps**2 * WINDING_OHMS
    assert arm.temperature[1] == pytest.approx(-40.0 + rise * (1 - 2.718281828**-1), abs=0.01)


def test_an_obstacle_in_the_model_stalls_the_joint_that_meets_it_without_a_fault():
    arm = StaArm()
    arm.obstacles = [Obstacle(joint=1, lo=20.0, hi=25.0)]  # a rock in the shoulder's way
    arm.cmd_arm_move_joint({"joint": 1, "angle": 40.0, "rate": 4.0}, 0.0)
    reach = move_time(20.0, 4.0)  # it would be at 20 deg about now, had nothing been there
    run(arm, reach - 1.0)
    assert arm.angle[1] < 20.0 and not arm.flags[1] & icd.STALLED
    run(arm, 1.2)  # against the rock, pushing at the current limit, not yet latched
    assert arm.angle[1] == pytest.approx(20.0) and arm.rate[1] == 0.0
    assert arm.current[1] == STALL_CURRENT
    run(arm, STALL_DETECT)
    assert arm.flags[1] & icd.STALLED and arm.flags[1] & icd.OVER_CURRENT
    assert not arm.faults  # no fault: the model stalled it
    with pytest.raises(Exception, match="17"):  # FAIL_STALL: still against the rock
        arm.cmd_arm_clear_fault({"joint": 1}, arm.now)
    arm.obstacles = []  # the rock is moved
    arm.cmd_arm_clear_fault({"joint": 1}, arm.now)
    arm.cmd_arm_move_joint({"joint": 1, "angle": 40.0, "rate": 4.0}, arm.now)
    run(arm, 10.0)
    assert arm.angle[1] == pytest.approx(40.0) and not arm.flags[1] & icd.STALLED
