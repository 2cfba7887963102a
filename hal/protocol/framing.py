"""Device-link framing: attached sync marker + space packet, and a hunting deframer.

Wire layout of one frame on a device link (architecture.md §3)::

    +-------------+------------------------------------------------+
    | 1A CF FC 1D | space packet (primary header ... CRC-16)       |
    +-------------+------------------------------------------------+
      ASM, 4 octets  length from the packet's own data length field

The attached sync marker is the CCSDS 131.0-B one. The packet's length field delimits the frame
and its PUS packet error control checks it; there is no other framing overhead.

The :class:`Deframer` takes a byte stream cut into arbitrary chunks (split or merged in any way)
and returns whole packets. It never raises on received bytes: every rejection is counted by a
named reason and the bytes it passes over are counted as skipped, so that at every moment::

    bytes_fed == bytes_delivered + bytes_skipped + len(buffered)

Rejection reasons:

==================  ===========================================================================
``bad_version``     the octet after a marker does not start a version-0 packet
``unknown_apid``    the APID has no maximum length configured and no default is set
``too_long``        declared length above the APID's maximum (rejected at once, before waiting)
``too_short``       declared length below the smallest packet the link carries
``crc``             the packet error control does not match (checked over received bytes only)
``incomplete``      the link went idle (see :meth:`Deframer.flush`) in the middle of a frame
==================  ===========================================================================

After any rejection the deframer skips one octet (the first of the marker) and hunts again, so a
forged header can delay the good frames behind it by at most one maximum frame of further
traffic. When the link goes quiet instead, the owner calls :meth:`Deframer.flush`: a frame whose
declared length never arrived is abandoned and the good frames buffered behind it are delivered at
once. The buffer never holds more than two maximum frames.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from hal.errors import EncodeError
from hal.protocol.crc import crc16
from hal.protocol.spacepacket import MAX_PACKET_SIZE, PRIMARY_HEADER_SIZE

__all__ = [
    "ASM",
    "DEFAULT_MAX_PACKET_LENGTH",
    "Deframer",
    "DeframerStats",
    "FixedLengthRule",
    "FrameRule",
    "PacketRule",
    "TcFrameRule",
    "frame",
]

ASM: Final = bytes.fromhex("1ACFFC1D")
ASM_SIZE: Final = len(ASM)
DEFAULT_MAX_PACKET_LENGTH: Final = 4096
DEFAULT_MIN_PACKET_LENGTH: Final = 13  # the smallest PUS-C packet: a TC with no application data


def frame(packet: bytes) -> bytes:
    """Frame one encoded packet for a device link: the ASM followed by the packet."""
    if len(packet) < PRIMARY_HEADER_SIZE + 1:
        raise EncodeError(f"a packet of {len(packet)} octets cannot be framed", reason="too_short")
    return ASM + packet


class FrameRule:
    """How a deframer reads the length of what follows a marker (a strategy, as in F Prime).

    Attributes:
        header_size: octets after the marker needed to know the length.
        max_size: the largest frame accepted (marker excluded).
    """

    header_size: int = PRIMARY_HEADER_SIZE
    max_size: int = DEFAULT_MAX_PACKET_LENGTH

    def length(self, buf: bytearray, at: int) -> int | str:
        """Total octets of the frame whose header starts at ``buf[at]``, or a rejection reason.

        Called only with ``header_size`` octets available; must not raise.
        """
        raise NotImplementedError


class PacketRule(FrameRule):
    """Device links: a space packet, its length from the primary header, limits per APID."""

    def __init__(
        self,
        max_length: int | None = DEFAULT_MAX_PACKET_LENGTH,
        *,
        apid_max: Mapping[int, int] | None = None,
        min_length: int = DEFAULT_MIN_PACKET_LENGTH,
    ) -> None:
        limits = dict(apid_max or {})
        every = [*limits.values(), *([max_length] if max_length is not None else [])]
        if not every:
            raise ValueError("Deframer needs max_length or at least one apid_max entry")
        if min_length < PRIMARY_HEADER_SIZE + 2:
            raise ValueError(f"min_length {min_length} leaves no room for the CRC")
        for value in every:
            if not min_length <= value <= MAX_PACKET_SIZE:
                raise ValueError(
                    f"maximum length {value} is outside {min_length}..{MAX_PACKET_SIZE}"
                )
        self.apid_max = limits
        self.default_max = max_length
        self.min_length = min_length
        self.header_size = PRIMARY_HEADER_SIZE
        self.max_size = max(every)

    def length(self, buf: bytearray, at: int) -> int | str:
        """Packet length from the primary header, checked against the APID's limits."""
        first = buf[at]
        if first & 0xE0:
            return "bad_version"
        apid = ((first & 0x07) << 8) | buf[at + 1]
        length = ((buf[at + 4] << 8) | buf[at + 5]) + PRIMARY_HEADER_SIZE + 1
        limit = self.apid_max.get(apid, self.default_max)
        if limit is None:
            return "unknown_apid"
        if length > limit:
            return "too_long"
        if length < self.min_length:
            return "too_short"
        return length


class TcFrameRule(FrameRule):
    """Uplink: a CCSDS TC transfer frame, its length from the 10-bit frame length field."""

    def __init__(self, max_length: int = 1024, min_length: int = 8) -> None:
        if not 8 <= min_length <= max_length <= 1024:
            raise ValueError(f"TC frame limits {min_length}..{max_length} are outside 8..1024")
        self.header_size = 5
        self.max_size = max_length
        self.min_length = min_length

    def length(self, buf: bytearray, at: int) -> int | str:
        """Frame length from the primary header; version and spare bits must be zero."""
        if buf[at] & 0xC0:
            return "bad_version"
        if buf[at] & 0x0C:
            return "bad_spare"
        length = (((buf[at + 2] & 0x03) << 8) | buf[at + 3]) + 1
        if length > self.max_size:
            return "too_long"
        if length < self.min_length:
            return "too_short"
        return length


class FixedLengthRule(FrameRule):
    """Downlink: fixed-length TM transfer frames (version 00 in the first two bits)."""

    def __init__(self, frame_length: int) -> None:
        if not 8 <= frame_length <= MAX_PACKET_SIZE:
            raise ValueError(f"frame length {frame_length} is outside 8..{MAX_PACKET_SIZE}")
        self.header_size = 1
        self.max_size = frame_length

    def length(self, buf: bytearray, at: int) -> int | str:
        """Always the configured length, once the version bits say TM."""
        if buf[at] & 0xC0:
            return "bad_version"
        return self.max_size


@dataclass
class DeframerStats:
    """What a :class:`Deframer` has seen.

    Attributes:
        bytes_fed: every octet given to :meth:`Deframer.feed`.
        packets: packets delivered.
        bytes_delivered: octets of delivered frames, markers included.
        bytes_skipped: octets passed over while hunting (noise and rejected frames).
        rejects: rejections by reason (see the module docstring).
    """

    bytes_fed: int = 0
    packets: int = 0
    bytes_delivered: int = 0
    bytes_skipped: int = 0
    rejects: Counter[str] = field(default_factory=Counter)

    @property
    def bytes_consumed(self) -> int:
        """Octets no longer buffered: delivered plus skipped."""
        return self.bytes_delivered + self.bytes_skipped

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly copy."""
        return {
            "bytes_fed": self.bytes_fed,
            "packets": self.packets,
            "bytes_delivered": self.bytes_delivered,
            "bytes_skipped": self.bytes_skipped,
            "rejects": dict(self.rejects),
        }


class Deframer:
    """Turns a device-link byte stream into whole, CRC-checked space packets.

    Args:
        max_length: largest packet (octets, marker excluded) accepted for an APID that
            ``apid_max`` does not list; ``None`` rejects such APIDs as ``unknown_apid``.
        apid_max: per-APID largest packet, from the board's ICD.
        min_length: smallest packet accepted (default: the smallest PUS-C TC, 13 octets).
        on_reject: called with the reason of each rejection (e.g. ``Link.record_error``).

    The deframer is pure: it never touches a port, a clock or a thread.
    """

    def __init__(
        self,
        max_length: int | None = DEFAULT_MAX_PACKET_LENGTH,
        *,
        apid_max: Mapping[int, int] | None = None,
        min_length: int = DEFAULT_MIN_PACKET_LENGTH,
        on_reject: Callable[[str], None] | None = None,
        rule: FrameRule | None = None,
    ) -> None:
        self.rule: FrameRule = rule or PacketRule(
            max_length, apid_max=apid_max, min_length=min_length
        )
        self.on_reject = on_reject
        """Called with the reason of each rejection; may be replaced by the owner of the link."""
        self.max_frame_size: int = ASM_SIZE + self.rule.max_size
        """The largest frame this deframer accepts, marker included."""
        self.buffer_limit: int = 2 * self.max_frame_size
        """The buffer never holds more octets than this."""
        self._buf = bytearray()
        self.stats = DeframerStats()

    @property
    def buffered(self) -> int:
        """Octets held, waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Drop buffered octets (counted as skipped), e.g. after the link was reopened."""
        self.stats.bytes_skipped += len(self._buf)
        self._buf.clear()

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        """Take the next octets of the stream; return the packets completed by them, in order.

        Never raises on the content of ``chunk``; rejections are counted in :attr:`stats`.
        """
        out: list[bytes] = []
        view = memoryview(chunk).cast("B")
        total = len(view)
        self.stats.bytes_fed += total
        offset = 0
        buf = self._buf
        while offset < total:
            room = self.buffer_limit - len(buf)
            buf += view[offset : offset + room]
            offset += room
            self._scan(out)
        return out

    def flush(self) -> list[bytes]:
        """The link went idle: give up on any partial frame and deliver what stands behind it.

        A damaged length field can make the deframer wait for octets that will never come, while
        good frames sit in the buffer behind the damaged one. Call this after a silence longer
        than the slowest legitimate frame takes to arrive. Each abandoned frame counts as
        ``incomplete``; leftover octets that cannot start a frame are skipped.
        """
        out: list[bytes] = []
        buf = self._buf
        while True:
            self._scan(out)
            if not buf:
                return out
            if buf.startswith(ASM):
                self._reject("incomplete")
                self.stats.bytes_skipped += 1
                del buf[:1]
                continue
            self.stats.bytes_skipped += len(buf)  # a partial marker with nothing after it
            buf.clear()
            return out

    def _reject(self, reason: str) -> None:
        self.stats.rejects[reason] += 1
        if self.on_reject is not None:
            self.on_reject(reason)

    def _scan(self, out: list[bytes]) -> None:
        buf = self._buf
        size = len(buf)
        pos = 0
        skipped = 0
        delivered = 0
        packets = 0
        measure = self.rule.length
        header_end = ASM_SIZE + self.rule.header_size
        find = buf.find
        while True:
            start = find(ASM, pos)
            if start < 0:
                keep = max(pos, size - (ASM_SIZE - 1))  # a marker may be split across chunks
                skipped += keep - pos
                pos = keep
                break
            skipped += start - pos
            pos = start
            if size - pos < header_end:
                break
            head = pos + ASM_SIZE
            length = measure(buf, head)
            if type(length) is int:
                end = head + length
                if end > size:
                    break  # wait for the rest: at most one maximum frame
                packet = bytes(buf[head:end])
                if crc16(packet) == 0:
                    out.append(packet)
                    packets += 1
                    delivered += end - pos
                    pos = end
                    continue
                reason = "crc"
            else:
                reason = str(length)
            self._reject(reason)
            skipped += 1
            pos += 1
        if pos:
            del buf[:pos]
        stats = self.stats
        stats.bytes_skipped += skipped
        stats.bytes_delivered += delivered
        stats.packets += packets
