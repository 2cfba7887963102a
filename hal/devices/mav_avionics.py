"""HAL driver of the MAV avionics board (ICD: :mod:`hal.protocol.devices.mav_avionics`).

Releasing the OS is a hazardous command: this driver sends it as asked; the flight software's
hazardous-command gate decides whether to ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import mav_avionics as icd

__all__ = [
    "AttitudeStatus",
    "ImuStatus",
    "MavAvionicsClient",
    "NavStatus",
    "SpinStatus",
    "TvcStatus",
    "UmbilicalStatus",
]


@dataclass(frozen=True)
class ImuStatus:
    """Body rates (deg/s, x roll, y pitch, z yaw) and specific force (m/s^2) on x, y, z."""

    rate: tuple[float, float, float]
    accel: tuple[float, float, float]

    @property
    def specific_force(self) -> float:
        """The magnitude of the specific force, m/s^2."""
        return float(sum(a * a for a in self.accel) ** 0.5)


@dataclass(frozen=True)
class AttitudeStatus:
    """Roll, pitch (nose elevation) and yaw (heading), deg."""

    roll: float
    pitch: float
    yaw: float


@dataclass(frozen=True)
class NavStatus:
    """Altitude (km), speed and vertical speed (m/s)."""

    altitude: float
    speed: float
    vertical_speed: float


@dataclass(frozen=True)
class TvcStatus:
    """Nozzle deflection (deg), slewing, first stage attached."""

    pitch: float
    yaw: float
    moving: bool
    attached: bool


@dataclass(frozen=True)
class SpinStatus:
    """Spin rate and target (rpm), stage separated."""

    rate: float
    target: float
    separated: bool


@dataclass(frozen=True)
class UmbilicalStatus:
    """The lander's igloo readings through the umbilical (degC; ICD ``umbilical``).

    Attributes:
        propellant: MAV solid propellant temperature.
        zone_min, zone_max: coldest and warmest heater-zone thermistor.
        zones_out: heater zones reading outside the ICD's zone limits.
        connected: the umbilical carries readings (false before the first and after the toss,
            when the values are the last ones held).
    """

    propellant: float
    zone_min: float
    zone_max: float
    zones_out: int
    connected: bool


class MavAvionicsClient(BoardClient):
    """Typed calls to the MAV avionics; every call may raise a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def gimbal(self, pitch: float, yaw: float) -> None:
        """Deflect the SRM1 nozzle (deg, within the ICD's limits)."""
        self.command("tvc", "gimbal", pitch=pitch, yaw=yaw)

    def spin_up(self, rate: float) -> None:
        """Spin the second stage to ``rate`` rpm (after separation)."""
        self.command("spin", "spin_up", rate=rate)

    def release_os(self) -> None:
        """Open the OS latch. Hazardous."""
        self.command("os_latch", "release")

    def read_imu(self) -> ImuStatus:
        """The IMU now."""
        s = self.status("imu")
        return ImuStatus(rate=tuple(s["rate"]), accel=tuple(s["accel"]))  # type: ignore[arg-type]

    def read_attitude(self) -> AttitudeStatus:
        """The attitude solution now."""
        return AttitudeStatus(**self.status("attitude"))

    def read_nav(self) -> NavStatus:
        """The navigation solution now."""
        return NavStatus(**self.status("nav"))

    def read_tvc(self) -> TvcStatus:
        """The nozzle now."""
        return TvcStatus(**self.status("tvc"))

    def read_spin(self) -> SpinStatus:
        """The spin motor now."""
        return SpinStatus(**self.status("spin"))

    def read_os_latched(self) -> bool:
        """Whether the OS latch is still closed."""
        return bool(self.status("os_latch")["latched"])

    def read_os_slots(self) -> int:
        """The OS's slot switches through the latch's connector: bit ``n`` set when slot ``n``
        holds a tube; 0 once the latch is open."""
        return int(self.status("os_latch")["slots"])

    def read_umbilical(self) -> UmbilicalStatus:
        """The lander's igloo temperatures through the umbilical now."""
        s = self.status("umbilical")
        return UmbilicalStatus(
            propellant=float(s["propellant"]), zone_min=float(s["zone_min"]),
            zone_max=float(s["zone_max"]), zones_out=int(s["zones_out"]),
            connected=bool(s["connected"]),
        )  # fmt: skip
