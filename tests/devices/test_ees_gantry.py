"""The EES gantry board: its emulator against its HAL driver over a pty, through the transfer
into the Earth Entry System, the stow and the (hazardous) release."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed, DeviceTimeout
from hal.devices.ees_gantry import EesGantryClient, ReleaseStatus
from hal.errors import EncodeError
from hal.protocol.devices import ees_gantry as icd
from sim_hardware.devices.ees_gantry import EesGantry


@pytest.fixture
def gantry(connect, sim_time):
    emulator = EesGantry()
    return connect(emulator, EesGantryClient), emulator, sim_time


def test_the_board_answers_ping_and_starts_stowed(gantry):
    client, _, _ = gantry
    assert client.ping("gantry") >= 0 and client.ping("release") >= 0
    status = client.read_gantry()
    assert status.stowed and status.position == 0.0 and not status.vessel_in_ees
    assert status.stow_switch and not status.far_switch
    assert status.drive_name == "idle" and status.speed == 0.0 and not status.moving
    assert not client.read_release().released


def test_transfer_stow_and_release(gantry):
    client, _, clock = gantry
    client.insert(rate=10.0)
    clock.now = 40.0  # 2 s ramp to 10 mm/s (10 mm), then 38 s of cruise
    moving = client.read_gantry()
    assert moving.position == pytest.approx(390.0) and moving.speed == pytest.approx(10.0)
    assert moving.moving and moving.drive_name == "moving" and not moving.stowed
    assert not moving.stow_switch and not moving.far_switch
    assert moving.current == pytest.approx(0.7)  # 0.2 A + (20 N + 0.5 N s/mm x 10) / 50 N/A
    with pytest.raises(DeviceFailed) as failed:
        client.release_ees()  # the gantry is in the EES
    assert failed.value.reason == "not_stowed" and failed.value.detail == 390
    clock.now = 90.0  # arrived at 87 s: 850 / 10 + 10 / 5
    inserted = client.read_gantry()
    assert inserted.position == icd.INSERT_POSITION and inserted.vessel_in_ees
    assert inserted.far_switch and not inserted.moving and inserted.drive_name == "idle"
    client.stow()
    clock.now = 150.0
    assert not client.read_gantry().stowed  # still on its way back
    assert client.read_gantry().speed == pytest.approx(-10.0)
    clock.now = 200.0
    stowed = client.read_gantry()
    assert stowed.stowed and stowed.position == 0.0 and stowed.vessel_in_ees
    assert stowed.stow_switch and not stowed.far_switch
    client.release_ees()
    assert client.read_release() == ReleaseStatus(released=True, separated=False)
    clock.now = 202.0
    assert client.read_release().separated
    with pytest.raises(DeviceFailed, match="released"):
        client.release_ees()
    with pytest.raises(DeviceFailed, match="released"):
        client.move(100.0, rate=5.0)


def test_a_move_past_the_far_end_stops_on_its_switch_and_a_stop_brakes(gantry):
    client, _, clock = gantry
    client.move(1000.0, rate=20.0)
    clock.now = 60.0
    status = client.read_gantry()
    assert status.position == icd.FAR_END and status.target == 1000.0
    assert status.far_switch and not status.moving and status.drive_name == "at_end"
    client.move(500.0, rate=10.0)
    clock.now = 62.0
    client.stop()  # at 840 mm and 10 mm/s after its 2 s ramp: 2 s of braking, 10 mm more
    clock.now = 70.0
    stopped = client.read_gantry()
    assert stopped.position == pytest.approx(830.0) and stopped.drive_name == "idle"
    assert not stopped.moving and not stopped.far_switch and not stopped.stow_switch


def test_a_jam_blocks_the_drive_at_its_current_limit(gantry):
    client, emulator, clock = gantry
    emulator.inject("jam", "gantry", at=300.0)
    client.insert(rate=10.0)
    clock.now = 120.0
    jammed = client.read_gantry()
    assert jammed.position == 300.0 and not jammed.moving and jammed.drive_name == "blocked"
    assert not jammed.far_switch and not jammed.vessel_in_ees
    assert jammed.current == icd.CURRENT_LIMIT
    client.stop()
    assert client.read_gantry().drive_name == "idle"
    assert client.read_gantry().current == pytest.approx(0.2)


def test_the_release_is_declared_hazardous_and_arguments_are_checked(gantry):
    client, _, _ = gantry
    assert icd.RELEASE.command("release").hazardous
    assert not any(m.hazardous for m in icd.GANTRY.commands)
    with pytest.raises(EncodeError, match=r"position = 1200 is outside 0\.\.1000"):
        client.move(1200, rate=5.0)  # refused before anything is sent
    assert client.health.requests == 0


def test_a_silent_release_board_is_a_timeout(gantry):
    client, emulator, _ = gantry
    emulator.inject("no_reply", "release")
    with pytest.raises(DeviceTimeout):
        client.read_release()
    client.ping("gantry")


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert icd.BOARD.node == "orbiter"
    assert all(0x190 <= apid <= 0x19F for apid in icd.BOARD.apids)
