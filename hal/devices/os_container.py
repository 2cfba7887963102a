"""HAL driver of the Orbiting Sample container board.

ICD: :mod:`hal.protocol.devices.os_container`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import os_container as icd

__all__ = ["LidStatus", "OsContainerClient", "SlotsStatus", "ThermalStatus"]


@dataclass(frozen=True)
class SlotsStatus:
    """The seat switches: ``seated`` has one entry per fitted slot (``capacity`` of them)."""

    capacity: int
    seated: tuple[bool, ...]
    count: int

    def seated_slots(self) -> list[int]:
        """Slots whose seat switch is closed."""
        return [s for s, closed in enumerate(self.seated) if closed]

    def free_slots(self) -> list[int]:
        """Fitted slots whose seat switch is open."""
        return [s for s, closed in enumerate(self.seated) if not closed]


@dataclass(frozen=True)
class LidStatus:
    """The lid (position in %, 0 closed) and its latch."""

    position: float
    moving: bool
    open: bool
    closed: bool
    latch_driven: bool
    latched: bool


@dataclass(frozen=True)
class ThermalStatus:
    """The container's temperature (degC)."""

    temperature: float
    over_limit: bool


class OsContainerClient(BoardClient):
    """Typed calls to the OS container; every call may raise a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def open_lid(self) -> None:
        """Drive the lid open (refused ``latched`` once the latch is driven)."""
        self.command("lid", "open")

    def close_lid(self) -> None:
        """Drive the lid closed."""
        self.command("lid", "close")

    def stop_lid(self) -> None:
        """Stop the lid where it is."""
        self.command("lid", "stop")

    def move_lid(self, position: float) -> None:
        """Drive the lid to ``position`` % (0 closed, 100 open)."""
        self.command("lid", "move", position=position)

    def latch_lid(self) -> None:
        """Drive the latch home (hazardous; refused ``lid_not_closed`` unless the lid is shut)."""
        self.command("lid", "latch")

    def read_slots(self) -> SlotsStatus:
        """The seat switches now, cut to the container's capacity."""
        s = self.status("slots")
        capacity = s["capacity"]
        return SlotsStatus(capacity, tuple(s["seated"][:capacity]), s["count"])

    def read_lid(self) -> LidStatus:
        """The lid's status now."""
        return LidStatus(**self.status("lid"))

    def read_thermal(self) -> ThermalStatus:
        """The container's temperature now."""
        return ThermalStatus(**self.status("thermal"))
