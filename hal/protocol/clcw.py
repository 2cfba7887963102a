"""The Communications Link Control Word (CLCW), CCSDS 232.0-B-4 section 4.2.

FARM-1 on board reports its state to FOP-1 on the ground in the CLCW, carried in the operational
control field of every TM transfer frame. 32 bits, bit 0 the most significant::

    bit  0      control word type        0 (a CLCW)
    bits 1-2    CLCW version number      00
    bits 3-5    status field             mission-specific, 0 here
    bits 6-7    COP in effect            01 = COP-1
    bits 8-13   virtual channel id       the TC virtual channel reported on, 0..63
    bits 14-15  reserved spare           00
    bit  16     no RF available flag     1 = no RF
    bit  17     no bit lock flag         1 = no bit lock
    bit  18     lockout flag             1 = FARM-1 in lockout
    bit  19     wait flag                1 = FARM-1 cannot accept more frames
    bit  20     retransmit flag          1 = a type-AD frame was lost or rejected: resend
    bits 21-22  FARM-B counter           type-BD frames accepted, modulo 4
    bit  23     reserved spare           0
    bits 24-31  report value             V(R): the next expected frame sequence number
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import construct as cs

from hal.protocol.layout import compile_fixed

__all__ = ["CLCW_SIZE", "COP_1", "Clcw", "ClcwWord"]

CLCW_SIZE: Final = 4
COP_1: Final = 0b01

ClcwWord = cs.BitStruct(
    "type" / cs.Const(0, cs.BitsInteger(1)) * "control word type, 0 = CLCW",
    "version" / cs.Const(0, cs.BitsInteger(2)) * "CLCW version number, 0",
    "status" / cs.BitsInteger(3) * "status field, mission-specific, 0..7",
    "cop" / cs.BitsInteger(2) * "COP in effect, 1 = COP-1",
    "vcid" / cs.BitsInteger(6) * "TC virtual channel reported on, 0..63",
    "spare0" / cs.Const(0, cs.BitsInteger(2)) * "reserved spare, 0",
    "no_rf" / cs.BitsInteger(1) * "1 when no RF is available",
    "no_bit_lock" / cs.BitsInteger(1) * "1 when there is no bit lock",
    "lockout" / cs.BitsInteger(1) * "1 when FARM-1 is in lockout",
    "wait" / cs.BitsInteger(1) * "1 when FARM-1 cannot accept more frames",
    "retransmit" / cs.BitsInteger(1) * "1 when a type-AD frame must be resent",
    "farm_b_counter" / cs.BitsInteger(2) * "type-BD frames accepted, modulo 4",
    "spare1" / cs.Const(0, cs.BitsInteger(1)) * "reserved spare, 0",
    "report_value" / cs.BitsInteger(8) * "V(R), next expected frame sequence number, 0..255",
)

CLCW_LAYOUT = compile_fixed(cs.Struct("clcw" / ClcwWord), "clcw")


@dataclass(frozen=True, slots=True)
class Clcw:
    """A decoded CLCW. Flags are ints (0 or 1) as on the wire."""

    vcid: int
    report_value: int
    lockout: int = 0
    wait: int = 0
    retransmit: int = 0
    farm_b_counter: int = 0
    no_rf: int = 0
    no_bit_lock: int = 0
    status: int = 0
    cop: int = COP_1

    def pack(self) -> bytes:
        """The 4 octets; raises :class:`~hal.errors.EncodeError` naming a field out of range."""
        return CLCW_LAYOUT.pack(
            self.status, self.cop, self.vcid, self.no_rf, self.no_bit_lock, self.lockout,
            self.wait, self.retransmit, self.farm_b_counter, self.report_value,
        )  # fmt: skip

    def to_int(self) -> int:
        """The CLCW as a 32-bit unsigned integer (the OCF value)."""
        return int.from_bytes(self.pack(), "big")

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview, offset: int = 0) -> Clcw:
        """Decode 4 octets; raises :class:`~hal.errors.TruncatedError` if short and
        :class:`~hal.errors.HeaderError` when it is not a version-0 CLCW."""
        (_, _, status, cop, vcid, _, no_rf, no_lock, lockout, wait, retransmit, farm_b, _,
         report) = CLCW_LAYOUT.unpack_from(raw, offset)  # fmt: skip
        return cls(
            vcid=vcid, report_value=report, lockout=lockout, wait=wait, retransmit=retransmit,
            farm_b_counter=farm_b, no_rf=no_rf, no_bit_lock=no_lock, status=status, cop=cop,
        )  # fmt: skip

    @classmethod
    def from_int(cls, value: int) -> Clcw:
        """Decode the 32-bit OCF value."""
        return cls.from_raw((value & 0xFFFFFFFF).to_bytes(4, "big"))
