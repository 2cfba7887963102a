"""System test (issue 17, decision 0029): a process of the bench killed with SIGKILL in the middle
of a campaign. ``msr campaign`` runs as an operator runs it; once the archive shows the first
tube loaded, the test kills the simulator (in one run) or the lander's flight software (in
another). The summary must name the dead process and when it died, count the tubes and the
simulated time as the archive shows them, and no traceback may reach the operator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ground_tools.archive import Archive, ArchiveError

TIMEOUT = 400.0  # wall seconds for the whole run: bench up, first tube, the kill, the verdict


def _first_tube_loaded(run_dir: Path, proc: subprocess.Popen[str], deadline: float) -> None:
    """Wait (polling the archive as a second reader, never sleeping blind) for the first
    ``sta.tube_loaded`` event to be committed."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the campaign ended before a tube was loaded:\n{out[-2000:]}{err[-2000:]}")
        try:
            with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
                if archive.events("lander", name="sta.tube_loaded"):
                    return
        except ArchiveError:
            pass  # not created yet
        time.sleep(0.1)
    pytest.fail("no tube was loaded in time")


def _last_archived_time(run_dir: Path) -> float:
    """The latest simulated time of any telemetry point or event in the archive."""
    with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
        points = [archive.latest(name)[0] for name in archive.parameters()]
        events = [event.sim_time for event in archive.events()]
    return max(points + events)


def _archived_serials(run_dir: Path) -> set[int]:
    with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
        return {int(e.detail.split()[1]) for e in archive.events("lander", name="sta.tube_loaded")}


@pytest.mark.parametrize(
    "victim",
    ["sim_hardware", pytest.param("lander", marks=pytest.mark.long)],  # make test-long
)
def test_a_process_killed_mid_campaign_is_named_and_the_tubes_counted_from_the_archive(
    tmp_path: Path, victim: str
) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ground_tools.cli", "campaign", "--tubes", "2", "--runs-dir",
         str(runs), "--seed", "3"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    try:
        while not (runs / "latest" / "bench.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the bench did not come up"
            time.sleep(0.1)
        run_dir = (runs / "latest").resolve()
        _first_tube_loaded(run_dir, proc, deadline)
        pid = json.loads((run_dir / "bench.json").read_text())["pids"][victim]
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    output = out + err
    assert "Traceback" not in output, output[-4000:]
    assert proc.returncode == 1, output[-4000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    died = summary["died"]
    assert died is not None, summary["verdict"]
    assert died["process"] == victim and died["pid"] == pid
    assert died["how"] == "killed by SIGKILL" and died["wall_seconds"] > 0
    assert died["last_sim_time"] is not None and died["last_sim_time"] > 0
    assert victim in summary["verdict"] and summary["ok"] is False
    # the simulated time the run reached: at least the archive's last (never the dead
    # procedure's 0), more when the station told the procedure of a later time before the
    # death than it had committed to the archive
    assert summary["sim_seconds"] >= round(_last_archived_time(run_dir), 3) > 0
    assert f"DIED: {died['text']}" in " ".join(out.split())
    archived = _archived_serials(run_dir)
    assert archived, "the test killed after a tube was archived"
    assert summary["tubes_loaded_archive"] == len(archived)
    assert summary["tubes_loaded"] == len(archived)
    if summary["tubes_source"] == "world":  # the simulator outlived the node: its truth agrees
        assert {t["serial"] for t in summary["tubes_detail"]} == archived
    else:
        assert summary["world_error"]
        assert {t["serial"] for t in summary["tubes_detail"]} == archived
