"""PUS 9, time management: spacecraft time from the node's clock, reported for correlation.

The node's spacecraft time is its injected clock (simulated time in lockstep, the monotonic
clock in wall mode). Every ``2**rate`` seconds (TC[9,1] sets ``rate``, 0..12; 0 at boot gives one
report a second) the node sends TM[9,2]:

    rate uint8 | spacecraft time CUC 4+2 | cycle uint32

The TM packet's own time stamp is the same instant; the ground correlates it with the frame's
receipt time (minus the light time) to keep the onboard-to-ground time correlation.
"""

from __future__ import annotations

from collections.abc import Callable

from fsw.core.component import CommandContext, Component, NodeContext
from fsw.core.executive import grid_after, grid_at_or_after
from hal.protocol.cuc import CucTime

__all__ = ["TimeService"]


class TimeService(Component):
    """Time reports (component ``time``).

    Args:
        ctx: the node context.
        cycles: the executive's cycle count.
    """

    name = "time"

    def __init__(self, ctx: NodeContext, cycles: Callable[[], int]) -> None:
        super().__init__(ctx)
        self.rate = 0
        self.cycles = cycles
        self.next_at = 0.0
        self.reports = 0

    def start(self, now: float) -> None:
        """The first report at the next whole interval."""
        self.next_at = grid_at_or_after(now, float(2**self.rate))

    def cycle(self, now: float) -> None:
        """Report when due."""
        if now + 1e-9 < self.next_at:
            return
        stamp = CucTime.from_seconds(now)
        report = self.ctx.dictionary.report("time.report")  # its layout, declared once
        data = report.encode(rate=self.rate, coarse=stamp.coarse, fine=stamp.fine,
                             cycle=self.cycles() & 0xFFFFFFFF)  # fmt: skip
        self.ctx.send_tm(report.service, report.subtype, data)
        self.reports += 1
        self.next_at = grid_after(now, float(2**self.rate))

    def next_due(self, now: float) -> float | None:
        """The next report."""
        return self.next_at

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[9,1]: report every 2**rate seconds."""
        self.rate = int(cmd.args["rate"])
        self.next_at = grid_after(now, float(2**self.rate))
        self.ctx.emit("time.report_rate", f"every {2**self.rate} s")
