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


# ---------------------------------------------------------------- a line at its baud rate (0033)


def test_a_saturated_115200_line_carries_at_most_11520_octets_a_second_and_no_fewer():
    rate, tick = 11520, 0.1  # octets per second (8N1: 10 bits an octet), the lockstep tick
    path = LinkPath(Impairments(baud=115200, burst=tick))
    carried = 0
    for n in range(1, 101):  # ten simulated seconds, the sender offering twice the line each tick
        t = round(n * tick, 6)
        for frame in frames(48, size=44):  # 48 octets each, 2304 octets a tick
            path.push_frame(frame, t)
        carried += sum(len(frame) for frame in path.due(t))
        assert carried <= rate * t + rate * tick  # any span: its line time plus one tick's credit
    assert carried >= rate * 9.9  # saturated: the line was never idle
    assert path.stats.bytes_out == carried and path.stats.applied["throttled"] > 0


def test_a_plain_line_lets_frames_within_its_credit_skip_the_queue():
    path = LinkPath(Impairments(baud=9600, burst=0.1))  # 96 octets at once
    assert path.passes(48, 0.0) and path.passes(48, 0.0)
    assert not path.passes(1, 0.0)  # the credit is spent: the frame goes through the queue
    path.push_frame(frames(1, size=44)[0], 0.0)
    assert path.next_due == pytest.approx(0.05)
    assert not path.passes(1, 1.0)  # a frame in flight: the next one waits behind it
    assert path.due(1.0) and path.passes(48, 1.0)  # a second later: credit again
    assert (path.stats.frames_in, path.stats.frames_out, path.stats.bytes_out) == (4, 4, 192)
    noisy = LinkPath(Impairments(baud=9600, burst=0.1, drop=0.01))
    assert not noisy.passes(1, 0.0)  # an impaired line draws each frame's fate in the queue


def test_the_light_time_starts_once_the_line_has_carried_the_frame():
    path = LinkPath(Impairments(baud=9600, burst=0.0, delay=1.0))
    sent = frames(3, size=44)  # 48 octets: 0.05 s of line each
    for frame in sent:
        path.push_frame(frame, 0.0)
    assert path.due(1.0999) == sent[:1]
    assert path.due(1.1) == sent[1:2] and path.due(1.15) == sent[2:]  # spaced by the line


def test_a_cleared_throttle_lets_the_lines_own_rate_drain_what_it_owes():
    own = Impairments(baud=115200, burst=0.1)
    path = LinkPath(own)
    path.impairments = Impairments(baud=1200, burst=0.1)  # 120 octets a second: a fault
    for frame in frames(100, size=44):  # 4800 octets: 40 s at 1200 baud
        path.push_frame(frame, 0.0)
    path.impairments = own  # cleared: the 4788 octets owed take 0.416 s at 115200, not 40 s
    assert len(path.due(0.4)) == 1  # the first was due at 0.3 s anyway
    assert len(path.due(0.42)) == 99 and path.idle
    assert path.passes(48, 0.42) and path.passes(1100, 1.0)  # its own rate and credit again
