"""``python -m sim_hardware``: the simulator of a bench.

``python -m sim_hardware --bench FILE --run-dir DIR`` serves every board the bench emulates on a
pseudo-terminal, relays each emulated space link, drives the participants (by default the
bench's nodes) in lockstep over their timing links, applies the bench's fault schedule, and
opens the fault back door. It writes ``DIR/ports.json`` (board -> tty, space links, timing links,
back door) and ``DIR/ports/<name>`` symlinks, then prints one JSON object per line on stdout::

    {"ports": "DIR/ports.json"}            everything is served: the participants may start
    {"ready": true}
    {"stats": {...}}                       on exit: lockstep, boards, links, faults
    {"error": "..."}                       a one-line reason, before a non-zero exit

``--participant NAME`` (repeatable) names the lockstep's participants instead of the bench's
nodes (``ground`` for the ground session); ``--free-run`` runs without lockstep, simulated time
following the wall clock (a bench of boards only). It runs until every participant is told to
stop (``--until``, the bench's ``duration_limit``), its stdin closes, or SIGTERM/SIGINT.

``python -m sim_hardware --serve BOARD --port PATH [--baud N] [--bench FILE] [--run-dir DIR]
[--couple RUN_DIR]`` serves one board of the bench on an existing serial port, on the wall clock,
with its world (or the world of the bench running in ``RUN_DIR``) and its own back door: a
stand-in board (:mod:`sim_hardware.serve`).

``python -m sim_hardware --board test_board`` serves the foundation's test board alone, on the
wall clock (the ``msr sil`` demonstration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from hal.bench import BenchError, default_bench_path, load_bench
from hal.control import ControlError
from hal.errors import HalError
from sim_hardware.backdoor import MAX_CLIENTS as BACKDOOR_CLIENTS
from sim_hardware.devices.test_board import TestBoard
from sim_hardware.host import PtyHost
from sim_hardware.process import on_stop_signals, watch_stdin

BOARDS = {"test_board": TestBoard}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m sim_hardware", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bench", help="bench file (default: the shipped all-emulated bench)")
    parser.add_argument("--run-dir", help="run folder (default: a new one under the runs_dir)")
    parser.add_argument("--participant", action="append", help="lockstep participant (repeatable)")
    parser.add_argument("--free-run", action="store_true", help="no lockstep: wall-clock time")
    parser.add_argument("--until", type=float, help="stop at this simulated time (s)")
    parser.add_argument("--register-timeout", type=float, default=60.0,
                        help="wall seconds to wait for every participant's hello")  # fmt: skip
    parser.add_argument("--backdoor-clients", type=int, default=BACKDOOR_CLIENTS,
                        help=f"back-door connections at once ({BACKDOOR_CLIENTS})")  # fmt: skip
    parser.add_argument("--round-timeout", type=float, default=5.0,
                        help="wall seconds a participant has to finish a cycle")  # fmt: skip
    parser.add_argument(
        "--board", action="append", choices=sorted(BOARDS), help="serve a test board alone"
    )
    parser.add_argument("--capture-dir", help="with --board: record each board link here")
    parser.add_argument(
        "--serve", metavar="BOARD", help="serve one board on a real port (--port), wall clock"
    )
    parser.add_argument("--port", help="with --serve: the serial device (a socat pair's end)")
    parser.add_argument("--baud", type=int, help="with --serve: the line rate (the bench's)")
    parser.add_argument(
        "--couple", metavar="RUN_DIR", help="with --serve: share the world of the bench there"
    )
    args = parser.parse_args(argv)
    if args.serve or args.port:
        if not (args.serve and args.port):
            parser.error("--serve BOARD and --port PATH go together")
        from sim_hardware.serve import ServeOptions, serve

        options = ServeOptions(
            args.serve, args.port, args.baud, args.bench, args.run_dir, args.couple
        )
        return serve(options)
    if args.board:
        return _serve_test_boards(args.board, args.capture_dir)
    try:
        return _simulate(args)
    except (BenchError, ControlError, HalError, OSError, ValueError) as exc:
        print(json.dumps({"error": str(exc).splitlines()[0]}), flush=True)
        print(f"python -m sim_hardware: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


def _simulate(args: argparse.Namespace) -> int:
    from sim_hardware.simulator import Simulator  # the whole bench: only for this mode

    bench = load_bench(args.bench or default_bench_path())
    run_dir = Path(args.run_dir) if args.run_dir else _new_run_dir(bench.runs_dir)
    participants = [] if args.free_run else args.participant
    sim = Simulator(bench, run_dir, participants=participants, round_timeout=args.round_timeout,
                    backdoor_clients=args.backdoor_clients)  # fmt: skip

    def stop() -> None:
        sim.stopping = True

    on_stop_signals(stop)
    watch_stdin(stop)
    try:
        ports = sim.write_port_map()
        print(json.dumps({"ports": str(ports)}), flush=True)
        print(json.dumps({"ready": True}), flush=True)
        sim.run(register_timeout=args.register_timeout, until=args.until)
        print(json.dumps({"stats": sim.status()}, default=str), flush=True)
    finally:
        sim.close()
    return 0


def _new_run_dir(runs_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = runs_dir / f"sim-{stamp}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def _serve_test_boards(names: list[str], capture_dir: str | None) -> int:
    start = time.monotonic()
    host = PtyHost(
        [BOARDS[name]() for name in names],
        clock=lambda: time.monotonic() - start,
        capture_dir=capture_dir,
    )
    stopping = threading.Event()
    on_stop_signals(stopping.set)
    try:
        for board in host.boards:
            print(json.dumps({"board": board.emulator.name, "path": board.path}), flush=True)
        print(json.dumps({"ready": True}), flush=True)
        stdin = sys.stdin.fileno()
        while not stopping.is_set():
            if stdin in host.serve_once(0.2, [stdin]) and not os.read(stdin, 4096):
                break  # the parent closed our stdin
        print(json.dumps({"stats": host.stats()}), flush=True)
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
