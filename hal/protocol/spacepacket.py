"""CCSDS space packet primary header (CCSDS 133.0-B-2, section 4.1.3).

Wire layout, 6 octets, big-endian, bit 0 is the most significant::

    bits  0-2   packet version number      always 000
    bit   3     packet type                0 telemetry, 1 telecommand
    bit   4     secondary header flag      1 when a (PUS) secondary header follows
    bits  5-15  APID                       application process id; 0x7FF is the idle APID
    bits 16-17  sequence flags             01 first, 00 continuation, 10 last, 11 unsegmented
    bits 18-31  packet sequence count      per APID, modulo 16384 (or packet name for TCs)
    bits 32-47  packet data length         octets in the packet data field minus one

The packet data field holds 1 to 65536 octets, so a whole packet is 7 to 65542 octets.
"""

from __future__ import annotations

from typing import Final

import construct as cs

from hal.errors import LengthError, TruncatedError
from hal.protocol.layout import compile_fixed

__all__ = [
    "APID_CFDP",
    "APID_IDLE",
    "MAX_PACKET_SIZE",
    "PRIMARY_HEADER_SIZE",
    "SEQ_UNSEGMENTED",
    "TYPE_TC",
    "TYPE_TM",
    "PrimaryHeader",
    "SpacePacket",
]

PRIMARY_HEADER_SIZE: Final = 6
MAX_DATA_FIELD_SIZE: Final = 65536
MAX_PACKET_SIZE: Final = PRIMARY_HEADER_SIZE + MAX_DATA_FIELD_SIZE
APID_MAX: Final = 0x7FF
APID_IDLE: Final = 0x7FF
APID_CFDP: Final = 0x7F0
"""The APID of the packets that carry CCSDS File Delivery Protocol PDUs, both ways, with no
secondary header (:mod:`hal.protocol.cfdp`)."""
SEQ_COUNT_MODULO: Final = 1 << 14
TYPE_TM: Final = 0
TYPE_TC: Final = 1
SEQ_CONTINUATION: Final = 0b00
SEQ_FIRST: Final = 0b01
SEQ_LAST: Final = 0b10
SEQ_UNSEGMENTED: Final = 0b11

PrimaryHeader = cs.BitStruct(
    "version" / cs.Const(0, cs.BitsInteger(3)) * "packet version number; 0 for CCSDS 133.0-B",
    "type" / cs.BitsInteger(1) * "packet type: 0 telemetry, 1 telecommand",
    "sec_header_flag" / cs.BitsInteger(1) * "1 when a secondary header follows",
    "apid" / cs.BitsInteger(11) * "application process id, 0..2047 (2047 idle)",
    "seq_flags" / cs.BitsInteger(2) * "3 unsegmented, 1 first, 0 continuation, 2 last",
    "seq_count" / cs.BitsInteger(14) * "packet sequence count, 0..16383, wraps",
    "data_length" / cs.BitsInteger(16) * "octets in the packet data field minus one, 0..65535",
)
"""The 6-octet primary header, as construct declares it (the single source of truth)."""

PRIMARY_LAYOUT = compile_fixed(cs.Struct("primary" / PrimaryHeader), "space_packet_primary")


class SpacePacket:
    """A CCSDS space packet: the primary header fields and an uninterpreted data field.

    Use this for packets that carry no PUS secondary header (idle packets, raw device data);
    :class:`hal.protocol.pus.PusTc` and :class:`hal.protocol.pus.PusTm` cover PUS-C packets.
    """

    __slots__ = ("apid", "data", "packet_type", "sec_header_flag", "seq_count", "seq_flags")

    def __init__(
        self,
        packet_type: int,
        apid: int,
        data: bytes,
        *,
        sec_header_flag: int = 0,
        seq_flags: int = SEQ_UNSEGMENTED,
        seq_count: int = 0,
    ) -> None:
        self.packet_type = packet_type
        self.apid = apid
        self.data = bytes(data)
        self.sec_header_flag = sec_header_flag
        self.seq_flags = seq_flags
        self.seq_count = seq_count

    def pack(self) -> bytes:
        """Encode; raises :class:`~hal.errors.EncodeError` naming a field out of range."""
        if not 1 <= len(self.data) <= MAX_DATA_FIELD_SIZE:
            raise LengthError(
                f"data field is {len(self.data)} octets; it must hold 1..{MAX_DATA_FIELD_SIZE}",
                reason="bad_length",
            )
        header = PRIMARY_LAYOUT.pack(
            self.packet_type,
            self.sec_header_flag,
            self.apid,
            self.seq_flags,
            self.seq_count,
            len(self.data) - 1,
        )
        return header + self.data

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview) -> SpacePacket:
        """Decode one whole packet.

        Raises:
            TruncatedError: fewer than 7 octets.
            HeaderError: packet version number is not 0.
            LengthError: the data length field disagrees with the octets given.
        """
        if len(raw) < PRIMARY_HEADER_SIZE + 1:
            raise TruncatedError(f"space packet needs at least 7 octets, got {len(raw)}")
        _, ptype, shf, apid, seq_flags, seq_count, data_length = PRIMARY_LAYOUT.unpack_from(raw)
        if data_length + PRIMARY_HEADER_SIZE + 1 != len(raw):
            raise LengthError(
                f"data length field says {data_length + PRIMARY_HEADER_SIZE + 1} octets, "
                f"got {len(raw)}"
            )
        return cls(
            ptype,
            apid,
            bytes(raw[PRIMARY_HEADER_SIZE:]),
            sec_header_flag=shf,
            seq_flags=seq_flags,
            seq_count=seq_count,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpacePacket):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.packet_type, self.apid, self.seq_count, self.data))

    def __repr__(self) -> str:
        kind = "TC" if self.packet_type else "TM"
        return (
            f"SpacePacket({kind}, apid=0x{self.apid:03X}, seq={self.seq_count}, "
            f"data={len(self.data)} octets)"
        )


def file_pdu(raw: bytes | bytearray | memoryview) -> bytes | None:
    """The CFDP PDU ``raw`` carries when it is a whole packet of APID :data:`APID_CFDP` with no
    secondary header; None for any other packet (PUS, or too short to tell)."""
    if len(raw) < PRIMARY_HEADER_SIZE + 1 or raw[0] & 0x08:
        return None
    if ((raw[0] & 0x07) << 8 | raw[1]) != APID_CFDP:
        return None
    return SpacePacket.from_raw(raw).data


def peek_header(raw: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int, int]:
    """Return ``(packet_type, apid, total_packet_length)`` from a primary header at ``offset``.

    Raises:
        TruncatedError: fewer than 6 octets follow ``offset``.
        HeaderError: packet version number is not 0.
    """
    fields = PRIMARY_LAYOUT.unpack_from(raw, offset)
    return fields[1], fields[3], fields[6] + PRIMARY_HEADER_SIZE + 1
