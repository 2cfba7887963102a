"""HAL driver of the MAV igloo board (ICD: :mod:`hal.protocol.devices.igloo`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from hal.devices.base import BoardClient
from hal.protocol.devices import igloo as icd

__all__ = ["DoorStatus", "HeatersStatus", "IglooClient", "PropellantStatus"]

OPEN_THERMISTOR: Final = -150.0  # degC: the bottom of the range, an open thermistor


@dataclass(frozen=True)
class HeatersStatus:
    """The heater zones (degC, %, A, element), zone 0 first; ``element`` is the heater element
    each zone's duty drives (``icd.PRIME`` 0, ``icd.REDUNDANT`` 1)."""

    temperature: tuple[float, ...]
    duty: tuple[float, ...]
    current: tuple[float, ...]
    element: tuple[int, ...]

    def expected_current(self, zone: int) -> float:
        """A, what zone ``zone``'s heater draws at its duty when its element works (the ICD's
        rating: ``duty / 100 * HEATER_POWER / BUS_VOLTAGE``)."""
        return self.duty[zone] / 100 * icd.HEATER_POWER / icd.BUS_VOLTAGE

    def open_heaters(self) -> list[int]:
        """Zones whose heater draws under half the current its duty should (the selected
        element is open, or failing).

        A zone is judged only when its expected current is over twice the current sense's
        accuracy, so that a dead element (reading at most the accuracy) and a working one (at
        least the expected current less the accuracy) fall on either side of the half: at the
        ICD's rating, a duty over 1.4 %. A zone driven more gently is never called open.
        """
        judged = [z for z in range(len(self.duty))
                  if self.expected_current(z) > 2 * icd.CURRENT_ACCURACY]  # fmt: skip
        return [z for z in judged if self.current[z] < self.expected_current(z) / 2]

    def open_thermistors(self) -> list[int]:
        """Zones whose thermistor reads the bottom of its range (open circuit)."""
        return [z for z, t in enumerate(self.temperature) if t <= OPEN_THERMISTOR]


@dataclass(frozen=True)
class PropellantStatus:
    """The MAV propellant and the air outside (degC)."""

    temperature: float
    ambient: float
    cold: bool


@dataclass(frozen=True)
class DoorStatus:
    """The igloo door (position in %, 0 closed)."""

    position: float
    moving: bool
    open: bool
    closed: bool


class IglooClient(BoardClient):
    """Typed calls to the igloo; every call may raise a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def set_duty(self, zone: int, duty: float) -> None:
        """Set zone ``zone``'s (0..15) heater to ``duty`` % (refused ``heater_open``)."""
        self.command("heaters", "set_duty", zone=zone, duty=duty)

    def set_all(self, duty: Sequence[float]) -> None:
        """Set all sixteen zones' duty cycles, %."""
        self.command("heaters", "set_all", duty=list(duty))

    def select_element(self, zone: int, element: int) -> None:
        """Drive zone ``zone``'s (0..15) duty through heater element ``element`` (0 prime,
        1 redundant); never refused for a failed element (it then draws no current)."""
        self.command("heaters", "select_element", zone=zone, element=element)

    def heaters_off(self) -> None:
        """Every heater off."""
        self.command("heaters", "all_off")

    def open_door(self) -> None:
        """Drive the door open."""
        self.command("door", "open")

    def close_door(self) -> None:
        """Drive the door closed."""
        self.command("door", "close")

    def stop_door(self) -> None:
        """Stop the door where it is."""
        self.command("door", "stop")

    def read_heaters(self) -> HeatersStatus:
        """The heater zones now."""
        return HeatersStatus(**{k: tuple(v) for k, v in self.status("heaters").items()})

    def read_propellant(self) -> PropellantStatus:
        """The propellant's temperature now."""
        return PropellantStatus(**self.status("propellant"))

    def read_door(self) -> DoorStatus:
        """The door now."""
        return DoorStatus(**self.status("door"))
