"""Emulator of the MAV avionics board (ICD: :mod:`hal.protocol.devices.mav_avionics`).

A three-dimensional ascent model at bench level (decision 0057): a point-mass, spherical Mars
(no drag: the atmosphere is thin enough for a bench) turning at :data:`MARS_ROTATION`, and the
MAV's position and velocity as 3-vectors in a Mars-centred inertial frame (z along Mars's spin
axis, x through the prime meridian at simulated time 0; plain float tuples, integrated by RK4 at
:data:`STEP_POWERED` while powered or low and :data:`STEP_COAST` in the coast):

* resting on the lander the MAV lies in its cradle (pitch 0, nose along the launch azimuth) at
  ``latitude`` and ``longitude``, turning with Mars (so the inertial speed on the pad is the
  site's surface speed, about 228 m/s east at Jezero); the accelerometers read Mars gravity,
  :data:`MU`/:data:`RADIUS`\\ :sup:`2` (about 3.7 m/s^2), on body z;
* the events come from the pyro board, through the simulator, as calls: :meth:`MavAvionics.toss`,
  :meth:`MavAvionics.ignite_srm1`, :meth:`MavAvionics.ignite_srm2` (the two emulators stay
  independent objects; neither imports the other). An event at or after :attr:`now` takes effect
  at its time, an earlier one at :attr:`now`. An ignition that never comes means no thrust: after
  the toss the MAV falls back (the flight software sees a free fall, about 0 m/s^2, then the
  landing), and the model stops there (:attr:`MavAvionics.phase` ``fell``);
* the toss throws the MAV upward (radially) for ``toss_duration`` at ``toss_accel`` and tips the
  nose up to the start of the pitch programme;
* SRM1 burns ``srm1_burn`` seconds at constant thrust (``srm1_propellant`` kg at ``isp``). The
  nose is given by pitch (elevation above the local horizon) and yaw (heading from local north):
  pitch follows a programme, linear from ``pitch_start`` to ``pitch_end`` over the burn, yaw holds
  the launch ``azimuth``, each plus the attitude error the TVC must hold: the error's angular
  acceleration is ``tvc_authority`` (deg/s^2 per degree of nozzle deflection, at full thrust)
  times the deflection, plus ``disturbance`` (pitch) and ``yaw_disturbance`` (deg/s^2, thrust
  misalignment). The thrust points along the nose, deflected by the nozzle (a positive pitch
  deflection raises the nose by pushing the tail down, so it tilts the thrust down by the
  deflection; yaw alike), so an error not held bends the trajectory: in pitch it changes the
  orbit's size, in yaw it turns the plane and changes the inclination;
* at SRM1 burnout the first stage separates (``stage1_dry`` kg dropped); the stage's attitude
  control slews the nose (at :data:`COAST_SLEW`) to the SRM2 burn attitude, ``srm2_pitch`` above
  the local horizon along the horizontal velocity, and holds it there through the coast; the spin
  motor spins the stage up at :data:`SPIN_ACCEL`;
* SRM2 burns ``srm2_burn`` seconds. From its ignition the stage flies free, as a spinner does:
  the nose keeps the inertial direction it had at ignition, but for the thrust misalignment, a
  body-fixed tilt of ``srm2_misalignment`` deg of the thrust line crossing the axis
  ``srm2_moment_arm`` m behind the centre of mass (a torque about the transverse axes). The nose's
  small-angle motion has a closed form for a symmetric body (``stage2_inertia``, roll and
  transverse) spinning at the rate it had at ignition: spun at the flight rate (200 rpm) the torque
  turns with the body, its effect averages out and the nose cones by about 0.1 deg about a mean
  offset of about 0.08 deg (:func:`coning`; a few m/s off the burn's 1900); unspun the torque
  keeps one direction, the nose turns away quadratically and the stage tumbles within seconds:
  the burn points off and the orbit misses. After burnout the nose stays where it was (the
  residual nutation left out);
* with the defaults, SRM2 lit when the climb has slowed to :data:`SRM2_IGNITION_CLIMB` (about
  470 s after SRM1 burnout, near the top of the coast, so that the burn straddles it) after a
  spin-up to 200 rpm ends in an orbit of about 340 x 360 km, inclined about 23.4 deg (a launch
  at latitude phi and azimuth alpha on a non-turning Mars lands in ``cos i = cos(phi)
  sin(alpha)``, 24.8 deg here; Mars's turn adds its eastward surface speed, which lowers it by
  1.4 deg and lends the ascent about 220 m/s: the motors' defaults are sized for that).
  :meth:`MavAvionics.orbit` gives the osculating elements from the state vector for the world
  model, :meth:`MavAvionics.orbit_error` the distance to :attr:`MavAvionics.target` (the bench's
  target orbit, :class:`TargetOrbit`, with a tolerance on each element) and whether it is within
  it, and :attr:`MavAvionics.os_released_at` when the OS was let go.

The status reports: ``imu`` rates are the spin (x), and the pitch (y) and yaw (z) rates: of the
attitude against the local horizon while the attitude is flown against it (toss, SRM1, coast; the
rates the flight software's TVC damps), the body's inertial transverse rates once it flies free
(SRM2: the coning; zero after burnout). ``attitude`` is roll (the spin), pitch and yaw against the
local horizon; ``nav`` is altitude above the mean radius, inertial speed and radial speed.

Defaults are public-order figures (MAV about 400 kg, two solid motors), not flight data; every one
is a constructor argument.

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

import cmath
import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hal.protocol.devices import igloo as igloo_icd
from hal.protocol.devices import mav_avionics as icd
from sim_hardware.devices.base import BoardEmulator, FaultParam, Refused

Vec = tuple[float, float, float]
"""A 3-vector in the Mars-centred inertial frame (m, m/s or unit)."""

MU: Final = 4.2828e13  # m^3/s^2, Mars
RADIUS: Final = 3389.5e3  # m, mean radius
MARS_ROTATION: Final = 7.0882e-5
"""Mars's rotation rate, rad/s (a sidereal day of 88 642.7 s)."""
G0: Final = 9.80665  # m/s^2, for specific impulse
TVC_SLEW: Final = 20.0  # deg/s
COAST_SLEW: Final = 5.0
"""deg/s at which the coasting stage's attitude control turns the nose to the SRM2 attitude."""
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
RPM: Final = math.pi / 30.0
"""rad/s per rpm."""


@dataclass(frozen=True)
class OrbitElements:
    """The stage's (and OS's) osculating orbit, as the world model's ``Orbit`` takes it.

    Attributes:
        altitude_km: semi-major axis minus the mean radius of Mars (inf when not bound).
        periapsis_km, apoapsis_km: lowest and highest altitude (apoapsis inf when not bound).
        inclination_deg: to the Mars equator.
        eccentricity: 0 circular.
        epoch: the simulated time these hold at.
        semi_major_axis_km: from the centre of Mars (inf when not bound).
        raan_deg: right ascension of the ascending node, from the inertial frame's x axis (the
            prime meridian at simulated time 0), 0..360; nan for an equatorial orbit.
        argument_of_periapsis_deg: from the ascending node, 0..360; nan for a circular or
            equatorial orbit.
    """

    altitude_km: float
    periapsis_km: float
    apoapsis_km: float
    inclination_deg: float
    eccentricity: float
    epoch: float
    semi_major_axis_km: float = math.nan
    raan_deg: float = math.nan
    argument_of_periapsis_deg: float = math.nan


@dataclass(frozen=True)
class TargetOrbit:
    """The bench's target orbit for the OS and the tolerance on each element.

    The defaults are the emulator's nominal ascent with the flight software's default guidance
    figures (about 340 x 360 km, 23.4 deg) within a bench tolerance: wide enough for the TVC's
    and the spin's small errors, narrow enough that an ascent without spin-up or with an error
    nobody held misses.

    Attributes:
        periapsis_km, apoapsis_km: target altitudes above the mean radius, km.
        inclination_deg: target inclination, deg.
        periapsis_tolerance_km, apoapsis_tolerance_km, inclination_tolerance_deg: the largest
            distance from each target that still counts as reached.

    Raises:
        ValueError: a figure not finite, a tolerance not positive, the apoapsis below the
            periapsis, or the inclination outside 0..180.
    """

    periapsis_km: float = 340.0
    apoapsis_km: float = 360.0
    inclination_deg: float = 23.4
    periapsis_tolerance_km: float = 20.0
    apoapsis_tolerance_km: float = 20.0
    inclination_tolerance_deg: float = 0.3

    def __post_init__(self) -> None:
        values = _figures(self)
        bad = [name for name, value in values.items() if not math.isfinite(value)]
        if bad:
            raise ValueError(f"target orbit: {', '.join(bad)} not finite")
        for name in ("periapsis_tolerance_km", "apoapsis_tolerance_km",
                     "inclination_tolerance_deg"):  # fmt: skip
            if not values[name] > 0:
                raise ValueError(f"target orbit: {name} = {values[name]:g} is not positive")
        if not 0 < self.periapsis_km <= self.apoapsis_km:
            raise ValueError(
                f"target orbit: periapsis {self.periapsis_km:g} km, apoapsis "
                f"{self.apoapsis_km:g} km: need 0 < periapsis <= apoapsis"
            )
        if not 0 <= self.inclination_deg <= 180:
            raise ValueError(f"target orbit: inclination {self.inclination_deg:g} not in 0..180")


def _figures(target: TargetOrbit) -> dict[str, float]:
    """The target's figures by name."""
    return {name: float(getattr(target, name)) for name in TargetOrbit.__dataclass_fields__}


@dataclass(frozen=True)
class OrbitError:
    """How far an orbit is from the target: each element reached minus its target.

    Attributes:
        periapsis_km, apoapsis_km, inclination_deg: reached minus target (inf or nan when the
            orbit is not bound).
        within: every element within its tolerance.
        misses: the elements outside their tolerance, by name (``periapsis``, ``apoapsis``,
            ``inclination``).
    """

    periapsis_km: float
    apoapsis_km: float
    inclination_deg: float
    within: bool
    misses: tuple[str, ...]


# ---------------------------------------------------------------------- vectors and orbits


def _cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _unit(a: Vec) -> Vec:
    n = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
    return (a[0] / n, a[1] / n, a[2] / n)


def local_frame(pos: Vec) -> tuple[Vec, Vec, Vec]:
    """The local horizon at ``pos``: unit vectors up, east and north (inertial frame)."""
    x, y, z = pos
    rho = math.sqrt(x * x + y * y) or 1e-9  # on the spin axis: any east will do
    r = math.sqrt(rho * rho + z * z)
    up = (x / r, y / r, z / r)
    east = (-y / rho, x / rho, 0.0)
    north = (-z * x / (r * rho), -z * y / (r * rho), rho / r)
    return up, east, north


def attitude_axes(pos: Vec, pitch: float, yaw: float) -> tuple[Vec, Vec, Vec]:
    """The nose, its pitch-up and its right-hand transverse directions (unit vectors, a
    right-handed set: pitch-up x right = nose) for ``pitch`` above the local horizon and heading
    ``yaw`` from north, deg."""
    up, east, north = local_frame(pos)
    p, y = math.radians(pitch), math.radians(yaw)
    cp, sp, cy, sy = math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    level = (
        sy * east[0] + cy * north[0],
        sy * east[1] + cy * north[1],
        sy * east[2] + cy * north[2],
    )
    nose = (cp * level[0] + sp * up[0], cp * level[1] + sp * up[1], cp * level[2] + sp * up[2])
    raised = (-sp * level[0] + cp * up[0], -sp * level[1] + cp * up[1], -sp * level[2] + cp * up[2])
    right = (
        cy * east[0] - sy * north[0],
        cy * east[1] - sy * north[1],
        cy * east[2] - sy * north[2],
    )
    return nose, raised, right


def pitch_yaw(pos: Vec, nose: Vec) -> tuple[float, float]:
    """Pitch above the local horizon and heading from north (0..360) of ``nose`` at ``pos``,
    deg."""
    up, east, north = local_frame(pos)
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, _dot(nose, up)))))
    yaw = math.degrees(math.atan2(_dot(nose, east), _dot(nose, north))) % 360.0
    return pitch, yaw


def elements(pos: Vec, vel: Vec, epoch: float = 0.0, mu: float = MU) -> OrbitElements:
    """The osculating orbit of the state (``pos`` m, ``vel`` m/s, inertial) around Mars."""
    r = math.sqrt(_dot(pos, pos))
    v2 = _dot(vel, vel)
    h = _cross(pos, vel)
    hn = math.sqrt(_dot(h, h))
    energy = v2 / 2 - mu / r
    vxh = _cross(vel, h)
    e_vec = (vxh[0] / mu - pos[0] / r, vxh[1] / mu - pos[1] / r, vxh[2] / mu - pos[2] / r)
    e = math.sqrt(_dot(e_vec, e_vec))
    a = -mu / (2 * energy) if energy < 0 else math.inf
    peri = hn * hn / mu / (1 + e)
    apo = a * (1 + e) if e < 1 and math.isfinite(a) else math.inf
    incl = math.degrees(math.acos(max(-1.0, min(1.0, h[2] / hn)))) if hn > 0 else math.nan
    node = (-h[1], h[0], 0.0)  # z x h
    nn = math.hypot(node[0], node[1])
    raan = argp = math.nan
    if nn > 1e-9 * hn:
        raan = math.degrees(math.atan2(node[1], node[0])) % 360.0
        if e > 1e-9:
            cos_w = max(-1.0, min(1.0, _dot(node, e_vec) / (nn * e)))
            argp = math.degrees(math.acos(cos_w))
            if e_vec[2] < 0:
                argp = 360.0 - argp
    return OrbitElements(
        altitude_km=(a - RADIUS) / 1e3, periapsis_km=(peri - RADIUS) / 1e3,
        apoapsis_km=(apo - RADIUS) / 1e3, inclination_deg=incl, eccentricity=e, epoch=epoch,
        semi_major_axis_km=a / 1e3, raan_deg=raan, argument_of_periapsis_deg=argp,
    )  # fmt: skip


def rk4(pos: Vec, vel: Vec, h: float, acc: Vec = (0.0, 0.0, 0.0)) -> tuple[Vec, Vec]:
    """One RK4 step of ``h`` seconds under Mars's point-mass gravity plus a constant ``acc``
    (m/s^2, the thrust or the toss held over the step)."""
    ax, ay, az = acc
    x0, y0, z0 = pos
    u0, v0, w0 = vel

    def grav(x: float, y: float, z: float) -> tuple[float, float, float]:
        r2 = x * x + y * y + z * z
        k = -MU / (r2 * math.sqrt(r2))
        return k * x + ax, k * y + ay, k * z + az

    a1 = grav(x0, y0, z0)
    h2 = h / 2
    x1, y1, z1 = x0 + h2 * u0, y0 + h2 * v0, z0 + h2 * w0
    u1, v1, w1 = u0 + h2 * a1[0], v0 + h2 * a1[1], w0 + h2 * a1[2]
    a2 = grav(x1, y1, z1)
    x2, y2, z2 = x0 + h2 * u1, y0 + h2 * v1, z0 + h2 * w1
    u2, v2, w2 = u0 + h2 * a2[0], v0 + h2 * a2[1], w0 + h2 * a2[2]
    a3 = grav(x2, y2, z2)
    x3, y3, z3 = x0 + h * u2, y0 + h * v2, z0 + h * w2
    u3, v3, w3 = u0 + h * a3[0], v0 + h * a3[1], w0 + h * a3[2]
    a4 = grav(x3, y3, z3)
    h6 = h / 6
    return (
        (x0 + h6 * (u0 + 2 * u1 + 2 * u2 + u3), y0 + h6 * (v0 + 2 * v1 + 2 * v2 + v3),
         z0 + h6 * (w0 + 2 * w1 + 2 * w2 + w3)),
        (u0 + h6 * (a1[0] + 2 * a2[0] + 2 * a3[0] + a4[0]),
         v0 + h6 * (a1[1] + 2 * a2[1] + 2 * a3[1] + a4[1]),
         w0 + h6 * (a1[2] + 2 * a2[2] + 2 * a3[2] + a4[2])),
    )  # fmt: skip


def coning(t: float, spin: float, forcing: complex, ratio: float) -> tuple[complex, complex]:
    """The nose's small-angle offset and its rate, ``t`` seconds after a body-fixed transverse
    torque came on, for a symmetric body spinning at ``spin`` rad/s.

    The offset is a complex number in the transverse plane at the start (real: pitch-up, imaginary:
    right); ``forcing`` is the torque over the transverse inertia (rad/s^2, its direction at the
    start as the phase) and ``ratio`` the roll over the transverse inertia. The torque turns with
    the body at ``spin``; the small-angle Euler equations, ``z'' - i lam z' = forcing
    exp(i spin t)`` with ``lam = ratio spin`` (the inertial nutation rate), give from rest::

        z = forcing / (i (spin - lam)) * (E(spin) - E(lam)),   E(w) = (exp(i w t) - 1) / (i w)

    a bounded cone about a mean offset ``-forcing / (ratio spin^2)``; unspun, ``z = forcing
    t^2 / 2``: the nose turns away without end.
    """
    if spin * t < 1e-6 or abs(1 - ratio) < 1e-9:
        return forcing * t * t / 2, forcing * t
    lam = ratio * spin
    ew, el = cmath.exp(1j * spin * t), cmath.exp(1j * lam * t)
    k = forcing / (1j * (spin - lam))
    z = k * ((ew - 1) / (1j * spin) - (el - 1) / (1j * lam))
    return z, k * (ew - el)


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
        disturbance, yaw_disturbance: constant angular acceleration in pitch and in yaw during
            the SRM1 burn, deg/s^2.
        latitude, longitude, azimuth: launch site (Jezero, about 18.4 N 77.5 E) and heading, deg.
        rotation: Mars's rotation rate, rad/s (0: a non-turning Mars).
        srm2_pitch: the SRM2 burn attitude, deg above the local horizon along the horizontal
            velocity (the coast attitude control's aim).
        srm2_misalignment: angle of the SRM2 thrust line to the stage's axis, deg.
        srm2_moment_arm: how far behind the centre of mass the thrust line crosses the axis, m.
        misalignment_phase: the misalignment's body-fixed direction, deg of roll from pitch-up.
        stage2_inertia: the second stage's roll and transverse moments of inertia, kg m^2.
        target: the bench's target orbit and its tolerances (default :class:`TargetOrbit`).
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"imu_rate_spike"})
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(
        self,
        rng: random.Random | None = None,
        *,
        mass: float = 397.2,
        srm1_propellant: float = 215.0,
        srm1_burn: float = 75.0,
        stage1_dry: float = 45.0,
        srm2_propellant: float = 69.2,
        srm2_burn: float = 30.0,
        isp: float = 277.0,
        toss_accel: float = 12.0,
        toss_duration: float = 0.3,
        pitch_start: float = 70.0,
        pitch_end: float = 30.0,
        tvc_authority: float = 10.0,
        disturbance: float = 0.0,
        yaw_disturbance: float = 0.0,
        latitude: float = 18.4,
        longitude: float = 77.5,
        azimuth: float = 73.0,
        rotation: float = MARS_ROTATION,
        srm2_pitch: float = 0.0,
        srm2_misalignment: float = 0.1,
        srm2_moment_arm: float = 0.3,
        misalignment_phase: float = 0.0,
        stage2_inertia: tuple[float, float] = (5.7, 33.0),
        target: TargetOrbit | None = None,
    ) -> None:
        super().__init__(rng)
        self.mass = mass
        self.srm1_propellant, self.srm1_burn = srm1_propellant, srm1_burn
        self.stage1_dry = stage1_dry
        self.srm2_propellant, self.srm2_burn = srm2_propellant, srm2_burn
        self.isp = isp
        self.toss_accel, self.toss_duration = toss_accel, toss_duration
        self.pitch_start, self.pitch_end = pitch_start, pitch_end
        self.tvc_authority = tvc_authority
        self.disturbance, self.yaw_disturbance = disturbance, yaw_disturbance
        self.latitude, self.longitude, self.azimuth = latitude, longitude, azimuth
        self.rotation = rotation
        self.srm2_pitch = srm2_pitch
        self.srm2_misalignment, self.srm2_moment_arm = srm2_misalignment, srm2_moment_arm
        self.misalignment_phase = misalignment_phase
        self.stage2_inertia = stage2_inertia
        self.target = target if target is not None else TargetOrbit()
        # translational state, Mars-centred inertial: on the pad, turning with Mars
        self.pos: Vec = self._site(0.0)
        self.vel: Vec = self._surface_velocity(self.pos)
        self.phase = "on_lander"
        self.tossed_at: float | None = None
        self.srm1_at: float | None = None
        self.srm2_at: float | None = None
        self.separated_at: float | None = None
        self.os_released_at: float | None = None
        # attitude against the local horizon (deg, deg/s): programme + error in SRM1
        self.pitch = 0.0
        self.yaw = azimuth % 360.0
        self.pitch_rate = 0.0
        self.yaw_rate = 0.0
        self.error = [0.0, 0.0]  # pitch, yaw
        self.error_rate = [0.0, 0.0]
        self.roll = 0.0
        self.spin_rate = 0.0
        self.spin_target = 0.0
        self.gimbal = [0.0, 0.0]
        self.gimbal_target = [0.0, 0.0]
        self.specific_force: Vec = (0.0, 0.0, MU / RADIUS**2)
        # the free-flying second stage: nose, pitch-up and right axes at SRM2 ignition, and the
        # closed form's spin, forcing and inertia ratio (see coning())
        self._free: tuple[Vec, Vec, Vec] = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))
        self._coning = (0.0, 0j, 1.0)
        self.nose_offset = 0j  # the nose's offset from its ignition direction, rad
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
    def grounded(self) -> bool:
        """On the lander before lift-off, or fallen back: the model holds it on the surface."""
        return self.phase in ("on_lander", "fell")

    @property
    def r(self) -> float:
        """Distance from the centre of Mars, m."""
        return math.sqrt(_dot(self.pos, self.pos))

    @property
    def altitude(self) -> float:
        """Altitude above the mean radius, m."""
        return 0.0 if self.grounded else self.r - RADIUS

    @property
    def speed(self) -> float:
        """Inertial speed, m/s (on the ground, the surface's speed as Mars turns)."""
        return math.sqrt(_dot(self.vel, self.vel))

    @property
    def vr(self) -> float:
        """Radial (vertical) speed, m/s, positive up."""
        return 0.0 if self.grounded else _dot(self.vel, self.pos) / self.r

    @property
    def vt(self) -> float:
        """Horizontal inertial speed, m/s."""
        return math.sqrt(max(0.0, _dot(self.vel, self.vel) - self.vr**2))

    @property
    def inclination(self) -> float:
        """Inclination of the osculating orbit, deg."""
        return self.orbit().inclination_deg

    def orbit(self) -> OrbitElements:
        """The osculating orbit at :attr:`now` from the state vector (advance the board first);
        meaningful once :attr:`phase` is ``orbit``."""
        return elements(self.pos, self.vel, self.now)

    def orbit_error(self, orbit: OrbitElements | None = None) -> OrbitError:
        """How far ``orbit`` (default :meth:`orbit`) is from :attr:`target`, element by element,
        and whether every element is within its tolerance."""
        reached = self.orbit() if orbit is None else orbit
        target = self.target
        deltas = {
            "periapsis": reached.periapsis_km - target.periapsis_km,
            "apoapsis": reached.apoapsis_km - target.apoapsis_km,
            "inclination": reached.inclination_deg - target.inclination_deg,
        }
        limits = {
            "periapsis": target.periapsis_tolerance_km,
            "apoapsis": target.apoapsis_tolerance_km,
            "inclination": target.inclination_tolerance_deg,
        }
        misses = tuple(name for name, d in deltas.items() if not abs(d) <= limits[name])
        return OrbitError(
            periapsis_km=deltas["periapsis"], apoapsis_km=deltas["apoapsis"],
            inclination_deg=deltas["inclination"], within=not misses, misses=misses,
        )  # fmt: skip

    # ------------------------------------------------------------------ physics

    def _site(self, t: float) -> Vec:
        """The launch site at ``t``, inertial (Mars turns under the frame)."""
        lat = math.radians(self.latitude)
        lon = math.radians(self.longitude) + self.rotation * t
        return (
            RADIUS * math.cos(lat) * math.cos(lon), RADIUS * math.cos(lat) * math.sin(lon),
            RADIUS * math.sin(lat),
        )  # fmt: skip

    def _surface_velocity(self, pos: Vec) -> Vec:
        """The velocity of the ground under ``pos`` as Mars turns, inertial."""
        return (-self.rotation * pos[1], self.rotation * pos[0], 0.0)

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

    def _tossing(self, t: float) -> bool:
        return self.tossed_at is not None and 0 <= t - self.tossed_at < self.toss_duration

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
        return thrust > 0 or self._tossing(t)

    def _events(self, t: float) -> None:
        """Phase changes at a breakpoint."""
        if self.srm1_at is not None and self.separated_at is None:
            if t >= self.srm1_at + self.srm1_burn:
                self.separated_at = t
                self.phase = "coast"
        if self.srm2_at is not None and t >= self.srm2_at + self.srm2_burn:
            self.phase = "orbit"

    def _lift_off(self, t: float) -> None:
        """Phase changes at the start of a step from ``t`` (the breakpoints make every event
        start a step)."""
        if self.phase == "on_lander":
            if self.tossed_at is not None and t >= self.tossed_at:
                self.phase = "tossed"
            elif self.srm1_at is not None and t >= self.srm1_at:
                self.phase = "tossed"  # lit in the cradle: it leaves the lander all the same
        if self.phase == "tossed" and self.srm1_at is not None and t >= self.srm1_at:
            self.phase = "srm1_burn"
        if self.phase == "coast" and self.srm2_at is not None and t >= self.srm2_at:
            self.phase = "srm2_burn"
            self._go_free()

    def _go_free(self) -> None:
        """SRM2 lit: from here the stage keeps its inertial attitude, but for the misalignment's
        torque (the closed form of :func:`coning`, at the spin of the moment)."""
        self._free = attitude_axes(self.pos, self.pitch, self.yaw)
        thrust = self.srm2_propellant / self.srm2_burn * self.isp * G0
        roll_inertia, transverse = self.stage2_inertia
        torque = thrust * math.sin(math.radians(self.srm2_misalignment)) * self.srm2_moment_arm
        phase = math.radians(self.roll + self.misalignment_phase)
        forcing = -torque / transverse * cmath.exp(1j * phase)  # the tail pushed, the nose away
        self._coning = (self.spin_rate * RPM, forcing, roll_inertia / transverse)
        self.nose_offset = 0j

    def _free_nose(self, since: float) -> tuple[Vec, complex]:
        """The free stage's nose ``since`` seconds after SRM2 ignition, and the rate of its
        offset (rad/s, real pitch-up, imaginary right)."""
        nose0, raised, right = self._free
        spin, forcing, ratio = self._coning
        z, rate = coning(since, spin, forcing, ratio)
        self.nose_offset = z
        angle = abs(z)
        if angle == 0.0:
            return nose0, rate
        c, s = math.cos(angle), math.sin(angle) / angle
        a, b = z.real * s, z.imag * s
        nose = tuple(c * n + a * p + b * q for n, p, q in zip(nose0, raised, right, strict=True))
        return nose, rate  # type: ignore[return-value]

    def _thrust_accel(self, t: float, h: float) -> Vec:
        """The non-gravitational acceleration over the step from ``t`` (held at its middle)."""
        mid = t + h / 2
        thrust, motor = self._thrust(mid)
        if not thrust:
            if self._tossing(mid):
                up = _unit(self.pos)
                k = MU / _dot(self.pos, self.pos) + self.toss_accel
                return (k * up[0], k * up[1], k * up[2])
            return (0.0, 0.0, 0.0)
        f = thrust / self._current_mass(mid)
        if motor == "srm1":
            pitch = self._programme(mid) + self.error[0]
            nose, raised, right = attitude_axes(self.pos, pitch, self.azimuth + self.error[1])
            sp, sy = math.sin(math.radians(self.gimbal[0])), math.sin(math.radians(self.gimbal[1]))
            d = (nose[0] - sp * raised[0] - sy * right[0], nose[1] - sp * raised[1] - sy * right[1],
                 nose[2] - sp * raised[2] - sy * right[2])  # fmt: skip
        else:
            nose, _ = self._free_nose(mid - (self.srm2_at or 0.0))
            _, raised, right = self._free
            spin = self._coning[0]
            tilt = math.sin(math.radians(self.srm2_misalignment))
            roll = math.radians(self.roll + self.misalignment_phase) + spin * h / 2
            ct, st = tilt * math.cos(roll), tilt * math.sin(roll)
            d = (nose[0] + ct * raised[0] + st * right[0], nose[1] + ct * raised[1] + st * right[1],
                 nose[2] + ct * raised[2] + st * right[2])  # fmt: skip
        d = _unit(d)
        return (f * d[0], f * d[1], f * d[2])

    def _programme(self, t: float) -> float:
        """The nominal nose elevation at ``t`` from the toss to SRM1 burnout (without the TVC's
        error), deg."""
        if self.tossed_at is None or t < self.tossed_at:
            return 0.0
        if self.srm1_at is None or t < self.srm1_at:
            tip = min(1.0, (t - self.tossed_at) / self.toss_duration)
            return self.pitch_start * tip
        frac = min(1.0, (t - self.srm1_at) / self.srm1_burn)
        return self.pitch_start + (self.pitch_end - self.pitch_start) * frac

    def _step(self, t: float, h: float) -> None:
        self._lift_off(t)
        if self.phase == "on_lander":
            self.pos = self._site(t + h)
            self.vel = self._surface_velocity(self.pos)
            self._attitude(t + h, h)
            return
        if self.phase == "fell":
            self._attitude(t + h, h)
            return
        self.pos, self.vel = rk4(self.pos, self.vel, h, self._thrust_accel(t, h))
        if _dot(self.pos, self.pos) < RADIUS * RADIUS:
            up = _unit(self.pos)
            self.pos = (RADIUS * up[0], RADIUS * up[1], RADIUS * up[2])
            self.vel = self._surface_velocity(self.pos)
            self.phase = "fell"
        self._attitude(t + h, h)

    def _attitude(self, t: float, h: float) -> None:
        """Attitude, rates, gimbal, spin and specific force at the end of a step to ``t``."""
        for axis in (0, 1):
            step = TVC_SLEW * h
            delta = self.gimbal_target[axis] - self.gimbal[axis]
            self.gimbal[axis] += max(-step, min(step, delta))
        mid = t - h / 2
        thrust, motor = self._thrust(mid)
        if motor == "srm1":
            for axis, disturbance in ((0, self.disturbance), (1, self.yaw_disturbance)):
                self.error_rate[axis] += (self.tvc_authority * self.gimbal[axis] + disturbance) * h
        if self.separated_at is None:  # the errors of the flight against the programme
            for axis in (0, 1):
                self.error[axis] += self.error_rate[axis] * h
        step = SPIN_ACCEL * h
        self.spin_rate += max(-step, min(step, self.spin_target - self.spin_rate))
        self.roll = (self.roll + self.spin_rate * 6.0 * h + 180.0) % 360.0 - 180.0
        pitch, yaw = self.pitch, self.yaw
        phase = self.phase
        if phase == "fell":
            self.pitch = 0.0
        elif phase in ("on_lander", "tossed", "srm1_burn"):
            self.pitch = self._programme(t) + self.error[0]
            self.yaw = (self.azimuth + self.error[1]) % 360.0
        elif phase == "coast":  # the attitude control slews the nose to the SRM2 attitude
            _, east, north = local_frame(self.pos)
            aim = math.degrees(math.atan2(_dot(self.vel, east), _dot(self.vel, north)))
            turn = COAST_SLEW * h
            self.pitch += max(-turn, min(turn, self.srm2_pitch - self.pitch))
            self.yaw = (yaw + max(-turn, min(turn, _wrap(aim - yaw)))) % 360.0
        if phase in ("srm2_burn", "orbit") and self.srm2_at is not None:
            since = min(t, self.srm2_at + self.srm2_burn) - self.srm2_at
            nose, rate = self._free_nose(since)
            self.pitch, self.yaw = pitch_yaw(self.pos, nose)
            burning = phase == "srm2_burn" and since < self.srm2_burn
            self.pitch_rate = math.degrees(rate.real) if burning else 0.0
            self.yaw_rate = math.degrees(rate.imag) if burning else 0.0
        else:
            self.pitch_rate = (self.pitch - pitch) / h if h > 0 else 0.0
            self.yaw_rate = _wrap(self.yaw - yaw) / h if h > 0 else 0.0
        self._specific_force(mid, thrust, motor)

    def _specific_force(self, t: float, thrust: float, motor: str) -> None:
        """What the accelerometers read over the step around ``t`` (body axes: x the nose, y
        right, z pitch-up)."""
        if thrust:
            f = thrust / self._current_mass(t)
            if motor == "srm1":
                p, y = math.radians(self.gimbal[0]), math.radians(self.gimbal[1])
                self.specific_force = (f * math.cos(p) * math.cos(y), -f * math.sin(y),
                                       -f * math.sin(p))  # fmt: skip
            else:
                tilt = math.radians(self.srm2_misalignment)
                phase = math.radians(self.misalignment_phase)
                self.specific_force = (f * math.cos(tilt), f * math.sin(tilt) * math.sin(phase),
                                       f * math.sin(tilt) * math.cos(phase))  # fmt: skip
            return
        if self.grounded:
            up = MU / RADIUS**2
        elif self._tossing(t):
            up = MU / _dot(self.pos, self.pos) + self.toss_accel
        else:
            self.specific_force = (0.0, 0.0, 0.0)
            return
        p = math.radians(self.pitch)
        self.specific_force = (up * math.sin(p), 0.0, up * math.cos(p))

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
        rate = [self.spin_rate * 6.0, self.pitch_rate, self.yaw_rate]
        spike = self.fault("imu_rate_spike", "imu")
        if spike is not None and self._reports % 2 == 0:
            axis = int(spike.params.get("axis", SPIKE_AXIS))
            rate[axis] += float(spike.params.get("size", SPIKE_SIZE))
        return {"rate": rate, "accel": list(self.specific_force)}

    def status_attitude(self, now: float) -> dict[str, Any]:
        """The attitude solution's status report values."""
        return {"roll": self.roll, "pitch": self.pitch, "yaw": self.yaw}

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


def _wrap(angle: float) -> float:
    """An angle difference in -180..180, deg."""
    return (angle + 180.0) % 360.0 - 180.0
