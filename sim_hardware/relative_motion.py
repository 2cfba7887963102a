"""The Orbiting Sample's motion relative to the orbiter: Clohessy-Wiltshire (Hill) equations and
the orbiter's glideslope approach (decision 0055).

Frame (Hill, centred on the orbiter, in km and s): ``x`` radial (away from Mars), ``y`` along
the orbiter's velocity, ``z`` along the orbit normal. For a nearby object in a circular orbit of
mean motion ``n`` the relative motion obeys::

    x'' = 3 n^2 x + 2 n y'      y'' = -2 n x'      z'' = -n^2 z

whose closed-form solution from ``(r0, v0)`` is :func:`cw_state` (the state transition matrix
``[[Phi_rr, Phi_rv], [Phi_vr, Phi_vv]]`` of :func:`cw_matrices`).

**The approach.** The orbiter's guidance flies a glideslope: waypoints on the straight line from
the OS's starting position to contact, spaced so the range closes at a steady rate, reached leg
by leg with one impulse at the start of each leg (the CW two-impulse transfer of
:func:`cw_transfer_velocity`; the next leg's impulse is the second of the pair). Between the
impulses the motion is exact CW, so what the narrow-angle camera measures (range, bearing,
closing rate) follows from the geometry, curvature included, and contact comes at the time the
glideslope was planned for. Positions here are of the OS as the orbiter sees it.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MARS_RADIUS",
    "MU_MARS",
    "Glideslope",
    "Vector",
    "cw_matrices",
    "cw_state",
    "cw_transfer_velocity",
    "mean_motion",
]

MU_MARS: Final = 42828.37
"""Mars's gravitational parameter, km^3/s^2."""
MARS_RADIUS: Final = 3389.5
"""Mars's mean radius, km."""
LEG: Final = 300.0
"""Longest glideslope leg, s: a leg is short against the orbit (about 0.27 rad of it in a
350 km orbit), so the transfers stay far from the CW targeting singularity at a whole orbit."""

Vector = tuple[float, float, float]
Matrix = tuple[Vector, Vector, Vector]


def mean_motion(altitude_km: float) -> float:
    """The mean motion of a circular orbit ``altitude_km`` above Mars's mean radius, rad/s."""
    a = MARS_RADIUS + altitude_km
    return math.sqrt(MU_MARS / a**3)


def cw_matrices(n: float, t: float) -> tuple[Matrix, Matrix, Matrix, Matrix]:
    """``(Phi_rr, Phi_rv, Phi_vr, Phi_vv)`` of the CW state transition over ``t`` seconds."""
    s, c = math.sin(n * t), math.cos(n * t)
    rr = ((4 - 3 * c, 0.0, 0.0), (6 * (s - n * t), 1.0, 0.0), (0.0, 0.0, c))
    rv = (
        (s / n, 2 * (1 - c) / n, 0.0),
        (2 * (c - 1) / n, (4 * s - 3 * n * t) / n, 0.0),
        (0.0, 0.0, s / n),
    )
    vr = ((3 * n * s, 0.0, 0.0), (6 * n * (c - 1), 0.0, 0.0), (0.0, 0.0, -n * s))
    vv = ((c, 2 * s, 0.0), (-2 * s, 4 * c - 3, 0.0), (0.0, 0.0, c))
    return rr, rv, vr, vv


def _mul(m: Matrix, v: Vector) -> Vector:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


def _add(a: Vector, b: Vector) -> Vector:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def cw_state(r0: Vector, v0: Vector, n: float, t: float) -> tuple[Vector, Vector]:
    """Position and velocity ``t`` seconds after ``(r0, v0)`` (closed form)."""
    rr, rv, vr, vv = cw_matrices(n, t)
    return _add(_mul(rr, r0), _mul(rv, v0)), _add(_mul(vr, r0), _mul(vv, v0))


def cw_transfer_velocity(r0: Vector, r1: Vector, n: float, t: float) -> Vector:
    """The velocity at ``r0`` that reaches ``r1`` after ``t`` seconds of CW motion.

    Raises:
        ValueError: ``t`` is not positive, or a whole number of orbits (no unique transfer).
    """
    if not t > 0:
        raise ValueError(f"transfer time {t!r} is not positive")
    rr, rv, _, _ = cw_matrices(n, t)
    b = tuple(r1[i] - _mul(rr, r0)[i] for i in range(3))
    (a, bb, _), (c, d, _), (_, _, e) = rv
    det = a * d - bb * c
    if abs(det) < 1e-9 * max(1.0, abs(a * d)) or abs(e) < 1e-12:
        raise ValueError(f"no unique CW transfer in {t:g} s (a whole number of orbits)")
    return ((d * b[0] - bb * b[1]) / det, (a * b[1] - c * b[0]) / det, b[2] / e)


@dataclass(frozen=True)
class Glideslope:
    """The OS's motion relative to the orbiter during its approach (module docstring).

    Attributes:
        start: mission time the approach starts, s.
        r0: the OS's position then, km (Hill frame).
        duration: seconds to contact.
        n: the orbit's mean motion, rad/s.
    """

    start: float
    r0: Vector
    duration: float
    n: float

    @property
    def legs(self) -> int:
        """Legs of the glideslope (each at most :data:`LEG` seconds)."""
        return max(1, math.ceil(self.duration / LEG - 1e-9))

    def waypoint(self, k: int) -> Vector:
        """The ``k``-th waypoint (0: the start, :attr:`legs`: contact at the orbiter)."""
        f = 1.0 - k / self.legs
        return (self.r0[0] * f, self.r0[1] * f, self.r0[2] * f)

    def state(self, t: float) -> tuple[Vector, Vector]:
        """Position and velocity of the OS at mission time ``t`` (km, km/s): held at the start
        before it, at contact after the approach."""
        if t <= self.start:
            return self.r0, (0.0, 0.0, 0.0)
        tau = self.duration / self.legs
        k = min(int((t - self.start) / tau), self.legs - 1)
        begin = self.waypoint(k)
        v = cw_transfer_velocity(begin, self.waypoint(k + 1), self.n, tau)
        dt = min(t - self.start - k * tau, tau)
        return cw_state(begin, v, self.n, dt)

    def range(self, t: float) -> float:
        """Distance of the OS from the orbiter at ``t``, km."""
        r, _ = self.state(t)
        return math.sqrt(r[0] ** 2 + r[1] ** 2 + r[2] ** 2)

    def range_rate(self, t: float) -> float:
        """Rate of change of the range at ``t``, km/s (negative: closing)."""
        r, v = self.state(t)
        dist = math.sqrt(r[0] ** 2 + r[1] ** 2 + r[2] ** 2)
        return 0.0 if dist <= 0 else (r[0] * v[0] + r[1] * v[1] + r[2] * v[2]) / dist

    def bearing(self, t: float) -> tuple[float, float]:
        """Azimuth and elevation of the OS from the camera's boresight (along ``y``), deg."""
        r, _ = self.state(t)
        horizontal = math.hypot(r[1], r[2])
        return math.degrees(math.atan2(r[2], r[1])), math.degrees(math.atan2(r[0], horizontal))
