"""Wire formats of the MSR bench, declared with construct. Pure: no I/O, no threads, no clocks.

* :mod:`~hal.protocol.spacepacket`: CCSDS 133.0-B space packet primary header.
* :mod:`~hal.protocol.pus`: PUS-C (ECSS-E-ST-70-41C) TC and TM packets with packet error control.
* :mod:`~hal.protocol.cuc`: CCSDS CUC 4+2 time code.
* :mod:`~hal.protocol.crc`: CRC-16/CCITT-FALSE on crcmod's C extension.
* :mod:`~hal.protocol.framing`: attached-sync-marker framing and the hunting :class:`Deframer`.
* :mod:`~hal.protocol.layout`: fast codecs generated from the construct declarations.

Decoding untrusted bytes raises only :class:`~hal.errors.ProtocolError` and its subclasses.
"""

from hal.errors import (
    CrcError,
    EncodeError,
    HeaderError,
    LengthError,
    ProtocolError,
    TruncatedError,
)
from hal.protocol.crc import crc16, crc16_ok
from hal.protocol.cuc import CucTime
from hal.protocol.framing import ASM, Deframer, DeframerStats, frame
from hal.protocol.pus import ACK_ALL, ACK_NONE, PusPacket, PusTc, PusTm
from hal.protocol.spacepacket import SpacePacket

__all__ = [
    "ACK_ALL",
    "ACK_NONE",
    "ASM",
    "CrcError",
    "CucTime",
    "Deframer",
    "DeframerStats",
    "EncodeError",
    "HeaderError",
    "LengthError",
    "ProtocolError",
    "PusPacket",
    "PusTc",
    "PusTm",
    "SpacePacket",
    "TruncatedError",
    "crc16",
    "crc16_ok",
    "frame",
]
