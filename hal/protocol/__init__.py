"""Wire formats of the MSR bench, declared with construct. Pure: no I/O, no threads, no clocks.

* :mod:`~hal.protocol.spacepacket`: CCSDS 133.0-B space packet primary header.
* :mod:`~hal.protocol.pus`: PUS-C (ECSS-E-ST-70-41C) TC and TM packets with packet error control.
* :mod:`~hal.protocol.cuc`: CCSDS CUC 4+2 time code.
* :mod:`~hal.protocol.crc`: CRC-16/CCITT-FALSE on crcmod's C extension.
* :mod:`~hal.protocol.framing`: attached-sync-marker framing and the hunting :class:`Deframer`.
* :mod:`~hal.protocol.layout`: fast codecs generated from the construct declarations.
* Space link: :mod:`~hal.protocol.tc_frame` (CCSDS 232.0-B TC frames), :mod:`~hal.protocol.sdls`
  (authenticated frames), :mod:`~hal.protocol.clcw`, :mod:`~hal.protocol.farm1` and
  :mod:`~hal.protocol.fop1` (COP-1), :mod:`~hal.protocol.tm_frame` (CCSDS 132.0-B TM frames).

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
from hal.protocol.clcw import Clcw
from hal.protocol.crc import crc16, crc16_ok
from hal.protocol.cuc import CucTime
from hal.protocol.farm1 import Farm1
from hal.protocol.fop1 import Fop1
from hal.protocol.framing import ASM, Deframer, DeframerStats, frame
from hal.protocol.pus import ACK_ALL, ACK_NONE, PusPacket, PusTc, PusTm
from hal.protocol.sdls import SecurityAssociation, TcVerifier, authenticate
from hal.protocol.spacepacket import SpacePacket
from hal.protocol.tc_frame import TcFrame
from hal.protocol.tm_frame import TmFrame, TmFramer, TmReassembler

__all__ = [
    "ACK_ALL",
    "ACK_NONE",
    "ASM",
    "Clcw",
    "CrcError",
    "CucTime",
    "Deframer",
    "DeframerStats",
    "EncodeError",
    "Farm1",
    "Fop1",
    "HeaderError",
    "LengthError",
    "ProtocolError",
    "PusPacket",
    "PusTc",
    "PusTm",
    "SecurityAssociation",
    "SpacePacket",
    "TcFrame",
    "TcVerifier",
    "TmFrame",
    "TmFramer",
    "TmReassembler",
    "TruncatedError",
    "authenticate",
    "crc16",
    "crc16_ok",
    "frame",
]
