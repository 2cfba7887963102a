"""System test: the downlink loses what the ground waits for, and the ground still knows
(decision 0052).

A real bench at the held pace (the simulator, three nodes, the station, all processes) and an
operator's session. The simulator's back door drops every frame the MAV sends, for a moment:

* while a command's reports are on their way: the station, which sees the frame count's gap,
  asks the MAV for them again (``core.report_verification``, in the command history as the
  station's), and ``cmd`` ends ``completed``, its reports taken once (with no frame lost,
  nothing is asked);
* while the MAV says it took the ground's resync (``core.resynced``): the station sees the
  MAV's challenge stop while its telemetry flows again, takes it as resynced, and the next
  command goes through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground_tools.api import Session, connect
from ground_tools.archive import Archive, CommandRecord
from ground_tools.bench_ctl import bench_down, bench_up
from ground_tools.campaign import DEFAULT_BENCH


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[tuple[Session, Path]]:
    """A bench at the held pace whose nodes wait for the ground's resync (their first boot)."""
    up = bench_up(DEFAULT_BENCH, runs_dir=tmp_path / "runs", pace="held", resync=False)
    try:
        with connect(up.run_dir) as session:
            yield session, up.run_dir
    finally:
        bench_down(up.run_dir)


def archived_commands(run_dir: Path, node: str, stages: int) -> list[CommandRecord]:
    """The node's archived commands, once at least ``stages`` stages are in (the station
    commits every few tenths of a wall second)."""
    deadline = time.monotonic() + 10.0
    while True:
        with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
            commands = archive.commands(node=node)
        if sum(len(c.stages) for c in commands) >= stages or time.monotonic() > deadline:
            return commands
        time.sleep(0.1)


def mav_downlink_lost_for(session: Session, seconds: float) -> None:
    """Every frame the MAV sends from the next round on is lost, for ``seconds``."""
    session.fault("link:mav", "drop", direction="down", probability=1.0, duration=seconds)


def test_a_lost_completion_report_is_asked_for_again_and_the_command_completes(bench):
    session, run_dir = bench
    session.resync("mav")
    assert session.cmd("mav", "core.ping", timeout=30).ok
    session.wait(10.0)
    assert session.status()["rechecks"] == 0  # a clean downlink: nothing is asked again
    mav_downlink_lost_for(session, 1.0)
    result = session.cmd("mav", "core.ping", timeout=30)

    assert result.ok, result.stages
    assert [stage for stage, _, _ in result.stages] == ["accepted", "started", "completed"]
    status = session.status()
    assert status["rechecks"] >= 1 and status["nodes"]["mav"]["frames_lost"] >= 1
    commands = archived_commands(run_dir, "mav", stages=6)
    [_, ping] = [c for c in commands if c.name == "core.ping"]
    assert [s.stage for s in ping.stages] == ["accepted", "started", "completed"]
    asks = [c for c in commands if c.name == "core.report_verification"]
    assert asks and all(c.source == "station" for c in asks)
    assert asks[0].args == {"request_id": int(result.request_id, 16)}
    assert all(s.stage != "completion_failed" for c in asks for s in c.stages)


def test_a_lost_resynced_event_is_taken_from_the_challenges_silence(bench):
    session, _ = bench
    session.wait(0.5)  # the MAV's first challenge is in
    assert session.status()["nodes"]["mav"]["sync"] == "needed"
    mav_downlink_lost_for(session, 1.0)  # the answer goes up; the MAV's word does not come down
    session.resync("mav", timeout=60)

    mav = session.status()["nodes"]["mav"]
    assert mav["sync"] == "synced" and mav["resyncs"] == 1 and mav["resyncs_inferred"] == 1
    assert session.cmd("mav", "core.ping", timeout=30).ok
