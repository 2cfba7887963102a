"""PUS-C TC and TM packets: laid out by hand from the standard, round trips, hostile bytes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import (
    CrcError,
    EncodeError,
    HeaderError,
    LengthError,
    ProtocolError,
    TruncatedError,
)
from hal.protocol import CucTime, PusPacket, PusTc, PusTm, SpacePacket
from hal.protocol.pus import (
    ACK_ACCEPTANCE,
    ACK_COMPLETION,
    DeviceFailure,
    FailureCode,
    PusTcPacket,
    PusTmPacket,
    RequestId,
)

from .helpers import assert_roundtrip, with_fecf

# A PUS-C TM[3,25] housekeeping report laid out octet by octet (ECSS-E-ST-70-41C 7.4.3.1):
HAND_TM = with_fecf(
    bytes.fromhex(
        "0842"  # version 000, type 0 (TM), sec. header 1, APID 000 0100 0010 (0x042)
        "C001"  # sequence flags 11 (unsegmented), sequence count 1
        "0012"  # data length: 13 (sec. header) + 4 (data) + 2 (CRC) - 1 = 18
        "20"  # PUS version 0010, time reference status 0000
        "03"  # service 3 (housekeeping)
        "19"  # subtype 25 (housekeeping parameter report)
        "0007"  # message type counter 7
        "0001"  # destination id 1
        "00010203"  # CUC coarse time
        "0405"  # CUC fine time
        "DEADBEEF"  # source data
    )
)

# A PUS-C TC[17,1] are-you-alive with 16 octets of application data (7.4.4.1):
HAND_TC = with_fecf(
    bytes.fromhex(
        "1842"  # version 000, type 1 (TC), sec. header 1, APID 0x042
        "C005"  # unsegmented, sequence count 5
        "0016"  # data length: 5 (sec. header) + 16 (data) + 2 (CRC) - 1 = 22
        "29"  # PUS version 0010, ack flags 1001 (completion and acceptance)
        "11"  # service 17 (test)
        "01"  # subtype 1 (are-you-alive)
        "0010"  # source id 16
        "000102030405060708090A0B0C0D0E0F"  # application data
    )
)


def test_tm_packet_laid_out_by_hand_byte_for_byte():
    packet = PusPacket.tm(
        0x042,
        3,
        25,
        bytes.fromhex("DEADBEEF"),
        seq_count=1,
        msg_counter=7,
        dest_id=1,
        time=CucTime(0x00010203, 0x0405),
    )
    assert packet.pack() == HAND_TM
    assert len(HAND_TM) == 6 + 13 + 4 + 2
    assert PusPacket.from_raw(HAND_TM) == packet


def test_tc_packet_laid_out_by_hand_byte_for_byte():
    packet = PusPacket.tc(
        0x042,
        17,
        1,
        bytes(range(16)),
        seq_count=5,
        ack_flags=ACK_COMPLETION | ACK_ACCEPTANCE,
        source_id=16,
    )
    assert packet.pack() == HAND_TC
    assert len(HAND_TC) == 29
    assert PusPacket.from_raw(HAND_TC) == packet


def test_reference_declarations_round_trip_the_hand_laid_packets():
    tm = PusTmPacket.parse(HAND_TM)
    assert tm.secondary.time.coarse == 0x00010203
    assert_roundtrip(PusTmPacket, tm, HAND_TM)
    tc = PusTcPacket.parse(HAND_TC)
    assert tc.secondary.pus.ack_flags == 0b1001
    assert_roundtrip(PusTcPacket, tc, HAND_TC)


def test_same_bytes_as_the_spacepackets_library():
    spacepackets = pytest.importorskip("spacepackets.ecss")
    ref_tm = spacepackets.PusTm(
        service=3,
        message_subtype=25,
        apid=0x042,
        seq_count=1,
        message_counter=7,
        destination_id=1,
        timestamp=bytes.fromhex("000102030405"),
        source_data=bytes.fromhex("DEADBEEF"),
    )
    assert bytes(ref_tm.pack()) == HAND_TM
    ref_tc = spacepackets.PusTc(
        service=17,
        message_subtype=1,
        apid=0x042,
        seq_count=5,
        ack_flags=0b1001,
        source_id=16,
        app_data=bytes(range(16)),
    )
    assert bytes(ref_tc.pack()) == HAND_TC


tc_packets = st.builds(
    PusTc,
    apid=st.integers(0, 0x7FF),
    service=st.integers(0, 255),
    subtype=st.integers(0, 255),
    app_data=st.binary(max_size=300),
    seq_count=st.integers(0, 0x3FFF),
    ack_flags=st.integers(0, 15),
    source_id=st.integers(0, 0xFFFF),
    seq_flags=st.integers(0, 3),
)
tm_packets = st.builds(
    PusTm,
    apid=st.integers(0, 0x7FF),
    service=st.integers(0, 255),
    subtype=st.integers(0, 255),
    source_data=st.binary(max_size=300),
    seq_count=st.integers(0, 0x3FFF),
    msg_counter=st.integers(0, 0xFFFF),
    dest_id=st.integers(0, 0xFFFF),
    time=st.builds(CucTime, st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF)),
    time_ref_status=st.integers(0, 15),
    seq_flags=st.integers(0, 3),
)


@given(st.one_of(tc_packets, tm_packets))
def test_random_packets_round_trip(packet):
    raw = packet.pack()
    decoded = PusPacket.from_raw(raw)
    assert decoded == packet
    assert decoded.pack() == raw
    assert type(packet).from_raw(raw) == packet
    generic = SpacePacket.from_raw(raw)
    assert generic.apid == packet.apid and generic.packet_type == packet.packet_type
    assert generic.pack() == raw


@given(tm_packets)
def test_fast_codec_agrees_with_the_construct_declaration(packet):
    raw = packet.pack()
    parsed = PusTmPacket.parse(raw)
    assert parsed.primary.apid == packet.apid
    assert parsed.secondary.msg_counter == packet.msg_counter
    assert parsed.source_data == packet.source_data
    assert PusTmPacket.build(parsed) == raw


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(data):
    for decoder in (PusPacket.from_raw, PusTc.from_raw, PusTm.from_raw, SpacePacket.from_raw):
        try:
            decoder(data)
        except ProtocolError:
            pass


@given(st.one_of(tc_packets, tm_packets), st.data())
def test_any_single_bit_flip_is_rejected(packet, data):
    raw = bytearray(packet.pack())
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProtocolError):
        type(packet).from_raw(bytes(raw))


def test_decoding_errors_name_the_problem():
    bad_crc = HAND_TM[:-1] + bytes([HAND_TM[-1] ^ 1])
    with pytest.raises(CrcError, match="packet error control") as info:
        PusTm.from_raw(bad_crc)
    assert info.value.reason == "crc"
    with pytest.raises(HeaderError, match="telecommand") as info:
        PusTm.from_raw(HAND_TC)
    assert info.value.reason == "wrong_type"
    with pytest.raises(LengthError, match="data length field says 25 octets, got 24"):
        PusTm.from_raw(HAND_TM[:-1])
    pus_a = bytearray(HAND_TC)
    pus_a[6] = 0x19  # PUS version 1 (PUS-A)
    with pytest.raises(HeaderError, match=r"pus\.version is 1, expected 2"):
        PusTc.from_raw(bytes(pus_a))


def test_encoding_errors_name_the_field_and_range():
    with pytest.raises(EncodeError, match=r"primary\.apid = 4096 is outside 0\.\.2047"):
        PusTc(4096, 17, 1).pack()
    with pytest.raises(EncodeError, match="service"):
        PusTc(1, 256, 1).pack()
    with pytest.raises(EncodeError, match="app_data is 65530 octets"):
        PusTc(1, 17, 1, bytes(65530)).pack()
    with pytest.raises(EncodeError, match=r"outside 0\.\.2"):
        CucTime.from_seconds(-1.0)


def test_largest_packets_fit_the_length_field():
    tc = PusTc(1, 17, 1, bytes(65529))
    assert len(tc.pack()) == 65542
    assert PusTc.from_raw(tc.pack()) == tc
    tm = PusTm(1, 17, 2, bytes(65521))
    assert len(tm.pack()) == 65542


def test_cuc_time_conversions():
    t = CucTime.from_seconds(100.5)
    assert t == CucTime(100, 0x8000)
    assert t.seconds == 100.5
    assert CucTime.from_raw(t.pack()) == t


# --------------------------------------------------------------------------- request ids


@given(
    apid=st.integers(0, 2047), flags=st.integers(0, 3), count=st.integers(0, 16383),
    code=st.integers(0, 255), detail=st.integers(0, 65535),
)  # fmt: skip
def test_a_request_id_and_a_device_failure_report_round_trip(apid, flags, count, code, detail):
    tc = PusTc(apid, 151, 1, b"\x00\x14", seq_count=count, seq_flags=flags)
    rid = RequestId.of(tc)
    raw = rid.pack()
    assert raw == tc.pack()[:4] and RequestId.unpack(raw) == rid  # packet id + sequence control
    report = DeviceFailure(rid, code, detail)
    assert DeviceFailure.unpack(report.pack()) == report
    assert report.pack() == raw + bytes([code]) + detail.to_bytes(2, "big")


def test_a_request_id_that_is_not_a_telecommands_is_refused():
    with pytest.raises(HeaderError, match=r"request\.type"):
        RequestId.unpack(bytes.fromhex("0955c005"))  # type bit 0: telemetry
    with pytest.raises(TruncatedError):
        RequestId.unpack(b"\x19\x55")
    with pytest.raises(LengthError):
        DeviceFailure.unpack(bytes(6))


def test_flight_and_board_failure_codes_are_one_table():
    from fsw.dictionary.verification import FAILURE_CODES
    from hal.protocol.devices.icd import FAILURES

    shared = set(FAILURES.values()) & set(FAILURE_CODES.values())
    assert shared == {"unknown_command", "bad_length", "out_of_range", "busy", "precondition"}
    for code, name in FAILURES.items():
        assert FailureCode(code).label == name
        assert FAILURE_CODES.get(code, name) == name
