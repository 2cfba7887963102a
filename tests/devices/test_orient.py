"""The orientation board: its emulator against its HAL driver over a pty, through the orientation
(rotate the OS, light it, image it, decide) and an ambiguous image."""

from __future__ import annotations

import zlib

import pytest

from hal.devices.base import DeviceFailed
from hal.devices.orient import OrientClient
from hal.errors import EncodeError
from hal.protocol.devices import orient as icd
from hal.protocol.pus import FailureCode
from sim_hardware.devices.orient import Orient


@pytest.fixture
def orient(connect, sim_time):
    emulator = Orient(os_orientation=200.0)
    return connect(emulator, OrientClient), emulator, sim_time


def test_the_board_answers_ping_and_starts_idle_and_dark(orient):
    client, _, _ = orient
    for device in ("mechanism", "camera_a", "camera_b"):
        assert client.ping(device) >= 0
    mechanism = client.read_mechanism()
    assert mechanism.angle == 0.0 and mechanism.state_name == "idle" and not mechanism.moving
    camera = client.read_camera("camera_a")
    assert not camera.led and camera.image_id == 0 and camera.decision is None


def test_the_mechanism_rotates_with_travel_time_and_cameras_wait_for_it(orient):
    client, _, clock = orient
    client.rotate(90.0)
    clock.now = 5.0
    moving = client.read_mechanism()
    assert moving.angle == pytest.approx(30.0) and moving.moving
    assert moving.state_name == "rotating" and moving.target == 90.0
    with pytest.raises(DeviceFailed) as failed:
        client.take_image("camera_a")
    assert failed.value.reason == "mechanism_moving" and failed.value.code == 16
    clock.now = 20.0
    arrived = client.read_mechanism()
    assert arrived.angle == 90.0 and arrived.state_name == "at_target" and not arrived.moving
    client.rotate(180.0)
    clock.now = 25.0
    client.stop()
    clock.now = 30.0
    stopped = client.read_mechanism()
    assert stopped.state_name == "stopped" and stopped.angle == pytest.approx(120.0)


def test_a_lit_image_decides_the_orientation(orient):
    client, emulator, clock = orient
    client.rotate(90.0)
    clock.now = 20.0
    client.led("camera_a", True)
    client.take_image("camera_a")
    exposing = client.read_camera("camera_a")
    assert exposing.led and exposing.image_id == 1 and not exposing.image_ready
    with pytest.raises(DeviceFailed, match="busy"):
        client.take_image("camera_a")
    clock.now = 21.0
    image = client.read_camera("camera_a")
    assert image.image_ready and not image.ambiguous and image.brightness > 60
    assert image.decision == pytest.approx(290.0, abs=1.5)  # 200 + 90
    assert image.checksum == zlib.crc32(emulator.images["camera_a"])
    assert len(emulator.images["camera_a"]) == icd.IMAGE_WIDTH * icd.IMAGE_HEIGHT


def test_an_image_is_read_out_row_by_row_whole(orient):
    client, emulator, clock = orient
    with pytest.raises(DeviceFailed, match="no_image"):
        client.read_row("camera_a", 0)
    client.led("camera_a", True)
    client.take_image("camera_a")
    clock.now = 1.0
    status = client.read_camera("camera_a")
    image_id, pixels = client.read_image("camera_a")
    assert image_id == status.image_id == 1
    assert pixels == emulator.images["camera_a"] and zlib.crc32(pixels) == status.checksum
    row = client.read_row("camera_a", 47)
    assert row.row == 47 and bytes(row.pixels) == pixels[47 * 48 :]


def test_an_unlit_image_is_dark_and_ambiguous(orient):
    client, _, clock = orient
    client.led("camera_b", True)
    client.led("camera_b", False)
    client.take_image("camera_b")
    clock.now = 1.0
    dark = client.read_camera("camera_b")
    assert dark.image_ready and dark.brightness < 40 and dark.ambiguous and dark.decision is None


def test_an_ambiguous_orientation_is_flagged_and_the_other_camera_decides(orient):
    client, emulator, clock = orient
    emulator.inject("ambiguous_orientation", "camera_b")
    for camera in ("camera_a", "camera_b"):
        client.led(camera, True)
        client.take_image(camera)
    clock.now = 1.0
    b = client.read_camera("camera_b")
    assert b.image_ready and b.brightness > 60 and b.ambiguous and b.decision is None
    a = client.read_camera("camera_a")
    assert a.decision == pytest.approx(200.0, abs=1.5) and b.image_id == 2


def test_arguments_out_of_range_are_refused_before_sending(orient):
    client, _, _ = orient
    with pytest.raises(EncodeError, match=r"angle = 400 is outside 0\.\.360"):
        client.rotate(400)
    with pytest.raises(ValueError, match="no camera 'camera_c'"):
        client.take_image("camera_c")
    assert client.health.requests == 0


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert icd.BOARD.node == "orbiter" and icd.FAIL_BUSY == FailureCode.BUSY == 9
    assert all(0x178 <= apid <= 0x17F for apid in icd.BOARD.apids)
