"""ProcessWatch (decision 0029): which bench process died first, how, and the tie rule for the
others that follow it down; a process restarted under a new pid is followed, not reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ground_tools.process_watch import Death, ProcessWatch, role_of

WAIT = [sys.executable, "-c", "import sys; sys.stdin.read()"]  # ends when its stdin closes


def _spawn() -> subprocess.Popen[bytes]:
    return subprocess.Popen(WAIT, stdin=subprocess.PIPE)


def _record(run_dir: Path, pids: dict[str, int]) -> None:
    (run_dir / "bench.json").write_text(json.dumps({"pids": pids}), encoding="utf-8")


def _until(watch: ProcessWatch, count: int) -> list[Death]:
    deadline = time.monotonic() + 10.0
    while len(watch.deaths()) < count:
        assert time.monotonic() < deadline, watch.deaths()
        time.sleep(0.02)
    return watch.deaths()


def test_roles() -> None:
    assert [role_of(n) for n in ("sim_hardware", "ground", "lander")] == [
        "simulator", "station", "node"]  # fmt: skip


def test_the_killed_process_is_the_cause_not_those_that_exit_after_it(tmp_path: Path) -> None:
    procs = {name: _spawn() for name in ("sim_hardware", "lander", "ground")}
    _record(tmp_path, {name: p.pid for name, p in procs.items()})
    try:
        with ProcessWatch(tmp_path) as watch:
            assert watch.cause() is None
            # the station exits first (seen in the same poll window), the lander is killed
            procs["ground"].stdin.close()  # type: ignore[union-attr]
            os.kill(procs["lander"].pid, signal.SIGKILL)
            deaths = _until(watch, 2)
        cause = watch.cause()
        assert cause is not None and cause.process == "lander" and cause.role == "node"
        assert cause.how == "killed by SIGKILL" and cause.signal == signal.SIGKILL
        station = next(d for d in deaths if d.process == "ground")
        assert station.how == "exited with status 0" and station.signal is None
        assert all(d.process != "sim_hardware" for d in watch.deaths())
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_a_restarted_node_is_followed_under_its_new_pid(tmp_path: Path) -> None:
    old, new = _spawn(), _spawn()
    _record(tmp_path, {"lander": old.pid})
    try:
        with ProcessWatch(tmp_path) as watch:
            # as reset_node does: kill the old one (SIGKILL), reap it, record the new one
            os.kill(old.pid, signal.SIGKILL)
            assert _until(watch, 1)[0].pid == old.pid  # seen gone while still recorded
            old.wait()
            _record(tmp_path, {"lander": new.pid})
            time.sleep(0.2)  # several polls read the new record
            assert watch.deaths() == [] and watch.cause() is None  # a restart, not a death
            os.kill(new.pid, signal.SIGKILL)
            (death,) = _until(watch, 1)
        assert death.pid == new.pid and death.how == "killed by SIGKILL"
    finally:
        for p in (old, new):
            p.kill()
            p.wait()
