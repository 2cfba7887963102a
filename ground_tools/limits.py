"""Limit monitoring on the ground (issue 19, decision 0036): every telemetry sample the station
decodes is judged against its field's declared limits, and each change of level is a limit event.

Pure and I/O-free: the ground station (:mod:`ground_tools.station`) feeds a
:class:`LimitMonitor` each decoded housekeeping packet and report, archives the
:class:`LimitEvent` it returns (:meth:`ground_tools.archive.Archive.add_limit`) and serves the
current state (:meth:`LimitMonitor.listing`) on its control port (op ``limits``).

The rules, in the terms of :class:`hal.protocol.devices.icd.Limits`:

* A point is one telemetry value: ``NODE.PACKET.FIELD``, and ``NODE.PACKET.FIELD[i]`` for each
  element of an array field, judged alone (the archive names the elements the same way).
* The level is :meth:`Field.level` of the value in the node's **current mode**: the state name
  of the node's latest ``core.status`` ``mode`` (a ``core.status`` packet sets the mode before
  its own fields are judged). Before the first ``core.status`` the mode is unknown and the
  default set applies.
* A point never seen is ``green``: its first sample out of limits is a transition from green
  (as COSMOS and Yamcs treat a point that starts out of limits), a first sample in limits is no
  event. The station's state starts empty with each station process.
* An event records the point, the old and new level, the value (and its state name for an
  enumerated point), the unit, the mode, the limit set that applied (in words) and the
  sample's on-board time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from fsw.dictionary import MODES, NodeDictionary
from hal.protocol.devices.icd import LEVELS, Field

__all__ = [
    "LEVELS",
    "MODE_FIELD",
    "MODE_PACKET",
    "LimitEvent",
    "LimitMonitor",
    "PointState",
    "limit_set_text",
    "limited_points",
    "mode_name",
    "replay",
    "worst",
]

MODE_PACKET: Final = "core.status"
MODE_FIELD: Final = "mode"
"""Where a node reports its mode (``NODE.core.status.mode``), as a code of :data:`MODES`."""
RANK: Final = {level: index for index, level in enumerate(LEVELS)}


def worst(levels: Iterable[str]) -> str:
    """The most severe of ``levels`` (``green`` when there are none)."""
    return max(levels, key=lambda level: RANK.get(level, 0), default="green")


def mode_name(field: Field | None, value: Any) -> str | None:
    """The mode a ``core.status`` ``mode`` value names: its state name when the field is
    enumerated, else the name of :data:`MODES` at that code; None for anything else."""
    if field is not None and field.enum:
        return field.state(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    code = int(value)
    return MODES[code] if 0 <= code < len(MODES) else None


def limit_set_text(field: Field, mode: str | None) -> str:
    """The limits that apply to ``field`` in ``mode``, in words: the states that are a caution
    or red for an enumerated point, else the numeric set (``in critical: ...`` when the mode
    has its own)."""
    limits = field.limits
    if limits is None:
        return ""
    if field.enum and (limits.yellow_states or limits.red_states):
        parts = []
        if limits.yellow_states:
            parts.append("yellow when " + " or ".join(limits.yellow_states))
        if limits.red_states:
            parts.append("red when " + " or ".join(limits.red_states))
        return "; ".join(parts)
    chosen = limits.set_for(mode)
    text = chosen.describe() or "none"
    if mode is not None and chosen is not limits.default:
        return f"in {mode}: {text}"
    return text


def _number(value: Any) -> Any:
    """A value as JSON can carry it: a non-finite float as its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass(frozen=True)
class LimitEvent:
    """One change of a point's limit level.

    Attributes:
        node: the node that reported the sample.
        point: ``NODE.PACKET.FIELD`` (``[i]`` for an array's element).
        time: the sample's on-board time (simulated seconds).
        old, new: the levels before and after (:data:`LEVELS`).
        value: the sample's value.
        state: its state name when the point is enumerated, else None.
        unit: the field's unit.
        mode: the node's mode the sample was judged in (None: not known yet).
        limits: the limit set that applied, in words (:func:`limit_set_text`).
    """

    node: str
    point: str
    time: float
    old: str
    new: str
    value: Any
    state: str | None
    unit: str
    mode: str | None
    limits: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        out = asdict(self)
        out["value"] = _number(self.value)
        return out


@dataclass
class PointState:
    """The current level of one limited point, as the monitor knows it.

    Attributes:
        node, point, unit: as :class:`LimitEvent`.
        level: its level now.
        value, state: its latest value (and state name).
        time: the latest sample's time.
        since: when it entered ``level`` (None: green since it was first seen).
        mode, limits: the mode and the limit set of the latest sample.
    """

    node: str
    point: str
    unit: str
    level: str
    value: Any
    state: str | None
    time: float
    since: float | None
    mode: str | None
    limits: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        out = asdict(self)
        out["value"] = _number(self.value)
        return out


def limited_points(dictionaries: Mapping[str, NodeDictionary]) -> Iterator[tuple[str, str, Field]]:
    """Every monitored point of the nodes, in dictionary order: ``(node, point, field)``, one
    per array element."""
    for node, d in dictionaries.items():
        for packet_name, fields in _packets(d):
            for field in fields:
                if field.limits is None:
                    continue
                base = f"{node}.{packet_name}.{field.name}"
                if field.count > 1:
                    for index in range(field.count):
                        yield node, f"{base}[{index}]", field
                else:
                    yield node, base, field


def _packets(d: NodeDictionary) -> Iterator[tuple[str, tuple[Field, ...]]]:
    for packet in d.hk:
        yield packet.name, packet.fields
    for report in d.reports:
        yield report.name, report.fields


class LimitMonitor:
    """The limit state of every monitored point of some nodes (see the module docstring).

    Args:
        dictionaries: each node's flight dictionary, by node name.
    """

    def __init__(self, dictionaries: Mapping[str, NodeDictionary]) -> None:
        self.dictionaries = dict(dictionaries)
        self._fields: dict[tuple[str, str], dict[str, Field]] = {}
        for node, d in self.dictionaries.items():
            for packet_name, fields in _packets(d):
                self._fields[(node, packet_name)] = {f.name: f for f in fields}
        self.modes: dict[str, str | None] = dict.fromkeys(self.dictionaries)
        self.points: dict[str, PointState] = {}
        self._texts: dict[tuple[int, str | None], str] = {}  # limit_set_text by field and mode

    def check(
        self, node: str, packet: str, time: float, values: Mapping[str, Any]
    ) -> list[LimitEvent]:
        """Judge one decoded packet; the transitions it makes, in field order.

        Args:
            node: the node that sent it.
            packet: its name (``core.status``, ``sta.status``); a packet the node's dictionary
                does not declare is ignored.
            time: its on-board time (simulated seconds).
            values: its decoded fields (an array field as a list).

        Returns:
            The limit events, empty when no point changed level.
        """
        fields = self._fields.get((node, packet))
        if fields is None:
            return []
        if packet == MODE_PACKET and MODE_FIELD in values:
            self.modes[node] = mode_name(fields.get(MODE_FIELD), values[MODE_FIELD])
        mode = self.modes.get(node)
        events: list[LimitEvent] = []
        for name, value in values.items():
            field = fields.get(name)
            if field is None or field.limits is None:
                continue
            base = f"{node}.{packet}.{name}"
            if isinstance(value, list | tuple):
                items = [(f"{base}[{i}]", item) for i, item in enumerate(value)]
            else:
                items = [(base, value)]
            text = self._texts.get((id(field), mode))
            if text is None:
                text = self._texts[(id(field), mode)] = limit_set_text(field, mode)
            for point, item in items:
                event = self._judge(node, point, field, item, time, mode, text)
                if event is not None:
                    events.append(event)
        return events

    def _judge(
        self, node: str, point: str, field: Field, value: Any, time: float, mode: str | None,
        text: str,
    ) -> LimitEvent | None:  # fmt: skip
        try:
            level = field.level(value, mode)
        except (TypeError, ValueError, OverflowError):
            level = "red"  # a value the limits cannot read is not a normal one
        state = field.state(value) if field.enum else None
        known = self.points.get(point)
        old = "green" if known is None else known.level
        if known is None:
            known = self.points[point] = PointState(
                node, point, field.unit, level, value, state, time, None, mode, text
            )
        if old != level:
            known.since = time
        known.level, known.value, known.state = level, value, state
        known.time, known.mode, known.limits = time, mode, text
        if old == level:
            return None
        return LimitEvent(node, point, time, old, level, value, state, field.unit, mode, text)

    def out_of_limits(self) -> list[PointState]:
        """The points not green now, in the order first seen."""
        return [p for p in self.points.values() if p.level != "green"]

    def listing(self, *, every: bool = False) -> list[dict[str, Any]]:
        """What is out of limits now, or (``every``) every monitored point of the nodes with its
        level (``level`` None for a point never received), as JSON-friendly rows."""
        if not every:
            return [p.as_dict() for p in self.out_of_limits()]
        rows = []
        for node, point, field in limited_points(self.dictionaries):
            known = self.points.get(point)
            if known is not None:
                rows.append(known.as_dict())
                continue
            rows.append({
                "node": node, "point": point, "unit": field.unit, "level": None, "value": None,
                "state": None, "time": None, "since": None, "mode": self.modes.get(node),
                "limits": limit_set_text(field, self.modes.get(node)),
            })  # fmt: skip
        return rows


def replay(records: Iterable[Any]) -> dict[str, PointState]:
    """The limit state the archived limit events leave, point by point: what ``msr limits
    --archive`` lists for a bench that is down.

    Args:
        records: archived limit events in time order
            (:class:`ground_tools.archive.LimitRecord`: ``node``, ``point``, ``sim_time``,
            ``new_level``, ``value``, ``state``, ``unit``, ``mode``, ``limit_set``).

    Returns:
        Each point's state after its last event (``value`` the value of that event).
    """
    points: dict[str, PointState] = {}
    for r in records:
        points[r.point] = PointState(r.node, r.point, r.unit, r.new_level, r.value, r.state,
                                     r.sim_time, r.sim_time, r.mode, r.limit_set)  # fmt: skip
    return points
