"""Sender half of the pty benchmark: ``python -m benchmarks.pty_sender TTY_PATH COUNT``.

Opens the far end of a virtual serial pair like any program would (by its tty path), prints
``ready``, waits for ``go`` on stdin, then encodes, frames and writes COUNT PUS-C TM packets
(53 octets each) in batches.
"""

from __future__ import annotations

import sys

from hal.links import open_link
from hal.links.channel import PacketChannel
from hal.protocol.cuc import CucTime
from hal.protocol.pus import PusTm

BATCH = 256


def main(path: str, count: int) -> None:
    data = bytes(range(32))
    with PacketChannel(open_link(path)) as channel:
        print("ready", flush=True)
        sys.stdin.readline()
        for start in range(0, count, BATCH):
            channel.send_many(
                PusTm(0x42, 3, 25, data, seq_count=i & 0x3FFF, time=CucTime(i, 0))
                for i in range(start, min(count, start + BATCH))
            )
        print("done", flush=True)
        sys.stdin.readline()  # keep the port open until the receiver has everything


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
