"""The MAV avionics board: its emulator against its HAL driver over a pty, flying the ascent from
the lander to orbit with the pyro events passed in as the simulator does, and every fault the
bench can inject on it, seen through the IMU as the flight software would."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed, DeviceTimeout
from hal.devices.mav_avionics import MavAvionicsClient
from hal.errors import EncodeError
from hal.protocol.devices import mav_avionics as icd
from sim_hardware.coupling import Coupling
from sim_hardware.devices.igloo import Igloo
from sim_hardware.devices.mav_avionics import (
    MU,
    RADIUS,
    SRM2_IGNITION_CLIMB,
    UMBILICAL_OPEN,
    MavAvionics,
)
from sim_hardware.world import World

MARS_G = MU / RADIUS**2


@pytest.fixture
def mav(connect, sim_time):
    emulator = MavAvionics()
    return connect(emulator, MavAvionicsClient, timeout=0.5), emulator, sim_time


def launch(emulator, clock):
    """The pyro board tossed at 0 and lit SRM1 at 0.5 s; the simulator tells the avionics."""
    emulator.toss(0.0)
    clock.now = 0.5
    emulator.ignite_srm1(0.5)


def test_resting_on_the_lander_the_imu_reads_mars_gravity(mav):
    client, _, _ = mav
    for device in icd.BOARD.devices:
        assert client.ping(device.name) >= 0
    imu = client.read_imu()
    assert imu.rate == (0.0, 0.0, 0.0) and imu.accel == pytest.approx((0, 0, MARS_G))
    assert 3.7 < imu.specific_force < 3.75
    assert client.read_attitude().pitch == 0.0 and client.read_nav().altitude == 0.0
    assert client.read_os_latched() and client.read_tvc().attached


def test_a_toss_without_ignition_is_a_free_fall_seen_by_the_accelerometers(mav):
    client, emulator, clock = mav
    emulator.toss(0.0)
    clock.now = 0.1
    assert client.read_imu().specific_force > MARS_G + 10  # thrown upward
    clock.now = 0.8
    falling = client.read_imu()
    assert falling.specific_force == pytest.approx(0.0, abs=1e-6)  # no ignition: free fall
    assert client.read_nav().altitude > 0 and client.read_attitude().pitch == pytest.approx(70)
    clock.now = 10.0
    assert client.read_imu().specific_force == pytest.approx(MARS_G, abs=0.01)
    assert client.read_nav().altitude == 0.0 and emulator.phase == "fell"
    emulator.ignite_srm1(10.0)  # too late: the MAV is on the ground
    clock.now = 20.0
    assert client.read_nav().altitude == 0.0


def test_the_ascent_reaches_a_mars_orbit_and_the_os_is_released(mav):
    client, emulator, clock = mav
    launch(emulator, clock)
    with pytest.raises(DeviceFailed) as failed:
        client.spin_up(200.0)
    assert failed.value.reason == "not_separated"
    clock.now = 10.0
    burning = client.read_imu()
    assert 15 < burning.accel[0] < 40 and burning.accel[2] == 0.0  # SRM1 thrust over mass
    assert client.read_nav().vertical_speed > 100
    clock.now = 80.0
    assert client.read_imu().specific_force == pytest.approx(0.0, abs=1e-6)  # burnout, coast
    assert not client.read_tvc().attached and client.read_spin().separated
    with pytest.raises(DeviceFailed, match="separated"):
        client.gimbal(1.0, 0.0)
    client.spin_up(200.0)
    clock.now = 110.0
    spin = client.read_spin()
    assert spin.rate == pytest.approx(200.0) and client.read_imu().rate[0] == pytest.approx(1200)
    while client.read_nav().vertical_speed > SRM2_IGNITION_CLIMB:
        clock.now += 10.0
    assert 400 < clock.now < 700
    emulator.ignite_srm2(clock.now)
    clock.now += 5.0
    assert client.read_imu().accel[0] > 20  # SRM2 lit
    clock.now += 40.0
    nav = client.read_nav()  # the board flies to now when asked
    orbit = emulator.orbit()
    assert emulator.phase == "orbit" and 300 < orbit.periapsis_km <= orbit.apoapsis_km < 400
    assert orbit.eccentricity < 0.01 and emulator.orbit_error().within  # the bench's target
    assert orbit.inclination_deg == pytest.approx(23.4, abs=0.3)  # Mars turns: below 24.9
    assert 300 < nav.altitude < 400 and nav.speed > 3300
    client.release_os()
    assert not client.read_os_latched() and emulator.os_released_at == clock.now
    with pytest.raises(DeviceFailed) as failed:
        client.release_os()
    assert failed.value.reason == "already_released"


def test_without_srm2_ignition_the_stage_falls_back_and_the_imu_shows_no_thrust(mav):
    client, emulator, clock = mav
    launch(emulator, clock)
    clock.now = 600.0
    assert client.read_imu().specific_force == pytest.approx(0.0, abs=1e-6)
    assert client.read_nav().vertical_speed < 0
    clock.now = 2000.0
    assert client.read_nav().altitude == 0.0 and emulator.phase == "fell"


def test_the_nozzle_steers_the_nose_and_its_limits_are_refused_before_sending(mav):
    client, emulator, clock = mav
    launch(emulator, clock)
    clock.now = 5.0
    nominal = client.read_imu().rate[1]  # the pitch programme's rate
    client.gimbal(0.5, -0.5)
    clock.now = 6.0
    tvc = client.read_tvc()
    assert tvc.pitch == 0.5 and tvc.yaw == -0.5 and not tvc.moving
    imu = client.read_imu()
    assert imu.rate[1] > nominal + 3 and imu.rate[2] < -3  # the nose turns
    with pytest.raises(EncodeError, match=r"pitch = 6\.0 is outside -5\.0\.\.5\.0"):
        client.gimbal(6.0, 0.0)
    with pytest.raises(EncodeError, match=r"rate = 300 is outside"):
        client.spin_up(300)


def test_an_imu_rate_spike_is_seen_on_every_other_report(mav):
    client, emulator, _ = mav
    emulator.inject("imu_rate_spike", "imu", axis=1, size=400.0)
    pitch_rates = [client.read_imu().rate[1] for _ in range(4)]
    assert sorted(pitch_rates) == [0.0, 0.0, 400.0, 400.0]


def test_generic_faults_on_the_imu(mav):
    client, emulator, clock = mav
    emulator.inject("bias", "imu", field="accel", offset=0.2, index=2)
    assert client.read_imu().accel[2] == pytest.approx(MARS_G + 0.2, abs=1e-4)
    emulator.clear()
    emulator.inject("stuck", "imu", field="accel")
    client.read_imu()
    launch(emulator, clock)
    clock.now = 10.0
    assert client.read_imu().accel == pytest.approx((0, 0, MARS_G))  # stuck on the pad value
    emulator.clear()
    emulator.inject("no_reply", "imu")
    with pytest.raises(DeviceTimeout):
        client.read_imu()
    assert client.read_nav().altitude > 0  # the other devices answer


def test_the_umbilical_reads_an_open_line_until_the_lander_feeds_it(mav):
    client, emulator, _ = mav
    silent = client.read_umbilical()
    assert not silent.connected and silent.zones_out == 16
    assert silent.propellant == silent.zone_min == silent.zone_max == UMBILICAL_OPEN
    emulator.umbilical_readings(-12.5, [-10.0] * 14 + [-45.0, 41.5])  # two zones out of limits
    fed = client.read_umbilical()
    assert fed.connected and fed.propellant == -12.5
    assert (fed.zone_min, fed.zone_max, fed.zones_out) == (-45.0, 41.5, 2)


def test_the_toss_breaks_the_umbilical_and_the_last_readings_are_held(mav):
    client, emulator, clock = mav
    emulator.umbilical_readings(-15.0, [-11.0] * 16)
    assert client.read_umbilical().connected
    emulator.toss(1.0)
    clock.now = 1.5
    emulator.umbilical_readings(30.0, [30.0] * 16, at=1.5)  # no longer arriving
    held = client.read_umbilical()
    assert not held.connected and held.propellant == -15.0
    assert (held.zone_min, held.zone_max, held.zones_out) == (-11.0, -11.0, 0)


def test_the_coupling_carries_the_igloo_thermistors_to_the_mav_as_the_lander_reads_them():
    igloo, avionics = Igloo(), MavAvionics()
    coupling = Coupling(World(), {"igloo": igloo, "mav_avionics": avionics})
    coupling.sync(0.0)
    umbilical = avionics.status_umbilical(0.0)
    assert umbilical["connected"] and umbilical["zones_out"] == 0
    assert umbilical["propellant"] == igloo.propellant
    igloo.inject("heater_zone_failure", "heaters", index=4, mode="thermistor")
    coupling.sync(0.0)
    umbilical = avionics.status_umbilical(0.0)
    assert umbilical["zone_min"] == -150.0 and umbilical["zones_out"] == 1


def test_the_os_slot_switches_are_read_through_the_latch_until_it_opens(mav):
    client, emulator, _ = mav
    assert client.read_os_slots() == 0  # nothing has told the board of a tube yet
    emulator.os_slots = 1 | 1 << 7 | 1 << 31  # the simulator's coupling, with the OS in the MAV
    assert client.read_os_slots() == 1 | 1 << 7 | 1 << 31 and client.read_os_latched()
    emulator.os_slots = 1 | 1 << 31  # the tube of slot 7 lost in flight
    assert client.read_os_slots() == 1 | 1 << 31
    client.release_os()
    assert client.read_os_slots() == 0 and not client.read_os_latched()  # the connector parted


def test_the_coupling_shows_the_mav_the_os_it_holds_and_a_tube_lost_from_it():
    world, avionics = World(), MavAvionics()
    coupling = Coupling(world, {"mav_avionics": avionics})
    for slot, name in ((1, "Malay"), (4, "Skyland")):
        world.pick_up(world.serial_of(name), "depot")
        world.insert(slot)
    world.close_lid()
    world.latch_lid()
    coupling.sync(0.0)
    assert avionics.status_os_latch(0.0)["slots"] == 0  # still on the lander
    world.load_into_mav()
    coupling.sync(0.0)
    assert avionics.status_os_latch(0.0)["slots"] == 0b10010
    coupling.lose_tube(world.serial_of("Skyland"), 1.0)
    assert avionics.status_os_latch(1.0)["slots"] == 0b00010


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert all(0x140 <= device.apid <= 0x14F for device in icd.BOARD.devices)
    assert icd.OS_LATCH.command("release").hazardous
    assert not icd.TVC.command("gimbal").hazardous
    assert icd.UMBILICAL.apid == 0x146 and not icd.UMBILICAL.commands
    assert icd.ZONE_LOW == -40.0  # the propellant's limit (MSR_FACTS)
    assert [f.name for f in icd.OS_LATCH.status.fields] == ["latched", "slots"]
    every = {"latched": True, "slots": 2**32 - 1}  # all 32 slot switches closed
    assert icd.OS_LATCH.status.decode(icd.OS_LATCH.status.encode(**every)) == every
