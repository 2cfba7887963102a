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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.core.executive import grid_after, grid_at_or_after
from hal.errors import EncodeError

__all__ = ["Housekeeping"]


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
            data = packet.encode(row)
        except (EncodeError, TypeError, ValueError) as exc:
            self.errors += 1
            self.ctx.emit("core.app_error", f"hk {packet.name}: {exc}")
            return
        self.ctx.send_tm(3, 25, data)
        self.sent += 1
        for key, value in row.items():
            point = f"{packet.name}.{key}"
            self.points[point] = (value, times.get(point, now))

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
