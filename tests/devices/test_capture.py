"""The capture board: its emulator against its HAL driver over a pty, through the capture (arm,
the OS enters the cone, the trigger trips, the lid closes, both switches confirm), the missed
trigger and the partial capture."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed, DeviceTimeout
from hal.devices.capture import CaptureClient, ConfirmStatus
from hal.errors import EncodeError
from hal.protocol.devices import capture as icd
from sim_hardware.devices.capture import Capture


@pytest.fixture
def capture(connect, sim_time):
    emulator = Capture()
    return connect(emulator, CaptureClient), emulator, sim_time


def test_the_board_answers_ping_and_starts_open_and_disarmed(capture):
    client, _, _ = capture
    for device in ("trigger", "lid", "confirm"):
        assert client.ping(device) >= 0
    trigger = client.read_trigger()
    assert not trigger.armed and not trigger.tripped and trigger.trips == 0
    lid = client.read_lid()
    assert lid.angle == icd.LID_OPEN and lid.is_open and not lid.is_shut and not lid.moving
    assert client.read_confirm() == ConfirmStatus(False, False, False)


def test_an_armed_capture_trips_closes_the_lid_and_confirms(capture):
    client, emulator, clock = capture
    client.arm_capture()
    emulator.os_arrives(10.0)
    clock.now = 9.0
    assert not client.read_trigger().tripped and client.read_lid().is_open
    clock.now = 11.0
    trigger = client.read_trigger()
    assert trigger.tripped and trigger.tripped_at == pytest.approx(10.0, abs=0.06)
    closing = client.read_lid()
    assert closing.moving and closing.auto_closed and 40 < closing.angle < 70
    assert not client.read_confirm().confirmed  # the lid is not shut yet
    clock.now = 14.0
    lid = client.read_lid()
    assert lid.is_shut and not lid.moving and lid.angle == icd.LID_SHUT
    confirm = client.read_confirm()
    assert confirm.switch_a and confirm.switch_b and confirm.confirmed and not confirm.partial
    with pytest.raises(DeviceFailed) as failed:
        client.open_lid()  # it holds the OS
    assert failed.value.reason == "captured" and failed.value.code == icd.FAIL_CAPTURED
    clock.now = 60.0
    assert client.read_confirm().confirmed and not emulator.os_escaped


def test_the_lid_closes_only_once_armed_and_arms_only_open(capture):
    client, _, clock = capture
    with pytest.raises(DeviceFailed) as failed:
        client.close_lid()
    assert failed.value.reason == "not_armed"
    client.arm_capture()
    client.close_lid()
    clock.now = 1.0
    assert client.read_lid().moving and not client.read_lid().auto_closed
    clock.now = 4.0
    assert client.read_lid().is_shut and not client.read_confirm().confirmed
    client.disarm_capture()
    with pytest.raises(DeviceFailed) as failed:
        client.arm_capture()
    assert failed.value.reason == "lid_not_open" and failed.value.detail == 0
    client.open_lid()
    clock.now = 8.0
    client.arm_capture()
    assert client.read_trigger().armed
    with pytest.raises(EncodeError, match="unknown argument 'angle'"):
        client.command("lid", "close", angle=45.0)  # refused before anything is sent


def test_a_disarmed_capture_ignores_the_os(capture):
    client, emulator, clock = capture
    emulator.os_arrives(2.0)
    clock.now = 10.0
    assert not client.read_trigger().tripped and client.read_lid().is_open
    assert emulator.os_escaped and not client.read_confirm().confirmed


def test_a_missed_trigger_leaves_the_lid_open_and_the_os_drifts_out(capture):
    client, emulator, clock = capture
    emulator.inject("trigger_miss", "trigger")
    client.arm_capture()
    emulator.os_arrives(5.0)
    clock.now = 6.0
    trigger = client.read_trigger()
    assert trigger.armed and not trigger.tripped and trigger.trips == 0
    assert client.read_lid().is_open and not client.read_lid().moving
    clock.now = 11.0  # the dwell is over: the OS is gone
    assert client.read_lid().is_open and emulator.os_escaped
    client.close_lid()  # too late
    clock.now = 15.0
    assert client.read_lid().is_shut and not client.read_lid().auto_closed
    confirm = client.read_confirm()
    assert not confirm.switch_a and not confirm.switch_b and not confirm.confirmed


def test_a_missed_trigger_caught_by_a_commanded_close_within_the_dwell(capture):
    client, emulator, clock = capture
    emulator.inject("trigger_miss", "trigger")
    client.arm_capture()
    emulator.os_arrives(5.0)
    clock.now = 6.0
    assert not client.read_trigger().tripped
    client.close_lid()  # the flight software saw the OS in the camera and closes by command
    clock.now = 12.0
    assert client.read_confirm().confirmed and not emulator.os_escaped


def test_a_partial_capture_presses_one_switch_and_the_lid_may_let_the_os_go(capture):
    client, emulator, clock = capture
    fault = emulator.inject("partial_capture")
    client.arm_capture()
    emulator.os_arrives(5.0)
    clock.now = 10.0  # tripped at 5 s, the lid shut 3 s later
    assert client.read_trigger().tripped and client.read_lid().is_shut
    confirm = client.read_confirm()
    assert confirm.switch_a and not confirm.switch_b and not confirm.confirmed and confirm.partial
    assert not emulator.captured
    emulator.clear(fault)  # too late: the OS lies off-centre already
    clock.now = 12.0
    assert client.read_confirm().partial
    client.open_lid()  # allowed: the OS is not seated
    clock.now = 16.0
    assert client.read_lid().is_open and emulator.os_escaped
    assert client.read_confirm() == ConfirmStatus(False, False, False)
    emulator.os_arrives(30.0)  # the re-approach, the fault gone: a clean capture
    client.disarm_capture()
    client.arm_capture()
    clock.now = 35.0
    assert client.read_confirm().confirmed


def test_a_partial_capture_may_press_switch_b_instead(capture):
    client, emulator, clock = capture
    emulator.inject("partial_capture", switch="b")
    client.arm_capture()
    emulator.os_arrives(1.0)
    clock.now = 6.0
    confirm = client.read_confirm()
    assert confirm.switch_b and not confirm.switch_a and not confirm.confirmed


def test_a_partial_capture_fault_after_the_lid_shut_does_not_unseat_the_os(capture):
    client, emulator, clock = capture
    client.arm_capture()
    emulator.os_arrives(1.0)
    clock.now = 6.0
    assert client.read_confirm().confirmed
    emulator.inject("partial_capture")
    clock.now = 8.0
    assert client.read_confirm().confirmed
    with pytest.raises(DeviceFailed) as failed:
        client.open_lid()
    assert failed.value.reason == "captured"


def test_the_os_slot_switches_are_read_through_the_mechanism_holding_the_os(capture):
    client, emulator, clock = capture
    assert client.read_os_slots() == 0 and client.read_confirm().slots == 0
    client.arm_capture()
    emulator.os_arrives(1.0)
    clock.now = 6.0
    emulator.os_slots = 0b1011  # the simulator's coupling, once the OS is captured
    assert client.read_confirm() == ConfirmStatus(True, True, True, slots=0b1011)
    assert client.read_os_slots() == 0b1011
    emulator.os_slots = 1 << 31  # the highest slot a 32-bit mask carries
    assert client.read_os_slots() == 1 << 31


def test_a_silent_confirmation_board_is_a_timeout(capture):
    client, emulator, _ = capture
    emulator.inject("no_reply", "confirm")
    with pytest.raises(DeviceTimeout):
        client.read_confirm()
    client.ping("lid")


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert icd.BOARD.node == "orbiter"
    assert all(0x170 <= apid <= 0x177 for apid in icd.BOARD.apids)
    confirm = {"switch_a": True, "switch_b": False, "confirmed": False, "slots": 2**32 - 1}
    assert icd.CONFIRM.status.decode(icd.CONFIRM.status.encode(**confirm)) == confirm
