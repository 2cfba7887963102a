"""Emulator of the MAV avionics board (ICD: :mod:`hal.protocol.devices.mav_avionics`).

An ascent model at bench level, in the plane of the launch azimuth around a spherical,
non-rotating Mars (point mass, no drag: the atmosphere is thin enough for a bench):

* resting on the lander the MAV lies in its cradle (pitch 0); the accelerometers read Mars gravity,
  :data:`MU`/:data:`RADIUS`\\ :sup:`2` (about 3.7 m/s^2), on body z;
* the events come from the pyro board, through the simulator, as calls: :meth:`MavAvionics.toss`,
  :meth:`MavAvionics.ignite_srm1`, :meth:`MavAvionics.ignite_srm2` (the two emulators stay
  independent objects; neither imports the other). An event at or after :attr:`now` takes effect
  at its time, an earlier one at :attr:`now`. An ignition that never comes means no thrust: after
  the toss the MAV falls back (the flight software sees a free fall, about 0 m/s^2, then the
  landing), and the model stops there (:attr:`MavAvionics.phase` ``fell``);
* the toss throws the MAV upward for ``toss_duration`` at ``toss_accel`` and tips the nose up to
  the start of the pitch programme;
* SRM1 burns ``srm1_burn`` seconds at constant thrust (``srm1_propellant`` kg at ``isp``). The
  nose follows a pitch programme, linear from ``pitch_start`` to ``pitch_end`` over the burn, plus
  the attitude error the TVC must hold: the error's angular acceleration is ``tvc_authority``
  (deg/s^2 per degree of nozzle deflection, at full thrust) times the deflection, plus
  ``disturbance`` (deg/s^2, thrust misalignment). The thrust points along the nose, so an error
  not held bends the trajectory;
* at SRM1 burnout the first stage separates (``stage1_dry`` kg dropped) and the stage coasts
  nose along the velocity; the spin motor spins it up at :data:`SPIN_ACCEL`;
* SRM2 burns ``srm2_burn`` seconds along the velocity. With the defaults, SRM2 lit when the
  climb has slowed to :data:`SRM2_IGNITION_CLIMB` (about 470 s after SRM1 burnout, near the top
  of the coast, so that the burn straddles it) ends in an orbit of about 340 x 360 km, inclined
  about 25 deg; :meth:`MavAvionics.orbit` gives its elements for the world model, and
  :attr:`MavAvionics.os_released_at` when the OS was let go.

Defaults are public-order figures (MAV about 400 kg, two solid motors), not flight data; every one
is a constructor argument. The inclination follows from the launch site's latitude and the launch
azimuth (``cos i = cos(latitude) sin(azimuth)``).

The ``umbilical`` device carries the lander's igloo readings to the MAV (decision 0018): the
simulator's coupling hands them over at every sync (:meth:`MavAvionics.umbilical_readings`, from
the igloo emulator; the two boards stay independent objects). The board reports the propellant
temperature, the coldest and warmest zone and how many zones read outside the ICD's zone limits.
Until the first readings arrive the umbilical is not connected and reads like an open line
(:data:`UMBILICAL_OPEN` degC, every zone out); from the toss on it is broken: not connected, the
last readings held, later ones ignored.

The OS's slot switches reach the avionics through the latch's connector: the simulator's coupling
sets :attr:`MavAvionics.os_slots` (the world's slot mask) at every sync while the OS is in the
MAV, and the ``os_latch`` status reports it while the latch is closed; 0 once it is open.

Board fault: ``imu_rate_spike`` (``axis`` 0..2, ``size`` deg/s) adds a spike to the gyro reading
of every second status report, the classic single-event upset the rate-limit abort must not take
for a tumble. Generic ``bias``, ``noise`` and ``stuck`` apply to every status field.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hal.protocol.devices import igloo as igloo_icd
from hal.protocol.devices import mav_avionics as icd
from sim_hardware.devices.base import BoardEmulator, FaultParam, Refused

MU: Final = 4.2828e13  # m^3/s^2, Mars
RADIUS: Final = 3389.5e3  # m, mean radius
G0: Final = 9.80665  # m/s^2, for specific impulse
TVC_SLEW: Final = 20.0  # deg/s
SPIN_ACCEL: Final = 10.0  # rpm/s
STEP_POWERED: Final = 0.05  # s
STEP_COAST: Final = 1.0  # s
UMBILICAL_OPEN: Final = -150.0
"""What an umbilical line carrying no reading reads, degC (the bottom of the thermistor range)."""
SRM2_IGNITION_CLIMB: Final = 40.0
"""Vertical speed (m/s) at which the default trajectory lights SRM2 (a guidance figure)."""
SPIKE_AXIS: Final = 1  # the gyro axis an imu_rate_spike naming none spikes: y (pitch)
SPIKE_SIZE: Final = 500.0
"""deg/s an imu_rate_spike naming no size adds: a single-event upset well past the flight
software's rate limit (20 deg/s by default), which its M-of-N rate check must not take for a
tumble."""


@dataclass(frozen=True)
class OrbitElements:
    """The stage's (and OS's) orbit, as the world model's ``Orbit`` takes it.

    Attributes:
        altitude_km: semi-major axis minus the mean radius of Mars.
        periapsis_km, apoapsis_km: lowest and highest altitude.
        inclination_deg: to the Mars equator.
        eccentricity: 0 circular.
        epoch: the simulated time these hold at.
    """

    altitude_km: float
    periapsis_km: float
    apoapsis_km: float
    inclination_deg: float
    eccentricity: float
    epoch: float


FAULT_PARAMS: Final = {
    "imu_rate_spike": {
        "axis": FaultParam("integer", f"the gyro axis spiked: 0 x, 1 y, 2 z "
                           f"(default {SPIKE_AXIS})", low=0, high=2),
        "size": FaultParam("number", f"the spike added, deg/s (default {SPIKE_SIZE:g})"),
    },
}  # fmt: skip
"""The parameters of the board's own faults (see the module docstring)."""


class MavAvionics(BoardEmulator):
    """The MAV's IMU, attitude and navigation, TVC, spin motor and OS latch, over an ascent model.

    Args:
        rng: seeded generator.
        mass: lift-off mass, kg.
        srm1_propellant, srm1_burn: first-stage propellant (kg) and burn time (s).
        stage1_dry: first-stage mass dropped at separation, kg.
        srm2_propellant, srm2_burn: second-stage propellant (kg) and burn time (s).
        isp: specific impulse of both motors, s.
        toss_accel, toss_duration: the toss's upward acceleration (m/s^2, over gravity) and time.
        pitch_start, pitch_end: the SRM1 pitch programme, nose elevation in deg.
        tvc_authority: nose angular acceleration per degree of nozzle deflection, deg/s^2.
        disturbance: constant angular acceleration in pitch during the SRM1 burn, deg/s^2.
        latitude, azimuth: launch site latitude (Jezero, about 18.4 N) and heading, deg.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"imu_rate_spike"})
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(
        self,
        rng: random.Random | None = None,
        *,
        mass: float = 400.0,
        srm1_propellant: float = 215.0,
        srm1_burn: float = 75.0,
        stage1_dry: float = 45.0,
        srm2_propellant: float = 72.0,
        srm2_burn: float = 30.0,
        isp: float = 290.0,
        toss_accel: float = 12.0,
        toss_duration: float = 0.3,
        pitch_start: float = 70.0,
        pitch_end: float = 30.0,
        tvc_authority: float = 10.0,
        disturbance: float = 0.0,
        latitude: float = 18.4,
        azimuth: float = 73.0,
    ) -> None:
        super().__init__(rng)
        self.mass = mass
        self.srm1_propellant, self.srm1_burn = srm1_propellant, srm1_burn
        self.stage1_dry = stage1_dry
        self.srm2_propellant, self.srm2_burn = srm2_propellant, srm2_burn
        self.isp = isp
        self.toss_accel, self.toss_duration = toss_accel, toss_duration
        self.pitch_start, self.pitch_end = pitch_start, pitch_end
        self.tvc_authority, self.disturbance = tvc_authority, disturbance
        self.latitude, self.azimuth = latitude, azimuth
        # translational state, polar in the launch plane
        self.r, self.theta, self.vr, self.vt = RADIUS, 0.0, 0.0, 0.0
        self.phase = "on_lander"
        self.tossed_at: float | None = None
        self.srm1_at: float | None = None
        self.srm2_at: float | None = None
        self.separated_at: float | None = None
        self.os_released_at: float | None = None
        # attitude: programme + error (deg, deg/s)
        self.pitch = 0.0
        self.pitch_rate = 0.0
        self.error = [0.0, 0.0]  # pitch, yaw
        self.error_rate = [0.0, 0.0]
        self.roll = 0.0
        self.spin_rate = 0.0
        self.spin_target = 0.0
        self.gimbal = [0.0, 0.0]
        self.gimbal_target = [0.0, 0.0]
        self.specific_force = (0.0, 0.0, MU / RADIUS**2)
        self.latched = True
        self.os_slots = 0  # the OS's slot switches through the latch's connector (the coupling's)
        self._reports = 0
        # the umbilical: the lander's igloo readings, held as last received
        self.umbilical_fed = False
        self.propellant_temp = UMBILICAL_OPEN
        self.zone_temps: tuple[float, ...] = ()

    # ------------------------------------------------------------------ events from the pyros

    def toss(self, at: float) -> None:
        """The lander's toss actuator fired at ``at``."""
        if self.tossed_at is None and self.phase == "on_lander":
            self.tossed_at = max(at, self.now)

    def ignite_srm1(self, at: float) -> None:
        """The SRM1 igniter fired at ``at``."""
        if self.srm1_at is None and self.phase != "fell":
            self.srm1_at = max(at, self.now)

    def ignite_srm2(self, at: float) -> None:
        """The SRM2 igniter fired at ``at`` (ignored before stage separation: no ignition)."""
        if self.srm2_at is None and self.separated_at is not None:
            self.srm2_at = max(at, self.now)

    # ------------------------------------------------------------------ the lander umbilical

    @property
    def umbilical_connected(self) -> bool:
        """The umbilical carries readings: fed at least once and not yet broken by the toss."""
        return self.umbilical_fed and (self.tossed_at is None or self.now < self.tossed_at)

    def umbilical_readings(
        self, propellant: float, zones: tuple[float, ...] | list[float], at: float | None = None
    ) -> None:
        """The lander's igloo readings at ``at`` (default :attr:`now`; the simulator's coupling,
        at every sync): propellant and heater-zone thermistors, degC. Ignored from the toss on,
        which breaks the umbilical."""
        when = self.now if at is None else max(at, self.now)
        if self.tossed_at is not None and when >= self.tossed_at:
            return
        self.umbilical_fed = True
        self.propellant_temp = float(propellant)
        self.zone_temps = tuple(float(t) for t in zones)

    # ------------------------------------------------------------------ state for the world

    @property
    def altitude(self) -> float:
        """Altitude above the mean radius, m."""
        return self.r - RADIUS

    @property
    def speed(self) -> float:
        """Inertial speed, m/s."""
        return math.hypot(self.vr, self.vt)

    @property
    def inclination(self) -> float:
        """Inclination of the launch plane, deg."""
        lat, az = math.radians(self.latitude), math.radians(self.azimuth)
        return math.degrees(math.acos(max(-1.0, min(1.0, math.cos(lat) * math.sin(az)))))

    def orbit(self) -> OrbitElements:
        """The osculating orbit at :attr:`now` (advance the board first); meaningful once
        :attr:`phase` is ``orbit``."""
        energy = self.speed**2 / 2 - MU / self.r
        h = self.r * self.vt
        a = -MU / (2 * energy) if energy < 0 else math.inf
        e = math.sqrt(max(0.0, 1 + 2 * energy * h * h / MU**2))
        peri = a * (1 - e) if math.isfinite(a) else self.r
        apo = a * (1 + e) if math.isfinite(a) else math.inf
        return OrbitElements(
            altitude_km=(a - RADIUS) / 1e3, periapsis_km=(peri - RADIUS) / 1e3,
            apoapsis_km=(apo - RADIUS) / 1e3, inclination_deg=self.inclination,
            eccentricity=e, epoch=self.now,
        )  # fmt: skip

    # ------------------------------------------------------------------ physics

    def _current_mass(self, t: float) -> float:
        m = self.mass
        if self.srm1_at is not None and t > self.srm1_at:
            m -= self.srm1_propellant * min(1.0, (t - self.srm1_at) / self.srm1_burn)
        if self.separated_at is not None and t >= self.separated_at:
            m -= self.stage1_dry
        if self.srm2_at is not None and t > self.srm2_at:
            m -= self.srm2_propellant * min(1.0, (t - self.srm2_at) / self.srm2_burn)
        return m

    def _thrust(self, t: float) -> tuple[float, str]:
        """Thrust (N) at ``t`` and which motor."""
        for at, prop, burn, motor in (
            (self.srm1_at, self.srm1_propellant, self.srm1_burn, "srm1"),
            (self.srm2_at, self.srm2_propellant, self.srm2_burn, "srm2"),
        ):
            if at is not None and at <= t < at + burn:
                return prop / burn * self.isp * G0, motor
        return 0.0, ""

    def _breakpoints(self, start: float, end: float) -> list[float]:
        points = [end]
        for t in (self.tossed_at, self.srm1_at, self.srm2_at):
            if t is not None:
                points.append(t)
        if self.tossed_at is not None:
            points.append(self.tossed_at + self.toss_duration)
        for at, burn in ((self.srm1_at, self.srm1_burn), (self.srm2_at, self.srm2_burn)):
            if at is not None:
                points.append(at + burn)
        return sorted(t for t in set(points) if start < t <= end)

    def advance(self, to_time: float) -> None:
        """Fly the model to ``to_time``."""
        start = self.now
        super().advance(to_time)
        t = start
        for stop in self._breakpoints(start, self.now):
            while t < stop - 1e-9:
                powered = self._powered(t) or self.altitude < 1e4
                h = min(STEP_POWERED if powered else STEP_COAST, stop - t)
                self._step(t, h)
                t += h
            t = stop
            self._events(t)

    def _powered(self, t: float) -> bool:
        thrust, _ = self._thrust(t)
        toss = self.tossed_at is not None and 0 <= t - self.tossed_at < self.toss_duration
        return thrust > 0 or toss

    def _events(self, t: float) -> None:
        """Phase changes at a breakpoint."""
        if self.srm1_at is not None and self.separated_at is None:
            if t >= self.srm1_at + self.srm1_burn:
                self.separated_at = t
                self.phase = "coast"
        if self.srm2_at is not None and t >= self.srm2_at + self.srm2_burn:
            self.phase = "orbit"

    def _accel(self, t: float, state: tuple[float, float, float, float]) -> tuple[float, ...]:
        r, _, vr, vt = state
        thrust, motor = self._thrust(t)
        a_r = vt * vt / r - MU / (r * r)
        a_t = -vr * vt / r
        toss = self.tossed_at is not None and 0 <= t - self.tossed_at < self.toss_duration
        if toss and not thrust:
            a_r += MU / (r * r) + self.toss_accel
        if thrust:
            f = thrust / self._current_mass(t)
            if motor == "srm1":
                elevation = math.radians(self._programme(t) + self.error[0])
            else:
                elevation = math.atan2(vr, vt) if vt or vr else math.pi / 2
            a_r += f * math.sin(elevation)
            a_t += f * math.cos(elevation)
        return (vr, vt / r, a_r, a_t)

    def _programme(self, t: float) -> float:
        """The nominal nose elevation at ``t`` (without the TVC's error), deg."""
        if self.tossed_at is None or t < self.tossed_at:
            return 0.0
        if self.srm1_at is None or t < self.srm1_at:
            tip = min(1.0, (t - self.tossed_at) / self.toss_duration)
            return self.pitch_start * tip
        if self.separated_at is None:
            frac = min(1.0, (t - self.srm1_at) / self.srm1_burn)
            return self.pitch_start + (self.pitch_end - self.pitch_start) * frac
        return math.degrees(math.atan2(self.vr, self.vt))

    def _step(self, t: float, h: float) -> None:
        if self.phase in ("on_lander", "fell") and self.tossed_at is None and self.srm1_at is None:
            self._attitude(t, h)
            return
        if self.phase == "fell":
            self._attitude(t, h)
            return
        s0 = (self.r, self.theta, self.vr, self.vt)
        k1 = self._accel(t, s0)
        s1 = tuple(s + h / 2 * k for s, k in zip(s0, k1, strict=True))
        k2 = self._accel(t + h / 2, s1)  # type: ignore[arg-type]
        s2 = tuple(s + h / 2 * k for s, k in zip(s0, k2, strict=True))
        k3 = self._accel(t + h / 2, s2)  # type: ignore[arg-type]
        s3 = tuple(s + h * k for s, k in zip(s0, k3, strict=True))
        k4 = self._accel(t + h, s3)  # type: ignore[arg-type]
        self.r, self.theta, self.vr, self.vt = (
            s + h / 6 * (a + 2 * b + 2 * c + d)
            for s, a, b, c, d in zip(s0, k1, k2, k3, k4, strict=True)
        )
        if self.phase == "on_lander" and self.tossed_at is not None and t >= self.tossed_at:
            self.phase = "tossed"
        if self.srm1_at is not None and t >= self.srm1_at and self.phase == "tossed":
            self.phase = "srm1_burn"
        if self.srm2_at is not None and t >= self.srm2_at and self.phase == "coast":
            self.phase = "srm2_burn"
        if self.r < RADIUS:
            self.r, self.vr, self.vt = RADIUS, 0.0, 0.0
            self.phase = "fell"
        self._attitude(t + h, h)

    def _attitude(self, t: float, h: float) -> None:
        """Attitude, rates, gimbal, spin and specific force at the end of a step to ``t``."""
        for axis in (0, 1):
            step = TVC_SLEW * h
            delta = self.gimbal_target[axis] - self.gimbal[axis]
            self.gimbal[axis] += max(-step, min(step, delta))
        thrust, motor = self._thrust(t - h / 2)
        if motor == "srm1":
            for axis in (0, 1):
                accel = self.tvc_authority * self.gimbal[axis]
                accel += self.disturbance if axis == 0 else 0.0
                self.error_rate[axis] += accel * h
        for axis in (0, 1):
            self.error[axis] += self.error_rate[axis] * h
        step = SPIN_ACCEL * h
        self.spin_rate += max(-step, min(step, self.spin_target - self.spin_rate))
        self.roll = (self.roll + self.spin_rate * 6.0 * h + 180.0) % 360.0 - 180.0
        pitch = self._programme(t) + self.error[0] if self.phase != "fell" else 0.0
        self.pitch_rate = (pitch - self.pitch) / h if h > 0 else 0.0
        self.pitch = pitch
        g = MU / self.r**2
        if self.phase in ("on_lander", "fell"):
            sf_up, sf_h = g, 0.0
        elif thrust:
            f = thrust / self._current_mass(t - h / 2)
            self.specific_force = (f, 0.0, 0.0)
            return
        elif self.tossed_at is not None and 0 <= t - h / 2 - self.tossed_at < self.toss_duration:
            sf_up, sf_h = g + self.toss_accel, 0.0
        else:
            sf_up, sf_h = 0.0, 0.0
        p = math.radians(self.pitch)
        self.specific_force = (
            sf_h * math.cos(p) + sf_up * math.sin(p),
            0.0,
            -sf_h * math.sin(p) + sf_up * math.cos(p),
        )

    # ------------------------------------------------------------------ commands

    def cmd_tvc_gimbal(self, values: dict[str, Any], now: float) -> None:
        """Slew the nozzle to a deflection."""
        if self.separated_at is not None:
            raise Refused(icd.FAIL_SEPARATED)
        self.gimbal_target = [values["pitch"], values["yaw"]]

    def cmd_spin_spin_up(self, values: dict[str, Any], now: float) -> None:
        """Spin the second stage toward a rate."""
        if self.separated_at is None:
            raise Refused(icd.FAIL_NOT_SEPARATED)
        self.spin_target = values["rate"]

    def cmd_os_latch_release(self, values: dict[str, Any], now: float) -> None:
        """Let the OS go."""
        if not self.latched:
            raise Refused(icd.FAIL_ALREADY_RELEASED)
        self.latched = False
        self.os_released_at = now

    # ------------------------------------------------------------------ status

    def status_imu(self, now: float) -> dict[str, Any]:
        """The IMU's status report values."""
        self._reports += 1
        rate = [self.spin_rate * 6.0, self.pitch_rate, self.error_rate[1]]
        spike = self.fault("imu_rate_spike", "imu")
        if spike is not None and self._reports % 2 == 0:
            axis = int(spike.params.get("axis", SPIKE_AXIS))
            rate[axis] += float(spike.params.get("size", SPIKE_SIZE))
        return {"rate": rate, "accel": list(self.specific_force)}

    def status_attitude(self, now: float) -> dict[str, Any]:
        """The attitude solution's status report values."""
        yaw = (self.azimuth + self.error[1]) % 360.0
        return {"roll": self.roll, "pitch": self.pitch, "yaw": yaw}

    def status_nav(self, now: float) -> dict[str, Any]:
        """The navigation solution's status report values."""
        return {"altitude": self.altitude / 1e3, "speed": self.speed, "vertical_speed": self.vr}

    def status_tvc(self, now: float) -> dict[str, Any]:
        """The TVC's status report values."""
        moving = any(
            abs(a - b) > 1e-6 for a, b in zip(self.gimbal, self.gimbal_target, strict=True)
        )
        return {
            "pitch": self.gimbal[0], "yaw": self.gimbal[1], "moving": moving,
            "attached": self.separated_at is None,
        }  # fmt: skip

    def status_spin(self, now: float) -> dict[str, Any]:
        """The spin motor's status report values."""
        return {
            "rate": self.spin_rate, "target": self.spin_target,
            "separated": self.separated_at is not None,
        }  # fmt: skip

    def status_os_latch(self, now: float) -> dict[str, Any]:
        """The OS latch's status report values: the OS's slot switches only while latched (the
        connector parts with the latch)."""
        return {"latched": self.latched, "slots": self.os_slots if self.latched else 0}

    def status_umbilical(self, now: float) -> dict[str, Any]:
        """The umbilical's status report values (the last readings held)."""
        zones = self.zone_temps or (UMBILICAL_OPEN,)
        out = sum(1 for t in self.zone_temps if not icd.ZONE_LOW <= t <= icd.ZONE_HIGH)
        return {
            "propellant": self.propellant_temp, "zone_min": min(zones), "zone_max": max(zones),
            "zones_out": out if self.umbilical_fed else igloo_icd.ZONES,
            "connected": self.umbilical_connected,
        }  # fmt: skip
