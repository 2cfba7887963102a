"""Stored and time-tagged command sequences: the PUS-11 time-based schedule and relative sequences.

Requirement (issue "stored sequences"): time-tagged (absolute, PUS 11) and relative command
sequences, start, stop, validate before run; commands whose time has passed are skipped and
reported. A command released by a schedule or a sequence goes through the same command dispatcher
as a ground command (the ``submit`` callback), so the hazardous-command gate applies to it. The
progress of sequences survives a reset (persisted through the ``persist`` callback). Each
activity and each sequence keeps whether its load carried the ground's hazardous confirmation
(decision 0024): ``validate`` judges every command with that provenance when it is loaded and
again when it is restored, and ``submit`` is handed it as a
:class:`~fsw.core.hazard.CommandSource`, for the dispatcher to judge once more.

This module is pure logic: the time is passed in (``now``, mission seconds), it does no I/O, and it
hands released packets to ``submit(packet, source, now)`` without looking at what they do.

:class:`TimeSchedule` (absolute times, ECSS-E-ST-70-41C service 11)
    Activities are validated when inserted, all or nothing; the schedule starts *disabled* and comes
    back disabled from :meth:`TimeSchedule.restore`. :meth:`TimeSchedule.cycle` releases every
    activity due by ``now`` in release-time order (ties in insertion order); an activity more
    than ``late_limit`` seconds late (the node was down, or the schedule disabled) is skipped and
    reported with ``schedule_skipped``, never released late. Each activity is released or skipped
    at most once: it leaves the schedule before it is handed to ``submit``.

:class:`SequenceEngine` (relative sequences)
    A sequence is a list of steps ``(delay after the previous step, packet)``, validated entirely
    when loaded. Steps are due at the start time plus the delays; a step more than ``late_limit``
    late is skipped and reported (``sequence_step_skipped``) and the steps after it keep their
    delays from its due time. :meth:`SequenceEngine.resume` continues from the step reached, that
    step being due its own delay after the resume. A sequence restored after a reset that was
    running comes back *stopped* at its step; the ground resumes it.

TC[11,4] "insert activities into the time-based schedule", application data (:func:`parse_insert`,
:func:`build_insert`)::

    +-----------+----------------------+--------------------------------------------------+
    | field     | size (octets)        | content                                          |
    +-----------+----------------------+--------------------------------------------------+
    | N         | 1                    | number of activities, 0..255                     |
    +-----------+----------------------+--------------------------------------------------+
    | then N times:                                                                       |
    +-----------+----------------------+--------------------------------------------------+
    | release   | 6                    | release time, CUC 4+2 (hal.protocol.cuc),        |
    |           |                      | mission seconds                                  |
    | request   | 7 + data length      | the whole PUS-C TC packet (primary header,       |
    |           | field of its primary | secondary header, application data, CRC); its    |
    |           | header               | size is read from its own primary header         |
    +-----------+----------------------+--------------------------------------------------+

Nothing may follow the N-th activity. Errors (:class:`ScheduleError`, ``reason``, ``index`` of the
activity): ``bad_length`` (truncated: N larger than the activities present, a release time or a
packet cut short; or trailing octets), ``bad_packet`` (the embedded packet's header or CRC is wrong,
or it is not a telecommand).

Every error is a :class:`SequencingError` carrying a snake_case ``reason`` and the ``index`` of the
activity or step at fault (``None`` when the error is not about one of them); nothing already
accepted is changed by a refused request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from fsw.core.hazard import CommandSource
from fsw.dictionary import loads
from fsw.dictionary.services import SCHEDULE_EVENTS, SEQ_EVENTS
from hal.errors import EncodeError, ProtocolError
from hal.protocol.pus import PusTc

__all__ = [
    "EVENTS",
    "SCHEDULE_SERVICE",
    "Activity",
    "ScheduleError",
    "SequenceEngine",
    "SequenceError",
    "SequencingError",
    "TimeSchedule",
    "build_insert",
    "describe",
    "parse_insert",
]

SCHEDULE_SERVICE: Final = 11
"""PUS service type of time-based scheduling; a TC of this service may not be scheduled."""
MAX_INSERT: Final = 255
"""Most activities one TC[11,4] carries (N is one octet)."""
MAX_NAME: Final = 32
_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_NAME}}}")

Submit = Callable[[PusTc, CommandSource, float], None]
Validate = Callable[[PusTc, CommandSource], str | None]
Emit = Callable[[str, str], None]
Persist = Callable[[dict[str, Any]], None]

EVENTS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType({**SCHEDULE_EVENTS, **SEQ_EVENTS})

_SEQUENCE_STATES: Final = ("loaded", "running", "stopped", "completed")


class SequencingError(Exception):
    """A refused schedule or sequence request, or bytes or state that do not decode.

    Attributes:
        reason: snake_case name of the problem (e.g. ``time_passed``, ``bad_length``).
        index: the activity or step at fault, or ``None`` when the error is not about one.
    """

    kind = "item"

    def __init__(self, reason: str, index: int | None = None, detail: str = "") -> None:
        """Make the one-line error ``"<reason> at <kind> <index>: <detail>"``.

        Args:
            reason: snake_case name of the problem.
            index: the activity or step at fault, or ``None``.
            detail: what was wrong, in a few words.
        """
        where = "" if index is None else f" at {self.kind} {index}"
        text = f"{reason}{where}: {detail}" if detail else f"{reason}{where}"
        super().__init__(text.replace("\n", " "))
        self.reason = reason
        self.index = index


class ScheduleError(SequencingError):
    """A refused time-based schedule request or TC[11,4] data that does not decode."""

    kind = "activity"


class SequenceError(SequencingError):
    """A refused relative-sequence request or a sequence state that does not decode."""

    kind = "step"


@dataclass(frozen=True)
class Activity:
    """One activity of the time-based schedule.

    Attributes:
        release: release time, mission seconds.
        packet: the telecommand handed to the dispatcher at that time.
        id: the schedule's identifier of the activity (unique while the schedule exists).
        confirmed: it was inserted with the ground's hazardous confirmation (decision 0024).
    """

    release: float
    packet: PusTc
    id: int
    confirmed: bool = False

    @property
    def source(self) -> CommandSource:
        """Its provenance, as the dispatcher judges it when it is released."""
        return CommandSource.schedule(self.confirmed, str(self.id))


def _noop_emit(name: str, detail: str) -> None:
    """Default ``emit``: events go nowhere."""


def describe(packet: PusTc) -> str:
    """A packet named for an event: ``TC[service,subtype] apid=0xNNN``."""
    return f"TC[{packet.service},{packet.subtype}] apid=0x{packet.apid:03X}"


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _copy(packet: object, error: type[SequencingError], index: int) -> PusTc:
    """A private copy of ``packet`` (re-decoded from its bytes), so later changes to the caller's
    object cannot alter what was validated."""
    if not isinstance(packet, PusTc):
        raise error("bad_packet", index, f"{type(packet).__name__} is not a PUS telecommand")
    try:
        return PusTc.from_raw(packet.pack())
    except (EncodeError, ProtocolError) as exc:
        raise error("bad_packet", index, f"the packet does not encode ({exc})") from exc


def _decode_hex(text: object, error: type[SequencingError], index: int) -> PusTc:
    """The packet of a saved state entry, as hex text."""
    if not isinstance(text, str):
        raise error("bad_state", index, "the packet is not hex text")
    try:
        return PusTc.from_raw(bytes.fromhex(text))
    except (ValueError, ProtocolError) as exc:
        raise error("bad_state", index, f"the saved packet does not decode ({exc})") from exc


# ----------------------------------------------------------------------------------------------
# TC[11,4] application data


def parse_insert(app_data: bytes | bytearray | memoryview) -> list[tuple[float, PusTc]]:
    """Decode TC[11,4] application data into ``(release, packet)`` pairs (layout in the module
    docstring, declared in :mod:`fsw.dictionary.loads`, which the ground reads too).

    Each embedded packet is decoded from exactly the octets its primary header's length says, its
    CRC checked. Nothing here checks whether an activity may be scheduled; that is
    :meth:`TimeSchedule.insert`'s job.

    Raises:
        ScheduleError: ``bad_length`` (no count octet, truncated activity, trailing octets) or
            ``bad_packet`` (an embedded packet whose header or CRC is wrong, or a telemetry
            packet), naming the activity index.
    """
    try:
        return loads.parse_insert(app_data)
    except loads.LoadError as exc:
        raise ScheduleError(exc.reason, exc.index, exc.detail) from exc


def build_insert(activities: Sequence[tuple[float, PusTc]]) -> bytes:
    """Encode ``(release, packet)`` pairs as TC[11,4] application data (the inverse of
    :func:`parse_insert`; release times are rounded down to the CUC resolution, 2^-16 s).

    Raises:
        ScheduleError: ``too_many`` (more than 255 activities), ``bad_time`` (a release time
            outside the CUC range) or ``bad_packet`` (a packet that does not encode).
    """
    for index, (release, _) in enumerate(activities):
        if not _is_time(release):
            raise ScheduleError("bad_time", index, f"release time {release!r} is not a number")
    try:
        return loads.build_insert(activities)
    except loads.LoadError as exc:
        raise ScheduleError(exc.reason, exc.index, exc.detail) from exc


# ----------------------------------------------------------------------------------------------
# The time-based schedule


class TimeSchedule:
    """The PUS-11 time-based schedule: activities released at absolute mission times.

    The schedule starts disabled. :meth:`cycle` is called by the executive every cycle;
    :meth:`next_due` says when the next cycle is needed. The TC[11,4] wire helpers are also
    reachable here, as ``TimeSchedule.parse_insert`` and ``TimeSchedule.build_insert``.

    Args:
        submit: called ``(packet, source, now)`` for each released activity, ``source`` its
            :attr:`Activity.source` (the command dispatcher, which verifies and gates it like a
            ground command, and checks its provenance again).
        validate: ``(packet, source)`` returns why a packet cannot be scheduled (unknown
            command, bad argument, a command that needs the ground's confirmation in an
            insert without it), or ``None``; called on every packet when it is inserted, before
            anything is stored, and again on every activity restored from the NV store.
        capacity: most activities held at once.
        margin: an inserted activity must be released at least this many seconds after ``now``.
        late_limit: an activity more than this many seconds late when it could first be released
            is skipped and reported instead.
        emit: event sink ``(name, detail)``; the names are in :data:`EVENTS`.
        persist: optional; called with :meth:`state` after every change, for the NV store.

    Raises:
        ValueError: a capacity below 1, or a negative or non-finite margin or late limit.
    """

    source: Final = "schedule"
    parse_insert = staticmethod(parse_insert)
    build_insert = staticmethod(build_insert)

    def __init__(
        self,
        submit: Submit,
        validate: Validate,
        *,
        capacity: int = 256,
        margin: float = 0.0,
        late_limit: float = 1.0,
        emit: Emit | None = None,
        persist: Persist | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"schedule capacity {capacity} must be at least 1")
        for name, value in (("margin", margin), ("late_limit", late_limit)):
            if not _is_time(value) or value < 0:
                raise ValueError(f"schedule {name} {value!r} must be a finite number >= 0")
        self._submit = submit
        self._validate = validate
        self.capacity = capacity
        self.margin = float(margin)
        self.late_limit = float(late_limit)
        self._emit = emit or _noop_emit
        self._persist = persist
        self._enabled = False
        self._next_id = 1
        self._items: list[Activity] = []  # sorted by (release, id)

    # -- state -----------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether due activities are released."""
        return self._enabled

    def activities(self) -> list[Activity]:
        """The activities held, sorted by release time then id."""
        return list(self._items)

    def next_due(self) -> float | None:
        """The earliest release time held, or ``None`` when nothing is held or the schedule is
        disabled (a disabled schedule needs no cycle)."""
        if not self._enabled or not self._items:
            return None
        return self._items[0].release

    # -- commands --------------------------------------------------------------------------

    def enable(self, now: float) -> None:
        """Enable the schedule (TC[11,1]); activities already late by more than the limit are
        skipped and reported at once, the others release from the next :meth:`cycle`."""
        self._enabled = True
        self._emit("schedule_enabled", f"{len(self._items)} activities held at {now:.3f}")
        self._skip_late(now)
        self._changed()

    def disable(self, now: float) -> None:
        """Disable the schedule (TC[11,2]); activities are held, not released, until enabled."""
        self._enabled = False
        self._emit("schedule_disabled", f"{len(self._items)} activities held at {now:.3f}")
        self._changed()

    def insert(
        self, activities: Sequence[tuple[float, PusTc]], now: float, *, confirmed: bool = False
    ) -> list[int]:
        """Insert activities (TC[11,4]), all or nothing.

        Args:
            activities: ``(release time in mission seconds, telecommand)`` pairs.
            now: the current mission time.
            confirmed: the insert carried the ground's hazardous confirmation; kept with each
                activity (and in the NV store), it is what lets a hazardous one run.

        Returns:
            The ids given to the activities, in the order given.

        Raises:
            ScheduleError: naming the first activity refused and why: ``bad_time`` (release time
                not a finite number), ``bad_packet`` (not a telecommand that encodes),
                ``nested_schedule_command`` (a TC[11,x] itself), the reason ``validate`` gave,
                ``time_passed`` (release earlier than ``now + margin``) or ``schedule_full``.
                Nothing is stored.
        """
        room = self.capacity - len(self._items)
        checked: list[tuple[float, PusTc]] = []
        for index, (release, packet) in enumerate(activities):
            if not _is_time(release):
                raise ScheduleError("bad_time", index, f"release time {release!r} is not a number")
            copy = _copy(packet, ScheduleError, index)
            if copy.service == SCHEDULE_SERVICE:
                raise ScheduleError(
                    "nested_schedule_command", index, f"{describe(copy)} cannot be scheduled"
                )
            reason = self._validate(copy, CommandSource.schedule(confirmed))
            if reason is not None:
                raise ScheduleError(reason, index, f"{describe(copy)} refused by validation")
            if release < now + self.margin:
                raise ScheduleError(
                    "time_passed",
                    index,
                    f"release {release:.3f} is before {now + self.margin:.3f} "
                    f"(now {now:.3f} + margin {self.margin:.3f})",
                )
            if index >= room:
                raise ScheduleError(
                    "schedule_full", index, f"the schedule holds at most {self.capacity}"
                )
            checked.append((float(release), copy))
        ids: list[int] = []
        for release, packet in checked:
            ids.append(self._next_id)
            self._items.append(Activity(release, packet, self._next_id, bool(confirmed)))
            self._next_id += 1
        self._sort()
        if ids:
            first = min(release for release, _ in checked)
            self._emit(
                "schedule_inserted",
                f"{len(ids)} activities, ids {ids[0]}..{ids[-1]}, first release {first:.3f}",
            )
            self._changed()
        return ids

    def delete(self, ids: Sequence[int]) -> None:
        """Delete activities by id (TC[11,5]), all or nothing.

        Raises:
            ScheduleError: ``unknown_id``, naming the position in ``ids`` of an id not held;
                nothing is deleted.
        """
        held = {item.id for item in self._items}
        for index, ident in enumerate(ids):
            if ident not in held:
                raise ScheduleError("unknown_id", index, f"no activity with id {ident!r}")
        if not ids:
            return
        gone = set(ids)
        self._items = [item for item in self._items if item.id not in gone]
        self._emit("schedule_deleted", f"ids {', '.join(str(i) for i in sorted(gone))}")
        self._changed()

    def reset(self) -> None:
        """Delete every activity (TC[11,3]); the enabled state is kept."""
        count = len(self._items)
        self._items = []
        self._emit("schedule_reset", f"{count} activities deleted")
        self._changed()

    def cycle(self, now: float) -> None:
        """Release every activity due by ``now`` (when enabled), in release order.

        An activity late by more than ``late_limit`` is skipped and reported
        (``schedule_skipped``). Each activity leaves the schedule before it is handed to
        ``submit``, so it is released at most once even if ``submit`` raises (the exception is
        passed on; the activities still due release on the next cycle).
        """
        unsaved = False
        while self._enabled and self._items and self._items[0].release <= now:
            item = self._items.pop(0)
            if now - item.release > self.late_limit:
                self._report_skip(item, now)
                unsaved = True
                continue
            self._changed()
            unsaved = False
            self._emit(
                "schedule_released",
                f"id {item.id} {describe(item.packet)} due {item.release:.3f} "
                f"released at {now:.3f}",
            )
            self._submit(item.packet, item.source, now)
        if unsaved:
            self._changed()

    # -- NV store --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The schedule as JSON-compatible data: ``enabled``, ``next_id`` and ``activities`` as
        ``[release, id, packet hex, confirmed]`` in release order."""
        return {
            "enabled": self._enabled,
            "next_id": self._next_id,
            "activities": [
                [a.release, a.id, a.packet.pack().hex(), a.confirmed] for a in self._items
            ],
        }

    def restore(self, state: Mapping[str, Any], now: float) -> None:
        """Replace the schedule by a saved :meth:`state`, *disabled* (safe after a reset).

        Activities whose time has passed are skipped and reported when the schedule is next
        enabled. Every activity is validated again with its stored provenance: one refused
        (a hazardous command without the confirmation, say) is dropped and reported with
        ``schedule_refused``. A row saved without its confirmation flag (``[release, id, hex]``)
        counts as unconfirmed.

        Raises:
            ScheduleError: ``bad_state`` naming the activity that does not decode (or ``None``
                for the whole), or ``schedule_full``; the schedule is left unchanged.
        """
        if not isinstance(state, Mapping) or not isinstance(state.get("activities"), list):
            raise ScheduleError("bad_state", None, "no list of activities")
        rows = state["activities"]
        if len(rows) > self.capacity:
            raise ScheduleError(
                "schedule_full", self.capacity, f"{len(rows)} saved, capacity {self.capacity}"
            )
        items: list[Activity] = []
        seen: set[int] = set()
        for index, row in enumerate(rows):
            if not isinstance(row, list | tuple) or len(row) not in (3, 4):
                raise ScheduleError("bad_state", index, "not [release, id, packet hex, confirmed]")
            release, ident, text = row[:3]
            confirmed = row[3] if len(row) == 4 else False
            if not isinstance(confirmed, bool):
                raise ScheduleError("bad_state", index, f"confirmed {confirmed!r}")
            if not _is_time(release):
                raise ScheduleError("bad_state", index, f"release time {release!r}")
            if isinstance(ident, bool) or not isinstance(ident, int) or ident < 1:
                raise ScheduleError("bad_state", index, f"id {ident!r}")
            if ident in seen:
                raise ScheduleError("bad_state", index, f"id {ident} appears twice")
            seen.add(ident)
            packet = _decode_hex(text, ScheduleError, index)
            items.append(Activity(float(release), packet, ident, confirmed))
        next_id = state.get("next_id", 1)
        if isinstance(next_id, bool) or not isinstance(next_id, int):
            raise ScheduleError("bad_state", None, f"next_id {next_id!r}")
        kept = []
        for item in items:
            reason = self._validate(item.packet, item.source)
            if reason is None:
                kept.append(item)
            else:
                self._emit(
                    "schedule_refused",
                    f"id {item.id} {describe(item.packet)} dropped at restore: {reason}",
                )
        items = kept
        self._items = items
        self._next_id = max([next_id, *(ident + 1 for ident in seen)])
        self._enabled = False
        self._sort()
        passed = sum(1 for item in items if item.release < now)
        self._emit("schedule_restored", f"{len(items)} activities, {passed} passed, disabled")
        self._changed()

    # -- inside ----------------------------------------------------------------------------

    def _sort(self) -> None:
        self._items.sort(key=lambda item: (item.release, item.id))

    def _skip_late(self, now: float) -> None:
        while self._items and self._items[0].release < now - self.late_limit:
            self._report_skip(self._items.pop(0), now)

    def _report_skip(self, item: Activity, now: float) -> None:
        self._emit(
            "schedule_skipped",
            f"id {item.id} {describe(item.packet)} due {item.release:.3f}, "
            f"{now - item.release:.3f} s late at {now:.3f}",
        )

    def _changed(self) -> None:
        if self._persist is not None:
            self._persist(self.state())


# ----------------------------------------------------------------------------------------------
# Relative sequences


class _Sequence:
    """One loaded sequence and its progress."""

    __slots__ = ("confirmed", "due", "name", "state", "step", "steps")

    def __init__(
        self, name: str, steps: tuple[tuple[float, PusTc], ...], confirmed: bool = False
    ) -> None:
        self.name = name
        self.steps = steps
        self.confirmed = confirmed  # loaded with the ground's hazardous confirmation
        self.step = 0  # the next step to release
        self.state = "loaded"
        self.due: float | None = None  # due time of steps[step] while running

    def at(self) -> str:
        return f"{self.name} at step {self.step} of {len(self.steps)}"

    @property
    def source(self) -> CommandSource:
        return CommandSource.sequence(self.name, self.confirmed)


class SequenceEngine:
    """Relative command sequences: steps released a delay after the previous one.

    Args:
        submit: called ``(packet, source, now)`` for each released step, ``source`` the
            sequence's :class:`~fsw.core.hazard.CommandSource` (the command dispatcher, which
            checks its provenance again).
        validate: ``(packet, source)`` returns why a packet cannot be run (unknown command,
            bad argument, a command that needs the ground's confirmation in a load without
            it), or ``None``; called on every step when a sequence is loaded, before anything is
            stored, and again on every sequence restored from the NV store.
        persist: called with :meth:`state` after every change of a sequence or its progress, so
            progress survives a reset.
        emit: event sink ``(name, detail)``; the names are in :data:`EVENTS`.
        late_limit: a step more than this many seconds late is skipped and reported.
        capacity: most sequences loaded at once.
        max_steps: most steps in one sequence.

    Raises:
        ValueError: a negative or non-finite late limit, or a capacity or max_steps below 1.
    """

    def __init__(
        self,
        submit: Submit,
        validate: Validate,
        *,
        persist: Persist | None = None,
        emit: Emit | None = None,
        late_limit: float = 1.0,
        capacity: int = 32,
        max_steps: int = 1024,
    ) -> None:
        if not _is_time(late_limit) or late_limit < 0:
            raise ValueError(f"sequence late_limit {late_limit!r} must be a finite number >= 0")
        if capacity < 1 or max_steps < 1:
            raise ValueError("sequence capacity and max_steps must be at least 1")
        self._submit = submit
        self._validate = validate
        self._persist = persist
        self._emit = emit or _noop_emit
        self.late_limit = float(late_limit)
        self.capacity = capacity
        self.max_steps = max_steps
        self._sequences: dict[str, _Sequence] = {}

    # -- state -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The loaded sequences, in load order."""
        return list(self._sequences)

    def running(self) -> list[str]:
        """The running sequences, in load order."""
        return [s.name for s in self._sequences.values() if s.state == "running"]

    def progress(self, name: str) -> tuple[int, int, str]:
        """``(next step index, number of steps, state)`` of a sequence; the state is one of
        ``loaded``, ``running``, ``stopped``, ``completed``.

        Raises:
            SequenceError: ``unknown_sequence``.
        """
        seq = self._get(name)
        return seq.step, len(seq.steps), seq.state

    def next_due(self) -> float | None:
        """The earliest due time of a step of a running sequence, or ``None``."""
        dues = [s.due for s in self._sequences.values() if s.state == "running"]
        known = [due for due in dues if due is not None]
        return min(known) if known else None

    # -- commands --------------------------------------------------------------------------

    def load(
        self, name: str, steps: Sequence[tuple[float, PusTc]], now: float, *,
        confirmed: bool = False,
    ) -> None:  # fmt: skip
        """Load (or replace) a sequence, validated entirely before it is stored.

        Args:
            name: 1..32 letters, digits, ``_``, ``.`` or ``-``.
            steps: ``(delay after the previous step in seconds, telecommand)`` pairs; the first
                delay counts from the start.
            now: the current mission time.
            confirmed: the load carried the ground's hazardous confirmation; kept with the
                sequence (and in the NV store), it is what lets a hazardous step run.

        Raises:
            SequenceError: ``bad_name``, ``running`` (replacing a running sequence),
                ``too_many_sequences``, ``empty``, ``too_long``, or naming the first step
                refused: ``negative_delay``, ``bad_delay`` (not a finite number),
                ``bad_packet``, or the reason ``validate`` gave. Nothing is stored.
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SequenceError("bad_name", None, f"sequence name {name!r}")
        old = self._sequences.get(name)
        if old is not None and old.state == "running":
            raise SequenceError("running", None, f"{old.at()} is running; stop it first")
        if old is None and len(self._sequences) >= self.capacity:
            raise SequenceError(
                "too_many_sequences", None, f"{self.capacity} sequences already loaded"
            )
        if not steps:
            raise SequenceError("empty", None, f"sequence {name} has no steps")
        if len(steps) > self.max_steps:
            raise SequenceError(
                "too_long", None, f"{len(steps)} steps; a sequence holds {self.max_steps}"
            )
        checked: list[tuple[float, PusTc]] = []
        for index, (delay, packet) in enumerate(steps):
            if not _is_time(delay):
                raise SequenceError("bad_delay", index, f"delay {delay!r} is not a number")
            if delay < 0:
                raise SequenceError("negative_delay", index, f"delay {delay!r} s")
            copy = _copy(packet, SequenceError, index)
            reason = self._validate(copy, CommandSource.sequence(name, confirmed))
            if reason is not None:
                raise SequenceError(reason, index, f"{describe(copy)} refused by validation")
            checked.append((float(delay), copy))
        self._sequences[name] = _Sequence(name, tuple(checked), bool(confirmed))
        total = sum(delay for delay, _ in checked)
        mark = ", confirmed" if confirmed else ""
        self._emit("sequence_loaded", f"{name}: {len(checked)} steps over {total:.3f} s{mark}")
        self._changed()

    def unload(self, name: str) -> None:
        """Remove a sequence that is not running.

        Raises:
            SequenceError: ``unknown_sequence`` or ``running``.
        """
        seq = self._get(name)
        if seq.state == "running":
            raise SequenceError("running", None, f"{seq.at()} is running; stop it first")
        del self._sequences[name]
        self._emit("sequence_unloaded", f"{name} at step {seq.step} of {len(seq.steps)}")
        self._changed()

    def start(self, name: str, now: float) -> None:
        """Start a sequence from its first step, due its delay after ``now``.

        Raises:
            SequenceError: ``unknown_sequence`` or ``running`` (already running).
        """
        seq = self._get(name)
        if seq.state == "running":
            raise SequenceError("running", None, f"{seq.at()} is already running")
        seq.step = 0
        seq.state = "running"
        seq.due = now + seq.steps[0][0]
        self._emit("sequence_started", f"{name}: {len(seq.steps)} steps at {now:.3f}")
        self._changed()

    def stop(self, name: str, now: float) -> None:
        """Stop a running sequence at the step reached (the next step not yet released).

        Raises:
            SequenceError: ``unknown_sequence`` or ``not_running``.
        """
        seq = self._get(name)
        if seq.state != "running":
            raise SequenceError("not_running", None, f"{name} is {seq.state}")
        seq.state = "stopped"
        seq.due = None
        self._emit("sequence_stopped", f"{seq.at()} at {now:.3f}")
        self._changed()

    def resume(self, name: str, now: float) -> None:
        """Resume a stopped sequence from the step reached, that step due its delay after
        ``now``.

        Raises:
            SequenceError: ``unknown_sequence`` or ``not_stopped``.
        """
        seq = self._get(name)
        if seq.state != "stopped":
            raise SequenceError("not_stopped", None, f"{name} is {seq.state}")
        seq.state = "running"
        seq.due = now + seq.steps[seq.step][0]
        self._emit("sequence_resumed", f"{seq.at()} at {now:.3f}")
        self._changed()

    def cycle(self, now: float) -> None:
        """Release every step due by ``now`` of the running sequences, in due-time order.

        A step late by more than ``late_limit`` is skipped and reported
        (``sequence_step_skipped``); the steps after it keep their delays from its due time.
        Progress is persisted before each step is handed to ``submit``, so a step is released at
        most once even across a reset.
        """
        while True:
            due = [s for s in self._sequences.values() if s.state == "running"]
            due = [s for s in due if s.due is not None and s.due <= now]
            if not due:
                return
            seq = min(due, key=lambda s: (s.due, s.name))
            self._advance(seq, now)

    # -- NV store --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The sequences as JSON-compatible data: for each, in load order, its ``name``,
        ``steps`` as ``[delay, packet hex]``, ``step`` reached and ``state``."""
        return {
            "sequences": [
                {
                    "name": seq.name,
                    "steps": [[delay, packet.pack().hex()] for delay, packet in seq.steps],
                    "step": seq.step,
                    "state": seq.state,
                    "confirmed": seq.confirmed,
                }
                for seq in self._sequences.values()
            ]
        }

    def restore(self, state: Mapping[str, Any], now: float, *, resume: bool = True) -> None:
        """Replace every sequence by a saved :meth:`state`. A sequence that was running resumes
        at the step it reached, that step due its own delay after ``now`` (the boot), reported
        with ``sequence_resumed`` (decision 0025): the steps before it were released before
        the reset (progress is persisted before a step is released, so none runs twice), and
        the node's clock may have started again, so the interval is kept, not the time. With
        ``resume`` False (the reset-loop guard holds the node, autonomy off) it comes back
        *stopped* at its step instead (``sequence_stopped``), for the ground to resume.

        Every step is validated again with the sequence's stored provenance: a sequence with a
        step refused (a hazardous command in a sequence loaded without the confirmation, say)
        is dropped whole and reported with ``sequence_refused``.

        Raises:
            SequenceError: ``bad_state`` naming the sequence (its position in the saved list)
                that does not decode, or ``None`` for the whole; nothing is changed.
        """
        if not isinstance(state, Mapping) or not isinstance(state.get("sequences"), list):
            raise SequenceError("bad_state", None, "no list of sequences")
        restored: dict[str, _Sequence] = {}
        for index, entry in enumerate(state["sequences"]):
            seq = self._decode(entry, index)
            if seq.name in restored:
                raise SequenceError("bad_state", index, f"sequence {seq.name} appears twice")
            restored[seq.name] = seq
        if len(restored) > self.capacity:
            raise SequenceError("bad_state", None, f"{len(restored)} sequences saved")
        for seq in list(restored.values()):
            refusal = self.refusal(seq.steps, seq.source)
            if refusal is not None:
                del restored[seq.name]
                self._emit("sequence_refused", f"{seq.name} dropped at restore: {refusal}")
        self._sequences = restored
        was_running = [seq for seq in restored.values() if seq.state == "running"]
        for seq in was_running:
            if resume:
                seq.due = now + seq.steps[seq.step][0]
                self._emit(
                    "sequence_resumed",
                    f"{seq.at()} due {seq.due:.3f}, restored after a reset at {now:.3f}",
                )
            else:
                seq.state = "stopped"
                self._emit(
                    "sequence_stopped",
                    f"{seq.at()} at {now:.3f}, restored after a reset: autonomy off",
                )
        how = "resumed" if resume else "stopped"
        self._emit(
            "sequences_restored",
            f"{len(restored)} sequences, {len(was_running)} {how} at {now:.3f}",
        )
        self._changed()

    def refusal(self, steps: Sequence[tuple[float, PusTc]], source: CommandSource) -> str | None:
        """Why ``validate`` refuses a step of ``steps`` from ``source`` (the first one, with
        its index), or None when it takes them all."""
        for index, (_, packet) in enumerate(steps):
            reason = self._validate(packet, source)
            if reason is not None:
                return f"step {index} {describe(packet)}: {reason}"
        return None

    def steps(self, name: str) -> tuple[tuple[float, PusTc], ...]:
        """The steps of a loaded sequence (SequenceError ``unknown_sequence``)."""
        return self._get(name).steps

    # -- inside ----------------------------------------------------------------------------

    def _get(self, name: str) -> _Sequence:
        seq = self._sequences.get(name)
        if seq is None:
            raise SequenceError("unknown_sequence", None, f"no sequence {name!r} loaded")
        return seq

    def _advance(self, seq: _Sequence, now: float) -> None:
        """Release or skip ``seq``'s due step, persist, then hand it to the dispatcher."""
        due = seq.due if seq.due is not None else now
        index = seq.step
        packet = seq.steps[index][1]
        late = now - due
        seq.step += 1
        if seq.step == len(seq.steps):
            seq.state = "completed"
            seq.due = None
        else:
            seq.due = due + seq.steps[seq.step][0]
        self._changed()
        where = f"{seq.name} step {index} of {len(seq.steps)} {describe(packet)} due {due:.3f}"
        if late > self.late_limit:
            self._emit("sequence_step_skipped", f"{where}, {late:.3f} s late at {now:.3f}")
            released = False
        else:
            self._emit("sequence_step_released", f"{where} released at {now:.3f}")
            released = True
        if seq.state == "completed":
            self._emit("sequence_completed", f"{seq.name}: {len(seq.steps)} steps at {now:.3f}")
        if released:
            self._submit(packet, seq.source, now)

    def _decode(self, entry: object, index: int) -> _Sequence:
        """One saved sequence, checked."""
        if not isinstance(entry, Mapping):
            raise SequenceError("bad_state", index, "not a mapping")
        name, rows, step, state = (entry.get(k) for k in ("name", "steps", "step", "state"))
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SequenceError("bad_state", index, f"sequence name {name!r}")
        if not isinstance(rows, list) or not 1 <= len(rows) <= self.max_steps:
            raise SequenceError("bad_state", index, f"{name}: no list of 1..{self.max_steps} steps")
        steps: list[tuple[float, PusTc]] = []
        for row in rows:
            if not isinstance(row, list | tuple) or len(row) != 2:
                raise SequenceError("bad_state", index, f"{name}: a step is not [delay, hex]")
            delay, text = row
            if not _is_time(delay) or delay < 0:
                raise SequenceError("bad_state", index, f"{name}: delay {delay!r}")
            steps.append((float(delay), _decode_hex(text, SequenceError, index)))
        if state not in _SEQUENCE_STATES:
            raise SequenceError("bad_state", index, f"{name}: state {state!r}")
        last = len(steps) if state == "completed" else len(steps) - 1
        first = len(steps) if state == "completed" else 0
        if isinstance(step, bool) or not isinstance(step, int) or not first <= step <= last:
            raise SequenceError("bad_state", index, f"{name}: step {step!r} when {state}")
        if state == "loaded" and step != 0:
            raise SequenceError("bad_state", index, f"{name}: step {step} when loaded")
        confirmed = entry.get("confirmed", False)  # saved before decision 0024: unconfirmed
        if not isinstance(confirmed, bool):
            raise SequenceError("bad_state", index, f"{name}: confirmed {confirmed!r}")
        seq = _Sequence(name, tuple(steps), confirmed)
        seq.step = step
        seq.state = state
        return seq

    def _changed(self) -> None:
        if self._persist is not None:
            self._persist(self.state())
