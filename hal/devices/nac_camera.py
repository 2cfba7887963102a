"""HAL driver of the narrow-angle camera board (ICD: :mod:`hal.protocol.devices.nac_camera`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import nac_camera as icd

__all__ = ["NacCameraClient", "NacStatus"]


@dataclass(frozen=True)
class NacStatus:
    """The camera's status report (deg, km, km/s)."""

    tracking: bool
    detected: bool
    azimuth: float
    elevation: float
    range: float
    range_rate: float
    snr: float
    frames: int
    contact: bool

    @property
    def time_to_contact(self) -> float | None:
        """Seconds to contact at the measured closing rate, None if not detected or not closing."""
        if not self.detected or self.range_rate >= 0:
            return None
        return self.range / -self.range_rate


class NacCameraClient(BoardClient):
    """Typed calls to the narrow-angle camera; every call may raise a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def start_tracking(self, frame_period: float = 1.0) -> None:
        """Start tracking, one frame every ``frame_period`` s (0.1 .. 60)."""
        self.command("nac", "start_tracking", frame_period=frame_period)

    def stop_tracking(self) -> None:
        """Stop tracking."""
        self.command("nac", "stop_tracking")

    def read_nac(self) -> NacStatus:
        """The camera's status now."""
        return NacStatus(**self.status("nac"))
