"""The standard SDLS suite, AES-256-GCM (CCSDS 355.0-B-2, decision 0043): NIST's vectors for
the primitive, the frame layout Yamcs 5.12 produces (built here step by step as its
``TcFrameFactory.encodeFrame`` and ``SecurityAssociationAes256Gcm128.applySecurity`` do), the
receiver's checks, the resync of decision 0023 under GCM, and the clear suite."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from hal.bench import BenchError, load_bench, new_key_file_text, parse_bench
from hal.errors import EncodeError, ProtocolError, SecurityError
from hal.protocol.crc import append_crc16
from hal.protocol.sdls import (
    AUTH_MASK,
    GCM_KEY_SIZE,
    IV_SIZE,
    SUITES,
    SecurityAssociation,
    TcVerifier,
    auth_mask,
    authenticate,
    parse_key_file,
    raw_key,
    resync_frame,
    resync_key,
    session_association,
    suite_of,
)
from hal.protocol.tc_frame import UNLOCK, TcFrame, set_vr_command

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SPI = 5
SA = SecurityAssociation(SPI, KEY)
NONCE = bytes(range(100, 116))
OTHER_NONCE = bytes(range(200, 216))
PAYLOAD = bytes.fromhex("1801c0000007100101000000c0de")

# NIST CAVP gcmEncryptExtIV256.rsp ([Keylen=256][IVlen=96][Taglen=128]) and the GCM
# specification's test case 16 (McGrew and Viega): key, IV, plaintext, AAD, ciphertext, tag.
NIST_VECTORS = [
    pytest.param(  # PTlen=0 AADlen=0 Count=0
        "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
        "516c33929df5a3284ff463d7", "", "", "", "bdc1ac884d332457a1d2664f168c76f0",
        id="cavp-pt0-aad0-count0",
    ),
    pytest.param(  # PTlen=0 AADlen=128 Count=0: authentication only (GMAC)
        "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
        "d79cf22d504cc793c3fb6c8a", "", "b96baa8c1c75a671bfb2d08d06be5f36", "",
        "3e5d486aa2e30b22e040b85723a06e76",
        id="cavp-pt0-aad128-count0",
    ),
    pytest.param(  # PTlen=0 AADlen=128 Count=1: authentication only (GMAC)
        "4457ff33683cca6ca493878bdc00373893a9763412eef8cddb54f91318e0da88",
        "699d1f29d7b8c55300bb1fd2", "", "6749daeea367d0e9809e2dc2f309e6e3", "",
        "d60c74d2517fde4a74e0cd4709ed43a9",
        id="cavp-pt0-aad128-count1",
    ),
    pytest.param(  # PTlen=408 AADlen=128 Count=0
        "5fe01c4baf01cbe07796d5aaef6ec1f45193a98a223594ae4f0ef4952e82e330",
        "bd587321566c7f1a5dd8652d",
        "881dc6c7a5d4509f3c4bd2daab08f165ddc204489aa8134562a4eac3d0bcad7965847b102733bb63d1e5c5"
        "98ece0c3e5dadddd",
        "9013617817dda947e135ee6dd3653382",
        "16e375b4973b339d3f746c1c5a568bc7526e909ddff1e19c95c94a6ccff210c9a4a40679de5760c396ac0e"
        "2ceb1234f9f5fe26",
        "abd3d26d65a6275f7a4f56b422acab49",
        id="cavp-pt408-aad128-count0",
    ),
    pytest.param(  # GCM specification, test case 16 (AES-256, 60 octets, 20 octets of AAD)
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
        "49a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
        "56828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
        id="gcm-spec-case-16",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("key", "iv", "pt", "aad", "ct", "tag"), NIST_VECTORS)
def test_the_gcm_primitive_of_the_suite_gives_nists_vectors(key, iv, pt, aad, ct, tag):
    cipher = suite_of("aes-gcm").cipher(bytes.fromhex(key))
    iv_b, aad_b = bytes.fromhex(iv), bytes.fromhex(aad)
    sealed = cipher.encrypt(iv_b, bytes.fromhex(pt), aad_b)
    assert sealed.hex() == ct + tag
    assert cipher.decrypt(iv_b, sealed, aad_b) == bytes.fromhex(pt)
    forged = bytearray(sealed)
    forged[-1] ^= 1
    assert cipher.decrypt(iv_b, bytes(forged), aad_b) is None


def yamcs_frame(key: bytes, spi: int, iv_seq: int, payload: bytes, *, seq: int = 3,
                mask: bytes = AUTH_MASK, scid: int = 42, vcid: int = 0, map_id: int = 0,
                bypass: bool = False) -> bytes:  # fmt: skip
    """A TC data frame as Yamcs 5.12 builds it: ``TcFrameFactory.makeFrame`` leaves room for
    the security header (SPI 2 + IV 12) and trailer (tag 16); ``encodeFrame`` writes the
    primary header, N(S) and the segment header, then ``applySecurity`` writes the SPI and the
    IV (its sequence number), computes the AAD as the frame's first ``len(mask)`` octets ANDed
    with the mask, encrypts the data in place and writes the tag; then the CRC-16."""
    length = 5 + 1 + 14 + len(payload) + 16 + 2
    data = bytearray(length)
    w0 = scid + ((1 << 13) if bypass else 0)
    data[0:2] = w0.to_bytes(2, "big")
    data[2:4] = ((vcid << 10) + (length - 1)).to_bytes(2, "big")
    data[4] = seq
    data[5] = (3 << 6) | map_id  # SegmentHeader((byte) 3, mapId): unsegmented
    data[20 : 20 + len(payload)] = payload
    data[6:8] = spi.to_bytes(2, "big")
    iv = iv_seq.to_bytes(12, "big")
    data[8:20] = iv
    aad = bytes(b & m for b, m in zip(data[: len(mask)], mask, strict=False))
    sealed = AESGCM(key).encrypt(iv, bytes(data[20 : 20 + len(payload)]), aad)
    data[20 : 20 + len(sealed)] = sealed
    return append_crc16(bytes(data[:-2]))


# Yamcs's default mask, StandardAuthMask.TC(true, securityHdrAuthMask()): the VCID, the segment
# header and the SPI only.
YAMCS_DEFAULT_MASK = bytes([0, 0, 0xFC, 0, 0, 0xFF, 0xFF, 0xFF]) + bytes(12)


def test_the_auth_mask_covers_every_header_bit_and_the_spi_but_not_the_iv():
    assert AUTH_MASK.hex() == "ff" * 8 + "00" * 12
    assert auth_mask(segment=False).hex() == "ff" * 7 + "00" * 12
    assert raw_key(KEY) == KEY and len(raw_key(KEY)) == GCM_KEY_SIZE
    with pytest.raises(EncodeError):
        raw_key(KEY[:16])


def test_a_frame_yamcs_builds_is_accepted_and_ours_is_the_same_octets():
    verifier = TcVerifier({SPI: KEY}, scid=42, suite="aes-gcm")
    raw = yamcs_frame(KEY, SPI, 7, PAYLOAD)
    ours = authenticate(TcFrame(42, 0, PAYLOAD, seq=3), SA, 7, "aes-gcm")
    assert ours == raw
    result = verifier.verify(raw)
    assert result.frame.data == PAYLOAD and result.spi == SPI and result.sn == 7
    assert raw[8:20] == (7).to_bytes(IV_SIZE, "big")  # the IV is the sequence number
    assert PAYLOAD not in raw  # encrypted


def test_yamcs_default_mask_is_refused_so_yamcs_must_be_given_the_auth_mask():
    verifier = TcVerifier({SPI: KEY}, scid=42, suite="aes-gcm")
    with pytest.raises(SecurityError) as info:
        verifier.verify(yamcs_frame(KEY, SPI, 1, PAYLOAD, mask=YAMCS_DEFAULT_MASK))
    assert info.value.reason == "bad_mac"


@pytest.mark.parametrize("field", ["scid", "bypass", "seq"])
def test_every_header_field_is_authenticated_n_s_included(field):
    """Decision 0006: N(S) cannot be altered (else a frame could be accepted twice by FARM-1
    under COP-1 retransmission); nor the SCID or the bypass flag."""
    changed = {"scid": {"scid": 43}, "bypass": {"bypass": True}, "seq": {"seq": 4}}[field]
    good = bytearray(yamcs_frame(KEY, SPI, 1, PAYLOAD))
    other = yamcs_frame(KEY, SPI, 1, PAYLOAD, **changed)
    forged = append_crc16(bytes(other[:5]) + bytes(good[5:-2]))  # header swapped, CRC right
    verifier = TcVerifier({SPI: KEY}, suite="aes-gcm")
    with pytest.raises(SecurityError) as info:
        verifier.verify(forged)
    assert info.value.reason == "bad_mac" and verifier.last_sn == {}


def test_authentication_only_leaves_the_data_readable_and_still_refuses_a_change():
    raw = authenticate(TcFrame(42, 0, PAYLOAD, seq=1), SA, 1, "aes-gcm-auth")
    assert raw[20 : 20 + len(PAYLOAD)] == PAYLOAD
    # the tag is GMAC over the masked header and the data (NIST's AAD-only case)
    aad = raw[:8] + bytes(12) + PAYLOAD
    assert raw[-18:-2] == AESGCM(KEY).encrypt(raw[8:20], b"", aad)
    assert TcVerifier({SPI: KEY}, suite="aes-gcm-auth").verify(raw).frame.data == PAYLOAD
    forged = bytearray(raw[:-2])
    forged[21] ^= 0x10
    with pytest.raises(SecurityError) as info:
        TcVerifier({SPI: KEY}, suite="aes-gcm-auth").verify(append_crc16(bytes(forged)))
    assert info.value.reason == "bad_mac"


@given(st.data())
def test_one_flipped_bit_anywhere_is_rejected(data):
    payload = data.draw(st.binary(min_size=1, max_size=64))
    raw = bytearray(authenticate(TcFrame(42, 0, payload, seq=3), SA, 3, "aes-gcm"))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    verifier = TcVerifier({SPI: KEY}, suite="aes-gcm")
    with pytest.raises(ProtocolError):
        verifier.verify(bytes(raw))
    assert verifier.last_sn == {}


def test_wrong_key_replay_window_and_unknown_spi_as_under_hmac():
    verifier = TcVerifier({SPI: KEY, 6: OTHER_KEY}, scid=42, suite="aes-gcm", window=100)
    other = SecurityAssociation(SPI, OTHER_KEY)
    for raw, reason in (
        (authenticate(TcFrame(42, 0, PAYLOAD), other, 1, "aes-gcm"), "bad_mac"),
        (authenticate(TcFrame(42, 0, PAYLOAD), SecurityAssociation(9, KEY), 1, "aes-gcm"),
         "unknown_spi"),
        (authenticate(TcFrame(42, 0, PAYLOAD), SA, 101, "aes-gcm"), "replay"),
        (authenticate(TcFrame(42, 0, PAYLOAD), SA, 1, "hmac"), "bad_mac"),
        (TcFrame(42, 0, PAYLOAD * 3).pack(), "unknown_spi"),  # a clear frame
        (TcFrame(42, 0, PAYLOAD).pack(), "truncated"),  # a short clear frame
    ):  # fmt: skip
        with pytest.raises(ProtocolError) as info:
            verifier.verify(raw)
        assert info.value.reason == reason, raw.hex()
    assert verifier.last_sn == {}
    first = authenticate(TcFrame(42, 0, PAYLOAD), SA, 1, "aes-gcm")
    assert verifier.verify(first).sn == 1
    with pytest.raises(SecurityError) as info:
        verifier.verify(first)
    assert info.value.reason == "replay"


def test_a_96_bit_sequence_number_is_taken_within_the_window():
    big = (1 << 80) + 5
    verifier = TcVerifier({SPI: KEY}, suite="aes-gcm", last_sn={SPI: big - 1})
    assert verifier.verify(yamcs_frame(KEY, SPI, big, PAYLOAD)).sn == big
    with pytest.raises(EncodeError):
        authenticate(TcFrame(42, 0, PAYLOAD), SA, 1 << 96, "aes-gcm")


def test_an_aes_key_has_32_octets():
    with pytest.raises(EncodeError, match="32"):
        TcVerifier({SPI: KEY[:16]}, suite="aes-gcm")
    mixed = TcVerifier({SPI: KEY, 6: KEY[:16]}, suite="aes-gcm")  # another node's HMAC key
    with pytest.raises(SecurityError) as info:
        mixed.verify(
            authenticate(TcFrame(42, 0, PAYLOAD), SecurityAssociation(6, KEY), 1, "aes-gcm")
        )
    assert info.value.reason == "unknown_spi"
    with pytest.raises(EncodeError, match="32"):
        authenticate(TcFrame(42, 0, PAYLOAD), SecurityAssociation(SPI, KEY[:16]), 1, "aes-gcm")
    TcVerifier({SPI: KEY[:16]}, suite="hmac")  # HMAC takes 16 and more
    with pytest.raises(ValueError, match="unknown SDLS suite"):
        suite_of("aes")
    assert SUITES == ("aes-gcm", "aes-gcm-auth", "hmac", "clear")


def test_cop_directives_go_in_clear_under_gcm_and_only_with_a_session():
    strict = TcVerifier({SPI: KEY}, scid=42, suite="aes-gcm", require_session=True)
    unlock = TcFrame(42, 0, UNLOCK, bypass=1, control=1).pack()
    with pytest.raises(SecurityError) as info:
        strict.verify(unlock)
    assert info.value.reason == "resync_needed"
    open_ = TcVerifier({SPI: KEY}, scid=42, suite="aes-gcm")
    result = open_.verify(unlock)
    assert result.frame.data == UNLOCK and result.spi is None and open_.last_sn == {}
    set_vr = TcFrame(42, 0, set_vr_command(7), bypass=1, control=1).pack()
    assert open_.verify(set_vr).frame.data == set_vr_command(7)
    # a secured control frame that is not a resync is refused
    secured = authenticate(TcFrame(42, 0, UNLOCK, bypass=1, control=1), SA, 1, "aes-gcm")
    with pytest.raises(SecurityError):
        open_.verify(secured)


def test_a_resync_under_gcm_opens_a_session_and_the_key_itself_secures_nothing():
    persisted = []
    verifier = TcVerifier(
        {SPI: KEY}, scid=42, suite="aes-gcm", require_session=True,
        persist_resync=lambda *args: persisted.append(args),
    )  # fmt: skip
    verifier.issue_challenge(NONCE)
    stale = resync_frame(42, 0, SA, OTHER_NONCE, 10, "aes-gcm")
    forged = resync_frame(42, 0, SecurityAssociation(SPI, OTHER_KEY), NONCE, 10, "aes-gcm")
    for raw, reason in ((stale, "stale_challenge"), (forged, "bad_mac")):
        with pytest.raises(SecurityError) as info:
            verifier.verify(raw)
        assert info.value.reason == reason
    raw = resync_frame(42, 0, SA, NONCE, 10, "aes-gcm")
    assert NONCE in raw  # authenticated only: the nonce came down in telemetry anyway
    assert raw[-18:-2] == AESGCM(resync_key(KEY, SPI, NONCE)).encrypt(
        raw[7:19], b"", raw[:7] + bytes(12) + raw[19:-18]
    )
    result = verifier.verify(raw)
    assert result.resync and result.sn == 10 and persisted == [(SPI, 10, NONCE)]
    with pytest.raises(SecurityError) as info:
        verifier.verify(raw)  # single use
    assert info.value.reason == "stale_challenge"
    session = session_association(SA, NONCE)
    for sa, reason in ((SA, "bad_mac"), (session_association(SA, OTHER_NONCE), "bad_mac")):
        with pytest.raises(SecurityError) as info:
            verifier.verify(authenticate(TcFrame(42, 0, PAYLOAD), sa, 11, "aes-gcm"))
        assert info.value.reason == reason
    # Yamcs handed the session key and a sequence number above the base is accepted
    assert verifier.verify(yamcs_frame(session.key, SPI, 11, PAYLOAD)).frame.data == PAYLOAD
    assert verifier.verify(TcFrame(42, 0, UNLOCK, bypass=1, control=1).pack()).spi is None


def test_a_clear_link_takes_clear_frames_only_and_counts_nothing():
    verifier = TcVerifier({SPI: KEY}, scid=42, suite="clear", require_session=True)
    assert verifier.synchronised
    raw = TcFrame(42, 0, PAYLOAD, seq=9).pack()
    for _ in range(2):  # no anti-replay on a clear link
        result = verifier.verify(raw)
        assert result.frame.data == PAYLOAD and result.frame.seq == 9
    assert verifier.verify(TcFrame(42, 0, UNLOCK, bypass=1, control=1).pack()).frame.data == UNLOCK
    assert verifier.last_sn == {}
    assert authenticate(TcFrame(42, 0, PAYLOAD), SA, 1, "clear") == TcFrame(42, 0, PAYLOAD).pack()
    with pytest.raises(EncodeError):
        resync_frame(42, 0, SA, NONCE, 1, "clear")


BENCH = """seed = 1
keys = "keys.json"
[nodes.lander]
radio = "sim"
scid = 42
spi = 5
"""


def test_a_bench_names_the_suite_per_node_and_refuses_any_other_in_one_line(tmp_path):
    assert parse_bench(BENCH).nodes["lander"].sdls == "aes-gcm"  # the default
    for suite in SUITES:
        assert parse_bench(BENCH + f'sdls = "{suite}"\n').nodes["lander"].sdls == suite
    for wrong in ('"aes"', '"AES-GCM"', "1", "true"):
        with pytest.raises(BenchError) as info:
            parse_bench(BENCH + f"sdls = {wrong}\n", source="bench.toml")
        message = str(info.value)
        assert "\n" not in message and message.startswith("bench.toml: nodes.lander.sdls: ")
        assert '"aes-gcm", "aes-gcm-auth", "hmac" or "clear"' in message
    (tmp_path / "bench.toml").write_text(BENCH, encoding="utf-8")
    (tmp_path / "keys.json").write_text(json.dumps({"keys": {"5": KEY[:16].hex()}}))
    with pytest.raises(BenchError, match=r'nodes\.lander\.sdls = "aes-gcm" \(AES-256\) takes 32'):
        load_bench(tmp_path / "bench.toml").read_keys()
    (tmp_path / "bench.toml").write_text(BENCH + 'sdls = "hmac"\n', encoding="utf-8")
    assert load_bench(tmp_path / "bench.toml").read_keys() == {5: KEY[:16]}
    assert len(parse_key_file(new_key_file_text([5]))[5]) == GCM_KEY_SIZE
