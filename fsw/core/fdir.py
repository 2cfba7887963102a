"""Onboard fault protection (FDIR): table-driven monitors bound to responses; the reset-loop guard.

Implements the requirement "Fault protection: monitors (limit, delta, staleness, persistence count)
bound to responses (event, stop sequence, run a recovery sequence, enter safe mode), configured as
tables; a reset-loop guard", and the guard's share of "on every start and restart the node comes up
safe": after a loop of quick resets the node stays safe with its autonomy off.

Pure logic: no I/O, no clock. Time is passed in (``now``, mission seconds; ``uptime``, seconds
since this start), telemetry is read through a :data:`PointSource` and responses are carried out
by a :class:`Responder`.

Tables (one document, e.g. a TOML file the tables service loads)::

    [[monitors]]
    id = "igloo_cold"            # unique among monitors
    point = "igloo.zone_temp_3"  # a telemetry point of the pool
    kind = "limit"               # "limit" (low and/or high), "delta" (max_delta), "stale"
    low = -40.0
    max_age = 30.0               # every monitor: its sample may be at most this old (seconds)
    persistence = 3              # consecutive violating *samples* before it trips
    response = "igloo_cold"      # a response id
    active_point = "launch.status.pyros_fired"  # optional: judged only while this point's
    active_high = 0.0                           # latest value is in active_low..active_high
    enabled = true               # optional, true by default

    [[responses]]
    id = "igloo_cold"
    actions = ["event", "stop_sequence:launch", "start_sequence:igloo_reheat", "safe_mode"]

Monitors judge **samples**, not checks (decision 0025). A sample is a value with the time it was
measured (``time_sampled``); the pool hands the same sample again until a new measurement
replaces it, and a monitor judges each sample once:

* ``limit``: a new sample below ``low`` or above ``high`` is a violation (a value on a bound is
  in limits; a value that is not finite is a violation).
* ``delta``: each new sample is compared with the previous one; a change larger than
  ``max_delta`` is a violation. The first sample only sets the baseline.
* ``stale``: judges nothing but the age (below).

Consecutive violating samples count up; a sample in limits resets the count; the same sample
seen again changes nothing, so a 1 Hz point under a 10 Hz monitor with ``persistence = 3`` trips
after three bad samples (three seconds), never after three checks. At ``persistence`` the
monitor *trips*: ``monitor_tripped`` is emitted and the response's actions run in the table's
order. A tripped monitor does not trip again until it has been seen back in limits
(``monitor_cleared``), so a lasting fault gives one response, not a storm.

**Every monitor has a declared staleness** (``max_age``). At each check, a sample older than
``max_age`` makes the monitor *stale*, whatever its kind; a sample taken before the monitor was
armed (created, enabled or activated), or no sample at all, gets ``max_age`` from the arming.
``monitor_stale`` is emitted and its response runs, once, because data that stopped
(housekeeping disabled, a silent board) is itself a fault. A fresh sample ends it
(``monitor_fresh``) and judging goes on.

A monitor with ``active_point`` is judged only while that point's latest value lies within
``active_low .. active_high`` (either may be absent); outside it (or before that point is ever
sampled) it is *inactive*: count, trip and staleness are forgotten and it is re-armed when it
becomes active again. This is how a monitor that only makes sense in one phase (the MAV's
igloo temperatures, read through the umbilical until a pyro fires) stays quiet in the others.

An action that raises is reported (``response_action_failed``) and the next actions still run,
so a failed sequence stop never keeps the node out of safe mode. Responses only make the node
safer: an event, stopping a sequence, safe mode, or a recovery sequence of the tables.

With :attr:`FaultProtection.autonomy` off (the reset-loop guard tripped), ``start_sequence``
actions are not executed (``recovery_inhibited``); events, sequence stops and safe mode are.

The reset-loop guard (:class:`ResetGuard`) keeps its counters in the non-volatile store and
depends only on the uptime within a boot, never on time across boots (the mission clock may start
again from 0 after a reset).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, Protocol, TypeAlias

from fsw.dictionary.services import FDIR_EVENTS

__all__ = [
    "ACTIONS",
    "EVENTS",
    "KINDS",
    "Action",
    "FaultProtection",
    "FdirConfigError",
    "FdirError",
    "FdirTables",
    "MonitorSpec",
    "PointSource",
    "ResetGuard",
    "Responder",
    "ResponseSpec",
]

EVENTS: Final[Mapping[str, tuple[str, str]]] = FDIR_EVENTS

KINDS: Final = ("limit", "delta", "stale")
"""The monitor kinds (every kind also judges its sample's age against ``max_age``)."""

EVENT: Final = "event"
STOP_SEQUENCE: Final = "stop_sequence"
START_SEQUENCE: Final = "start_sequence"
SAFE_MODE: Final = "safe_mode"
ACTIONS: Final = (EVENT, STOP_SEQUENCE, START_SEQUENCE, SAFE_MODE)
"""The response actions; ``stop_sequence`` and ``start_sequence`` take a sequence name."""

_TAKES_NAME: Final = frozenset({STOP_SEQUENCE, START_SEQUENCE})
_NAME: Final = re.compile(r"[A-Za-z0-9_.\-]+")

MonitorKind: TypeAlias = Literal["limit", "delta", "stale"]
Action: TypeAlias = tuple[str, ...]
"""A response action: ``("event",)``, ``("stop_sequence", name)``, ``("start_sequence", name)``
or ``("safe_mode",)``."""
PointSource: TypeAlias = Callable[[str], tuple[float, float] | None]
"""The telemetry pool: ``(value, time_sampled)`` of a point, or None when never sampled."""
Emit: TypeAlias = Callable[[str, str], None]


class FdirError(Exception):
    """Base of the errors of fault protection (an unknown monitor id, a guard used out of order)."""


class FdirConfigError(FdirError):
    """A table row, a table document or a setting that is not valid; the message is one line
    naming the row and the field."""


# --------------------------------------------------------------------------------------- tables

_MONITOR_FIELDS: Final = (
    "id",
    "point",
    "kind",
    "low",
    "high",
    "max_delta",
    "max_age",
    "persistence",
    "response",
    "enabled",
    "active_point",
    "active_low",
    "active_high",
)
_MONITOR_REQUIRED: Final = ("id", "point", "kind", "max_age", "persistence", "response")
_BOUNDS: Final[Mapping[str, tuple[str, ...]]] = {
    "limit": ("low", "high", "max_age"),
    "delta": ("max_delta", "max_age"),
    "stale": ("max_age",),
}
_RESPONSE_FIELDS: Final = ("id", "actions")


def _where(what: str, ident: object, index: int | None = None) -> str:
    """How an error names its row: by id when it has one, else by position."""
    if isinstance(ident, str) and _NAME.fullmatch(ident):
        return f"{what} {ident!r}"
    return f"{what} row {index}" if index is not None else f"{what} row without a valid id"


def _row_where(what: str, row: object, index: int | None) -> str:
    return _where(what, row.get("id") if isinstance(row, Mapping) else None, index)


def _check_name(where: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise FdirConfigError(
            f"{where}: field {name!r}: expected a string, got {type(value).__name__}"
        )
    if not _NAME.fullmatch(value):
        raise FdirConfigError(
            f"{where}: field {name!r}: {value!r} is not a name (letters, digits, '_', '.', '-')"
        )
    return value


def _check_number(where: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FdirConfigError(
            f"{where}: field {name!r}: expected a number, got {type(value).__name__}"
        )
    if not math.isfinite(value):
        raise FdirConfigError(f"{where}: field {name!r}: {value!r} is not a finite number")
    return float(value)


def _check_row(
    where: str, row: object, fields: Sequence[str], required: Sequence[str]
) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise FdirConfigError(f"{where}: expected a table, got {type(row).__name__}")
    unknown = [key for key in row if key not in fields]
    if unknown:
        raise FdirConfigError(
            f"{where}: field {unknown[0]!r}: unknown field (known: {', '.join(fields)})"
        )
    missing = [name for name in required if name not in row]
    if missing:
        raise FdirConfigError(f"{where}: field {missing[0]!r}: missing")
    return row


@dataclass(frozen=True, kw_only=True)
class MonitorSpec:
    """One monitor: which point it watches, how it judges it, and the response it trips.

    Construction validates every field (directly or through :meth:`from_row`); integer bounds are
    stored as floats.

    Attributes:
        id: unique among the monitors; names the monitor in events and commands.
        point: the telemetry point it reads from the pool, e.g. ``"igloo.zone_temp_3"``.
        kind: ``"limit"``, ``"delta"`` or ``"stale"``.
        low: limit only: values below it violate (None: no low limit).
        high: limit only: values above it violate (None: no high limit). At least one of
            ``low`` and ``high`` is given, and ``low <= high``.
        max_delta: delta only (required, >= 0): the largest change between two successive
            samples.
        max_age: every kind (required, > 0): the oldest its sample may be, in seconds; an
            older one makes the monitor stale and runs its response.
        persistence: consecutive violating samples before the monitor trips (>= 1; a stale
            monitor's only judgment is the age, so it does not use it).
        response: the id of the response it runs when it trips or goes stale.
        enabled: whether it starts enabled.
        active_point: optional: the monitor is judged only while this point's latest value is
            within ``active_low .. active_high`` (at least one of them given).
        active_low, active_high: the bounds of ``active_point``'s range (inclusive).

    Raises:
        FdirConfigError: a field that is missing, of the wrong type, out of range, or does not
            apply to the monitor's kind.
    """

    id: str
    point: str
    kind: MonitorKind
    low: float | None = None
    high: float | None = None
    max_delta: float | None = None
    max_age: float | None = None
    persistence: int
    response: str
    enabled: bool = True
    active_point: str | None = None
    active_low: float | None = None
    active_high: float | None = None

    def __post_init__(self) -> None:
        where = _where("monitor", self.id)
        _check_name(where, "id", self.id)
        _check_name(where, "point", self.point)
        self._check_active(where)
        if self.kind not in KINDS:
            raise FdirConfigError(
                f"{where}: field 'kind': unknown kind {self.kind!r} (expected {', '.join(KINDS)})"
            )
        for name in ("low", "high", "max_delta", "max_age"):
            value = getattr(self, name)
            if value is None:
                continue
            if name not in _BOUNDS[self.kind]:
                raise FdirConfigError(
                    f"{where}: field {name!r}: does not apply to a {self.kind} monitor"
                )
            object.__setattr__(self, name, _check_number(where, name, value))
        if self.kind == "limit":
            if self.low is None and self.high is None:
                raise FdirConfigError(f"{where}: field 'low': missing (a limit needs low or high)")
            if self.low is not None and self.high is not None and self.low > self.high:
                raise FdirConfigError(
                    f"{where}: field 'low': {self.low:g} is above high {self.high:g}"
                )
        elif self.kind == "delta":
            if self.max_delta is None:
                raise FdirConfigError(f"{where}: field 'max_delta': missing (a delta monitor)")
            if self.max_delta < 0:
                raise FdirConfigError(f"{where}: field 'max_delta': {self.max_delta:g} is negative")
        if self.max_age is None:
            raise FdirConfigError(f"{where}: field 'max_age': missing (every monitor has one)")
        if self.max_age <= 0:
            raise FdirConfigError(f"{where}: field 'max_age': {self.max_age:g} is not > 0")
        if isinstance(self.persistence, bool) or not isinstance(self.persistence, int):
            raise FdirConfigError(
                f"{where}: field 'persistence': expected an integer, "
                f"got {type(self.persistence).__name__}"
            )
        if self.persistence < 1:
            raise FdirConfigError(f"{where}: field 'persistence': {self.persistence} is not >= 1")
        _check_name(where, "response", self.response)
        if not isinstance(self.enabled, bool):
            raise FdirConfigError(
                f"{where}: field 'enabled': expected true or false, "
                f"got {type(self.enabled).__name__}"
            )

    def _check_active(self, where: str) -> None:
        for name in ("active_low", "active_high"):
            value = getattr(self, name)
            if value is None:
                continue
            if self.active_point is None:
                raise FdirConfigError(f"{where}: field {name!r}: needs 'active_point'")
            object.__setattr__(self, name, _check_number(where, name, value))
        if self.active_point is None:
            return
        _check_name(where, "active_point", self.active_point)
        low, high = self.active_low, self.active_high
        if low is None and high is None:
            raise FdirConfigError(
                f"{where}: field 'active_low': missing (active_point needs a low or a high)"
            )
        if low is not None and high is not None and low > high:
            raise FdirConfigError(f"{where}: field 'active_low': {low:g} is above {high:g}")

    def active(self, value: float | None) -> bool:
        """Whether the monitor is judged while ``active_point`` reads ``value`` (None: never
        sampled). A monitor without ``active_point`` is always active."""
        if self.active_point is None:
            return True
        if value is None or not math.isfinite(value):
            return False
        if self.active_low is not None and value < self.active_low:
            return False
        return not (self.active_high is not None and value > self.active_high)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, index: int | None = None) -> MonitorSpec:
        """Build a monitor from a table row (a mapping, e.g. one ``[[monitors]]`` of TOML).

        Args:
            row: the row; keys are the attribute names, ``low``/``high``/``max_delta`` only
                where the kind uses them, ``max_age`` always, ``enabled`` and
                ``active_point``/``active_low``/``active_high`` optional.
            index: the row's position in its table, to name a row whose id is missing.

        Raises:
            FdirConfigError: an unknown or missing field, or any invalid value (see the class).
        """
        where = _row_where("monitor", row, index)
        if isinstance(row, Mapping) and "id" in row:
            _check_name(where, "id", row["id"])
        checked = _check_row(where, row, _MONITOR_FIELDS, _MONITOR_REQUIRED)
        return cls(**checked)


def _parse_action(where: str, name: str, text: object) -> Action:
    if not isinstance(text, str):
        raise FdirConfigError(
            f"{where}: field {name!r}: expected a string, got {type(text).__name__}"
        )
    kind, colon, argument = text.partition(":")
    if kind not in ACTIONS:
        raise FdirConfigError(
            f"{where}: field {name!r}: unknown action {text!r} "
            "(expected event, stop_sequence:NAME, start_sequence:NAME, safe_mode)"
        )
    if kind in _TAKES_NAME:
        if not colon:
            raise FdirConfigError(
                f"{where}: field {name!r}: {text!r} needs a sequence name ({kind}:NAME)"
            )
        return (kind, argument)
    if colon:
        raise FdirConfigError(f"{where}: field {name!r}: {kind} takes no argument, got {text!r}")
    return (kind,)


def _action_text(action: Action) -> str:
    return ":".join(action)


@dataclass(frozen=True)
class ResponseSpec:
    """One response: the actions a tripped monitor runs, in order.

    Attributes:
        id: unique among the responses; monitors name it.
        actions: at least one of ``("event",)``, ``("stop_sequence", name)``,
            ``("start_sequence", name)`` (a recovery sequence), ``("safe_mode",)``.

    Raises:
        FdirConfigError: an id or action that is not valid, or no actions.
    """

    id: str
    actions: tuple[Action, ...]

    def __post_init__(self) -> None:
        where = _where("response", self.id)
        _check_name(where, "id", self.id)
        if not isinstance(self.actions, tuple | list):
            raise FdirConfigError(
                f"{where}: field 'actions': expected a list, got {type(self.actions).__name__}"
            )
        if not self.actions:
            raise FdirConfigError(f"{where}: field 'actions': empty (at least one action)")
        checked = []
        for position, action in enumerate(self.actions):
            name = f"actions[{position}]"
            if not isinstance(action, tuple) or not all(isinstance(a, str) for a in action):
                raise FdirConfigError(
                    f"{where}: field {name!r}: expected a tuple of strings, got {action!r}"
                )
            parsed = _parse_action(where, name, _action_text(action))
            if parsed != action:
                raise FdirConfigError(f"{where}: field {name!r}: {action!r} is not an action")
            if len(parsed) == 2:
                _check_name(where, name, parsed[1])
            checked.append(parsed)
        object.__setattr__(self, "actions", tuple(checked))

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, index: int | None = None) -> ResponseSpec:
        """Build a response from a table row such as
        ``{id = "igloo_cold", actions = ["event", "stop_sequence:launch", "safe_mode"]}``.

        Args:
            row: the row: ``id`` and ``actions``, a list of ``"event"``, ``"stop_sequence:NAME"``,
                ``"start_sequence:NAME"``, ``"safe_mode"``.
            index: the row's position in its table, to name a row whose id is missing.

        Raises:
            FdirConfigError: an unknown or missing field, or an action that is not valid.
        """
        where = _row_where("response", row, index)
        if isinstance(row, Mapping) and "id" in row:
            _check_name(where, "id", row["id"])
        checked = _check_row(where, row, _RESPONSE_FIELDS, _RESPONSE_FIELDS)
        texts = checked["actions"]
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise FdirConfigError(
                f"{where}: field 'actions': expected a list, got {type(texts).__name__}"
            )
        actions = tuple(_parse_action(where, f"actions[{i}]", text) for i, text in enumerate(texts))
        return cls(checked["id"], actions)


def _rows(doc: Mapping[str, Any], key: str) -> Sequence[Any]:
    rows = doc.get(key, ())
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise FdirConfigError(f"fdir tables: {key!r}: expected a list of rows")
    return rows


@dataclass(frozen=True)
class FdirTables:
    """The validated monitor and response tables.

    Attributes:
        monitors: the monitors, in the order they are checked; ids unique.
        responses: the responses; ids unique; every monitor's response is among them.

    Raises:
        FdirConfigError: a duplicate id, or a monitor naming a response that does not exist.
    """

    monitors: tuple[MonitorSpec, ...] = ()
    responses: tuple[ResponseSpec, ...] = ()
    _by_id: Mapping[str, ResponseSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "monitors", tuple(self.monitors))
        object.__setattr__(self, "responses", tuple(self.responses))
        seen: set[str] = set()
        for monitor in self.monitors:
            if monitor.id in seen:
                raise FdirConfigError(f"monitor {monitor.id!r}: field 'id': duplicate id")
            seen.add(monitor.id)
        by_id: dict[str, ResponseSpec] = {}
        for response in self.responses:
            if response.id in by_id:
                raise FdirConfigError(f"response {response.id!r}: field 'id': duplicate id")
            by_id[response.id] = response
        for monitor in self.monitors:
            if monitor.response not in by_id:
                raise FdirConfigError(
                    f"monitor {monitor.id!r}: field 'response': no response {monitor.response!r}"
                )
        object.__setattr__(self, "_by_id", by_id)

    def response(self, response_id: str) -> ResponseSpec:
        """The response with this id.

        Raises:
            KeyError: no such response.
        """
        return self._by_id[response_id]

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> FdirTables:
        """Build the tables from a document ``{"monitors": [rows...], "responses": [rows...]}``
        (e.g. a parsed TOML file); a missing table is empty.

        Raises:
            FdirConfigError: an unknown top-level key, a table that is not a list, a bad row
                (see :meth:`MonitorSpec.from_row`, :meth:`ResponseSpec.from_row`), a duplicate
                id, or a monitor naming a response that does not exist.
        """
        if not isinstance(doc, Mapping):
            raise FdirConfigError(f"fdir tables: expected a table, got {type(doc).__name__}")
        unknown = [key for key in doc if key not in ("monitors", "responses")]
        if unknown:
            raise FdirConfigError(
                f"fdir tables: unknown key {unknown[0]!r} (expected 'monitors', 'responses')"
            )
        monitors = tuple(
            MonitorSpec.from_row(row, index=i) for i, row in enumerate(_rows(doc, "monitors"))
        )
        responses = tuple(
            ResponseSpec.from_row(row, index=i) for i, row in enumerate(_rows(doc, "responses"))
        )
        return cls(monitors, responses)


# ------------------------------------------------------------------------------------- monitors


class Responder(Protocol):
    """What fault protection asks of the rest of the node (the sequencer and the mode manager).

    Each call may raise; fault protection reports it and goes on with the next action.
    """

    def stop_sequence(self, name: str, reason: str) -> None:
        """Stop the running sequence ``name`` (a no-op when it is not running)."""

    def start_sequence(self, name: str, reason: str) -> None:
        """Start the recovery sequence ``name``."""

    def enter_safe(self, reason: str) -> None:
        """Put the node in safe mode."""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class _Verdict(NamedTuple):
    violating: bool
    value: str
    bound: str


@dataclass
class _Monitor:
    """The run-time state of one monitor."""

    spec: MonitorSpec
    enabled: bool
    count: int = 0
    tripped: bool = False
    stale: bool = False
    active: bool = True
    trips: int = 0
    value: float | None = None
    armed_at: float | None = None
    last_sampled: float | None = None
    baseline: float | None = None

    def rearm(self) -> None:
        self.count = 0
        self.tripped = False
        self.stale = False
        self.armed_at = None
        self.last_sampled = None
        self.baseline = None

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        if not self.active:
            return "inactive"
        if self.stale:
            return "stale"
        if self.tripped:
            return "tripped"
        return "counting" if self.count else "ok"


def _no_emit(name: str, detail: str) -> None:
    """Default ``emit``: events go nowhere."""


class FaultProtection:
    """The monitors of one node, checked every cycle, and the responses they trip.

    Args:
        tables: the monitor and response tables.
        points: the telemetry pool the monitors read.
        responder: carries out ``stop_sequence``, ``start_sequence`` and ``safe_mode`` actions.
        emit: ``emit(event, detail)`` for the events of :data:`EVENTS`.

    Attributes:
        autonomy: when False (the reset-loop guard tripped) ``start_sequence`` actions are not
            executed and ``recovery_inhibited`` is emitted instead; events, sequence stops and
            safe mode still run. True at construction.
    """

    def __init__(
        self,
        tables: FdirTables,
        points: PointSource,
        responder: Responder,
        *,
        emit: Emit | None = None,
    ) -> None:
        self.tables = tables
        self.autonomy = True
        self._points = points
        self._responder = responder
        self._emit = emit or _no_emit
        self._monitors = {spec.id: _Monitor(spec, spec.enabled) for spec in tables.monitors}
        self._trips = 0

    @property
    def trips(self) -> int:
        """Trips of every monitor since construction."""
        return self._trips

    def cycle(self, now: float) -> None:
        """Check every enabled monitor once, in table order, and run the responses they trip.

        Args:
            now: mission time, seconds (the same clock as the pool's ``time_sampled``).
        """
        for monitor in self._monitors.values():
            if not monitor.enabled:
                continue
            spec = monitor.spec
            if spec.active_point is not None:
                gate = self._points(spec.active_point)
                active = spec.active(None if gate is None else gate[0])
                if active != monitor.active:
                    monitor.active = active
                    monitor.rearm()
                if not active:
                    continue
            if monitor.armed_at is None:
                monitor.armed_at = now
            sample = self._points(spec.point)
            if self._stale(monitor, sample, now):
                continue
            verdict = self._check(monitor, sample)
            if verdict is None:
                continue
            if verdict.violating:
                monitor.count += 1
                if not monitor.tripped and monitor.count >= spec.persistence:
                    self._trip(monitor, verdict)
            else:
                monitor.count = 0
                if monitor.tripped:
                    monitor.tripped = False
                    self._emit(
                        "monitor_cleared",
                        f"monitor={spec.id} point={spec.point} value={verdict.value}",
                    )

    def _stale(self, monitor: _Monitor, sample: tuple[float, float] | None, now: float) -> bool:
        """Judge the sample's age: True while the monitor is stale (nothing else to judge)."""
        spec = monitor.spec
        max_age = spec.max_age or 0.0
        armed = now if monitor.armed_at is None else monitor.armed_at
        if sample is None:
            age, what = now - armed, "never_sampled"
        else:  # a sample from before the monitor was armed has max_age from the arming
            age = now - max(sample[1], armed)
            what = f"age:{_fmt(age)}"
        if age <= max_age:
            if monitor.stale:
                monitor.stale = False
                self._emit("monitor_fresh", f"monitor={spec.id} point={spec.point} {what}")
            return False
        if not monitor.stale:
            monitor.stale = True
            monitor.count = 0
            self._respond(
                monitor, "monitor_stale", _Verdict(True, what, f"max_age:{_fmt(max_age)}")
            )
        return True

    def _check(self, monitor: _Monitor, sample: tuple[float, float] | None) -> _Verdict | None:
        """Judge the monitor's sample; None when there is nothing new to judge (no sample, the
        sample already judged, a stale monitor, a delta baseline)."""
        spec = monitor.spec
        if spec.kind == "stale" or sample is None:
            return None
        value, sampled = sample
        if monitor.last_sampled is not None and sampled == monitor.last_sampled:
            return None  # the same sample again: judged once, the count is held
        monitor.last_sampled = sampled
        monitor.value = value
        if spec.kind == "limit":
            if not math.isfinite(value):
                return _Verdict(True, _fmt(value), "finite")
            if spec.low is not None and value < spec.low:
                return _Verdict(True, _fmt(value), f"low:{_fmt(spec.low)}")
            if spec.high is not None and value > spec.high:
                return _Verdict(True, _fmt(value), f"high:{_fmt(spec.high)}")
            return _Verdict(False, _fmt(value), self._bound(spec))
        # delta: against the previous sample
        previous, monitor.baseline = monitor.baseline, value
        if not math.isfinite(value):
            return _Verdict(True, _fmt(value), "finite")
        if previous is None or not math.isfinite(previous):
            return None
        change = abs(value - previous)
        return _Verdict(
            change > (spec.max_delta or 0.0),
            f"{_fmt(value)} change:{_fmt(change)}",
            self._bound(spec),
        )

    @staticmethod
    def _bound(spec: MonitorSpec) -> str:
        if spec.kind == "delta":
            return f"max_delta:{_fmt(spec.max_delta or 0.0)}"
        if spec.kind == "stale":
            return f"max_age:{_fmt(spec.max_age or 0.0)}"
        return ",".join(
            f"{name}:{_fmt(bound)}"
            for name, bound in (("low", spec.low), ("high", spec.high))
            if bound is not None
        )

    def _trip(self, monitor: _Monitor, verdict: _Verdict) -> None:
        monitor.tripped = True
        self._respond(monitor, "monitor_tripped", verdict)

    def _respond(self, monitor: _Monitor, event: str, verdict: _Verdict) -> None:
        """Report ``event`` (a trip or a staleness) and run the monitor's response."""
        spec = monitor.spec
        monitor.trips += 1
        self._trips += 1
        self._emit(
            event,
            f"monitor={spec.id} point={spec.point} value={verdict.value} bound={verdict.bound} "
            f"count={monitor.count} response={spec.response}",
        )
        what = "stale" if event == "monitor_stale" else "tripped"
        reason = f"monitor {spec.id} {what}: {spec.point} {verdict.value} ({verdict.bound})"
        response = self.tables.response(spec.response)
        for action in response.actions:
            try:
                self._run(action, response, spec, reason)
            except Exception as exc:  # the next actions (safe mode) must still run
                message = " ".join(str(exc).split())
                self._emit(
                    "response_action_failed",
                    f"response={response.id} action={_action_text(action)} monitor={spec.id}: "
                    f"{type(exc).__name__}: {message}",
                )

    def _run(self, action: Action, response: ResponseSpec, spec: MonitorSpec, reason: str) -> None:
        kind = action[0]
        if kind == EVENT:
            self._emit("fault_response", f"response={response.id} monitor={spec.id}: {reason}")
        elif kind == STOP_SEQUENCE:
            self._responder.stop_sequence(action[1], reason)
        elif kind == START_SEQUENCE:
            if self.autonomy:
                self._responder.start_sequence(action[1], reason)
            else:
                self._emit(
                    "recovery_inhibited",
                    f"response={response.id} sequence={action[1]} monitor={spec.id}: autonomy off",
                )
        else:
            self._responder.enter_safe(reason)

    def _get(self, monitor_id: str) -> _Monitor:
        try:
            return self._monitors[monitor_id]
        except (KeyError, TypeError):
            raise FdirError(f"unknown monitor {monitor_id!r}") from None

    def enable(self, monitor_id: str) -> None:
        """Enable a monitor; it starts afresh (count 0, armed at its next check, a delta monitor
        takes a new baseline). Enabling an enabled monitor changes nothing.

        Raises:
            FdirError: no monitor has this id.
        """
        monitor = self._get(monitor_id)
        if monitor.enabled:
            return
        monitor.enabled = True
        monitor.rearm()
        self._emit("monitor_enabled", f"monitor={monitor_id}")

    def disable(self, monitor_id: str) -> None:
        """Disable a monitor: it judges nothing, and a trip it was in is forgotten. Disabling a
        disabled monitor changes nothing.

        Raises:
            FdirError: no monitor has this id.
        """
        monitor = self._get(monitor_id)
        if not monitor.enabled:
            return
        was = monitor.state
        monitor.enabled = False
        monitor.rearm()
        self._emit("monitor_disabled", f"monitor={monitor_id} was={was}")

    def reset(self, monitor_id: str) -> None:
        """Reset a monitor's count, tripped and stale state (ground re-arms it): the sample in
        the pool is judged afresh, so a fault still present trips it again after
        ``persistence`` samples. Its trip total is kept.

        Raises:
            FdirError: no monitor has this id.
        """
        monitor = self._get(monitor_id)
        was = monitor.state
        monitor.count = 0
        monitor.tripped = False
        monitor.stale = False
        monitor.last_sampled = None
        self._emit("monitor_reset", f"monitor={monitor_id} was={was}")

    def status(self) -> dict[str, dict[str, Any]]:
        """Each monitor's status, by id: ``state`` (``"ok"``, ``"counting"``, ``"tripped"``,
        ``"stale"``, ``"inactive"``, ``"disabled"``), ``count`` (consecutive violating
        samples), ``value`` (the point's last value seen, None before any), ``trips``,
        ``kind`` and ``point``."""
        return {
            monitor_id: {
                "state": monitor.state,
                "count": monitor.count,
                "value": monitor.value,
                "trips": monitor.trips,
                "kind": monitor.spec.kind,
                "point": monitor.spec.point,
            }
            for monitor_id, monitor in self._monitors.items()
        }


# ----------------------------------------------------------------------------- reset-loop guard

_STATE_VERSION: Final = 1
_STATE_COUNTERS: Final = ("boots", "resets_total", "consecutive")
_STATE_FLAGS: Final = ("pending", "tripped")


class ResetGuard:
    """The reset-loop guard: counts boots that end before the node has been up ``stable_after``
    seconds, and keeps the node safe with autonomy off after too many in a row.

    Use: build it from the persisted state, call :meth:`boot` once at start and persist
    :meth:`state`; call :meth:`cycle` with the uptime and persist the state whenever it returns
    True; :meth:`clear` on ground command (persist after it too).

    A boot is *unstable* when the next boot comes before it was seen stable. ``consecutive`` is
    the number of unstable boots in a row before this one; :meth:`boot` trips the guard when it
    exceeds ``limit``, i.e. at the start that follows ``limit + 1`` quick boots. A tripped guard
    stays tripped across boots until the ground clears it or a boot stays up ``stable_after``
    seconds. Only the uptime within a boot is used, never time across boots.

    Args:
        state: the dict :meth:`state` returned last time, from the non-volatile store; None on
            the first boot. A state that does not read is reported (``reset_guard_state_invalid``)
            and the guard starts afresh.
        limit: unstable boots in a row that are tolerated (>= 0).
        stable_after: uptime, seconds, after which a boot counts as stable (> 0).
        emit: ``emit(event, detail)`` for the events of :data:`EVENTS`.

    Raises:
        FdirConfigError: ``limit`` or ``stable_after`` out of range.
    """

    def __init__(
        self,
        state: Mapping[str, Any] | None,
        *,
        limit: int = 3,
        stable_after: float = 600.0,
        emit: Emit | None = None,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise FdirConfigError(f"reset guard: limit: {limit!r} is not an integer >= 0")
        if (
            isinstance(stable_after, bool)
            or not isinstance(stable_after, int | float)
            or not math.isfinite(stable_after)
            or stable_after <= 0
        ):
            raise FdirConfigError(f"reset guard: stable_after: {stable_after!r} is not > 0")
        self.limit = limit
        self.stable_after = float(stable_after)
        self._emit = emit or _no_emit
        self._booted = False
        self._stable = False
        self._first = state is None
        self._boots = 0
        self._resets_total = 0
        self._consecutive = 0
        self._pending = False
        self._tripped = False
        self._last_cause: str | None = None
        if state is not None:
            problem = self._load(state)
            if problem:
                self._emit("reset_guard_state_invalid", f"{problem}; starting afresh")

    def _load(self, state: object) -> str | None:
        """Take the persisted state; the problem in one line when it does not read."""
        if not isinstance(state, Mapping):
            return f"state: expected a table, got {type(state).__name__}"
        if state.get("version", _STATE_VERSION) != _STATE_VERSION:
            return f"state: version {state.get('version')!r} is not {_STATE_VERSION}"
        loaded: dict[str, Any] = {}
        for key in _STATE_COUNTERS:
            value = state.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return f"state: {key}: {value!r} is not an integer >= 0"
            loaded[key] = value
        for key in _STATE_FLAGS:
            value = state.get(key, False)
            if not isinstance(value, bool):
                return f"state: {key}: {value!r} is not true or false"
            loaded[key] = value
        cause = state.get("last_cause")
        if cause is not None and not isinstance(cause, str):
            return f"state: last_cause: {cause!r} is not a string"
        self._boots = loaded["boots"]
        self._resets_total = loaded["resets_total"]
        self._consecutive = loaded["consecutive"]
        self._pending = loaded["pending"]
        self._tripped = loaded["tripped"]
        self._last_cause = cause
        return None

    @property
    def resets_total(self) -> int:
        """Boots that followed an earlier boot (every boot but the first ever)."""
        return self._resets_total

    @property
    def consecutive(self) -> int:
        """Unstable boots in a row before this one (0 once this boot is stable)."""
        return self._consecutive

    @property
    def tripped(self) -> bool:
        """True while a reset loop holds the node safe with autonomy off."""
        return self._tripped

    def boot(self, cause: str) -> bool:
        """Count this start; call once per start, before anything else, then persist
        :meth:`state`.

        Args:
            cause: why the node started (``"power_on"``, ``"watchdog"``, ...), recorded.

        Returns:
            True when autonomy may run; False (``reset_loop`` emitted) when the unstable boots
            in a row exceed ``limit`` or the guard is still tripped: stay safe, autonomy off.

        Raises:
            FdirError: called a second time.
        """
        if self._booted:
            raise FdirError("reset guard: boot() was already called for this start")
        self._booted = True
        cause = " ".join(str(cause).split()) or "unknown"
        if not self._first:
            self._resets_total += 1
        if self._pending:
            self._consecutive += 1
        self._pending = True
        self._boots += 1
        self._last_cause = cause
        if self._consecutive > self.limit:
            self._tripped = True
        detail = (
            f"cause={cause} consecutive={self._consecutive} limit={self.limit} "
            f"resets_total={self._resets_total}"
        )
        if self._tripped:
            self._emit("reset_loop", f"{detail}: staying safe with autonomy off until cleared")
            return False
        self._emit("boot_recorded", detail)
        return True

    def cycle(self, uptime: float) -> bool:
        """Note the uptime; once it reaches ``stable_after`` the boot is stable: the count of
        unstable boots returns to 0 and a tripped guard clears (``reset_loop_cleared``;
        ``boot_stable`` otherwise), once per boot.

        Args:
            uptime: seconds since this start (not mission time, which may restart from 0).

        Returns:
            True when the state changed and should be persisted.

        Raises:
            FdirError: called before :meth:`boot`.
        """
        if not self._booted:
            raise FdirError("reset guard: cycle() before boot()")
        if self._stable or uptime < self.stable_after:
            return False
        self._stable = True
        was_tripped, unstable = self._tripped, self._consecutive
        self._consecutive = 0
        self._pending = False
        self._tripped = False
        detail = f"uptime={_fmt(uptime)} after {unstable} unstable boots"
        if was_tripped:
            self._emit("reset_loop_cleared", f"stable boot: {detail}")
        else:
            self._emit("boot_stable", detail)
        return True

    def clear(self) -> None:
        """Ground command: forget the unstable boots and untrip the guard (persist after it).
        The current boot still counts as unstable if it ends before ``stable_after``."""
        was_tripped, unstable = self._tripped, self._consecutive
        self._consecutive = 0
        self._tripped = False
        self._emit(
            "reset_loop_cleared",
            f"by ground command: was tripped={was_tripped} after {unstable} unstable boots",
        )

    def state(self) -> dict[str, Any]:
        """The state to persist in the non-volatile store (JSON-compatible)."""
        return {
            "version": _STATE_VERSION,
            "boots": self._boots,
            "resets_total": self._resets_total,
            "consecutive": self._consecutive,
            "pending": self._pending,
            "tripped": self._tripped,
            "last_cause": self._last_cause,
        }
