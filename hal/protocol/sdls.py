"""Secured TC frames after CCSDS SDLS (355.0-B-2): four cipher suites, one chosen per node.

A secured TC frame carries a security header after the segment header (or after the primary
header of a control-command frame) and a security trailer before the FECF::

    primary header (5) | segment header (1, data frames) | security header | frame data
        | security trailer: MAC (16) | FECF (2)

The suite (:data:`SUITES`, the bench file's ``sdls`` of each node) fixes the rest:

``aes-gcm`` (the default): AES-256-GCM authenticated encryption, the baseline suite of SDLS
and exactly the security association of Yamcs 5.12 (``org.yamcs.security.sdls.
SecurityAssociationAes256Gcm128``, read from its source: decision 0043)::

    security header (14)
      octets 0-1    SPI                    security parameter index: the key id, 0..65535
      octets 2-13   IV                     the GCM initialisation vector, 96 bits, which is
                                           also the anti-replay sequence number (big-endian,
                                           strictly increasing per SPI): no separate sequence
                                           number field, no pad length field
    frame data      the ciphertext of the payload (GCM is a stream mode: same length)
    security trailer
      octets 0-15   MAC                    the GCM tag, 128 bits

The additional authenticated data (AAD) of the GCM suites are the octets from the frame's start
to the end of the security header ANDed with the authentication bit mask: ``FF`` for each octet
of the primary header, of the segment header and of the SPI, then 12 zero octets for the IV
(20 octets for a data frame, 19 for a control frame). So every bit of the headers is
authenticated, and the IV through GCM itself. Yamcs's default mask covers only the VCID and the
segment header; this project also authenticates the SCID, the bypass and control flags, the
frame length and N(S), so Yamcs is configured with this mask as each SPI's ``authMask``.

``aes-gcm-auth``: AES-256-GCM authentication only (GMAC): the same header and trailer, the
frame data in clear and appended to the AAD, an empty plaintext. Captures stay readable.

``hmac``: this project's first suite (decisions 0006, 0023)::

    security header (6): SPI (2) | anti-replay sequence number (4, 0..2^32-1)
    security trailer: MAC (16) = HMAC-SHA-256 truncated to 16 octets, over the primary header
      through the end of the frame data

``clear``: no security header or trailer, no anti-replay: only for a bench whose file says
``sdls = "clear"`` for that node (a test bench for external ground equipment). A node of any
other suite parses a clear frame as a secured one and refuses it (``unknown_spi``,
``bad_mac``, ``truncated``...), counted like every bad frame.

Control commands (type-BC: COP-1's Unlock and Set V(R)). Yamcs never secures them (its
``TcFrameFactory``: "We don't want to encrypt COP-1 control frames"), nor does CryptoLib; so
under ``aes-gcm`` and ``aes-gcm-auth`` they travel in clear, from this project's ground too,
and the receiver accepts a clear one (data field of 1 or 3 octets, checked by FARM-1) only
while it has a session (rule 2 of decision 0023). The only secured control frame is the
resync frame below. Under ``hmac`` every control frame is authenticated, as before.

The receiver (:class:`TcVerifier`) checks, in this order and never reading past the octets it was
given: length, FECF, spacecraft id, key id, MAC (and decryption), anti-replay. It advances the
stored sequence number only after the MAC verified and the new value was persisted (``persist``
callback), so a restart, with the store reloaded, cannot reopen old numbers. A key never used
starts at 0: its first frame carries 1..window, and a frame further ahead is refused and moves
nothing. Security is applied at each transmission (decision 0006): a COP-1 retransmission
carries a new sequence number (under GCM: a new IV) and the same frame sequence number N(S).

Keys come from a key file named in the bench file (:func:`parse_key_file`), never from code.
An AES-256 key has exactly :data:`GCM_KEY_SIZE` octets (Yamcs reads one key file of 32 raw
octets per SPI: :func:`raw_key`).

Resynchronisation (decision 0023). A receiver built with ``require_session`` accepts a frame on
an SPI only once the ground has resynchronised that SPI: the receiver presents a challenge (a
fresh 16-octet nonce, :meth:`TcVerifier.issue_challenge`, reported in telemetry by its owner)
and the ground answers with a **resync frame**, a type-BC frame whose data is the resync
directive::

    resync directive (the data of a type-BC frame; the security header's sn is the new base)
      octet  0      directive code 0xE5 (COP-1's Unlock is 0x00, Set V(R) 0x82)
      octets 1-16   the nonce of the receiver's challenge

secured (:func:`resync_frame`) under ``hmac`` with the SPI's key itself; under the GCM suites
authenticated only (GMAC: the directive in clear, its nonce is no secret) with the **resync
key** ``HMAC-SHA-256(key, "MSR-SDLS-resync" | spi | nonce)`` of the nonce it names
(:func:`resync_key`): a GCM key must never see the same IV twice, and a ground of a new run with
the same key file starts its numbers low again, so under GCM the key itself secures nothing.
The receiver checks the MAC (``bad_mac``: only a key holder can resync), that the nonce is its
pending challenge (single use: ``stale_challenge`` otherwise), and
that the new base is above the last sequence number it knows (anti-replay never rewinds); it
persists the base and the nonce (``persist_resync``) before taking them, and from then on every
frame of the SPI is secured with the **session key** ``HMAC-SHA-256(key, "MSR-SDLS-session" |
spi | nonce)`` (:func:`session_key`, 32 octets: an AES-256 key; an external ground such as Yamcs
is handed it after a resync). A frame captured in an earlier session, an earlier run with the
same key file or before the store was lost, is secured with another session's key and fails the
MAC; a resync frame captured earlier names a nonce that is no longer pending.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

import construct as cs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
    MIN_TC_FRAME_SIZE,
    SEGMENT_HEADER_SIZE,
    SEGMENT_LAYOUT,
    TC_HEADER_SIZE,
    TC_LAYOUT,
    TcFrame,
    check_fecf,
)

__all__ = [
    "AUTH_MASK",
    "DEFAULT_SUITE",
    "GCM_KEY_SIZE",
    "IV_SIZE",
    "MAC_SIZE",
    "NONCE_SIZE",
    "RESYNC_CODE",
    "RESYNC_SIZE",
    "SUITES",
    "Challenge",
    "ChallengeNonces",
    "KeyFileError",
    "ResyncDirective",
    "SecurityAssociation",
    "SecurityHeader",
    "Suite",
    "SuiteName",
    "TcVerifier",
    "VerifiedFrame",
    "auth_mask",
    "authenticate",
    "parse_key_file",
    "raw_key",
    "resync_frame",
    "resync_key",
    "session_association",
    "session_key",
    "suite_of",
]

MAC_SIZE: Final = 16
MIN_KEY_SIZE: Final = 16
SN_MAX: Final = (1 << 32) - 1
"""The largest sequence number of the ``hmac`` suite (4 octets)."""
DEFAULT_WINDOW: Final = 1 << 20

SuiteName = Literal["aes-gcm", "aes-gcm-auth", "hmac", "clear"]
SUITES: Final[tuple[SuiteName, ...]] = ("aes-gcm", "aes-gcm-auth", "hmac", "clear")
"""The cipher suites a bench file may name for a node (``sdls``)."""
DEFAULT_SUITE: Final[SuiteName] = "aes-gcm"
"""A node's suite when its bench table names none."""
GCM_KEY_SIZE: Final = 32
"""Octets of an AES-256 key."""
IV_SIZE: Final = 12
"""Octets of the GCM IV, which is the anti-replay sequence number of the GCM suites."""

SecurityHeader = cs.Struct(
    "spi" / cs.Int16ub * "security parameter index: the key id, 0..65535",
    "sn" / cs.Int32ub * "anti-replay sequence number, strictly increasing per SPI",
)
"""The security header of the ``hmac`` suite."""
SECURITY_LAYOUT = compile_fixed(SecurityHeader, "sdls_security_header")
SEC_HEADER_SIZE: Final = SECURITY_LAYOUT.size
OVERHEAD: Final = SEC_HEADER_SIZE + MAC_SIZE
"""Security header and trailer octets of the ``hmac`` suite (:attr:`Suite.overhead`)."""
SMALLEST_FRAME: Final = TC_HEADER_SIZE + OVERHEAD + FECF_SIZE
GCM_HEADER_SIZE: Final = 2 + IV_SIZE
CLEAR_DIRECTIVE_SIZES: Final = (1, 3)
"""Data field octets of a COP-1 directive (Unlock, Set V(R)) sent in clear under GCM."""

NONCE_SIZE: Final = 16
"""Octets of a resync challenge's nonce."""
RESYNC_CODE: Final = 0xE5
"""The resync directive's code: the first data octet of a resync frame (type-BC)."""
SESSION_LABEL: Final = b"MSR-SDLS-session"
"""Domain separation of the session key derivation (:func:`session_key`)."""
RESYNC_LABEL: Final = b"MSR-SDLS-resync"
"""Domain separation of the resync key derivation (:func:`resync_key`)."""
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


def auth_mask(segment: bool = True) -> bytes:
    """The authentication bit mask of the GCM suites: from the frame's start to the end of the
    security header, 1 for every bit that enters the AAD. Every bit of the primary header and
    (``segment``: data frames) of the segment header, the SPI; the IV's 12 octets are 0 (GCM
    authenticates the IV as its nonce). Yamcs's ``authMask`` of the SA, in hex."""
    seg = SEGMENT_HEADER_SIZE if segment else 0
    return b"\xff" * (TC_HEADER_SIZE + seg + 2) + bytes(IV_SIZE)


AUTH_MASK: Final = auth_mask(True)
"""The authentication bit mask of a data frame (20 octets): ``AUTH_MASK.hex()`` is the
``authMask`` of each SPI in Yamcs's TC frame link configuration."""


class Cipher(Protocol):
    """One key of one suite: secures and opens the frame data of a frame."""

    def seal(self, head: bytes, data: bytes) -> bytes:
        """The frame data and security trailer for ``data`` after ``head`` (the frame from its
        first octet through the security header)."""
        ...

    def open(self, raw: bytes, data_at: int, mac_at: int) -> bytes | None:
        """The payload of ``raw`` (frame data at ``data_at``, trailer at ``mac_at``), or None
        when the MAC does not verify."""
        ...


class _HmacCipher:
    """HMAC-SHA-256 truncated to 16 octets over the frame up to the trailer."""

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        self._mac = Hmac(key)

    def seal(self, head: bytes, data: bytes) -> bytes:
        return data + self._mac(head + data)

    def open(self, raw: bytes, data_at: int, mac_at: int) -> bytes | None:
        if hmac.compare_digest(self._mac(raw[:mac_at]), raw[mac_at : mac_at + MAC_SIZE]):
            return bytes(raw[data_at:mac_at])
        return None


_ZERO_IV: Final = bytes(IV_SIZE)


class _GcmCipher:
    """AES-256-GCM with a 96-bit IV (the header's last 12 octets) and a 128-bit tag; the AAD is
    the head ANDed with :func:`auth_mask`, which is the head with its IV zeroed."""

    __slots__ = ("_aead", "_encrypts")

    def __init__(self, key: bytes, encrypts: bool) -> None:
        self._aead = AESGCM(key)
        self._encrypts = encrypts

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """GCM: the ciphertext of ``plaintext`` followed by the 16-octet tag over ``aad`` and
        it (the primitive the frames use; checked against NIST's vectors)."""
        return self._aead.encrypt(iv, plaintext, aad)

    def decrypt(self, iv: bytes, sealed: bytes, aad: bytes) -> bytes | None:
        """GCM: the plaintext of ``sealed`` (ciphertext | tag), or None when the tag fails."""
        try:
            return self._aead.decrypt(iv, sealed, aad)
        except InvalidTag:
            return None

    def seal(self, head: bytes, data: bytes) -> bytes:
        iv = head[-IV_SIZE:]
        aad = head[:-IV_SIZE] + _ZERO_IV
        if self._encrypts:
            return self._aead.encrypt(iv, data, aad)  # ciphertext | tag
        return data + self._aead.encrypt(iv, b"", aad + data)  # clear data | tag

    def open(self, raw: bytes, data_at: int, mac_at: int) -> bytes | None:
        iv_at = data_at - IV_SIZE
        try:
            if self._encrypts:
                aad = raw[:iv_at] + _ZERO_IV
                return self._aead.decrypt(raw[iv_at:data_at], raw[data_at : mac_at + MAC_SIZE], aad)
            data = raw[data_at:mac_at]
            aad = raw[:iv_at] + _ZERO_IV + data
            self._aead.decrypt(raw[iv_at:data_at], raw[mac_at : mac_at + MAC_SIZE], aad)
        except InvalidTag:
            return None
        return data


class Suite:
    """One cipher suite: its wire sizes and its keyed :class:`Cipher` (see the module's
    docstring for each layout). Get one by name with :func:`suite_of`."""

    __slots__ = ("_ciphers", "encrypts", "gcm", "header_size", "name", "sn_max", "trailer_size")

    def __init__(self, name: SuiteName, header_size: int, *, gcm: bool, encrypts: bool) -> None:
        self.name = name
        self.header_size = header_size
        self.trailer_size = MAC_SIZE if header_size else 0
        self.sn_max = (1 << (8 * (header_size - 2))) - 1 if header_size else 0
        self.gcm = gcm
        self.encrypts = encrypts
        self._ciphers: dict[bytes, Cipher] = {}

    def __repr__(self) -> str:
        return f"Suite({self.name!r})"

    @property
    def clear(self) -> bool:
        """True for the suite without security (``clear``)."""
        return self.header_size == 0

    @property
    def overhead(self) -> int:
        """Octets the security header and trailer add to a frame."""
        return self.header_size + self.trailer_size

    def check_key(self, key: bytes, spi: int) -> None:
        """Raise :class:`~hal.errors.EncodeError` unless ``key`` fits this suite (AES-256:
        exactly 32 octets; HMAC: at least 16)."""
        if self.gcm and len(key) != GCM_KEY_SIZE:
            raise EncodeError(
                f"key of SPI {spi} has {len(key)} octets: {self.name} (AES-256) takes "
                f"{GCM_KEY_SIZE}"
            )
        if len(key) < MIN_KEY_SIZE:
            raise EncodeError(f"key for SPI {spi} is shorter than {MIN_KEY_SIZE} octets")

    def cipher(self, key: bytes) -> Cipher:
        """The cipher of ``key`` (made once per key: an AES key schedule is not free)."""
        cached = self._ciphers.get(key)
        if cached is None:
            if len(self._ciphers) >= 256:  # session keys come and go: keep the cache bounded
                self._ciphers.clear()
            cached = _GcmCipher(key, self.encrypts) if self.gcm else _HmacCipher(key)
            self._ciphers[key] = cached
        return cached

    def header(self, spi: int, sn: int) -> bytes:
        """The security header of ``spi`` and sequence number ``sn``."""
        return spi.to_bytes(2, "big") + sn.to_bytes(self.header_size - 2, "big")


_SUITES: Final[dict[str, Suite]] = {
    "aes-gcm": Suite("aes-gcm", GCM_HEADER_SIZE, gcm=True, encrypts=True),
    "aes-gcm-auth": Suite("aes-gcm-auth", GCM_HEADER_SIZE, gcm=True, encrypts=False),
    "hmac": Suite("hmac", SEC_HEADER_SIZE, gcm=False, encrypts=False),
    "clear": Suite("clear", 0, gcm=False, encrypts=False),
}


def suite_of(suite: str | Suite) -> Suite:
    """The suite named ``suite`` (one of :data:`SUITES`), or ``suite`` itself.

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(suite, Suite):
        return suite
    try:
        return _SUITES[suite]
    except KeyError:
        raise ValueError(f"unknown SDLS suite {suite!r} (known: {', '.join(SUITES)})") from None


def raw_key(key: bytes) -> bytes:
    """A key as Yamcs's ``keyFile`` holds it: the 32 raw octets of an AES-256 key, no encoding.

    Raises:
        EncodeError: not 32 octets.
    """
    if len(key) != GCM_KEY_SIZE:
        raise EncodeError(f"an AES-256 key has {GCM_KEY_SIZE} octets, not {len(key)}")
    return bytes(key)


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


def authenticate(
    frame: TcFrame, sa: SecurityAssociation, sn: int, suite: str | Suite = "hmac"
) -> bytes:
    """Encode ``frame`` (its ``data`` is the payload) secured under ``suite``: security header
    (``sa.spi``, ``sn``), frame data (encrypted under ``aes-gcm``), MAC and FECF. Under
    ``clear`` the frame is encoded as it is (no security fields).

    Raises:
        EncodeError: ``sn`` outside the suite's range, a key that does not fit the suite, a
            header field out of range, or too long a frame.
    """
    suite = suite_of(suite)
    if suite.clear:
        return frame.pack()
    if not 0 <= sn <= suite.sn_max:
        raise EncodeError(
            f"sequence number {sn} is outside 0..{suite.sn_max:#x}", reason="out_of_range"
        )
    if suite.gcm:
        suite.check_key(sa.key, sa.spi)
    head = frame.header_bytes(suite.overhead + len(frame.data)) + suite.header(sa.spi, sn)
    return append_crc16(head + suite.cipher(sa.key).seal(head, frame.data))


def _derive(label: bytes, key: bytes, spi: int, nonce: bytes) -> bytes:
    if len(nonce) != NONCE_SIZE:
        raise EncodeError(f"a challenge nonce has {NONCE_SIZE} octets, not {len(nonce)}")
    return hmac.new(key, label + spi.to_bytes(2, "big") + bytes(nonce), hashlib.sha256).digest()


def session_key(key: bytes, spi: int, nonce: bytes) -> bytes:
    """The key every frame of ``spi`` is secured with after the resync that answered the
    challenge ``nonce``: ``HMAC-SHA-256(key, "MSR-SDLS-session" | spi (2 octets) | nonce)``,
    32 octets (an AES-256 key: what an external ground such as Yamcs is handed after a
    resync, :func:`raw_key`)."""
    return _derive(SESSION_LABEL, key, spi, nonce)


def resync_key(key: bytes, spi: int, nonce: bytes) -> bytes:
    """The key of the GCM suites' resync frame over the challenge ``nonce``:
    ``HMAC-SHA-256(key, "MSR-SDLS-resync" | spi (2 octets) | nonce)``. Under GCM the SPI's key
    itself secures nothing: a ground of a new run starts its numbers (the IVs) low again, and a
    GCM key must never see an IV twice."""
    return _derive(RESYNC_LABEL, key, spi, nonce)


def session_association(sa: SecurityAssociation, nonce: bytes) -> SecurityAssociation:
    """The security association of the session that the resync over ``nonce`` opened."""
    return SecurityAssociation(sa.spi, session_key(sa.key, sa.spi, nonce))


def resync_frame(
    scid: int, vcid: int, sa: SecurityAssociation, nonce: bytes, sn: int,
    suite: str | Suite = "hmac",
) -> bytes:  # fmt: skip
    """The encoded resync frame answering the challenge ``nonce``: a type-BC frame carrying the
    resync directive, secured with the SPI's own key (``hmac``) or its resync key (GCM suites:
    :func:`resync_key`), never a session key, whose sequence number ``sn`` becomes the
    receiver's new base.

    Raises:
        EncodeError: a nonce of the wrong size, ``sn`` out of range, or the ``clear`` suite
            (nothing to resynchronise).
    """
    suite = suite_of(suite)
    if suite.clear:
        raise EncodeError("a clear uplink has no anti-replay to resynchronise")
    data = ResyncDirective.build({"nonce": bytes(nonce)}) if len(nonce) == NONCE_SIZE else b""
    if not data:
        raise EncodeError(f"a challenge nonce has {NONCE_SIZE} octets, not {len(nonce)}")
    frame = TcFrame(scid, vcid, data, bypass=1, control=1)
    if suite.gcm:  # authenticated only: the nonce is no secret (it came down in telemetry)
        signer = SecurityAssociation(sa.spi, resync_key(sa.key, sa.spi, nonce))
        return authenticate(frame, signer, sn, _SUITES["aes-gcm-auth"])
    return authenticate(frame, sa, sn, suite)


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
    """A frame that passed every check: ``frame.data`` is the payload (security fields removed,
    decrypted), ``spi`` and ``sn`` the key id and sequence number it was accepted under (``None``
    and 0 for a frame in clear: a ``clear`` link's, or a COP-1 directive under GCM). ``resync``
    is True for a resync frame the receiver has already acted on (it is not for FARM-1)."""

    __slots__ = ("frame", "resync", "sn", "spi")

    def __init__(self, frame: TcFrame, spi: int | None, sn: int, *, resync: bool = False) -> None:
        self.frame = frame
        self.spi = spi
        self.sn = sn
        self.resync = resync

    def __repr__(self) -> str:
        extra = ", resync" if self.resync else ""
        return f"VerifiedFrame({self.frame!r}, spi={self.spi}, sn={self.sn}{extra})"


class TcVerifier:
    """The receiving end of the secured uplink.

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
            from the store: frames of that SPI are secured with the session key.
        require_session: refuse every frame of an SPI without a session (``resync_needed``)
            except a resync frame answering the pending challenge (decision 0023). Without it
            an SPI with no session is secured with its key itself (links without a store).
        persist_resync: called with ``(spi, sn, nonce)`` before a resync is taken into use;
            if it raises, the resync is rejected (``persist_failed``) and nothing changes.
        suite: the cipher suite (:data:`SUITES`); ``hmac`` unless given (the bench file's
            default, ``aes-gcm``, is passed by the composition roots). Under ``clear`` every
            frame is taken as it is: no key, no anti-replay, no session.

    :meth:`verify` raises a :class:`~hal.errors.ProtocolError` subclass naming the reason;
    :attr:`rejects` counts them and :attr:`accepted` counts the good frames (resyncs included).

    Raises (from the constructor):
        EncodeError: no key fits the suite (AES-256: exactly 32 octets; under GCM a key of
            another size, another node's HMAC key, is left out: its SPI is ``unknown_spi``).
        ValueError: a window outside 1..2^32-1, or an unknown suite.
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
        suite: str | Suite = "hmac",
    ) -> None:
        if not 1 <= window <= SN_MAX:
            raise ValueError(f"anti-replay window {window} is outside 1..2^32-1")
        self.suite = suite = suite_of(suite)
        self._keys = {spi: SecurityAssociation(spi, key).key for spi, key in keys.items()}
        if suite.gcm:  # a key file may hold other nodes' HMAC keys: only AES-256 keys serve
            fit = {spi: key for spi, key in self._keys.items() if len(key) == GCM_KEY_SIZE}
            if not fit and self._keys:
                spi, key = next(iter(self._keys.items()))
                suite.check_key(key, spi)  # raises, naming the size needed
            self._keys = fit
        self._master = {spi: suite.cipher(key) for spi, key in self._keys.items()}
        self._smallest = TC_HEADER_SIZE + suite.overhead + FECF_SIZE
        self._gcm, self._clear, self._header = suite.gcm, suite.clear, suite.header_size
        # GCM and clear links take short clear directives: their size is checked further on
        self._first_check = MIN_TC_FRAME_SIZE if suite.gcm or suite.clear else self._smallest
        self.scid = scid
        self.last_sn: dict[int, int] = dict(last_sn or {})
        self._persist = persist
        self._persist_resync = persist_resync
        self.window = window
        self.require_session = require_session and not suite.clear
        self.sessions: dict[int, bytes] = {}
        self._ciphers: dict[int, Cipher] = {}
        for spi in self._keys:
            nonce = (sessions or {}).get(spi)
            if nonce is not None and not suite.clear:
                self._open_session(spi, bytes(nonce))
            elif not self.require_session:
                self._ciphers[spi] = self._master[spi]
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
        self._ciphers[spi] = self.suite.cipher(session_key(self._keys[spi], spi, nonce))

    def _verify(self, raw: bytes | bytearray | memoryview) -> VerifiedFrame:
        if type(raw) is not bytes:
            raw = bytes(raw)
        size = len(raw)
        smallest = self._first_check
        if size < smallest:
            raise TruncatedError(f"authenticated TC frame of {size} octets < {smallest}")
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
        if not control:
            sec_at = TC_HEADER_SIZE + SEGMENT_HEADER_SIZE
            if self._clear:
                return self._clear_data(raw, bypass, scid, vcid, seq)
            if size < self._smallest + SEGMENT_HEADER_SIZE:
                raise TruncatedError("TC frame too short for its security header and trailer")
        else:
            if not bypass:
                raise HeaderError("TC frame: control command with bypass flag 0 (type-AC)")
            sec_at = TC_HEADER_SIZE
            if self._clear or (
                self._gcm and size - TC_HEADER_SIZE - FECF_SIZE in CLEAR_DIRECTIVE_SIZES
            ):
                return self._clear_directive(raw, scid, vcid, seq)
            if size < self._smallest:
                raise TruncatedError(f"secured TC frame of {size} octets < {self._smallest}")
        data_at = sec_at + self._header
        spi = raw[sec_at] << 8 | raw[sec_at + 1]
        sn = int.from_bytes(raw[sec_at + 2 : data_at], "big")
        mac_at = size - FECF_SIZE - MAC_SIZE
        if control:
            if spi not in self._keys:
                raise SecurityError(
                    f"TC frame signed with unknown key id {spi}", reason="unknown_spi"
                )
            if mac_at - data_at == RESYNC_SIZE and raw[data_at] == RESYNC_CODE:
                return self._resync(raw, spi, sn, data_at, mac_at, scid, vcid, seq)
            if self._gcm:  # under GCM only a resync is a secured control frame
                raise SecurityError(
                    "secured TC control frame that is not a resync frame", reason="bad_length"
                )
        cipher = self._ciphers.get(spi)
        if cipher is None:
            if spi not in self._keys:
                raise SecurityError(
                    f"TC frame signed with unknown key id {spi}", reason="unknown_spi"
                )
            raise SecurityError(
                f"TC frame of key id {spi}: no session, the ground must resynchronise first",
                reason="resync_needed",
            )
        data = cipher.open(raw, data_at, mac_at)
        if data is None:
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
        if control:
            return VerifiedFrame(TcFrame(scid, vcid, data, seq=seq, bypass=1, control=1), spi, sn)
        segment = raw[TC_HEADER_SIZE]  # SEGMENT_LAYOUT: flags (2 bits) | MAP id (6 bits)
        frame = TcFrame(
            scid, vcid, data, seq=seq, bypass=bypass, map_id=segment & 0x3F, seg_flags=segment >> 6
        )
        return VerifiedFrame(frame, spi, sn)

    def _clear_directive(
        self, raw: bytes | bytearray | memoryview, scid: int, vcid: int, seq: int
    ) -> VerifiedFrame:
        """A control frame in clear: any under ``clear``; under GCM a COP-1 directive (1 or 3
        octets, which FARM-1 checks), taken only while the link has a session."""
        if not self.synchronised:
            raise SecurityError(
                "COP-1 directive in clear: no session, the ground must resynchronise first",
                reason="resync_needed",
            )
        data = bytes(raw[TC_HEADER_SIZE : len(raw) - FECF_SIZE])
        return VerifiedFrame(TcFrame(scid, vcid, data, seq=seq, bypass=1, control=1), None, 0)

    def _clear_data(
        self, raw: bytes | bytearray | memoryview, bypass: int, scid: int, vcid: int, seq: int
    ) -> VerifiedFrame:
        """A data frame of a ``clear`` link."""
        at = TC_HEADER_SIZE + SEGMENT_HEADER_SIZE
        if len(raw) < at + 1 + FECF_SIZE:
            raise TruncatedError("TC data frame too short for its segment header and data")
        seg_flags, map_id = SEGMENT_LAYOUT.unpack_from(raw, TC_HEADER_SIZE)
        data = bytes(raw[at : len(raw) - FECF_SIZE])
        frame = TcFrame(
            scid, vcid, data, seq=seq, bypass=bypass, map_id=map_id, seg_flags=seg_flags
        )
        return VerifiedFrame(frame, None, 0)

    def _resync(
        self, raw: bytes | bytearray | memoryview, spi: int, sn: int, data_at: int, mac_at: int,
        scid: int, vcid: int, seq: int,
    ) -> VerifiedFrame:  # fmt: skip
        """A resync frame: secured with the key itself (``hmac``) or the resync key of the nonce
        it names (GCM, authenticated only), over the pending challenge, to a new base above
        every number known; persisted before it is taken."""
        if self.suite.gcm:  # GMAC under the resync key of the nonce the frame names
            named = bytes(raw[data_at + 1 : mac_at])
            cipher = _SUITES["aes-gcm-auth"].cipher(resync_key(self._keys[spi], spi, named))
        else:
            cipher = self._master[spi]
        data = cipher.open(raw, data_at, mac_at)
        if data is None:
            raise SecurityError(
                f"resync frame MAC does not verify under key id {spi}", reason="bad_mac"
            )
        nonce = ResyncDirective.parse(data).nonce
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
