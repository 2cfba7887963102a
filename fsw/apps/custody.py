"""The onboard sample inventory: every tube a node has custody of, by serial number, where it is,
and how it got there, persisted in the node's non-volatile store at every change.

A tube is in exactly one place at any time:

=======================  ==========================================================================
``rover_cache``          on the rover, in its cache (where the arm first saw it)
``depot``                on the ground at the Three Forks depot
``ground_near_lander``   on the ground in reach of the arm (set down, rejected, or dropped)
``gripper``              held by the Sample Transfer Arm (at most one tube)
``os_slot:N``            seated in slot N of the Orbiting Sample container (one tube per slot)
``in_mav``               in the OS, handed over into the MAV nose (the lander's custody ends)
=======================  ==========================================================================

Every move is checked against where the tube is now, and the moves that the arm can make are the
only ones allowed (a tube is grasped from a source or the ground, inserted from the gripper into a
free slot, taken out of its slot to be reseated, set down from the gripper). Each move appends
``(place, time, how)`` to the tube's custody chain. The new state is written to the store
**before** memory changes: if the write fails, nothing changes, and the caller hears why
(:class:`CustodyError` ``store_failed``). A node that restarts finds the inventory exactly as it
was after the last move that returned.

A stored inventory that breaks the rules (a damaged or hand-edited store) is not used: the
inventory starts empty and :attr:`Inventory.restore_error` says what was wrong, for the app to
report and the ground to resolve; a tube is never silently placed twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fsw.core.nvstore import NvError, NvStore
from fsw.dictionary.custody import SOURCES  # where the arm finds a tube (and sets one down)

__all__ = ["IN_MAV", "SOURCES", "CustodyError", "Inventory", "Tube", "slot_of"]

GRIPPER: Final = "gripper"
IN_MAV: Final = "in_mav"
SLOT_PREFIX: Final = "os_slot:"
SECTION: Final = "custody"
_SERIAL = re.compile(r"^[\x21-\x7e]{1,32}$")


class CustodyError(Exception):
    """A move the inventory refused, or a store write that failed; nothing changed.

    Attributes:
        reason: ``unknown_tube``, ``already_known``, ``wrong_place``, ``gripper_busy``,
            ``gripper_empty``, ``bad_slot``, ``slot_taken``, ``bad_serial``, ``bad_place``,
            ``bad_time``, ``handed_over`` or ``store_failed``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class Tube:
    """One tube: its serial number, where it is, and its custody chain (oldest first)."""

    serial: str
    place: str
    chain: tuple[tuple[str, float, str], ...]

    @property
    def slot(self) -> int | None:
        """Its OS slot, when it is in one."""
        return slot_of(self.place)


class Inventory:
    """The tubes of one node (see the module docstring).

    Args:
        nv: the node's non-volatile store (its ``custody`` section).
        capacity: OS slots, numbered ``0..capacity-1``.
    """

    def __init__(self, nv: NvStore, capacity: int) -> None:
        if not 1 <= capacity <= 255:
            raise ValueError(f"OS capacity {capacity} is outside 1..255")
        self.nv = nv
        self.capacity = capacity
        self.restore_error = ""
        self._tubes: dict[str, Tube] = {}
        stored = nv.get(SECTION)
        if stored:
            try:
                self._tubes = _parse(stored, capacity)
            except ValueError as exc:
                self.restore_error = str(exc)

    # ------------------------------------------------------------------ reading

    def tube(self, serial: str) -> Tube:
        """A tube by serial (CustodyError ``unknown_tube``)."""
        found = self._tubes.get(serial)
        if found is None:
            raise CustodyError("unknown_tube", f"no tube {serial!r} in the inventory")
        return found

    def tubes(self) -> list[Tube]:
        """Every tube, in the order first seen."""
        return list(self._tubes.values())

    @property
    def holding(self) -> str | None:
        """The serial of the tube in the gripper, if any."""
        return next((t.serial for t in self._tubes.values() if t.place == GRIPPER), None)

    def slots(self) -> dict[int, str]:
        """Occupied slot -> serial."""
        return {t.slot: t.serial for t in self._tubes.values() if t.slot is not None}

    def free_slots(self) -> list[int]:
        """Free slots, lowest first."""
        taken = self.slots()
        return [n for n in range(self.capacity) if n not in taken]

    def counts(self) -> dict[str, int]:
        """Tubes known, in slots, held, on the ground or at a source, handed over."""
        places = [t.place for t in self._tubes.values()]
        return {
            "known": len(places),
            "in_slots": sum(p.startswith(SLOT_PREFIX) for p in places),
            "held": places.count(GRIPPER),
            "at_sources": sum(p in SOURCES for p in places),
            "handed_over": places.count(IN_MAV),
        }

    def violations(self) -> list[str]:
        """What breaks the rules now (always empty unless the code is wrong)."""
        return _violations(self._tubes, self.capacity)

    # ------------------------------------------------------------------ moves

    def locate(self, serial: str, source: str, now: float) -> Tube:
        """A tube seen for the first time at ``source`` (one of :data:`SOURCES`)."""
        if not isinstance(serial, str) or not _SERIAL.match(serial):
            raise CustodyError("bad_serial", f"{serial!r} is not a tube serial number")
        if source not in SOURCES:
            raise CustodyError("bad_place", f"{source!r} is not a source ({', '.join(SOURCES)})")
        if serial in self._tubes:
            where = self._tubes[serial].place
            raise CustodyError("already_known", f"{serial} is already at {where}")
        return self._move(serial, source, now, "located", new=True)

    def grasp(self, serial: str, now: float) -> Tube:
        """The arm takes the tube from its source or the ground."""
        tube = self._where(serial, *SOURCES)
        if self.holding is not None:
            raise CustodyError("gripper_busy", f"the gripper already holds {self.holding}")
        return self._move(tube.serial, GRIPPER, now, "grasped")

    def insert(self, serial: str, slot: int, now: float) -> Tube:
        """The arm seats the tube it holds in a free OS slot."""
        self._where(serial, GRIPPER)
        if not isinstance(slot, int) or not 0 <= slot < self.capacity:
            raise CustodyError("bad_slot", f"slot {slot!r} is outside 0..{self.capacity - 1}")
        taken = self.slots().get(slot)
        if taken is not None:
            raise CustodyError("slot_taken", f"slot {slot} holds {taken}")
        return self._move(serial, f"{SLOT_PREFIX}{slot}", now, "inserted")

    def unseat(self, serial: str, now: float) -> Tube:
        """The arm takes a tube back out of its slot (to reseat or reject it)."""
        tube = self._where(serial)
        if tube.slot is None:
            raise CustodyError("wrong_place", f"{serial} is at {tube.place}, not in a slot")
        if self.holding is not None:
            raise CustodyError("gripper_busy", f"the gripper already holds {self.holding}")
        return self._move(serial, GRIPPER, now, "unseated")

    def set_down(self, serial: str, now: float, how: str = "set_down") -> Tube:
        """The tube held leaves the gripper for the ground near the lander (``how``:
        ``set_down``, ``rejected``, ``slipped``)."""
        self._where(serial, GRIPPER)
        return self._move(serial, "ground_near_lander", now, how)

    def hand_over(self, now: float) -> list[Tube]:
        """The OS goes into the MAV nose: every tube in a slot is handed over, in one write.

        Raises:
            CustodyError: ``gripper_busy`` while the arm holds a tube (it would be left out).
        """
        if self.holding is not None:
            raise CustodyError("gripper_busy", f"the gripper still holds {self.holding}")
        _check_time(now)
        moved = {
            t.serial: Tube(t.serial, IN_MAV, (*t.chain, (IN_MAV, now, "handed_over")))
            for t in self._tubes.values()
            if t.slot is not None
        }
        self._commit({**self._tubes, **moved})
        return list(moved.values())

    # ------------------------------------------------------------------ internals

    def _where(self, serial: str, *allowed: str) -> Tube:
        tube = self.tube(serial)
        if tube.place == IN_MAV:
            raise CustodyError("handed_over", f"{serial} was handed over to the MAV")
        if allowed and tube.place not in allowed:
            raise CustodyError(
                "wrong_place", f"{serial} is at {tube.place}, not at {' or '.join(allowed)}"
            )
        return tube

    def _move(self, serial: str, place: str, now: float, how: str, new: bool = False) -> Tube:
        _check_time(now)
        chain = () if new else self._tubes[serial].chain
        tube = Tube(serial, place, (*chain, (place, now, how)))
        self._commit({**self._tubes, serial: tube})
        return tube

    def _commit(self, tubes: dict[str, Tube]) -> None:
        problems = _violations(tubes, self.capacity)
        if problems:  # a bug in a move's checks: refuse rather than store it
            raise CustodyError("wrong_place", problems[0])
        try:
            self.nv.put(SECTION, _dump(tubes))
        except NvError as exc:
            raise CustodyError("store_failed", str(exc).splitlines()[0]) from None
        self._tubes = tubes


def slot_of(place: str) -> int | None:
    """The slot of an ``os_slot:N`` place, else None."""
    if not place.startswith(SLOT_PREFIX):
        return None
    digits = place[len(SLOT_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def _check_time(now: float) -> None:
    if not isinstance(now, (int, float)) or not math.isfinite(now):
        raise CustodyError("bad_time", f"time {now!r} is not a finite number of seconds")


def _valid_place(place: str, capacity: int) -> bool:
    slot = slot_of(place)
    if slot is not None:
        return slot < capacity
    return place in (*SOURCES, GRIPPER, IN_MAV)


def _violations(tubes: Mapping[str, Tube], capacity: int) -> list[str]:
    out = []
    holders = [t.serial for t in tubes.values() if t.place == GRIPPER]
    if len(holders) > 1:
        out.append(f"the gripper holds {len(holders)} tubes: {', '.join(holders)}")
    seen: dict[int, str] = {}
    for tube in tubes.values():
        if not _valid_place(tube.place, capacity):
            out.append(f"{tube.serial} is at {tube.place!r}, not a place")
        slot = tube.slot
        if slot is not None:
            if slot in seen:
                out.append(f"slot {slot} holds both {seen[slot]} and {tube.serial}")
            seen[slot] = tube.serial
        if not tube.chain or tube.chain[-1][0] != tube.place:
            out.append(f"{tube.serial}: its custody chain does not end where it is")
    return out


def _dump(tubes: Mapping[str, Tube]) -> list[dict[str, Any]]:
    # A list, not a mapping: the store writes canonical (sorted) JSON, and the inventory keeps
    # the order the tubes were first seen.
    return [
        {"serial": t.serial, "place": t.place, "chain": [list(step) for step in t.chain]}
        for t in tubes.values()
    ]


def _parse(stored: Any, capacity: int) -> dict[str, Tube]:
    if not isinstance(stored, list):
        raise ValueError("the stored inventory is not a list of tubes")
    tubes: dict[str, Tube] = {}
    for index, entry in enumerate(stored):
        try:
            serial, place = entry["serial"], entry["place"]
            chain = tuple((str(p), float(when), str(how)) for p, when, how in entry["chain"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"stored tube {index} is malformed: {exc!r}") from None
        if not isinstance(serial, str) or not _SERIAL.match(serial) or not isinstance(place, str):
            raise ValueError(f"stored tube {index} is malformed")
        if serial in tubes:
            raise ValueError(f"the stored inventory lists {serial} twice")
        tubes[serial] = Tube(serial, place, chain)
    problems = _violations(tubes, capacity)
    if problems:
        raise ValueError(f"the stored inventory breaks the rules: {problems[0]}")
    return tubes
