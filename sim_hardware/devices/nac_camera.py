"""Emulator of the narrow-angle camera board (ICD: :mod:`hal.protocol.devices.nac_camera`).

Physics at bench level:

* the relative motion is the orbiter's glideslope approach under the Clohessy-Wiltshire
  equations (:class:`sim_hardware.relative_motion.Glideslope`, decision 0055): the OS starts at
  ``initial_range`` km on the bearing ``bearing`` from the boresight (along the orbiter's
  velocity), and the orbiter's impulses bring it to contact after ``range / closing_rate``
  seconds; between them the motion is exact CW, so the range, the bearing and the closing rate
  the camera measures follow from the geometry (the world model restarts an approach with
  :meth:`NacCamera.set_approach`);
* while tracking, the camera takes a frame every ``frame_period`` seconds; the OS's signal-to-noise
  ratio falls with the square of the range (:data:`SNR_AT_REF` at :data:`REF_RANGE` km, times the
  OS's ``brightness``) and it is detected only within
  :data:`~hal.protocol.devices.nac_camera.MAX_RANGE` and above
  :data:`~hal.protocol.devices.nac_camera.SNR_MIN`;
* each detection measures the bearing with Gaussian noise of :data:`BEARING_SIGMA` and the range
  with :data:`RANGE_SIGMA` of itself, both shrinking as the SNR grows, from the seeded generator.

The camera declares no board fault of its own: a blind or lying camera is the generic ``stuck``,
``bias`` or ``noise`` on a status field, or a faint OS (``brightness`` below 1).
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Final

from hal.protocol.devices import nac_camera as icd
from sim_hardware.devices.base import BoardEmulator, Refused
from sim_hardware.relative_motion import Glideslope, mean_motion

REF_RANGE: Final = 1000.0  # km
SNR_AT_REF: Final = 10.0
SNR_MAX: Final = 1000.0
BEARING_SIGMA: Final = 0.02  # deg at the detection threshold
RANGE_SIGMA: Final = 0.02  # of the range, at the detection threshold
RATE_SIGMA: Final = 0.001  # km/s
CONTACT_KM: Final = 0.001  # km
ORBIT_ALTITUDE: Final = 350.0
"""The orbiter's altitude until the world gives its orbit, km (a bench default)."""


class NacCamera(BoardEmulator):
    """The narrow-angle camera and the OS it looks for.

    Args:
        rng: seeded generator.
        initial_range: range of the OS at time 0, km.
        closing_rate: rate at which the range closes, km/s.
        bearing: true azimuth and elevation of the OS from the boresight, deg.
        brightness: the OS's brightness relative to nominal (scales the SNR).
    """

    icd: ClassVar = icd.BOARD

    def __init__(
        self,
        rng: random.Random | None = None,
        *,
        initial_range: float = 2000.0,
        closing_rate: float = 0.05,
        bearing: tuple[float, float] = (0.5, -0.3),
        brightness: float = 1.0,
    ) -> None:
        super().__init__(rng)
        self.bearing = bearing
        self.brightness = brightness
        self.mean_motion = mean_motion(ORBIT_ALTITUDE)
        """The orbiter's mean motion, rad/s (the world model sets its orbit's)."""
        self.approach: Glideslope | None = None
        self._range_then = initial_range
        self.set_approach(initial_range, closing_rate, at=0.0)
        self.tracking = False
        self.frame_period = 1.0
        self.next_frame = 0.0
        self.frames = 0
        self.detected = False
        self.measured = {"azimuth": 0.0, "elevation": 0.0, "range": 0.0, "range_rate": 0.0}
        self.snr = 0.0

    def set_approach(self, range_km: float, closing_rate: float, at: float) -> None:
        """From ``at`` on, the OS is ``range_km`` away on :attr:`bearing`, and the orbiter's
        glideslope brings it to contact ``range_km / closing_rate`` seconds later."""
        az, el = (math.radians(a) for a in self.bearing)
        r0 = (range_km * math.sin(el), range_km * math.cos(el) * math.cos(az),
              range_km * math.cos(el) * math.sin(az))  # fmt: skip
        duration = range_km / closing_rate if closing_rate > 0 else math.inf
        self.closing_rate = closing_rate
        self.approach = (
            Glideslope(at, r0, duration, self.mean_motion) if math.isfinite(duration) else None
        )
        self._range_then = range_km

    def true_range(self, t: float) -> float:
        """The OS's range at ``t``, km."""
        if self.approach is None:
            return self._range_then
        return max(0.0, self.approach.range(t))

    def snr_at(self, range_km: float) -> float:
        """The OS's signal-to-noise ratio at this range."""
        snr = SNR_AT_REF * self.brightness * (REF_RANGE / max(range_km, CONTACT_KM)) ** 2
        return min(snr, SNR_MAX)

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Take every tracking frame due by ``to_time``."""
        super().advance(to_time)
        while self.tracking and self.next_frame <= self.now:
            self._frame(self.next_frame)
            self.next_frame += self.frame_period

    def _frame(self, t: float) -> None:
        self.frames += 1
        r = self.true_range(t)
        self.snr = self.snr_at(r)
        self.detected = r <= icd.MAX_RANGE and self.snr >= icd.SNR_MIN
        if not self.detected:
            return
        scale = math.sqrt(icd.SNR_MIN / self.snr)
        gauss = self.rng.gauss
        azimuth, elevation = self.approach.bearing(t) if self.approach else self.bearing
        rate = self.approach.range_rate(t) if self.approach and r > 0 else 0.0
        self.measured = {
            "azimuth": azimuth + gauss(0.0, BEARING_SIGMA * scale),
            "elevation": elevation + gauss(0.0, BEARING_SIGMA * scale),
            "range": max(0.0, r + gauss(0.0, RANGE_SIGMA * scale * r)),
            "range_rate": rate + gauss(0.0, RATE_SIGMA),
        }

    # ------------------------------------------------------------------ commands

    def cmd_nac_start_tracking(self, values: dict[str, Any], now: float) -> None:
        """Start taking frames now."""
        if self.tracking:
            raise Refused(icd.FAIL_ALREADY_TRACKING)
        self.tracking = True
        self.frame_period = values["frame_period"]
        self.next_frame = now

    def cmd_nac_stop_tracking(self, values: dict[str, Any], now: float) -> None:
        """Stop taking frames."""
        self.tracking = False
        self.detected = False

    # ------------------------------------------------------------------ status

    def status_nac(self, now: float) -> dict[str, Any]:
        """The camera's status report values."""
        return {
            "tracking": self.tracking, "detected": self.detected, **self.measured,
            "snr": self.snr, "frames": self.frames,
            "contact": self.true_range(now) <= CONTACT_KM,
        }  # fmt: skip
