"""The EES gantry's physics against closed-form cases (decision 0058): the trapezoidal and
triangular move times, the position along the profile, the end switches closing at the end and
not before, a move past the end stopped by its switch, and the faults from the model (a jam on
the rail, a stuck end switch)."""

from __future__ import annotations

import itertools
import math

import pytest

from hal.protocol.devices import ees_gantry as icd
from sim_hardware.devices.ees_gantry import (
    COULOMB_FORCE,
    FORCE_CONSTANT,
    HOLD_CURRENT,
    MASS,
    VISCOUS_FORCE,
    EesGantry,
    plan,
)

A = icd.ACCELERATION


def moved(position: float, rate: float) -> EesGantry:
    """A gantry at rest at the stow end, commanded at time 0."""
    gantry = EesGantry()
    gantry.cmd_gantry_move({"position": position, "rate": rate}, 0.0)
    return gantry


def at(gantry: EesGantry, t: float) -> dict[str, object]:
    gantry.advance(t)
    return gantry.status_gantry(t)


def trapezoid(d: float, v: float, t: float) -> float:
    """Closed-form position of a move of ``d`` mm at cruise ``v`` from rest at time 0."""
    ramp, total = v / A, d / v + v / A
    if t <= ramp:
        return A * t * t / 2.0
    if t <= total - ramp:
        return v * v / (2.0 * A) + v * (t - ramp)
    return d - A * (total - t) ** 2 / 2.0


@pytest.mark.parametrize("rate", [5.0, 10.0, 20.0])
def test_a_full_travel_move_takes_the_trapezoid_time_and_closes_the_switch_at_the_end(rate):
    d = icd.TRAVEL
    total = d / rate + rate / A
    assert icd.move_time(d, rate) == pytest.approx(total, abs=1e-12)
    gantry = moved(icd.FAR_END, rate)
    for t in (0.5, rate / A, 10.0, total / 2, total - rate / A, total - 0.5, total - 1e-3):
        status = at(gantry, t)
        assert status["position"] == pytest.approx(trapezoid(d, rate, t), abs=1e-9), t
        assert not status["far_switch"] and status["moving"], t  # not before the end
        assert not status["vessel_in_ees"]
    status = at(gantry, total)
    assert status["position"] == icd.FAR_END and status["far_switch"] and not status["moving"]
    assert status["vessel_in_ees"] and status["speed"] == 0.0
    assert icd.DRIVE_STATES[status["drive"]] == "idle"  # type: ignore[index]


def test_a_short_move_is_triangular():
    d, v = 10.0, 20.0  # needs 80 mm to reach 20 mm/s at 5 mm/s^2
    total = 2.0 * math.sqrt(d / A)
    assert icd.move_time(d, v) == pytest.approx(total)
    gantry = moved(d, v)
    half = at(gantry, total / 2)
    assert half["position"] == pytest.approx(d / 2)
    assert half["speed"] == pytest.approx(A * total / 2)  # the peak
    assert at(gantry, total - 1e-3)["moving"]
    done = at(gantry, total)
    assert done["position"] == d and not done["moving"] and not done["stow_switch"]


def test_a_jump_of_the_clock_gives_what_small_steps_give():
    stepped, jumped = moved(icd.FAR_END, 7.0), moved(icd.FAR_END, 7.0)
    t = 0.0
    while t < 100.0:
        t += 0.1
        stepped.advance(t)
    jumped.advance(t)
    assert stepped.position == pytest.approx(jumped.position, abs=1e-9)
    assert stepped.speed == pytest.approx(jumped.speed, abs=1e-9)


def test_the_current_is_friction_and_inertia_over_the_force_constant():
    gantry = moved(icd.FAR_END, 10.0)
    ramp = at(gantry, 1.0)  # accelerating at 5 mm/s^2, 5 mm/s
    force = MASS * A / 1000.0 + COULOMB_FORCE + VISCOUS_FORCE * 5.0
    assert ramp["current"] == pytest.approx(HOLD_CURRENT + force / FORCE_CONSTANT)
    cruise = at(gantry, 40.0)
    force = COULOMB_FORCE + VISCOUS_FORCE * 10.0
    assert cruise["current"] == pytest.approx(HOLD_CURRENT + force / FORCE_CONSTANT)
    assert at(gantry, 100.0)["current"] == HOLD_CURRENT  # at rest


def test_a_move_past_the_end_stops_at_the_switch():
    gantry = moved(icd.POSITION_SPAN, 10.0)
    arrival = 10.0 / A + (icd.FAR_END - 10.0) / 10.0  # ramp, then cruise onto the switch
    before = at(gantry, arrival - 1e-3)
    assert before["moving"] and not before["far_switch"]
    status = at(gantry, arrival + 1e-6)
    assert status["position"] == icd.FAR_END and status["far_switch"]
    assert not status["moving"] and status["speed"] == 0.0 and status["target"] == 1000.0
    assert icd.DRIVE_STATES[status["drive"]] == "at_end"  # type: ignore[index]
    assert at(gantry, 500.0)["position"] == icd.FAR_END  # and stays there


def test_a_new_move_while_moving_starts_from_the_present_speed():
    gantry = moved(icd.FAR_END, 10.0)
    gantry.advance(20.0)  # at 190 mm, 10 mm/s
    gantry.cmd_gantry_move({"position": 100.0, "rate": 10.0}, 20.0)
    assert gantry.segments[0].v0 == pytest.approx(10.0)  # brakes first: no jump in speed
    assert at(gantry, 22.0)["position"] == pytest.approx(200.0)  # 2 s, 10 mm to rest
    done = at(gantry, 22.0 + icd.move_time(100.0, 10.0))
    assert done["position"] == 100.0 and not done["moving"]


def test_plan_meets_the_target_at_rest():
    segments = plan(5.0, 100.0, -3.0, 600.0, 12.0)
    assert segments[0].v1 == 0.0 and segments[-1].x1 == 600.0 and segments[-1].v1 == 0.0
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    assert plan(0.0, 50.0, 0.0, 50.0, 10.0) == []


def test_a_jam_stops_the_carriage_at_its_position_with_the_switch_open():
    gantry = EesGantry()
    fault = gantry.inject("jam", "gantry", at=400.0)
    gantry.cmd_gantry_move({"position": icd.FAR_END, "rate": 10.0}, 0.0)
    reaches = 10.0 / A + (400.0 - 10.0) / 10.0
    assert at(gantry, reaches - 1e-3)["moving"]
    status = at(gantry, reaches + 1e-6)
    assert status["position"] == 400.0 and not status["moving"] and status["speed"] == 0.0
    assert icd.DRIVE_STATES[status["drive"]] == "blocked"  # type: ignore[index]
    assert status["current"] == icd.CURRENT_LIMIT  # pushing at its limit
    later = at(gantry, 1000.0)
    assert later["position"] == 400.0 and not later["far_switch"] and not later["vessel_in_ees"]
    assert fault.effects > 0
    gantry.clear(fault)  # the obstruction gone: on to the target from rest
    done = at(gantry, 1000.0 + icd.move_time(icd.FAR_END - 400.0, 10.0))
    assert done["position"] == icd.FAR_END and done["far_switch"] and done["vessel_in_ees"]


def test_a_jam_with_no_position_seizes_the_carriage_where_it_stands():
    gantry = moved(icd.FAR_END, 10.0)
    gantry.advance(30.0)
    here = gantry.position
    gantry.inject("jam", "gantry")
    assert at(gantry, 30.1)["position"] == here
    gantry.cmd_gantry_move({"position": 0.0, "rate": 10.0}, 31.0)  # nor back
    assert at(gantry, 60.0)["position"] == here


def test_a_switch_stuck_open_reads_open_at_the_end_and_a_move_past_it_pushes():
    gantry = EesGantry()
    gantry.inject("switch_stuck", "gantry", switch="far", reads="open")
    gantry.cmd_gantry_move({"position": icd.POSITION_SPAN, "rate": 10.0}, 0.0)
    status = at(gantry, 200.0)
    assert status["position"] == icd.FAR_END and not status["far_switch"]
    assert icd.DRIVE_STATES[status["drive"]] == "blocked"  # type: ignore[index]
    assert status["current"] == icd.CURRENT_LIMIT and status["vessel_in_ees"]


def test_a_switch_stuck_closed_reads_closed_and_the_drive_will_not_go_that_way():
    gantry = EesGantry()
    gantry.inject("switch_stuck", "gantry", switch="far", reads="closed")
    gantry.cmd_gantry_move({"position": icd.FAR_END, "rate": 10.0}, 0.0)
    status = at(gantry, 200.0)
    assert status["far_switch"] and status["stow_switch"]  # both read closed at the stow end
    assert status["position"] == 0.0 and not status["moving"]
    assert icd.DRIVE_STATES[status["drive"]] == "at_end"  # type: ignore[index]
    stuck = EesGantry()
    stuck.inject("switch_stuck", "gantry", switch="stow", reads="open")
    assert not at(stuck, 1.0)["stow_switch"]  # at the stow end, reading open


def test_the_board_faults_are_declared_and_checked():
    gantry = EesGantry()
    with pytest.raises(ValueError, match="parameter at"):
        gantry.inject("jam", "gantry", at=2000.0)
    with pytest.raises(ValueError, match="parameter switch"):
        gantry.inject("switch_stuck", "gantry", switch="middle")
    with pytest.raises(ValueError, match="applies to gantry"):
        gantry.inject("jam", "release")


def test_the_icd_document_states_the_figures_the_constants_hold():
    """The board's ICD prose gives its figures in numbers (a vendor document names no code)."""
    doc = icd.__doc__ or ""
    assert (icd.STOW_POSITION, icd.FAR_END, icd.TRAVEL) == (0.0, 850.0, 850.0)
    assert icd.INSERT_POSITION == icd.FAR_END and icd.POSITION_SPAN == 1000.0
    assert (icd.ACCELERATION, icd.MAX_SPEED, icd.STOW_RATE, icd.CURRENT_LIMIT) == (5, 20, 10, 2)
    for words in ("5 mm/s^2", "at most 20 mm/s", "10 mm/s", "up to 1000 mm", "2 A", "850 mm"):
        assert words in " ".join(doc.split()), words
