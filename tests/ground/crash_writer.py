"""A ground-station writer for the crash test, run as its own process and killed with SIGKILL.

Usage: ``python crash_writer.py ARCHIVE COMMIT_INTERVAL``

Prints ``ready`` once the archive is open (its schema committed), then adds packets, frames and
events as fast as it can, ticking the archive after each packet, and after every commit prints
the number of packets committed so far: the test's handshake. Packet ``n`` (from 1) has
``seq = n``, one downlink frame and, every tenth, an event, so the test can tell exactly what a
prefix of ``n`` packets holds. Stops by itself after 20 wall seconds, a safety net should the
test fail to kill it.
"""

from __future__ import annotations

import sys
import time

from ground_tools.archive import Archive

FIELDS_PER_PACKET = 6  # seq, uptime, mode, ok, temps[0], temps[1]


def main() -> None:
    path, interval = sys.argv[1], float(sys.argv[2])
    archive = Archive(path, commit_interval=interval)
    print("ready", flush=True)
    deadline = time.monotonic() + 20.0
    n = 0
    while time.monotonic() < deadline:
        n += 1
        t = n * 0.1
        archive.add_packet(
            "lander",
            "core.status",
            t,
            {"seq": n, "uptime": t, "mode": "NOMINAL", "ok": n % 2 == 0, "temps": [n, -n]},
        )
        archive.add_frame("lander", "down", t, n.to_bytes(4, "big") * 64)
        if n % 10 == 0:
            archive.add_event("lander", t, 7, "core.tick", "info", f"packet {n}")
        if archive.tick():
            print(n, flush=True)
    archive.close()


if __name__ == "__main__":
    main()
