"""System test: a campaign with a node reset at a set simulated time, and a procedure of its own
(``run_campaign(resets=..., procedure=...)``, what a Monte Carlo run draws, issue 21).

As a Monte Carlo run does: the lander's flight software is killed and started again at 150.05 s
(between two ticks, as a drawn time falls) into a one-tube campaign run by an operator's own
copy of the campaign procedure. The reset lands in the first round at or after its time (the
procedure's session does it, whatever it waits for then, while the station holds that round),
the lander reports its restart, the procedure (which knows nothing of resets) fails with the
load the reset cut short, and ``msr campaign --rerun`` of the run folder reproduces it byte for
byte: the reset and the procedure are part of what a run folder holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ground_tools.api import GroundError, connect
from ground_tools.archive import Archive
from ground_tools.bench_ctl import bench_down, bench_up
from ground_tools.campaign import CAMPAIGN_PROCEDURE, DEFAULT_BENCH, run_campaign
from ground_tools.rerun import rerun_campaign

RESET_AT = 150.05  # between two ticks, as a drawn time falls


def test_a_reset_at_a_set_time_lands_there_and_the_run_repeats(tmp_path: Path) -> None:
    procedure = tmp_path / "my_campaign.py"
    shutil.copy(CAMPAIGN_PROCEDURE, procedure)
    runs = tmp_path / "runs"
    lines: list[str] = []
    summary = run_campaign(DEFAULT_BENCH, seed=31, tubes=1, runs_dir=runs, log=lines.append,
                           resets=[("lander", RESET_AT)], procedure=procedure)  # fmt: skip

    assert summary["scenario"] == "procedure my_campaign.py"
    [reset] = summary["resets"]
    assert reset["node"] == "lander" and reset["at"] == RESET_AT
    assert reset["done_at"] == pytest.approx(150.1)  # the first round at or after its time
    assert any("reset lander" in line for line in lines), lines
    run_dir = Path(summary["run_dir"])
    with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
        boots = archive.events(node="lander", name="core.boot")
    assert len(boots) == 2, boots  # the first boot and the restart
    assert boots[1].sim_time >= RESET_AT and "(restart)" in boots[1].detail
    # the nominal procedure knows nothing of resets: the load in progress is lost with the
    # lander's restart, and the verdict says where the procedure stopped
    assert not summary["ok"]
    assert summary["verdict"].startswith("FAIL: my_campaign.py:"), summary["verdict"]
    assert "sta.load_tube" in summary["verdict"]

    again, comparison = rerun_campaign(run_dir, runs_dir=tmp_path / "again")
    assert comparison.identical, [str(d) for d in comparison.differences]
    assert again["resets"] == summary["resets"]


def test_a_reset_of_an_unknown_node_or_at_a_bad_time_starts_nothing(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(GroundError, match="reset 'rover': no such node on this bench"):
        run_campaign(DEFAULT_BENCH, tubes=1, runs_dir=runs, resets=[("rover", 10.0)])
    with pytest.raises(GroundError, match="reset lander at nan"):
        run_campaign(DEFAULT_BENCH, tubes=1, runs_dir=runs, resets=[("lander", float("nan"))])
    not_python = tmp_path / "broken.py"
    not_python.write_text("def procedure(:\n")
    with pytest.raises(GroundError, match=r"broken\.py"):
        run_campaign(DEFAULT_BENCH, tubes=1, runs_dir=runs, procedure=not_python)
    assert not runs.exists() or not any(runs.iterdir())  # nothing was brought up


def test_waits_that_end_between_two_ticks_are_answered_in_the_next(tmp_path: Path) -> None:
    """A wait whose end is not on the tick grid (a drawn reset's time, an operator's
    ``wait(3.33)``) is answered in the first tick after it; the station once held that tick
    for pacing and the procedure's wait never came back."""
    up = bench_up(DEFAULT_BENCH, runs_dir=tmp_path / "runs", pace="held")
    try:
        with connect(up.run_dir) as session:
            for seconds in (3.33, 0.05, 2.0, 0.01):
                start = session.now()
                reached = session.wait(seconds)
                assert start + seconds <= reached + 1e-9 < start + seconds + 0.1 + 1e-6
    finally:
        bench_down(up.run_dir)
