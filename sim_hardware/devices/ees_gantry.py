"""Emulator of the EES gantry board (ICD: :mod:`hal.protocol.devices.ees_gantry`).

Physics at bench level:

* the gantry travels at the commanded rate (stowing at :data:`STOW_RATE`); crossing the insert
  position with the vessel aboard latches the vessel into the EES; the stow latch engages once the
  gantry is back at the stow position after a ``stow`` command;
* the release fires at once; the EES pushes off and the separation switch opens
  :data:`SEPARATION_TIME` seconds later.

The board declares no fault of its own; the generic faults apply.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Final

from hal.protocol.devices import ees_gantry as icd
from sim_hardware.devices.base import BoardEmulator, Refused

STOW_RATE: Final = 10.0  # mm/s
SEPARATION_TIME: Final = 1.0  # s


class EesGantry(BoardEmulator):
    """The gantry and the EES release.

    Args:
        rng: seeded generator.
        stowed: the gantry starts stowed (at launch) rather than unlatched at the stow position.
    """

    icd: ClassVar = icd.BOARD

    def __init__(self, rng: random.Random | None = None, stowed: bool = True) -> None:
        super().__init__(rng)
        self.position = icd.STOW_POSITION
        self.target = icd.STOW_POSITION
        self.rate = STOW_RATE
        self.stowing = False
        self.stowed = stowed
        self.vessel_in_ees = False
        self.released_at: float | None = None

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Move the gantry up to ``to_time``."""
        start = self.now
        super().advance(to_time)
        error = self.target - self.position
        if abs(error) < 1e-6 or self.now <= start:
            return
        self.position += math.copysign(min(abs(error), self.rate * (self.now - start)), error)
        if self.position >= icd.INSERT_POSITION - 1e-6:
            self.vessel_in_ees = True
        if abs(self.target - self.position) < 1e-6:
            self.position = self.target
            self.stowed = self.stowing and self.position == icd.STOW_POSITION

    # ------------------------------------------------------------------ commands

    def cmd_gantry_move(self, values: dict[str, Any], now: float) -> None:
        """Start a move; the stow latch lets go."""
        if self.released_at is not None:
            raise Refused(icd.FAIL_RELEASED)
        self.target, self.rate = values["position"], values["rate"]
        self.stowing = self.stowed = False

    def cmd_gantry_stow(self, values: dict[str, Any], now: float) -> None:
        """Return to the stow position and latch."""
        self.target, self.rate, self.stowing = icd.STOW_POSITION, STOW_RATE, True
        self.stowed = self.stowed and self.position == icd.STOW_POSITION

    def cmd_release_release(self, values: dict[str, Any], now: float) -> None:
        """Fire the release, once stowed."""
        if self.released_at is not None:
            raise Refused(icd.FAIL_RELEASED)
        if not self.stowed:
            raise Refused(icd.FAIL_NOT_STOWED, round(self.position))
        self.released_at = now

    # ------------------------------------------------------------------ status

    def status_gantry(self, now: float) -> dict[str, Any]:
        """The gantry's status report values."""
        return {
            "position": self.position, "target": self.target,
            "moving": abs(self.target - self.position) > 1e-6, "stowed": self.stowed,
            "vessel_in_ees": self.vessel_in_ees,
        }  # fmt: skip

    def status_release(self, now: float) -> dict[str, Any]:
        """The release's status report values."""
        fired = self.released_at
        return {
            "released": fired is not None,
            "separated": fired is not None and now >= fired + SEPARATION_TIME,
        }
