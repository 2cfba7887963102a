"""TC transfer frames, the CLCW and authenticated uplink frames (SDLS-style)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import CrcError, HeaderError, LengthError, ProtocolError, SecurityError
from hal.protocol.clcw import CLCW_LAYOUT, Clcw
from hal.protocol.sdls import (
    SECURITY_LAYOUT,
    KeyFileError,
    SecurityAssociation,
    TcVerifier,
    authenticate,
    parse_key_file,
)
from hal.protocol.tc_frame import SEGMENT_LAYOUT, TC_LAYOUT, UNLOCK, TcFrame, set_vr_command

from .helpers import assert_layout_matches, with_fecf

# A type-AD TC frame laid out octet by octet (CCSDS 232.0-B-4 section 4.1):
HAND_TC_FRAME = with_fecf(
    bytes.fromhex(
        "002A"  # version 00, bypass 0, control 0, spare 00, spacecraft id 00 0010 1010 (42)
        "0410"  # virtual channel 000001, frame length 00 0001 0000 = 16 -> 17 octets
        "07"  # frame sequence number N(S) = 7
        "C3"  # segment header: sequence flags 11 (unsegmented), MAP id 000011 (3)
        "DEADBEEF0102030405"  # 9 octets of frame data
    )
)


def test_tc_frame_with_segment_header_and_fecf_laid_out_by_hand():
    frame = TcFrame(42, 1, bytes.fromhex("DEADBEEF0102030405"), seq=7, map_id=3)
    assert len(HAND_TC_FRAME) == 5 + 1 + 9 + 2
    assert frame.pack() == HAND_TC_FRAME
    assert TcFrame.from_raw(HAND_TC_FRAME) == frame
    assert frame.kind == "AD"


def test_control_commands_unlock_and_set_vr_laid_out_by_hand():
    unlock = TcFrame(42, 1, UNLOCK, bypass=1, control=1)
    # bypass 1, control 1: 0011 00 + scid; no segment header; 1 octet of data; length 8 -> 7
    assert unlock.pack() == with_fecf(bytes.fromhex("302A04070000"))
    set_vr = TcFrame(42, 1, set_vr_command(200), bypass=1, control=1)
    assert set_vr.pack() == with_fecf(bytes.fromhex("302A0409008200C8"))
    assert TcFrame.from_raw(set_vr.pack()).kind == "BC"


def test_clcw_laid_out_by_hand():
    clcw = Clcw(vcid=1, report_value=7, lockout=0, wait=1, retransmit=1, farm_b_counter=2)
    # 0 00 000 01 | 000001 00 | 0 0 0 1 1 10 0 | 00000111
    assert clcw.pack() == bytes([0b00000001, 0b00000100, 0b00011100, 0x07])
    assert Clcw.from_raw(clcw.pack()) == clcw
    assert Clcw.from_int(clcw.to_int()) == clcw
    with pytest.raises(HeaderError):
        Clcw.from_raw(b"\x80\x00\x00\x00")  # control word type 1 is not a CLCW


WIDTHS = {
    "primary.bypass": 1, "primary.control": 1, "primary.scid": 10, "primary.vcid": 6,
    "primary.frame_length": 10, "primary.seq": 8, "segment.seq_flags": 2, "segment.map_id": 6,
    "clcw.status": 3, "clcw.cop": 2, "clcw.vcid": 6, "clcw.no_rf": 1, "clcw.no_bit_lock": 1,
    "clcw.lockout": 1, "clcw.wait": 1, "clcw.retransmit": 1, "clcw.farm_b_counter": 2,
    "clcw.report_value": 8, "spi": 16, "sn": 32,
}  # fmt: skip
CONSTS = {"primary.version": 0, "primary.spare": 0, "clcw.type": 0, "clcw.version": 0,
          "clcw.spare0": 0, "clcw.spare1": 0}  # fmt: skip


@pytest.mark.parametrize("layout", [TC_LAYOUT, SEGMENT_LAYOUT, CLCW_LAYOUT, SECURITY_LAYOUT])
@given(data=st.data())
def test_generated_codecs_equal_construct(layout, data):
    values = data.draw(
        st.fixed_dictionaries({n: st.integers(0, (1 << WIDTHS[n]) - 1) for n in layout.pack_fields})
    )
    values.update({k: v for k, v in CONSTS.items() if k in layout.fields})
    assert_layout_matches(layout, values)


frames = st.builds(
    TcFrame,
    scid=st.integers(0, 1023),
    vcid=st.integers(0, 63),
    data=st.binary(min_size=1, max_size=200),
    seq=st.integers(0, 255),
    bypass=st.integers(0, 1),
    map_id=st.integers(0, 63),
    seg_flags=st.integers(0, 3),
)


@given(frames)
def test_random_frames_round_trip(frame):
    assert TcFrame.from_raw(frame.pack()) == frame


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_errors(data):
    try:
        TcFrame.from_raw(data)
    except ProtocolError:
        pass
    verifier = TcVerifier({1: bytes(32)})
    try:
        verifier.verify(data)
    except ProtocolError:
        pass


def test_decoding_errors_name_the_problem():
    with pytest.raises(LengthError, match="length field says 17 octets, got 16"):
        TcFrame.from_raw(HAND_TC_FRAME[:-1])
    with pytest.raises(CrcError, match="FECF"):
        TcFrame.from_raw(HAND_TC_FRAME[:-1] + b"\x00")


# ---------------------------------------------------------------- authentication

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SA = SecurityAssociation(5, KEY)


def signed(sn, data=b"\x18\x42payload", seq=0, key=KEY, spi=5):
    return authenticate(TcFrame(42, 1, data, seq=seq, map_id=0), SecurityAssociation(spi, key), sn)


def test_an_authentic_frame_verifies_and_yields_its_payload():
    verifier = TcVerifier({5: KEY}, scid=42)
    result = verifier.verify(signed(1, seq=9))
    assert result.frame.data == b"\x18\x42payload"
    assert (result.spi, result.sn, result.frame.seq) == (5, 1, 9)
    assert verifier.last_sn == {5: 1}


def test_replay_of_any_captured_authentic_frame_is_rejected():
    verifier = TcVerifier({5: KEY})
    captured = [signed(sn) for sn in range(1, 11)]
    for raw in captured:
        verifier.verify(raw)
    for raw in captured:
        with pytest.raises(SecurityError, match="sequence number") as info:
            verifier.verify(raw)
        assert info.value.reason == "replay"
    assert verifier.rejects["replay"] == 10


@given(st.data())
def test_one_flipped_bit_anywhere_is_rejected(data):
    raw = bytearray(signed(3, data=data.draw(st.binary(min_size=1, max_size=64))))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    verifier = TcVerifier({5: KEY})
    with pytest.raises(ProtocolError):
        verifier.verify(bytes(raw))
    assert verifier.last_sn == {}


def test_a_frame_signed_with_another_key_is_rejected():
    verifier = TcVerifier({5: KEY, 6: OTHER_KEY})
    with pytest.raises(SecurityError, match="MAC does not verify") as info:
        verifier.verify(signed(1, key=OTHER_KEY, spi=5))
    assert info.value.reason == "bad_mac"
    with pytest.raises(SecurityError, match="unknown key id 9") as info:
        verifier.verify(signed(1, spi=9))
    assert info.value.reason == "unknown_spi"
    assert verifier.last_sn == {}


def test_a_restarted_receiver_with_its_state_reloaded_still_rejects_old_frames():
    store: dict[int, int] = {}
    before = TcVerifier({5: KEY}, persist=store.__setitem__)
    old = [signed(sn) for sn in (1, 2, 3)]
    for raw in old:
        before.verify(raw)
    after = TcVerifier({5: KEY}, last_sn=dict(store))  # the node restarted
    for raw in old:
        with pytest.raises(SecurityError):
            after.verify(raw)
    assert after.verify(signed(4)).sn == 4


def test_the_sequence_number_advances_only_once_persisted():
    def failing_store(spi, sn):
        raise OSError("disk full")

    verifier = TcVerifier({5: KEY}, persist=failing_store)
    with pytest.raises(SecurityError, match="disk full") as info:
        verifier.verify(signed(1))
    assert info.value.reason == "persist_failed"
    assert verifier.last_sn == {}


def test_a_key_never_used_starts_at_zero_so_its_window_holds_from_the_first_frame():
    verifier = TcVerifier({5: KEY}, window=100)
    with pytest.raises(SecurityError) as info:
        verifier.verify(signed(0))
    assert info.value.reason == "replay"
    with pytest.raises(SecurityError):
        verifier.verify(signed(101))  # a first frame far ahead moves nothing
    assert verifier.last_sn == {}
    assert verifier.verify(signed(100)).sn == 100
    assert TcVerifier({5: KEY}, last_sn={5: 0}).verify(signed(1)).sn == 1


def test_checks_run_in_order_crc_before_key_before_mac():
    raw = bytearray(signed(1, spi=9))
    raw[-1] ^= 1  # bad FECF and unknown key: the FECF is checked first
    verifier = TcVerifier({5: KEY})
    with pytest.raises(CrcError):
        verifier.verify(bytes(raw))
    with pytest.raises(HeaderError, match="spacecraft 42, this is 43"):
        TcVerifier({5: KEY}, scid=43).verify(signed(1))


def test_a_jump_beyond_the_window_is_rejected():
    verifier = TcVerifier({5: KEY}, last_sn={5: 10}, window=100)
    with pytest.raises(SecurityError):
        verifier.verify(signed(111))
    assert verifier.verify(signed(110)).sn == 110


def test_control_frames_are_authenticated_too():
    raw = authenticate(TcFrame(42, 1, UNLOCK, bypass=1, control=1), SA, 7)
    result = TcVerifier({5: KEY}).verify(raw)
    assert result.frame.kind == "BC" and result.frame.data == UNLOCK


def test_key_files():
    keys = parse_key_file(json.dumps({"keys": {"5": KEY.hex()}}), "bench.keys")
    assert keys == {5: KEY}
    for text, message in [
        ("nope", "bench.keys: not JSON"),
        ("{}", "non-empty"),
        ('{"keys": {"x": "00"}}', "SPI 'x' is not an integer"),
        ('{"keys": {"5": "zz"}}', "key of SPI 5 is not hex"),
        ('{"keys": {"5": "0011"}}', "shorter than 16"),
        ('{"keys": {"70000": "' + KEY.hex() + '"}}', "outside 0..65535"),
    ]:
        with pytest.raises(KeyFileError, match=message):
            parse_key_file(text, "bench.keys")
    assert "00010203" not in repr(SA)


@given(st.binary(min_size=1, max_size=200), st.binary(max_size=300))
def test_precomputed_hmac_equals_the_standard_library(key, data):
    import hmac as std_hmac

    from hal.protocol.sdls import Hmac

    assert Hmac(key)(data) == std_hmac.new(key, data, "sha256").digest()[:16]
