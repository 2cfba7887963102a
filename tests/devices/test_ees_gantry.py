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
    assert not client.read_release().released


def test_transfer_stow_and_release(gantry):
    client, _, clock = gantry
    client.insert(rate=10.0)
    clock.now = 40.0
    moving = client.read_gantry()
    assert moving.position == pytest.approx(400.0) and moving.moving and not moving.stowed
    with pytest.raises(DeviceFailed) as failed:
        client.release_ees()  # the gantry is in the EES
    assert failed.value.reason == "not_stowed" and failed.value.detail == 400
    clock.now = 90.0
    inserted = client.read_gantry()
    assert inserted.position == icd.INSERT_POSITION and inserted.vessel_in_ees
    client.stow()
    clock.now = 150.0
    assert not client.read_gantry().stowed  # still on its way back
    clock.now = 200.0
    stowed = client.read_gantry()
    assert stowed.stowed and stowed.position == 0.0 and stowed.vessel_in_ees
    client.release_ees()
    assert client.read_release() == ReleaseStatus(released=True, separated=False)
    clock.now = 202.0
    assert client.read_release().separated
    with pytest.raises(DeviceFailed, match="released"):
        client.release_ees()
    with pytest.raises(DeviceFailed, match="released"):
        client.move(100.0, rate=5.0)


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
