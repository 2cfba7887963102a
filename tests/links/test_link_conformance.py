"""One conformance suite for every Link backend (in the manner of trio's check_two_way_stream).

Each test runs against every pair kind of ``conftest.PAIR_KINDS``: ``loop://``; a PtyLink with a
SerialLink on its peer path; the same through a ``/dev/serial/by-id``-style symlink; a
TcpListenLink with a ``socket://`` SerialLink; and a real port with a loopback jumper when
``--hil-port`` is given.
"""

from __future__ import annotations

import io
import random
import time

import pytest

from hal.errors import LinkClosed
from hal.links import DLT_USER0, PcapReader

from .link_helpers import Pair, read_exactly, wait_readable


def test_write_read_both_directions(pair: Pair) -> None:
    pair.a.write(b"ping")
    assert read_exactly(pair.b, 4) == b"ping"
    pair.b.write(b"pong\x00\xff\r\n")
    assert read_exactly(pair.a, 8) == b"pong\x00\xff\r\n"


def test_bulk_transfer_in_order_and_intact(pair: Pair) -> None:
    rng = random.Random(1234)
    data = rng.randbytes(pair.bulk_size)
    chunk = 4096  # loop:// holds at most 4096 bytes in flight
    for src, dst in ((pair.a, pair.b), (pair.b, pair.a)):
        got = bytearray()
        for i in range(0, len(data), chunk):
            piece = data[i : i + chunk]
            src.write(piece)
            got += read_exactly(dst, len(piece))
        assert got == data
        if pair.same:
            break


def test_read_returns_at_most_size(pair: Pair) -> None:
    pair.a.write(b"0123456789")
    got = pair.b.read(3, timeout=2)
    assert 1 <= len(got) <= 3
    assert got + read_exactly(pair.b, 10 - len(got)) == b"0123456789"


def test_read_timeout_returns_empty(pair: Pair) -> None:
    start = time.monotonic()
    assert pair.b.read(timeout=0.05) == b""
    assert pair.a.read(timeout=0.05) == b""
    assert time.monotonic() - start < 2


def test_read_zero_timeout_polls(pair: Pair) -> None:
    start = time.monotonic()
    assert pair.b.read(timeout=0) == b""
    assert time.monotonic() - start < 1
    pair.a.write(b"xy")
    assert read_exactly(pair.b, 1) == b"x"
    wait_readable(pair.b, 2)
    assert pair.b.read(timeout=0) == b"y"


def test_close_is_idempotent_and_io_after_close_raises(pair: Pair) -> None:
    for link in (pair.a, pair.b):
        link.close()
        link.close()
        assert not link.is_open
        with pytest.raises(LinkClosed):
            link.read(timeout=0)
        with pytest.raises(LinkClosed):
            link.read(timeout=None)
        with pytest.raises(LinkClosed):
            link.write(b"x")
        with pytest.raises(LinkClosed):
            link.write_frame(b"x")


def test_context_manager(pair: Pair) -> None:
    with pair.a as link:
        assert link is pair.a
        assert link.is_open
        link.write(b"c")
        assert read_exactly(pair.b, 1) == b"c"
    assert not pair.a.is_open
    with pytest.raises(LinkClosed):
        pair.a.write(b"c")


def test_stats(pair: Pair) -> None:
    assert pair.a.stats.last_activity is None or pair.same
    pair.a.write_frame(b"frame-1")
    pair.a.write(b"raw")
    assert read_exactly(pair.b, 10) == b"frame-1raw"
    pair.b.record_frame_in(b"frame-1")
    pair.b.record_error("crc", 2)
    pair.b.record_error("sync_lost")

    a, b = pair.a.stats, pair.b.stats
    assert a.bytes_out == 10
    assert a.frames_out == 1
    assert b.bytes_in == 10
    assert b.frames_in == 1
    assert b.errors["crc"] == 2
    assert b.errors["sync_lost"] == 1
    if not pair.same:
        assert a.bytes_in == 0
        assert b.bytes_out == 0
        assert a.frames_in == b.frames_out == 0
        assert not a.errors
    # last_activity comes from the injected clock, never from the wall clock
    assert a.last_activity in pair.clock.issued
    assert b.last_activity in pair.clock.issued
    d = pair.b.stats.as_dict()
    assert d["bytes_in"] == 10
    assert d["errors"] == {"crc": 2, "sync_lost": 1}
    assert d["last_activity"] == b.last_activity


def test_capture_files(make_pair) -> None:
    pair = make_pair(capture=True)
    up = [b"\x1a\xcf\xfc\x1d" + bytes([i]) * (i + 1) for i in range(5)]
    down = [b"\x1a\xcf\xfc\x1d" + b"reply-%d" % i for i in range(3)]
    for frame in up:
        pair.a.write_frame(frame)
        assert read_exactly(pair.b, len(frame)) == frame
        pair.b.record_frame_in(frame)
    for frame in down:
        pair.b.write_frame(frame)
        assert read_exactly(pair.a, len(frame)) == frame
        pair.a.record_frame_in(frame)
    a_tx, a_rx = pair.a.capture_paths
    b_tx, b_rx = pair.b.capture_paths
    pair.close()

    def records(path: str) -> list[tuple[float, bytes]]:
        with PcapReader(path) as reader:
            assert reader.linktype == DLT_USER0
            assert reader.snaplen == 65535
            assert reader.version == (2, 4)
            recs = list(reader)
            assert not reader.truncated
        return recs

    issued = {round(t, 6) for t in pair.clock.issued}
    if pair.same:
        expected = {a_tx: up + down, a_rx: up + down}
    else:
        expected = {a_tx: up, b_rx: up, b_tx: down, a_rx: down}
    for path, frames in expected.items():
        recs = records(path)
        assert [frame for _, frame in recs] == frames, path
        assert all(round(ts, 6) in issued for ts, _ in recs), path
        stamps = [ts for ts, _ in recs]
        assert stamps == sorted(stamps)


def test_write_frames_counts_and_captures_each_frame(make_pair) -> None:
    pair = make_pair(capture=True)
    frames = [b"\x1a\xcf\xfc\x1d" + bytes([n]) * 3 for n in range(4)]
    pair.a.write_frames(frames)
    pair.a.write_frames([])
    assert read_exactly(pair.b, 28) == b"".join(frames)
    assert pair.a.stats.frames_out == 4
    assert pair.a.stats.bytes_out == 28
    tx_path = pair.a.capture_paths[0]
    pair.close()
    with PcapReader(tx_path) as reader:
        assert [frame for _, frame in reader] == frames


def test_write_ready_takes_what_the_peer_has_room_for_and_never_waits(pair: Pair) -> None:
    try:
        pair.a.fileno()
    except io.UnsupportedOperation:
        pytest.skip(f"{pair.kind} links have no descriptor to ask for room")
    data = bytes(range(256)) * 65536  # 16 MiB: more than a pty, socket or UART buffer holds
    started = time.monotonic()
    taken = pair.a.write_ready(data)
    assert time.monotonic() - started < 1.0
    assert 0 < taken < len(data) and pair.a.stats.bytes_out == taken
    assert read_exactly(pair.b, taken) == data[:taken]  # nothing lost nor reordered
