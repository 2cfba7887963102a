"""The narrow-angle camera board: its emulator against its HAL driver over a pty, through the
rendezvous (the OS out of reach, detected below 1,500 km, tracked down to contact)."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed
from hal.devices.nac_camera import NacCameraClient
from hal.errors import EncodeError
from hal.protocol.devices import nac_camera as icd
from sim_hardware.devices.nac_camera import NacCamera


@pytest.fixture
def nac(connect, sim_time):
    emulator = NacCamera(initial_range=2000.0, closing_rate=0.05)
    return connect(emulator, NacCameraClient), emulator, sim_time


def test_the_camera_answers_ping_and_is_idle_at_power_up(nac):
    client, _, clock = nac
    assert client.ping("nac") >= 0
    clock.now = 100.0
    status = client.read_nac()
    assert not status.tracking and not status.detected and status.frames == 0
    assert status.time_to_contact is None and not status.contact


def test_the_os_is_detected_below_1500_km_and_tracked_to_contact(nac):
    client, _, clock = nac
    client.start_tracking(frame_period=10.0)
    clock.now = 5000.0  # 1750 km: too far
    far = client.read_nac()
    assert far.tracking and not far.detected and far.snr < icd.SNR_MIN and far.frames == 501
    clock.now = 12000.0  # 1400 km
    seen = client.read_nac()
    assert seen.detected and seen.snr > icd.SNR_MIN
    assert seen.range == pytest.approx(1400.0, rel=0.08)
    assert (seen.azimuth, seen.elevation) == pytest.approx((0.5, -0.3), abs=0.1)
    assert seen.range_rate == pytest.approx(-0.05, abs=0.005)
    assert seen.time_to_contact == pytest.approx(28000.0, rel=0.15)
    clock.now = 20000.0  # 1000 km
    closer = client.read_nac()
    assert closer.range == pytest.approx(1000.0, rel=0.06) and closer.snr > seen.snr
    clock.now = 40000.0
    contact = client.read_nac()
    assert contact.contact and contact.detected and contact.range == pytest.approx(0.0, abs=1e-3)
    assert contact.snr == 1000.0 and contact.frames == 4001
    client.stop_tracking()
    clock.now = 40100.0
    stopped = client.read_nac()
    assert not stopped.tracking and not stopped.detected and stopped.frames == 4001


def test_a_faint_os_is_detected_later(connect, sim_time):
    emulator = NacCamera(initial_range=2000.0, closing_rate=0.05, brightness=0.5)
    client = connect(emulator, NacCameraClient)
    client.start_tracking(frame_period=60.0)
    sim_time.now = 12000.0  # 1400 km: bright enough nominally, not at half the brightness
    assert not client.read_nac().detected
    sim_time.now = 19200.0  # 1040 km
    assert client.read_nac().detected


def test_the_world_model_restarts_the_approach(nac):
    client, emulator, clock = nac
    emulator.set_approach(800.0, 0.1, at=0.0)
    client.start_tracking(frame_period=1.0)
    clock.now = 3.0
    assert client.read_nac().range == pytest.approx(799.7, rel=0.05)


def test_tracking_commands_refused_or_out_of_range(nac):
    client, _, _ = nac
    client.start_tracking(frame_period=5.0)
    with pytest.raises(DeviceFailed) as failed:
        client.start_tracking(frame_period=5.0)
    assert failed.value.reason == "already_tracking" and failed.value.code == 16
    with pytest.raises(EncodeError, match=r"frame_period = 0 is outside 0\.1\.\.60"):
        client.start_tracking(frame_period=0)  # refused before anything is sent
    assert client.health.requests == 2


def test_a_biased_bearing_is_seen_through_the_driver(nac):
    client, emulator, clock = nac
    emulator.inject("bias", "nac", field="azimuth", offset=1.0)
    client.start_tracking(frame_period=10.0)
    clock.now = 20000.0
    assert client.read_nac().azimuth == pytest.approx(1.5, abs=0.1)


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert icd.BOARD.node == "orbiter"
    assert all(0x160 <= apid <= 0x16F for apid in icd.BOARD.apids)
