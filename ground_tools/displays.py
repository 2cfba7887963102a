"""Live displays: ``msr tlm`` (a telemetry table refreshed in place, values coloured against
their declared limits) and ``msr events`` (events as they arrive, coloured by severity).

Limits: every housekeeping field declares its range in the flight dictionary. A value outside it
is red; a value in the outer tenth of the range, yellow (a caution band, as COSMOS's yellow
limits); otherwise green. A value never received yet shows as ``-``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from rich.console import Console
from rich.live import Live
from rich.table import Table

from fsw.dictionary import NODE_APIDS, node_dictionary
from ground_tools.api import GroundError, Session
from ground_tools.telemetry import Received
from hal.protocol.devices.icd import Field

__all__ = ["event_line", "expand_names", "limit_colour", "telemetry_table", "watch_telemetry"]

CAUTION: Final = 0.1
"""The outer fraction of a field's range shown as a caution (yellow)."""
SEVERITY_STYLE: Final = {"info": "white", "low": "cyan", "medium": "yellow", "high": "bold red"}


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


def limit_colour(value: Any, field: Field | None) -> str:
    """``red``, ``yellow`` or ``green`` for ``value`` against ``field``'s declared range.

    The caution band is the top tenth of the range, and the bottom tenth of a range that goes
    below zero (a count or a level at 0 is its normal state, not a caution).
    """
    if field is None or isinstance(value, (list, str)) or value is None:
        return "white"
    number = float(value)
    lo, hi = field.lo, field.hi
    if not lo <= number <= hi:
        return "red"
    band = (hi - lo) * CAUTION
    if field.kind != "bool" and (number > hi - band or (lo < 0 and number < lo + band)):
        return "yellow"
    return "green"


def telemetry_table(session: Session, names: list[tuple[str, Field | None]]) -> Table:
    """One refresh of the telemetry table."""
    reply = session.request(op="latest", names=[n for n, _ in names])["values"]
    table = Table(title=f"telemetry at t = {session.now():.1f} s", expand=False)
    for column in ("parameter", "value", "unit", "range", "time"):
        table.add_column(column, justify="right" if column in ("value", "time") else "left")
    for name, field in names:
        found = reply.get(name, {})
        value = found.get("value")
        shown = "-" if value is None else _format(value)
        colour = "dim" if value is None else limit_colour(value, field)
        unit = field.unit if field else ""
        span = f"{field.lo:g} .. {field.hi:g}" if field else ""
        when = f"{found['time']:.1f}" if "time" in found else "-"
        table.add_row(name, f"[{colour}]{shown}[/]", unit, span, when)
    return table


def watch_telemetry(
    session: Session, names: list[str], *, interval: float = 0.5, once: bool = False,
    console: Console | None = None,
) -> None:  # fmt: skip
    """Show the table, refreshed in place every ``interval`` wall seconds until interrupted
    (``once``: one refresh, printed)."""
    console = console or Console()
    fields = expand_names(names)
    if once:
        console.print(telemetry_table(session, fields))
        return
    with Live(telemetry_table(session, fields), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(interval)
            live.update(telemetry_table(session, fields), refresh=True)


def event_line(packet: Received) -> str:
    """One event as a rich-markup line."""
    severity = packet.values.get("severity", "info")
    style = SEVERITY_STYLE.get(severity, "white")
    detail = packet.values.get("detail", "")
    return (f"[{style}]{packet.time:10.1f}  {packet.node:8} {severity:6} {packet.name}"
            f"[/]  {detail}")  # fmt: skip


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)
