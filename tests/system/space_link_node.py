"""A stand-in flight process for the space-link system test: the flight end of the space link on
a tty, executing every telecommand it receives by writing it to a log and answering it.

Run as ``python tests/system/space_link_node.py --link PATH --keys FILE --store FILE --log FILE``.
Each accepted telecommand is one JSON line in the log, ``{"apid": .., "seq": .., "data": hex}``,
flushed before the reply goes down (a TM[1,7] completion report carrying the same data). It
serves until its stdin closes, then prints the link statistics and every event as JSON on stdout.
The flight-software core (issue 5) replaces it with ``python -m fsw``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
from pathlib import Path

from hal.links import open_link
from hal.links.space_link import FlightSpaceLink, SpaceLinkConfig
from hal.protocol.pus import PusTm
from hal.protocol.sdls import parse_key_file
from hal.store import CounterStore


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--link", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--t1", type=float, default=0.3)
    args = parser.parse_args()
    keys = parse_key_file(Path(args.keys).read_text(), args.keys)
    events: list[tuple[str, str]] = []
    link = open_link(args.link)
    flight = FlightSpaceLink(
        link, keys, SpaceLinkConfig(t1=args.t1, clcw_interval=0.2),
        store=CounterStore(args.store), on_event=lambda n, d: events.append((n, d)),
    )  # fmt: skip
    print(json.dumps({"ready": True}), flush=True)
    stdin = sys.stdin.fileno()
    with open(args.log, "a", encoding="utf-8") as log:
        while True:
            ready, _, _ = select.select([link.fileno(), stdin], [], [], 0.05)
            if stdin in ready and not os.read(stdin, 4096):
                break
            flight.poll(0)
            while (tc := flight.receive(0)) is not None:
                log.write(json.dumps({"apid": tc.apid, "seq": tc.seq_count,
                                      "data": tc.app_data.hex()}) + "\n")  # fmt: skip
                log.flush()
                flight.send_tm(PusTm(tc.apid, 1, 7, tc.app_data[:8]))
            flight.flush()
    print(json.dumps({"stats": flight.stats(), "events": events}), flush=True)
    flight.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
