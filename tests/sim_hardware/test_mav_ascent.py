"""The MAV's three-dimensional ascent model (sim_hardware/devices/mav_avionics.py, decision 0057)
against closed forms: a coast keeps its energy and angular momentum and a circular orbit comes
back after its period; a launch lands in the plane its latitude and azimuth give; the TVC's yaw
turns the plane; the spin-stabilised SRM2 reaches the bench's target orbit and the same burn
unspun misses it; the coning's closed form against a numerical integration."""

from __future__ import annotations

import cmath
import math

import pytest

from fsw.dictionary.mav import PARAMETERS
from sim_hardware.devices.mav_avionics import (
    MU,
    RADIUS,
    MavAvionics,
    OrbitElements,
    TargetOrbit,
    attitude_axes,
    coning,
    elements,
    pitch_yaw,
)

LAUNCH = {name.removeprefix("launch."): default for _, name, *_, default, _ in PARAMETERS}
"""The launch sequencer's parameters at their defaults (fsw/dictionary/mav.py)."""
TVC_DEADBAND = 0.05  # deg, as fsw/apps/launch.py


def coasting(pos: tuple[float, float, float], vel: tuple[float, float, float]) -> MavAvionics:
    """A board whose stage is in orbit at ``pos``, ``vel`` (inertial) at time 0."""
    mav = MavAvionics(rotation=0.0)
    mav.pos, mav.vel, mav.phase = pos, vel, "orbit"
    return mav


def inclined(radius: float, speed: float, inclination: float) -> tuple[tuple, tuple]:
    """At the ascending node on the x axis, moving at ``speed`` in a plane inclined
    ``inclination`` deg."""
    i = math.radians(inclination)
    return (radius, 0.0, 0.0), (0.0, speed * math.cos(i), speed * math.sin(i))


def fly(
    mav: MavAvionics,
    *,
    spin: float | None = None,
    yaw_offset: float = 0.0,
    steer: bool = True,
    tick: float = 0.1,
) -> MavAvionics:
    """The ascent flown as the launch sequencer flies it (fsw/apps/launch.py, its default
    parameters): the toss at 0, SRM1 launch.srm1_delay later, the TVC's PD loop every
    launch.tvc_period holding pitch on the programme and yaw on launch.azimuth (plus
    ``yaw_offset``), the spin-up to ``spin`` (default launch.spin_rate; 0: none) once the climb
    has slowed to launch.spin_start_climb, SRM2 at launch.srm2_climb, on to burnout."""
    spin = LAUNCH["spin_rate"] if spin is None else spin
    mav.toss(0.0)
    srm1_at = LAUNCH["srm1_delay"]
    mav.advance(srm1_at)
    mav.ignite_srm1(srm1_at)
    t, last = srm1_at, (math.nan, math.nan)
    kp, kd = LAUNCH["tvc_kp"], LAUNCH["tvc_kd"]
    start, end, burn = LAUNCH["pitch_start"], LAUNCH["pitch_end"], LAUNCH["srm1_burn"]
    while mav.separated_at is None:
        t += LAUNCH["tvc_period"]
        mav.advance(t)
        if not steer or mav.separated_at is not None:
            continue
        attitude, rate = mav.status_attitude(t), mav.status_imu(t)["rate"]
        into = t - srm1_at
        programme = start + (end - start) * min(1.0, into / burn)
        programme_rate = (end - start) / burn if into < burn else 0.0
        yaw_error = (attitude["yaw"] - LAUNCH["azimuth"] - yaw_offset + 180.0) % 360.0 - 180.0
        pitch = -(kp * (attitude["pitch"] - programme) + kd * (rate[1] - programme_rate))
        yaw = -(kp * yaw_error + kd * rate[2])
        command = (max(-5.0, min(5.0, pitch)), max(-5.0, min(5.0, yaw)))
        if any(not abs(c - g) <= TVC_DEADBAND for c, g in zip(command, last, strict=True)):
            mav.cmd_tvc_gimbal({"pitch": command[0], "yaw": command[1]}, t)
            last = command
    while mav.vr > LAUNCH["spin_start_climb"]:
        t += tick
        mav.advance(t)
    if spin:
        mav.cmd_spin_spin_up({"rate": spin}, t)
    while mav.vr > LAUNCH["srm2_climb"] or mav.spin_rate < 0.95 * spin:
        t += tick
        mav.advance(t)
    mav.ignite_srm2(t)
    mav.advance(t + mav.srm2_burn + 1.0)
    return mav


# ---------------------------------------------------------------------- the coast


def test_a_coast_keeps_its_energy_and_angular_momentum_over_an_orbit():
    r = RADIUS + 300e3
    pos, vel = inclined(r, 1.05 * math.sqrt(MU / r), 30.0)  # an ellipse, e about 0.1
    mav = coasting(pos, vel)

    def invariants():
        energy = sum(v * v for v in mav.vel) / 2 - MU / mav.r
        x, y, z = mav.pos
        u, v, w = mav.vel
        return energy, (y * w - z * v, z * u - x * w, x * v - y * u)

    energy0, h0 = invariants()
    orbit0 = mav.orbit()
    assert orbit0.eccentricity == pytest.approx(0.1025, abs=1e-3)
    period = 2 * math.pi * math.sqrt((orbit0.semi_major_axis_km * 1e3) ** 3 / MU)
    t = 0.0
    while t < period:
        t = min(period, t + 7.3)  # the simulator's irregular syncs
        mav.advance(t)
    energy, h = invariants()
    assert energy == pytest.approx(energy0, rel=1e-9)
    assert math.dist(h, h0) < 1e-9 * math.hypot(*h0)
    assert math.dist(mav.pos, pos) < 1.0  # m, after one period: back where it started
    orbit = mav.orbit()
    assert orbit.raan_deg == pytest.approx(orbit0.raan_deg, abs=1e-9)
    assert orbit.argument_of_periapsis_deg == pytest.approx(orbit0.argument_of_periapsis_deg,
                                                            abs=1e-6)  # fmt: skip


def test_a_circular_orbit_comes_back_after_its_period():
    r = RADIUS + 350e3
    pos, vel = inclined(r, math.sqrt(MU / r), 25.0)
    mav = coasting(pos, vel)
    period = 2 * math.pi * math.sqrt(r**3 / MU)
    mav.advance(period / 2)
    assert math.dist(mav.pos, (-pos[0], 0.0, 0.0)) < 1.0  # half-way: the far side
    mav.advance(period)
    assert math.dist(mav.pos, pos) < 0.1 and math.dist(mav.vel, vel) < 1e-4
    orbit = mav.orbit()
    assert orbit.eccentricity < 1e-9 and orbit.inclination_deg == pytest.approx(25.0, abs=1e-9)
    assert orbit.periapsis_km == pytest.approx(350.0, abs=1e-6) == orbit.apoapsis_km
    assert orbit.altitude_km == pytest.approx(350.0, abs=1e-6)


def test_the_elements_of_a_state_vector():
    r = RADIUS + 300e3
    speed = math.sqrt(MU / r * 2 * 1.2 / 2.2)  # periapsis of an orbit with apoapsis 1.2 r
    orbit = elements((0.0, r, 0.0), (-speed, 0.0, 0.0), epoch=5.0)
    assert isinstance(orbit, OrbitElements) and orbit.epoch == 5.0
    assert orbit.periapsis_km == pytest.approx(300.0, abs=1e-6)
    assert orbit.apoapsis_km == pytest.approx((1.2 * r - RADIUS) / 1e3, abs=1e-6)
    assert orbit.eccentricity == pytest.approx(0.2 / 2.2)
    assert orbit.inclination_deg == 0.0 and math.isnan(orbit.raan_deg)  # equatorial
    escaping = elements((r, 0.0, 0.0), (0.0, 1.5 * math.sqrt(MU / r), 0.0))
    assert escaping.apoapsis_km == math.inf and escaping.eccentricity > 1


# ---------------------------------------------------------------------- the plane


@pytest.mark.parametrize(("latitude", "azimuth"), [(18.4, 73.0), (-30.0, 45.0), (0.0, 90.0),
                                                   (45.0, 120.0), (18.4, 300.0)])  # fmt: skip
def test_a_launch_lands_in_the_plane_its_latitude_and_azimuth_give(latitude, azimuth):
    """cos i = cos(latitude) sin(azimuth), on a non-turning Mars: first the state the azimuth
    gives at the site, then the whole ascent flown by the flight software's TVC."""
    expected = math.degrees(math.acos(math.cos(math.radians(latitude))
                                      * math.sin(math.radians(azimuth))))  # fmt: skip
    mav = MavAvionics(rotation=0.0, latitude=latitude, azimuth=azimuth)
    nose, _, _ = attitude_axes(mav.pos, 0.0, azimuth)
    assert pitch_yaw(mav.pos, nose) == pytest.approx((0.0, azimuth % 360.0))
    state = elements(mav.pos, tuple(3400.0 * n for n in nose))  # type: ignore[arg-type]
    assert state.inclination_deg == pytest.approx(expected, abs=1e-9)
    LAUNCH_AZIMUTH = LAUNCH["azimuth"]
    LAUNCH["azimuth"] = azimuth
    try:
        flown = fly(MavAvionics(rotation=0.0, latitude=latitude, azimuth=azimuth)).orbit()
    finally:
        LAUNCH["azimuth"] = LAUNCH_AZIMUTH
    # SRM1 holds a heading, not a great circle: a tenth of a degree over its 100 km downrange
    assert flown.inclination_deg == pytest.approx(expected, abs=0.25)


def test_mars_turning_under_the_launch_adds_its_surface_speed_and_lowers_the_inclination():
    turning, still = MavAvionics(), MavAvionics(rotation=0.0)
    assert turning.speed == pytest.approx(RADIUS * 7.0882e-5 * math.cos(math.radians(18.4)))
    assert still.speed == 0.0 and turning.altitude == still.altitude == 0.0
    assert turning.status_nav(0.0) == {"altitude": 0.0, "speed": turning.speed,
                                       "vertical_speed": 0.0}  # fmt: skip
    fly(turning)
    fly(still)
    assert turning.orbit().inclination_deg < still.orbit().inclination_deg - 1.0
    assert turning.orbit().semi_major_axis_km > still.orbit().semi_major_axis_km


def test_a_yaw_held_off_the_azimuth_turns_the_plane_and_zero_error_flies_the_nominal():
    """A heading further east (a positive yaw offset held by the TVC) lowers the inclination (by
    cos(lat) cos(az) / sin(i) = 0.7 deg per degree, for the velocity SRM1 gives); nothing
    commanded at all (no disturbance) flies the same as the TVC holding both errors at zero."""
    nominal = fly(MavAvionics()).orbit().inclination_deg
    unsteered = fly(MavAvionics(), steer=False).orbit().inclination_deg
    assert unsteered == pytest.approx(nominal, abs=0.01)
    east = fly(MavAvionics(), yaw_offset=1.0).orbit().inclination_deg
    west = fly(MavAvionics(), yaw_offset=-1.0).orbit().inclination_deg
    assert east < nominal < west
    # less than the closed form's 0.7: the surface speed Mars lends the launch is not turned
    assert nominal - east == pytest.approx(0.55, abs=0.1)
    assert west - nominal == pytest.approx(0.55, abs=0.1)


def test_a_yaw_disturbance_held_by_nobody_turns_the_plane_and_the_tvc_holds_it():
    free = fly(MavAvionics(yaw_disturbance=0.002), steer=False)
    assert free.error[1] > 5.0  # deg of heading error at SRM1 burnout: 0.002 * 75^2 / 2
    assert "inclination" in free.orbit_error().misses
    assert free.orbit().inclination_deg < MavAvionics().target.inclination_deg - 1.0
    held = fly(MavAvionics(yaw_disturbance=0.002))
    # held within the TVC's deadband (0.05 deg of nozzle, over tvc_kp 0.1 deg/deg)
    assert held.orbit_error().within and abs(held.error[1]) < 0.5


# ---------------------------------------------------------------------- SRM2 and the target


def test_the_nominal_ascent_reaches_the_target_orbit_within_its_tolerance():
    mav = fly(MavAvionics())
    orbit, error, target = mav.orbit(), mav.orbit_error(), mav.target
    assert mav.phase == "orbit" and error.within and error.misses == ()
    assert abs(orbit.periapsis_km - target.periapsis_km) <= target.periapsis_tolerance_km
    assert abs(orbit.apoapsis_km - target.apoapsis_km) <= target.apoapsis_tolerance_km
    assert abs(orbit.inclination_deg - target.inclination_deg) <= target.inclination_tolerance_deg
    assert error.periapsis_km == orbit.periapsis_km - target.periapsis_km
    assert abs(mav.nose_offset) < math.radians(0.2)  # the spin kept the nose where it was
    nav = mav.status_nav(mav.now)
    assert 300 < nav["altitude"] < 400 and nav["speed"] > 3300
    imu = mav.status_imu(mav.now)
    assert imu["rate"][0] == pytest.approx(1200.0) and imu["rate"][1:] == [0.0, 0.0]


def test_without_the_spin_up_the_srm2_misalignment_tumbles_the_stage_and_the_orbit_misses():
    mav = fly(MavAvionics(), spin=0.0)
    error = mav.orbit_error()
    assert not error.within and "periapsis" in error.misses
    assert abs(mav.nose_offset) > math.pi / 2  # the nose turned away in the burn


def test_a_slow_spin_leaves_more_of_the_misalignment_than_the_flight_rate():
    slow, fast = fly(MavAvionics(), spin=20.0), fly(MavAvionics(), spin=200.0)
    assert abs(fast.nose_offset) < abs(slow.nose_offset)
    assert fast.orbit_error().within


def test_the_transverse_rates_in_the_spun_srm2_burn_are_the_small_coning():
    mav = MavAvionics()
    mav.toss(0.0)
    mav.advance(0.5)
    mav.ignite_srm1(0.5)
    mav.advance(80.0)
    mav.cmd_spin_spin_up({"rate": 200.0}, 80.0)
    while mav.vr > 40.0:
        mav.advance(mav.now + 1.0)
    mav.ignite_srm2(mav.now)
    seen, lit = [], mav.now
    while mav.now < lit + mav.srm2_burn + 1.0:
        mav.advance(mav.now + 0.5)
        seen.append(math.hypot(*mav.status_imu(mav.now)["rate"][1:]))
    assert mav.phase == "orbit"
    assert 0 < max(seen) < 2.0  # deg/s, far below the flight software's 20 deg/s rate limit
    assert seen[-1] == 0.0  # burnt out: the nose stays put


def test_the_target_orbit_is_checked_when_made():
    assert TargetOrbit().periapsis_km == 340.0
    with pytest.raises(ValueError, match="not positive"):
        TargetOrbit(apoapsis_tolerance_km=0.0)
    with pytest.raises(ValueError, match="periapsis"):
        TargetOrbit(periapsis_km=400.0, apoapsis_km=300.0)
    with pytest.raises(ValueError, match="not finite"):
        TargetOrbit(inclination_deg=math.nan)
    mav = MavAvionics(target=TargetOrbit(periapsis_km=100.0, apoapsis_km=100.0))
    fly(mav)
    assert mav.orbit_error().misses == ("periapsis", "apoapsis")


# ---------------------------------------------------------------------- the coning


@pytest.mark.parametrize("spin", [0.0, 2.0, 20.94])
def test_the_coning_closed_form_against_a_numerical_integration(spin):
    """z'' - i ratio spin z' = forcing exp(i spin t), from rest, by RK4 at 1 ms."""
    forcing, ratio = 0.1 * cmath.exp(0.7j), 5.7 / 33.0
    lam = ratio * spin
    z, w, t, h = 0j, 0j, 0.0, 1e-3

    def accel(t: float, w: complex) -> complex:
        return forcing * cmath.exp(1j * spin * t) + 1j * lam * w

    while t < 3.0 - 1e-12:
        k1z, k1w = w, accel(t, w)
        k2z, k2w = w + h / 2 * k1w, accel(t + h / 2, w + h / 2 * k1w)
        k3z, k3w = w + h / 2 * k2w, accel(t + h / 2, w + h / 2 * k2w)
        k4z, k4w = w + h * k3w, accel(t + h, w + h * k3w)
        z += h / 6 * (k1z + 2 * k2z + 2 * k3z + k4z)
        w += h / 6 * (k1w + 2 * k2w + 2 * k3w + k4w)
        t += h
    closed, rate = coning(3.0, spin, forcing, ratio)
    assert abs(closed - z) < 1e-9 and abs(rate - w) < 1e-9
    if spin > 20:  # the flight rate: a small cone about the mean offset
        assert abs(closed + forcing / (ratio * spin**2)) < 2 * abs(forcing) / (lam * (spin - lam))
