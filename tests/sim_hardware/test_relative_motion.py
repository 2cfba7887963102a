"""The OS's motion relative to the orbiter (sim_hardware/relative_motion.py, decision 0055): the
Clohessy-Wiltshire closed form against a numerical integration of the equations and against
the textbook cases (a radial impulse's hop, a drift-free ellipse), the two-impulse transfer,
and the glideslope the orbiter flies: it starts where it was put, meets every waypoint, ends at
contact on time, and what the narrow-angle camera measures follows from it."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim_hardware.devices.nac_camera import NacCamera
from sim_hardware.relative_motion import (
    Glideslope,
    cw_state,
    cw_transfer_velocity,
    mean_motion,
)

N = mean_motion(350.0)  # a 350 km orbit of Mars: about 6,900 s


def integrate(r, v, n, t, h=0.5):
    """The CW equations integrated by classical Runge-Kutta (the reference)."""

    def f(s):
        x, _, z, vx, vy, vz = s  # the along-track position enters no force
        return (vx, vy, vz, 3 * n * n * x + 2 * n * vy, -2 * n * vx, -n * n * z)

    s = (*r, *v)
    for _ in range(round(t / h)):
        k1 = f(s)
        k2 = f(tuple(a + h / 2 * b for a, b in zip(s, k1, strict=True)))
        k3 = f(tuple(a + h / 2 * b for a, b in zip(s, k2, strict=True)))
        k4 = f(tuple(a + h * b for a, b in zip(s, k3, strict=True)))
        s = tuple(a + h / 6 * (p + 2 * q + 2 * u + w)
                  for a, p, q, u, w in zip(s, k1, k2, k3, k4, strict=True))  # fmt: skip
    return s[:3], s[3:]


def test_the_mean_motion_of_a_mars_orbit():
    period = 2 * math.pi / N
    assert period == pytest.approx(2 * math.pi * math.sqrt((3389.5 + 350.0) ** 3 / 42828.37))
    assert 6800 < period < 7000


@given(
    st.tuples(*[st.floats(-50, 50)] * 3),
    st.tuples(*[st.floats(-0.05, 0.05)] * 3),
    st.floats(10, 3000),
)
def test_the_closed_form_matches_the_equations_integrated(r0, v0, t):
    t = round(t / 0.5) * 0.5  # whole integration steps
    ri, vi = integrate(r0, v0, N, t)
    r, v = cw_state(r0, v0, N, t)
    assert r == pytest.approx(ri, abs=1e-6)
    assert v == pytest.approx(vi, abs=1e-9)


def test_a_radial_impulse_hops_back_along_track_in_half_an_orbit():
    a = 0.001  # km/s, upward
    r, v = cw_state((0.0, 0.0, 0.0), (a, 0.0, 0.0), N, math.pi / N)
    assert r == pytest.approx((0.0, -4 * a / N, 0.0), abs=1e-9)
    assert v == pytest.approx((-a, 0.0, 0.0), abs=1e-12)


def test_a_drift_free_ellipse_comes_back_after_one_orbit():
    r0, v0 = (2.0, 5.0, 1.0), (0.0, -2 * N * 2.0, 0.0005)  # vy0 = -2 n x0: no secular drift
    r, v = cw_state(r0, v0, N, 2 * math.pi / N)
    assert r == pytest.approx(r0, abs=1e-9) and v == pytest.approx(v0, abs=1e-12)


def test_the_two_impulse_transfer_reaches_its_target_and_refuses_a_whole_orbit():
    r0, r1 = (10.0, 300.0, -2.0), (1.0, 20.0, 0.0)
    v = cw_transfer_velocity(r0, r1, N, 600.0)
    assert cw_state(r0, v, N, 600.0)[0] == pytest.approx(r1, abs=1e-9)
    with pytest.raises(ValueError, match="whole number of orbits"):
        cw_transfer_velocity(r0, r1, N, 2 * math.pi / N)


def test_the_glideslope_meets_its_waypoints_and_contact_on_time():
    start, duration = 1000.0, 6000.0
    path = Glideslope(start, (10.0, 1199.9, 5.0), duration, N)
    assert path.range(start) == pytest.approx(math.sqrt(10**2 + 1199.9**2 + 5**2))
    tau = duration / path.legs
    for k in range(path.legs + 1):
        assert path.state(start + k * tau)[0] == pytest.approx(path.waypoint(k), abs=1e-6)
    assert path.range(start + duration) == pytest.approx(0.0, abs=1e-9)
    assert path.range(start + duration + 500.0) == pytest.approx(0.0, abs=1e-9)
    rates = [path.range_rate(start + t) for t in range(1, 6000, 97)]
    assert all(rate < 0 for rate in rates)  # it closes the whole way
    assert sum(rates) / len(rates) == pytest.approx(-0.2, rel=0.05)
    between = path.state(start + 0.5 * tau)[0]  # CW bends the path between the waypoints
    straight = tuple((a + b) / 2 for a, b in zip(path.waypoint(0), path.waypoint(1), strict=True))
    assert between != pytest.approx(straight, abs=1e-3)


def test_the_camera_measures_the_geometry_of_the_approach():
    nac = NacCamera(random.Random(3), initial_range=1200.0, closing_rate=0.2,
                    bearing=(0.5, -0.3))  # fmt: skip
    nac.mean_motion = N
    nac.set_approach(1200.0, 0.2, at=0.0)
    nac.cmd_nac_start_tracking({"frame_period": 1.0}, 0.0)
    nac.advance(3000.0)
    status = nac.status_nac(3000.0)
    path = nac.approach
    assert path is not None
    assert status["detected"]
    assert status["range"] == pytest.approx(path.range(3000.0), rel=0.05)
    assert status["range_rate"] == pytest.approx(path.range_rate(3000.0), abs=0.01)
    azimuth, elevation = path.bearing(3000.0)
    assert (status["azimuth"], status["elevation"]) == pytest.approx((azimuth, elevation), abs=0.1)
    assert path.bearing(0.0) == pytest.approx((0.5, -0.3))  # where it was put
    nac.advance(6000.5)
    assert nac.status_nac(6000.5)["contact"]
