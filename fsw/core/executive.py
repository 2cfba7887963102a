"""The executive: rate groups driven by the injected clock, with cycle-slip detection.

A rate group runs its components, in order, every ``period`` seconds of mission time, on the
grid ``k * period`` (so a 10 Hz and a 1 Hz group stay in phase whatever the start time). At each
node cycle (:meth:`Executive.run`, with the clock's ``now``) every group whose next run is due
runs once. When ``now`` is past a group's due time by a whole period or more, the runs in between
were missed: they are not run late, one after another (that would make the node fall further
behind), but counted as slips, reported by ``core.cycle_slip``, and the group goes back on the
grid. In lockstep the simulator only jumps over spans where nothing is due
(:meth:`Executive.next_due`), so slips there mean a participant-held clock was late.

**Idle periods.** A group may have an ``idle_period``: while none of its components is busy
(:meth:`Component.busy`) it runs on the coarser grid ``k * idle_period`` instead, so a node with
nothing in progress lets the simulator jump over the empty 10 Hz cycles (a campaign that waits
hours for a thermal soak or a rendezvous costs seconds). A component that wants a run at a
given time says so in :meth:`Component.next_due`: its group runs then, off the grid, and that is
not a slip. Runs skipped on the fine grid while the group was idle are not slips either.

A component that raises in its cycle is reported (``core.app_error``); after
``health.app_error_limit`` consecutive errors it is stopped (``core.app_failed``): its group
goes on without it, its commands are refused ``component_failed``, and the health service
reports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fsw.core.component import Component

__all__ = ["Executive", "RateGroup", "grid_after", "grid_at_or_after"]

_EPS = 1e-9


@dataclass
class RateGroup:
    """Components run every ``period`` seconds.

    Attributes:
        name: the group's name (``fast``, ``slow``).
        period: seconds between runs, > 0.
        components: run in this order.
        idle_period: seconds between runs while no component is busy (None: ``period``).
        next_run: mission time of the next run on the ``period`` grid.
        next_idle: mission time of the next run on the ``idle_period`` grid.
        busy: some component was busy at the last run.
        runs, slips: counts since boot.
    """

    name: str
    period: float
    components: list[Component]
    idle_period: float | None = None
    next_run: float = 0.0
    next_idle: float = 0.0
    busy: bool = True
    runs: int = 0
    slips: int = 0
    last_start: float | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.period > 0:
            raise ValueError(f"rate group {self.name}: period must be > 0, not {self.period}")
        if self.idle_period is not None and not self.idle_period >= self.period:
            raise ValueError(f"rate group {self.name}: idle period below the period")

    def is_busy(self, now: float) -> bool:
        """A component needs the fine grid (always, without an idle period)."""
        return self.idle_period is None or any(c.busy(now) for c in self.components)

    def due(self, now: float) -> float:
        """When the group next runs on its grid (busy: ``period``, else ``idle_period``)."""
        return self.next_run if self.is_busy(now) else self.next_idle

    def asked(self, now: float) -> float | None:
        """The earliest run a component asked for (:meth:`Component.next_due`), or None."""
        times = [t for c in self.components if (t := c.next_due(now)) is not None]
        return min(times) if times else None


class Executive:
    """Runs the rate groups.

    Args:
        groups: the rate groups, run in this order when due together.
        emit: ``(event, detail)`` -> reports an event.
        error_limit: ``() ->`` consecutive errors before a component is stopped.
    """

    def __init__(
        self,
        groups: Sequence[RateGroup],
        emit: Callable[[str, str], None],
        error_limit: Callable[[], int],
    ) -> None:
        self.groups = list(groups)
        self.emit = emit
        self.error_limit = error_limit
        self.failed: set[str] = set()
        self.errors: dict[str, int] = {}
        self.cycles = 0
        self.alive: dict[str, int] = {}
        self._started = False

    @property
    def slips(self) -> int:
        """Rate-group runs missed since boot."""
        return sum(g.slips for g in self.groups)

    def start(self, now: float) -> None:
        """Put every group on its grid at or after ``now``."""
        for group in self.groups:
            group.next_run = grid_at_or_after(now, group.period)
            group.next_idle = grid_at_or_after(now, group.idle_period or group.period)
        self._started = True

    def run(self, now: float) -> list[str]:
        """Run every group due at ``now``; return the names of the groups run."""
        if not self._started:
            self.start(now)
        self.cycles += 1
        ran = []
        for group in self.groups:
            busy = group.is_busy(now)
            due = group.next_run if busy else group.next_idle
            if now + _EPS < due:
                asked = group.asked(now)
                if asked is None or now + _EPS < asked:
                    continue
                due = now  # a component asked for this run: not on the grid, not a slip
            period = group.period if busy else (group.idle_period or group.period)
            missed = math.floor((now - due) / period + _EPS)
            if busy and not group.busy and group.idle_period is not None:
                missed = 0  # the fine grid was not owed while the group was idle
            if missed >= 1:
                group.slips += missed
                self.emit(
                    "core.cycle_slip",
                    f"{group.name} ({group.period} s): {missed} run(s) missed at t = {now:.3f}",
                )
            group.runs += 1
            group.last_start = now
            group.busy = busy
            group.next_run = grid_after(now, group.period)
            group.next_idle = grid_after(now, group.idle_period or group.period)
            for component in group.components:
                self._run_one(component, now)
            ran.append(group.name)
        return ran

    def _run_one(self, component: Component, now: float) -> None:
        name = component.name
        if name in self.failed:
            return
        try:
            component.cycle(now)
        except Exception as exc:
            count = self.errors.get(name, 0) + 1
            self.errors[name] = count
            self.emit("core.app_error", f"{name}: {type(exc).__name__}: {exc}")
            if count >= self.error_limit():
                self.failed.add(name)
                self.emit("core.app_failed", f"{name} stopped after {count} errors")
            return
        self.errors[name] = 0
        self.alive[name] = self.alive.get(name, 0) + 1

    def next_due(self, now: float) -> float:
        """The earliest next run of any group at ``now``: on its grid, or sooner where one of
        its components asked for a run (:meth:`Component.next_due`, as :meth:`run` honours
        it). A component in no group never runs, so its asks do not count."""
        due = math.inf
        for group in self.groups:
            asked = group.asked(now)
            due = min(due, group.due(now), math.inf if asked is None else asked)
        return due


def grid_at_or_after(t: float, period: float) -> float:
    """The first multiple of ``period`` at or after ``t`` (within float noise)."""
    return round(math.ceil(t / period - 1e-9) * period, 9)


def grid_after(t: float, period: float) -> float:
    """The first multiple of ``period`` strictly after ``t`` (within float noise)."""
    return round((math.floor(t / period + 1e-9) + 1) * period, 9)
