"""Which process of a bench died, and when: the campaign's witness (decision 0029).

A bench is the simulator, one flight-software process per node and the ground station, each
started by ``msr bench up`` (:mod:`ground_tools.bench_ctl`) as a child of the process that brought
the bench up. :class:`ProcessWatch` polls them from a thread every :data:`POLL` wall seconds
while a campaign runs, reaping each child that ends and keeping how it ended (the signal or the
exit status) and when (wall seconds since the watch started). The bench's own record is read at
each poll, so a node restarted on purpose (``reset_node``, which kills it with SIGKILL and then
records its successor) is followed under its new id: a death whose process the record has since
replaced is a restart, not reported.

When one process dies the others follow it (the station and the nodes end when the simulator's
links close; the simulator aborts the lockstep when a participant stops answering), so the
**cause** is the first to end: of those seen gone at the same poll, one killed by a signal before
one that exited, and the simulator before a node before the station (the order in which each
takes the others down). This is the campaign runner's own wall-clock policy, outside what SIL
determinism covers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["POLL", "Death", "ProcessWatch", "end_process", "is_zombie", "role_of"]

POLL: Final = 0.05
"""Wall seconds between two looks at the bench's processes."""
_BENCH_FILE: Final = "bench.json"
_ROLE_ORDER: Final = {"simulator": 0, "node": 1, "station": 2}


def end_process(proc: subprocess.Popen[Any], grace: float, *, group: bool = False) -> None:
    """End ``proc`` (its whole process group with ``group``, for a child started in a session
    of its own): SIGTERM, then SIGKILL if it has not ended within ``grace`` wall seconds;
    reaped either way. Harmless on a process that has already ended."""

    def signal_it(number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(proc.pid, number)
            else:
                proc.send_signal(number)

    if proc.poll() is None:
        signal_it(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        signal_it(signal.SIGKILL)
        proc.wait()


def is_zombie(pid: int) -> bool:
    """Process ``pid`` has ended but its parent has not reaped it (the ``msr`` that started it
    is gone and the system has not collected it yet): not running, though signals still reach
    its pid (Linux ``/proc``; elsewhere False)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] == "Z"


def role_of(name: str) -> str:
    """The role of a bench process by its name in the bench record."""
    return {"sim_hardware": "simulator", "ground": "station"}.get(name, "node")


@dataclass(frozen=True)
class Death:
    """One bench process that ended while watched.

    Attributes:
        process: its name in the bench record (``sim_hardware``, a node's name, ``ground``).
        role: ``simulator``, ``node`` or ``station``.
        pid: its process id.
        wall_seconds: when it was seen gone, wall seconds after the watch started (within
            :data:`POLL` of its end).
        how: ``killed by SIGKILL``, ``exited with status 1``, or ``ended`` (not our child: how
            is unknown).
        signal: the signal number that ended it, or None.
    """

    process: str
    role: str
    pid: int
    wall_seconds: float
    how: str
    signal: int | None

    def as_dict(self) -> dict[str, Any]:
        """As JSON-ready fields."""
        return asdict(self)


class ProcessWatch:
    """Watch the processes of the bench in ``run_dir`` from a thread (module docstring).

    Args:
        run_dir: the run folder holding the bench record (``bench.json``).
        monotonic: the wall clock (injectable).

    Use as a context manager, or :meth:`start` then :meth:`stop`; :meth:`deaths` and
    :meth:`cause` may be asked at any time.
    """

    def __init__(self, run_dir: Path, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.run_dir = Path(run_dir)
        self._monotonic = monotonic
        self._start = monotonic()
        self._deaths: dict[int, Death] = {}
        self._order: list[int] = []
        self._current: dict[str, int] = {}  # the bench record's pids, as last read
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ProcessWatch:
        """Start watching (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="process-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Take a last look and stop watching (idempotent); deaths stay readable."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.poll()

    def __enter__(self) -> ProcessWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopping.wait(POLL):
            self.poll()

    def poll(self) -> None:
        """Look once at every process of the bench record; note those gone."""
        try:
            record = json.loads((self.run_dir / _BENCH_FILE).read_text(encoding="utf-8"))
            pids = {str(k): int(v) for k, v in dict(record["pids"]).items()}
        except (OSError, ValueError, KeyError, TypeError):
            return  # no record (not up yet, or brought down): nothing to watch
        with self._lock:
            self._current = pids
        for name, pid in pids.items():
            with self._lock:
                if pid in self._deaths:
                    continue
            ended = _ended(pid)
            if ended is None:
                continue
            how, signum = ended
            death = Death(name, role_of(name), pid,
                          round(self._monotonic() - self._start, 3), how, signum)  # fmt: skip
            with self._lock:
                self._deaths[pid] = death
                self._order.append(pid)

    def deaths(self) -> list[Death]:
        """Every process seen gone, in the order seen (but those the record has replaced: a
        restart)."""
        with self._lock:
            deaths = [self._deaths[pid] for pid in self._order]
            return [d for d in deaths if self._current.get(d.process) == d.pid]

    def cause(self) -> Death | None:
        """The process whose death took the bench down (module docstring), or None."""
        deaths = self.deaths()
        if not deaths:
            return None
        first = deaths[0].wall_seconds
        tied = [d for d in deaths if d.wall_seconds - first <= POLL * 2]
        return min(tied, key=lambda d: (d.signal is None, _ROLE_ORDER[d.role], d.wall_seconds))


def _ended(pid: int) -> tuple[str, int | None] | None:
    """How ``pid`` ended, or None while it runs."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child, or already reaped by someone else
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "ended", None
        except PermissionError:
            return None
        return None
    if done != pid:
        return None
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
        return f"killed by {name}", signum
    return f"exited with status {os.waitstatus_to_exitcode(status)}", None
