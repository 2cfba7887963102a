"""PUS 3, housekeeping: each component's packets at their period, enable/disable, one-shot.

Every housekeeping packet declared in the node's dictionary is collected from its component
(:meth:`~fsw.core.component.Component.housekeeping`) and sent as TM[3,25] every ``period``
seconds of mission time while enabled (all are enabled at boot). TC[3,5]/TC[3,6] enable/disable
one SID, TC[3,27] sends one at once, TC[3,31] changes its period. The last values sent are kept
in :attr:`Housekeeping.points` (``<packet>.<field>`` -> (value, time sampled)), the pool the fault
monitors read. The time sampled is when the value was measured: the collection time, unless the
component says otherwise (:meth:`~fsw.core.component.Component.sample_times`: the time of the
device reading it comes from, or None for a value never measured, which the pool does not hand
out). So a value an app read once and keeps reporting is one sample, not one per packet.

A value is carried as it is whenever its field's kind can carry it, out of its declared range
or not (limits judge it on the ground; decision 0035). A value beyond its kind (300 in a u8)
is never clamped: the field carries its kind's marker
(:data:`~fsw.dictionary.model.INVALID`), the error is counted
(``core.status.encoding_errors``) and reported (``core.encoding_error``, naming packet, field
and value, at most every :data:`ENCODING_EVENT_INTERVAL` s per field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.core.executive import grid_after, grid_at_or_after
from fsw.dictionary.model import EncodingIssue
from hal.errors import EncodeError

__all__ = ["ENCODING_EVENT_INTERVAL", "Housekeeping"]

ENCODING_EVENT_INTERVAL: Final = 60.0
"""Seconds of node time between two ``core.encoding_error`` events of one field (every
error is counted in ``core.status.encoding_errors``)."""


class Housekeeping(Component):
    """The node's housekeeping service (component ``hk``).

    Args:
        ctx: the node context.
        components: every component by name (to collect from).
    """

    name = "hk"

    def __init__(self, ctx: NodeContext, components: Mapping[str, Component]) -> None:
        super().__init__(ctx)
        self.components = components
        packets = ctx.dictionary.hk
        self.enabled = {p.sid: True for p in packets}
        self.period = {p.sid: p.period for p in packets}
        self.next_at: dict[int, float] = {}
        self.points: dict[str, tuple[Any, float | None]] = {}
        self.sent = 0
        self.errors = 0
        self.encoding_errors = 0
        """Housekeeping values beyond their field's kind since boot (``core.status``)."""
        self._encoding_reported: dict[str, float] = {}

    def start(self, now: float) -> None:
        """Every packet's first report at the next multiple of its period."""
        for sid, period in self.period.items():
            self.next_at[sid] = grid_at_or_after(now, period)

    def cycle(self, now: float) -> None:
        """Send every enabled packet that is due."""
        due = [sid for sid, at in self.next_at.items() if self.enabled[sid] and at <= now + 1e-9]
        if not due:
            return
        names = {self.ctx.dictionary.hk_packet(sid).component for sid in due}
        values, times = self._collect(now, names)
        for sid in due:
            self._send(sid, values, now, times)
            self.next_at[sid] = grid_after(now, self.period[sid])

    def next_due(self, now: float) -> float | None:
        """The next report due."""
        dues = [at for sid, at in self.next_at.items() if self.enabled[sid]]
        return min(dues) if dues else None

    def _collect(
        self, now: float, names: set[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, float | None]]:
        values: dict[str, dict[str, Any]] = {}
        times: dict[str, float | None] = {}
        for name in names:
            component = self.components.get(name)
            if component is not None:
                values.update(component.housekeeping(now))
                times.update(component.sample_times(now))
        return values, times

    def _send(
        self, sid: int, values: Mapping[str, dict[str, Any]], now: float,
        times: Mapping[str, float | None],
    ) -> None:  # fmt: skip
        packet = self.ctx.dictionary.hk_packet(sid)
        row = values.get(packet.name)
        if row is None:
            return
        try:
            packed = packet.pack(row)
        except (EncodeError, TypeError, ValueError) as exc:
            self.errors += 1
            self.ctx.emit("core.app_error", f"hk {packet.name}: {exc}")
            return
        for issue in packed.errors:
            self._encoding_error(issue, now)
        self.ctx.send_tm(3, 25, packed.data)
        self.sent += 1
        for key, value in row.items():
            point = f"{packet.name}.{key}"
            self.points[point] = (value, times.get(point, now))

    def _encoding_error(self, issue: EncodingIssue, now: float) -> None:
        """Count a value beyond its field's kind and report it: an event per field at most
        every :data:`ENCODING_EVENT_INTERVAL` s (every one counted; decision 0035)."""
        self.encoding_errors += 1
        key = f"{issue.packet}.{issue.field}"
        last = self._encoding_reported.get(key)
        if last is not None and now - last < ENCODING_EVENT_INTERVAL:
            return
        self._encoding_reported[key] = now
        self.ctx.emit("core.encoding_error", issue.describe())

    def point(self, name: str) -> tuple[float, float] | None:
        """The last value sent of ``<packet>.<field>`` and when it was measured (the monitors'
        pool); None when none was sent, or the value sent was never measured."""
        entry = self.points.get(name)
        if entry is None or entry[1] is None or isinstance(entry[0], list | tuple):
            return None
        return float(entry[0]), entry[1]

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[3,5] enable, TC[3,6] disable, TC[3,27] report now, TC[3,31] set the period."""
        sid = cmd.args["sid"]
        if sid not in self.enabled:
            raise CommandError(f"out_of_range: no housekeeping SID {sid}")
        action = cmd.command.name
        if action == "hk.enable":
            self.enabled[sid] = True
        elif action == "hk.disable":
            self.enabled[sid] = False
        elif action == "hk.report":
            component = self.ctx.dictionary.hk_packet(sid).component
            values, times = self._collect(now, {component})
            self._send(sid, values, now, times)
        else:
            period = float(cmd.args["period"])
            self.period[sid] = period
            self.next_at[sid] = grid_after(now, period)
