"""A node as a process on the SIL bench: it boots safe, answers the ground through the
authenticated space link in lockstep, reports every PUS-1 stage, and refuses bad commands with
a named reason and no side effect."""

from __future__ import annotations

from pathlib import Path

from hal.bench import default_bench_path
from hal.control import read_token
from sim_hardware.backdoor import request
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


def test_each_node_runs_on_its_emulated_boards_and_reports_a_board_going_silent(
    tmp_path: Path,
) -> None:
    with BenchRun(tmp_path, ["lander", "mav", "orbiter"]) as run:
        run.cycles(2.5)
        for node in ("lander", "mav", "orbiter"):
            assert run.command(node, "core.ping") == ["accepted", "started", "completed"], node
            _, health = run.housekeeping(node, "health.status")[-1]
            boards = len(run.bench.boards_of(node))
            assert (health["devices_ok"], health["devices_failed"]) == (boards, 0), node
        # The igloo board falls silent: the lander's heartbeats find it, then find it back.
        door = (run.ports["backdoor"]["host"], run.ports["backdoor"]["port"])
        token = read_token(run.run_dir)
        fault = request(door, {"op": "inject", "target": "igloo", "kind": "blackout"}, token=token)
        run.cycles(15.0)  # a ping every health.heartbeat_period (5 s) until it counts as silent
        _, health = run.housekeeping("lander", "health.status")[-1]
        assert health["devices_failed"] == 1
        seen = len(run.received["lander"])
        assert "health.device_silent" in [name for name, _ in run.events("lander")]
        request(door, {"op": "clear", "id": fault["id"]}, token=token)
        run.cycles(8.0)
        _, health = run.housekeeping("lander", "health.status")[-1]
        assert health["devices_failed"] == 0
        assert "health.device_answering" in [name for name, _ in run.events("lander", seen)]


def test_a_full_cop1_window_of_the_longest_frames_reaches_a_node_between_its_cycles(
    tmp_path: Path,
) -> None:
    """31 frames of 1 KiB outstanding are more than a pty holds: the simulator keeps what the
    node has not read yet instead of waiting for it (which stalled the whole lockstep). The
    radio runs at 4 Mbit/s here, so a whole window crosses in one tick (at 115200 the line
    itself would meter the frames out a kilobyte a tick, decision 0033)."""
    bench = (
        default_bench_path()
        .read_text(encoding="utf-8")
        .replace(
            "[nodes.mav]",
            "radio_baud = 4000000\n\n"
            "[nodes.lander.space_link]\nfop_window = 31\nfarm_window = 64\n\n[nodes.mav]",
        )
    )
    with BenchRun(tmp_path, ["lander"], bench_text=bench) as run:
        run.cycles(1.0)
        ground = run.ground["lander"]
        long = [run.packet("lander", "modes.set", mode=2) for _ in range(200)]
        for packet in long:  # 980 octets of data where the dictionary declares 1
            packet.app_data = bytes(980)
        ids = [ground.send(packet) for packet in long]
        run.cycles(30.0, until=lambda: ground.fate(ids[-1]) == "delivered")
        run.cycles(1.0)
        assert [ground.fate(i) for i in ids] == ["delivered"] * 200
        for packet in long:
            (report,) = run.verifications("lander", packet)
            assert report.reason.startswith("bad_length: modes.set: 980 octets")
        assert ground.stats()["retransmissions"] == 0
        assert run.command("lander", "core.ping") == ["accepted", "started", "completed"]
    held = run.sim_stats["space_links"]["lander"]["up"]["held"]
    assert held > 8 * 1024  # more than the pty took: the relay held it
