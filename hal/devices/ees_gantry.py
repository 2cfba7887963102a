"""HAL driver of the EES gantry board (ICD: :mod:`hal.protocol.devices.ees_gantry`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import ees_gantry as icd

__all__ = ["EesGantryClient", "GantryStatus", "ReleaseStatus"]


@dataclass(frozen=True)
class GantryStatus:
    """The gantry's status report (mm)."""

    position: float
    target: float
    moving: bool
    stowed: bool
    vessel_in_ees: bool


@dataclass(frozen=True)
class ReleaseStatus:
    """The EES release's status report."""

    released: bool
    separated: bool


class EesGantryClient(BoardClient):
    """Typed calls to the transfer gantry and the EES release; every call may raise a
    ``DeviceError``. :meth:`release_ees` is hazardous: the flight software calls it only through
    its hazardous-command gate."""

    icd: ClassVar = icd.BOARD

    def move(self, position: float, rate: float) -> None:
        """Move the gantry to ``position`` mm (0 .. 1000) at ``rate`` mm/s (1 .. 20)."""
        self.command("gantry", "move", position=position, rate=rate)

    def insert(self, rate: float) -> None:
        """Carry the vessel into the EES (to the insert position)."""
        self.move(icd.INSERT_POSITION, rate)

    def stow(self) -> None:
        """Return the gantry to its stow position and latch it."""
        self.command("gantry", "stow")

    def release_ees(self) -> None:
        """Release the Earth Entry System (hazardous, irreversible; the gantry must be stowed)."""
        self.command("release", "release")

    def read_gantry(self) -> GantryStatus:
        """The gantry's status now."""
        return GantryStatus(**self.status("gantry"))

    def read_release(self) -> ReleaseStatus:
        """The release's status now."""
        return ReleaseStatus(**self.status("release"))
