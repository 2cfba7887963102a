"""HAL driver of the Sample Transfer Arm vision board.

ICD: :mod:`hal.protocol.devices.sta_vision`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import sta_vision as icd

__all__ = ["StaVisionClient", "VisionStatus"]


@dataclass(frozen=True)
class VisionStatus:
    """The detection (m, deg, arm base frame) and the last serial read (0: none)."""

    detected: bool
    x: float
    y: float
    z: float
    yaw: float
    serial: int
    confidence: float
    reads: int

    @property
    def pose(self) -> tuple[float, float, float, float]:
        """x, y, z (m) and yaw (deg)."""
        return (self.x, self.y, self.z, self.yaw)


class StaVisionClient(BoardClient):
    """Typed calls to the arm's cameras; every call may raise a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def read_serial(self, min_confidence: float = 0.8) -> VisionStatus:
        """Read the serial of the tube in view and return the status holding it.

        Raises:
            DeviceFailed: ``no_tube`` or ``serial_unreadable`` (detail 1: below
                ``min_confidence``, 2: etching unreadable).
        """
        self.command("cameras", "read_serial", min_confidence=min_confidence)
        return self.read_cameras()

    def read_cameras(self) -> VisionStatus:
        """The detection and last read now."""
        return VisionStatus(**self.status("cameras"))
