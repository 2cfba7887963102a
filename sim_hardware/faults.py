"""Fault injection for a whole bench: the schedule from the bench file, and faults injected at
run time (from tests, or from the ground through the simulator's back door).

A fault has a target, a kind and parameters (:class:`hal.bench.FaultSpec`):

* **device faults** (:data:`hal.bench.DEVICE_FAULTS`) target a board (``sta_arm``) or one device
  of it (``sta_arm.gripper``) and are handed to the board's emulator
  (:meth:`~sim_hardware.devices.base.BoardEmulator.inject`), which checks the kind, the device,
  the status field (``params.field`` for ``stuck``, ``bias`` and ``noise``) and the other
  parameters (their names and values, as each board declares them);
* **link faults** (:data:`hal.bench.LINK_FAULTS`) target a board's serial line (``sta_arm``) or a
  node's space link (``link:mav``) and become :class:`~sim_hardware.space_link.Impairments` of
  that link, through the ``impair`` callback the simulator gives.

Link fault parameters (every one optional):

=================  ====================================================================
``drop``           ``probability`` a frame is lost (default 0.1)
``bit_flips``      ``probability`` one bit of a frame is inverted (default 0.1), or
                   ``bit_error_rate`` per bit
``duplicate``      ``probability`` a frame arrives twice (default 0.1)
``delay``          ``seconds`` added to every frame (default 1.0), ``jitter`` seconds
                   (each at most :data:`MAX_LINK_DELAY`)
``blackout``       every frame is lost while the fault lasts
``baud_throttle``  the line carries at most ``baud`` bit/s (default: the board's configured
                   rate in the bench file, the node's ``radio_baud`` for a space link),
                   10 bits per octet, with ``burst`` seconds of credit (default: one tick)
=================  ====================================================================

and ``direction``: ``both`` (default), ``up``/``down`` for a space link (up: ground to node),
``to_board``/``from_board`` for a serial line. Several link faults on one link add up (drop
probabilities combine, delays add, the slowest rate wins, with its credit).

Every emulated line already runs at its own rate (decision 0033): a board's serial line at its
bench ``baud`` with a tick of credit, a space link at its node's ``radio_baud``. Link faults add
to that, and when the last one ends the line is back at its own rate, not an instant line.

A fault starts at its time and ends after its duration, or when cleared. Every refusal is a
:class:`FaultError` whose one-line message names the problem; a refused fault changes nothing.

Reporting (decision 0040): :meth:`FaultManager.report` lists every fault the run has had, where
it came from (``schedule``: the bench file's ``[[faults]]``; ``inject``: the back door, a test),
when it started and ended, and whether it **took effect**: for a device fault, how many times it
changed what the device did and when first (:attr:`sim_hardware.devices.base.Fault.effects`: a
``grasp_slip`` in force while the gripper holds nothing has none); for a link fault, None (the
relays do not tell which frame a fault took).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hal.bench import FAULT_KINDS, LINK_FAULTS, FaultSpec
from hal.errors import HalError
from sim_hardware.devices.base import BoardEmulator, Fault
from sim_hardware.space_link import Impairments

__all__ = ["ActiveFault", "FaultError", "FaultManager", "link_impairments"]

DEFAULT_PROBABILITY: Final = 0.1
DEFAULT_DELAY: Final = 1.0
MAX_LINK_DELAY: Final = 3600.0
"""The longest link ``delay``, ``jitter`` or throttle ``burst`` one fault may name, s: an hour,
three times Mars's longest light time and far past every timeout of the bench (decision 0028)."""
DEFAULT_LINE_BAUD: Final = 115200
"""bit/s of a throttled space link when the fault names no ``baud`` and the link has no rate of
its own."""
MAX_REPORTED: Final = 1000
"""Faults :meth:`FaultManager.report` keeps (the first of the run): a bounded reply."""
LINK_DIRECTIONS: Final = {
    "board": ("both", "to_board", "from_board"),
    "space": ("both", "up", "down"),
}


class FaultError(HalError):
    """A fault that cannot be injected or cleared; the message names the problem."""

    default_reason = "bad_fault"


@dataclass
class ActiveFault:
    """A fault that has started (or is scheduled, with ``started`` False).

    Attributes:
        id: its number, unique in the run (what :meth:`FaultManager.clear` takes).
        spec: target, kind, time, duration and parameters.
        started: it is in effect.
        handle: the emulator's fault object, for a device fault in effect.
    """

    id: int
    spec: FaultSpec
    started: bool = False
    handle: Fault | None = None
    origin: str = "schedule"
    started_at: float | None = None
    ended_at: float | None = None
    ended_how: str | None = None

    def report(self) -> dict[str, Any]:
        """What became of it (:meth:`FaultManager.report`)."""
        s = self.spec
        if s.kind in LINK_FAULTS:
            effects, first = None, None
        elif self.handle is None:
            effects, first = 0, None
        else:
            effects, first = self.handle.effects, self.handle.first_effect
        return {
            "id": self.id, "target": s.target, "kind": s.kind, "at": s.at,
            "duration": s.duration, "params": dict(s.params), "origin": self.origin,
            "started": self.started_at, "ended": self.ended_at, "ended_how": self.ended_how,
            "effects": effects, "first_effect": first,
        }  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly description."""
        s = self.spec
        return {
            "id": self.id, "target": s.target, "kind": s.kind, "at": s.at,
            "until": s.end, "params": dict(s.params), "active": self.started,
        }  # fmt: skip


@dataclass
class _LinkTarget:
    kind: str  # "board" or "space"
    name: str
    faults: list[ActiveFault] = field(default_factory=list)


Impair = Callable[[str, str, Mapping[str, Impairments]], None]
"""``impair(kind, name, {direction: impairments})``: give a link its impairments, where kind is
``"board"`` (a serial line; directions ``to_board``/``from_board``) or ``"space"`` (a node's
space link; directions ``up``/``down``)."""


class FaultManager:
    """The bench's faults: scheduled, active, and ended.

    Args:
        boards: the emulated boards by name.
        bauds: every board's configured baud rate (emulated or not): an emulated board's line
            runs at it, with a tick of credit, and link faults add to that.
        space_links: the nodes whose space link the simulator emulates, with each one's own
            (bench) impairments per direction (its radio rate among them), which link faults
            add to.
        impair: applies a link's impairments (see :data:`Impair`).
        tick: the simulation tick (default burst of a throttled line).
        schedule: the bench file's fault schedule.
    """

    def __init__(
        self,
        boards: Mapping[str, BoardEmulator],
        bauds: Mapping[str, int],
        space_links: Mapping[str, Mapping[str, Impairments]],
        impair: Impair,
        *,
        tick: float = 0.1,
        schedule: tuple[FaultSpec, ...] = (),
    ) -> None:
        self.boards = dict(boards)
        self.bauds = dict(bauds)
        self.space_links = {name: dict(base) for name, base in space_links.items()}
        self._impair = impair
        self.tick = tick
        self._next_id = 1
        self.pending: list[ActiveFault] = []
        self.active: dict[int, ActiveFault] = {}
        self.history: list[dict[str, Any]] = []
        self._clears: list[tuple[int, float]] = []  # clear(later=True): id, time asked
        self._every: list[ActiveFault] = []  # every fault of the run, for report()
        self._links: dict[tuple[str, str], _LinkTarget] = {}
        for spec in schedule:
            self.schedule(spec)

    # ------------------------------------------------------------------ the API

    def schedule(self, spec: FaultSpec, *, origin: str = "schedule") -> int:
        """Check a fault and queue it for its time; return its id. ``origin``: where it came
        from, for :meth:`report` (``schedule``, ``inject``).

        Raises:
            FaultError: unknown kind, target, device, field or parameter (named).
        """
        self._check(spec)
        fault = ActiveFault(self._next_id, spec, origin=origin)
        self._next_id += 1
        if len(self._every) < MAX_REPORTED:
            self._every.append(fault)
        self.pending.append(fault)
        self.pending.sort(key=lambda f: (f.spec.at, f.id))
        return fault.id

    def inject(
        self,
        target: str,
        kind: str,
        now: float,
        *,
        duration: float | None = None,
        at: float | None = None,
        params: Mapping[str, Any] | None = None,
        start: bool = True,
    ) -> int:
        """Start a fault now (or schedule it for ``at``); return its id. ``start=False``
        leaves a fault due now to the next :meth:`advance` (in lockstep: the next round, so
        what a round's cycles met does not depend on when the request arrived).

        Raises:
            FaultError: as :meth:`schedule`, or a bad time or duration.
        """
        when = now if at is None else at
        if not (isinstance(when, int | float) and math.isfinite(when) and when >= 0):
            raise FaultError(f"fault time {when!r} is not a time >= 0 s")
        if duration is not None and not (
            isinstance(duration, int | float) and math.isfinite(duration) and duration > 0
        ):
            raise FaultError(f"fault duration {duration!r} is not a positive number of seconds")
        spec = FaultSpec(
            at=float(max(when, now)), target=target, kind=kind,
            duration=None if duration is None else float(duration), params=dict(params or {}),
        )  # fmt: skip
        fault_id = self.schedule(spec, origin="inject")
        if start:
            self.apply(now)
        return fault_id

    def known(self, fault_id: int) -> bool:
        """Fault ``fault_id`` is scheduled or in effect."""
        return fault_id in self.active or any(f.id == fault_id for f in self.pending)

    def clear(self, fault_id: int, now: float, *, later: bool = False) -> None:
        """End (or unschedule) fault ``fault_id``; ``later``: at time ``now`` still, but only at
        the next :meth:`advance` (in lockstep: between this round and the next, decision 0034).

        Raises:
            FaultError: no such fault in effect or scheduled.
        """
        if later:
            if not self.known(fault_id):
                raise FaultError(f"no fault {fault_id} is scheduled or in effect")
            self._clears.append((fault_id, now))
            return
        for fault in self.pending:
            if fault.id == fault_id:
                self.pending.remove(fault)
                self._record(fault, now, "unscheduled")
                return
        fault = self.active.get(fault_id)
        if fault is None:
            raise FaultError(f"no fault {fault_id} is scheduled or in effect")
        self._end(fault, now, "cleared")

    def clear_all(self, now: float, target: str | None = None, *, later: bool = False) -> int:
        """End every fault (of ``target``, when given), at once or ``later`` (as
        :meth:`clear`); return how many."""
        ended = [f for f in [*self.pending, *self.active.values()]
                 if target is None or f.spec.target == target]  # fmt: skip
        for fault in ended:
            self.clear(fault.id, now, later=later)
        return len(ended)

    def apply(self, now: float) -> None:
        """Start the scheduled faults due by ``now`` and end those whose time is up."""
        for fault in [f for f in self.active.values() if f.spec.end is not None]:
            if fault.spec.end is not None and fault.spec.end <= now:
                self._end(fault, now, "ended")
        while self.pending and self.pending[0].spec.at <= now:
            fault = self.pending.pop(0)
            self._start(fault, now)
            if fault.spec.end is not None and fault.spec.end <= now:
                self._end(fault, now, "ended")

    def advance(self, now: float, physics: Callable[[float], None]) -> None:
        """Bring the bench to ``now`` with every fault in effect for exactly its span: the
        ``physics`` (the boards and the world, brought to a time) is run to each start and end
        on the way, before that fault starts or ends, then to ``now``.

        A lockstep round may jump several seconds; without the stops a two-second fault that
        starts and ends inside one jump would never touch the physics (a tube held all along
        would not slip), depending on where the rounds fell.
        """
        clears, self._clears = self._clears, []
        for fault_id, at in clears:  # asked for while the last round was open, in that order
            if self.known(fault_id):
                self.clear(fault_id, at)
        while (due := self.next_due()) <= now:
            physics(due)
            self.apply(due)
        physics(now)
        for fault in list(self.active.values()):  # a counted fault (reply_lost) that is spent
            handle = fault.handle
            in_effect = getattr(self.boards.get(fault.spec.board or ""), "faults", None)
            if (
                handle is not None
                and in_effect is not None
                and all(f is not handle for f in in_effect)
            ):
                self._end(fault, now, "spent")

    def next_due(self) -> float:
        """When the next fault starts or ends (``math.inf``: never)."""
        ends = [f.spec.end for f in self.active.values() if f.spec.end is not None]
        starts = [self.pending[0].spec.at] if self.pending else []
        return min([*ends, *starts], default=math.inf)

    def listing(self) -> list[dict[str, Any]]:
        """Every fault scheduled or in effect, less those a clear was asked for: a clear asked
        while a round is open ends its fault at the time asked, at the round's end (decision
        0034), and the operator who asked sees it gone at once, not one round later."""
        clearing = {fault_id for fault_id, _ in self._clears}
        return [f.to_json() for f in [*self.active.values(), *self.pending]
                if f.id not in clearing]  # fmt: skip

    def report(self) -> list[dict[str, Any]]:
        """Every fault of the run (the first :data:`MAX_REPORTED`), in the order given: target,
        kind, time, duration, parameters, ``origin``, ``started``/``ended`` (simulated times,
        None: not yet), ``ended_how`` (``ended``, ``cleared``, ``spent``, ``unscheduled``),
        ``effects`` and ``first_effect`` (module docstring)."""
        return [f.report() for f in self._every]

    # ------------------------------------------------------------------ internals

    def _check(self, spec: FaultSpec) -> None:
        kind, target = spec.kind, spec.target
        if kind not in FAULT_KINDS:
            raise FaultError(
                f"unknown fault kind {kind!r} (known: {', '.join(sorted(FAULT_KINDS))})"
            )
        if spec.link_node is not None:
            if kind not in LINK_FAULTS:
                raise FaultError(f"{target}: {kind!r} is a device fault; a space link takes "
                                 f"{', '.join(sorted(LINK_FAULTS))}")  # fmt: skip
            if spec.link_node not in self.space_links:
                known = ", ".join(f"link:{n}" for n in self.space_links) or "none"
                raise FaultError(f"{target}: no emulated space link of that node (known: {known})")
            self._link_params(spec, "space")
            return
        board = spec.board or ""
        if board not in self.bauds:
            raise FaultError(f"unknown target {target!r} (boards: {', '.join(self.bauds)}; "
                             "space links: link:<node>)")  # fmt: skip
        emulator = self.boards.get(board)
        if emulator is None:
            raise FaultError(f"{target}: board {board!r} is real on this bench, not emulated")
        if kind in LINK_FAULTS:
            if spec.device is not None:
                raise FaultError(f"{target}: a link fault targets the board's line ({board!r})")
            self._link_params(spec, "board")
            return
        params = dict(spec.params)
        field_name = params.pop("field", None)
        if field_name is not None and not isinstance(field_name, str):
            raise FaultError(f"{target}: field {field_name!r} is not a status field name")
        try:
            emulator.check_fault(kind, spec.device, field=field_name, params=params)
        except (ValueError, KeyError) as exc:
            message = _message(exc).removeprefix(f"{board}: ")  # the target names the board
            raise FaultError(f"{target}: {message}") from None

    def _link_params(self, spec: FaultSpec, kind: str) -> None:
        params = dict(spec.params)
        direction = params.pop("direction", "both")
        if direction not in LINK_DIRECTIONS[kind]:
            raise FaultError(f"{spec.target}: direction {direction!r} is not one of "
                             f"{', '.join(LINK_DIRECTIONS[kind])}")  # fmt: skip
        allowed = {
            "drop": {"probability"}, "bit_flips": {"probability", "bit_error_rate"},
            "duplicate": {"probability"}, "delay": {"seconds", "jitter"}, "blackout": set(),
            "baud_throttle": {"baud", "burst"},
        }[spec.kind]  # fmt: skip
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise FaultError(f"{spec.target}: {spec.kind} takes no parameter {unknown[0]!r} "
                             f"(takes: {', '.join(sorted(allowed)) or 'none'})")  # fmt: skip
        try:
            link_impairments([spec], Impairments(), DEFAULT_LINE_BAUD, self.tick)
        except (ValueError, TypeError) as exc:
            raise FaultError(f"{spec.target}: {spec.kind}: {_message(exc)}") from None

    def _start(self, fault: ActiveFault, now: float) -> None:
        spec = fault.spec
        fault.started, fault.started_at = True, now
        self.active[fault.id] = fault
        if spec.kind in LINK_FAULTS:
            link = self._link(spec)
            link.faults.append(fault)
            self._apply_link(link)
        else:
            params = dict(spec.params)
            field_name = params.pop("field", None)
            emulator = self.boards[spec.board or ""]
            fault.handle = emulator.inject(spec.kind, spec.device, field=field_name, **params)
        self._record(fault, now, "started")

    def _end(self, fault: ActiveFault, now: float, how: str) -> None:
        self.active.pop(fault.id, None)
        spec = fault.spec
        if spec.kind in LINK_FAULTS:
            link = self._link(spec)
            link.faults = [f for f in link.faults if f.id != fault.id]
            self._apply_link(link)
        elif fault.handle is not None:
            self.boards[spec.board or ""].clear(fault.handle)
        self._record(fault, now, how)

    def _link(self, spec: FaultSpec) -> _LinkTarget:
        node = spec.link_node
        key = ("space", node) if node is not None else ("board", spec.board or "")
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = _LinkTarget(*key)
        return link

    def _apply_link(self, link: _LinkTarget) -> None:
        if link.kind == "space":
            base = self.space_links[link.name]
            baud = next((i.baud for i in base.values() if i.baud), DEFAULT_LINE_BAUD)
        else:
            baud = self.bauds[link.name]
            line = Impairments(baud=baud, burst=self.tick)  # the line's own rate (0033)
            base = {"to_board": line, "from_board": line}
        out = {}
        for direction, impairments in base.items():
            mine = [f.spec for f in link.faults
                    if f.spec.params.get("direction", "both") in ("both", direction)]  # fmt: skip
            out[direction] = link_impairments(mine, impairments, baud, self.tick)
        self._impair(link.kind, link.name, out)

    def _record(self, fault: ActiveFault, now: float, how: str) -> None:
        if how != "started":
            fault.ended_at, fault.ended_how = now, how
        self.history.append({"time": now, "event": how, **fault.to_json()})


def link_impairments(
    specs: list[FaultSpec], base: Impairments, baud: int, tick: float
) -> Impairments:
    """``base`` with the link faults ``specs`` added."""
    keep_drop, keep_dup, keep_flip = 1.0 - base.drop, 1.0 - base.duplicate, 1.0 - base.flip
    ber, delay, jitter = base.bit_error_rate, base.delay, base.jitter
    rate, burst = base.baud, base.burst
    blackouts = list(base.blackouts)
    for spec in specs:
        p = spec.params
        if spec.kind == "drop":
            keep_drop *= 1.0 - _number(p, "probability", DEFAULT_PROBABILITY, 0.0, 1.0)
        elif spec.kind == "duplicate":
            keep_dup *= 1.0 - _number(p, "probability", DEFAULT_PROBABILITY, 0.0, 1.0)
        elif spec.kind == "bit_flips":
            if "bit_error_rate" in p:
                ber = max(ber, _number(p, "bit_error_rate", 0.0, 0.0, 1.0))
            else:
                keep_flip *= 1.0 - _number(p, "probability", DEFAULT_PROBABILITY, 0.0, 1.0)
        elif spec.kind == "delay":
            delay += _number(p, "seconds", DEFAULT_DELAY, 0.0, MAX_LINK_DELAY)
            jitter += _number(p, "jitter", 0.0, 0.0, MAX_LINK_DELAY)
        elif spec.kind == "blackout":
            blackouts.append((-math.inf, math.inf))
        elif spec.kind == "baud_throttle":
            line = int(_number(p, "baud", baud, 1.0, 1e9))
            credit = _number(p, "burst", tick, 0.0, MAX_LINK_DELAY)
            if rate is None or line < rate:  # the slowest rate wins, with its credit
                rate, burst = line, credit
            elif line == rate:
                burst = min(burst, credit)
    return Impairments(
        drop=1.0 - keep_drop, duplicate=1.0 - keep_dup, flip=1.0 - keep_flip, delay=delay,
        jitter=jitter, reorder=base.reorder, blackouts=tuple(blackouts), bit_error_rate=ber,
        baud=rate, burst=burst,
    )  # fmt: skip


def _number(params: Mapping[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{name} = {value!r} is not a number in {lo:g}..{hi:g}")
    return float(value)


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__
