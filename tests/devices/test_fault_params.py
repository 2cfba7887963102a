"""Fault parameters on every board emulator: each one an emulator reads is declared, each
declared one is taken at every value it allows (and the board keeps reporting), and a typo or a
value out of range is refused with a one-line error that names it, starting nothing.

Procedure: for every board the simulator can emulate, inject each of its own faults and each
generic fault (on every status field) with each declared parameter at its ends and middle, read
every device's status twice, and clear the fault again."""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import pytest

from sim_hardware.devices import base
from sim_hardware.devices.base import (
    GENERIC_FAULT_PARAMS,
    GENERIC_FAULTS,
    BoardEmulator,
    FaultParam,
)
from sim_hardware.devices.os_container import OsContainer
from sim_hardware.simulator import EMULATORS

BOARDS = sorted(EMULATORS)
READ_PARAM = re.compile(r"\.params\.get\(\s*\"(\w+)\"")
"""How an emulator reads a fault parameter (``fault.params.get("index", 0)``)."""
SPAN = 100.0
"""How far past its one finite end (or either side of 0) an open range is tried."""


def _values(param: FaultParam) -> list[object]:
    """The declared ends of a parameter, its middle, and (an open end) a figure beyond."""
    if param.kind == "word":
        return list(param.words)
    low = param.low if math.isfinite(param.low) else min(param.high, 0.0) - SPAN
    high = param.high if math.isfinite(param.high) else max(low, 0.0) + SPAN
    values = {low, (low + high) / 2, high}
    if param.kind == "integer":
        return sorted({math.floor(v) for v in values})
    return sorted(values)


def _exercise(emulator: BoardEmulator, kind: str, device: str | None, field: str | None,
              declared: dict[str, FaultParam]) -> None:  # fmt: skip
    """Inject the fault with each parameter at each of its values (and with all of them at
    once), read every device's status twice each time, and clear it."""
    cases = [{name: value} for name, param in declared.items() for value in _values(param)]
    cases.append({name: _values(param)[-1] for name, param in declared.items()})
    for params in cases:
        fault = emulator.inject(kind, device, field=field, **params)
        emulator.advance(emulator.now + 10.0)
        for icd_device in emulator.icd.devices:
            for _ in range(2):  # some faults act on every second report
                emulator.status_data(icd_device, emulator.now)
        assert emulator.clear(fault) == 1, (kind, params)


@pytest.mark.parametrize("name", BOARDS)
def test_every_parameter_an_emulator_reads_is_declared(name):
    board = EMULATORS[name]
    source = Path(inspect.getsourcefile(board) or "").read_text(encoding="utf-8")
    declared = {p for params in board.fault_params.values() for p in params}
    read = set(READ_PARAM.findall(source))
    assert read <= declared, f"{name} reads undeclared fault parameters {read - declared}"
    assert "params[" not in source  # every parameter is read with its default
    assert set(board.fault_params) <= board.board_faults
    for kind, params in board.fault_params.items():
        for param_name, param in params.items():
            assert "default" in param.meaning, (kind, param_name)


def test_every_parameter_the_base_reads_is_a_declared_generic_one():
    source = Path(inspect.getsourcefile(base) or "").read_text(encoding="utf-8")
    declared = {p for params in GENERIC_FAULT_PARAMS.values() for p in params}
    assert set(READ_PARAM.findall(source)) <= declared
    assert set(GENERIC_FAULT_PARAMS) == GENERIC_FAULTS


@pytest.mark.parametrize("name", BOARDS)
def test_each_board_fault_takes_every_declared_parameter_at_every_value(name):
    emulator = EMULATORS[name]()
    for kind in sorted(emulator.board_faults):
        device = emulator.fault_devices.get(kind, (None,))[0]
        _exercise(emulator, kind, device, None, dict(emulator.params_of(kind)))
    assert emulator.faults == []


@pytest.mark.parametrize("name", BOARDS)
def test_each_generic_fault_takes_every_declared_parameter_on_every_field(name):
    emulator = EMULATORS[name]()
    for device in emulator.icd.devices:
        _exercise(emulator, "late_reply", device.name, None, dict(emulator.params_of("late_reply")))
        for kind in ("reply_lost", "request_lost"):
            _exercise(emulator, kind, device.name, None, dict(emulator.params_of(kind)))
        for field in device.status.fields:
            for kind in ("stuck", "bias", "noise"):
                declared = dict(emulator.params_of(kind, field))
                _exercise(emulator, kind, device.name, field.name, declared)
    assert emulator.faults == []


def test_a_not_seated_slot_must_be_one_of_the_slots_fitted():
    container = OsContainer(capacity=10)
    container.inject("not_seated", "slots", index=9)
    with pytest.raises(ValueError) as refused:
        container.inject("not_seated", "slots", index=10)
    assert str(refused.value) == (
        "os_container: fault 'not_seated' parameter index 10 is not an integer in 0..9"
    )
    assert len(container.faults) == 1


@pytest.mark.parametrize(
    ("param", "value", "words"),
    [
        (FaultParam("number", "x (default 0)"), True, "True is not a finite number"),
        (FaultParam("number", "x (default 0)"), math.nan, "nan is not a finite number"),
        (FaultParam("number", "x (default 0)"), "1.5", "'1.5' is not a finite number"),
        (FaultParam("number", "x (default 0)", low=0.0, high=1.0), 1.5,
         "1.5 is not a number in 0..1"),
        (FaultParam("integer", "x (default 0)", high=3), 4, "4 is not an integer <= 3"),
        (FaultParam("integer", "x (default 0)"), 2.0, "2.0 is not an integer"),
        (FaultParam("word", "x (default a)", words=("a", "b")), "A", "'A' is not one of a, b"),
        (FaultParam("word", "x (default a)", words=("a", "b")), 1, "1 is not one of a, b"),
    ],
)  # fmt: skip
def test_a_bad_value_is_named_with_the_values_the_parameter_takes(param, value, words):
    assert param.problem(value) == words


def test_a_declaration_that_could_take_nothing_is_refused():
    for kind, words, low, high in [("float", (), 0, 1), ("word", (), 0, 1),
                                   ("number", ("a",), 0, 1), ("integer", (), 2, 1)]:  # fmt: skip
        with pytest.raises(ValueError, match="fault parameter"):
            FaultParam(kind, "x (default 0)", low=low, high=high, words=words)
