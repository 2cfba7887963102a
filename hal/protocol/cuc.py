"""CCSDS Unsegmented time Code (CUC), 4 octets coarse + 2 octets fine.

CCSDS 301.0-B-4 section 3.2. The T-field used in PUS-C TM secondary headers is::

    +-------------------------------+---------------+
    | coarse time: 4 octets          | fine: 2 octets|
    | whole seconds since the epoch  | units of 2^-16 s
    +-------------------------------+---------------+

The P-field is implicit (mission-defined, not transmitted in PUS headers); its value for this
layout with an agency-defined epoch is :data:`CUC_P_FIELD` (0x2E: no extension, time code id 010,
4 coarse octets, 2 fine octets). The epoch is the mission epoch of the simulation clock.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import construct as cs

from hal.errors import EncodeError
from hal.protocol.layout import compile_fixed

__all__ = ["CUC_P_FIELD", "CUC_SIZE", "CucTime", "CucTimeField"]

CUC_SIZE: Final = 6
CUC_P_FIELD: Final = 0x2E
FINE_PER_SECOND: Final = 1 << 16
MAX_COARSE: Final = (1 << 32) - 1

CucTimeField = cs.Struct(
    "coarse" / cs.Int32ub * "whole seconds since the mission epoch, 0..2^32-1 s",
    "fine" / cs.Int16ub * "fraction of a second in units of 2^-16 s (about 15.3 us)",
)

CUC_LAYOUT = compile_fixed(CucTimeField, "cuc_time")


class CucTime(NamedTuple):
    """A CUC 4+2 time: ``coarse`` whole seconds and ``fine`` 1/65536ths of a second."""

    coarse: int = 0
    fine: int = 0

    @classmethod
    def from_seconds(cls, seconds: float) -> CucTime:
        """The CUC time nearest below ``seconds`` since the epoch.

        Raises:
            EncodeError: ``seconds`` is negative or beyond the 32-bit coarse range.
        """
        if not 0 <= seconds < MAX_COARSE + 1:
            raise EncodeError(f"time {seconds!r} s is outside 0..2^32 s", reason="out_of_range")
        ticks = int(seconds * FINE_PER_SECOND)
        return cls(ticks >> 16, ticks & 0xFFFF)

    @property
    def seconds(self) -> float:
        """The time in seconds since the epoch."""
        return self.coarse + self.fine / FINE_PER_SECOND

    def pack(self) -> bytes:
        """The 6-octet T-field."""
        return CUC_LAYOUT.pack(self.coarse, self.fine)

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview, offset: int = 0) -> CucTime:
        """Decode a 6-octet T-field; raises :class:`~hal.errors.TruncatedError` if short."""
        return cls(*CUC_LAYOUT.unpack_from(raw, offset))
