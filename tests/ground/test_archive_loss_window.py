"""The archive's loss window (issue 17, decision 0029): a writer with the default commit interval,
ticking as the ground station's loop does, killed with SIGKILL, loses at most 0.2 s of what it
archived.

The writer's commit clock is injected (a count of its loop's turns) and it stamps every packet
with that clock; it says each item it archived on its standard output, so the test knows the
last item in its hands when the kill lands and reads what survived, independent of the load on
the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ground_tools.archive import DEFAULT_COMMIT_INTERVAL, Archive

MAX_LOSS = 0.2
STEP = 0.01
"""Seconds of the writer's clock per turn (the station's loop turns at least every 0.05 s)."""
WRITER = """
import sys
from ground_tools.archive import Archive
turns = [0]
archive = Archive(sys.argv[1], monotonic=lambda: turns[0] * STEP)
while turns[0] < 200000:  # a safety net, should the test fail to kill it
    turns[0] += 1
    n = turns[0]
    archive.add_packet("lander", "core.status", n * 0.1,
                       {"seq": n, "uptime": n * STEP, "mode": "NOMINAL", "ok": True,
                        "temps": [n, -n]})
    archive.tick()
    print(n, flush=True)  # item n is in the writer's hands: what the kill may lose is after it
""".replace("STEP", repr(STEP))


def test_the_default_interval_is_within_the_issue_bound() -> None:
    assert DEFAULT_COMMIT_INTERVAL < MAX_LOSS


def test_a_writer_killed_with_sigkill_loses_at_most_0_2_s(tmp_path: Path) -> None:
    """The writer's clock is a count of its turns, so the loss is measured on the clock that
    paces its commits, whatever else the machine is doing: every item it had archived more
    than one commit interval before the kill is on the disk."""
    losses = []
    for index, turns in enumerate((45, 83, 127)):
        path = tmp_path / f"run{index}" / "archive.sqlite"
        path.parent.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if int(line) >= turns:
                    break
            os.kill(proc.pid, signal.SIGKILL)
            rest, err = proc.communicate()
        finally:
            proc.kill()
        assert proc.returncode == -signal.SIGKILL, err
        handed = max([turns, *(int(n) for n in rest.split())]) * STEP
        with Archive.open_readonly(path) as archive:
            points = archive.points("lander.core.status.uptime")
        assert points, "nothing was committed"
        last = max(float(value) for _, value in points)  # type: ignore[arg-type]
        losses.append(handed - last)
    assert max(losses) <= MAX_LOSS, f"lost {losses} s of archive"
