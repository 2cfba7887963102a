"""PUS packet error control: CRC-16/CCITT-FALSE, computed by crcmod's C extension.

ECSS-E-ST-70-41C 7.4.3.3 / 7.4.4.3 (and CCSDS 132.0-B/232.0-B frame error control) use the
CRC-16 with polynomial x^16 + x^12 + x^5 + 1 (0x1021), initial value 0xFFFF, no reflection and no
final XOR; its check value over ASCII ``123456789`` is 0x29B1.

Because the final XOR is zero and nothing is reflected, the CRC of a block followed by its own
big-endian CRC is zero: checking a received packet is one call over all of its bytes.
"""

from __future__ import annotations

import sys
from typing import Final

import crcmod

from hal.errors import CrcError

__all__ = [
    "CRC16_CHECK_VALUE",
    "append_crc16",
    "check_crc16",
    "crc16",
    "crc16_is_c_extension",
    "crc16_ok",
]

CRC16_POLY: Final = 0x11021  # crcmod wants the x^16 term
CRC16_INIT: Final = 0xFFFF
CRC16_CHECK_VALUE: Final = 0x29B1

crc16 = crcmod.mkCrcFun(CRC16_POLY, initCrc=CRC16_INIT, rev=False, xorOut=0)
"""``crc16(data: bytes, crc: int = 0xFFFF) -> int``: CRC-16/CCITT-FALSE of ``data``."""


def crc16_ok(data: bytes | bytearray | memoryview) -> bool:
    """Return True when ``data`` ends with the big-endian CRC-16 of everything before it."""
    return crc16(data) == 0


def append_crc16(body: bytes) -> bytes:
    """``body`` followed by its big-endian CRC-16 (PUS packet error control, frame FECF)."""
    return body + crc16(body).to_bytes(2, "big")


def check_crc16(raw: bytes | bytearray | memoryview, what: str) -> None:
    """Raise :class:`~hal.errors.CrcError` when ``raw`` does not end with its own CRC-16.

    Args:
        raw: the received octets, CRC included.
        what: names the field in the message, e.g. ``"packet error control"``, ``"TC frame FECF"``.
    """
    if crc16(raw):
        got = int.from_bytes(raw[-2:], "big")
        raise CrcError(f"{what} is 0x{got:04X}, computed 0x{crc16(raw[:-2]):04X}")


def crc16_is_c_extension() -> bool:
    """Return True when crcmod runs on its C extension (``crcmod._crcfunext``).

    The pure-Python fallback is about 50 times slower; the build requires the extension.
    """
    try:
        import crcmod._crcfunext  # noqa: F401
    except ImportError:
        return False
    return bool(getattr(sys.modules["crcmod.crcmod"], "_usingExtension", False))
