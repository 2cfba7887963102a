"""The MAV igloo board: its emulator against its HAL driver over a pty, through Mars nights, with
the door cycle for sample loading and every fault the bench can inject on it."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed
from hal.devices.igloo import IglooClient
from hal.errors import EncodeError
from hal.protocol.devices import igloo as icd
from sim_hardware.devices.igloo import BUS_VOLTAGE, HEATER_POWER, SOL, Igloo


@pytest.fixture
def igloo(connect, sim_time):
    emulator = Igloo()
    return connect(emulator, IglooClient), emulator, sim_time


def test_the_igloo_answers_and_reports_its_zones_propellant_and_door(igloo):
    client, _, _ = igloo
    for device in ("heaters", "propellant", "door"):
        assert client.ping(device) >= 0
    heaters = client.read_heaters()
    assert heaters.temperature == (-10.0,) * 16 and heaters.duty == (0.0,) * 16
    assert heaters.current == (0.0,) * 16
    propellant = client.read_propellant()
    assert propellant.temperature == -10.0 and propellant.ambient == pytest.approx(-90.0)
    assert not propellant.cold
    door = client.read_door()
    assert door.closed and not door.open and not door.moving


def test_the_ambient_follows_the_sol_from_night_to_day(igloo):
    client, _, clock = igloo
    clock.now = SOL / 2
    assert client.read_propellant().ambient == pytest.approx(-20.0)
    clock.now = SOL / 4
    assert client.read_propellant().ambient == pytest.approx(-20.0)  # time never goes back
    clock.now = SOL
    assert client.read_propellant().ambient == pytest.approx(-90.0)


def test_without_heat_a_mars_sol_chills_the_propellant_below_its_limit(igloo):
    client, _, clock = igloo
    clock.now = SOL
    zones, propellant = client.read_heaters(), client.read_propellant()
    assert propellant.cold and propellant.temperature < icd.PROPELLANT_MIN
    assert propellant.temperature > max(zones.temperature)  # it lags the zones at night


def test_the_heaters_keep_the_propellant_warm_through_the_night(igloo):
    client, _, clock = igloo
    client.set_all([30.0] * 16)
    client.set_duty(5, 100.0)
    clock.now = SOL
    zones, propellant = client.read_heaters(), client.read_propellant()
    assert not propellant.cold and propellant.temperature > -30.0
    assert zones.temperature[5] > zones.temperature[4] + 50
    assert zones.current[5] == pytest.approx(HEATER_POWER / BUS_VOLTAGE)
    assert zones.current[4] == pytest.approx(0.3 * HEATER_POWER / BUS_VOLTAGE)
    client.heaters_off()
    assert client.read_heaters().current == (0.0,) * 16


def test_the_door_travels_and_an_open_door_cools_the_zones(igloo):
    client, _, clock = igloo
    client.set_all([100.0] * 16)
    client.open_door()
    clock.now = 30.0
    half = client.read_door()
    assert half.position == pytest.approx(50.0) and half.moving and not half.open
    clock.now = 60.0
    assert client.read_door().open
    clock.now = SOL
    open_door = client.read_heaters().temperature[0]
    closed = Igloo()
    closed.duty = [100.0] * 16
    closed.advance(SOL)
    assert open_door < closed.zone[0] - 50
    client.close_door()
    client.stop_door()
    assert not client.read_door().moving
    client.close_door()
    clock.now = SOL + 60.0
    assert client.read_door().closed


def test_a_failed_heater_is_refused_and_draws_no_current(igloo):
    client, emulator, clock = igloo
    emulator.inject("heater_zone_failure", "heaters", index=4)
    with pytest.raises(DeviceFailed) as failed:
        client.set_duty(4, 50.0)
    assert failed.value.reason == "heater_open" and failed.value.detail == 4
    client.set_duty(4, 0.0)  # switching it off is fine
    client.set_all([50.0] * 16)
    clock.now = SOL / 2
    zones = client.read_heaters()
    assert zones.open_heaters() == [4] and zones.open_thermistors() == []
    assert zones.temperature[4] < zones.temperature[3] - 20


def test_each_zone_starts_on_its_prime_element_and_either_element_heats_it(igloo):
    client, _, clock = igloo
    assert client.read_heaters().element == (icd.PRIME,) * 16
    client.select_element(7, icd.REDUNDANT)
    client.set_all([50.0] * 16)
    zones = client.read_heaters()
    assert zones.element[7] == icd.REDUNDANT and zones.element[6] == icd.PRIME
    assert zones.current[7] == pytest.approx(0.5 * HEATER_POWER / BUS_VOLTAGE)
    assert zones.current[7] == zones.current[6]  # the two elements have the same rating
    clock.now = SOL / 2
    zones = client.read_heaters()
    assert zones.temperature[7] == pytest.approx(zones.temperature[6])
    client.select_element(7, icd.PRIME)
    assert client.read_heaters().element == (icd.PRIME,) * 16


def test_a_failed_prime_element_is_replaced_by_the_redundant_one(igloo):
    client, emulator, clock = igloo
    emulator.inject("heater_zone_failure", "heaters", index=3)  # element: prime by default
    client.set_all([50.0] * 16)
    clock.now = 3600.0
    zones = client.read_heaters()
    assert zones.open_heaters() == [3] and zones.current[3] == 0.0
    assert zones.temperature[3] < zones.temperature[2] - 5
    with pytest.raises(DeviceFailed, match="heater_open"):
        client.set_duty(3, 50.0)
    client.select_element(3, icd.REDUNDANT)  # the operator's switch-over
    zones = client.read_heaters()
    assert zones.element[3] == icd.REDUNDANT and zones.open_heaters() == []
    assert zones.current[3] == pytest.approx(zones.current[2])  # current is back...
    client.set_duty(3, 100.0)  # ...and set_duty is accepted again
    clock.now = 3600.0 + 5000.0
    zones = client.read_heaters()
    assert zones.temperature[3] > zones.temperature[2]  # ...and so is the heat (full duty)
    client.select_element(3, icd.PRIME)  # selecting the dead element is allowed
    assert client.read_heaters().open_heaters() == [3]


def test_with_both_elements_failed_the_zone_cannot_be_heated(igloo):
    client, emulator, clock = igloo
    emulator.inject("heater_zone_failure", "heaters", index=12, element="both")
    client.set_all([50.0] * 16)
    for element in (icd.PRIME, icd.REDUNDANT):
        client.select_element(12, element)  # never refused
        zones = client.read_heaters()
        assert zones.element[12] == element and zones.open_heaters() == [12]
        assert zones.current[12] == 0.0
        with pytest.raises(DeviceFailed, match="heater_open"):
            client.set_duty(12, 50.0)
    clock.now = SOL / 2
    zones = client.read_heaters()
    assert zones.temperature[12] < zones.temperature[11] - 20


def test_a_failed_redundant_element_matters_only_once_it_is_selected(igloo):
    client, emulator, _ = igloo
    emulator.inject("heater_zone_failure", "heaters", index=1, element="redundant")
    client.set_all([40.0] * 16)
    assert client.read_heaters().open_heaters() == []
    client.select_element(1, icd.REDUNDANT)
    assert client.read_heaters().open_heaters() == [1]


def test_zones_fail_one_by_one_each_with_its_own_elements(igloo):
    client, emulator, _ = igloo
    emulator.inject("heater_zone_failure", "heaters", index=3)
    emulator.inject("heater_zone_failure", "heaters", index=9, element="both")
    emulator.inject("heater_zone_failure", "heaters", index=14, mode="thermistor")
    client.set_all([40.0] * 16)
    zones = client.read_heaters()
    assert zones.open_heaters() == [3, 9] and zones.open_thermistors() == [14]
    client.select_element(3, icd.REDUNDANT)
    client.select_element(9, icd.REDUNDANT)
    assert client.read_heaters().open_heaters() == [9]


def test_a_heater_is_judged_by_the_current_its_duty_should_draw_at_the_icds_rating(igloo):
    client, emulator, _ = igloo
    emulator.inject("heater_zone_failure", "heaters", index=6)
    client.set_all([1.0] * 16)  # 7 mA expected: too close to the sense's 5 mA to tell
    zones = client.read_heaters()
    assert zones.expected_current(6) == pytest.approx(0.01 * icd.HEATER_POWER / icd.BUS_VOLTAGE)
    assert zones.current[6] == 0.0 and zones.open_heaters() == []
    client.set_all([2.0] * 16)  # 14 mA expected: a dead element reads under half of it
    assert client.read_heaters().open_heaters() == [6]
    client.set_all([50.0] * 16)
    emulator.inject("bias", "heaters", field="current", index=2, offset=-0.25)  # 107 of 357 mA
    emulator.inject("bias", "heaters", field="current", index=3, offset=-0.1)  # 257 of 357 mA
    assert client.read_heaters().open_heaters() == [2, 6]  # failing, dead; zone 3 is within


def test_an_open_thermistor_reads_the_bottom_of_its_range(igloo):
    client, emulator, _ = igloo
    emulator.inject("heater_zone_failure", index=9, mode="thermistor")
    client.set_duty(9, 50.0)  # the heater itself still works
    zones = client.read_heaters()
    assert zones.open_thermistors() == [9] and zones.temperature[9] == -150.0
    assert zones.open_heaters() == []
    emulator.clear(kind="heater_zone_failure")
    emulator.inject("heater_zone_failure", index=2, mode="both")
    zones = client.read_heaters()
    assert zones.open_thermistors() == [2]
    with pytest.raises(DeviceFailed, match="heater_open"):
        client.set_duty(2, 10.0)


def test_a_zone_failure_naming_no_real_zone_element_or_mode_is_refused_and_fails_nothing(igloo):
    client, emulator, _ = igloo
    with pytest.raises(ValueError) as refused:
        emulator.inject("heater_zone_failure", "heaters", index=3, element="prim")
    assert str(refused.value) == ("igloo: fault 'heater_zone_failure' parameter element 'prim' "
                                  "is not one of prime, redundant, both")  # fmt: skip
    for params, words in [
        ({"index": 16}, "parameter index 16 is not an integer in 0..15"),
        ({"index": 3, "mode": "heaters"}, "mode 'heaters' is not one of heater, thermistor, both"),
        ({"zone": 3}, "takes no parameter 'zone' (it takes: index, mode, element)"),
    ]:
        with pytest.raises(ValueError) as refused:
            emulator.inject("heater_zone_failure", "heaters", **params)
        assert words in str(refused.value) and "\n" not in str(refused.value), params
    assert emulator.faults == []
    client.set_duty(3, 50.0)  # zone 3 heats: its prime element never failed
    zones = client.read_heaters()
    assert zones.open_heaters() == [] and zones.open_thermistors() == []


def test_arguments_out_of_range_are_refused_before_sending(igloo):
    client, _, _ = igloo
    with pytest.raises(EncodeError, match=r"zone = 16 is outside 0\.\.15"):
        client.set_duty(16, 10.0)
    with pytest.raises(EncodeError, match=r"duty = 150"):
        client.set_duty(0, 150.0)
    with pytest.raises(EncodeError, match="needs 16 values"):
        client.set_all([10.0] * 15)
    with pytest.raises(EncodeError, match=r"element = 2 is outside 0\.\.1"):
        client.select_element(0, 2)
    assert client.health.requests == 0


def test_noisy_and_stuck_readings(igloo):
    client, emulator, clock = igloo
    emulator.inject("noise", "propellant", field="temperature", sigma=0.5)
    emulator.inject("stuck", "door", field="position")
    readings = {client.read_propellant().temperature for _ in range(4)}
    assert len(readings) > 1
    assert client.read_door().position == 0.0  # the position pot freezes here
    client.open_door()
    clock.now = 60.0
    assert client.read_door().position == 0.0 and client.read_door().open  # only the pot froze


def test_the_igloo_refuses_nonsense_parameters():
    with pytest.raises(ValueError, match="day >= night"):
        Igloo(day=-100.0, night=-20.0)


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert set(icd.BOARD.apids) == {0x130, 0x131, 0x132}
