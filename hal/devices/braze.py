"""HAL driver of the brazing board (ICD: :mod:`hal.protocol.devices.braze`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import braze as icd

__all__ = ["BrazeClient", "HeaterStatus", "SealStatus", "SeamStatus"]


@dataclass(frozen=True)
class HeaterStatus:
    """The induction heater drive's status report (W, kJ)."""

    on: bool
    power_set: float
    power: float
    energy: float
    over_temperature: bool


@dataclass(frozen=True)
class SeamStatus:
    """The seam thermocouples' status report (degC, s)."""

    temperature: tuple[float, ...]
    peak: float
    time_at_braze: float
    brazed: bool

    @property
    def coolest(self) -> float:
        """The coolest thermocouple now: the braze is only as good as this one."""
        return min(self.temperature)

    @property
    def at_braze_temperature(self) -> bool:
        """Every thermocouple reads at or above the braze temperature now."""
        return self.coolest >= icd.BRAZE_TEMPERATURE


@dataclass(frozen=True)
class SealStatus:
    """The seal check's status report (leak rate in Pa m3/s)."""

    checking: bool
    checked: bool
    sealed: bool
    leak_rate: float
    checks: int


class BrazeClient(BoardClient):
    """Typed calls to the heater, the seam thermocouples and the seal check; every call may raise
    a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def set_power(self, power: float) -> None:
        """Set the induction drive's power to ``power`` W (0 .. 2000)."""
        self.command("heater", "set_power", power=power)

    def heater_on(self) -> None:
        """Switch the drive on at the set power."""
        self.command("heater", "on")

    def heater_off(self) -> None:
        """Switch the drive off."""
        self.command("heater", "off")

    def reset_braze(self) -> None:
        """Clear the peak, the time at braze temperature and the brazed flag."""
        self.command("thermocouples", "reset_braze")

    def check_seal(self, duration: float) -> None:
        """Start a seal check lasting ``duration`` s (5 .. 600) on the cold seam."""
        self.command("seal", "check", duration=duration)

    def read_heater(self) -> HeaterStatus:
        """The heater drive's status now."""
        return HeaterStatus(**self.status("heater"))

    def read_seam(self) -> SeamStatus:
        """The seam's temperature profile now."""
        s = self.status("thermocouples")
        return SeamStatus(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.items()})

    def read_seal(self) -> SealStatus:
        """The seal check's status now."""
        return SealStatus(**self.status("seal"))
