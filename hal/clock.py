"""The injected clock: what every part of the bench asks instead of ``time.time``/``time.sleep``.

architecture.md §4. Time is *mission time*: seconds since the mission epoch of the simulation
clock, a float. Three sources implement :class:`Clock`:

* :class:`WallClock` runs on ``time.monotonic`` (HIL, or ``clock = "wall"`` in the bench file).
  This module is the one place in ``hal`` and ``fsw`` that reads the host's clock.
* :class:`ManualClock` is moved by hand (tests), like trio's ``MockClock``.
* :class:`hal.links.timing.TimingClient` is the lockstep participant's clock: the time of the
  tick the simulator last sent.

A clock only tells the time; nothing here waits. Code that must wait does so on a link, with a
timeout, and asks its clock what time it is when the link wakes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "WallClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of mission time."""

    def now(self) -> float:
        """Seconds of mission time; never less than a value returned earlier."""
        ...


class WallClock:
    """Mission time that follows the host's monotonic clock.

    Args:
        start: the mission time at construction, in seconds.
        source: the monotonic source (seconds); injectable for tests.
    """

    def __init__(self, start: float = 0.0, source: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._offset = start - source()

    @classmethod
    def since(cls, epoch: float, source: Callable[[], float] = time.monotonic) -> WallClock:
        """Mission time ``source() - epoch``: the processes of one host given the same epoch
        of ``time.monotonic`` (one clock for the whole system) read one time line (the
        wall-clock bench, decision 0031)."""
        clock = cls.__new__(cls)  # the source is not read until asked
        clock._source = source
        clock._offset = -epoch
        return clock

    def now(self) -> float:
        """``start`` plus the monotonic seconds elapsed since construction."""
        return self._offset + self._source()


class ManualClock:
    """Mission time moved only by :meth:`set` and :meth:`advance` (tests).

    Args:
        start: the initial mission time, in seconds.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = _checked(start, "start")

    def now(self) -> float:
        """The time last set."""
        return self._now

    def set(self, to_time: float) -> None:
        """Move to ``to_time``.

        Raises:
            ValueError: ``to_time`` is earlier than :meth:`now` or not finite.
        """
        to_time = _checked(to_time, "to_time")
        if to_time < self._now:
            raise ValueError(f"a clock never goes back: {to_time!r} < {self._now!r}")
        self._now = to_time

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (>= 0).

        Raises:
            ValueError: ``seconds`` is negative or not finite.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"advance by a finite, non-negative number, not {seconds!r}")
        self._now += seconds


def _checked(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    return float(value)
