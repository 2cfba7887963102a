"""Packets in TC frames: blocking and segmentation (CCSDS 232.0-B-4 section 2.3.3, 4.1.3.2).

The data field of a TC data frame is one *frame data unit* whose segment header says what it
holds (sequence flags, bits 0-1)::

    11  unsegmented   one or more whole space packets back to back (blocking)
    01  first         the first part of one packet too long for a frame
    00  continuing    a middle part
    10  last          the last part

A unit never mixes a segment of one packet with another packet. Segmentation is per MAP
(multiplexer access point, bits 2-7 of the segment header): each MAP rebuilds its own packet.

:func:`segment` is the sending side (pure: packets in, frame data units out); the receiving
side, :class:`TcDesegmenter`, takes the units of frames that FARM-1 accepted, in order, and
returns whole packets. It never raises on received content: a unit that breaks the rules
(a continuing or last part with no first part, a first part while another packet is being
rebuilt, a packet longer than the limit, a blocked unit whose packet lengths do not add up) is
dropped with the partial packet it belonged to, counted by a named reason, and listed in
:attr:`TcDesegmenter.dropped` with the first octets of the packet when they are known (the
flight end answers a telecommand it can identify with an acceptance failure):

===================  =========================================================================
``orphan_segment``   a continuing or last part with no first part before it
``interrupted``      a first part or whole unit arrived while a packet was being rebuilt
``too_long``         a packet (declared or rebuilt) longer than ``max_packet_length``
``bad_packet``       a blocked unit whose next packet header is not a version-0 header
``truncated``        a blocked unit whose last packet runs past the end of the unit
``bad_length``       a rebuilt packet whose length field disagrees with its segments
``empty``            an unsegmented unit with no octets at all
===================  =========================================================================
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from typing import Final, NamedTuple

from hal.errors import EncodeError
from hal.protocol.spacepacket import (
    MAX_PACKET_SIZE,
    PRIMARY_HEADER_SIZE,
    SEQ_CONTINUATION,
    SEQ_FIRST,
    SEQ_LAST,
    SEQ_UNSEGMENTED,
)

__all__ = ["Dropped", "Segment", "TcDesegmenter", "segment"]

DEFAULT_MAX_PACKET: Final = 65542
MAX_DROPPED: Final = 64
"""Drops the desegmenter remembers until they are taken (the oldest go first)."""


class Segment(NamedTuple):
    """One frame data unit: its sequence flags, its octets, and the indices of the packets that
    end in it (the unit whose acceptance completes them)."""

    flags: int
    data: bytes
    completes: tuple[int, ...]


def segment(packets: Sequence[bytes], max_unit: int) -> list[Segment]:
    """Block short packets together and split long ones, in order.

    Args:
        packets: encoded space packets.
        max_unit: the most octets a frame data unit may hold (the frame's data field less the
            segment header and any security overhead).

    Raises:
        EncodeError: ``max_unit`` too small, or an empty packet.
    """
    if max_unit < PRIMARY_HEADER_SIZE + 1:
        raise EncodeError(f"frame data units of {max_unit} octets cannot carry packets")
    out: list[Segment] = []
    block = bytearray()
    ending: list[int] = []
    for index, packet in enumerate(packets):
        if not packet:
            raise EncodeError(f"packet {index} is empty", reason="too_short")
        if len(packet) > max_unit:
            if block:
                out.append(Segment(SEQ_UNSEGMENTED, bytes(block), tuple(ending)))
                block.clear()
                ending = []
            out.extend(_split(packet, max_unit, index))
            continue
        if len(block) + len(packet) > max_unit:
            out.append(Segment(SEQ_UNSEGMENTED, bytes(block), tuple(ending)))
            block.clear()
            ending = []
        block += packet
        ending.append(index)
    if block:
        out.append(Segment(SEQ_UNSEGMENTED, bytes(block), tuple(ending)))
    return out


def _split(packet: bytes, max_unit: int, index: int) -> list[Segment]:
    parts = [packet[at : at + max_unit] for at in range(0, len(packet), max_unit)]
    flags = [SEQ_FIRST] + [SEQ_CONTINUATION] * (len(parts) - 2) + [SEQ_LAST]
    return [
        Segment(flag, part, (index,) if flag == SEQ_LAST else ())
        for flag, part in zip(flags, parts, strict=True)
    ]


class Dropped(NamedTuple):
    """A packet dropped by the desegmenter: its reason, and its first octets (at most the
    primary header; empty when no packet start was seen)."""

    reason: str
    head: bytes


class TcDesegmenter:
    """Rebuilds packets from the frame data units of accepted TC frames, per MAP.

    Args:
        max_packet_length: the longest packet accepted, declared or rebuilt.

    :attr:`rejects` counts the dropped units by reason (see the module docstring);
    :attr:`dropped` lists the latest of them (at most :data:`MAX_DROPPED`) for the owner to
    take; :attr:`packets` counts the packets returned.
    """

    def __init__(self, max_packet_length: int = DEFAULT_MAX_PACKET) -> None:
        if not PRIMARY_HEADER_SIZE + 1 <= max_packet_length <= MAX_PACKET_SIZE:
            raise ValueError(f"max_packet_length {max_packet_length} is out of range")
        self.max_packet_length = max_packet_length
        self._partial: dict[int, bytearray] = {}
        self.rejects: Counter[str] = Counter()
        self.dropped: deque[Dropped] = deque(maxlen=MAX_DROPPED)
        self.packets = 0

    @property
    def buffered(self) -> int:
        """Octets held in packets being rebuilt."""
        return sum(len(part) for part in self._partial.values())

    def feed(self, map_id: int, flags: int, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Take the data unit of one accepted frame; return the whole packets it completes."""
        partial = self._partial.get(map_id)
        if flags == SEQ_UNSEGMENTED:
            if partial is not None:
                self._drop(map_id, "interrupted")
            if not data:
                self._reject("empty", b"")
            return self._unblock(data)
        if flags == SEQ_FIRST:
            if partial is not None:
                self._drop(map_id, "interrupted")
            self._partial[map_id] = partial = bytearray()
        elif partial is None:
            self._reject("orphan_segment", b"")
            return []
        partial += data
        if len(partial) > self.max_packet_length:
            self._drop(map_id, "too_long")
            return []
        if flags != SEQ_LAST:
            return []
        del self._partial[map_id]
        return self._unblock(partial, whole=True)

    def _drop(self, map_id: int, reason: str) -> None:
        self._reject(reason, bytes(self._partial.pop(map_id, b"")[:PRIMARY_HEADER_SIZE]))

    def _reject(self, reason: str, head: bytes) -> None:
        self.rejects[reason] += 1
        self.dropped.append(Dropped(reason, head))

    def _unblock(self, data: bytes | bytearray | memoryview, whole: bool = False) -> list[bytes]:
        out: list[bytes] = []
        size = len(data)
        at = 0
        while at < size:
            reason = ""
            length = 0
            if size - at < PRIMARY_HEADER_SIZE:
                reason = "truncated"
            elif data[at] & 0xE0:
                reason = "bad_packet"
            else:
                length = ((data[at + 4] << 8) | data[at + 5]) + PRIMARY_HEADER_SIZE + 1
                if length > self.max_packet_length:
                    reason = "too_long"
                elif at + length > size:
                    reason = "truncated"
                elif whole and length != size:
                    reason = "bad_length"  # a rebuilt packet fills its segments exactly
            if reason:
                self._reject(reason, bytes(data[at : at + PRIMARY_HEADER_SIZE]))
                break
            out.append(bytes(data[at : at + length]))
            at += length
        self.packets += len(out)
        return out
