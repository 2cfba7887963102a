"""Packets in TC frames: several short packets share a frame (blocking), a long packet spans
frames (segmentation), and the on-board side rebuilds them whatever it is fed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import EncodeError
from hal.protocol.spacepacket import SpacePacket
from hal.protocol.tc_frame import TcFrame
from hal.protocol.tc_segment import TcDesegmenter, segment

FIRST, CONTINUING, LAST, WHOLE = 0b01, 0b00, 0b10, 0b11


def packet(size: int, apid: int = 0x42, fill: int = 0xA5) -> bytes:
    return SpacePacket(1, apid, bytes([fill]) * (size - 6)).pack()


def test_short_packets_are_blocked_into_one_unit_that_says_which_ones_it_completes():
    a, b, c = packet(20), packet(30), packet(40)
    assert segment([a, b, c], 100) == [(WHOLE, a + b + c, (0, 1, 2))]
    assert segment([a, b, c], 60) == [(WHOLE, a + b, (0, 1)), (WHOLE, c, (2,))]


def test_a_long_packet_is_split_first_continuing_last_between_blocks():
    a, long, c = packet(10), packet(250), packet(10)
    units = segment([a, long, c], 100)
    assert [u.flags for u in units] == [WHOLE, FIRST, CONTINUING, LAST, WHOLE]
    assert b"".join(u.data for u in units[1:4]) == long
    assert [u.completes for u in units] == [(0,), (), (), (1,), (2,)]


def test_a_hand_laid_segmented_frame_carries_the_flags_and_map_in_its_segment_header():
    unit = segment([packet(250)], 100)[0]
    frame = TcFrame(42, 1, unit.data, seq=7, map_id=5, seg_flags=unit.flags)
    raw = frame.pack()
    assert raw[5] == 0b01_000101  # first segment, MAP 5
    assert TcFrame.from_raw(raw) == frame


def test_bad_arguments_are_refused():
    with pytest.raises(EncodeError, match="cannot carry"):
        segment([packet(10)], 6)
    with pytest.raises(EncodeError, match="empty"):
        segment([b""], 100)


@given(
    sizes=st.lists(st.integers(7, 3000), min_size=1, max_size=20),
    max_unit=st.integers(7, 994),
)
def test_any_packets_come_back_whole_and_in_order(sizes, max_unit):
    packets = [packet(size, fill=i & 0xFF) for i, size in enumerate(sizes)]
    units = segment(packets, max_unit)
    assert all(len(u.data) <= max_unit for u in units)
    desegmenter = TcDesegmenter()
    out: list[bytes] = []
    completed: list[int] = []
    for unit in units:
        got = desegmenter.feed(3, unit.flags, unit.data)
        assert len(got) == len(unit.completes)
        out += got
        completed += unit.completes
    assert out == packets and completed == list(range(len(packets)))
    assert desegmenter.buffered == 0 and not desegmenter.rejects


def test_each_map_rebuilds_its_own_packet():
    one, two = segment([packet(30, fill=1)], 12), segment([packet(30, fill=2)], 12)
    desegmenter = TcDesegmenter()
    out = []
    for u1, u2 in zip(one, two, strict=True):
        out += desegmenter.feed(1, u1.flags, u1.data)
        out += desegmenter.feed(2, u2.flags, u2.data)
    assert out == [packet(30, fill=1), packet(30, fill=2)]


@pytest.mark.parametrize(
    ("feeds", "reason"),
    [
        ([(CONTINUING, b"x" * 8)], "orphan_segment"),
        ([(LAST, b"x" * 8)], "orphan_segment"),
        ([(FIRST, packet(30)[:10]), (FIRST, packet(30)[:10])], "interrupted"),
        ([(FIRST, packet(30)[:10]), (WHOLE, packet(10))], "interrupted"),
        ([(WHOLE, packet(10) + b"\xe0" + bytes(9))], "bad_packet"),
        ([(WHOLE, packet(10) + packet(20)[:15])], "truncated"),
        ([(WHOLE, packet(10) + b"\x10\x00")], "truncated"),
        ([(FIRST, packet(30)[:10]), (LAST, packet(30)[10:] + b"extra")], "bad_length"),
        ([(WHOLE, b"")], "empty"),
    ],
)
def test_units_that_break_the_rules_are_dropped_with_a_reason(feeds, reason):
    desegmenter = TcDesegmenter()
    for flags, data in feeds:
        desegmenter.feed(0, flags, data)
    assert desegmenter.rejects[reason] == 1
    assert desegmenter.feed(0, WHOLE, packet(12)) == [packet(12)]  # and it carries on


def test_each_drop_is_listed_with_the_header_of_the_packet_it_cut_short():
    desegmenter = TcDesegmenter()
    desegmenter.feed(0, WHOLE, packet(10) + packet(20)[:15])  # the second runs past the unit
    desegmenter.feed(0, FIRST, packet(30)[:4])
    desegmenter.feed(0, WHOLE, packet(10))  # interrupts the first part: 4 octets known
    desegmenter.feed(0, LAST, b"x" * 8)  # nothing known of an orphan
    assert [(d.reason, d.head) for d in desegmenter.dropped] == [
        ("truncated", packet(20)[:6]),
        ("interrupted", packet(30)[:4]),
        ("orphan_segment", b""),
    ]


def test_too_long_a_packet_is_refused_declared_or_rebuilt():
    desegmenter = TcDesegmenter(max_packet_length=100)
    assert desegmenter.feed(0, WHOLE, packet(101)) == []
    units = segment([packet(300)], 64)
    for unit in units:
        assert desegmenter.feed(0, unit.flags, unit.data) == []
    assert desegmenter.rejects["too_long"] == 2
    assert desegmenter.rejects["orphan_segment"] == len(units) - 2  # the rest had no first part


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.binary(max_size=300))))
def test_arbitrary_units_never_raise_and_never_exceed_the_limit(feeds):
    desegmenter = TcDesegmenter(max_packet_length=512)
    for map_id, flags, data in feeds:
        for out in desegmenter.feed(map_id, flags, data):
            assert 7 <= len(out) <= 512
    assert desegmenter.buffered <= 4 * 512
