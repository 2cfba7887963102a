"""Emulator of the Sample Transfer Arm vision board (ICD: :mod:`hal.protocol.devices.sta_vision`).

Physics at bench level:

* the world (or a test) puts a tube in view with :meth:`StaVision.present_tube` (its serial and
  true pose) and takes it away with :meth:`StaVision.clear_view`; a tube farther than
  ``max_range`` from the cameras is not detected;
* each status report gives the true pose plus Gaussian noise (``position_sigma`` m,
  ``yaw_sigma`` deg) from the board's seeded generator; the generic ``noise`` and ``bias``
  faults add to that on any pose field;
* a serial read's confidence falls with distance, :data:`READ_BASE` minus :data:`READ_SLOPE`
  per metre, with a little noise; below the commanded ``min_confidence`` the read fails.

Board fault ``serial_unreadable``: the etching cannot be read (dust, glare, a scratched tube):
every read fails with detail :data:`~hal.protocol.devices.sta_vision.UNREADABLE_ETCHING`.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Final

from hal.protocol.devices import sta_vision as icd
from sim_hardware.devices.base import BoardEmulator, Refused

MAX_RANGE: Final = 2.5  # m
POSITION_SIGMA: Final = 0.002  # m
YAW_SIGMA: Final = 0.5  # deg
READ_BASE: Final = 0.99
READ_SLOPE: Final = 0.1  # per m
READ_SIGMA: Final = 0.01

Pose = tuple[float, float, float, float]
"""x, y, z in m (arm base frame), yaw in deg."""


class StaVision(BoardEmulator):
    """The arm's cameras.

    Args:
        rng: seeded generator (pose noise, read confidence).
        max_range: farthest a tube is detected, m.
        position_sigma: standard deviation of the position noise, m.
        yaw_sigma: standard deviation of the yaw noise, deg.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"serial_unreadable"})

    def __init__(
        self,
        rng: random.Random | None = None,
        *,
        max_range: float = MAX_RANGE,
        position_sigma: float = POSITION_SIGMA,
        yaw_sigma: float = YAW_SIGMA,
    ) -> None:
        if max_range <= 0 or position_sigma < 0 or yaw_sigma < 0:
            raise ValueError("max_range must be positive and the sigmas not negative")
        super().__init__(rng)
        self.max_range = max_range
        self.position_sigma = position_sigma
        self.yaw_sigma = yaw_sigma
        self.tube: int | None = None
        self.pose: Pose = (0.0, 0.0, 0.0, 0.0)
        self.serial = 0
        self.confidence = 0.0
        self.reads = 0

    # ------------------------------------------------------------------ the world's side

    def present_tube(self, serial: int, pose: Pose) -> None:
        """Tube ``serial`` is now in view at ``pose`` (x, y, z m; yaw deg); forgets any read.

        Raises:
            ValueError: a serial outside 1..999999.
        """
        if not 1 <= serial <= icd.MAX_SERIAL:
            raise ValueError(f"serial {serial} is outside 1..{icd.MAX_SERIAL}")
        if serial != self.tube:
            self.serial, self.confidence = 0, 0.0
        self.tube = serial
        self.pose = (float(pose[0]), float(pose[1]), float(pose[2]), float(pose[3]))

    def clear_view(self) -> None:
        """Nothing in view any more; forgets any read."""
        self.tube = None
        self.serial, self.confidence = 0, 0.0

    @property
    def distance(self) -> float:
        """Distance from the cameras to the tube in view, m."""
        return math.dist(self.pose[:3], (0.0, 0.0, 0.0))

    @property
    def detected(self) -> bool:
        """A tube is in view and within range."""
        return self.tube is not None and self.distance <= self.max_range

    # ------------------------------------------------------------------ commands

    def cmd_cameras_read_serial(self, values: dict[str, Any], now: float) -> None:
        """Read the serial number of the tube in view."""
        if not self.detected or self.tube is None:
            raise Refused(icd.FAIL_NO_TUBE)
        if self.fault("serial_unreadable", "cameras"):
            raise Refused(icd.FAIL_SERIAL_UNREADABLE, icd.UNREADABLE_ETCHING)
        confidence = READ_BASE - READ_SLOPE * self.distance + self.rng.gauss(0.0, READ_SIGMA)
        confidence = min(max(confidence, 0.0), 1.0)
        if confidence < values["min_confidence"]:
            raise Refused(icd.FAIL_SERIAL_UNREADABLE, icd.UNREADABLE_LOW_CONFIDENCE)
        self.serial, self.confidence = self.tube, confidence
        self.reads = (self.reads + 1) & 0xFFFF

    # ------------------------------------------------------------------ status

    def status_cameras(self, now: float) -> dict[str, Any]:
        """The detection with its noise, and the last read."""
        if self.detected:
            x, y, z, yaw = self.pose
            noisy = [v + self.rng.gauss(0.0, self.position_sigma) for v in (x, y, z)]
            yaw = _wrap(yaw + self.rng.gauss(0.0, self.yaw_sigma))
            pose = {"x": noisy[0], "y": noisy[1], "z": noisy[2], "yaw": yaw}
        else:
            pose = {"x": 0.0, "y": 0.0, "z": 0.0, "yaw": 0.0}
        return {
            "detected": self.detected, **pose,
            "serial": self.serial, "confidence": self.confidence, "reads": self.reads,
        }  # fmt: skip


def _wrap(angle: float) -> float:
    """An angle in -180..180 deg."""
    return (angle + 180.0) % 360.0 - 180.0
