"""TM transfer frames (CCSDS 132.0-B-3): laid out by hand, round trips, framing and reassembly."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import CrcError, EncodeError, HeaderError, LengthError, ProtocolError
from hal.protocol.spacepacket import TYPE_TM, SpacePacket
from hal.protocol.tm_frame import (
    DEFAULT_FRAME_LENGTH,
    FHP_IDLE_ONLY,
    FHP_NO_PACKET_START,
    IDLE_FILL,
    TM_HEADER_LAYOUT,
    VC_EVENTS,
    VC_IDLE,
    VC_PLAYBACK,
    VC_REALTIME_HK,
    TmFrame,
    TmFramer,
    TmPrimaryHeader,
    TmReassembler,
    data_field_size,
    tm_frame_declaration,
)

from .helpers import assert_layout_matches, assert_roundtrip, reference_crc16, with_fecf

# A 32-octet TM transfer frame with OCF and FECF, laid out octet by octet (132.0-B-3 4.1):
HAND_FRAME = with_fecf(
    bytes.fromhex(
        "2A53"  # version 00, spacecraft id 10 1010 0101 (0x2A5), VC 001, OCF flag 1
        "07"  # master channel frame count 7
        "03"  # virtual channel frame count 3
        "1804"  # no sec. header 0, sync 0, packet order 0, segment length id 11, FHP 4
        # data field, 32 - 6 - 4 - 2 = 20 octets:
        "A1A2A3A4"  # the last 4 octets of a packet begun in the previous frame of VC 1
        "0042"  # space packet: version 000, TM, no sec. header, APID 0x042
        "C005"  # unsegmented, sequence count 5
        "0009"  # data length: 10 - 1
        "00010203040506070809"  # packet data, 10 octets
        # operational control field, a CLCW (232.0-B-4 4.2):
        "01"  # type 0, version 00, status 000, COP in effect 01 (COP-1)
        "00"  # TC virtual channel 0, spare 00
        "00"  # no RF / bit lock / lockout / wait / retransmit flags, FARM-B counter 0
        "05"  # report value V(R) = 5
    )
)
HAND_PACKET = bytes.fromhex("0042C0050009") + bytes(range(10))
HAND_FRAME_LENGTH = 32


def test_frame_laid_out_by_hand_byte_for_byte():
    frame = TmFrame(
        0x2A5,
        1,
        bytes.fromhex("A1A2A3A4") + HAND_PACKET,
        mc_count=7,
        vc_count=3,
        first_header_pointer=4,
        ocf=0x01000005,
    )
    assert len(HAND_FRAME) == HAND_FRAME_LENGTH == frame.frame_length
    assert frame.pack() == HAND_FRAME
    decoded = TmFrame.from_raw(HAND_FRAME, frame_length=HAND_FRAME_LENGTH, scid=0x2A5)
    assert decoded == frame
    assert decoded.ocf_flag == 1 and decoded.segment_length_id == 0b11 and not decoded.is_idle
    assert HAND_PACKET == SpacePacket(TYPE_TM, 0x042, bytes(range(10)), seq_count=5).pack()


def test_reassembler_takes_the_hand_laid_frame():
    ground = TmReassembler(0x2A5, frame_length=HAND_FRAME_LENGTH)
    assert ground.feed(HAND_FRAME) == [HAND_PACKET]
    assert ground.stats.bytes_discarded == 4  # acquisition: the tail of an unseen packet
    assert ground.last_ocf == 0x01000005


def test_reference_declaration_round_trips_the_hand_laid_frame():
    declaration = tm_frame_declaration(HAND_FRAME_LENGTH, has_ocf=True)
    parsed = declaration.parse(HAND_FRAME)
    assert parsed.header.scid == 0x2A5
    assert parsed.header.first_header_pointer == 4
    assert parsed.ocf == 0x01000005
    assert parsed.fecf == reference_crc16(HAND_FRAME[:-2])
    assert_roundtrip(declaration, parsed, HAND_FRAME)
    without_ocf = tm_frame_declaration(64, has_ocf=False)
    assert without_ocf.sizeof() == 64
    assert "ocf" not in {sub.name for sub in without_ocf.subcons}


_HEADER_WIDTHS = {
    "header.scid": 10,
    "header.vcid": 3,
    "header.ocf_flag": 1,
    "header.mc_count": 8,
    "header.vc_count": 8,
    "header.sec_header_flag": 1,
    "header.sync_flag": 1,
    "header.packet_order_flag": 1,
    "header.segment_length_id": 2,
    "header.first_header_pointer": 11,
}


@given(st.fixed_dictionaries({k: st.integers(0, (1 << w) - 1) for k, w in _HEADER_WIDTHS.items()}))
def test_generated_header_codec_equals_construct_interpreted_and_compiled(flat):
    assert set(TM_HEADER_LAYOUT.pack_fields) == set(_HEADER_WIDTHS)
    data = assert_layout_matches(TM_HEADER_LAYOUT, {"header.version": 0, **flat})
    assert TmPrimaryHeader.parse(data).scid == flat["header.scid"]


def test_header_has_its_standard_size_and_rejects_version_1():
    assert TM_HEADER_LAYOUT.size == TmPrimaryHeader.sizeof() == 6
    with pytest.raises(HeaderError, match=r"header\.version is 1") as info:
        TM_HEADER_LAYOUT.unpack_from(b"\x40" + bytes(5))
    assert info.value.reason == "bad_version"


frame_configs = st.tuples(st.integers(32, 300), st.booleans())


@st.composite
def tm_frames(draw):
    length, has_ocf = draw(frame_configs)
    size = data_field_size(length, has_ocf)
    frame = TmFrame(
        draw(st.integers(0, 1023)),
        draw(st.integers(0, 7)),
        draw(st.binary(min_size=size, max_size=size)),
        mc_count=draw(st.integers(0, 255)),
        vc_count=draw(st.integers(0, 255)),
        first_header_pointer=draw(
            st.one_of(st.integers(0, size - 1), st.sampled_from([FHP_IDLE_ONLY, 0x7FF]))
        ),
        ocf=draw(st.integers(0, 2**32 - 1)) if has_ocf else None,
    )
    return frame, length, has_ocf


@given(tm_frames())
def test_random_frames_round_trip(case):
    frame, length, has_ocf = case
    raw = frame.pack()
    assert len(raw) == length
    assert TmFrame.from_raw(raw, frame_length=length, has_ocf=has_ocf, scid=frame.scid) == frame


@given(tm_frames(), st.data())
def test_any_single_bit_flip_is_rejected_by_the_fecf(case, data):
    frame, length, has_ocf = case
    raw = bytearray(frame.pack())
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CrcError) as info:
        TmFrame.from_raw(bytes(raw), frame_length=length, has_ocf=has_ocf)
    assert info.value.reason == "crc"
    ground = TmReassembler(None, frame_length=length, has_ocf=has_ocf)
    assert ground.feed(bytes(raw)) == []
    assert ground.stats.bad_frames == {"crc": 1}


@given(st.binary(max_size=320), frame_configs)
def test_random_bytes_raise_only_protocol_errors(raw, config):
    length, has_ocf = config
    try:
        TmFrame.from_raw(raw, frame_length=length, has_ocf=has_ocf, scid=5)
    except ProtocolError:
        pass


@st.composite
def hostile_frames(draw, length, has_ocf):
    """Frames with a good FECF: arbitrary octets, or a valid header over arbitrary data."""
    if draw(st.booleans()):
        return with_fecf(draw(st.binary(min_size=length - 2, max_size=length - 2)))
    size = data_field_size(length, has_ocf)
    fragments = st.one_of(
        st.binary(max_size=size),
        st.builds(make_packet, st.integers(0, 2), st.integers(0, 99), st.integers(7, 300)),
    )
    data = b"".join(draw(st.lists(fragments, max_size=4)))[:size]
    return TmFrame(
        5,
        draw(st.integers(0, 2)),
        data + bytes(size - len(data)),
        mc_count=draw(st.integers(0, 255)),
        vc_count=draw(st.integers(0, 3)),
        first_header_pointer=draw(
            st.one_of(st.integers(0, size - 1), st.sampled_from([FHP_IDLE_ONLY, 0x7FF]))
        ),
        ocf=0 if has_ocf else None,
    ).pack()


@given(st.data(), frame_configs, st.integers(7, 4096))
def test_hostile_frames_with_a_good_fecf_never_break_the_reassembler(data, config, max_packet):
    # Past the FECF, every header check and the packet reassembly face arbitrary content.
    length, has_ocf = config
    ground = TmReassembler(5, frame_length=length, has_ocf=has_ocf, max_packet_length=max_packet)
    for raw in data.draw(st.lists(hostile_frames(length, has_ocf), max_size=12)):
        try:
            TmFrame.from_raw(raw, frame_length=length, has_ocf=has_ocf)
        except ProtocolError as exc:
            assert not isinstance(exc, CrcError)
        for packet in ground.feed(raw):
            assert len(packet) <= max_packet
            assert len(SpacePacket.from_raw(packet).data) == len(packet) - 6
        assert_octets_accounted(ground)


def test_decoding_errors_name_the_problem():
    def decode(raw, **kwargs):
        return TmFrame.from_raw(raw, frame_length=HAND_FRAME_LENGTH, **kwargs)

    with pytest.raises(LengthError, match="31 octets") as info:
        decode(HAND_FRAME[:-1])
    assert info.value.reason == "frame_length"
    with pytest.raises(HeaderError, match="spacecraft id is 677, expected 1") as info:
        decode(HAND_FRAME, scid=1)
    assert info.value.reason == "wrong_scid"
    with pytest.raises(HeaderError, match="OCF flag") as info:
        TmFrame.from_raw(HAND_FRAME, frame_length=HAND_FRAME_LENGTH, has_ocf=False)
    assert info.value.reason == "ocf_flag"

    def patched(offset, value):
        raw = bytearray(HAND_FRAME[:-2])
        raw[offset] = value
        return with_fecf(bytes(raw))

    cases = {
        "bad_version": patched(0, 0x6A),  # version 01
        "secondary_header": patched(4, 0x98),
        "packet_order_flag": patched(4, 0x38),
        "segment_length_id": patched(4, 0x08),
        "first_header_pointer": patched(5, 20),  # the data field is 20 octets
    }
    for reason, raw in cases.items():
        with pytest.raises(HeaderError) as info:
            decode(raw)
        assert info.value.reason == reason
    with pytest.raises(ValueError, match=r"outside 32\.\.2048"):
        TmFrame.from_raw(HAND_FRAME, frame_length=2049)


def test_encoding_errors_name_the_field():
    with pytest.raises(EncodeError, match=r"header\.scid = 1024 is outside 0\.\.1023"):
        TmFrame(1024, 0, bytes(20), ocf=0).pack()
    with pytest.raises(EncodeError, match="mc_count"):
        TmFrame(1, 0, bytes(20), mc_count=256, ocf=0).pack()
    with pytest.raises(EncodeError, match="ocf") as info:
        TmFrame(1, 0, bytes(20), ocf=2**32).pack()
    with pytest.raises(EncodeError) as info:
        TmFrame(1, 0, bytes(19), ocf=0).pack()
    assert info.value.reason == "frame_length"
    with pytest.raises(EncodeError) as info:
        TmFrame(1, 0, bytes(20), first_header_pointer=20, ocf=0).pack()
    assert info.value.reason == "first_header_pointer"


# --- framing and reassembly -------------------------------------------------------------------


def make_packet(vcid: int, index: int, size: int) -> bytes:
    """A distinct space packet of ``size`` octets, its APID naming its virtual channel."""
    body = bytes((index * 7 + k) % 256 for k in range(size - 6))
    return SpacePacket(TYPE_TM, 0x100 + vcid, body, seq_count=index % 16384).pack()


def vc_of(packet: bytes) -> int:
    return (((packet[0] & 7) << 8) | packet[1]) - 0x100


def assert_octets_accounted(ground: TmReassembler) -> None:
    s = ground.stats
    assert s.bytes_received == (
        s.bytes_delivered + s.bytes_idle + s.bytes_discarded + ground.buffered
    )


def test_defaults_and_named_channels():
    assert DEFAULT_FRAME_LENGTH == 1115
    assert data_field_size() == 1115 - 6 - 4 - 2
    assert (VC_REALTIME_HK, VC_EVENTS, VC_PLAYBACK, VC_IDLE) == (0, 1, 2, 7)


@given(
    frame_configs,
    st.lists(
        st.one_of(
            st.tuples(st.just("packet"), st.integers(0, 2), st.integers(7, 300)),
            st.tuples(st.just("flush"), st.one_of(st.none(), st.integers(0, 2))),
            st.tuples(st.just("send"), st.integers(0, 3)),
        ),
        max_size=60,
    ),
)
def test_packets_come_out_whole_and_in_order_per_vc(config, ops):
    length, has_ocf = config
    clcw_values = iter(range(1, 10**6))
    flight = TmFramer(0x2A5, frame_length=length, has_ocf=has_ocf, clcw=lambda: next(clcw_values))
    ground = TmReassembler(0x2A5, frame_length=length, has_ocf=has_ocf)
    sent: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    got: dict[int, list[bytes]] = {0: [], 1: [], 2: []}

    def downlink(raw: bytes) -> None:
        frame = TmFrame.from_raw(raw, frame_length=length, has_ocf=has_ocf, scid=0x2A5)
        for packet in ground.accept(frame):
            assert vc_of(packet) == frame.vcid
            got[frame.vcid].append(packet)

    for index, op in enumerate(ops):
        if op[0] == "packet":
            packet = make_packet(op[1], index, op[2])
            assert flight.add_packet(op[1], packet)
            sent[op[1]].append(packet)
        elif op[0] == "flush":
            flight.flush(op[1])
        else:
            for _ in range(op[1]):
                downlink(flight.next_frame_or_idle())  # idle frames interleave when nothing's ready
    flight.flush()
    for raw in flight.frames():
        downlink(raw)
    assert got == sent
    assert all(flight.pending(vc) == 0 for vc in range(3))
    s = ground.stats
    assert not s.bad_frames and not s.gaps and not s.mc_gaps and not s.resyncs
    assert s.bytes_discarded == 0 and s.discarded_packets == 0 and ground.buffered == 0
    assert s.packets == sum(map(len, sent.values()))
    assert s.idle_packets == flight.stats.idle_packets
    assert s.frames == sum(flight.stats.frames.values())
    assert s.idle_frames == flight.stats.frames[VC_IDLE]
    assert_octets_accounted(ground)
    if has_ocf and s.frames:
        assert ground.last_ocf == s.frames  # one provider call per frame, the latest one last


@given(
    st.integers(32, 200),
    st.lists(st.one_of(st.integers(7, 300), st.none()), min_size=1, max_size=40),
    st.data(),
)
def test_lost_frames_are_gaps_and_the_packets_after_them_are_recovered(length, sizes, data):
    flight = TmFramer(9, frame_length=length, clcw=lambda: 0)
    ground = TmReassembler(9, frame_length=length)
    packets = []  # (offset in the VC's octet stream, packet); None in sizes is an idle flush
    for index, size in enumerate(sizes):
        if size is None:
            flight.flush(0)
        else:
            packets.append((flight.pending(0), make_packet(0, index, size)))
            flight.add_packet(0, packets[-1][1])
    flight.flush()
    frames = flight.frames()
    lost = data.draw(st.sets(st.integers(0, max(0, len(frames) - 1)), max_size=3))
    received = []
    for index, raw in enumerate(frames):
        if index not in lost:
            received += ground.feed(raw)
    # A packet is delivered iff none of its octets travelled in a lost frame; never corrupted.
    size = flight.data_size
    expected = [
        packet
        for offset, packet in packets
        if not lost & set(range(offset // size, (offset + len(packet) - 1) // size + 1))
    ]
    assert received == expected
    s = ground.stats
    gaps = lost_total = 0
    kept = [i for i in range(len(frames)) if i not in lost]
    for before, after in itertools.pairwise(kept):
        if after - before > 1:
            gaps += 1
            lost_total += after - before - 1
    assert s.gaps[0] == s.mc_gaps == gaps
    assert s.lost_frames[0] == s.mc_lost_frames == lost_total
    assert s.packets == len(expected)
    assert_octets_accounted(ground)


def test_a_packet_spanning_a_lost_frame_is_discarded_and_counted():
    flight = TmFramer(9, frame_length=64)  # 52-octet data fields
    ground = TmReassembler(9, frame_length=64)
    packets = [make_packet(0, i, 40) for i in range(6)]  # 240 octets: frames 0..4
    for packet in packets:
        flight.add_packet(0, packet)
    flight.flush()
    frames = flight.frames()
    assert len(frames) == 5
    received = []
    for index, raw in enumerate(frames):
        if index != 1:  # frame 1 holds octets 52..103: the ends of packets 1 and 2
            received += ground.feed(raw)
    # Packet 1 (40..79) and 2 (80..119) crossed frame 1; packet 3 starts at 120, in frame 2,
    # where the first header pointer (120 - 104 = 16) resynchronises the reassembly.
    assert TmFrame.from_raw(frames[2], frame_length=64).first_header_pointer == 16
    assert received == [packets[0], *packets[3:]]
    s = ground.stats
    assert s.gaps == {0: 1} and s.lost_frames == {0: 1}
    assert s.mc_gaps == 1 and s.mc_lost_frames == 1
    assert s.discarded_packets == 1  # packet 1's first 12 octets, held when the gap showed
    assert s.resyncs == {"gap": 1}
    assert s.bytes_discarded == 12 + 16  # that partial + packet 2's tail before the FHP
    assert_octets_accounted(ground)


def test_counters_wrap_at_256_without_false_gaps():
    flight = TmFramer(3, frame_length=40, has_ocf=False)
    ground = TmReassembler(3, frame_length=40, has_ocf=False)
    frames = []
    for index in range(700):
        flight.add_packet(index % 2, make_packet(index % 2, index, 30))
        frames += flight.frames()
        if index % 3 == 0:
            frames.append(flight.idle_frame())
    counts = [TmFrame.from_raw(raw, frame_length=40, has_ocf=False).mc_count for raw in frames]
    assert len(frames) > 600 and counts[:3] == [0, 1, 2] and 255 in counts
    assert counts[256] == 0
    delivered = [p for raw in frames for p in ground.feed(raw)]
    s = ground.stats
    assert not s.gaps and not s.mc_gaps and not s.bad_frames
    assert len(delivered) == s.packets
    # Losing the frame with count 255 is one frame lost, across the wrap.
    ground = TmReassembler(3, frame_length=40, has_ocf=False)
    for raw, count in zip(frames, counts, strict=True):
        if count != 255:
            ground.feed(raw)
    assert ground.stats.mc_lost_frames == ground.stats.mc_gaps == counts.count(255)


def test_flush_with_less_than_a_minimum_packet_of_room_spills_into_the_next_frame():
    flight = TmFramer(1, frame_length=64)  # 52-octet data fields
    ground = TmReassembler(1, frame_length=64)
    packet = make_packet(VC_EVENTS, 0, 49)  # leaves 3 octets: less than a 7-octet idle packet
    flight.add_packet(VC_EVENTS, packet)
    flight.flush(VC_EVENTS)
    frames = flight.frames()
    assert len(frames) == 2
    second = TmFrame.from_raw(frames[1], frame_length=64)
    assert second.first_header_pointer == FHP_NO_PACKET_START
    assert second.data[3:] == bytes([IDLE_FILL]) * 49  # after the idle packet header's end
    idle = bytes(TmFrame.from_raw(frames[0], frame_length=64).data[49:]) + second.data
    assert SpacePacket.from_raw(idle).apid == 0x7FF
    assert [p for raw in frames for p in ground.feed(raw)] == [packet]
    assert ground.stats.idle_packets == 1 and ground.stats.bytes_idle == 55
    flight.flush()  # nothing partial: no frame
    assert flight.frames() == []


def test_flush_with_room_fills_it_exactly():
    flight = TmFramer(1, frame_length=64)
    flight.add_packet(0, make_packet(0, 0, 20))
    flight.flush(0)
    assert flight.pending(0) == 52
    (raw,) = flight.frames()
    frame = TmFrame.from_raw(raw, frame_length=64)
    assert frame.first_header_pointer == 0
    assert SpacePacket.from_raw(frame.data[20:]).apid == 0x7FF


def test_idle_frames_carry_the_clcw_and_only_idle_data():
    values = iter([0x01000001, None, 0x01000002])
    flight = TmFramer(7, frame_length=64, clcw=lambda: next(values))
    ground = TmReassembler(7, frame_length=64)
    ocfs = []
    for _ in range(3):
        frame = TmFrame.from_raw(flight.next_frame_or_idle(), frame_length=64)
        assert (frame.vcid, frame.first_header_pointer) == (VC_IDLE, FHP_IDLE_ONLY)
        assert frame.is_idle and frame.data == bytes([IDLE_FILL]) * 52
        assert frame.vc_count == frame.mc_count
        ground.accept(frame)
        ocfs.append(frame.ocf)
    assert ocfs == [0x01000001, 0x01000001, 0x01000002]  # None repeats the last CLCW
    assert ground.stats.idle_frames == 3 and ground.stats.bytes_received == 0
    assert TmFramer(7, frame_length=64).idle_frame()[-6:-2] == bytes(4)


def test_virtual_channels_go_in_priority_order():
    flight = TmFramer(1, frame_length=64)
    for vcid in (VC_PLAYBACK, VC_EVENTS, VC_REALTIME_HK):
        flight.add_packet(vcid, make_packet(vcid, 0, 52))
    assert flight.ready == 3
    order = [TmFrame.from_raw(raw, frame_length=64).vcid for raw in flight.frames(max_frames=2)]
    assert order == [VC_REALTIME_HK, VC_EVENTS]
    events_first = TmFramer(1, frame_length=64, priority=(1, 0, 2))
    for vcid in (0, 1):
        events_first.add_packet(vcid, make_packet(vcid, 0, 52))
    assert TmFrame.from_raw(events_first.next_frame(), frame_length=64).vcid == VC_EVENTS


def test_add_packet_checks_its_input_and_bounds_the_queue():
    flight = TmFramer(1, frame_length=64, max_queued=100)
    for bad_vcid in (VC_IDLE, 8, -1):
        with pytest.raises(EncodeError) as info:
            flight.add_packet(bad_vcid, make_packet(0, 0, 20))
        assert info.value.reason == "bad_vcid"
    with pytest.raises(EncodeError) as info:
        flight.add_packet(0, make_packet(0, 0, 20)[:-1])
    assert info.value.reason == "bad_length"
    with pytest.raises(EncodeError) as info:
        flight.add_packet(0, bytes(6))
    assert info.value.reason == "bad_length"
    with pytest.raises(EncodeError) as info:
        flight.add_packet(0, make_packet(0, 0, 101))
    assert info.value.reason == "too_long"
    assert flight.add_packet(0, make_packet(0, 0, 60))
    assert not flight.add_packet(0, make_packet(0, 1, 60))
    assert flight.stats.dropped_packets == {0: 1} and flight.stats.dropped_octets == 60
    with pytest.raises(ValueError, match="spacecraft id"):
        TmFramer(1024)
    with pytest.raises(ValueError, match="priority"):
        TmFramer(1, priority=(0, 7))


@pytest.mark.parametrize("first", [30, 49], ids=["whole_header", "header_split_over_frames"])
def test_a_header_claiming_too_long_a_packet_resyncs_at_the_next_first_header_pointer(first):
    flight = TmFramer(1, frame_length=64)  # 52-octet data fields
    ground = TmReassembler(1, frame_length=64, max_packet_length=100)
    packets = [make_packet(0, 0, first), make_packet(0, 1, 150), make_packet(0, 2, 30)]
    for packet in packets:
        flight.add_packet(0, packet)
    flight.flush()
    delivered = [p for raw in flight.frames() for p in ground.feed(raw)]
    assert delivered == [packets[0], packets[2]]
    s = ground.stats
    assert s.resyncs == {"too_long": 1} and not s.gaps
    assert_octets_accounted(ground)


def test_a_first_header_pointer_disagreeing_with_the_packet_lengths_wins():
    size = data_field_size(64)
    one = make_packet(0, 0, size)  # fills frame 0 exactly, so a packet must start at 0 next
    two = make_packet(0, 1, 20)
    frames = [
        TmFrame(1, 0, one, vc_count=0, mc_count=0, first_header_pointer=0, ocf=0).pack(),
        TmFrame(
            1,
            0,
            bytes(4) + two + bytes(size - 24),
            vc_count=1,
            mc_count=1,
            first_header_pointer=4,
            ocf=0,
        ).pack(),
    ]
    ground = TmReassembler(1, frame_length=64)
    delivered = [p for raw in frames for p in ground.feed(raw)]
    assert delivered[:2] == [one, two]
    assert ground.stats.resyncs["fhp_mismatch"] == 1
    assert ground.stats.bytes_discarded == 4
    assert_octets_accounted(ground)


def test_reset_discards_partial_packets_and_forgets_the_counters():
    flight = TmFramer(1, frame_length=64)
    ground = TmReassembler(1, frame_length=64)
    flight.add_packet(0, make_packet(0, 0, 80))
    ground.feed(flight.next_frame())
    assert ground.buffered == 52
    ground.reset()
    assert ground.buffered == 0 and ground.stats.discarded_packets == 1
    flight.flush()
    flight.add_packet(0, make_packet(0, 1, 20))
    flight.flush()
    assert [p for raw in flight.frames() for p in ground.feed(raw)] == [make_packet(0, 1, 20)]
    assert not ground.stats.gaps and not ground.stats.mc_gaps
    assert_octets_accounted(ground)


def test_frames_of_another_spacecraft_or_not_carrying_packets_are_counted():
    ground = TmReassembler(1, frame_length=64)
    other = TmFramer(2, frame_length=64).idle_frame()
    vca = TmFrame(1, 3, bytes(52), sync_flag=1, segment_length_id=0, ocf=0).pack()
    assert ground.feed(other) == [] and ground.feed(vca) == []
    assert ground.stats.bad_frames == {"wrong_scid": 1, "sync_flag": 1}


def test_a_continuation_disagreeing_with_the_first_header_pointer_is_discarded():
    size = data_field_size(64)  # 52
    long = make_packet(0, 0, 70)  # 52 octets in frame 0, 18 in frame 1
    after = make_packet(0, 1, 20)
    frames = [
        TmFrame(1, 0, long[:size], first_header_pointer=0, ocf=0).pack(),
        # The first header pointer says a packet starts at 10, not at 18: trust the pointer.
        TmFrame(
            1,
            0,
            long[size:][:10] + after + bytes(22),
            vc_count=1,
            mc_count=1,
            first_header_pointer=10,
            ocf=0,
        ).pack(),
    ]
    ground = TmReassembler(1, frame_length=64)
    assert [p for raw in frames for p in ground.feed(raw)][:1] == [after]
    s = ground.stats
    assert s.resyncs == {"fhp_mismatch": 1} and s.discarded_packets == 1
    assert s.bytes_discarded == 52 + 10
    assert_octets_accounted(ground)


def test_statistics_export_and_the_ocf_callback():
    seen = []
    flight = TmFramer(1, frame_length=64, clcw=lambda: 0x01000009)
    ground = TmReassembler(1, frame_length=64, on_ocf=seen.append)
    flight.add_packet(0, make_packet(0, 0, 52))
    ground.feed(flight.next_frame())
    ground.feed(b"\x00" * 64)
    assert seen == [0x01000009]
    assert ground.stats.as_dict()["bad_frames"] == {"crc": 1}
    assert ground.stats.as_dict()["packets"] == 1
    assert flight.stats.as_dict()["frames"] == {0: 1}
    frame = TmFrame.from_raw(HAND_FRAME, frame_length=HAND_FRAME_LENGTH)
    assert "fhp=0x004" in repr(frame) and "ocf=0x01000005" in repr(frame)
    assert hash(frame) == hash(TmFrame.from_raw(HAND_FRAME, frame_length=HAND_FRAME_LENGTH))
    with pytest.raises(ValueError, match="max_packet_length"):
        TmReassembler(1, max_packet_length=6)
    with pytest.raises(EncodeError) as info:
        flight.add_packet(0, b"\x20" + make_packet(0, 0, 20)[1:])
    assert info.value.reason == "bad_version"
