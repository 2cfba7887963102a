"""Emulator of the MAV igloo board (ICD: :mod:`hal.protocol.devices.igloo`).

Physics at bench level, integrated in steps of at most :data:`MAX_STEP` seconds (exactly, for
the ambient temperature held over each step):

* the Mars air outside follows a diurnal cycle of one sol (88775 s), coldest (``night``, -90
  degC by default) at ``sol_phase`` 0 and warmest (``day``, -20 degC) half a sol later::

      ambient(t) = (day + night) / 2 - (day - night) / 2 * cos(2 pi (t / sol + sol_phase))

* each zone is a first-order thermal mass ``zone_capacity`` (J/K) heated by its heater (rated
  ``heater_power`` W times the duty cycle) and losing heat to the outside through a conductance
  that grows from ``conductance`` (door closed) to ``conductance_open`` (door fully open);
* each zone's heater has two elements, prime and redundant, of the same rating; the duty drives
  the one ``select_element`` chose (prime at power-on), and only that one heats and draws current;
* the MAV propellant lags the mean zone temperature with the time constant ``propellant_tau``;
* the door travels between closed (0 %) and open (100 %) in ``door_travel`` seconds.

Board fault ``heater_zone_failure`` (``index``: the zone, 0 by default; ``mode``, default
``heater``; ``element``, default ``prime``):

=============  ====================================================================================
``mode``       what fails
=============  ====================================================================================
``heater``     heater elements of the zone are open (which ones: ``element``): while the zone's
               selected element is a failed one it gives no heat and draws no current, and
               ``set_duty`` above zero is refused ``heater_open`` (``set_all`` and
               ``select_element`` are not)
``thermistor`` the zone's thermistor is open: it reads the bottom of its range, -150 degC
               (``element`` does not apply)
``both``       the heater elements (as ``heater``) and the thermistor at once
=============  ====================================================================================

=============  ====================================================================================
``element``    the heater elements that are open (``mode`` ``heater`` or ``both``)
=============  ====================================================================================
``prime``      only the prime element: selecting the redundant one restores the zone's heat
``redundant``  only the redundant element
``both``       both elements: the zone cannot be heated
=============  ====================================================================================

An unknown ``mode`` or ``element`` value, or an ``index`` that is not a zone number, is refused
when the fault is injected (:meth:`~sim_hardware.devices.base.BoardEmulator.check_fault`).
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Final

from hal.protocol.devices import igloo as icd
from sim_hardware.devices.base import BoardEmulator, Fault, FaultParam, Refused

SOL: Final = 88775.0  # s
MAX_STEP: Final = 60.0  # s
HEATER_POWER: Final = icd.HEATER_POWER  # W per zone at 100 %: the ICD's rating by default
BUS_VOLTAGE: Final = icd.BUS_VOLTAGE  # V
ZONE_CAPACITY: Final = 2000.0  # J/K
CONDUCTANCE: Final = 0.2  # W/K, door closed
CONDUCTANCE_OPEN: Final = 1.0  # W/K, door fully open
PROPELLANT_TAU: Final = 40000.0  # s
DOOR_TRAVEL: Final = 60.0  # s
OPEN_THERMISTOR: Final = -150.0  # degC, the reading of an open thermistor
FAILURE_MODES: Final = ("heater", "thermistor", "both")
FAILED_ELEMENTS: Final = {"prime": (icd.PRIME,), "redundant": (icd.REDUNDANT,),
                          "both": (icd.PRIME, icd.REDUNDANT)}  # fmt: skip
"""The ``element`` parameter of ``heater_zone_failure``: the elements it opens."""


def _zone_of(fault: Fault) -> int:
    """The zone a ``heater_zone_failure`` names (``index``, 0 by default)."""
    return int(fault.params.get("index", 0))


FAULT_PARAMS: Final = {
    "heater_zone_failure": {
        "index": FaultParam("integer", "the zone that fails (default 0)",
                            low=0, high=icd.ZONES - 1),
        "mode": FaultParam("word", "what fails (default heater)", words=FAILURE_MODES),
        "element": FaultParam("word", "the heater elements that are open (default prime)",
                              words=tuple(FAILED_ELEMENTS)),
    },
}  # fmt: skip
"""The parameters of the board's own faults (see the module docstring)."""


class Igloo(BoardEmulator):
    """The igloo's heater zones, the MAV propellant and the door.

    Args:
        rng: seeded generator.
        day, night: warmest and coldest ambient temperature of the sol, degC.
        sol: length of the diurnal cycle, s.
        sol_phase: where in the sol t = 0 falls, as a fraction (0: the coldest moment).
        initial: temperature of the zones and the propellant at t = 0, degC.
        heater_power: rated power of each zone's heater, W.
        zone_capacity: heat capacity of each zone, J/K.
        conductance, conductance_open: loss of each zone to the outside, door closed and fully
            open, W/K.
        propellant_tau: lag of the propellant behind the mean zone temperature, s.
        door_travel: seconds for the door to go from closed to open.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"heater_zone_failure"})
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(
        self,
        rng: random.Random | None = None,
        *,
        day: float = -20.0,
        night: float = -90.0,
        sol: float = SOL,
        sol_phase: float = 0.0,
        initial: float = -10.0,
        heater_power: float = HEATER_POWER,
        zone_capacity: float = ZONE_CAPACITY,
        conductance: float = CONDUCTANCE,
        conductance_open: float = CONDUCTANCE_OPEN,
        propellant_tau: float = PROPELLANT_TAU,
        door_travel: float = DOOR_TRAVEL,
    ) -> None:
        positive = (sol, heater_power, zone_capacity, conductance, propellant_tau, door_travel)
        if min(positive) <= 0 or conductance_open < conductance or day < night:
            raise ValueError("igloo parameters must be positive, with day >= night and "
                             "conductance_open >= conductance")  # fmt: skip
        super().__init__(rng)
        self.day, self.night, self.sol, self.sol_phase = day, night, sol, sol_phase
        self.heater_power = heater_power
        self.zone_capacity = zone_capacity
        self.conductance, self.conductance_open = conductance, conductance_open
        self.propellant_tau = propellant_tau
        self.door_travel = door_travel
        self.zone = [float(initial)] * icd.ZONES
        self.duty = [0.0] * icd.ZONES
        self.element = [icd.PRIME] * icd.ZONES
        self.propellant = float(initial)
        self.door = 0.0
        self.door_target = 0.0

    def ambient_at(self, t: float) -> float:
        """The Mars air temperature outside the igloo at simulated time ``t``, degC."""
        mean, swing = (self.day + self.night) / 2, (self.day - self.night) / 2
        return mean - swing * math.cos(2 * math.pi * (t / self.sol + self.sol_phase))

    def _failed(self, zone: int, part: str) -> bool:
        """The zone's heater (``part`` ``heater``: its *selected* element) or thermistor has
        failed (any number of ``heater_zone_failure`` faults may be in effect, on any zones)."""
        for fault in self.faults:
            if fault.kind != "heater_zone_failure" or fault.device not in (None, "heaters"):
                continue
            if _zone_of(fault) != zone:
                continue
            mode = fault.params.get("mode", "heater")
            if mode not in ("both", part):
                continue
            if part != "heater":
                return True
            failed = FAILED_ELEMENTS.get(str(fault.params.get("element", "prime")), ())
            if self.element[zone] in failed:
                return True
        return False

    def _heat(self, zone: int) -> float:
        """Heater power delivered to a zone, W."""
        return 0.0 if self._failed(zone, "heater") else self.heater_power * self.duty[zone] / 100

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Move the door and integrate the thermal model up to ``to_time``."""
        t = self.now
        super().advance(to_time)
        while t < to_time - 1e-9:
            dt = min(MAX_STEP, to_time - t)
            self._step(t + dt / 2, dt)
            t += dt

    def _step(self, mid: float, dt: float) -> None:
        move = min(abs(self.door_target - self.door), 100.0 / self.door_travel * dt)
        self.door += move if self.door_target > self.door else -move
        ambient = self.ambient_at(mid)
        loss = self.conductance + (self.conductance_open - self.conductance) * self.door / 100
        lag = 1 - math.exp(-dt * loss / self.zone_capacity)
        for z in range(icd.ZONES):
            equilibrium = ambient + self._heat(z) / loss
            self.zone[z] += (equilibrium - self.zone[z]) * lag
        mean = sum(self.zone) / icd.ZONES
        self.propellant += (mean - self.propellant) * (1 - math.exp(-dt / self.propellant_tau))

    # ------------------------------------------------------------------ commands

    def cmd_heaters_set_duty(self, values: dict[str, Any], now: float) -> None:
        """Set one zone's duty cycle; an open heater cannot be switched on."""
        zone, duty = values["zone"], values["duty"]
        if duty > 0 and self._failed(zone, "heater"):
            raise Refused(icd.FAIL_HEATER_OPEN, zone)
        self.duty[zone] = duty

    def cmd_heaters_set_all(self, values: dict[str, Any], now: float) -> None:
        """Set every zone's duty cycle."""
        self.duty = list(values["duty"])

    def cmd_heaters_all_off(self, values: dict[str, Any], now: float) -> None:
        """Every heater off."""
        self.duty = [0.0] * icd.ZONES

    def cmd_heaters_select_element(self, values: dict[str, Any], now: float) -> None:
        """Drive a zone's duty through its prime or redundant element (never refused)."""
        self.element[values["zone"]] = values["element"]

    def cmd_door_open(self, values: dict[str, Any], now: float) -> None:
        """Drive the door open."""
        self.door_target = 100.0

    def cmd_door_close(self, values: dict[str, Any], now: float) -> None:
        """Drive the door closed."""
        self.door_target = 0.0

    def cmd_door_stop(self, values: dict[str, Any], now: float) -> None:
        """Stop the door where it is."""
        self.door_target = self.door

    # ------------------------------------------------------------------ status

    def status_heaters(self, now: float) -> dict[str, Any]:
        """Zone thermistors, duty cycles, heater currents and selected elements."""
        return {
            "temperature": [OPEN_THERMISTOR if self._failed(z, "thermistor") else t
                            for z, t in enumerate(self.zone)],
            "duty": list(self.duty),
            "current": [self._heat(z) / BUS_VOLTAGE for z in range(icd.ZONES)],
            "element": list(self.element),
        }  # fmt: skip

    def status_propellant(self, now: float) -> dict[str, Any]:
        """The propellant's temperature and the outside air's."""
        return {
            "temperature": self.propellant,
            "ambient": self.ambient_at(self.now),
            "cold": self.propellant < icd.PROPELLANT_MIN,
        }

    def status_door(self, now: float) -> dict[str, Any]:
        """The door's position and limit switches."""
        return {
            "position": self.door, "moving": abs(self.door_target - self.door) > 1e-9,
            "open": self.door >= 100.0, "closed": self.door <= 0.0,
        }  # fmt: skip
