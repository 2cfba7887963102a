"""The brazing board: its emulator against its HAL driver over a pty, through the break-the-chain
procedure (heat, hold, cool, check the seal) and every fault the bench can inject on it."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed, DeviceTimeout
from hal.devices.braze import BrazeClient
from hal.errors import EncodeError
from hal.protocol.devices import braze as icd
from sim_hardware.devices.braze import OPEN_LEAK, Braze


@pytest.fixture
def braze(connect, sim_time):
    emulator = Braze()
    return connect(emulator, BrazeClient), emulator, sim_time


def heat(client, clock, power, until):
    client.set_power(power)
    client.heater_on()
    clock.now = until
    return client.read_seam()


def test_the_board_answers_ping_and_reports_a_cold_idle_seam(braze):
    client, _, _ = braze
    for device in ("heater", "thermocouples", "seal"):
        assert client.ping(device) >= 0
    heater = client.read_heater()
    assert not heater.on and heater.power == 0.0 and not heater.over_temperature
    seam = client.read_seam()
    assert seam.temperature == pytest.approx((20.0,) * 4, abs=2.0) and not seam.brazed
    seal = client.read_seal()
    assert not seal.checked and not seal.checking and seal.checks == 0


def test_a_nominal_braze_exceeds_538_degc_holds_the_dwell_and_seals(braze):
    client, _, clock = braze
    warming = heat(client, clock, 1600.0, until=200.0)
    assert 300 < warming.coolest < icd.BRAZE_TEMPERATURE and not warming.brazed
    assert client.read_heater().power == 1600.0
    hot = heat(client, clock, 1600.0, until=400.0)
    assert hot.coolest > 538.0 and hot.at_braze_temperature
    assert hot.brazed and hot.time_at_braze >= icd.BRAZE_DWELL and hot.peak > 538.0
    with pytest.raises(DeviceFailed) as failed:
        client.check_seal(30.0)  # the heater is still on
    assert failed.value.reason == "seam_hot" and failed.value.detail > 500
    client.heater_off()
    clock.now = 1300.0
    cooled = client.read_seam()
    assert cooled.coolest < 30.0 and cooled.brazed and client.read_heater().energy > 600
    client.check_seal(30.0)
    assert client.read_seal().checking
    with pytest.raises(DeviceFailed, match="check_running"):
        client.heater_on()
    clock.now = 1331.0
    seal = client.read_seal()
    assert seal.checked and seal.sealed and not seal.checking and seal.checks == 1
    assert seal.leak_rate <= icd.LEAK_LIMIT


def test_commands_out_of_range_or_out_of_order_are_refused(braze):
    client, _, _ = braze
    with pytest.raises(DeviceFailed) as failed:
        client.heater_on()
    assert failed.value.reason == "no_power_set" and failed.value.code == icd.FAIL_NO_POWER_SET
    with pytest.raises(EncodeError, match=r"power = 2500 is outside 0\.\.2000"):
        client.set_power(2500)  # refused before anything is sent
    with pytest.raises(EncodeError, match="duration"):
        client.check_seal(1.0)
    assert client.health.requests == 1


def test_full_power_trips_the_cut_out_until_the_seam_cools(braze):
    client, _, clock = braze
    heat(client, clock, icd.MAX_POWER, until=435.0)  # cut out at about 427 s
    heater = client.read_heater()
    assert heater.over_temperature and not heater.on and heater.power == 0.0
    with pytest.raises(DeviceFailed) as failed:
        client.heater_on()
    assert failed.value.reason == "over_temperature" and failed.value.detail > 600
    clock.now = 470.0
    client.heater_on()
    assert client.read_heater().on and not client.read_heater().over_temperature


def test_a_poorly_coupled_heater_plateaus_below_the_braze_temperature(braze):
    client, emulator, clock = braze
    emulator.inject("braze_under_temperature", "heater")
    seam = heat(client, clock, icd.MAX_POWER, until=1500.0)
    assert client.read_heater().power == icd.MAX_POWER  # the drive does its part
    assert 400 < seam.coolest < icd.BRAZE_TEMPERATURE and max(seam.temperature) < 460
    assert not seam.brazed and seam.time_at_braze == 0.0 and seam.peak < icd.BRAZE_TEMPERATURE
    clock.now = 1600.0
    assert client.read_seam().coolest == pytest.approx(seam.coolest, abs=2.0)  # a plateau
    client.heater_off()
    clock.now = 2600.0
    client.check_seal(10.0)
    clock.now = 2611.0
    seal = client.read_seal()
    assert seal.checked and not seal.sealed and seal.leak_rate == pytest.approx(OPEN_LEAK)


def test_a_leaking_seal_is_reported_by_the_check(braze):
    client, emulator, clock = braze
    heat(client, clock, 1600.0, until=400.0)
    client.heater_off()
    clock.now = 1300.0
    emulator.inject("seal_leak", "seal", leak_rate=3e-5)
    client.check_seal(60.0)
    clock.now = 1361.0
    seal = client.read_seal()
    assert client.read_seam().brazed
    assert seal.checked and not seal.sealed and seal.leak_rate == pytest.approx(3e-5)
    emulator.clear(kind="seal_leak")
    client.reset_braze()
    assert not client.read_seam().brazed


def test_a_silent_or_biased_thermocouple_board(braze):
    client, emulator, _ = braze
    emulator.inject("no_reply", "thermocouples")
    with pytest.raises(DeviceTimeout):
        client.read_seam()
    client.ping("heater")  # the other devices still answer
    emulator.clear(kind="no_reply")
    emulator.inject("bias", "thermocouples", field="temperature", offset=40.0, index=2)
    seam = client.read_seam()
    assert seam.temperature[2] - seam.temperature[0] == pytest.approx(40.0, abs=3.0)


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert icd.BOARD.node == "orbiter"
    assert set(icd.BOARD.apids) == {0x180, 0x181, 0x182}
    assert all(0x180 <= apid <= 0x18F for apid in icd.BOARD.apids)
