"""CCSDS TM transfer frames for the downlink (CCSDS 132.0-B-3), with packet framing and reassembly.

Wire layout of one frame, fixed length per mission (:data:`DEFAULT_FRAME_LENGTH` = 1115 octets
unless configured otherwise; 32..2048 accepted), big-endian, bit 0 the most significant::

    +----------------+----------------------------------+-----------+----------+
    | primary header | transfer frame data field        | OCF       | FECF     |
    | 6 octets       | frame length - 6 - (4) - 2       | 4, if the | 2        |
    |                | octets of space packets          | OCF flag  | CRC-16   |
    +----------------+----------------------------------+-----------+----------+

Primary header (132.0-B-3 section 4.1.2)::

    bits  0-1   transfer frame version number  00 (TM)
    bits  2-11  spacecraft id                  0..1023
    bits 12-14  virtual channel id             0..7 (7 carries idle frames here)
    bit  15     operational control field flag 1 when the 4-octet OCF is present
    bits 16-23  master channel frame count     every frame of the spacecraft, modulo 256
    bits 24-31  virtual channel frame count    every frame of the virtual channel, modulo 256
    bits 32-47  frame data field status:
      bit  32     secondary header flag        0 (this mission flies no TM secondary header)
      bit  33     synchronisation flag         0: the data field carries space packets
      bit  34     packet order flag            0 (reserved while the sync flag is 0)
      bits 35-36  segment length id            11 (required while the sync flag is 0)
      bits 37-47  first header pointer         offset in the data field of the first packet
                                               header that starts in this frame; 0x7FF: none
                                               starts here, 0x7FE: only idle data

The operational control field (4.1.5) carries the CLCW of COP-1 (:mod:`hal.protocol.clcw`); here
it is an opaque 32-bit value. The frame error control field (4.1.6) is the CRC-16/CCITT-FALSE of
every octet of the frame before it (:func:`hal.protocol.crc.crc16`); this mission always sends it.

Packets are written back to back into the data field of their virtual channel and may span frames.
Three parts:

* :class:`TmFrame` encodes and decodes one frame (:meth:`TmFrame.from_raw`, :meth:`TmFrame.pack`);
  decoding untrusted bytes raises only :class:`~hal.errors.ProtocolError` subclasses.
* :class:`TmFramer` (flight) queues packets per virtual channel and cuts fixed-length frames,
  counting frames per master and virtual channel, filling a flushed frame with an idle packet and
  producing idle frames when the synchronous downlink has nothing to send.
* :class:`TmReassembler` (ground) checks frames, reports frame-count gaps per virtual channel and
  master channel, and rebuilds whole packets, resynchronising on the first header pointer after
  any loss; it never raises on received bytes and never delivers a packet it could not complete.

Mission choices (decision 0005): idle packets that would be shorter than the 7-octet minimum
continue into the next frame; virtual channels are served in strict priority, lowest id first
unless configured otherwise.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import construct as cs

from hal.errors import EncodeError, HeaderError, LengthError, ProtocolError
from hal.protocol.crc import append_crc16, check_crc16
from hal.protocol.framing import DEFAULT_MAX_PACKET_LENGTH
from hal.protocol.layout import compile_fixed
from hal.protocol.spacepacket import (
    APID_IDLE,
    MAX_PACKET_SIZE,
    PRIMARY_HEADER_SIZE,
    PRIMARY_LAYOUT,
    SEQ_COUNT_MODULO,
    SEQ_UNSEGMENTED,
    TYPE_TM,
)

__all__ = [
    "DEFAULT_FRAME_LENGTH",
    "FHP_IDLE_ONLY",
    "FHP_NO_PACKET_START",
    "IDLE_FILL",
    "MAX_FRAME_LENGTH",
    "MIN_FRAME_LENGTH",
    "TM_HEADER_LAYOUT",
    "TM_HEADER_SIZE",
    "VC_EVENTS",
    "VC_IDLE",
    "VC_PLAYBACK",
    "VC_REALTIME_HK",
    "TmFrame",
    "TmFramer",
    "TmFramerStats",
    "TmPrimaryHeader",
    "TmReassembler",
    "TmReassemblerStats",
    "data_field_size",
    "tm_frame_declaration",
]

TM_HEADER_SIZE: Final = 6
OCF_SIZE: Final = 4
FECF_SIZE: Final = 2
MIN_FRAME_LENGTH: Final = 32
MAX_FRAME_LENGTH: Final = 2048
DEFAULT_FRAME_LENGTH: Final = 1115  # 5 x 223: Reed-Solomon (255,223) with interleave depth 5
MAX_SCID: Final = 0x3FF
VC_COUNT: Final = 8
COUNT_MODULO: Final = 256

FHP_NO_PACKET_START: Final = 0x7FF
FHP_IDLE_ONLY: Final = 0x7FE
SEGMENT_LENGTH_ID_PACKETS: Final = 0b11

VC_REALTIME_HK: Final = 0
"""Real-time housekeeping (PUS service 3) and other live telemetry."""
VC_EVENTS: Final = 1
"""Event reports (PUS service 5) and verification reports (PUS service 1)."""
VC_PLAYBACK: Final = 2
"""Stored telemetry played back from the on-board store."""
VC_IDLE: Final = 7
"""Idle (only idle data) frames sent when no virtual channel has a frame ready."""

IDLE_FILL: Final = 0x55
"""Octet value of idle frame data and of idle packet data (mission choice)."""
MIN_IDLE_PACKET: Final = PRIMARY_HEADER_SIZE + 1
DEFAULT_PRIORITY: Final = (0, 1, 2, 3, 4, 5, 6)
DEFAULT_MAX_QUEUED: Final = 256 * 1024

TmPrimaryHeader = cs.BitStruct(
    "version" / cs.Const(0, cs.BitsInteger(2)) * "transfer frame version number, 0 (TM)",
    "scid" / cs.BitsInteger(10) * "spacecraft id, 0..1023",
    "vcid" / cs.BitsInteger(3) * "virtual channel id, 0..7 (7 idle here)",
    "ocf_flag" / cs.BitsInteger(1) * "1 when the 4-octet operational control field is present",
    "mc_count" / cs.BitsInteger(8) * "master channel frame count, 0..255, wraps",
    "vc_count" / cs.BitsInteger(8) * "virtual channel frame count, 0..255, wraps, per VC",
    "sec_header_flag" / cs.BitsInteger(1) * "1 when a TM secondary header follows; 0 here",
    "sync_flag" / cs.BitsInteger(1) * "0: the data field carries space packets, 0..1",
    "packet_order_flag" / cs.BitsInteger(1) * "reserved, 0 while the sync flag is 0, 0..1",
    "segment_length_id" / cs.BitsInteger(2) * "0b11 while the sync flag is 0, 0..3",
    "first_header_pointer"
    / cs.BitsInteger(11)
    * "offset of the first packet header starting in the data field, 0..2047; "
    "0x7FF none starts here, 0x7FE only idle data",
)
"""The 6-octet TM transfer frame primary header, as construct declares it (single source)."""

TM_HEADER_LAYOUT = compile_fixed(cs.Struct("header" / TmPrimaryHeader), "tm_frame_header")
_header_pack = TM_HEADER_LAYOUT.pack
_header_unpack = TM_HEADER_LAYOUT.unpack_from
_primary_pack = PRIMARY_LAYOUT.pack


def data_field_size(frame_length: int = DEFAULT_FRAME_LENGTH, has_ocf: bool = True) -> int:
    """Octets of the transfer frame data field for a frame length and OCF choice.

    Raises:
        ValueError: ``frame_length`` is outside 32..2048 (a configuration error, not a received
            one).
    """
    if not MIN_FRAME_LENGTH <= frame_length <= MAX_FRAME_LENGTH:
        raise ValueError(
            f"TM frame length {frame_length} is outside {MIN_FRAME_LENGTH}..{MAX_FRAME_LENGTH}"
        )
    return frame_length - TM_HEADER_SIZE - (OCF_SIZE if has_ocf else 0) - FECF_SIZE


def tm_frame_declaration(
    frame_length: int = DEFAULT_FRAME_LENGTH, has_ocf: bool = True
) -> cs.Struct:
    """The whole frame as construct declares it, for one mission configuration.

    A reference declaration (documentation, ICD export, tests); the classes below use the
    generated header codec and compute the FECF themselves.
    """
    trailer = [
        *(["ocf" / cs.Int32ub * "operational control field: the CLCW, 32 bits"] if has_ocf else []),
        "fecf" / cs.Int16ub * "frame error control: CRC-16/CCITT-FALSE over everything before it",
    ]
    return cs.Struct(
        "header" / TmPrimaryHeader,
        "data" / cs.Bytes(data_field_size(frame_length, has_ocf)) * "space packets, back to back",
        *trailer,
    )


def _pack_frame(
    scid: int,
    vcid: int,
    mc_count: int,
    vc_count: int,
    first_header_pointer: int,
    data: bytes | bytearray,
    ocf: int | None,
    sync_flag: int = 0,
    packet_order_flag: int = 0,
    segment_length_id: int = SEGMENT_LENGTH_ID_PACKETS,
) -> bytes:
    head = _header_pack(
        scid,
        vcid,
        0 if ocf is None else 1,
        mc_count,
        vc_count,
        0,
        sync_flag,
        packet_order_flag,
        segment_length_id,
        first_header_pointer,
    )
    if ocf is None:
        body = head + data
    else:
        if not 0 <= ocf <= 0xFFFFFFFF:
            raise EncodeError(f"ocf = {ocf!r} is outside 0..0xFFFFFFFF", reason="out_of_range")
        body = head + data + ocf.to_bytes(OCF_SIZE, "big")
    return append_crc16(body)


class TmFrame:
    """One TM transfer frame: the header fields, the data field, the OCF.

    Attributes:
        scid: spacecraft id, 0..1023.
        vcid: virtual channel id, 0..7.
        data: the transfer frame data field (its length fixes the frame length).
        mc_count: master channel frame count, 0..255.
        vc_count: virtual channel frame count, 0..255.
        first_header_pointer: offset in ``data`` of the first packet header starting in this
            frame, or :data:`FHP_NO_PACKET_START` (0x7FF), or :data:`FHP_IDLE_ONLY` (0x7FE).
        ocf: the operational control field as a 32-bit int (the CLCW), or None when absent.
        sync_flag: 0 when the data field carries packets (the only mode this mission sends).
        packet_order_flag: reserved, 0 while ``sync_flag`` is 0.
        segment_length_id: 0b11 while ``sync_flag`` is 0.

    The secondary header flag is always 0: this mission flies no TM secondary header.
    """

    __slots__ = (
        "data",
        "first_header_pointer",
        "mc_count",
        "ocf",
        "packet_order_flag",
        "scid",
        "segment_length_id",
        "sync_flag",
        "vc_count",
        "vcid",
    )

    def __init__(
        self,
        scid: int,
        vcid: int,
        data: bytes,
        *,
        mc_count: int = 0,
        vc_count: int = 0,
        first_header_pointer: int = 0,
        ocf: int | None = None,
        sync_flag: int = 0,
        packet_order_flag: int = 0,
        segment_length_id: int = SEGMENT_LENGTH_ID_PACKETS,
    ) -> None:
        self.scid = scid
        self.vcid = vcid
        self.data = bytes(data)
        self.mc_count = mc_count
        self.vc_count = vc_count
        self.first_header_pointer = first_header_pointer
        self.ocf = ocf
        self.sync_flag = sync_flag
        self.packet_order_flag = packet_order_flag
        self.segment_length_id = segment_length_id

    @property
    def ocf_flag(self) -> int:
        """1 when the frame carries the operational control field."""
        return 0 if self.ocf is None else 1

    @property
    def frame_length(self) -> int:
        """Octets of the encoded frame."""
        return TM_HEADER_SIZE + len(self.data) + OCF_SIZE * self.ocf_flag + FECF_SIZE

    @property
    def is_idle(self) -> bool:
        """True when the data field holds only idle data (first header pointer 0x7FE)."""
        return self.sync_flag == 0 and self.first_header_pointer == FHP_IDLE_ONLY

    def pack(self) -> bytes:
        """Encode, with the frame error control computed.

        Raises:
            EncodeError: a field out of its range (named), a frame length outside 32..2048
                (``frame_length``), or a first header pointer beyond the data field.
        """
        length = self.frame_length
        if not MIN_FRAME_LENGTH <= length <= MAX_FRAME_LENGTH:
            raise EncodeError(
                f"frame of {length} octets is outside {MIN_FRAME_LENGTH}..{MAX_FRAME_LENGTH}",
                reason="frame_length",
            )
        fhp = self.first_header_pointer
        if self.sync_flag == 0 and len(self.data) <= fhp < FHP_IDLE_ONLY:
            raise EncodeError(
                f"first header pointer {fhp} is beyond the {len(self.data)}-octet data field",
                reason="first_header_pointer",
            )
        return _pack_frame(
            self.scid,
            self.vcid,
            self.mc_count,
            self.vc_count,
            fhp,
            self.data,
            self.ocf,
            self.sync_flag,
            self.packet_order_flag,
            self.segment_length_id,
        )

    @classmethod
    def from_raw(
        cls,
        raw: bytes | bytearray | memoryview,
        *,
        frame_length: int = DEFAULT_FRAME_LENGTH,
        has_ocf: bool = True,
        scid: int | None = None,
    ) -> TmFrame:
        """Decode one whole frame of the configured length.

        Args:
            raw: the frame as received (attached sync marker already removed).
            frame_length: the mission's fixed frame length, 32..2048.
            has_ocf: whether the mission's frames carry the operational control field.
            scid: the expected spacecraft id; None accepts any.

        Raises:
            LengthError: ``raw`` is not ``frame_length`` octets (reason ``frame_length``).
            CrcError: the frame error control does not match (reason ``crc``); checked before
                any header field, so a damaged header is reported as a CRC error.
            HeaderError: version not 0 (``bad_version``), another spacecraft (``wrong_scid``),
                OCF flag against the configuration (``ocf_flag``), a secondary header
                (``secondary_header``), a reserved value while the sync flag is 0
                (``packet_order_flag``, ``segment_length_id``) or a first header pointer beyond
                the data field (``first_header_pointer``).
            ValueError: ``frame_length`` itself is outside 32..2048 (configuration).
        """
        size = data_field_size(frame_length, has_ocf)
        if len(raw) != frame_length:
            raise LengthError(
                f"TM frame is {len(raw)} octets, the mission's frames are {frame_length}",
                reason="frame_length",
            )
        check_crc16(raw, "frame error control")
        (_, frame_scid, vcid, ocf_flag, mc, vc, shf, sync, pof, slid, fhp) = _header_unpack(raw)
        if scid is not None and frame_scid != scid:
            raise HeaderError(
                f"spacecraft id is {frame_scid}, expected {scid}", reason="wrong_scid"
            )
        if ocf_flag != has_ocf:
            raise HeaderError(
                f"OCF flag is {ocf_flag}, the mission's frames {'carry' if has_ocf else 'omit'} "
                "the OCF",
                reason="ocf_flag",
            )
        if shf:
            raise HeaderError(
                "secondary header flag is 1; this mission flies none", reason="secondary_header"
            )
        if sync == 0:
            if pof:
                raise HeaderError(
                    "packet order flag is 1 while the sync flag is 0", reason="packet_order_flag"
                )
            if slid != SEGMENT_LENGTH_ID_PACKETS:
                raise HeaderError(
                    f"segment length id is {slid:#04b} while the sync flag is 0, expected 0b11",
                    reason="segment_length_id",
                )
            if size <= fhp < FHP_IDLE_ONLY:
                raise HeaderError(
                    f"first header pointer {fhp} is beyond the {size}-octet data field",
                    reason="first_header_pointer",
                )
        self = object.__new__(cls)
        end = TM_HEADER_SIZE + size
        self.scid = frame_scid
        self.vcid = vcid
        self.data = bytes(raw[TM_HEADER_SIZE:end])
        self.mc_count = mc
        self.vc_count = vc
        self.first_header_pointer = fhp
        self.ocf = int.from_bytes(raw[end : end + OCF_SIZE], "big") if has_ocf else None
        self.sync_flag = sync
        self.packet_order_flag = pof
        self.segment_length_id = slid
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TmFrame):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.scid, self.vcid, self.mc_count, self.vc_count, self.data))

    def __repr__(self) -> str:
        ocf = "none" if self.ocf is None else f"0x{self.ocf:08X}"
        return (
            f"TmFrame(scid={self.scid}, vc={self.vcid}, mc={self.mc_count}, vcc={self.vc_count}, "
            f"fhp=0x{self.first_header_pointer:03X}, data={len(self.data)} octets, ocf={ocf})"
        )


@dataclass
class TmFramerStats:
    """What a :class:`TmFramer` has sent.

    Attributes:
        frames: frames produced, per virtual channel (idle frames under :data:`VC_IDLE`).
        packets: packets accepted, per virtual channel.
        idle_packets: idle packets written to fill flushed frames.
        dropped_packets: packets refused because their virtual channel's queue was full, per VC.
        dropped_octets: octets of those packets.
    """

    frames: Counter[int] = field(default_factory=Counter)
    packets: Counter[int] = field(default_factory=Counter)
    idle_packets: int = 0
    dropped_packets: Counter[int] = field(default_factory=Counter)
    dropped_octets: int = 0

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly copy."""
        return {
            "frames": dict(self.frames),
            "packets": dict(self.packets),
            "idle_packets": self.idle_packets,
            "dropped_packets": dict(self.dropped_packets),
            "dropped_octets": self.dropped_octets,
        }


class _VcQueue:
    """The packet stream of one virtual channel waiting to be cut into frames."""

    __slots__ = ("base", "buf", "count", "starts")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0]
        self.starts: deque[int] = deque()  # stream offsets where a packet header starts
        self.count = 0  # virtual channel frame count of the next frame


class TmFramer:
    """Flight side: packs space packets into fixed-length TM frames per virtual channel.

    Args:
        scid: this spacecraft's id, 0..1023.
        frame_length: the mission's fixed frame length, 32..2048 octets.
        has_ocf: whether every frame carries the operational control field.
        clcw: called once per frame (when it is cut) for the OCF value, a 32-bit int (e.g.
            ``lambda: farm.clcw().to_int()``). When it returns None, or none is given, the last
            value it gave is repeated (0 before any). Unused when ``has_ocf`` is False.
        priority: the order in which virtual channels 0..6 are served (strict priority: a ready
            frame of an earlier channel always goes first). Default: lowest id first, so
            real-time housekeeping, then events, then playback.
        max_queued: octets a virtual channel may hold waiting to be sent; beyond it
            :meth:`add_packet` refuses packets (counted in :attr:`stats`).

    Frames are cut when they are taken (:meth:`next_frame`), so the master channel counter
    follows the order of transmission and the OCF carries the freshest CLCW. Pure: no clock, no
    thread, no I/O; the owner of the downlink decides when a frame goes.
    """

    def __init__(
        self,
        scid: int,
        *,
        frame_length: int = DEFAULT_FRAME_LENGTH,
        has_ocf: bool = True,
        clcw: Callable[[], int | None] | None = None,
        priority: Iterable[int] = DEFAULT_PRIORITY,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        if not 0 <= scid <= MAX_SCID:
            raise ValueError(f"spacecraft id {scid} is outside 0..{MAX_SCID}")
        self.data_size: int = data_field_size(frame_length, has_ocf)
        """Octets of the data field of every frame."""
        order = tuple(priority)
        if len(set(order)) != len(order) or not set(order) <= set(range(VC_IDLE)):
            raise ValueError(f"priority {order} must list distinct virtual channels of 0..6")
        if max_queued < MIN_IDLE_PACKET:
            raise ValueError(f"max_queued {max_queued} is too small")
        self.scid = scid
        self.frame_length = frame_length
        self.has_ocf = has_ocf
        self.clcw = clcw
        self.priority: tuple[int, ...] = order
        self.max_queued = max_queued
        self._queues = {vcid: _VcQueue() for vcid in order}
        self._idle_count = 0
        self._mc_count = 0
        self._ocf = 0
        self._idle_seq = 0
        self._idle_data = bytes([IDLE_FILL]) * self.data_size
        self.stats = TmFramerStats()

    def _queue(self, vcid: int) -> _VcQueue:
        queue = self._queues.get(vcid)
        if queue is None:
            raise EncodeError(
                f"virtual channel {vcid} is not one of {self.priority}", reason="bad_vcid"
            )
        return queue

    def add_packet(self, vcid: int, packet: bytes | bytearray | memoryview) -> bool:
        """Queue one encoded space packet on a virtual channel.

        Returns:
            True when queued; False when the channel already holds ``max_queued`` octets (the
            packet is dropped and counted, so a stalled downlink cannot exhaust memory).

        Raises:
            EncodeError: ``vcid`` is not a configured packet channel (``bad_vcid``; VC 7 is kept
                for idle frames), or ``packet`` is not one whole space packet (``bad_length``,
                ``bad_version``) or can never fit the queue (``too_long``).
        """
        queue = self._queue(vcid)
        size = len(packet)
        if size < MIN_IDLE_PACKET:
            raise EncodeError(f"a space packet of {size} octets is too short", reason="bad_length")
        if size > self.max_queued:
            raise EncodeError(
                f"a packet of {size} octets exceeds the queue of {self.max_queued}",
                reason="too_long",
            )
        if packet[0] & 0xE0:
            raise EncodeError("packet version number is not 0", reason="bad_version")
        declared = ((packet[4] << 8) | packet[5]) + PRIMARY_HEADER_SIZE + 1
        if declared != size:
            raise EncodeError(
                f"packet length field says {declared} octets, got {size}", reason="bad_length"
            )
        if len(queue.buf) + size > self.max_queued:
            self.stats.dropped_packets[vcid] += 1
            self.stats.dropped_octets += size
            return False
        queue.starts.append(queue.base + len(queue.buf))
        queue.buf += packet
        self.stats.packets[vcid] += 1
        return True

    def pending(self, vcid: int) -> int:
        """Octets queued on a virtual channel, not yet in a frame."""
        return len(self._queue(vcid).buf)

    @property
    def ready(self) -> int:
        """Whole frames ready to send, over all virtual channels."""
        return sum(len(q.buf) // self.data_size for q in self._queues.values())

    def flush(self, vcid: int | None = None) -> None:
        """Complete the partial frame of a virtual channel (or of every one) with an idle packet.

        The idle packet (APID 0x7FF, data octets :data:`IDLE_FILL`) fills the room left in the
        frame exactly. When that room is under the 7-octet minimum packet, the idle packet is
        made longer by one whole data field: it continues into, and fills, the next frame (whose
        first header pointer is then 0x7FF), as missions do. Nothing happens when no partial
        frame is queued.
        """
        for channel in self.priority if vcid is None else (vcid,):
            queue = self._queue(channel)
            room = -len(queue.buf) % self.data_size
            if room == 0:
                continue
            if room < MIN_IDLE_PACKET:
                room += self.data_size
            queue.starts.append(queue.base + len(queue.buf))
            queue.buf += _primary_pack(
                TYPE_TM, 0, APID_IDLE, SEQ_UNSEGMENTED, self._idle_seq, room - MIN_IDLE_PACKET
            )
            queue.buf += bytes([IDLE_FILL]) * (room - PRIMARY_HEADER_SIZE)
            self._idle_seq = (self._idle_seq + 1) % SEQ_COUNT_MODULO
            self.stats.idle_packets += 1

    def _next_ocf(self) -> int | None:
        if not self.has_ocf:
            return None
        if self.clcw is not None:
            value = self.clcw()
            if value is not None:
                self._ocf = value
        return self._ocf

    def _emit(self, vcid: int, count: int, fhp: int, data: bytes | bytearray) -> bytes:
        raw = _pack_frame(self.scid, vcid, self._mc_count, count, fhp, data, self._next_ocf())
        self._mc_count = (self._mc_count + 1) % COUNT_MODULO
        self.stats.frames[vcid] += 1
        return raw

    def next_frame(self) -> bytes | None:
        """Cut and return the next ready frame in priority order, or None when none is ready."""
        size = self.data_size
        for vcid in self.priority:
            queue = self._queues[vcid]
            if len(queue.buf) < size:
                continue
            end = queue.base + size
            fhp = FHP_NO_PACKET_START
            starts = queue.starts
            if starts and starts[0] < end:
                fhp = starts[0] - queue.base
                while starts and starts[0] < end:
                    starts.popleft()
            raw = self._emit(vcid, queue.count, fhp, queue.buf[:size])
            del queue.buf[:size]
            queue.base = end
            queue.count = (queue.count + 1) % COUNT_MODULO
            return raw
        return None

    def frames(self, max_frames: int | None = None) -> list[bytes]:
        """Cut every ready frame (or at most ``max_frames``), in priority order."""
        out: list[bytes] = []
        while max_frames is None or len(out) < max_frames:
            raw = self.next_frame()
            if raw is None:
                break
            out.append(raw)
        return out

    def idle_frame(self) -> bytes:
        """An idle frame on :data:`VC_IDLE`: first header pointer 0x7FE, data :data:`IDLE_FILL`.

        It counts on the master channel like any frame, and carries the OCF, so the CLCW keeps
        flowing when there is no telemetry.
        """
        raw = self._emit(VC_IDLE, self._idle_count, FHP_IDLE_ONLY, self._idle_data)
        self._idle_count = (self._idle_count + 1) % COUNT_MODULO
        return raw

    def next_frame_or_idle(self) -> bytes:
        """The frame for the next slot of a synchronous downlink: a ready one, else idle."""
        raw = self.next_frame()
        return self.idle_frame() if raw is None else raw


@dataclass
class TmReassemblerStats:
    """What a :class:`TmReassembler` has seen. Nothing is lost silently.

    Attributes:
        frames: frames accepted (FECF and header good), idle frames included.
        bad_frames: frames rejected, by reason (``crc``, ``frame_length``, ``wrong_scid``,
            ``bad_version``, ``ocf_flag``, ..., and ``sync_flag`` for frames not carrying
            packets).
        idle_frames: accepted frames holding only idle data (first header pointer 0x7FE).
        gaps: virtual channel frame count discontinuities, per virtual channel.
        lost_frames: frames missing by the virtual channel frame count, per virtual channel.
        mc_gaps: master channel frame count discontinuities.
        mc_lost_frames: frames missing by the master channel frame count.
        packets: whole packets delivered.
        idle_packets: whole idle packets (APID 0x7FF) dropped.
        discarded_packets: partial packets abandoned (a gap, an inconsistent first header
            pointer, a reset); never delivered.
        resyncs: resynchronisations on a first header pointer, by cause (``gap``, ``too_long``,
            ``bad_packet_header``, ``fhp_mismatch``).
        bytes_received: data-field octets of accepted packet frames (idle-data frames excluded).
        bytes_delivered: octets of delivered packets.
        bytes_idle: octets of dropped idle packets.
        bytes_discarded: octets passed over: partial packets abandoned and data before the first
            header pointer while not synchronised.

    At every moment ``bytes_received == bytes_delivered + bytes_idle + bytes_discarded +``
    :attr:`TmReassembler.buffered`.
    """

    frames: int = 0
    bad_frames: Counter[str] = field(default_factory=Counter)
    idle_frames: int = 0
    gaps: Counter[int] = field(default_factory=Counter)
    lost_frames: Counter[int] = field(default_factory=Counter)
    mc_gaps: int = 0
    mc_lost_frames: int = 0
    packets: int = 0
    idle_packets: int = 0
    discarded_packets: int = 0
    resyncs: Counter[str] = field(default_factory=Counter)
    bytes_received: int = 0
    bytes_delivered: int = 0
    bytes_idle: int = 0
    bytes_discarded: int = 0

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly copy."""
        return {
            "frames": self.frames,
            "bad_frames": dict(self.bad_frames),
            "idle_frames": self.idle_frames,
            "gaps": dict(self.gaps),
            "lost_frames": dict(self.lost_frames),
            "mc_gaps": self.mc_gaps,
            "mc_lost_frames": self.mc_lost_frames,
            "packets": self.packets,
            "idle_packets": self.idle_packets,
            "discarded_packets": self.discarded_packets,
            "resyncs": dict(self.resyncs),
            "bytes_received": self.bytes_received,
            "bytes_delivered": self.bytes_delivered,
            "bytes_idle": self.bytes_idle,
            "bytes_discarded": self.bytes_discarded,
        }


class _VcState:
    """Reassembly state of one virtual channel."""

    __slots__ = ("last_count", "partial", "synced", "total")

    def __init__(self) -> None:
        self.partial = bytearray()  # the start of a packet that continues in the next frame
        self.total = 0  # its full length, 0 while its header is incomplete
        self.synced = False  # the data at the start of the next frame is known
        self.last_count: int | None = None


class TmReassembler:
    """Ground side: checks TM frames and rebuilds the space packets they carry.

    Args:
        scid: the expected spacecraft id; frames of another are rejected (``wrong_scid``).
            None accepts any.
        frame_length: the mission's fixed frame length, 32..2048 octets.
        has_ocf: whether the mission's frames carry the operational control field.
        max_packet_length: the longest packet accepted; a header declaring more makes the
            virtual channel resynchronise at the next frame's first header pointer.
        on_ocf: called with the OCF value of every accepted frame (e.g. the FOP-1 CLCW input).

    Feed frames in arrival order. Each virtual channel's frame count is followed: a jump is a
    gap, counted per channel with the number of frames lost (as is the master channel count),
    and the packet that was being rebuilt is discarded, never delivered; reassembly resumes at
    the first header pointer of the frame that revealed the gap. Pure: no clock, no I/O.
    """

    def __init__(
        self,
        scid: int | None,
        *,
        frame_length: int = DEFAULT_FRAME_LENGTH,
        has_ocf: bool = True,
        max_packet_length: int = DEFAULT_MAX_PACKET_LENGTH,
        on_ocf: Callable[[int], None] | None = None,
    ) -> None:
        self.data_size: int = data_field_size(frame_length, has_ocf)
        """Octets of the data field of every frame."""
        if not MIN_IDLE_PACKET <= max_packet_length <= MAX_PACKET_SIZE:
            raise ValueError(
                f"max_packet_length {max_packet_length} is outside "
                f"{MIN_IDLE_PACKET}..{MAX_PACKET_SIZE}"
            )
        self.scid = scid
        self.frame_length = frame_length
        self.has_ocf = has_ocf
        self.max_packet_length = max_packet_length
        self.on_ocf = on_ocf
        self._vcs = [_VcState() for _ in range(VC_COUNT)]
        self._last_mc: int | None = None
        self.last_ocf: int | None = None
        """The OCF of the latest accepted frame (the latest CLCW), None before any."""
        self.stats = TmReassemblerStats()

    @property
    def buffered(self) -> int:
        """Octets held in partial packets, waiting for the next frame of their channel."""
        return sum(len(vc.partial) for vc in self._vcs)

    def reset(self) -> None:
        """Forget all channel state (e.g. after losing the carrier); partial packets are counted
        as discarded and every channel resynchronises on its next frame without a gap."""
        for vc in self._vcs:
            self._discard_partial(vc)
            vc.synced = False
            vc.last_count = None
        self._last_mc = None

    def feed(self, raw: bytes | bytearray | memoryview) -> list[bytes]:
        """Take one received frame; return the whole packets it completes, in order.

        Never raises on the content of ``raw``: a frame that does not decode is counted in
        ``stats.bad_frames`` under the error's reason and dropped.
        """
        try:
            frame = TmFrame.from_raw(
                raw, frame_length=self.frame_length, has_ocf=self.has_ocf, scid=self.scid
            )
        except ProtocolError as exc:
            self.stats.bad_frames[exc.reason] += 1
            return []
        return self.accept(frame)

    def accept(self, frame: TmFrame) -> list[bytes]:
        """Take one frame already decoded by :meth:`TmFrame.from_raw` with this configuration.

        For callers that want the frame itself (its virtual channel, its OCF) as well as the
        packets; the packets it completes are all of channel ``frame.vcid``.
        """
        stats = self.stats
        stats.frames += 1
        if self._last_mc is not None:
            lost = (frame.mc_count - self._last_mc - 1) % COUNT_MODULO
            if lost:
                stats.mc_gaps += 1
                stats.mc_lost_frames += lost
        self._last_mc = frame.mc_count
        if frame.ocf is not None:
            self.last_ocf = frame.ocf
            if self.on_ocf is not None:
                self.on_ocf(frame.ocf)
        vcid = frame.vcid
        vc = self._vcs[vcid]
        if vc.last_count is not None:
            lost = (frame.vc_count - vc.last_count - 1) % COUNT_MODULO
            if lost:
                stats.gaps[vcid] += 1
                stats.lost_frames[vcid] += lost
                if vc.synced:
                    stats.resyncs["gap"] += 1
                self._discard_partial(vc)
                vc.synced = False
        vc.last_count = frame.vc_count
        if frame.sync_flag:
            stats.bad_frames["sync_flag"] += 1
            return []
        if frame.first_header_pointer == FHP_IDLE_ONLY:
            stats.idle_frames += 1
            return []
        out: list[bytes] = []
        stats.bytes_received += len(frame.data)
        self._packets(vc, frame.data, frame.first_header_pointer, out)
        return out

    def _discard_partial(self, vc: _VcState) -> None:
        if vc.partial:
            self.stats.discarded_packets += 1
            self.stats.bytes_discarded += len(vc.partial)
            vc.partial.clear()
        vc.total = 0

    def _resync(self, vc: _VcState, reason: str) -> None:
        self.stats.resyncs[reason] += 1
        self._discard_partial(vc)
        vc.synced = False

    def _packet_length(self, header: bytes | bytearray, offset: int) -> int | str:
        """The total length declared by a packet header, or the reason it is unacceptable."""
        if header[offset] & 0xE0:
            return "bad_packet_header"
        total = ((header[offset + 4] << 8) | header[offset + 5]) + PRIMARY_HEADER_SIZE + 1
        if total > self.max_packet_length:
            return "too_long"
        return total

    def _deliver(self, packet: bytes, out: list[bytes]) -> None:
        if ((packet[0] & 0x07) << 8 | packet[1]) == APID_IDLE:
            self.stats.idle_packets += 1
            self.stats.bytes_idle += len(packet)
        else:
            self.stats.packets += 1
            self.stats.bytes_delivered += len(packet)
            out.append(packet)

    def _packets(self, vc: _VcState, data: bytes, fhp: int, out: list[bytes]) -> None:
        size = len(data)
        pos = 0
        if vc.synced:
            if vc.partial:
                pos = self._continue(vc, data, fhp, out)
            elif fhp != 0:
                # The previous packet ended with the previous frame: one must start at 0.
                self._resync(vc, "fhp_mismatch")
        if not vc.synced:
            if fhp == FHP_NO_PACKET_START:
                self.stats.bytes_discarded += size - pos
                return
            self.stats.bytes_discarded += fhp - pos
            pos = fhp
            vc.synced = True
        while pos < size:
            if size - pos < PRIMARY_HEADER_SIZE:
                vc.partial += data[pos:]  # a header split over two frames
                return
            total = self._packet_length(data, pos)
            if isinstance(total, str):
                self.stats.bytes_discarded += size - pos
                self._resync(vc, total)
                return
            end = pos + total
            if end > size:
                vc.partial += data[pos:]
                vc.total = total
                return
            self._deliver(data[pos:end], out)
            pos = end

    def _continue(self, vc: _VcState, data: bytes, fhp: int, out: list[bytes]) -> int:
        """Complete the partial packet from the start of ``data``; return where parsing goes on
        (0 after a resync, whose octets of ``data`` are left for the caller to account)."""
        partial = vc.partial
        total = vc.total
        if not total:
            header = partial + data[: PRIMARY_HEADER_SIZE - len(partial)]
            checked = self._packet_length(header, 0)
            if isinstance(checked, str):
                self._resync(vc, checked)
                return 0
            total = checked
        end = total - len(partial)  # where the packet ends in this frame's data field
        expected = end if end < len(data) else FHP_NO_PACKET_START
        if fhp != expected:
            self._resync(vc, "fhp_mismatch")
            return 0
        if end > len(data):
            partial += data
            vc.total = total
            return len(data)
        partial += data[:end]
        self._deliver(bytes(partial), out)
        partial.clear()
        vc.total = 0
        return end
