"""The Sample Transfer Arm vision board: its emulator against its HAL driver over a pty, finding
tubes and reading their serials, with every fault the bench can inject on it."""

from __future__ import annotations

import random
import statistics

import pytest

from hal.devices.base import DeviceFailed
from hal.devices.sta_vision import StaVisionClient
from hal.errors import EncodeError
from hal.protocol.devices import sta_vision as icd
from sim_hardware.devices.sta_vision import StaVision

NEAR = (0.8, 0.2, -0.5, 30.0)  # a tube on the rover's cache, within reach
FAR = (2.0, 1.0, -1.0, -170.0)  # about 2.45 m away


@pytest.fixture
def vision(connect, sim_time):
    emulator = StaVision(random.Random(7))
    return connect(emulator, StaVisionClient), emulator, sim_time


def test_an_empty_view_reports_nothing_detected_and_no_read(vision):
    client, _, _ = vision
    assert client.ping("cameras") >= 0
    status = client.read_cameras()
    assert not status.detected and status.pose == (0.0, 0.0, 0.0, 0.0)
    assert status.serial == 0 and status.confidence == 0.0 and status.reads == 0
    with pytest.raises(DeviceFailed) as failed:
        client.read_serial()
    assert failed.value.reason == "no_tube"


def test_a_tube_in_view_is_detected_with_a_noisy_pose_and_its_serial_read(vision):
    client, emulator, _ = vision
    emulator.present_tube(266, NEAR)
    poses = [client.read_cameras().pose for _ in range(5)]
    assert all(p[:3] == pytest.approx(NEAR[:3], abs=0.01) for p in poses)
    assert all(p[3] == pytest.approx(NEAR[3], abs=2.5) for p in poses)
    assert len(set(poses)) == 5  # every report has its own noise
    status = client.read_serial()
    assert status.serial == 266 and status.reads == 1 and 0.8 <= status.confidence <= 1.0
    emulator.present_tube(301, NEAR)  # another tube: the old read is forgotten
    assert client.read_cameras().serial == 0
    emulator.clear_view()
    assert not client.read_cameras().detected


def test_a_far_tube_reads_with_low_confidence_and_beyond_range_is_not_seen(vision):
    client, emulator, _ = vision
    emulator.present_tube(266, FAR)
    assert client.read_cameras().detected
    with pytest.raises(DeviceFailed) as failed:
        client.read_serial(min_confidence=0.9)
    assert failed.value.reason == "serial_unreadable"
    assert failed.value.detail == icd.UNREADABLE_LOW_CONFIDENCE
    assert client.read_serial(min_confidence=0.5).serial == 266
    emulator.present_tube(266, (3.0, 0.0, 0.0, 0.0))
    assert not client.read_cameras().detected
    with pytest.raises(DeviceFailed, match="no_tube"):
        client.read_serial()


def test_an_unreadable_serial_is_refused_until_the_view_clears(vision):
    client, emulator, _ = vision
    emulator.present_tube(266, NEAR)
    fault = emulator.inject("serial_unreadable", "cameras")
    with pytest.raises(DeviceFailed) as failed:
        client.read_serial(min_confidence=0.0)
    assert failed.value.reason == "serial_unreadable"
    assert failed.value.detail == icd.UNREADABLE_ETCHING
    status = client.read_cameras()
    assert status.detected and status.serial == 0 and status.reads == 0
    emulator.clear(fault)
    assert client.read_serial().serial == 266


def test_biased_and_noisy_pose_fields(vision):
    client, emulator, _ = vision
    emulator.present_tube(266, NEAR)
    emulator.inject("bias", "cameras", field="x", offset=0.1)
    emulator.inject("noise", "cameras", field="yaw", sigma=10.0)
    readings = [client.read_cameras() for _ in range(8)]
    assert statistics.mean(r.x for r in readings) == pytest.approx(0.9, abs=0.005)
    assert statistics.stdev(r.yaw for r in readings) > 3.0


def test_arguments_out_of_range_are_refused_before_sending(vision):
    client, emulator, _ = vision
    with pytest.raises(EncodeError, match=r"min_confidence = 1\.5 is outside 0\.\.1"):
        client.read_serial(min_confidence=1.5)
    assert client.health.requests == 0
    with pytest.raises(ValueError, match="serial 0"):
        emulator.present_tube(0, NEAR)


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert icd.BOARD.apids == {0x118: icd.CAMERAS.max_packet_length}
