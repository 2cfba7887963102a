"""The Orbiting Sample container board: its emulator against its HAL driver over a pty, with the
loading procedure (open, insert, close, latch) and every fault the bench can inject on it."""

from __future__ import annotations

import pytest

from hal.devices.base import DeviceFailed, DeviceTimeout
from hal.devices.os_container import OsContainerClient
from hal.errors import EncodeError
from hal.protocol.devices import os_container as icd
from sim_hardware.devices.os_container import LATCH_TIME, OsContainer


@pytest.fixture
def os_board(connect, sim_time):
    emulator = OsContainer(environment=-20.0)
    return connect(emulator, OsContainerClient), emulator, sim_time


def test_the_container_answers_and_reports_its_capacity_and_a_closed_lid(os_board):
    client, _, _ = os_board
    for device in ("slots", "lid", "thermal"):
        assert client.ping(device) >= 0
    slots = client.read_slots()
    assert slots.capacity == 30 and slots.seated == (False,) * 30 and slots.count == 0
    lid = client.read_lid()
    assert lid.closed and not lid.open and lid.position == 0.0 and not lid.latched
    thermal = client.read_thermal()
    assert thermal.temperature == pytest.approx(-20.0) and not thermal.over_limit


def test_loading_procedure_open_insert_close_latch(os_board):
    client, emulator, clock = os_board
    client.open_lid()
    clock.now = 10.0
    half = client.read_lid()
    assert half.position == pytest.approx(50.0) and half.moving and not half.open
    with pytest.raises(ValueError, match="lid is not open"):
        emulator.insert_tube(0, 266)  # the arm cannot get in yet
    clock.now = 20.0
    assert client.read_lid().open
    emulator.insert_tube(0, 266)
    emulator.insert_tube(7, 301)
    slots = client.read_slots()
    assert slots.seated_slots() == [0, 7] and slots.count == 2
    assert emulator.remove_tube(7) == 301 and client.read_slots().seated_slots() == [0]
    with pytest.raises(ValueError, match="already holds tube 266"):
        emulator.insert_tube(0, 302)
    client.close_lid()
    clock.now = 40.0
    assert client.read_lid().closed
    client.latch_lid()
    lid = client.read_lid()
    assert lid.latch_driven and not lid.latched  # the pins are still travelling
    clock.now = 40.0 + LATCH_TIME
    assert client.read_lid().latched
    with pytest.raises(DeviceFailed) as failed:
        client.open_lid()
    assert failed.value.reason == "latched"
    assert emulator.tubes[0] == 266


def test_latching_an_open_lid_is_refused_with_the_reason(os_board):
    client, _, clock = os_board
    client.move_lid(30.0)
    clock.now = 6.0
    assert client.read_lid().position == pytest.approx(30.0)
    with pytest.raises(DeviceFailed) as failed:
        client.latch_lid()
    assert failed.value.reason == "lid_not_closed" and failed.value.detail == 30
    with pytest.raises(EncodeError, match=r"position = 150 is outside 0\.\.100"):
        client.move_lid(150)  # refused before anything is sent
    assert client.health.requests == 3


def test_a_smaller_container_reports_only_its_slots(serve):
    emulator = OsContainer(capacity=12, lid_open=True)
    client = OsContainerClient(serve(emulator).path, timeout=0.3)
    try:
        emulator.insert_tube(11, 266)
        with pytest.raises(ValueError, match=r"outside 0\.\.11"):
            emulator.insert_tube(12, 301)
        slots = client.read_slots()
        assert slots.capacity == 12 and slots.seated_slots() == [11]
        assert len(slots.free_slots()) == 11
    finally:
        client.close()
    with pytest.raises(ValueError, match="capacity 31"):
        OsContainer(capacity=31)


def test_a_tube_not_seated_leaves_its_switch_open(os_board):
    client, emulator, clock = os_board
    client.open_lid()
    clock.now = 20.0
    fault = emulator.inject("not_seated", "slots", index=3)
    emulator.insert_tube(2, 266, at=clock.now)
    emulator.insert_tube(3, 301, at=clock.now)
    assert client.read_slots().seated_slots() == [2]  # tube 301 is in, but not home
    emulator.clear(fault)  # the arm pushes it home
    assert client.read_slots().seated_slots() == [2, 3]
    emulator.inject("not_seated")  # board-wide: every slot
    assert client.read_slots().count == 0


def test_a_jammed_latch_never_closes_its_switch(os_board):
    client, emulator, clock = os_board
    emulator.inject("lid_not_latched", "lid")
    client.latch_lid()
    clock.now = 10 * LATCH_TIME
    lid = client.read_lid()
    assert lid.closed and lid.latch_driven and not lid.latched
    emulator.clear(kind="lid_not_latched")
    clock.now = 11 * LATCH_TIME
    assert client.read_lid().latched


def test_the_container_follows_its_environment_and_flags_over_temperature(os_board):
    client, emulator, clock = os_board
    emulator.environment = 45.0  # a hot deck
    clock.now = 4 * 3600.0
    hot = client.read_thermal()
    assert hot.over_limit and 30.0 < hot.temperature < 45.0
    emulator.inject("bias", "thermal", field="temperature", offset=-100.0)
    assert client.read_thermal().temperature < 0.0


def test_a_silent_lid_is_a_timeout_and_the_other_devices_still_answer(os_board):
    client, emulator, _ = os_board
    emulator.inject("no_reply", "lid")
    with pytest.raises(DeviceTimeout):
        client.read_lid()
    assert client.read_slots().count == 0


def test_the_icd_addresses():
    """Units, ranges and meanings of every field: tests/devices/test_icds.py."""
    assert set(icd.BOARD.apids) == {0x120, 0x121, 0x122}
    assert icd.LID.command("latch").hazardous
