"""CPU used by one emulated board keeping its 115200-baud line saturated (issue 18, decision
0033).

This process serves the igloo board's emulator on a pseudo-terminal with the simulator's own
host (:class:`~sim_hardware.host.PtyHost`, the line at 115200 baud both ways, a tick of credit)
on the wall clock, the way a stand-in board is served: ``serve_once`` in a loop, woken by
traffic or by the next frame the line releases. A client process opens the tty and keeps
``WINDOW`` heater status requests outstanding, sending the next as each reply arrives, so the
replies (233 octets each) keep the line from the board busy all the time. The figure is the
host's CPU time (this process's) over the wall time it served; the octets the line carried
show that it was saturated.

``python -m benchmarks.board_line client PATH SECONDS`` is the client.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from typing import Any, Final

BAUD: Final = 115200
WINDOW: Final = 8
"""Requests the client keeps outstanding."""


def client(path: str, seconds: float) -> dict[str, Any]:
    """Request heater status as fast as the line allows for ``seconds``; the replies seen."""
    from hal.links import open_link
    from hal.links.channel import PacketChannel
    from hal.protocol.devices import icd as common
    from hal.protocol.devices import igloo
    from hal.protocol.pus import PusTc

    apid = igloo.BOARD.device("heaters").apid
    sent = replies = 0
    with PacketChannel(open_link(path)) as channel:

        def request() -> None:
            nonlocal sent
            channel.send(PusTc(apid, common.SERVICE_HK, common.SUBTYPE_REPORT_NOW, b"",
                               seq_count=sent & 0x3FFF))  # fmt: skip
            sent += 1

        for _ in range(WINDOW):
            request()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if channel.receive(min(1.0, max(0.0, end - time.monotonic()))) is not None:
                replies += 1
                request()
    return {"sent": sent, "replies": replies}


def run(seconds: float = 10.0) -> dict[str, Any]:
    """Serve the board for ``seconds`` against a saturating client; CPU share and line use."""
    from sim_hardware.devices.igloo import Igloo
    from sim_hardware.host import PtyHost

    start = time.monotonic()
    host = PtyHost([Igloo(random.Random(1))], lambda: time.monotonic() - start,
                   bauds={"igloo": BAUD})  # fmt: skip
    try:
        path = host.boards[0].path
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.board_line", "client", path, str(seconds)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            while host.boards[0].channel.link.stats.bytes_in == 0 and child.poll() is None:
                host.serve_once(0.1)  # the client is starting: not part of the figure
            cpu0, wall0 = time.process_time(), time.monotonic()
            line0 = host.line_stats("igloo")["from_board"]["bytes_out"]
            while child.poll() is None:
                host.serve_once(0.2)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            carried = host.line_stats("igloo")["from_board"]["bytes_out"] - line0
            text, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    finally:
        host.close()
    seen = json.loads(text.strip().splitlines()[-1]) if text.strip() else {}
    return {
        "baud": BAUD,
        "seconds": wall,
        "cpu_seconds": cpu,
        "cpu_fraction": cpu / wall if wall > 0 else 0.0,
        "octets_per_second": carried / wall if wall > 0 else 0.0,
        "line_fraction": carried / wall / (BAUD / 10) if wall > 0 else 0.0,
        **seen,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        print(json.dumps(client(sys.argv[2], float(sys.argv[3]))), flush=True)
    else:
        print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)), flush=True)
