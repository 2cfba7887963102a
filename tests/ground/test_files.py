"""The ground's side of files (decision 0056): the station's CFDP receivers land each file once in
the archive and the run folder; an image file from space is read as hostile input; the OS's
orientation is read on the image as the CCRS's analysts read it."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsw.dictionary.files import image_file_name, pgm
from ground_tools.archive import Archive, FileRecord
from ground_tools.files import (
    MAX_IMAGE_SIDE,
    FileDesk,
    ImageError,
    estimate_orientation,
    parse_pgm,
    render_text,
)
from hal.protocol.cfdp import FileSender
from hal.protocol.devices.orient import IMAGE_HEIGHT, IMAGE_WIDTH
from hal.protocol.spacepacket import file_pdu
from sim_hardware.devices.orient import Orient

ORBITER = 0x220


def image_of(orientation: float, *, glare: bool = False, camera: str = "camera_a",
             seed: int = 1) -> bytes:  # fmt: skip
    board = Orient(random.Random(seed), os_orientation=orientation)
    pixels = board.render(camera, True, glare)
    return pgm(IMAGE_WIDTH, IMAGE_HEIGHT, pixels, f"msr orient camera={camera} image_id=1")


@pytest.mark.parametrize("orientation", [0.0, 17.5, 90.0, 181.0, 271.3, 359.6])
def test_the_orientation_is_read_on_the_image_within_half_a_degree(orientation):
    estimate = estimate_orientation(parse_pgm(image_of(orientation)))
    assert estimate.orientation is not None and estimate.glare_pixels == 0
    assert abs((estimate.orientation - orientation + 180) % 360 - 180) < 0.5


def test_glare_is_masked_and_a_mark_under_it_is_said_not_seen():
    clear = estimate_orientation(parse_pgm(image_of(200.0, glare=True)))  # glare at 45 deg
    assert clear.orientation == pytest.approx(200.0, abs=0.5) and clear.glare_pixels > 100
    hidden = estimate_orientation(parse_pgm(image_of(45.0, glare=True)))
    assert hidden.orientation is None and "glare" in hidden.reason


def test_a_dark_image_is_not_read():
    board = Orient(random.Random(1), os_orientation=10.0)
    dark = pgm(IMAGE_WIDTH, IMAGE_HEIGHT, board.render("camera_a", False, False))
    estimate = estimate_orientation(parse_pgm(dark))
    assert estimate.orientation is None and "dark" in estimate.reason


def test_the_image_header_is_read_with_its_comments():
    image = parse_pgm(image_of(30.0))
    assert (image.width, image.height, len(image.pixels)) == (48, 48, 48 * 48)
    assert image.meta() == {"camera": "camera_a", "image_id": "1"}
    lines = render_text(image)
    assert len(lines) == 24 and all(len(line) == 48 for line in lines)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"P6\n2 2\n255\n" + bytes(12), "does not start with P5"),
        (b"P5\n2 x\n255\n" + bytes(4), "must be numbers"),
        (b"P5\n0 2\n255\n", "outside"),
        (f"P5\n{MAX_IMAGE_SIDE + 1} 1\n255\n".encode() + bytes(MAX_IMAGE_SIDE + 1), "outside"),
        (b"P5\n2 2\n65535\n" + bytes(8), "maxval"),
        (b"P5\n2 2\n255\n" + bytes(3), "3 octets of pixels for 2 x 2"),
    ],
)
def test_a_file_that_is_not_a_readable_image_is_refused_by_name(data, problem):
    with pytest.raises(ImageError, match=problem):
        parse_pgm(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_octets_parse_or_are_refused_never_worse(data):
    try:
        image = parse_pgm(b"P5" + data)
    except ImageError:
        return
    estimate_orientation(image)  # and whatever parses can be read without an error


def test_the_desk_lands_a_file_once_in_the_archive_and_the_run_folder(tmp_path: Path):
    archive = Archive(tmp_path / "archive.sqlite")
    desk = FileDesk({"orbiter": ORBITER}, folder=tmp_path / "files", archive=archive.add_file)
    sender = FileSender(ORBITER)
    data = image_of(120.0)
    name = image_file_name(7)
    sender.put(name, data)
    t = 0.0
    for _ in range(50):
        t = round(t + 0.1, 3)
        pdus = [file_pdu(raw) for raw in sender.step(t)]
        for raw in desk.take("orbiter", pdus, t):
            sender.receive(file_pdu(raw), t)
        desk.take("lander", pdus, t)  # a node the desk has no receiver for: nothing happens
    archive.commit()
    assert (tmp_path / "files" / "orbiter" / name).read_bytes() == data
    (record,) = archive.files(data=True)
    assert (record.node, record.name, record.ok, record.data) == ("orbiter", name, True, data)
    assert record.crc32 == zlib.crc32(data) and record.size == len(data)
    assert archive.files(data=False)[0].data == b""
    assert archive.files(node="mav") == []
    assert desk.stats()["orbiter"]["files"] == 1 and desk.due(t) == float("inf")
    archive.close()


def test_a_failed_transfer_is_archived_without_data_or_file(tmp_path: Path):
    archive = Archive(tmp_path / "archive.sqlite")
    record = FileRecord("orbiter", "orient-3.pgm", 4, 10.0, 620.0, 0, 0, False,
                        "POSITIVE_ACK_LIMIT_REACHED", 3)  # fmt: skip
    archive.add_file(record)
    archive.commit()
    (back,) = archive.files(data=True)
    assert back == record and back.as_dict()["ok"] is False
    archive.close()
