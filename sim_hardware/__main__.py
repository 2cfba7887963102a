"""``python -m sim_hardware``: serve emulated boards on pseudo-terminals.

Protocol with whoever started it (the ``msr`` CLI, a test, a person), one JSON object per line on
stdout::

    {"board": "test_board", "path": "/dev/pts/7"}     one per board, as soon as it is served
    {"ready": true}                                   every board is up
    {"stats": {...}}                                  on exit: link and deframer counts per board

It serves until its stdin closes (the parent went away) or it gets SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from types import FrameType

from sim_hardware.devices.test_board import TestBoard
from sim_hardware.host import PtyHost

BOARDS = {"test_board": TestBoard}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m sim_hardware", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--board", action="append", choices=sorted(BOARDS), help="board to serve (repeatable)"
    )
    parser.add_argument("--capture-dir", help="record each board link as pcap files here")
    args = parser.parse_args(argv)
    names = args.board or ["test_board"]
    start = time.monotonic()
    host = PtyHost(
        [BOARDS[name]() for name in names],
        clock=lambda: time.monotonic() - start,  # wall-paced until the simulation clock exists
        capture_dir=args.capture_dir,
    )
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for board in host.boards:
            print(json.dumps({"board": board.emulator.name, "path": board.path}), flush=True)
        print(json.dumps({"ready": True}), flush=True)
        stdin = sys.stdin.fileno()
        while not stopping:
            if stdin in host.serve_once(0.2, [stdin]) and not os.read(stdin, 4096):
                break  # the parent closed our stdin
        print(json.dumps({"stats": host.stats()}), flush=True)
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
