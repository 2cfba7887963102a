"""Wall-mode rate-group lateness: how late a 10 Hz rate group starts on the wall clock, beside a
plain Python ``time.sleep`` loop measured at the same time (issue 18).

Two child processes run side by side for the same span, so they share the machine's load:

* ``executive``: the node's :class:`~fsw.core.executive.Executive` with one 10 Hz rate group on
  a :class:`~hal.clock.WallClock`, driven by the node process's own wall-clock loop
  (``fsw.__main__._run_wall``), which waits between cycles in ``select`` on the node's radio:
  here a real pseudo-terminal read through the links' :class:`~hal.links.channel.FrameReader`,
  as a node's quiet uplink is. A probe component in the group records, at each run, how far
  past its grid time (``k * 0.1`` s of mission time) the run started.
* ``sleep``: ``time.sleep`` until each grid time, then the same measurement.

Each child prints one JSON line: the runs, the slips (runs the executive missed) and the
lateness's p50, p99 and max in milliseconds. ``python -m benchmarks.lateness KIND SECONDS``
runs one child.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from typing import Any, Final

PERIOD: Final = 0.1
"""The fast rate group's period, s (10 Hz)."""


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p99 and max of ``samples`` (seconds), in milliseconds (nearest rank)."""
    if not samples:
        return {"p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))] * 1e3

    return {"p50_ms": rank(0.50), "p99_ms": rank(0.99), "max_ms": ordered[-1] * 1e3}


class _Probe:
    """A component of the fast group that notes how late each of its runs starts."""

    name = "probe"

    def __init__(self) -> None:
        self.lateness: list[float] = []

    def start(self, now: float) -> None:
        """Nothing to set up."""

    def cycle(self, now: float) -> None:
        """Note the lateness of this run against the grid point it belongs to."""
        grid = math.floor(now / PERIOD + 1e-9) * PERIOD
        self.lateness.append(now - grid)

    def busy(self, now: float) -> bool:
        """Always on the fine grid."""
        return True

    def next_due(self, now: float) -> float | None:
        """Only the grid."""
        return None


class _ExecutiveNode:
    """What ``_run_wall`` needs of a node: ``cycle``, ``next_due``, ``now``; here the bare
    executive with the probe's group, stopping itself after ``seconds``."""

    def __init__(self, seconds: float, stopping: threading.Event) -> None:
        from fsw.core.executive import Executive, RateGroup
        from hal.clock import WallClock

        self.clock = WallClock()
        self.probe = _Probe()
        group = RateGroup("fast", PERIOD, [self.probe])  # type: ignore[list-item]
        self.executive = Executive([group], lambda event, detail: None, lambda: 3)
        self.seconds = seconds
        self.stopping = stopping

    def now(self) -> float:
        """Mission time on the wall clock."""
        return self.clock.now()

    def cycle(self) -> None:
        """One node cycle: the groups due now."""
        now = self.clock.now()
        if now >= self.seconds:
            self.stopping.set()
            return
        self.executive.run(now)

    def next_due(self) -> float:
        """The executive's next run."""
        return self.executive.next_due(self.clock.now())


class _QuietRadio:
    """What ``_run_wall`` asks of a radio: ``poll(timeout)``, a wait in ``select`` on a real
    link for the first byte of an uplink frame (none comes)."""

    def __init__(self) -> None:
        from hal.links import open_link
        from hal.links.channel import FrameReader
        from hal.protocol.framing import Deframer

        self.link = open_link("pty://")
        self._reader = FrameReader(self.link, Deframer())

    def poll(self, timeout: float | None = 0, *, report: bool = True) -> int:
        """Wait at most ``timeout`` for uplink bytes; the frames they complete."""
        return len(self._reader.read(timeout))


def measure_executive(seconds: float) -> dict[str, Any]:
    """The executive in the node's wall-clock loop for ``seconds``."""
    from fsw.__main__ import _run_wall

    stopping = threading.Event()
    node = _ExecutiveNode(seconds, stopping)
    radio = _QuietRadio()
    try:
        _run_wall(node, radio, stopping)  # type: ignore[arg-type]
    finally:
        radio.link.close()
    samples = node.probe.lateness[1:]  # the first run starts the grid
    return {"runs": len(samples), "slips": node.executive.slips, **percentiles(samples)}


def measure_sleep(seconds: float) -> dict[str, Any]:
    """A plain ``time.sleep`` loop on the same grid for ``seconds``."""
    start = time.monotonic()
    samples: list[float] = []
    k = 1
    while k * PERIOD < seconds:
        due = start + k * PERIOD
        time.sleep(max(0.0, due - time.monotonic()))
        samples.append(time.monotonic() - due)
        k += 1
    slips = sum(1 for late in samples if late >= PERIOD)
    return {"runs": len(samples), "slips": slips, **percentiles(samples)}


def run(seconds: float = 60.0) -> dict[str, Any]:
    """Both loops side by side, each in its own process, for ``seconds``."""
    children = {}
    for kind in ("executive", "sleep"):
        command = [sys.executable, "-m", "benchmarks.lateness", kind, str(seconds)]
        children[kind] = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out: dict[str, Any] = {"seconds": seconds, "period": PERIOD}
    for kind, child in children.items():
        text, _ = child.communicate(timeout=seconds + 60)
        if child.returncode != 0:
            raise RuntimeError(f"lateness {kind}: exit status {child.returncode}")
        out[kind] = json.loads(text.strip().splitlines()[-1])
    out["p99_over_sleep_ms"] = out["executive"]["p99_ms"] - out["sleep"]["p99_ms"]
    return out


def main(argv: list[str]) -> int:
    """``KIND SECONDS``: run one loop and print its figures."""
    kind, seconds = argv[0], float(argv[1])
    result = measure_executive(seconds) if kind == "executive" else measure_sleep(seconds)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
