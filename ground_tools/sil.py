"""``msr sil``: the software-in-the-loop job on the embedded default bench.

Until the mission campaign exists (issue 7), this is the most complete end-to-end demonstration
the project can give: it starts the simulator as a process (by command line, never by import),
opens the emulated test board's pseudo-terminal the way flight software opens a USB-serial port,
and runs phases over the real stack (links, framing, PUS-C codec, captures) including hostile
bytes on the wire. It leaves a run folder::

    runs/<id>/summary.json            verdict, seed, timings, per-phase results, link statistics
    runs/<id>/captures/*.pcap         every frame both sides sent and received (linktype 147)
    runs/<id>/logs/sim_hardware.log   the simulator's stderr
    runs/latest -> <id>
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ground_tools.bench_ctl import point_latest
from hal.errors import HalError
from hal.links import open_link
from hal.links.channel import Packet, PacketChannel
from hal.protocol.devices import test_board as icd
from hal.protocol.framing import ASM, Deframer
from hal.protocol.pus import PusTc

REPLY_TIMEOUT = 2.0


@dataclass
class Phase:
    """One phase of the run and what it found."""

    name: str
    ok: bool = True
    sent: int = 0
    answered: int = 0
    notes: list[str] = field(default_factory=list)

    def fail(self, note: str) -> None:
        """Record a failure."""
        self.ok = False
        self.notes.append(note)


class SilError(Exception):
    """The SIL job could not run (simulator did not start, bad arguments)."""


def _message(line: str) -> dict[str, Any]:
    """One JSON object line from the simulator; anything else is ignored (it is in the log)."""
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return message if isinstance(message, dict) else {}


def _start_simulator(run_dir: Path, log: IO[str]) -> tuple[subprocess.Popen[str], str]:
    sim = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "sim_hardware",
            "--board",
            "test_board",
            "--capture-dir",
            str(run_dir / "captures"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    path = None
    if sim.stdout is None:
        raise SilError("the simulator's stdout is not a pipe")
    for line in sim.stdout:
        message = _message(line)
        if message.get("board") == "test_board":
            path = message["path"]
        if message.get("ready"):
            break
    if path is None:
        sim.kill()
        raise SilError("the simulator did not report the test board; see logs/sim_hardware.log")
    return sim, path


def _stop_simulator(sim: subprocess.Popen[str]) -> dict[str, Any]:
    if sim.stdin:
        sim.stdin.close()
    stats: dict[str, Any] = {}
    if sim.stdout:
        for line in sim.stdout:
            message = _message(line)
            stats = message.get("stats", stats)
    sim.wait(10)
    return stats


class _Session:
    def __init__(self, channel: PacketChannel, rng: random.Random) -> None:
        self.channel = channel
        self.rng = rng
        self.seq = 0
        self.rtts: list[float] = []

    def tc(self, service: int, subtype: int, data: bytes = b"") -> PusTc:
        self.seq = (self.seq + 1) & 0x3FFF
        return PusTc(icd.APID, service, subtype, data, seq_count=self.seq)

    def ask(self, request: PusTc) -> Packet:
        start = time.perf_counter()
        reply = self.channel.request(request, REPLY_TIMEOUT)
        self.rtts.append(time.perf_counter() - start)
        return reply

    def ping(self, phase: Phase) -> None:
        phase.sent += 1
        try:
            reply = self.ask(self.tc(icd.SERVICE_TEST, icd.SUBTYPE_ARE_YOU_ALIVE))
        except HalError as exc:
            phase.fail(f"ping: {exc}")
            return
        if (reply.service, reply.subtype) == (icd.SERVICE_TEST, icd.SUBTYPE_ALIVE_REPORT):
            phase.answered += 1
        else:
            phase.fail(f"ping answered with TM[{reply.service},{reply.subtype}]")


def _connection_test(s: _Session, phase: Phase) -> None:
    for _ in range(200):
        s.ping(phase)


def _echo(s: _Session, phase: Phase) -> None:
    for _ in range(300):
        data = s.rng.randbytes(s.rng.randint(0, icd.MAX_ECHO))
        phase.sent += 1
        try:
            reply = s.ask(s.tc(icd.SERVICE_ECHO, icd.SUBTYPE_ECHO, data))
        except HalError as exc:
            phase.fail(f"echo: {exc}")
            continue
        if reply.source_data == data and reply.subtype == icd.SUBTYPE_ECHO_REPORT:
            phase.answered += 1
        else:
            phase.fail(f"echo of {len(data)} octets came back different")


def _line_noise(s: _Session, phase: Phase) -> None:
    for _ in range(20):
        noise = s.rng.randbytes(s.rng.randint(1, 2048))
        if s.rng.random() < 0.5:
            noise += ASM  # a marker with garbage behind it
        s.channel.link.write(noise)
        s.ping(phase)


def _damaged_frames(s: _Session, phase: Phase) -> None:
    for _ in range(50):
        raw = bytearray(s.tc(icd.SERVICE_ECHO, icd.SUBTYPE_ECHO, s.rng.randbytes(64)).pack())
        bit = s.rng.randrange(len(raw) * 8)
        raw[bit // 8] ^= 1 << (bit % 8)
        s.channel.link.write(ASM + bytes(raw))
        s.ping(phase)  # the board must skip the damaged frame and answer the good one
    stray = s.channel.receive_all(0.2)
    if stray:
        phase.fail(f"{len(stray)} replies to damaged frames")


def _unknown_command(s: _Session, phase: Phase) -> None:
    phase.sent += 1
    try:
        reply = s.ask(s.tc(200, 1))
    except HalError as exc:
        phase.fail(f"unknown command: {exc}")
        return
    if (reply.service, reply.subtype) == (1, 2) and reply.source_data[-1:] == b"\x01":
        phase.answered += 1
    else:
        phase.fail(f"unknown command answered with TM[{reply.service},{reply.subtype}]")


PHASES: list[tuple[str, Callable[[_Session, Phase], None]]] = [
    ("connection test (TC[17,1] x200)", _connection_test),
    ("echo, random 0..1024 octets (x300)", _echo),
    ("line noise then ping (x20)", _line_noise),
    ("bit-flipped frames then ping (x50)", _damaged_frames),
    ("unknown command rejected (TM[1,2])", _unknown_command),
]


def run_sil(runs_dir: str = "runs", seed: int = 2026, out: IO[str] = sys.stdout) -> int:
    """Run the SIL job; return 0 when every phase passed, 1 otherwise."""
    started_wall = time.time()
    start = time.perf_counter()
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started_wall)) + f"-{os.getpid()}"
    run_dir = Path(runs_dir) / run_id
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "captures").mkdir()
    point_latest(Path(runs_dir), run_id)
    print(f"msr sil: run {run_id} (seed {seed})", file=out, flush=True)
    phases: list[Phase] = []
    with open(run_dir / "logs" / "sim_hardware.log", "w") as log:
        sim, path = _start_simulator(run_dir, log)
        print(f"  simulator up: test_board on {path}", file=out, flush=True)
        link = open_link(path, capture_dir=run_dir / "captures", capture_name="ground-test_board")
        channel = PacketChannel(
            link, Deframer(max_length=None, apid_max={icd.APID: icd.MAX_PACKET_LENGTH})
        )
        session = _Session(channel, random.Random(seed))  # noqa: S311 - test traffic
        try:
            for name, body in PHASES:
                phase = Phase(name)
                body(session, phase)
                phases.append(phase)
                verdict = "ok" if phase.ok else "FAILED"
                print(
                    f"  [{verdict:>6}] {name}: {phase.answered}/{phase.sent} answered",
                    file=out,
                    flush=True,
                )
        finally:
            channel.close()
            sim_stats = _stop_simulator(sim)
    wall = time.perf_counter() - start
    rtts = sorted(session.rtts) or [0.0]
    ok = all(p.ok for p in phases) and len(phases) == len(PHASES)
    summary = {
        "ok": ok,
        "seed": seed,
        "run_id": run_id,
        "sim_seconds": wall,  # the simulator is wall-paced until the simulation clock exists
        "wall_seconds": wall,
        "phases": [p.__dict__ for p in phases],
        "round_trip_ms": {
            "min": rtts[0] * 1e3,
            "median": statistics.median(rtts) * 1e3,
            "p99": rtts[int(len(rtts) * 0.99) - 1 if len(rtts) > 1 else 0] * 1e3,
            "max": rtts[-1] * 1e3,
        },
        "ground_link": link.stats.as_dict(),
        "ground_deframer": channel.deframer.stats.as_dict(),
        "simulator": sim_stats,
        "captures": sorted(p.name for p in (run_dir / "captures").glob("*.pcap")),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    board = sim_stats.get("test_board", {})
    rejects = board.get("deframer", {}).get("rejects", {})
    print(f"\n  {'phase':<40}{'result':>8}{'answered':>10}", file=out)
    for p in phases:
        print(f"  {p.name:<40}{'ok' if p.ok else 'FAILED':>8}{p.answered:>6}/{p.sent:<4}", file=out)
    print(
        f"  round trip median {summary['round_trip_ms']['median']:.2f} ms, "
        f"p99 {summary['round_trip_ms']['p99']:.2f} ms; board rejected {rejects or 'nothing'}; "
        f"skipped {board.get('deframer', {}).get('bytes_skipped', 0)} octets of noise",
        file=out,
    )
    print(f"  {'PASS' if ok else 'FAIL'} in {wall:.1f} s -> {run_dir}/summary.json", file=out)
    return 0 if ok else 1
