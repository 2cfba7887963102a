"""The receiver's resynchronisation (decision 0023): no session, no frame; a resync frame over
the pending challenge, signed with the key, opens a session whose key signs every frame after;
nothing captured before (another session, the key itself, an old resync) is accepted again."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.errors import EncodeError, SecurityError
from hal.protocol.sdls import (
    NONCE_SIZE,
    ChallengeNonces,
    SecurityAssociation,
    TcVerifier,
    authenticate,
    resync_frame,
    session_association,
    session_key,
)
from hal.protocol.tc_frame import UNLOCK, TcFrame

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SPI = 5
SA = SecurityAssociation(SPI, KEY)
NONCE = bytes(range(100, 116))
OTHER_NONCE = bytes(range(200, 216))


def data(sn: int, sa: SecurityAssociation = SA, payload: bytes = b"\x01\x02") -> bytes:
    return authenticate(TcFrame(42, 0, payload, seq=sn & 0xFF), sa, sn)


def unlock(sn: int, sa: SecurityAssociation = SA) -> bytes:
    return authenticate(TcFrame(42, 0, UNLOCK, bypass=1, control=1), sa, sn)


def strict(**kwargs) -> TcVerifier:
    return TcVerifier({SPI: KEY}, scid=42, require_session=True, **kwargs)


def refused(verifier: TcVerifier, raw: bytes) -> str:
    with pytest.raises(SecurityError) as info:
        verifier.verify(raw)
    return info.value.reason


def test_without_a_session_every_frame_is_refused_and_nothing_moves():
    verifier = strict()
    for raw in (data(1), unlock(2), data(1, session_association(SA, NONCE))):
        assert refused(verifier, raw) == "resync_needed"
    assert verifier.last_sn == {} and not verifier.synchronised
    assert verifier.rejects["resync_needed"] == 3 and verifier.accepted == 0


def test_a_resync_over_the_challenge_opens_a_session_signed_with_the_session_key():
    persisted = []
    verifier = strict(persist_resync=lambda *args: persisted.append(args))
    verifier.issue_challenge(NONCE)
    result = verifier.verify(resync_frame(42, 0, SA, NONCE, 10))
    assert result.resync and result.sn == 10 and result.frame.kind == "BC"
    assert persisted == [(SPI, 10, NONCE)]
    assert verifier.synchronised and verifier.challenge is None
    session = session_association(SA, NONCE)
    assert refused(verifier, data(11)) == "bad_mac"  # the key itself signs no frame any more
    assert refused(verifier, data(11, session_association(SA, OTHER_NONCE))) == "bad_mac"
    assert verifier.verify(data(11, session)).sn == 11
    assert verifier.verify(unlock(12, session)).frame.data == UNLOCK
    assert refused(verifier, data(11, session)) == "replay"


def test_the_session_key_depends_on_key_spi_and_nonce():
    keys = {
        session_key(KEY, SPI, NONCE),
        session_key(OTHER_KEY, SPI, NONCE),
        session_key(KEY, SPI + 1, NONCE),
        session_key(KEY, SPI, OTHER_NONCE),
    }
    assert len(keys) == 4 and all(len(k) == 32 for k in keys)
    with pytest.raises(EncodeError):
        session_key(KEY, SPI, NONCE[:8])


@pytest.mark.parametrize(
    ("challenge", "frame", "reason"),
    [
        (None, resync_frame(42, 0, SA, NONCE, 10), "stale_challenge"),  # nothing pending
        (OTHER_NONCE, resync_frame(42, 0, SA, NONCE, 10), "stale_challenge"),  # an old nonce
        (NONCE, resync_frame(42, 0, SecurityAssociation(SPI, OTHER_KEY), NONCE, 10), "bad_mac"),
        (NONCE, resync_frame(42, 0, session_association(SA, NONCE), NONCE, 10), "bad_mac"),
    ],
)
def test_a_resync_needs_the_key_and_the_pending_nonce(challenge, frame, reason):
    verifier = strict()
    if challenge is not None:
        verifier.issue_challenge(challenge)
    assert refused(verifier, frame) == reason
    assert not verifier.synchronised and verifier.challenge == challenge


def test_a_nonce_serves_once():
    verifier = strict()
    verifier.issue_challenge(NONCE)
    verifier.verify(resync_frame(42, 0, SA, NONCE, 10))
    assert refused(verifier, resync_frame(42, 0, SA, NONCE, 20)) == "stale_challenge"
    verifier.issue_challenge(OTHER_NONCE)
    assert refused(verifier, resync_frame(42, 0, SA, NONCE, 20)) == "stale_challenge"
    assert verifier.sessions == {SPI: NONCE} and verifier.last_sn == {SPI: 10}


def test_a_resync_never_rewinds_anti_replay():
    verifier = strict(last_sn={SPI: 500, 9: 700})
    verifier.issue_challenge(NONCE)
    assert refused(verifier, resync_frame(42, 0, SA, NONCE, 700)) == "replay"
    assert refused(verifier, resync_frame(42, 0, SA, NONCE, 3)) == "replay"
    assert verifier.verify(resync_frame(42, 0, SA, NONCE, 701)).sn == 701


def test_a_resync_the_store_cannot_keep_is_not_taken():
    def failing(spi: int, sn: int, nonce: bytes) -> None:
        raise OSError("disk full")

    verifier = strict(persist_resync=failing)
    verifier.issue_challenge(NONCE)
    assert refused(verifier, resync_frame(42, 0, SA, NONCE, 10)) == "persist_failed"
    assert not verifier.synchronised and verifier.challenge == NONCE
    assert verifier.last_sn == {}


def test_a_restarted_receiver_goes_on_in_its_session_and_refuses_what_it_took():
    session = session_association(SA, NONCE)
    before = strict()
    before.issue_challenge(NONCE)
    taken = [resync_frame(42, 0, SA, NONCE, 10), data(11, session), data(12, session)]
    for raw in taken:
        before.verify(raw)
    after = strict(last_sn=dict(before.last_sn), sessions=dict(before.sessions))
    assert after.synchronised
    for raw in taken:
        assert refused(after, raw) in ("replay", "stale_challenge")
    assert after.verify(data(13, session)).sn == 13


def test_a_frame_beyond_the_window_is_refused_and_the_grounds_next_one_still_goes():
    session = session_association(SA, NONCE)
    verifier = strict(last_sn={SPI: 10}, sessions={SPI: NONCE}, window=256)
    assert refused(verifier, data(10 + 257, session)) == "replay"
    assert refused(verifier, data(2**32 - 1, session)) == "replay"
    assert verifier.last_sn == {SPI: 10}
    assert verifier.verify(data(11, session)).sn == 11


@settings(max_examples=50, deadline=None)
@given(
    order=st.permutations(range(12)),
    base=st.integers(0, 2**31),
)
def test_no_captured_frame_is_accepted_in_a_new_session_whatever_its_number(order, base):
    """A receiver that lost its store, resynced by a ground whose numbers start anywhere: every
    frame captured in the earlier session (data, control, its resync) is refused."""
    old = session_association(SA, OTHER_NONCE)
    captured = [resync_frame(42, 0, SA, OTHER_NONCE, base + 1)]
    captured += [data(base + 2 + i, old) for i in range(9)] + [unlock(base + 11, old)]
    captured += [data(base + 2**20, old)]
    verifier = strict()
    verifier.issue_challenge(NONCE)
    verifier.verify(resync_frame(42, 0, SA, NONCE, 1))  # the new ground starts low
    for index in order:
        with pytest.raises(SecurityError):
            verifier.verify(captured[index])
    assert verifier.accepted == 1 and verifier.last_sn == {SPI: 1}


def test_challenge_nonces_are_reproducible_from_their_seed_and_never_repeat():
    now = [7.5]
    first = ChallengeNonces(b"s" * 32, lambda: now[0])
    again = ChallengeNonces(b"s" * 32, lambda: now[0])
    other = ChallengeNonces(b"t" * 32, lambda: now[0])
    a = [first() for _ in range(100)]
    assert a == [again() for _ in range(100)]
    assert len(set(a)) == 100 and all(len(n) == NONCE_SIZE for n in a)
    assert not set(a) & {other() for _ in range(100)}
    now[0] = 8.0
    assert ChallengeNonces(b"s" * 32, lambda: now[0])() != a[0]  # time is mixed in
    with pytest.raises(EncodeError):
        ChallengeNonces(b"short", lambda: 0.0)
    assert "s" * 8 not in repr(first)


def test_a_nonce_of_the_wrong_size_is_refused_by_both_ends():
    with pytest.raises(EncodeError):
        resync_frame(42, 0, SA, NONCE[:15], 1)
    with pytest.raises(ValueError):
        strict().issue_challenge(NONCE + b"x")
    with pytest.raises(ValueError):
        TcVerifier({SPI: KEY}, window=0)
