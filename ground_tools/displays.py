"""Live displays: ``msr tlm`` (a telemetry table refreshed in place, or JSON lines) and
``msr events`` (events and limit events as they arrive), both with state names.

Limits (decision 0036): a value is coloured by its level against the limits declared beside its
field in the flight dictionary (:attr:`hal.protocol.devices.icd.Field.limits`), judged in the
node's current mode (its latest ``core.status`` ``mode``), each element of an array alone:
green in limits, yellow a caution, red out of limits. A point without declared limits is not
monitored: shown plain, its level ``null`` in JSON. A value never received shows as ``-``. An
enumerated value shows its state name and code, ``nominal (2)``.

``msr tlm --json`` writes one JSON object per point per refresh, one a line::

    {"name": "lander.sta.status.os_temp", "value": 40.1, "state": null, "unit": "degC",
     "level": "red", "limits": "yellow ..25, red ..30", "mode": "nominal", "time": 310.0,
     "utc": "2031-07-01T00:05:10.000Z"}

``msr events --json`` writes one object per event a line: ``kind`` ``event`` (``node``,
``time``, ``utc``, ``name``, ``id``, ``severity``, ``detail``) or ``limit`` (``node``,
``time``, ``utc``, ``name`` = the point, ``old``, ``new``, ``value``, ``state``, ``unit``,
``mode``, ``limits``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from fsw.dictionary import NODE_APIDS, node_dictionary
from ground_tools.api import GroundError, Session
from ground_tools.limits import MODE_FIELD, MODE_PACKET, limit_set_text, mode_name, worst
from ground_tools.telemetry import Received
from hal.protocol.devices.icd import Field

__all__ = [
    "LEVEL_STYLE",
    "Reading",
    "event_line",
    "event_record",
    "expand_names",
    "limit_line",
    "limit_record",
    "read_points",
    "reading",
    "telemetry_table",
    "watch_telemetry",
]

LEVEL_STYLE: Final = {"green": "green", "yellow": "yellow", "red": "bold red"}
"""The colour of each limit level; a point without limits is plain."""
SEVERITY_STYLE: Final = {"info": "white", "low": "cyan", "medium": "yellow", "high": "bold red"}
_CHUNK: Final = 200
"""Points asked in one ``latest`` request (the station takes at most 256)."""


def expand_names(names: Iterable[str]) -> list[tuple[str, Field | None]]:
    """``NODE``, ``NODE.PACKET`` or ``NODE.PACKET.FIELD`` names, expanded to fields.

    Raises:
        GroundError: an unknown node, packet or field (named).
    """
    out: list[tuple[str, Field | None]] = []
    for name in names or [f"{n}.core.status" for n in NODE_APIDS]:
        node, _, rest = name.partition(".")
        if node not in NODE_APIDS:
            raise GroundError(f"{name}: unknown node {node!r} (known: {', '.join(NODE_APIDS)})")
        d = node_dictionary(node)
        packets = [p for p in d.hk if not rest or rest == p.name or rest.startswith(p.name + ".")]
        if not packets:
            known = ", ".join(p.name for p in d.hk)
            raise GroundError(f"{name}: {node} has no such packet (known: {known})")
        for packet in packets:
            field_name = rest[len(packet.name) + 1 :] if rest.startswith(packet.name + ".") else ""
            fields = [f for f in packet.message.fields if not field_name or f.name == field_name]
            if not fields:
                raise GroundError(f"{name}: {node}.{packet.name} has no field {field_name!r}")
            out += [(f"{node}.{packet.name}.{f.name}", f) for f in fields]
    return out


@dataclass(frozen=True)
class Reading:
    """One telemetry point as the displays show it.

    Attributes:
        name: ``NODE.PACKET.FIELD``.
        value: its latest value (a list for an array field), None when never received.
        state: its state name (a list for an array), None when not enumerated.
        unit: its unit.
        level: ``green``, ``yellow`` or ``red`` (the worst element's for an array); None when
            the point has no limits or no value.
        levels: each element's level (an array), else ``(level,)``.
        limits: the limit set that applies now, in words ("" without limits).
        mode: the node's mode the value was judged in (None: unknown).
        time: the value's on-board time, None when never received.
        utc: that time as UTC text ("-" when unknown).
    """

    name: str
    value: Any
    state: Any
    unit: str
    level: str | None
    levels: tuple[str | None, ...]
    limits: str
    mode: str | None
    time: float | None
    utc: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``msr tlm --json``."""
        return {
            "name": self.name, "value": _json_value(self.value), "state": self.state,
            "unit": self.unit, "level": self.level, "limits": self.limits, "mode": self.mode,
            "time": self.time, "utc": self.utc,
        }  # fmt: skip


def reading(
    name: str, field: Field | None, found: dict[str, Any], mode: str | None,
    utc: Callable[[float], str] = lambda _t: "-",
) -> Reading:  # fmt: skip
    """One point's :class:`Reading` from a ``latest`` reply entry (``{"value", "time"}``, or
    ``{"error"}`` when nothing was received yet) and the node's mode."""
    value = found.get("value")
    when = found.get("time")
    unit = field.unit if field is not None else ""
    monitored = field is not None and field.limits is not None
    limits = limit_set_text(field, mode) if field is not None and monitored else ""
    items = value if isinstance(value, list) else [value]
    states = [field.state(v) if field is not None and field.enum else None for v in items]
    levels: list[str | None] = [
        field.level(v, mode) if monitored and v is not None and field is not None else None
        for v in items
    ]  # fmt: skip
    known = [level for level in levels if level is not None]
    level = worst(known) if known else None
    state: Any = states if isinstance(value, list) else states[0]
    if isinstance(value, list) and not any(s is not None for s in states):
        state = None
    shown_time = float(when) if isinstance(when, int | float) else None
    return Reading(name, value, state, unit, level, tuple(levels), limits, mode, shown_time,
                   "-" if shown_time is None else utc(shown_time))  # fmt: skip


def read_points(
    session: Session, names: list[tuple[str, Field | None]], epoch: datetime | None = None
) -> list[Reading]:
    """The latest value of each point, judged in its node's current mode (one round of
    ``latest`` requests: the points and each node's ``core.status.mode``)."""
    nodes = sorted({name.split(".")[0] for name, _ in names})
    mode_points = {node: f"{node}.{MODE_PACKET}.{MODE_FIELD}" for node in nodes}
    wanted = [name for name, _ in names] + list(mode_points.values())
    reply: dict[str, Any] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        reply.update(session.request(op="latest", names=chunk)["values"])
    modes = {}
    for node, point in mode_points.items():
        fields = {f.name: f for f in node_dictionary(node).hk_packet(MODE_PACKET).fields}
        modes[node] = mode_name(fields.get(MODE_FIELD), reply.get(point, {}).get("value"))
    utc = _utc(epoch)
    return [reading(name, field, reply.get(name, {}), modes[name.split(".")[0]], utc)
            for name, field in names]  # fmt: skip


def telemetry_table(
    session: Session, names: list[tuple[str, Field | None]], epoch: datetime | None = None
) -> Table:
    """One refresh of the telemetry table."""
    return _table(read_points(session, names, epoch), session.now())


def _table(readings: list[Reading], now: float) -> Table:
    table = Table(title=f"telemetry at t = {now:.1f} s", expand=False)
    for column in ("parameter", "value", "unit", "level", "limits", "time", "UTC"):
        table.add_column(column, justify="right" if column in ("value", "time") else "left")
    for r in readings:
        level = "-" if r.level is None else f"[{LEVEL_STYLE[r.level]}]{r.level}[/]"
        when = "-" if r.time is None else f"{r.time:.1f}"
        table.add_row(escape(r.name), _value_cell(r), r.unit, level, escape(r.limits), when, r.utc)
    return table


def _value_cell(r: Reading) -> str:
    """The value as rich markup: each element coloured by its own level, state names shown."""
    if r.value is None:
        return "[dim]-[/]"
    values = r.value if isinstance(r.value, list) else [r.value]
    states = r.state if isinstance(r.state, list) else [r.state] * len(values)
    cells = []
    for value, state, level in zip(values, states, r.levels, strict=False):
        text = escape(_format(value) if state is None else f"{state} ({_format(value)})")
        cells.append(text if level is None else f"[{LEVEL_STYLE[level]}]{text}[/]")
    return "[" + ", ".join(cells) + "]" if isinstance(r.value, list) else cells[0]


def watch_telemetry(
    session: Session, names: list[str], *, interval: float = 0.5, once: bool = False,
    console: Console | None = None, as_json: bool = False, epoch: datetime | None = None,
    write: Callable[[str], None] | None = None,
) -> None:  # fmt: skip
    """Show the table, refreshed in place every ``interval`` wall seconds until interrupted
    (``once``: one refresh, printed; not on a terminal: each refresh printed after the last).
    ``as_json``: each refresh as JSON lines (one object per point, :meth:`Reading.as_dict`)
    through ``write`` (default: standard output)."""
    fields = expand_names(names)
    if as_json:
        out = write or _print_line
        while True:
            for r in read_points(session, fields, epoch):
                out(json.dumps(r.as_dict()))
            if once:
                return
            time.sleep(interval)
    console = console or Console()
    if once or not console.is_terminal:  # a pipe or a file: one table per refresh, in order
        while True:
            console.print(telemetry_table(session, fields, epoch))
            console.file.flush()
            if once:
                return
            time.sleep(interval)
    with Live(telemetry_table(session, fields, epoch), console=console,
              auto_refresh=False) as live:  # fmt: skip
        while True:
            time.sleep(interval)
            live.update(telemetry_table(session, fields, epoch), refresh=True)


def event_line(packet: Received, epoch: datetime | None = None) -> str:
    """One event as a rich-markup line: time (simulated s and UTC), node, severity, name,
    detail."""
    severity = packet.values.get("severity", "info")
    style = SEVERITY_STYLE.get(severity, "white")
    detail = escape(str(packet.values.get("detail", "")))
    utc = _utc(epoch)(packet.time)
    return (f"[{style}]{packet.time:10.1f}  {utc}  {packet.node:8} {severity:6} "
            f"{escape(packet.name)}[/]  {detail}")  # fmt: skip


def event_record(packet: Received, epoch: datetime | None = None) -> dict[str, Any]:
    """One event as the JSON object of ``msr events --json``."""
    v = packet.values
    return {"kind": "event", "node": packet.node, "time": packet.time,
            "utc": _utc(epoch)(packet.time), "name": packet.name, "id": v.get("id"),
            "severity": v.get("severity"), "detail": v.get("detail", "")}  # fmt: skip


def limit_line(event: dict[str, Any], epoch: datetime | None = None) -> str:
    """One limit event (a ``limits`` reply's ``events`` entry, or an archived one as a dict)
    as a rich-markup line, coloured by its new level."""
    style = LEVEL_STYLE.get(event["new"], "white")
    value = _format(event["value"])
    if event.get("state"):
        value = f"{event['state']} ({value})"
    unit = event.get("unit") or ""
    unit = "" if unit == "-" else f" {unit}"
    mode = f", mode {event['mode']}" if event.get("mode") else ""
    utc = _utc(epoch)(event["time"])
    limits = escape(event.get("limits") or "")
    return (f"[{style}]{event['time']:10.1f}  {utc}  {event['node']:8} LIMIT  "
            f"{escape(event['point'])} {event['old']} -> {event['new']}[/]  "
            f"{escape(value)}{escape(unit)} ({limits}{mode})")  # fmt: skip


def limit_record(event: dict[str, Any], epoch: datetime | None = None) -> dict[str, Any]:
    """One limit event as the JSON object of ``msr events --json``."""
    return {"kind": "limit", "node": event["node"], "time": event["time"],
            "utc": _utc(epoch)(event["time"]), "name": event["point"], "old": event["old"],
            "new": event["new"], "value": _json_value(event["value"]),
            "state": event.get("state"), "unit": event.get("unit"),
            "mode": event.get("mode"), "limits": event.get("limits")}  # fmt: skip


def _utc(epoch: datetime | None) -> Callable[[float], str]:
    if epoch is None:
        return lambda _t: "-"
    from ground_tools.timefmt import utc_text

    return lambda t: utc_text(epoch, t)


def _print_line(line: str) -> None:
    print(line, flush=True)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)
