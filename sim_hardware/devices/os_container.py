"""Emulator of the Orbiting Sample container board (ICD: :mod:`hal.protocol.devices.os_container`).

Physics at bench level:

* the arm puts tubes in and takes them out physically, not by a telecommand: the world (or a
  test) calls :meth:`OsContainer.insert_tube` and :meth:`OsContainer.remove_tube`, which need the
  lid fully open; a tube in a slot closes the slot's seat switch;
* the lid travels between closed (0 %) and open (100 %) at a constant speed, ``lid_travel``
  seconds end to end; the limit switches close at the ends;
* ``latch`` (lid closed only) drives the pins; the latch switch closes :data:`LATCH_TIME` seconds
  later. Once driven, the latch forbids opening;
* the container's temperature follows its environment (:attr:`OsContainer.environment`, set by
  the world: the lander deck, then the MAV igloo) with a first-order lag :data:`THERMAL_TAU`.

Board faults:

==================  ===========================================================================
``not_seated``      the tube in slot ``index`` (every slot if no ``index``) is not pushed home:
                    its seat switch stays open while the fault lasts
``lid_not_latched`` the latch pins jam: the latch switch never closes while the fault lasts
==================  ===========================================================================
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from hal.protocol.devices import os_container as icd
from hal.protocol.devices.icd import Field
from sim_hardware.devices.base import BoardEmulator, FaultParam, Refused

LID_TRAVEL: Final = 20.0  # s, closed to open
LATCH_TIME: Final = 2.0  # s, from the latch command to the pins home
THERMAL_TAU: Final = 3600.0  # s
DEFAULT_CAPACITY: Final = icd.MAX_SLOTS


FAULT_PARAMS: Final = {
    "not_seated": {
        "index": FaultParam("integer", "the slot whose tube is not pushed home "
                            "(default: every slot)", low=0, high=icd.MAX_SLOTS - 1),
    },
}  # fmt: skip
"""The parameters of the board's own faults (see the module docstring)."""


class OsContainer(BoardEmulator):
    """The OS: its slots, lid, latch and thermistor.

    Args:
        rng: seeded generator.
        capacity: slots fitted, 1 to :data:`~hal.protocol.devices.os_container.MAX_SLOTS`.
        environment: temperature around the container, degC.
        lid_travel: seconds for the lid to go from closed to open.
        lid_open: the lid starts fully open (as delivered for sample loading) rather than closed.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"not_seated", "lid_not_latched"})
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(
        self,
        rng: random.Random | None = None,
        *,
        capacity: int = DEFAULT_CAPACITY,
        environment: float = -20.0,
        lid_travel: float = LID_TRAVEL,
        lid_open: bool = False,
    ) -> None:
        if not 1 <= capacity <= icd.MAX_SLOTS:
            raise ValueError(f"capacity {capacity} is outside 1..{icd.MAX_SLOTS}")
        if lid_travel <= 0:
            raise ValueError("lid_travel must be positive")
        super().__init__(rng)
        self.capacity = capacity
        self.environment = environment
        self.temperature = environment
        self.lid_travel = lid_travel
        self.position = 100.0 if lid_open else 0.0
        self.lid_target = self.position
        self.latch_driven_at: float | None = None
        self.latched = False
        self._tubes: list[int | None] = [None] * capacity

    def params_of(self, kind: str, field: Field | None = None) -> Mapping[str, FaultParam]:
        """As the base, with ``not_seated``'s ``index`` narrowed to the slots fitted."""
        declared = super().params_of(kind, field)
        if kind == "not_seated":
            index = dataclasses.replace(declared["index"], high=self.capacity - 1)
            return {**declared, "index": index}
        return declared

    # ------------------------------------------------------------------ the world's side

    @property
    def tubes(self) -> tuple[int | None, ...]:
        """The serial of the tube in each slot, or None (the truth, not the seat switches)."""
        return tuple(self._tubes)

    def insert_tube(self, slot: int, serial: int, *, at: float | None = None) -> None:
        """The arm pushes tube ``serial`` into ``slot`` (at simulated time ``at``: the physics
        are brought there first).

        Raises:
            ValueError: no such slot, the slot is taken, or the lid is not fully open.
        """
        self._slot(slot, at)
        if self._tubes[slot] is not None:
            raise ValueError(f"slot {slot} already holds tube {self._tubes[slot]}")
        self._tubes[slot] = serial

    def remove_tube(self, slot: int, *, at: float | None = None) -> int:
        """The arm pulls the tube out of ``slot`` (at ``at``); returns its serial.

        Raises:
            ValueError: no such slot, the slot is empty, or the lid is not fully open.
        """
        self._slot(slot, at)
        serial = self._tubes[slot]
        if serial is None:
            raise ValueError(f"slot {slot} is empty")
        self._tubes[slot] = None
        return serial

    def _slot(self, slot: int, at: float | None) -> None:
        if at is not None:
            self.advance(at)
        if not 0 <= slot < self.capacity:
            raise ValueError(f"slot {slot} is outside 0..{self.capacity - 1}")
        if self.position < 100.0:
            raise ValueError(f"the lid is not open ({self.position:.0f} %)")

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Move the lid, drive the latch, follow the environment's temperature, to ``to_time``."""
        dt = to_time - self.now
        super().advance(to_time)
        if dt <= 0:
            return
        step = min(abs(self.lid_target - self.position), 100.0 / self.lid_travel * dt)
        self.position += step if self.lid_target > self.position else -step
        if (
            self.latch_driven_at is not None
            and self.now - self.latch_driven_at >= LATCH_TIME
            and not self.fault("lid_not_latched", "lid")
        ):
            self.latched = True
        lag = 1 - math.exp(-dt / THERMAL_TAU)
        self.temperature += (self.environment - self.temperature) * lag

    # ------------------------------------------------------------------ commands

    def cmd_lid_open(self, values: dict[str, Any], now: float) -> None:
        """Drive the lid open, unless latched."""
        if self.latch_driven_at is not None:
            raise Refused(icd.FAIL_LATCHED)
        self.lid_target = 100.0

    def cmd_lid_close(self, values: dict[str, Any], now: float) -> None:
        """Drive the lid closed."""
        self.lid_target = 0.0

    def cmd_lid_stop(self, values: dict[str, Any], now: float) -> None:
        """Stop the lid where it is."""
        self.lid_target = self.position

    def cmd_lid_move(self, values: dict[str, Any], now: float) -> None:
        """Drive the lid to a position, unless latched."""
        if self.latch_driven_at is not None:
            raise Refused(icd.FAIL_LATCHED)
        self.lid_target = values["position"]

    def cmd_lid_latch(self, values: dict[str, Any], now: float) -> None:
        """Drive the latch pins, only with the lid on its closed stop."""
        if self.position > 0.0 or self.lid_target > 0.0:
            raise Refused(icd.FAIL_LID_NOT_CLOSED, round(self.position))
        if self.latch_driven_at is None:
            self.latch_driven_at = now

    # ------------------------------------------------------------------ status

    def status_slots(self, now: float) -> dict[str, Any]:
        """The seat switches."""
        fault = self.fault("not_seated", "slots")
        unseated = None if fault is None else fault.params.get("index")
        seated = [False] * icd.MAX_SLOTS
        for slot, serial in enumerate(self._tubes):
            pushed_home = fault is None or (unseated is not None and unseated != slot)
            seated[slot] = serial is not None and pushed_home
        return {"capacity": self.capacity, "seated": seated, "count": sum(seated)}

    def status_lid(self, now: float) -> dict[str, Any]:
        """The lid's position, limit switches and latch."""
        return {
            "position": self.position, "moving": abs(self.lid_target - self.position) > 1e-9,
            "open": self.position >= 100.0, "closed": self.position <= 0.0,
            "latch_driven": self.latch_driven_at is not None, "latched": self.latched,
        }  # fmt: skip

    def status_thermal(self, now: float) -> dict[str, Any]:
        """The container's temperature."""
        return {
            "temperature": self.temperature,
            "over_limit": self.temperature > icd.TEMPERATURE_LIMIT,
        }
