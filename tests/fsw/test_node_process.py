"""A node as a process on the SIL bench: it boots safe, answers the ground through the
authenticated space link in lockstep, reports every PUS-1 stage, and refuses bad commands with
a named reason and no side effect."""

from __future__ import annotations

from pathlib import Path

from tests.fsw.bench_run import BenchRun


def test_a_node_boots_safe_and_answers_a_ping_through_the_space_link(tmp_path: Path) -> None:
    with BenchRun(tmp_path, ["lander"]) as run:
        run.cycles(1.5)
        assert run.command("lander", "core.ping") == ["accepted", "started", "completed"]
        events = [name for name, _ in run.events("lander")]
        assert "core.boot" in events and "modes.changed" in events
        assert run.command("lander", "modes.set", mode=3) == [
            "accepted",
            "started",
            "completion_failed (precondition: safe -> critical is not allowed)",
        ]
        run.cycles(1.0)
    log = (tmp_path / "run" / "logs" / "lander.log").read_text()
    assert "core.boot" in log and "t=" in log
