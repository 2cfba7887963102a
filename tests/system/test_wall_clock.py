"""System test (issue 18, decision 0031): a bench on the wall clock, as an operator runs it.

``clock = "wall"`` in the bench file runs the same processes paced to real time: the nodes on
their own monotonic clocks, the simulator serving the emulated boards and the space links at
wall time, the ground station unchanged. The operator brings the bench up with ``msr bench up``,
pings every node with ``msr cmd``, stows the arm and reads its telemetry through the scripting
API, and brings the bench down with ``msr bench down``, which must leave no process behind.
A node whose simulator is gone (killed) loses its emulated radio and stops by itself.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ground_tools.api import backdoor_request, connect
from hal.protocol.framing import ASM
from tests.system.operator import msr
from tests.system.wall_bench import alive, wall_bench

ROOT = Path(__file__).resolve().parents[2]
NODES = ("lander", "mav", "orbiter")
STOWING, IDLE = 7, 0
"""``sta.status.state`` codes (``fsw.dictionary.lander.STA_STATES``): retracting, idle."""
STOW_LIMIT = 180.0
"""Seconds the stow may take before it counts as never completing (it takes about 35 s in SIL
and on the wall clock alike: decision 0031)."""
GONE_LIMIT = 30.0
"""Wall seconds a process has to end after it was told to (or lost its simulator)."""


def wait_gone(pids: dict[str, int], limit: float = GONE_LIMIT) -> list[str]:
    """Wait until every process has ended; the names of those still there after ``limit``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        left = [name for name, pid in pids.items() if alive(pid)]
        if not left:
            return []
        time.sleep(0.2)
    return [name for name, pid in pids.items() if alive(pid)]


def bring_up(tmp_path: Path, **ports: str) -> tuple[Path, dict[str, int]]:
    """``msr bench up`` on the wall bench: its run folder and processes."""
    bench = wall_bench(tmp_path, **ports)
    up = msr("bench", "up", "--bench", str(bench), "--runs-dir", str(tmp_path / "runs"),
             cwd=tmp_path)  # fmt: skip
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    run_dir = (tmp_path / "runs" / "latest").resolve()
    pids = {
        str(k): int(v) for k, v in json.loads((run_dir / "bench.json").read_text())["pids"].items()
    }
    return run_dir, pids


def kill_all(pids: dict[str, int]) -> None:
    for pid in pids.values():
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.long  # make test-long (CI): moved there to keep make test under 15 minutes
def test_a_wall_clock_bench_answers_stows_the_arm_in_real_time_and_comes_down_clean(
    tmp_path: Path,
) -> None:
    run_dir, pids = bring_up(tmp_path)
    try:
        ports = json.loads((run_dir / "ports.json").read_text())
        assert ports["clock"]["mode"] == "wall" and ports["timing"].keys() == {"ground"}

        # every node answers a ping (in real seconds: msr cmd's timeout is the station's time)
        for node in NODES:
            ping = msr("cmd", node, "core.ping", "--timeout", "10", "--run-dir", str(run_dir),
                       cwd=tmp_path, timeout=60)  # fmt: skip
            assert ping.returncode == 0, f"{node}: {ping.stdout}{ping.stderr}"
            assert "completed" in ping.stdout, ping.stdout

        nominal = msr("cmd", "lander", "modes.set", "mode=2", "--run-dir", str(run_dir),
                      cwd=tmp_path, timeout=60)  # fmt: skip
        assert nominal.returncode == 0, nominal.stdout + nominal.stderr

        with connect(run_dir, source="test_wall_clock") as bench:
            wall_start = time.monotonic()
            sent = bench.send("lander", "sta.stow")
            # the arm moves: the app reports it retracting while the board drives the joints
            bench.wait_check(f"lander.sta.status.state == {STOWING}", timeout=30)
            result = bench.wait_command(sent, timeout=STOW_LIMIT)
            wall_seconds = time.monotonic() - wall_start
            times = {stage: when for stage, when, _ in result.stages}
            stow_seconds = times["completed"] - times["started"]
            # on the wall clock the move took real time: no fewer wall seconds than it lasted
            assert stow_seconds > 5.0, result.stages
            assert wall_seconds >= stow_seconds - 0.5, (wall_seconds, result.stages)

            # the arm's telemetry sent after the stow completed shows it stowed and idle
            def status_after_the_stow() -> bool:
                latest = bench.request(op="latest", names=["lander.sta.status"])["values"]
                found = latest["lander.sta.status"]
                return "time" in found and found["time"] > times["completed"]

            bench.wait_check(status_after_the_stow, timeout=30)
            assert bench.tlm("lander.sta.status.state") == IDLE
            assert bench.tlm("lander.sta.status.holding") == 0
    finally:
        down = msr("bench", "down", "--run-dir", str(run_dir), cwd=tmp_path, timeout=60)
        left = wait_gone(pids)
        kill_all(pids)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not left, f"still running after bench down: {left}"
    assert "killed" not in down.stdout, down.stdout  # each stopped when told, none was killed
    for node in NODES:
        assert "core.process: stopped" in (run_dir / "logs" / f"{node}.log").read_text()


def test_nodes_on_the_wall_clock_stop_by_themselves_when_the_simulator_is_gone(
    tmp_path: Path,
) -> None:
    run_dir, pids = bring_up(tmp_path)
    try:
        os.kill(pids["sim_hardware"], signal.SIGKILL)
        left = wait_gone(pids)
        assert not left, f"still running without their simulator: {left}"
        for node in NODES:
            log = (run_dir / "logs" / f"{node}.log").read_text()
            assert "link lost" in log and "core.process: stopped" in log, log[-1000:]
            assert "Traceback" not in (run_dir / "logs" / f"{node}.out").read_text()
        status = msr("bench", "status", "--json", "--run-dir", str(run_dir), cwd=tmp_path)
        processes = json.loads(status.stdout)["processes"]
        assert {name: p["state"] for name, p in processes.items()} == dict.fromkeys(pids, "gone")
    finally:
        kill_all(pids)
        msr("bench", "down", "--run-dir", str(run_dir), cwd=tmp_path, timeout=60)


@pytest.mark.parametrize("pace", ["2", "fast"])
def test_a_wall_clock_bench_refuses_a_pace_in_one_line(tmp_path: Path, pace: str) -> None:
    bench = wall_bench(tmp_path)
    up = msr("bench", "up", "--bench", str(bench), "--runs-dir", str(tmp_path / "runs"),
             "--pace", pace, cwd=tmp_path)  # fmt: skip
    assert up.returncode != 0 and "Traceback" not in up.stderr
    assert f"--pace {pace}" in up.stderr and "wall clock" in up.stderr, up.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_node_is_no_participant_of_a_wall_clock_simulator(tmp_path: Path) -> None:
    sim = subprocess.run(
        [sys.executable, "-m", "sim_hardware", "--bench", str(wall_bench(tmp_path)),
         "--run-dir", str(tmp_path / "run"), "--participant", "ground", "--participant", "mav"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sim.returncode == 2 and "Traceback" not in sim.stderr
    assert sim.stderr.count("\n") == 1 and "participant 'mav'" in sim.stderr, sim.stderr


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat (make installs it)")
def test_a_board_on_a_real_port_is_opened_by_its_node_and_left_alone_by_the_simulator(
    tmp_path: Path,
) -> None:
    # a serial cable: the arm's end for the lander, the far end where a board would sit
    board_end, fsw_end = tmp_path / "board", tmp_path / "fsw"
    cable = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={board_end}", f"pty,raw,echo=0,link={fsw_end}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 10
        while not (board_end.exists() and fsw_end.exists()):
            assert time.monotonic() < deadline and cable.poll() is None, "socat made no cable"
            time.sleep(0.05)
        far = os.open(board_end, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        run_dir, pids = bring_up(tmp_path, sta_arm=str(fsw_end))

        # the simulator serves every board but the real one, which the port map names as real
        arm = json.loads((run_dir / "ports.json").read_text())["boards"]["sta_arm"]
        assert arm["emulated"] is False and arm["path"] == str(fsw_end)
        served = backdoor_request(run_dir, {"op": "status"})["boards"]
        assert "sta_arm" not in served and "sta_vision" in served

        ping = msr("cmd", "lander", "core.ping", "--run-dir", str(run_dir), cwd=tmp_path)
        assert ping.returncode == 0 and "completed" in ping.stdout, ping.stdout + ping.stderr

        # the lander opened the cable: its requests to the arm come out at the far end
        heard = b""
        deadline = time.monotonic() + 30
        while ASM not in heard and time.monotonic() < deadline:
            if select.select([far], [], [], 0.5)[0]:
                heard += os.read(far, 4096)
        os.close(far)
        assert ASM in heard, f"nothing framed from the lander on the cable: {heard[:64]!r}"
    finally:
        if pids:
            msr("bench", "down", "--run-dir", str((tmp_path / "runs" / "latest").resolve()),
                cwd=tmp_path, timeout=60)  # fmt: skip
            wait_gone(pids)
            kill_all(pids)
        cable.terminate()
        cable.wait(timeout=10)
