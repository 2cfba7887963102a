"""A stand-in lockstep participant for the clock tests: one process on one timing link.

Run as ``python -m tests.sim_hardware.timing_participant PATH --name NAME --period SECONDS``.
It says hello, then runs one "cycle" per tick and reports its next due time as the next
multiple of ``period`` after the tick (a rate group of that period); on stop it prints
``{"ticks": [[number, time], ...], "stop_reason": r}`` as JSON and exits 0.
"""

from __future__ import annotations

import argparse
import json
import math

from hal.links import open_link
from hal.links.timing import TimingClient, timing_channel


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("link")
    parser.add_argument("--name", required=True)
    parser.add_argument("--period", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    client = TimingClient(timing_channel(open_link(args.link)), args.name)
    client.register()
    seen: list[list[float]] = []
    while (tick := client.wait_tick(args.timeout)) is not None:
        seen.append([tick.number, tick.time])
        cycles = math.floor(round(tick.time / args.period, 9)) + 1
        client.done(cycles * args.period)
    print(json.dumps({"ticks": seen, "stop_reason": client.stop_reason}), flush=True)
    client.channel.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
