"""The igloo's thermal control (fsw/apps/igloo.py) on the lander and its emulated igloo board, as
the operator runs it: the heater zones held at a setpoint through the Mars night while a zone's
heater fails. A failed prime element is switched over to the redundant one and the zone stays
held; with both elements failed the zone is left off and the others go on; after a restart the
app carries on with the elements the board has selected. The zones' temperatures and elements
are checked against the emulated board (the truth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.protocol.devices import igloo as icd
from sim_hardware.devices.igloo import Igloo
from tests.fsw.mission_rig import MissionRig

NOMINAL = 2
SETPOINT = 5.0  # degC
SETTLE = 600.0  # s: the law's time constant is about 480 s (2000 J/K over 0.2 + 4 W/K)
HOLD = 2400.0  # s of Mars night watched after the failure: five time constants of the law
CONTROL_PERIOD = 60.0  # s, igloo.control_period's default: a failure is seen within one period
DROOP = 5.0  # K: the proportional law holds a zone up to ~4.5 K below the setpoint at night


# ---------------------------------------------------------------------- the operator's helpers


def board(rig: MissionRig) -> Igloo:
    """The emulated igloo board (the truth)."""
    return rig.sim.emulators["igloo"]


def conditioning(rig: MissionRig) -> None:
    """Nominal mode and the zones held at the setpoint."""
    assert rig.command("modes.set", mode=NOMINAL)[-1] == "completed"
    assert rig.command("igloo.condition", setpoint=SETPOINT)[-1] == "completed"


def zones(rig: MissionRig) -> list[float]:
    """Every zone's temperature now (the board's truth), degC."""
    with rig.lock:
        return list(board(rig).zone)


def zone_faults(rig: MissionRig, since: int = 0) -> list[str]:
    """The details of the ``igloo.zone_fault`` events from packet ``since``."""
    return [detail for name, detail in rig.events(since) if name == "igloo.zone_fault"]


@pytest.fixture
def lander(tmp_path: Path):
    """The lander with its igloo as a night of conditioning leaves it (every zone at the
    setpoint; warming it from the -10 degC of the bench takes two simulated hours), held."""
    with MissionRig(tmp_path, "lander") as rig:
        with rig.lock:
            board(rig).zone = [SETPOINT] * icd.ZONES
        conditioning(rig)
        rig.run(SETTLE)
        assert rig.hk("igloo.status")["zones_failed"] == 0
        yield rig


# ---------------------------------------------------------------------- the procedures


def test_a_failed_prime_heater_is_switched_to_its_redundant_element_and_the_zone_held(lander):
    seen = len(lander.packets)
    lander.inject("igloo.heaters", "heater_zone_failure", index=3)  # the prime element opens
    assert lander.run_until(lambda: zone_faults(lander, seen), timeout=CONTROL_PERIOD + 1)
    assert zone_faults(lander, seen) == [
        "zone 3 prime heater open: switched to the redundant element"
    ]
    with lander.lock:
        assert board(lander).element == [icd.PRIME] * 3 + [icd.REDUNDANT] + [icd.PRIME] * 12
    lander.run(CONTROL_PERIOD)
    with lander.lock:
        assert board(lander).status_heaters(lander.now())["current"][3] > 0  # heating again
    behind = []  # zone 3 below the mean of the others, K, each control period
    for _ in range(int(HOLD // CONTROL_PERIOD)):
        lander.run(CONTROL_PERIOD)
        t = zones(lander)
        others = [v for z, v in enumerate(t) if z != 3]
        behind.append(sum(others) / len(others) - t[3])
        assert SETPOINT - DROOP < t[3] < SETPOINT + 1
    assert max(behind) < 0.5  # the minute without heat cost less than half a kelvin...
    assert abs(behind[-1]) < 0.01  # ...and is made up
    hk = lander.hk("igloo.status")
    assert hk["zones_failed"] == 0 and hk["zones_redundant"] == 1
    assert zone_faults(lander, seen) == [
        "zone 3 prime heater open: switched to the redundant element"
    ]  # reported once


def test_with_both_elements_failed_the_zone_is_left_off_and_the_others_held(lander):
    seen = len(lander.packets)
    lander.inject("igloo.heaters", "heater_zone_failure", index=3, element="both")
    assert lander.run_until(lambda: len(zone_faults(lander, seen)) == 2,
                            timeout=2 * CONTROL_PERIOD + 1)  # fmt: skip
    switched, left_off = zone_faults(lander, seen)
    assert switched == "zone 3 prime heater open: switched to the redundant element"
    assert left_off.startswith("zone 3 redundant heater open too (") and "left off" in left_off
    with lander.lock:
        assert board(lander).duty[3] == 0.0 and board(lander).element[3] == icd.REDUNDANT
    lander.run(HOLD)
    t = zones(lander)
    others = [v for z, v in enumerate(t) if z != 3]
    assert t[3] < min(others) - 10  # cooling toward the Mars night (-90 degC)
    assert all(SETPOINT - DROOP < v < SETPOINT + 1 for v in others)
    hk = lander.hk("igloo.status")
    assert hk["zones_failed"] == 1 and hk["zones_redundant"] == 1
    assert hk["zone_min"] == pytest.approx(min(others), abs=0.1)  # the failed zone left out
    assert hk["zone_max"] - hk["zone_min"] < 0.1


def test_after_a_restart_the_app_carries_on_with_the_elements_the_board_has_selected(lander):
    lander.inject("igloo.heaters", "heater_zone_failure", index=3)
    lander.inject("igloo.heaters", "heater_zone_failure", index=9, element="both")
    assert lander.run_until(lambda: lander.hk("igloo.status")["zones_failed"] == 1,
                            timeout=3 * CONTROL_PERIOD)  # fmt: skip
    assert len(zone_faults(lander)) == 3  # zones 3 and 9 switched, zone 9 left off
    lander.boot("reset")
    seen = len(lander.packets)
    assert lander.hk("igloo.status")["zones_failed"] == 0  # nothing remembered...
    conditioning(lander)
    lander.run(3 * CONTROL_PERIOD)
    # ...the app reads each zone's element from the board: no second switch-over
    (after_restart,) = zone_faults(lander, seen)
    assert after_restart.startswith("zone 9 redundant heater open too")
    hk = lander.hk("igloo.status")
    assert hk["zones_failed"] == 1 and hk["zones_redundant"] == 2
    with lander.lock:
        heaters = board(lander).status_heaters(lander.now())
    assert heaters["element"][3] == heaters["element"][9] == icd.REDUNDANT
    assert heaters["current"][3] > 0 and heaters["duty"][9] == 0.0
