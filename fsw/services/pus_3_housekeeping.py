"""PUS 3, housekeeping: each component's packets at their period, enable/disable, one-shot.

Every housekeeping packet declared in the node's dictionary is collected from its component
(:meth:`~fsw.core.component.Component.housekeeping`) and sent as TM[3,25] every ``period``
seconds of mission time while enabled (all are enabled at boot). TC[3,5]/TC[3,6] enable/disable
one SID, TC[3,27] sends one at once, TC[3,31] changes its period. The last values sent are kept
in :attr:`Housekeeping.points` (``<packet>.<field>`` -> (value, time)), the pool the fault
monitors read.
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
        self.points: dict[str, tuple[Any, float]] = {}
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
        values = self._collect(now, {self.ctx.dictionary.hk_packet(sid).component for sid in due})
        for sid in due:
            self._send(sid, values, now)
            self.next_at[sid] = grid_after(now, self.period[sid])

    def next_due(self, now: float) -> float | None:
        """The next report due."""
        dues = [at for sid, at in self.next_at.items() if self.enabled[sid]]
        return min(dues) if dues else None

    def _collect(self, now: float, names: set[str]) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for name in names:
            component = self.components.get(name)
            if component is not None:
                values.update(component.housekeeping(now))
        return values

    def _send(self, sid: int, values: Mapping[str, dict[str, Any]], now: float) -> None:
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
            self.points[f"{packet.name}.{key}"] = (value, now)

    def point(self, name: str) -> tuple[float, float] | None:
        """The last value sent of ``<packet>.<field>`` and when (the monitors' pool)."""
        entry = self.points.get(name)
        if entry is None or isinstance(entry[0], list | tuple):
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
            self._send(sid, self._collect(now, {component}), now)
        else:
            period = float(cmd.args["period"])
            self.period[sid] = period
            self.next_at[sid] = grid_after(now, period)
