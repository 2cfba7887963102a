"""The MAV pyrotechnic board: its emulator against its HAL driver over a pty, the arming sequence,
every refusal of a hazardous command, and every fault the bench can inject on it."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed, DeviceTimeout
from hal.devices.mav_pyro import ArmPlugStatus, MavPyroClient
from hal.errors import EncodeError
from hal.protocol.devices import mav_pyro as icd
from sim_hardware.devices.mav_pyro import MavPyro


@pytest.fixture
def pyro(connect, sim_time):
    emulator = MavPyro()
    return connect(emulator, MavPyroClient), emulator, sim_time


def arm(client, emulator):
    """The launch-pad sequence: plug in by hand, then the three inhibits out."""
    emulator.insert_arm_plug()
    for number in (1, 2, 3):
        client.remove_inhibit(number)


def test_the_board_starts_safe_with_every_channel_intact(pyro):
    client, _, _ = pyro
    for device in icd.BOARD.devices:
        assert client.ping(device.name) >= 0
    status = client.read_all()
    assert status.safe and status.inhibits_removed == (False, False, False)
    assert not status.arm_plug.inserted and not status.arm_plug.armed
    for channel in (status.toss, status.srm1, status.srm2):
        assert channel.continuity and not channel.fired
        assert channel.resistance == pytest.approx(icd.BRIDGEWIRE_OHMS)
    assert client.health.ok


def test_arming_takes_the_plug_and_all_three_inhibits_and_restoring_one_safes_the_bus(pyro):
    client, emulator, _ = pyro
    client.remove_inhibit(1)
    client.remove_inhibit(2)
    assert client.read_all().inhibits_removed == (True, True, False)
    assert not client.read_arm_plug().armed
    client.remove_inhibit(3)
    assert client.read_arm_plug() == ArmPlugStatus(inserted=False, armed=False)
    emulator.insert_arm_plug()
    assert client.read_arm_plug().armed
    client.restore_inhibit(2)
    assert not client.read_inhibit(2) and not client.read_arm_plug().armed
    client.remove_inhibit(2)
    emulator.remove_arm_plug()
    plug = client.read_arm_plug()
    assert not plug.inserted and not plug.armed


def test_a_fire_with_an_inhibit_in_place_is_refused_naming_the_inhibits(pyro):
    client, emulator, _ = pyro
    emulator.insert_arm_plug()
    with pytest.raises(DeviceFailed) as failed:
        client.fire("srm1")
    assert failed.value.reason == "inhibited" and failed.value.detail == 0b111
    client.remove_inhibit(1)
    client.remove_inhibit(3)
    with pytest.raises(DeviceFailed) as failed:
        client.fire("toss")
    assert failed.value.reason == "inhibited" and failed.value.detail == 0b010
    assert not client.read_channel("toss").fired and emulator.fired_at == {}


def test_a_fire_without_the_arm_plug_is_refused_not_armed(pyro):
    client, emulator, _ = pyro
    for number in (1, 2, 3):
        client.remove_inhibit(number)
    with pytest.raises(DeviceFailed, match="not_armed"):
        client.fire("toss")
    assert emulator.fired_at == {}


def test_the_launch_sequence_fires_each_channel_once_and_reports_when(pyro):
    client, emulator, clock = pyro
    arm(client, emulator)
    clock.now = 100.0
    client.fire("toss")
    clock.now = 100.5
    client.fire("srm1", pulse_ms=30)
    tossed = client.read_channel("toss")
    assert tossed.fired and not tossed.continuity and tossed.resistance == icd.OPEN_OHMS
    assert client.read_channel("srm1").fired
    with pytest.raises(DeviceFailed) as failed:
        client.fire("srm1")
    assert failed.value.reason == "already_fired"
    clock.now = 400.0
    client.fire("srm2")
    assert emulator.fired_at == {"toss": 100.0, "srm1": 100.5, "srm2": 400.0}
    assert all(s.fired for s in (client.read_all().toss, client.read_all().srm2))


def test_an_argument_out_of_range_or_a_bad_channel_is_refused_before_sending(pyro):
    client, _, _ = pyro
    with pytest.raises(EncodeError, match=r"pulse = 500 is outside 10\.\.100"):
        client.fire("srm1", pulse_ms=500)
    with pytest.raises(ValueError, match="not a pyro channel"):
        client.fire("inhibit_1")
    with pytest.raises(ValueError, match="inhibits 1, 2 and 3"):
        client.remove_inhibit(4)
    assert client.health.requests == 0


def test_the_fire_and_inhibit_removal_commands_are_declared_hazardous():
    for channel in icd.CHANNELS:
        assert icd.BOARD.device(channel).command("fire").hazardous
    for inhibit in icd.INHIBITS:
        device = icd.BOARD.device(inhibit)
        assert device.command("remove").hazardous and not device.command("restore").hazardous


def test_an_igniter_that_does_not_fire_is_seen_through_continuity_and_fired(pyro):
    client, emulator, clock = pyro
    arm(client, emulator)
    emulator.inject("igniter_no_fire", "srm2", until=20.0)
    client.fire("srm1")  # the other igniter is not affected
    clock.now = 10.0
    client.fire("srm2")  # the pulse goes out: the command completes
    dud = client.read_channel("srm2")
    assert not dud.fired and dud.continuity
    assert emulator.fired_at == {"srm1": 0.0} and emulator.misfired == [("srm2", 10.0)]
    clock.now = 25.0  # the fault has ended: a retry fires
    client.fire("srm2")
    assert client.read_channel("srm2").fired and emulator.fired_at["srm2"] == 25.0


def test_an_igniter_no_fire_on_the_device_and_its_validation(pyro):
    client, emulator, _ = pyro
    arm(client, emulator)
    emulator.inject("igniter_no_fire", "srm1")
    client.fire("srm1")
    assert not client.read_channel("srm1").fired and "srm1" not in emulator.fired_at
    with pytest.raises(ValueError, match="applies to srm1, srm2"):
        emulator.inject("igniter_no_fire", "toss")


def test_an_open_bridgewire_shows_no_continuity_and_is_refused(pyro):
    client, emulator, _ = pyro
    arm(client, emulator)
    fault = emulator.inject("open_circuit", "toss")
    open_ = client.read_channel("toss")
    assert not open_.continuity and open_.resistance == icd.OPEN_OHMS and not open_.fired
    with pytest.raises(DeviceFailed, match="no_continuity"):
        client.fire("toss")
    emulator.clear(fault)
    client.fire("toss")
    assert emulator.fired_at == {"toss": 0.0}


def test_generic_faults_silence_and_bias_on_one_device(pyro):
    client, emulator, _ = pyro
    emulator.inject("no_reply", "inhibit_2")
    with pytest.raises(DeviceTimeout):
        client.read_inhibit(2)
    assert client.read_inhibit(1) is False  # the other inhibits answer
    emulator.clear(kind="no_reply")
    emulator.inject("bias", "srm1", field="resistance", offset=0.5)
    assert client.read_channel("srm1").resistance == pytest.approx(icd.BRIDGEWIRE_OHMS + 0.5)


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert all(0x150 <= device.apid <= 0x15F for device in icd.BOARD.devices)
    assert len(icd.BOARD.apids) == 7
