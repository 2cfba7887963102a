"""End-to-end benchmark over a virtual serial pair: one process sends, this one deframes+decodes.

The receiving side is the real stack: a PtyLink (master) inside a PacketChannel (Deframer + PUS-C
decoder + link statistics); the sending side is another process that opened the pty's tty path
with the serial backend and sends through its own PacketChannel.
"""

from __future__ import annotations

import subprocess
import sys
import time

from hal.links import open_link
from hal.links.channel import PacketChannel


def run(count: int = 200_000) -> dict[str, float]:
    """Packets per second end to end, and integrity counts."""
    link = open_link("pty://")
    with PacketChannel(link) as channel:
        sender = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.pty_sender", link.peer_path, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if sender.stdout is None or sender.stdin is None:
                raise RuntimeError("sender pipes missing")
            if sender.stdout.readline().strip() != "ready":
                raise RuntimeError("sender did not start")
            received = 0
            expected_seq = 0
            out_of_order = 0
            start = time.perf_counter()
            sender.stdin.write("go\n")
            sender.stdin.flush()
            deadline = start + 60
            while received < count and time.perf_counter() < deadline:
                channel.poll(1.0)
                for packet in channel.receive_all(0):
                    if packet.seq_count != expected_seq:
                        out_of_order += 1
                    expected_seq = (packet.seq_count + 1) & 0x3FFF
                    received += 1
            elapsed = time.perf_counter() - start
            sender.stdin.write("bye\n")
            sender.stdin.flush()
        finally:
            sender.stdin.close() if sender.stdin else None
            sender.wait(10)
        stats = link.stats
    return {
        "packets": count,
        "received": received,
        "out_of_order": out_of_order,
        "seconds": elapsed,
        "packets_per_second": received / elapsed if elapsed else 0.0,
        "rejects": sum(stats.errors.values()),
        "frames_in": stats.frames_in,
    }
