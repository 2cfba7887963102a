"""CCSDS TC transfer frames (CCSDS 232.0-B-4) for the uplink.

Wire layout, big-endian, bit 0 the most significant::

    primary header, 5 octets
      bits  0-1   transfer frame version number   00
      bit   2     bypass flag                     0 type-A (FARM-checked), 1 type-B (bypass)
      bit   3     control command flag            0 data (D), 1 control command (C)
      bits  4-5   reserved spare                  00
      bits  6-15  spacecraft id                   0..1023
      bits 16-21  virtual channel id              0..63
      bits 22-31  frame length                    total octets minus one (frame <= 1024 octets)
      bits 32-39  frame sequence number N(S)      0..255 (type-AD frames; 0 otherwise)
    segment header, 1 octet (data frames only; absent in control-command frames)
      bits  0-1   sequence flags                  11 unsegmented, 01 first, 00 continuing, 10 last
      bits  2-7   MAP id                          0..63
    frame data field                              packets, or a control command
    frame error control field, 2 octets           CRC-16/CCITT-FALSE over everything before it

Control commands (type-BC frames, 232.0-B-4 section 4.1.3.3): *Unlock* is the single octet 0x00;
*Set V(R)* is 0x82 0x00 followed by the new V(R).

When the space link is authenticated (:mod:`hal.protocol.sdls`), a security header follows the
segment header (or the primary header of a control frame) and a security trailer precedes the
frame error control field; this module handles the frame around them.
"""

from __future__ import annotations

from typing import Final

import construct as cs

from hal.errors import EncodeError, HeaderError, LengthError, TruncatedError
from hal.protocol.crc import append_crc16, check_crc16
from hal.protocol.layout import compile_fixed

__all__ = [
    "MAX_TC_FRAME_SIZE",
    "SET_VR_PREFIX",
    "UNLOCK",
    "TcFrame",
    "TcFrameHeader",
    "TcSegmentHeader",
    "set_vr_command",
]

TC_HEADER_SIZE: Final = 5
SEGMENT_HEADER_SIZE: Final = 1
FECF_SIZE: Final = 2
MAX_TC_FRAME_SIZE: Final = 1024
MIN_TC_FRAME_SIZE: Final = TC_HEADER_SIZE + 1 + FECF_SIZE
SEG_UNSEGMENTED: Final = 0b11
UNLOCK: Final = b"\x00"
SET_VR_PREFIX: Final = b"\x82\x00"

TcFrameHeader = cs.BitStruct(
    "version" / cs.Const(0, cs.BitsInteger(2)) * "transfer frame version number, 0",
    "bypass" / cs.BitsInteger(1) * "0 type-A (sequence-controlled), 1 type-B (bypass)",
    "control" / cs.BitsInteger(1) * "0 data frame, 1 control command frame",
    "spare" / cs.Const(0, cs.BitsInteger(2)) * "reserved spare, 0",
    "scid" / cs.BitsInteger(10) * "spacecraft id, 0..1023",
    "vcid" / cs.BitsInteger(6) * "virtual channel id, 0..63",
    "frame_length" / cs.BitsInteger(10) * "total frame octets minus one, 0..1023",
    "seq" / cs.BitsInteger(8) * "frame sequence number N(S), 0..255",
)
"""The 5-octet TC transfer frame primary header."""

TcSegmentHeader = cs.BitStruct(
    "seq_flags" / cs.BitsInteger(2) * "3 unsegmented, 1 first, 0 continuing, 2 last",
    "map_id" / cs.BitsInteger(6) * "multiplexer access point id, 0..63",
)
"""The 1-octet segment header of data frames."""

TC_LAYOUT = compile_fixed(cs.Struct("primary" / TcFrameHeader), "tc_frame_header")
SEGMENT_LAYOUT = compile_fixed(cs.Struct("segment" / TcSegmentHeader), "tc_segment_header")


def set_vr_command(vr: int) -> bytes:
    """The Set V(R) control command data for ``vr`` (0..255)."""
    if not 0 <= vr <= 0xFF:
        raise EncodeError(f"V(R) = {vr} is outside 0..255", reason="out_of_range")
    return SET_VR_PREFIX + bytes([vr])


class TcFrame:
    """One TC transfer frame.

    Attributes:
        scid: spacecraft id, 0..1023.
        vcid: virtual channel id, 0..63.
        seq: frame sequence number N(S), 0..255 (type-AD frames).
        bypass: 1 for type-B frames (BD data, BC control).
        control: 1 for control-command frames (no segment header).
        map_id, seg_flags: the segment header (data frames).
        data: the frame data field after the segment header, before the FECF: on an
            authenticated link, security header + payload + security trailer.
    """

    __slots__ = ("bypass", "control", "data", "map_id", "scid", "seg_flags", "seq", "vcid")

    def __init__(
        self,
        scid: int,
        vcid: int,
        data: bytes,
        *,
        seq: int = 0,
        bypass: int = 0,
        control: int = 0,
        map_id: int = 0,
        seg_flags: int = SEG_UNSEGMENTED,
    ) -> None:
        self.scid = scid
        self.vcid = vcid
        self.data = bytes(data)
        self.seq = seq
        self.bypass = bypass
        self.control = control
        self.map_id = map_id
        self.seg_flags = seg_flags

    @property
    def kind(self) -> str:
        """``AD``, ``BD`` or ``BC`` (``AC`` is not a valid combination)."""
        return ("B" if self.bypass else "A") + ("C" if self.control else "D")

    def header_bytes(self, data_length: int) -> bytes:
        """Primary header (and segment header for data frames) for a data field of
        ``data_length`` octets (the FECF is added by :meth:`pack`)."""
        seg = 0 if self.control else SEGMENT_HEADER_SIZE
        total = TC_HEADER_SIZE + seg + data_length + FECF_SIZE
        if total > MAX_TC_FRAME_SIZE:
            raise EncodeError(
                f"TC frame of {total} octets exceeds {MAX_TC_FRAME_SIZE}", reason="too_long"
            )
        head = TC_LAYOUT.pack(self.bypass, self.control, self.scid, self.vcid, total - 1, self.seq)
        if not self.control:
            head += SEGMENT_LAYOUT.pack(self.seg_flags, self.map_id)
        return head

    def pack(self) -> bytes:
        """Encode with frame length and FECF computed."""
        body = self.header_bytes(len(self.data)) + self.data
        return append_crc16(body)

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview) -> TcFrame:
        """Decode one whole frame, checking (in this order) length and FECF.

        Raises:
            TruncatedError: fewer octets than the smallest frame.
            LengthError: the frame length field disagrees with the octets given.
            CrcError: the FECF does not match.
            HeaderError: version not 0, or the invalid type-AC combination.
        """
        size = len(raw)
        if size < MIN_TC_FRAME_SIZE:
            raise TruncatedError(f"TC frame needs at least {MIN_TC_FRAME_SIZE} octets, got {size}")
        _, bypass, control, _, scid, vcid, length, seq = TC_LAYOUT.unpack_from(raw)
        if length + 1 != size:
            raise LengthError(f"TC frame length field says {length + 1} octets, got {size}")
        check_fecf(raw, "TC frame")
        if control and not bypass:
            raise HeaderError("TC frame: control command with bypass flag 0 (type-AC)")
        if control:
            return cls(
                scid, vcid, bytes(raw[TC_HEADER_SIZE:-FECF_SIZE]), seq=seq, bypass=1, control=1
            )
        if size < TC_HEADER_SIZE + SEGMENT_HEADER_SIZE + FECF_SIZE:
            raise TruncatedError("TC data frame without room for its segment header")
        seg_flags, map_id = SEGMENT_LAYOUT.unpack_from(raw, TC_HEADER_SIZE)
        start = TC_HEADER_SIZE + SEGMENT_HEADER_SIZE
        return cls(
            scid, vcid, bytes(raw[start:-FECF_SIZE]),
            seq=seq, bypass=bypass, control=0, map_id=map_id, seg_flags=seg_flags,
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TcFrame):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.scid, self.vcid, self.seq, self.data))

    def __repr__(self) -> str:
        return (
            f"TcFrame({self.kind}, scid={self.scid}, vc={self.vcid}, seq={self.seq}, "
            f"map={self.map_id}, data={len(self.data)} octets)"
        )


def frame_length_at(raw: bytes | bytearray | memoryview, offset: int = 0) -> int:
    """Total length of the TC frame whose primary header starts at ``offset``."""
    if len(raw) - offset < TC_HEADER_SIZE:
        raise TruncatedError("TC frame header incomplete")
    return (((raw[offset + 2] & 0x03) << 8) | raw[offset + 3]) + 1


def check_fecf(raw: bytes | bytearray | memoryview, what: str) -> None:
    """Raise :class:`~hal.errors.CrcError` when the trailing FECF of ``raw`` does not match."""
    check_crc16(raw, f"{what}: FECF")
