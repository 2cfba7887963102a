"""The space-link emulator: frames cut at the marker, impaired as configured, reproducibly."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import pytest

from hal.links import open_link
from hal.protocol.framing import ASM
from sim_hardware.space_link import FrameSplitter, Impairments, LinkPath


def frames(count: int, size: int = 40) -> list[bytes]:
    return [ASM + bytes([n % 256]) * size for n in range(count)]


def test_the_splitter_cuts_at_markers_however_the_bytes_arrive():
    stream = b"noise" + b"".join(frames(5))
    splitter = FrameSplitter()
    out = []
    for at in range(0, len(stream), 7):
        out += splitter.feed(stream[at : at + 7])
    out += splitter.flush()
    assert out == [b"noise", *frames(5)]


def test_a_clean_path_delivers_everything_in_order_after_the_light_time():
    path = LinkPath(Impairments(delay=1.5))
    path.push(b"".join(frames(10)), now=0.0)
    path.flush(0.0)
    assert path.due(1.4) == [] and path.next_due == 1.5
    assert path.due(1.5) == frames(10)
    assert path.stats.frames_out == 10 and not path.stats.applied


def test_impairments_are_applied_at_their_rates_and_reproducibly():
    bad = Impairments(drop=0.1, duplicate=0.1, flip=0.1, jitter=0.5)

    def run(seed: int) -> list[bytes]:
        path = LinkPath(bad, random.Random(seed))
        path.push(b"".join(frames(2000)), 0.0)
        path.flush(0.0)
        return path.due(10.0)

    out = run(1)
    assert out == run(1) and out != run(2)
    sent = set(frames(2000))
    damaged = [f for f in out if f not in sent]
    assert 150 < len(damaged) < 250  # one bit each, marker intact
    assert all(f.startswith(ASM) for f in damaged)
    assert 1600 < len([f for f in out if f in sent]) < 2000
    order = [f[4] for f in out if f in sent]
    assert all(a <= b or a - b > 200 for a, b in itertools.pairwise(order))  # FIFO


def test_reordering_and_blackouts():
    path = LinkPath(Impairments(jitter=1.0, reorder=True, blackouts=((5.0, 6.0),)))
    path.push(b"".join(frames(200)), 0.0)
    path.flush(0.0)
    out = path.due(2.0)
    assert sorted(out) == sorted(frames(200)) and out != frames(200)
    path.push(b"".join(frames(3)), 5.5)
    path.flush(5.5)
    assert path.due(10.0) == [] and path.stats.applied["blackout"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drop": 1.5}, "drop = 1.5 is not a probability"),
        ({"delay": -1}, "must not be negative"),
        ({"blackouts": ((2.0, 1.0),)}, "ends before it starts"),
    ],
)
def test_bad_impairments_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Impairments(**kwargs)


def test_the_emulator_process_relays_between_two_ttys_and_reports():
    process = subprocess.Popen(
        [sys.executable, "-m", "sim_hardware.space_link", "--seed", "3"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    ends = json.loads(process.stdout.readline())
    ground, flight = open_link(ends["ground"]), open_link(ends["flight"])
    ground.open()
    flight.open()
    try:
        ground.write(b"".join(frames(3)))
        got = b""
        while len(got) < 3 * 44:
            got += flight.read(4096, timeout=5)
        assert got == b"".join(frames(3))
    finally:
        ground.close()
        flight.close()
        out, _ = process.communicate(timeout=10)
    assert json.loads(out.splitlines()[-1])["stats"]["up"]["frames_out"] == 3


def test_the_emulator_process_refuses_a_bad_argument_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "sim_hardware.space_link", "--drop", "2"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "drop = 2.0 is not a probability" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_bit_error_rate_damages_bits_in_proportion_and_never_the_marker():
    path = LinkPath(Impairments(bit_error_rate=1e-3), random.Random(4))
    sent = frames(400, size=250)
    for frame in sent:
        path.push_frame(frame, 0.0)
    got = path.due(0.0)
    pairs = zip(b"".join(sent), b"".join(got), strict=True)
    flipped = sum(bin(a ^ b).count("1") for a, b in pairs)
    assert all(g[:4] == ASM for g in got)
    assert flipped == path.stats.applied["bit_error"]
    assert 600 < flipped < 1000  # 400 * 250 * 8 bits at 1e-3: 800 expected


def test_a_throttled_line_carries_its_baud_rate_with_one_tick_of_credit():
    path = LinkPath(Impairments(baud=9600, burst=0.1))  # 960 octets/s, 96 at once
    sent = frames(10, size=44)  # 48 octets each: two fit in the credit
    for frame in sent:
        path.push_frame(frame, 0.0)
    assert path.due(0.0) == sent[:2]
    assert path.due(0.05) == sent[2:3]  # 48 more octets take 0.05 s of line time
    assert path.due(0.4) == sent[3:10]
    assert path.stats.applied["throttled"] == 8
    assert path.due(10.0) == [] and path.idle
