"""System test (issue 18, decision 0032): a stand-in board on a serial cable, unplugged and
plugged back, on a wall-clock bench.

The cable is a socat pair of pseudo-terminals (socat is installed by ``make``): the lander's end
and the board's end, each a stable ``link=`` name, as ``/dev/serial/by-id`` names a USB adapter.
``python -m sim_hardware --serve sta_arm`` stands in for the arm on the board's end, in its own
process; the bench (``clock = "wall"``) names the lander's end as the arm's port and emulates
every other board. The board's end is opened with ``wait-slave``: when the stand-in dies, socat
reads the end closed, ends, and both names vanish, as a USB adapter's device does when it is
pulled out. Plugging back is a new cable and a new stand-in (a freshly powered board, its arm at
its zero angles).

The operator pings the lander, stows the arm and reads its telemetry; then the stand-in is killed:
the lander reports the board lost and goes safe (its fault protection on ``health.boards``),
stays up, and waits without spinning (under 5% of a core over 10 s, from ``/proc``); then the
cable and the stand-in come back: the board is back and the arm moves again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ground_tools.api import GroundError, Session, backdoor_request, connect
from ground_tools.procedures.steps import Campaign
from hal.devices.base import DeviceTimeout, DeviceUnavailable
from hal.devices.sta_arm import StaArmClient
from tests.system.operator import msr
from tests.system.wall_bench import DEFAULT_BENCH, alive, wall_bench

ROOT = Path(__file__).resolve().parents[2]
SAFE, NOMINAL = 1, 2
"""``core.status.mode`` codes (``fsw.dictionary.core.MODE_CODES``)."""
RETRACTING, IDLE = 7, 0
"""``sta.status.state`` codes (``fsw.dictionary.lander.STA_STATES``)."""
STOW_LIMIT = 180.0
"""Seconds a stow may take (about 35 s on the wall clock, decision 0031)."""
CPU_WINDOW = 10.0
"""Wall seconds over which the lander's CPU use is measured while the board is gone."""
CPU_LIMIT = 0.05
"""The share of one core the lander may use while it waits for the board."""
GONE_LIMIT = 30.0


class Cable:
    """A serial cable made with socat: ``lander`` and ``board`` are its two ends' stable names.

    socat's options (decision 0032): ``raw,echo=0`` on both ends (a serial line, not a terminal);
    ``wait-slave`` on the board's end, so the cable carries nothing until the board opens its end
    and ends when the board closes it; ``-t 0``, so it ends at once. The lander's end can be
    closed and opened again freely (a driver reopening its port).
    """

    def __init__(self, folder: Path) -> None:
        self.lander = folder / "lander-end"
        self.board = folder / "board-end"
        self.process: subprocess.Popen[bytes] | None = None

    def plug(self) -> None:
        """Make the cable; return once both ends exist."""
        self.process = subprocess.Popen(
            ["socat", "-t", "0", f"pty,raw,echo=0,link={self.lander}",
             f"pty,raw,echo=0,wait-slave,link={self.board}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not (self.lander.exists() and self.board.exists()):
            assert self.process.poll() is None, "socat ended before it made the cable"
            assert time.monotonic() < deadline, "socat made no cable within 10 s"
            time.sleep(0.05)

    def wait_unplugged(self, limit: float = GONE_LIMIT) -> None:
        """Wait until socat has ended and the ends are gone (the board closed its end)."""
        assert self.process is not None
        self.process.wait(timeout=limit)
        deadline = time.monotonic() + limit
        while self.lander.exists() or self.board.exists():
            assert time.monotonic() < deadline, "the cable's ends are still there"
            time.sleep(0.05)

    def close(self) -> None:
        """End socat if it is still running (idempotent)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class StandIn:
    """``python -m sim_hardware --serve BOARD --port PATH`` in its own process."""

    def __init__(
        self, board: str, port: Path, bench: Path, run_dir: Path, couple: Path | None = None
    ) -> None:
        shared = ["--couple", str(couple)] if couple is not None else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sim_hardware", "--serve", board, "--port", str(port),
             "--bench", str(bench), "--run-dir", str(run_dir), *shared],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:  # it says where it serves, then that it is ready
            lines.append(json.loads(line))
            if lines[-1].get("ready") or "error" in lines[-1]:
                break
        assert lines and lines[-1].get("ready"), lines
        self.info = lines[0]

    def status(self) -> dict[str, Any]:
        """The stand-in's status through its own back door."""
        return backdoor_request(Path(self.info["run_dir"]), {"op": "status"})

    def kill(self) -> None:
        """SIGKILL: the board dies without a word, as a power cut or a pulled plug."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=GONE_LIMIT)

    def close(self) -> str:
        """Stop it if it runs; what it wrote on stderr."""
        if self.process.poll() is None:
            self.process.terminate()
        _, err = self.process.communicate(timeout=GONE_LIMIT)
        return err


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds process ``pid`` has used (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, seconds: float) -> float:
    """The share of one core process ``pid`` uses over the next ``seconds`` of wall time."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[Cable]:
    """A cable for the arm, unplugged at the end."""
    if shutil.which("socat") is None:
        pytest.fail("socat is missing: `make test` installs it (Makefile target system-tools)")
    made = Cable(tmp_path)
    try:
        yield made
    finally:
        made.close()


class HilBench:
    """A wall-clock bench whose arm is on a cable, brought up with ``msr bench up``."""

    def __init__(self, tmp_path: Path, cable: Cable) -> None:
        self.tmp_path = tmp_path
        self.bench = wall_bench(tmp_path, "hil.toml", sta_arm=str(cable.lander))
        up = msr("bench", "up", "--bench", str(self.bench), "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path)  # fmt: skip
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        self.run_dir = (tmp_path / "runs" / "latest").resolve()
        pids = json.loads((self.run_dir / "bench.json").read_text())["pids"]
        self.pids = {str(k): int(v) for k, v in pids.items()}

    def cmd(self, node: str, *args: str) -> None:
        """``msr cmd`` as the operator types it; it must complete."""
        done = msr("cmd", node, *args, "--timeout", "30", "--run-dir", str(self.run_dir),
                   cwd=self.tmp_path, timeout=90)  # fmt: skip
        assert done.returncode == 0 and "completed" in done.stdout, done.stdout + done.stderr

    def down(self) -> None:
        """``msr bench down``; whatever is left is killed."""
        msr("bench", "down", "--run-dir", str(self.run_dir), cwd=self.tmp_path, timeout=60)
        deadline = time.monotonic() + GONE_LIMIT
        while any(alive(pid) for pid in self.pids.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def stow_and_read_the_arm(bench: Session) -> None:
    """``sta.stow``: the arm retracts in real time, then the arm's telemetry shows it idle,
    holding nothing, its joints drawing current within limits."""
    sent = bench.send("lander", "sta.stow")
    bench.wait_check(f"lander.sta.status.state == {RETRACTING}", timeout=30)
    result = bench.wait_command(sent, timeout=STOW_LIMIT)
    completed = {stage: when for stage, when, _ in result.stages}["completed"]

    def status_after_the_stow() -> bool:
        found = bench.request(op="latest", names=["lander.sta.status"])["values"]
        status = found["lander.sta.status"]
        return "time" in status and status["time"] > completed

    bench.wait_check(status_after_the_stow, timeout=30)
    assert bench.tlm("lander.sta.status.state") == IDLE
    assert bench.tlm("lander.sta.status.holding") == 0
    assert 0.0 < bench.tlm("lander.sta.status.max_current") < 4.5


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m sim_hardware`` run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "sim_hardware", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_missing_port_a_busy_port_and_an_unknown_board_are_one_line_each(
    tmp_path: Path, cable: Cable
) -> None:
    missing = serve("--serve", "sta_arm", "--port", str(tmp_path / "ttyUSB9"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.count("\n") == 1 and "no such device" in missing.stderr, missing.stderr

    unknown = serve("--serve", "sta_leg", "--port", str(tmp_path / "ttyUSB9"))
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "sta_leg: not an emulated board" in unknown.stderr, unknown.stderr

    cable.plug()
    first = StandIn("sta_arm", cable.board, DEFAULT_BENCH, tmp_path / "first")
    try:
        busy = serve("--serve", "igloo", "--port", str(cable.board), "--run-dir",
                     str(tmp_path / "second"))  # fmt: skip
        assert busy.returncode == 2 and busy.stderr.count("\n") == 1, busy.stderr
        assert "busy: another process holds it" in busy.stderr, busy.stderr
        assert first.process.poll() is None, "the first stand-in was disturbed"
    finally:
        assert "Traceback" not in first.close()


def test_a_stand_in_board_answers_its_driver_and_takes_faults_through_its_own_back_door(
    tmp_path: Path, cable: Cable
) -> None:
    cable.plug()
    run_dir = tmp_path / "stand_in"
    arm = StandIn("sta_arm", cable.board, DEFAULT_BENCH, run_dir)
    events: list[tuple[str, str]] = []
    client = StaArmClient(str(cable.lander), on_event=lambda *e: events.append(e), timeout=1.0)
    try:
        client.ping("arm")
        client.open_gripper()
        assert client.read_gripper().opening > 0

        # the back door is the stand-in's own, behind the run's token: a blackout of its line
        door = arm.info["backdoor"]
        assert json.loads((run_dir / "ports.json").read_text())["backdoor"] == door
        fault = backdoor_request(run_dir, {"op": "inject", "target": "sta_arm",
                                           "kind": "blackout"})["id"]  # fmt: skip
        with pytest.raises(DeviceTimeout):
            client.ping("arm")
        backdoor_request(run_dir, {"op": "clear", "id": fault})
        client.ping("arm")
        with pytest.raises(GroundError, match="unknown target"):
            backdoor_request(run_dir, {"op": "inject", "target": "igloo", "kind": "blackout"})

        # the board dies: its driver reports it lost, and nothing answers until it is back
        arm.kill()
        cable.wait_unplugged()
        with pytest.raises(DeviceUnavailable):
            client.ping("arm")
        assert [name for name, _ in events] == ["device_lost"], events
    finally:
        client.close()
        arm.close()


@pytest.mark.long  # make test-long (CI): moved there to keep make test under 15 minutes
def test_a_stand_in_arm_on_a_cable_is_lost_and_found_again_by_the_lander(
    tmp_path: Path, cable: Cable
) -> None:
    stand_in_dir = tmp_path / "stand_in"
    cable.plug()
    arm = None
    hil: HilBench | None = None
    try:
        bench_file = wall_bench(tmp_path, "hil.toml", sta_arm=str(cable.lander))
        arm = StandIn("sta_arm", cable.board, bench_file, stand_in_dir)
        assert arm.info["port"] == str(cable.board) and arm.info["baud"] == 115200
        hil = HilBench(tmp_path, cable)
        lander = hil.pids["lander"]

        # the lander answers; the arm on the cable stows and reports
        hil.cmd("lander", "core.ping")
        hil.cmd("lander", "modes.set", "mode=2")
        with connect(hil.run_dir, source="test_hil_cable") as bench:
            stow_and_read_the_arm(bench)

            # the board dies: the cable goes with it, the lander reports the board lost and
            # goes safe, and stays up without spinning while it waits
            arm.kill()
            cable.wait_unplugged()
            bench.wait_event("lander", "health.device_lost", timeout=30)
            bench.wait_check(f"lander.core.status.mode == {SAFE}", timeout=60)
            assert alive(lander), "the lander died with its board"
            share = cpu_share(lander, CPU_WINDOW)
            assert share < CPU_LIMIT, f"the lander used {share:.1%} of a core waiting"
            assert alive(lander)

            # plugged back: a new cable, the board powered again; the lander finds it
            cable.plug()
            arm.close()
            arm = StandIn("sta_arm", cable.board, bench_file, stand_in_dir)
            bench.wait_event("lander", "health.device_recovered", timeout=60)
            bench.wait_check("lander.health.boards.sta_arm == 0", timeout=60)  # answering
            bench.cmd("lander core.ping")
            bench.cmd("lander", "modes.set", mode=NOMINAL)
            stow_and_read_the_arm(bench)  # the new board starts at its zero angles: it moves
        assert alive(lander)
    finally:
        if hil is not None:
            hil.down()
        if arm is not None:
            err = arm.close()
            assert "Traceback" not in err, err


@pytest.mark.long  # make test-long (CI)
def test_a_whole_tube_load_passes_with_the_stand_in_arm_on_the_cable(
    tmp_path: Path, cable: Cable
) -> None:
    """The campaign's own steps load one tube from the depot at the wall clock (about five
    minutes), the stand-in arm sharing the bench's world (``--couple``): the simulator's cameras
    see what the arm is over, and the tube it lets go over a slot goes into the simulator's OS
    container."""
    cable.plug()
    bench_file = wall_bench(tmp_path, "hil.toml", sta_arm=str(cable.lander))
    latest = tmp_path / "runs" / "latest"
    arm = StandIn("sta_arm", cable.board, bench_file, tmp_path / "stand_in", couple=latest)
    hil: HilBench | None = None
    try:
        hil = HilBench(tmp_path, cable)
        with connect(hil.run_dir, source="test_hil_cable") as bench:
            campaign = Campaign(bench, tubes=1, phase=lambda line: None)
            campaign.prepare_lander()  # nominal, the igloo conditioned, the OS lid opened
            bench.wait_check("lander.sta.status.lid == 1", timeout=60)
            assert campaign.load_tubes() == 1  # sta.load_tube from the depot, seated
            loaded = bench.wait_event("lander", "sta.tube_loaded", timeout=60, since=0)
            serial, slot = re.findall(r"\d+", loaded.values["detail"])[:2]

            # custody: the lander's inventory has the tube in its slot...
            assert campaign.custody("lander", "os_slot", 1) == [(int(serial), int(slot))]
            # ...and the world agrees: the simulator's OS holds it there, its custody chain
            # from the depot through the stand-in's gripper
            world = backdoor_request(hil.run_dir, {"op": "world"})["world"]
            assert world["os"]["slots"][int(slot)] == int(serial)
            tube = next(t for t in world["tubes"] if t["serial"] == int(serial))
            chain = [step["location"] for step in tube["custody"]]
            assert chain[0] == "depot" and "gripper" in chain and chain[-1] == "os_slot", chain
        coupled = arm.status()["coupled"]
        assert coupled["connected"] and coupled["reports"] > 0, coupled
    finally:
        if hil is not None:
            hil.down()
        err = arm.close()
        assert "Traceback" not in err, err
