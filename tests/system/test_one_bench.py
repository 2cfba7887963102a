"""One bench per run folder (decision 0039), as an operator meets it with ``msr``: a second
``msr bench up`` beside a live bench is refused in one line and starts nothing, ``runs/latest``
stays on the live bench; ``--run-dir`` starts a second bench in its own folder without moving
``runs/latest``; a campaign in the same runs folder runs beside the live bench and leaves
``runs/latest`` alone; once the bench is down, ``msr bench up`` works again. A stale run folder
(its processes dead) is not a live bench.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ground_tools.bench_ctl import BENCH_FILE, is_live, live_benches
from ground_tools.campaign import run_campaign
from tests.system.operator import msr


def _latest(where: Path) -> Path:
    return (where / "runs" / "latest").resolve()


def _run_folders(where: Path) -> set[str]:
    return {p.name for p in (where / "runs").iterdir() if p.is_dir() and not p.is_symlink()}


def _up(where: Path, *args: str) -> Path:
    """``msr bench up ARGS``; the run folder it made."""
    runs = where / "runs"
    before = _run_folders(where) if runs.is_dir() else set()
    done = msr("bench", "up", "--pace", "fast", *args, cwd=where)
    assert done.returncode == 0, done.stderr
    if "--run-dir" in args:
        return Path(args[args.index("--run-dir") + 1]).resolve()
    (made,) = _run_folders(where) - before
    return (runs / made).resolve()


def _down(where: Path, run_dir: Path) -> None:
    done = msr("bench", "down", "--run-dir", str(run_dir), cwd=where)
    assert done.returncode == 0, done.stderr


def test_a_second_bench_up_is_refused_and_runs_latest_stays_on_the_live_bench(
    tmp_path: Path,
) -> None:
    first = _up(tmp_path)
    own = tmp_path / "runs" / "second"
    try:
        assert _latest(tmp_path) == first and is_live(first)
        folders = _run_folders(tmp_path)

        refused = msr("bench", "up", "--pace", "fast", cwd=tmp_path)
        assert refused.returncode != 0
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert f"a bench is already up in {first}" in lines[0] and "--run-dir" in lines[0]
        assert _run_folders(tmp_path) == folders, "the refused up made a run folder"
        assert _latest(tmp_path) == first

        second = _up(tmp_path, "--run-dir", str(own))  # its own folder: allowed
        try:
            assert second == own.resolve() and is_live(second)
            assert _latest(tmp_path) == first, "runs/latest moved under the live bench"
            status = json.loads(msr("bench", "status", "--json", "--run-dir", str(second),
                                    cwd=tmp_path).stdout)  # fmt: skip
            assert {p["state"] for p in status["processes"].values()} == {"running"}
            assert set(live_benches(tmp_path / "runs")) == {first, second}
        finally:
            _down(tmp_path, second)
        assert not is_live(second) and _latest(tmp_path) == first
    finally:
        _down(tmp_path, first)

    assert live_benches(tmp_path / "runs") == []
    third = _up(tmp_path)  # nothing live: up works, and runs/latest follows it
    try:
        assert _latest(tmp_path) == third and third not in (first, own.resolve())
    finally:
        _down(tmp_path, third)


def test_a_campaign_runs_beside_a_live_bench_in_the_same_runs_folder(tmp_path: Path) -> None:
    live = _up(tmp_path)
    try:
        summary = run_campaign(tubes=1, seed=3, runs_dir=tmp_path / "runs", log=lambda _: None)
        assert summary["ok"], summary["verdict"]
        assert Path(summary["run_dir"]).parent == (tmp_path / "runs").resolve()
        assert _latest(tmp_path) == live and is_live(live)
    finally:
        _down(tmp_path, live)


def test_a_stale_run_folder_is_not_a_live_bench(tmp_path: Path) -> None:
    """A bench record whose processes are gone (a machine restarted, a bench killed), or whose
    process id now belongs to another program, does not block ``msr bench up``."""
    runs = tmp_path / "runs"
    stale = runs / "stale"
    stale.mkdir(parents=True)
    record = {"pids": {"sim_hardware": 2**22 + 17, "ground": os.getpid()}, "clock": "sim"}
    (stale / BENCH_FILE).write_text(json.dumps(record), encoding="utf-8")
    (runs / "latest").symlink_to("stale")
    assert not is_live(stale)  # one pid unused, the other ours: not started in that folder
    up = _up(tmp_path)
    try:
        assert _latest(tmp_path) == up
    finally:
        _down(tmp_path, up)
