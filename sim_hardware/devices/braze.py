"""Emulator of the brazing board (ICD: :mod:`hal.protocol.devices.braze`).

Physics at bench level:

* the seam heats with a first-order lag of :data:`THERMAL_TAU` toward an equilibrium of
  ``ambient + DEG_PER_WATT * coupling * power`` while the induction drive is on, and cools toward
  the ambient with the same lag when it is off; at full power the seam would settle well above
  700 degC, so the drive's cut-out (:data:`~hal.protocol.devices.braze.CUTOUT_TEMPERATURE`)
  switches it off and latches ``over_temperature``;
* the four thermocouples see the seam's rise above ambient scaled by :data:`GRADIENT` (the side
  furthest from the coil lags), plus Gaussian noise of :data:`TC_NOISE` from the seeded generator;
* the braze counts as done once the coolest thermocouple has held
  :data:`~hal.protocol.devices.braze.BRAZE_TEMPERATURE` for
  :data:`~hal.protocol.devices.braze.BRAZE_DWELL` seconds;
* a seal check lasts the commanded duration; it reports :data:`SEALED_LEAK` on a brazed seam and
  :data:`OPEN_LEAK` on one that was never brazed.

Board faults:

===========================  ===================================================================
``braze_under_temperature``  the coil couples poorly (``coupling``, default 0.6, of nominal):
                             the seam plateaus below 500 degC even at full power, never brazes
``seal_leak``                the seal check measures ``leak_rate`` (default 2e-5 Pa m3/s), so
                             the seam is reported not sealed
===========================  ===================================================================

The physics advance in steps of at most :data:`STEP` seconds, so a test may jump the clock by
minutes and still see the same profile.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Final

from hal.protocol.devices import braze as icd
from sim_hardware.devices.base import BoardEmulator, FaultParam, Refused

THERMAL_TAU: Final = 120.0  # s
DEG_PER_WATT: Final = 0.35  # degC above ambient per W, at equilibrium, nominal coupling
GRADIENT: Final = (1.0, 0.985, 0.97, 0.99)  # share of the seam's rise each thermocouple sees
TC_NOISE: Final = 0.3  # degC
POOR_COUPLING: Final = 0.6  # share of nominal coupling under braze_under_temperature
SEALED_LEAK: Final = 1e-9  # Pa m3/s
OPEN_LEAK: Final = 5e-3  # Pa m3/s
DEFAULT_LEAK: Final = 2e-5  # Pa m3/s, under a seal_leak fault
MAX_LEAK: Final = 1.0
"""Pa m3/s: the largest leak a seal_leak may name, far above a seam never brazed
(:data:`OPEN_LEAK`); a larger figure is a typo (of the exponent), not a leak."""
STEP: Final = 1.0  # s


FAULT_PARAMS: Final = {
    "braze_under_temperature": {
        "coupling": FaultParam(
            "number", "share of the nominal coupling the coil achieves "
            f"(default {POOR_COUPLING:g})", low=0.0, high=1.0,
        ),
    },
    "seal_leak": {
        "leak_rate": FaultParam(
            "number", f"leak the seal check measures, Pa m3/s (default {DEFAULT_LEAK:g})",
            low=0.0, high=MAX_LEAK,
        ),
    },
}  # fmt: skip
"""The parameters of the board's own faults (see the module docstring)."""


class Braze(BoardEmulator):
    """The induction heater, the seam thermocouples and the seal check.

    Args:
        rng: seeded generator.
        ambient: temperature of the vessel and its surroundings, degC.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"braze_under_temperature", "seal_leak"})
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(self, rng: random.Random | None = None, ambient: float = 20.0) -> None:
        super().__init__(rng)
        self.ambient = ambient
        self.seam = ambient  # the hottest point of the seam, degC
        self.on = False
        self.power_set = 0.0
        self.energy = 0.0  # J
        self.over_temperature = False
        self.peak = ambient
        self.time_at_braze = 0.0
        self.brazed = False
        self.check_until: float | None = None
        self.checked = False
        self.sealed = False
        self.leak_rate = 0.0
        self.checks = 0

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Heat or cool the seam, run the cut-out, the braze dwell and the seal check."""
        start = self.now
        super().advance(to_time)
        for t, dt in self.steps(start, self.now, STEP):
            self._thermal(dt)
            if self.check_until is not None and t >= self.check_until:
                self._seal_result()

    def coupling(self) -> float:
        """The share of the drive's power that heats the seam (1 nominal)."""
        fault = self.fault("braze_under_temperature")
        return float(fault.params.get("coupling", POOR_COUPLING)) if fault else 1.0

    def _thermal(self, dt: float) -> None:
        power = self.power_set if self.on else 0.0
        self.energy += power * dt
        equilibrium = self.ambient + DEG_PER_WATT * self.coupling() * power
        self.seam += (equilibrium - self.seam) * (1 - math.exp(-dt / THERMAL_TAU))
        if self.on and self.seam >= icd.CUTOUT_TEMPERATURE:
            self.on = False
            self.over_temperature = True
        coolest = min(self.truth())
        self.peak = max(self.peak, coolest)
        if coolest >= icd.BRAZE_TEMPERATURE:
            self.time_at_braze += dt
            self.brazed = self.brazed or self.time_at_braze >= icd.BRAZE_DWELL

    def truth(self) -> list[float]:
        """Each thermocouple's noiseless reading, degC."""
        return [self.ambient + (self.seam - self.ambient) * g for g in GRADIENT]

    def _seal_result(self) -> None:
        fault = self.fault("seal_leak")
        if fault is not None:
            self.leak_rate = float(fault.params.get("leak_rate", DEFAULT_LEAK))
        else:
            self.leak_rate = SEALED_LEAK if self.brazed else OPEN_LEAK
        self.sealed = self.leak_rate <= icd.LEAK_LIMIT
        self.checked = True
        self.checks += 1
        self.check_until = None

    # ------------------------------------------------------------------ commands

    def cmd_heater_set_power(self, values: dict[str, Any], now: float) -> None:
        """Change the drive's set-point."""
        self.power_set = values["power"]

    def cmd_heater_on(self, values: dict[str, Any], now: float) -> None:
        """Switch the drive on, unless nothing is set, a check runs or the seam is still hot."""
        if self.power_set <= 0:
            raise Refused(icd.FAIL_NO_POWER_SET)
        if self.check_until is not None:
            raise Refused(icd.FAIL_CHECK_RUNNING)
        if self.over_temperature and self.seam > icd.CUTOUT_RESET:
            raise Refused(icd.FAIL_OVER_TEMPERATURE, round(self.seam))
        self.over_temperature = False
        self.on = True

    def cmd_heater_off(self, values: dict[str, Any], now: float) -> None:
        """Switch the drive off."""
        self.on = False

    def cmd_thermocouples_reset_braze(self, values: dict[str, Any], now: float) -> None:
        """Forget the last braze attempt."""
        self.peak = min(self.truth())
        self.time_at_braze = 0.0
        self.brazed = False

    def cmd_seal_check(self, values: dict[str, Any], now: float) -> None:
        """Start a seal check on a cold seam with the heater off."""
        if self.check_until is not None:
            raise Refused(icd.FAIL_CHECK_RUNNING)
        hottest = max(self.truth())
        if self.on or hottest > icd.SEAL_CHECK_MAX_TEMPERATURE:
            raise Refused(icd.FAIL_SEAM_HOT, round(hottest))
        self.check_until = now + values["duration"]

    # ------------------------------------------------------------------ status

    def status_heater(self, now: float) -> dict[str, Any]:
        """The heater drive's status report values."""
        return {
            "on": self.on, "power_set": self.power_set,
            "power": self.power_set if self.on else 0.0, "energy": self.energy / 1000.0,
            "over_temperature": self.over_temperature,
        }  # fmt: skip

    def status_thermocouples(self, now: float) -> dict[str, Any]:
        """The thermocouples' status report values."""
        readings = [t + self.rng.gauss(0.0, TC_NOISE) for t in self.truth()]
        return {
            "temperature": readings, "peak": self.peak, "time_at_braze": self.time_at_braze,
            "brazed": self.brazed,
        }  # fmt: skip

    def status_seal(self, now: float) -> dict[str, Any]:
        """The seal check's status report values."""
        return {
            "checking": self.check_until is not None, "checked": self.checked,
            "sealed": self.sealed, "leak_rate": self.leak_rate, "checks": self.checks,
        }  # fmt: skip
