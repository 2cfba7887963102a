"""The archive's loss window (issue 17, decision 0029): a writer with the default commit interval,
ticking as the ground station's loop does, killed with SIGKILL, loses at most 0.2 s of wall
time of what it archived.

The writer stamps every packet with the wall (monotonic) seconds since its start; the test kills
it at a known moment on the same system-wide monotonic clock and reads what survived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ground_tools.archive import DEFAULT_COMMIT_INTERVAL, Archive

MAX_LOSS = 0.2
WRITER = """
import sys, time
from ground_tools.archive import Archive
archive = Archive(sys.argv[1])
start = time.monotonic()
print(start, flush=True)
n = 0
while time.monotonic() - start < 20.0:  # a safety net, should the test fail to kill it
    n += 1
    archive.add_packet("lander", "core.status", n * 0.1,
                       {"seq": n, "uptime": time.monotonic() - start, "mode": "NOMINAL",
                        "ok": True, "temps": [n, -n]})
    archive.tick()
    time.sleep(0.01)  # the station's loop turns at least every 0.05 s
"""


def test_the_default_interval_is_within_the_issue_bound() -> None:
    assert DEFAULT_COMMIT_INTERVAL < MAX_LOSS


def test_a_writer_killed_with_sigkill_loses_at_most_0_2_s(tmp_path: Path) -> None:
    losses = []
    for index, wait in enumerate((0.45, 0.83, 1.27)):
        path = tmp_path / f"run{index}" / "archive.sqlite"
        path.parent.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line, proc.communicate()[1]
            start = float(line)
            deadline = start + wait
            while time.monotonic() < deadline:
                time.sleep(deadline - time.monotonic())
            killed_at = time.monotonic() - start
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        with Archive.open_readonly(path) as archive:
            points = archive.points("lander.core.status.uptime")
        assert points, "nothing was committed"
        last = max(float(value) for _, value in points)  # type: ignore[arg-type]
        losses.append(killed_at - last)
    assert max(losses) <= MAX_LOSS, f"lost {losses} s of archive"
