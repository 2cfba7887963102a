"""FARM-1, the on-board half of COP-1 (CCSDS 232.1-B-2, section 6).

FARM-1 accepts type-AD frames strictly in sequence, lets type-BD frames through unchecked, obeys
the two control commands (Unlock, Set V(R)) carried in type-BC frames, and reports its state to
the ground in the CLCW. It is a pure state machine: the caller feeds it frames that already passed
the frame and security checks, and asks it whether there is room for one more frame
(``buffer_available``).

States: S1 *Open*, S2 *Wait* (no buffer), S3 *Lockout*. Windows around V(R), with the FARM
sliding window width W (even, 2..254): the positive window is ``V(R) < N(S) <= V(R)+W/2-1``, the
negative window is ``V(R)-W/2 <= N(S) < V(R)``, everything else (modulo 256) is the lockout area.

==============================  ==================  =============================================
type-AD frame with N(S)          state               action
==============================  ==================  =============================================
N(S) = V(R), buffer available    S1                  accept, V(R)+1, retransmit := 0
N(S) = V(R), no buffer           S1                  discard, retransmit := 1, wait := 1, -> S2
N(S) = V(R), no buffer           S2                  discard
N(S) in positive window          S1, S2              discard, retransmit := 1
N(S) in negative window          S1, S2              discard (a duplicate)
N(S) in lockout area             S1, S2              discard, lockout := 1, -> S3
any                              S3                  discard
==============================  ==================  =============================================

Type-BD frames are accepted in every state (FARM-B counter + 1). Unlock: -> S1, clearing lockout,
wait and retransmit. Set V(R): in S1/S2, V(R) := value, -> S1, clearing wait and retransmit;
ignored in lockout. Both count in the FARM-B counter. :meth:`Farm1.buffer_released` ends a wait.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Final

from hal.protocol.clcw import Clcw
from hal.protocol.tc_frame import SET_VR_PREFIX, UNLOCK, TcFrame

__all__ = ["Farm1", "FarmResult", "FarmState"]

DEFAULT_WINDOW: Final = 10


class FarmState(Enum):
    """FARM-1 states."""

    OPEN = "S1"
    WAIT = "S2"
    LOCKOUT = "S3"


@dataclass(frozen=True)
class FarmResult:
    """What FARM-1 did with one frame.

    Attributes:
        accepted: the frame's data goes on to packet extraction.
        reason: ``accepted``, ``bypass``, ``unlock``, ``set_vr``, or why it was discarded:
            ``no_buffer``, ``out_of_sequence`` (positive window), ``duplicate`` (negative
            window), ``lockout`` (it caused or met a lockout), ``bad_control_command``.
    """

    accepted: bool
    reason: str


class Farm1:
    """The frame acceptance and reporting mechanism of one TC virtual channel.

    Args:
        vcid: the virtual channel, reported in the CLCW.
        window: the FARM sliding window width W (even, 2..254).
        vr: initial V(R) (restored from the store after a reset, or 0).
    """

    def __init__(self, vcid: int, *, window: int = DEFAULT_WINDOW, vr: int = 0) -> None:
        if window % 2 or not 2 <= window <= 254:
            raise ValueError(f"FARM window width {window} must be even and within 2..254")
        if not 0 <= vr <= 255:
            raise ValueError(f"V(R) {vr} is outside 0..255")
        self.vcid = vcid
        self.window = window
        self.vr = vr
        self.state = FarmState.OPEN
        self.lockout = 0
        self.wait = 0
        self.retransmit = 0
        self.farm_b_counter = 0
        self.counts: Counter[str] = Counter()

    @property
    def clcw(self) -> Clcw:
        """The CLCW reporting this FARM's state now."""
        return Clcw(
            vcid=self.vcid, report_value=self.vr, lockout=self.lockout, wait=self.wait,
            retransmit=self.retransmit, farm_b_counter=self.farm_b_counter,
        )  # fmt: skip

    def buffer_released(self) -> None:
        """Room for a frame again: leaves the Wait state."""
        if self.state is FarmState.WAIT:
            self.state = FarmState.OPEN
            self.wait = 0

    def receive(self, frame: TcFrame, buffer_available: bool = True) -> FarmResult:
        """Apply FARM-1 to one valid frame of this virtual channel."""
        if frame.bypass:
            self.farm_b_counter = (self.farm_b_counter + 1) & 0b11
            result = self._control(frame.data) if frame.control else FarmResult(True, "bypass")
        else:
            result = self._type_ad(frame.seq, buffer_available)
        self.counts[result.reason] += 1
        return result

    def _type_ad(self, ns: int, buffer_available: bool) -> FarmResult:
        if self.state is FarmState.LOCKOUT:
            return FarmResult(False, "lockout")
        ahead = (ns - self.vr) & 0xFF
        half = self.window // 2
        if ahead == 0:
            if buffer_available and self.state is FarmState.OPEN:
                self.vr = (self.vr + 1) & 0xFF
                self.retransmit = 0
                return FarmResult(True, "accepted")
            self.retransmit = 1
            self.wait = 1
            self.state = FarmState.WAIT
            return FarmResult(False, "no_buffer")
        if ahead <= half - 1:
            self.retransmit = 1
            return FarmResult(False, "out_of_sequence")
        if 256 - ahead <= half:
            return FarmResult(False, "duplicate")
        self.lockout = 1
        self.state = FarmState.LOCKOUT
        return FarmResult(False, "lockout")

    def _control(self, data: bytes) -> FarmResult:
        if data == UNLOCK:
            self.state = FarmState.OPEN
            self.lockout = self.wait = self.retransmit = 0
            return FarmResult(True, "unlock")
        if len(data) == 3 and data[:2] == SET_VR_PREFIX:
            if self.state is not FarmState.LOCKOUT:
                self.vr = data[2]
                self.state = FarmState.OPEN
                self.wait = self.retransmit = 0
            return FarmResult(True, "set_vr")
        return FarmResult(False, "bad_control_command")
