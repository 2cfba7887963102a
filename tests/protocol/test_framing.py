"""Device-link framing: the hunting deframer against noise, damage and arbitrary chunking."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.errors import EncodeError
from hal.protocol import ASM, Deframer, PusTc, PusTm, frame
from hal.protocol.framing import DEFAULT_MAX_PACKET_LENGTH


def good_frames(count, size=32):
    packets = [
        PusTm(0x42, 3, 25, bytes([i % 256]) * size, seq_count=i).pack() for i in range(count)
    ]
    return packets, b"".join(frame(p) for p in packets)


def feed_all(deframer, chunks):
    out = []
    for chunk in chunks:
        out += deframer.feed(chunk)
    return out


def check_accounting(deframer):
    stats = deframer.stats
    assert stats.bytes_consumed + deframer.buffered == stats.bytes_fed
    assert deframer.buffered <= deframer.buffer_limit


def test_frames_are_the_marker_then_the_packet():
    packet = PusTc(1, 17, 1).pack()
    assert frame(packet) == bytes.fromhex("1ACFFC1D") + packet
    with pytest.raises(EncodeError):
        frame(b"\x00\x01")


def test_one_write_yields_its_packets_in_order():
    packets, stream = good_frames(50)
    deframer = Deframer()
    assert deframer.feed(stream) == packets
    assert deframer.stats.packets == 50
    assert deframer.stats.bytes_skipped == 0
    check_accounting(deframer)


@given(st.binary(max_size=4000), st.lists(st.integers(1, 300), max_size=60))
def test_random_streams_raise_nothing_and_every_byte_is_accounted_for(data, cuts):
    deframer = Deframer(max_length=512)
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(data[pos : pos + cut])
        pos += cut
    chunks.append(data[pos:])
    feed_all(deframer, chunks)
    check_accounting(deframer)


@given(st.binary(max_size=2000))
def test_noise_with_markers_sprinkled_in_never_escapes(data):
    stream = data.replace(b"\x00\x00", ASM)
    deframer = Deframer(max_length=256)
    for packet in deframer.feed(stream):
        PusTm.from_raw(packet) if not packet[0] & 0x10 else PusTc.from_raw(packet)
    check_accounting(deframer)


@given(st.data())
def test_any_single_bit_flip_is_rejected_and_the_next_good_frame_still_arrives(data):
    packets, _ = good_frames(3, size=data.draw(st.integers(0, 40)))
    framed = [frame(p) for p in packets]
    victim = bytearray(framed[1])
    bit = data.draw(st.integers(0, len(victim) * 8 - 1))
    victim[bit // 8] ^= 1 << (bit % 8)
    deframer = Deframer()
    out = deframer.feed(framed[0] + bytes(victim) + framed[2])
    if out != [packets[0], packets[2]]:
        # the flip lengthened the declared length: the good frame waits inside its span until
        # more traffic arrives or the link goes idle
        assert out == [packets[0]]
        assert deframer.flush() == [packets[2]]
    assert sum(deframer.stats.rejects.values()) + deframer.stats.bytes_skipped > 0
    check_accounting(deframer)


@given(st.lists(st.integers(1, 64), min_size=1, max_size=400))
def test_any_chunking_yields_exactly_the_packets_of_one_whole_write(cuts):
    packets, stream = good_frames(20, size=17)
    deframer = Deframer()
    chunks, pos = [], 0
    while pos < len(stream):
        cut = cuts[len(chunks) % len(cuts)]
        chunks.append(stream[pos : pos + cut])
        pos += cut
    assert feed_all(deframer, chunks) == packets
    check_accounting(deframer)


def test_a_frame_stuck_behind_an_inflated_length_arrives_with_more_traffic_or_on_flush():
    packets, _ = good_frames(3)
    damaged = bytearray(frame(packets[0]))
    damaged[8] ^= 0x01  # data length + 256
    tail = frame(packets[1]) + frame(packets[2])
    deframer = Deframer()
    assert deframer.feed(bytes(damaged) + tail) == []
    assert deframer.flush() == packets[1:]
    assert deframer.stats.rejects["incomplete"] == 1
    assert deframer.buffered == 0
    check_accounting(deframer)

    traffic = Deframer()
    assert traffic.feed(bytes(damaged) + tail) == []
    more = frame(packets[0]) * 6
    assert traffic.feed(more) == packets[1:] + [packets[0]] * 6
    check_accounting(traffic)


def test_flush_keeps_nothing_and_loses_no_complete_frame():
    packets, stream = good_frames(2)
    deframer = Deframer()
    assert deframer.feed(stream + ASM[:2]) == packets
    assert deframer.flush() == []
    assert deframer.buffered == 0
    check_accounting(deframer)


def test_one_byte_at_a_time():
    packets, stream = good_frames(10)
    deframer = Deframer()
    assert feed_all(deframer, [stream[i : i + 1] for i in range(len(stream))]) == packets


@pytest.mark.parametrize("max_length", [DEFAULT_MAX_PACKET_LENGTH, 65542])
def test_forged_0xffff_length_delays_good_frames_by_at_most_one_maximum_frame(max_length):
    packets, stream = good_frames(5)
    forged = ASM + bytes.fromhex("0842C000FFFF") + bytes(3)
    deframer = Deframer(max_length=max_length)
    wire = forged + stream
    arrivals = []
    ends, pos = [], len(forged)
    for p in packets:
        pos += len(frame(p))
        ends.append(pos)
    # one byte at a time, padded with idle noise so a waiting deframer can finish its wait
    wire += bytes(deframer.max_frame_size)
    for offset in range(len(wire)):
        for packet in deframer.feed(wire[offset : offset + 1]):
            arrivals.append((packet, offset + 1))
    assert [p for p, _ in arrivals] == packets
    for (_, arrived), end in zip(arrivals, ends, strict=True):
        assert arrived - end <= deframer.max_frame_size
    if max_length < 0xFFFF:
        assert deframer.stats.rejects["too_long"] == 1
        assert [a for _, a in arrivals] == ends  # rejected at once: no delay at all
    check_accounting(deframer)


def test_per_apid_maximum_and_unknown_apids():
    small = PusTm(0x10, 3, 25, bytes(8)).pack()
    big = PusTm(0x10, 3, 25, bytes(100)).pack()
    other = PusTm(0x11, 3, 25, bytes(8)).pack()
    deframer = Deframer(max_length=None, apid_max={0x10: 40})
    out = deframer.feed(frame(small) + frame(big) + frame(other) + frame(small))
    assert out == [small, small]
    assert deframer.stats.rejects["too_long"] == 1
    assert deframer.stats.rejects["unknown_apid"] == 1


def test_rejections_are_reported_by_name():
    seen = []
    deframer = Deframer(on_reject=seen.append)
    packet = bytearray(PusTc(1, 17, 1).pack())
    packet[-1] ^= 0xFF
    deframer.feed(frame(bytes(packet)))
    deframer.feed(ASM + bytes.fromhex("E8420000000A"))  # version 7
    deframer.feed(ASM + bytes.fromhex("184200000005"))  # 12 octets < 13
    assert seen == ["crc", "bad_version", "too_short"]


def test_buffer_stays_within_two_maximum_frames_under_a_flood():
    deframer = Deframer(max_length=256)
    for _ in range(50):
        deframer.feed(os.urandom(5000))
        assert deframer.buffered <= deframer.buffer_limit == 2 * (4 + 256)
    _, stream = good_frames(3)
    assert len(deframer.feed(stream)) == 3
    check_accounting(deframer)


@settings(max_examples=50)
@given(st.binary(min_size=1, max_size=20000))
def test_huge_chunks_are_processed_in_bounded_slices(data):
    deframer = Deframer(max_length=64)
    deframer.feed(data)
    check_accounting(deframer)


def test_configuration_errors():
    with pytest.raises(ValueError, match="needs max_length"):
        Deframer(max_length=None)
    with pytest.raises(ValueError, match="outside"):
        Deframer(max_length=70000)


# ---------------------------------------------------------------- space-link frame rules


def tc_frames(count):
    from hal.protocol.tc_frame import TcFrame

    return [TcFrame(42, 1, bytes([i]) * (1 + i * 7 % 200), seq=i).pack() for i in range(count)]


@given(st.lists(st.integers(1, 97), min_size=1, max_size=50), st.binary(max_size=300))
def test_tc_frames_on_a_stream_with_noise_and_any_chunking(cuts, noise):
    from hal.protocol.framing import TcFrameRule

    frames = tc_frames(12)
    stream = noise + b"".join(ASM + f for f in frames)
    deframer = Deframer(rule=TcFrameRule())
    chunks, pos = [], 0
    while pos < len(stream):
        cut = cuts[len(chunks) % len(cuts)]
        chunks.append(stream[pos : pos + cut])
        pos += cut
    out = feed_all(deframer, chunks) + deframer.flush()
    assert out[-len(frames) :] == frames  # noise may hold a lucky frame, never eat a real one
    check_accounting(deframer)


def test_tc_frame_rule_rejects_by_name():
    from hal.protocol.framing import TcFrameRule

    seen = []
    deframer = Deframer(rule=TcFrameRule(max_length=64), on_reject=seen.append)
    deframer.feed(ASM + bytes.fromhex("C02A041000"))  # version 11
    deframer.feed(ASM + bytes.fromhex("042A041000"))  # spare bits set
    deframer.feed(ASM + bytes.fromhex("002A07FF00"))  # 1024 octets > 64
    deframer.feed(ASM + bytes.fromhex("002A040200"))  # 3 octets < 8
    assert seen == ["bad_version", "bad_spare", "too_long", "too_short"]
    with pytest.raises(ValueError):
        TcFrameRule(max_length=2000)


@given(st.data())
def test_fixed_length_tm_frames_survive_a_bit_flip_in_a_neighbour(data):
    from hal.protocol.framing import FixedLengthRule
    from hal.protocol.tm_frame import TmFramer

    framer = TmFramer(42, frame_length=64)
    for i in range(6):
        framer.add_packet(0, PusTm(0x42, 3, 25, bytes([i]) * 20).pack())
    framer.flush(0)
    frames = framer.frames()
    victim = bytearray(frames[1])
    bit = data.draw(st.integers(0, len(victim) * 8 - 1))
    victim[bit // 8] ^= 1 << (bit % 8)
    deframer = Deframer(rule=FixedLengthRule(64))
    wire = b"".join(ASM + f for f in [frames[0], bytes(victim), *frames[2:]])
    out = deframer.feed(wire) + deframer.flush()
    assert out == [frames[0], *frames[2:]]
    check_accounting(deframer)
