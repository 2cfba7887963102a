"""HAL driver of the EES gantry board (ICD: :mod:`hal.protocol.devices.ees_gantry`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import ees_gantry as icd

__all__ = ["EesGantryClient", "GantryStatus", "ReleaseStatus"]


@dataclass(frozen=True)
class GantryStatus:
    """The gantry's status report (mm, mm/s, A; ``drive`` a code of
    :data:`~hal.protocol.devices.ees_gantry.DRIVE_STATES`)."""

    position: float
    target: float
    speed: float
    current: float
    moving: bool
    drive: int
    stow_switch: bool
    far_switch: bool
    stowed: bool
    vessel_in_ees: bool

    @property
    def drive_name(self) -> str:
        """``idle``, ``moving``, ``at_end`` or ``blocked``."""
        return icd.DRIVE_STATES[self.drive]


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
        """Move the gantry to ``position`` mm (0 .. 1000; past the far end, 850 mm, it stops on
        the EES end switch) at a cruise ``rate`` mm/s (1 .. 20)."""
        self.command("gantry", "move", position=position, rate=rate)

    def insert(self, rate: float) -> None:
        """Carry the vessel into the EES (to the insert position, the far end)."""
        self.move(icd.INSERT_POSITION, rate)

    def stow(self) -> None:
        """Return the gantry to its stow end and latch it."""
        self.command("gantry", "stow")

    def stop(self) -> None:
        """Brake the gantry to a stop (or stop it pushing) and hold."""
        self.command("gantry", "stop")

    def release_ees(self) -> None:
        """Release the Earth Entry System (hazardous, irreversible; the gantry must be stowed)."""
        self.command("release", "release")

    def read_gantry(self) -> GantryStatus:
        """The gantry's status now."""
        return GantryStatus(**self.status("gantry"))

    def read_release(self) -> ReleaseStatus:
        """The release's status now."""
        return ReleaseStatus(**self.status("release"))
