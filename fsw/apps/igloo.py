"""The igloo's thermal control (lander): the MAV's propellant kept warm through the Mars night.

The MAV waits on the lander in an insulated igloo with 16 separately instrumented heater zones;
its propellant must stay above -40 degC. The app reads the board every ``igloo.control_period``
seconds, conditioning or not, so the fault monitors always judge fresh temperatures (the node
idles in between). ``igloo.condition`` holds every zone at a setpoint with a proportional law,
run at each of these readings::

    duty[z] = clamp(igloo.gain * (setpoint - temperature[z]) * 100 %, 0 .. 100 %)

Each zone's heater has a prime and a redundant element (the board's ``select_element``). A zone
whose heater draws under half the current its duty should has an open element (the HAL judges it
against the ICD's rating, and leaves alone a zone driven too gently to tell, near its setpoint).
On its prime element, the app selects the redundant one, reports it
(``igloo.zone_fault``, "zone 3 prime heater open: switched to the redundant element") and goes
on controlling the zone. On its redundant element (both are open), or with its thermistor
reading open, the zone is reported and left off (``zones_failed``); the others go on. Each
zone's element is read from the board every period, never remembered: after a restart the app
carries on with the elements the board has selected (``zones_redundant`` counts the zones on
their redundant element). A zone outside ``igloo.zone_low .. igloo.zone_high`` is reported when
it leaves them (a cold zone keeps full heat). The door loses heat five times faster open: the
campaign opens it only for the OS's hand-over into the MAV. The MAV's sequencer reads the same
zones through its umbilical and makes its own launch decision: this app only keeps the igloo
warm.
"""

from __future__ import annotations

from typing import Any

from fsw.apps.base import App, OperationFailed
from fsw.core.component import CommandContext, NodeContext
from hal.devices.igloo import IglooClient
from hal.errors import HalError
from hal.protocol.devices import igloo as icd

__all__ = ["IglooThermal"]


class IglooThermal(App):
    """Component ``igloo`` (module docstring)."""

    name = "igloo"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.conditioning = False
        self.setpoint = 0.0
        self.failed: set[int] = set()
        self.out_of_limits: set[int] = set()
        self._next = 0.0
        self._read_at: float | None = None  # when the board was last read
        self._last: dict[str, float] = {"zone_min": 0.0, "zone_max": 0.0, "propellant": 0.0,
                                         "door": 0.0, "zones_redundant": 0}  # fmt: skip

    @property
    def igloo(self) -> IglooClient:
        return self.board("igloo", IglooClient)

    def do_condition(self, cmd: CommandContext, now: float) -> None:
        """``igloo.condition``: start holding the zones at the setpoint (control runs now)."""
        self.setpoint = float(cmd.args["setpoint"])
        self.conditioning = True
        self._next = now
        self._control(now)

    def do_heaters_off(self, cmd: CommandContext, now: float) -> None:
        """``igloo.heaters_off``."""
        self.conditioning = False
        self.igloo.heaters_off()

    def do_open_door(self, cmd: CommandContext, now: float) -> None:
        """``igloo.open_door``."""
        self.igloo.open_door()
        self.ctx.emit("igloo.door", "opening")

    def do_close_door(self, cmd: CommandContext, now: float) -> None:
        """``igloo.close_door``."""
        self.igloo.close_door()
        self.ctx.emit("igloo.door", "closing")

    def next_due(self, now: float) -> float | None:
        """The next reading (and control step while conditioning)."""
        return self._next

    def monitor(self, now: float) -> None:
        """Read the igloo every control period, conditioning or not (the fault monitors judge
        its temperatures), and run the control law while conditioning."""
        if now + 1e-9 >= self._next:
            self._control(now)

    def _control(self, now: float) -> None:
        self._next = now + float(self.ctx.parameter("igloo.control_period"))
        try:
            heaters = self.igloo.read_heaters()
            propellant = self.igloo.read_propellant()
            door = self.igloo.read_door()
        except (HalError, OperationFailed):
            return  # a silent (or absent) igloo: health reports it; the next period tries again
        self._read_at = now
        low = float(self.ctx.parameter("igloo.zone_low"))
        high = float(self.ctx.parameter("igloo.zone_high"))
        gain = float(self.ctx.parameter("igloo.gain"))
        thermistors = set(heaters.open_thermistors())
        for zone in sorted(thermistors - self.failed):
            self.ctx.emit("igloo.zone_fault", f"zone {zone} thermistor open: left off")
        self.failed |= thermistors
        open_heaters = set(heaters.open_heaters())
        for zone in sorted(open_heaters - self.failed):
            self._heater_open(zone, heaters.element[zone], heaters.temperature[zone])
        bad = thermistors | (open_heaters & self.failed)
        out = {z for z, t in enumerate(heaters.temperature) if not low <= t <= high} - bad
        for zone in sorted(out - self.out_of_limits):
            t = heaters.temperature[zone]
            self.ctx.emit("igloo.zone_fault", f"zone {zone} at {t:.1f} degC, outside "
                          f"{low:.0f}..{high:.0f}")  # fmt: skip
        self.out_of_limits = out
        duty = [
            0.0 if z in self.failed else max(0.0, min(100.0, gain * (self.setpoint - t) * 100))
            for z, t in enumerate(heaters.temperature)
        ]
        if self.conditioning:
            self.igloo.set_all(duty)
        good = [t for z, t in enumerate(heaters.temperature) if z not in self.failed]
        self._last = {
            "zone_min": min(good, default=icd.PROPELLANT_MIN),
            "zone_max": max(good, default=icd.PROPELLANT_MIN),
            "propellant": propellant.temperature,
            "door": door.position,
            "zones_redundant": sum(e == icd.REDUNDANT for e in heaters.element),
        }

    def _heater_open(self, zone: int, element: int, temperature: float) -> None:
        """A zone switched on draws no current: over to its redundant element, or left off."""
        if element == icd.PRIME:
            try:
                self.igloo.select_element(zone, icd.REDUNDANT)
            except HalError:
                return  # a silent igloo: the next period finds the zone open and tries again
            self.ctx.emit("igloo.zone_fault", f"zone {zone} prime heater open: switched to the "
                          "redundant element")  # fmt: skip
            return
        self.ctx.emit("igloo.zone_fault", f"zone {zone} redundant heater open too "
                      f"({temperature:.1f} degC): left off")  # fmt: skip
        self.failed.add(zone)

    def sample_times(self, now: float) -> dict[str, float | None]:
        """The temperatures and the door were measured at the last reading of the board (None
        before the first)."""
        at = self._read_at
        return {f"igloo.status.{name}": at for name in self._last}

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``igloo.status``."""
        return {
            "igloo.status": {
                "conditioning": self.conditioning, "setpoint": self.setpoint,
                "zones_failed": len(self.failed), **self._last,
            }
        }  # fmt: skip
