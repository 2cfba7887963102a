"""Timing-link ICD: packets laid out by hand, round trips, and hostile bytes."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import EncodeError, HeaderError, LengthError, ProtocolError, TruncatedError
from hal.protocol import PusTc, PusTm
from hal.protocol import timing as icd
from hal.protocol.framing import Deframer, frame
from hal.protocol.timing import CycleDone, Hello, Holding, Stop, Tick, decode, decode_raw

from .helpers import assert_roundtrip, with_fecf

# TC[130,1] tick 7 at t = 0.1 s, 283 octets queued for the participant, octet by octet:
HAND_TICK = with_fecf(
    bytes.fromhex(
        "1FE0"  # version 000, type 1 (TC), sec. header 1, APID 0x7E0
        "C000"  # unsegmented, sequence count 0
        "0016"  # data length: 5 (sec. header) + 16 (data) + 2 (CRC) - 1 = 22
        "20"  # PUS version 0010, ack flags 0000 (the cycle-done report is the answer)
        "82"  # service 130 (lockstep)
        "01"  # subtype 1 (tick)
        "0000"  # source id 0
        "00000007"  # tick number 7
        "00000000000186A0"  # time 100 000 us
        "0000011B"  # 283 octets queued since the previous tick (read before the cycle)
    )
)

# TM[130,4] hello from "lander", stamped 1.5 s:
HAND_HELLO = with_fecf(
    bytes.fromhex(
        "0FE0"  # version 000, type 0 (TM), sec. header 1, APID 0x7E0
        "C003"  # unsegmented, sequence count 3
        "001F"  # data length: 13 (sec. header) + 17 (data) + 2 (CRC) - 1 = 31
        "20"  # PUS version 0010, time reference status 0
        "82"  # service 130
        "04"  # subtype 4 (hello)
        "0003"  # message type counter 3
        "0000"  # destination id 0
        "00000001"  # CUC coarse 1 s
        "8000"  # CUC fine 0.5 s
        "03" + b"lander".hex() + "00" * 10  # timing ICD version 3  # name, NUL-padded to 16 octets
    )
)

# TM[130,2] cycle done of tick 7, next due at 0.3 s, 1115 octets written, stamped 0.1 s:
HAND_DONE = with_fecf(
    bytes.fromhex(
        "0FE0"  # version 000, type 0 (TM), sec. header 1, APID 0x7E0
        "C004"  # unsegmented, sequence count 4
        "001E"  # data length: 13 (sec. header) + 16 (data) + 2 (CRC) - 1 = 30
        "20"  # PUS version 0010, time reference status 0
        "82"  # service 130
        "02"  # subtype 2 (cycle done)
        "0004"  # message type counter 4
        "0000"  # destination id 0
        "00000000"  # CUC coarse 0 s
        "1999"  # CUC fine 0.1 s (6553.6 -> 6553)
        "00000007"  # tick 7
        "00000000000493E0"  # next due 300 000 us
        "0000045B"  # 1115 octets written during the cycle
    )
)


def test_tick_laid_out_by_hand():
    assert Tick(7, 100_000, 283).to_packet().pack() == HAND_TICK
    assert decode_raw(HAND_TICK) == Tick(7, 100_000, 283)
    assert Tick(7, 100_000).time == 0.1


def test_hello_laid_out_by_hand():
    packet = Hello("lander").to_packet(seq_count=3, msg_counter=3, now_us=1_500_000)
    assert packet.pack() == HAND_HELLO
    assert decode_raw(HAND_HELLO) == Hello("lander")
    assert len(HAND_HELLO) == icd.MAX_PACKET_LENGTH == 38  # the longest on the link


def test_cycle_done_laid_out_by_hand():
    report = CycleDone(7, 300_000, written=1115)
    assert report.to_packet(seq_count=4, msg_counter=4, now_us=100_000).pack() == HAND_DONE
    assert decode_raw(HAND_DONE) == report
    assert len(HAND_DONE) == 37


def test_declarations_round_trip_with_construct():
    assert_roundtrip(
        icd.TickData,
        {"tick": 7, "time_us": 100_000, "sent": 283},
        bytes.fromhex("0000000700000000000186A00000011B"),
    )
    assert_roundtrip(
        icd.CycleDoneData,
        {"tick": 1, "next_due_us": icd.NEXT_TICK, "written": 1115},
        bytes.fromhex("00000001FFFFFFFFFFFFFFFF0000045B"),
    )
    assert_roundtrip(icd.StopData, {"reason": 1}, b"\x01")
    assert_roundtrip(icd.HelloData, {"version": 3, "name": b"ground".ljust(16, b"\0")},
                     b"\x03ground" + bytes(10))  # fmt: skip


@given(
    number=st.integers(0, icd.MAX_TICK),
    time_us=st.integers(0, icd.MAX_TIME_US),
    due=st.integers(0, (1 << 64) - 1),
    written=st.integers(0, icd.MAX_WRITTEN),
    reason=st.integers(0, 255),
    name=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16),
)
def test_every_message_round_trips_through_bytes(number, time_us, due, written, reason, name):
    messages = (
        Tick(number, time_us, written),
        Stop(reason),
        CycleDone(number, due, written),
        Hello(name),
        Holding(number),
    )
    for message in messages:
        raw = message.to_packet(seq_count=5).pack()
        assert decode_raw(raw) == message
        assert Deframer(max_length=None, apid_max=icd.APID_MAX).feed(frame(raw)) == [raw]


def test_next_due_in_seconds_with_its_two_reserved_values():
    assert CycleDone.due(1, None).next_due_us == icd.NEXT_TICK
    assert CycleDone.due(1, math.inf).next_due_us == icd.NOTHING_DUE
    assert CycleDone.due(1, 2.5).next_due_us == 2_500_000
    assert CycleDone(1, icd.NEXT_TICK).next_due is None
    assert CycleDone(1, icd.NOTHING_DUE).next_due == math.inf
    assert CycleDone(1, 300_000).next_due == 0.3
    assert icd.seconds_to_us(0.3) == 300_000  # rounded, not truncated (0.3e6 is 300000.00..6)
    for bad in (-1.0, math.nan, -math.inf, 1e20):
        with pytest.raises(EncodeError):
            CycleDone.due(1, bad)


@pytest.mark.parametrize("name", ["", "a" * 17, "two words", "näme", "nul\0", "tab\t"])
def test_a_name_that_is_not_1_to_16_visible_ascii_is_refused(name):
    with pytest.raises(EncodeError) as info:
        Hello(name).to_packet()
    assert info.value.reason == "bad_name"


def test_values_out_of_range_are_encode_errors():
    with pytest.raises(EncodeError, match="tick"):
        Tick(1 << 32, 0).to_packet()
    with pytest.raises(EncodeError):
        Tick(1, icd.NEXT_TICK).to_packet()
    with pytest.raises(EncodeError):
        Stop(256).to_packet()
    for sent in (-1, 1 << 32):
        with pytest.raises(EncodeError, match="sent"):
            Tick(1, 0, sent).to_packet()
    for written in (-1, 1 << 32):
        with pytest.raises(EncodeError, match="written"):
            CycleDone(1, icd.NEXT_TICK, written).to_packet()


def _tm(subtype, data, apid=icd.APID, service=icd.SERVICE):
    return PusTm(apid, service, subtype, data)


def _tc(subtype, data, apid=icd.APID, service=icd.SERVICE):
    return PusTc(apid, service, subtype, data)


@pytest.mark.parametrize(
    "packet,error,reason",
    [
        (_tc(1, bytes(12), apid=0x7F0), HeaderError, "wrong_apid"),
        (_tc(1, bytes(12), service=17), HeaderError, "unknown_service"),
        (_tc(2, bytes(12)), HeaderError, "unknown_subtype"),  # a cycle done sent as a TC
        (_tm(1, bytes(12)), HeaderError, "unknown_subtype"),  # a tick sent as a TM
        (_tc(9, b""), HeaderError, "unknown_subtype"),
        (_tc(1, bytes(11)), LengthError, "bad_length"),
        (_tc(1, bytes(13)), LengthError, "bad_length"),
        (_tc(1, bytes(12)), LengthError, "bad_length"),  # a version-2 tick: no octets sent
        (_tc(3, b""), LengthError, "bad_length"),
        (_tm(2, bytes(4)), LengthError, "bad_length"),
        (_tc(1, bytes(4) + b"\xff" * 8 + bytes(4)), HeaderError, "bad_time"),
        (_tm(4, b"\x01lander" + bytes(10)), HeaderError, "bad_version"),  # no written octets
        (_tm(4, b"\x02lander" + bytes(10)), HeaderError, "bad_version"),  # no octets sent
        (_tm(2, bytes(12)), LengthError, "bad_length"),  # a version-1 cycle done
        (_tm(5, bytes(5)), LengthError, "bad_length"),  # holding: 4 octets
        (_tm(4, b"\x03" + bytes(16)), HeaderError, "bad_name"),
        (_tm(4, b"\x03la\0der" + bytes(10)), HeaderError, "bad_name"),
        (_tm(4, b"\x03l\xe4nder" + bytes(10)), HeaderError, "bad_name"),
        (_tm(4, b"\x03" + b"x" * 15 + b" "), HeaderError, "bad_name"),
    ],
)
def test_hostile_messages_are_named_protocol_errors(packet, error, reason):
    with pytest.raises(error) as info:
        decode(packet)
    assert info.value.reason == reason
    with pytest.raises(error):
        decode_raw(packet.pack())


def test_short_and_damaged_bytes_are_protocol_errors():
    with pytest.raises(TruncatedError):
        decode_raw(HAND_TICK[:5])
    damaged = bytearray(HAND_TICK)
    damaged[-5] ^= 0x01
    with pytest.raises(ProtocolError):
        decode_raw(bytes(damaged))


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_only_protocol_errors(raw):
    try:
        decode_raw(raw)
    except ProtocolError:
        pass


@given(st.data())
def test_any_valid_packet_with_any_data_decodes_or_raises_only_protocol_errors(data):
    ptype = data.draw(st.sampled_from([PusTc, PusTm]))
    packet = ptype(
        data.draw(st.sampled_from([icd.APID, 0x7E1])),
        data.draw(st.sampled_from([icd.SERVICE, 17])),
        data.draw(st.integers(0, 6)),
        data.draw(st.binary(max_size=24)),
    )
    try:
        message = decode_raw(packet.pack())
    except ProtocolError:
        return
    assert decode_raw(message.to_packet().pack()) == message
