"""Authenticated TC frames, after CCSDS SDLS (355.0-B-2), authentication service only.

An authenticated TC frame carries a security header after the segment header (or after the
primary header of a control-command frame) and a security trailer before the FECF::

    primary header (5) | segment header (1, data frames) | security header (6) | payload
        | security trailer: MAC (16) | FECF (2)

    security header
      octets 0-1   security parameter index (SPI)   the key id, 0..65535
      octets 2-5   anti-replay sequence number      0..2^32-1, strictly increasing per SPI
    security trailer
      octets 0-15  MAC                              HMAC-SHA-256 truncated to 16 octets, over the
                                                    primary header through the end of the payload

The receiver (:class:`TcVerifier`) checks, in this order and never reading past the octets it was
given: length, FECF, spacecraft id, key id, MAC, anti-replay. It advances the stored sequence
number only after the MAC verified and the new value was persisted (``persist`` callback), so a
restart, with the store reloaded, cannot reopen old numbers. A key never used starts at 0: its
first frame carries 1..window, and a frame further ahead is refused and moves nothing. Security
is applied at each transmission (decision 0006): a COP-1 retransmission carries a new sequence
number and the same frame sequence number N(S).

Keys come from a key file named in the bench file (:func:`parse_key_file`), never from code.

Resynchronisation (decision 0023). A receiver built with ``require_session`` accepts a frame on
an SPI only once the ground has resynchronised that SPI: the receiver presents a challenge (a
fresh 16-octet nonce, :meth:`TcVerifier.issue_challenge`, reported in telemetry by its owner)
and the ground answers with a **resync frame**, a type-BC frame whose data is the resync
directive::

    resync directive (the data of a type-BC frame; the security header's sn is the new base)
      octet  0      directive code 0xE5 (COP-1's Unlock is 0x00, Set V(R) 0x82)
      octets 1-16   the nonce of the receiver's challenge

signed with the SPI's key itself (:func:`resync_frame`). The receiver checks the MAC, that the
nonce is its pending challenge (single use: ``stale_challenge`` otherwise), and that the new
base is above the last sequence number it knows (anti-replay never rewinds); it persists the
base and the nonce (``persist_resync``) before taking them, and from then on every frame of the
SPI is signed with the **session key** ``HMAC-SHA-256(key, "MSR-SDLS-session" | spi | nonce)``
(:func:`session_key`). A frame captured in an earlier session, an earlier run with the same key
file or before the store was lost, is signed with another session's key and fails the MAC;
a resync frame captured earlier names a nonce that is no longer pending.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

import construct as cs

from hal.errors import (
    EncodeError,
    HalError,
    HeaderError,
    LengthError,
    SecurityError,
    TruncatedError,
)
from hal.protocol.crc import append_crc16
from hal.protocol.layout import compile_fixed
from hal.protocol.tc_frame import (
    FECF_SIZE,
    MAX_TC_FRAME_SIZE,
    SEGMENT_HEADER_SIZE,
    SEGMENT_LAYOUT,
    TC_HEADER_SIZE,
    TC_LAYOUT,
    TcFrame,
    check_fecf,
)

__all__ = [
    "MAC_SIZE",
    "NONCE_SIZE",
    "RESYNC_CODE",
    "RESYNC_SIZE",
    "Challenge",
    "ChallengeNonces",
    "KeyFileError",
    "ResyncDirective",
    "SecurityAssociation",
    "SecurityHeader",
    "TcVerifier",
    "VerifiedFrame",
    "authenticate",
    "parse_key_file",
    "resync_frame",
    "session_association",
    "session_key",
]

MAC_SIZE: Final = 16
MIN_KEY_SIZE: Final = 16
SN_MAX: Final = (1 << 32) - 1
DEFAULT_WINDOW: Final = 1 << 20

SecurityHeader = cs.Struct(
    "spi" / cs.Int16ub * "security parameter index: the key id, 0..65535",
    "sn" / cs.Int32ub * "anti-replay sequence number, strictly increasing per SPI",
)
SECURITY_LAYOUT = compile_fixed(SecurityHeader, "sdls_security_header")
SEC_HEADER_SIZE: Final = SECURITY_LAYOUT.size
OVERHEAD: Final = SEC_HEADER_SIZE + MAC_SIZE
SMALLEST_FRAME: Final = TC_HEADER_SIZE + OVERHEAD + FECF_SIZE

NONCE_SIZE: Final = 16
"""Octets of a resync challenge's nonce."""
RESYNC_CODE: Final = 0xE5
"""The resync directive's code: the first data octet of a resync frame (type-BC)."""
SESSION_LABEL: Final = b"MSR-SDLS-session"
"""Domain separation of the session key derivation (:func:`session_key`)."""
CHALLENGE_LABEL: Final = b"MSR-SDLS-challenge"
"""Domain separation of the deterministic challenge nonces (:class:`ChallengeNonces`)."""

ResyncDirective = cs.Struct(
    "code" / cs.Const(RESYNC_CODE, cs.Int8ub) * "0xE5: resynchronise anti-replay",
    "nonce" / cs.Bytes(NONCE_SIZE) * "the nonce of the receiver's pending challenge",
)
RESYNC_SIZE: Final = ResyncDirective.sizeof()

ResyncReason = Literal["no_state", "backup_copy"]
"""Why a receiver needs a resync: its store holds no session for any key (first boot, a store
lost or corrupt), or it was loaded from the older of its two copies (it may be one write old)."""
RESYNC_REASONS: Final[dict[str, int]] = {"no_state": 1, "backup_copy": 2}
"""A resync reason's code in the challenge report."""


class KeyFileError(HalError):
    """A key file that cannot be used; the message names the file and the problem."""

    default_reason = "bad_key_file"


@dataclass(frozen=True)
class SecurityAssociation:
    """One key: its SPI and secret (at least 16 octets)."""

    spi: int
    key: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.spi <= 0xFFFF:
            raise EncodeError(f"SPI {self.spi} is outside 0..65535", reason="out_of_range")
        if len(self.key) < MIN_KEY_SIZE:
            raise EncodeError(f"key for SPI {self.spi} is shorter than {MIN_KEY_SIZE} octets")

    def __repr__(self) -> str:  # never print the secret
        return f"SecurityAssociation(spi={self.spi}, key=<{len(self.key)} octets>)"

    @property
    def mac(self) -> Hmac:
        """The MAC function of this key (computed once)."""
        cached = _MACS.get(self)
        if cached is None:
            cached = _MACS[self] = Hmac(self.key)
        return cached


_MACS: dict[SecurityAssociation, Hmac] = {}


class Hmac:
    """HMAC-SHA-256 truncated to :data:`MAC_SIZE` octets, with the key pads hashed once.

    Equal to ``hmac.new(key, data, "sha256").digest()[:16]`` (RFC 2104), but each MAC costs two
    hash-state copies instead of a new HMAC object: about twice as fast for frame-sized data.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, data: bytes | bytearray | memoryview) -> bytes:
        """The truncated MAC of ``data``."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:MAC_SIZE]


def authenticate(frame: TcFrame, sa: SecurityAssociation, sn: int) -> bytes:
    """Encode ``frame`` (its ``data`` is the payload) with security header, MAC and FECF.

    Raises:
        EncodeError: ``sn`` outside 0..2^32-1, a header field out of range, or too long a frame.
    """
    if not 0 <= sn <= SN_MAX:
        raise EncodeError(f"sequence number {sn} is outside 0..2^32-1", reason="out_of_range")
    secured = SECURITY_LAYOUT.pack(sa.spi, sn) + frame.data
    protected = frame.header_bytes(len(secured) + MAC_SIZE) + secured
    body = protected + sa.mac(protected)
    return append_crc16(body)


def session_key(key: bytes, spi: int, nonce: bytes) -> bytes:
    """The key every frame of ``spi`` is signed with after the resync that answered the
    challenge ``nonce``: ``HMAC-SHA-256(key, "MSR-SDLS-session" | spi (2 octets) | nonce)``."""
    if len(nonce) != NONCE_SIZE:
        raise EncodeError(f"a challenge nonce has {NONCE_SIZE} octets, not {len(nonce)}")
    message = SESSION_LABEL + spi.to_bytes(2, "big") + bytes(nonce)
    return hmac.new(key, message, hashlib.sha256).digest()


def session_association(sa: SecurityAssociation, nonce: bytes) -> SecurityAssociation:
    """The security association of the session that the resync over ``nonce`` opened."""
    return SecurityAssociation(sa.spi, session_key(sa.key, sa.spi, nonce))


def resync_frame(scid: int, vcid: int, sa: SecurityAssociation, nonce: bytes, sn: int) -> bytes:
    """The encoded resync frame answering the challenge ``nonce``: a type-BC frame carrying the
    resync directive, signed with the SPI's own key (never a session key), whose sequence
    number ``sn`` becomes the receiver's new base.

    Raises:
        EncodeError: a nonce of the wrong size, or ``sn`` outside 0..2^32-1.
    """
    if len(nonce) != NONCE_SIZE:
        raise EncodeError(f"a challenge nonce has {NONCE_SIZE} octets, not {len(nonce)}")
    data = ResyncDirective.build({"nonce": bytes(nonce)})
    return authenticate(TcFrame(scid, vcid, data, bypass=1, control=1), sa, sn)


@dataclass(frozen=True)
class Challenge:
    """A receiver's pending resync challenge, as its owner reports it.

    Attributes:
        nonce: the fresh nonce the ground's resync frame must carry.
        last_sn: the highest sequence number the receiver knows for any key (0: none); the
            new base must be above it.
        reason: why the receiver needs a resync (:data:`ResyncReason`).
    """

    nonce: bytes
    last_sn: int
    reason: str

    @property
    def reason_code(self) -> int:
        """The reason's code in the challenge report (:data:`RESYNC_REASONS`)."""
        return RESYNC_REASONS[self.reason]


class ChallengeNonces:
    """Challenge nonces that never repeat for one seed, and are reproducible from it.

    The ``n``-th nonce is ``HMAC-SHA-256(seed, "MSR-SDLS-challenge" | n (8 octets) | t)``
    truncated to :data:`NONCE_SIZE`, where ``t`` is ``now()`` in nanoseconds (8 octets, two's
    complement). The seed must be secret and never given to two processes (the composition
    root derives it per process start from a secret of the run, the node's name and a start
    count: decision 0023); an HMAC of distinct messages under a secret key is unpredictable
    and, at 128 bits, does not collide.

    Args:
        seed: at least 16 secret octets.
        now: the clock of the challenges (simulated time in SIL).
    """

    def __init__(self, seed: bytes, now: Callable[[], float]) -> None:
        if len(seed) < MIN_KEY_SIZE:
            raise EncodeError(f"a nonce seed needs at least {MIN_KEY_SIZE} octets")
        self._seed = bytes(seed)
        self._now = now
        self.issued = 0

    def __call__(self) -> bytes:
        """The next nonce."""
        stamp = round(self._now() * 1e9) & 0xFFFF_FFFF_FFFF_FFFF
        message = CHALLENGE_LABEL + self.issued.to_bytes(8, "big") + stamp.to_bytes(8, "big")
        self.issued += 1
        return hmac.new(self._seed, message, hashlib.sha256).digest()[:NONCE_SIZE]

    def __repr__(self) -> str:  # never print the seed
        return f"ChallengeNonces(issued={self.issued})"


class VerifiedFrame:
    """A frame that passed every check: ``frame.data`` is the payload (security fields removed),
    ``spi`` and ``sn`` the key id and sequence number it was accepted under. ``resync`` is True
    for a resync frame the receiver has already acted on (it is not for FARM-1)."""

    __slots__ = ("frame", "resync", "sn", "spi")

    def __init__(self, frame: TcFrame, spi: int, sn: int, *, resync: bool = False) -> None:
        self.frame = frame
        self.spi = spi
        self.sn = sn
        self.resync = resync

    def __repr__(self) -> str:
        extra = ", resync" if self.resync else ""
        return f"VerifiedFrame({self.frame!r}, spi={self.spi}, sn={self.sn}{extra})"


class TcVerifier:
    """The receiving end of the authenticated uplink.

    Args:
        keys: SPI -> key, from the key file.
        scid: this spacecraft's id; frames for another are rejected (``wrong_scid``).
        last_sn: SPI -> last accepted sequence number, as reloaded from the store at start; an
            SPI without one starts at 0.
        persist: called with ``(spi, sn)`` before a new sequence number is taken into use; if it
            raises, the frame is rejected (``persist_failed``) and nothing advances.
        window: the largest accepted jump above the last accepted sequence number; a frame
            further ahead is refused (``replay``) and moves nothing.
        sessions: SPI -> the nonce of the resync that opened its current session, as reloaded
            from the store: frames of that SPI are signed with the session key.
        require_session: refuse every frame of an SPI without a session (``resync_needed``)
            except a resync frame answering the pending challenge (decision 0023). Without it
            an SPI with no session is signed with its key itself (links without a store).
        persist_resync: called with ``(spi, sn, nonce)`` before a resync is taken into use;
            if it raises, the resync is rejected (``persist_failed``) and nothing changes.

    :meth:`verify` raises a :class:`~hal.errors.ProtocolError` subclass naming the reason;
    :attr:`rejects` counts them and :attr:`accepted` counts the good frames (resyncs included).
    """

    def __init__(
        self,
        keys: Mapping[int, bytes],
        *,
        scid: int | None = None,
        last_sn: Mapping[int, int] | None = None,
        persist: Callable[[int, int], None] | None = None,
        window: int = DEFAULT_WINDOW,
        sessions: Mapping[int, bytes] | None = None,
        require_session: bool = False,
        persist_resync: Callable[[int, int, bytes], None] | None = None,
    ) -> None:
        if not 1 <= window <= SN_MAX:
            raise ValueError(f"anti-replay window {window} is outside 1..2^32-1")
        self._keys = {spi: SecurityAssociation(spi, key).key for spi, key in keys.items()}
        self._master = {spi: Hmac(key) for spi, key in self._keys.items()}
        self.scid = scid
        self.last_sn: dict[int, int] = dict(last_sn or {})
        self._persist = persist
        self._persist_resync = persist_resync
        self.window = window
        self.require_session = require_session
        self.sessions: dict[int, bytes] = {}
        self._macs: dict[int, Hmac] = {}
        for spi in self._keys:
            nonce = (sessions or {}).get(spi)
            if nonce is not None:
                self._open_session(spi, bytes(nonce))
            elif not require_session:
                self._macs[spi] = self._master[spi]
        self.challenge: bytes | None = None
        self.rejects: Counter[str] = Counter()
        self.accepted = 0
        self.resyncs = 0

    @property
    def synchronised(self) -> bool:
        """True when some SPI has a session (or none is required)."""
        return bool(self.sessions) or not self.require_session

    def issue_challenge(self, nonce: bytes) -> None:
        """Make ``nonce`` the pending challenge (replacing any earlier one, which dies)."""
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"a challenge nonce has {NONCE_SIZE} octets, not {len(nonce)}")
        self.challenge = bytes(nonce)

    def verify(self, raw: bytes | bytearray | memoryview) -> VerifiedFrame:
        """Check one received frame; return it with its payload, or raise naming why not."""
        try:
            verified = self._verify(raw)
        except HalError as exc:
            self.rejects[exc.reason] += 1
            raise
        self.accepted += 1
        return verified

    def _open_session(self, spi: int, nonce: bytes) -> None:
        self.sessions[spi] = nonce
        self._macs[spi] = Hmac(session_key(self._keys[spi], spi, nonce))

    def _verify(self, raw: bytes | bytearray | memoryview) -> VerifiedFrame:
        size = len(raw)
        if size < SMALLEST_FRAME:
            raise TruncatedError(f"authenticated TC frame of {size} octets < {SMALLEST_FRAME}")
        if size > MAX_TC_FRAME_SIZE:
            raise LengthError(f"TC frame of {size} octets exceeds {MAX_TC_FRAME_SIZE}")
        _, bypass, control, _, scid, vcid, length, seq = TC_LAYOUT.unpack_from(raw)
        if length + 1 != size:
            raise LengthError(f"TC frame length field says {length + 1} octets, got {size}")
        check_fecf(raw, "TC frame")
        if scid != self.scid and self.scid is not None:
            raise HeaderError(
                f"TC frame for spacecraft {scid}, this is {self.scid}", reason="wrong_scid"
            )
        if control:
            if not bypass:
                raise HeaderError("TC frame: control command with bypass flag 0 (type-AC)")
            sec_at = TC_HEADER_SIZE
        else:
            sec_at = TC_HEADER_SIZE + SEGMENT_HEADER_SIZE
            if size < SMALLEST_FRAME + SEGMENT_HEADER_SIZE:
                raise TruncatedError("TC frame too short for its security header and trailer")
        spi, sn = SECURITY_LAYOUT.unpack_from(raw, sec_at)
        if spi not in self._keys:
            raise SecurityError(f"TC frame signed with unknown key id {spi}", reason="unknown_spi")
        mac_at = size - FECF_SIZE - MAC_SIZE
        data_at = sec_at + SEC_HEADER_SIZE
        if control and mac_at - data_at == RESYNC_SIZE and raw[data_at] == RESYNC_CODE:
            return self._resync(raw, spi, sn, data_at, mac_at, scid, vcid, seq)
        mac = self._macs.get(spi)
        if mac is None:
            raise SecurityError(
                f"TC frame of key id {spi}: no session, the ground must resynchronise first",
                reason="resync_needed",
            )
        if not hmac.compare_digest(mac(raw[:mac_at]), raw[mac_at : mac_at + MAC_SIZE]):
            raise SecurityError(
                f"TC frame MAC does not verify under key id {spi}", reason="bad_mac"
            )
        last = self.last_sn.get(spi, 0)
        if not 0 < sn - last <= self.window:
            raise SecurityError(
                f"TC frame sequence number {sn} is not within {self.window} after {last}",
                reason="replay",
            )
        if self._persist is not None:
            try:
                self._persist(spi, sn)
            except Exception as exc:  # the store failed: do not advance, do not accept
                raise SecurityError(
                    f"cannot persist sequence number {sn} of key id {spi}: {exc}",
                    reason="persist_failed",
                ) from exc
        self.last_sn[spi] = sn
        data = bytes(raw[data_at:mac_at])
        if control:
            return VerifiedFrame(TcFrame(scid, vcid, data, seq=seq, bypass=1, control=1), spi, sn)
        seg_flags, map_id = SEGMENT_LAYOUT.unpack_from(raw, TC_HEADER_SIZE)
        frame = TcFrame(
            scid, vcid, data, seq=seq, bypass=bypass, map_id=map_id, seg_flags=seg_flags
        )
        return VerifiedFrame(frame, spi, sn)

    def _resync(
        self, raw: bytes | bytearray | memoryview, spi: int, sn: int, data_at: int, mac_at: int,
        scid: int, vcid: int, seq: int,
    ) -> VerifiedFrame:  # fmt: skip
        """A resync frame: signed with the key itself, over the pending challenge, to a new
        base above every number known; persisted before it is taken."""
        if not hmac.compare_digest(
            self._master[spi](raw[:mac_at]), raw[mac_at : mac_at + MAC_SIZE]
        ):
            raise SecurityError(
                f"resync frame MAC does not verify under key id {spi}", reason="bad_mac"
            )
        nonce = ResyncDirective.parse(bytes(raw[data_at:mac_at])).nonce
        if self.challenge is None or not hmac.compare_digest(nonce, self.challenge):
            raise SecurityError(
                "resync frame answers no pending challenge (an old or foreign nonce)",
                reason="stale_challenge",
            )
        last = max(self.last_sn.values(), default=0)
        if sn <= last:
            raise SecurityError(
                f"resync to sequence number {sn} would rewind anti-replay (last {last})",
                reason="replay",
            )
        if self._persist_resync is not None:
            try:
                self._persist_resync(spi, sn, nonce)
            except Exception as exc:  # the store failed: nothing changes
                raise SecurityError(
                    f"cannot persist the resync of key id {spi}: {exc}", reason="persist_failed"
                ) from exc
        self.last_sn[spi] = sn
        self._open_session(spi, nonce)
        self.challenge = None  # single use
        self.resyncs += 1
        data = bytes(raw[data_at:mac_at])
        frame = TcFrame(scid, vcid, data, seq=seq, bypass=1, control=1)
        return VerifiedFrame(frame, spi, sn, resync=True)


def parse_key_file(text: str, source: str = "key file") -> dict[int, bytes]:
    """Parse a key file: JSON ``{"keys": {"<spi>": "<hex key, >= 16 octets>", ...}}``.

    Raises:
        KeyFileError: naming ``source`` and the problem (not JSON, no keys, a bad SPI or key).
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFileError(f"{source}: not JSON: {exc}") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, dict) or not keys:
        raise KeyFileError(f'{source}: needs a non-empty "keys" object of SPI to hex key')
    out: dict[int, bytes] = {}
    for spi_text, key_hex in keys.items():
        try:
            spi = int(spi_text)
        except ValueError:
            raise KeyFileError(f"{source}: SPI {spi_text!r} is not an integer") from None
        if not 0 <= spi <= 0xFFFF:
            raise KeyFileError(f"{source}: SPI {spi} is outside 0..65535")
        try:
            key = bytes.fromhex(key_hex)
        except (TypeError, ValueError):
            raise KeyFileError(f"{source}: key of SPI {spi} is not hex") from None
        if len(key) < MIN_KEY_SIZE:
            raise KeyFileError(f"{source}: key of SPI {spi} is shorter than {MIN_KEY_SIZE} octets")
        out[spi] = key
    return out
