"""Every board of the mission has an ICD, a HAL driver and an emulator, and the ICDs agree with
each other and with the bench file's board list."""

from __future__ import annotations

import importlib

import pytest

from hal.bench import BOARD_NODES
from hal.devices.base import BoardClient
from sim_hardware.devices.base import BoardEmulator
from sim_hardware.simulator import EMULATORS

BOARDS = sorted(BOARD_NODES)


@pytest.mark.parametrize("board", BOARDS)
def test_each_board_has_its_icd_driver_and_emulator_under_one_name(board):
    icd = importlib.import_module(f"hal.protocol.devices.{board}").BOARD
    assert icd.name == board and icd.node == BOARD_NODES[board]
    drivers = importlib.import_module(f"hal.devices.{board}")
    emulators = importlib.import_module(f"sim_hardware.devices.{board}")
    assert any(
        isinstance(c, type) and issubclass(c, BoardClient) and getattr(c, "icd", None) is icd
        for c in vars(drivers).values()
    )
    emulator_classes = [
        c for c in vars(emulators).values()
        if isinstance(c, type) and issubclass(c, BoardEmulator) and getattr(c, "icd", None) is icd
    ]  # fmt: skip
    assert emulator_classes
    assert EMULATORS[board] in emulator_classes  # the simulator serves this board's emulator
    emulator = emulator_classes[0]()
    for device in icd.devices:
        assert callable(getattr(emulator, f"status_{device.name}"))
        for command in device.commands:
            assert callable(getattr(emulator, f"cmd_{device.name}_{command.name}"))


@pytest.mark.parametrize("board", BOARDS)
def test_every_field_has_a_unit_a_range_and_a_meaning(board):
    icd = importlib.import_module(f"hal.protocol.devices.{board}").BOARD
    for device in icd.devices:
        assert device.meaning, f"{board}.{device.name} has no meaning"
        for message in (*device.commands, device.status):
            for field in message.fields:
                where = f"{board}.{device.name}.{field.name}"
                assert field.unit and field.meaning and field.lo <= field.hi, where


def test_apids_are_unique_across_the_mission():
    seen: dict[int, str] = {}
    for board in BOARDS:
        for device in importlib.import_module(f"hal.protocol.devices.{board}").BOARD.devices:
            where = f"{board}.{device.name}"
            assert device.apid not in seen, (
                f"{where} reuses APID {device.apid:#x} of {seen.get(device.apid)}"
            )
            seen[device.apid] = where
    assert len(seen) >= len(BOARDS)


def test_the_bench_file_can_schedule_every_fault_an_emulator_knows():
    from hal.bench import DEVICE_FAULTS
    from sim_hardware.devices.base import GENERIC_FAULTS

    known = set(GENERIC_FAULTS)
    for board in BOARDS:
        module = importlib.import_module(f"sim_hardware.devices.{board}")
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, BoardEmulator):
                known |= cls.board_faults
    assert known <= DEVICE_FAULTS, sorted(known - DEVICE_FAULTS)
