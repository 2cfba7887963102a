"""``python -m fsw --node NODE --bench FILE --run-dir DIR``: one node's flight software.

The composition root of a node process. From the bench file and the simulator's port map
(``DIR/ports.json``, for every emulated board, radio and timing link) it opens the node's links,
builds the :class:`~fsw.core.node.Node` with its configuration (``--config``, or the one shipped
for the node), and runs it:

* ``clock = "sim"``: in lockstep, one cycle per tick on the timing link
  (:class:`~hal.links.timing.TimingClient`), reporting its next due time and the octets it wrote;
* ``clock = "wall"``: on the monotonic clock, waiting on the radio until the next cycle is due.

Writes ``DIR/logs/<node>.log`` and keeps its non-volatile store in ``DIR/nv/<node>``. A bad
argument, bench, configuration or missing port is one line on stderr and exit status 2.
Stops on SIGTERM/SIGINT or the simulator's stop, with status 0.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from fsw.core.config import ConfigError, load_config
from fsw.core.log import NodeLog
from fsw.core.node import Node
from fsw.dictionary import NODE_APIDS, node_dictionary
from hal.bench import BenchError, load_bench
from hal.clock import WallClock
from hal.devices import client_class
from hal.devices.base import BoardClient
from hal.errors import HalError, LinkClosed
from hal.links import LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME, Link, open_link
from hal.links.space_link import FlightSpaceLink
from hal.links.timing import TimingClient, timing_channel
from hal.protocol.sdls import NONCE_SIZE, ChallengeNonces
from hal.store import NONCE_SEED_FILE, CounterStore, load_or_create_secret

TICK_TIMEOUT = 60.0
"""Wall seconds a lockstep node waits for a tick before it gives up (the simulator is gone)."""


WALL_WAIT = 0.1
"""Wall seconds a node on the wall clock waits at most between two looks at its stop flag."""


class SetupError(Exception):
    """Something outside the node that stops it from starting (one line)."""


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fsw", description=__doc__.split("\n\n")[0])
    parser.add_argument("--node", required=True, choices=list(NODE_APIDS))
    parser.add_argument("--bench", required=True, help="the bench file (TOML)")
    parser.add_argument("--run-dir", required=True, help="the run folder (ports.json, logs, nv)")
    parser.add_argument("--config", help="the node configuration (default: the shipped one)")
    parser.add_argument("--boot-cause", default="power_on", help="why this start (the log)")
    return parser.parse_args(argv)


def _port_map(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "ports.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SetupError(f"{path}: not a port map: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """Run one node until stopped; the exit status."""
    args = _args(argv)
    run_dir = Path(args.run_dir)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    links: list[Link] = []
    boards: dict[str, BoardClient] = {}
    try:
        bench = load_bench(args.bench)
        if args.node not in bench.nodes:
            raise SetupError(f"{bench.source}: no node {args.node!r} on this bench")
        spec = bench.nodes[args.node]
        config = load_config(args.node, args.config)
        ports = _port_map(run_dir)
        capture = str(run_dir / "captures")
        epoch = bench.epoch.timestamp()  # the captures' records carry the mission's UTC
        timing: TimingClient | None = None
        if bench.clock == "sim":
            path = ports.get("timing", {}).get(args.node)
            if not path:
                raise SetupError(f"{run_dir}/ports.json: no timing link for {args.node}")
            ticks: list[TimingClient] = []  # the captures' clock, once it exists
            link = open_link(
                path, capture_dir=capture, capture_name=f"fsw-{args.node}-timing",
                timestamp=lambda: ticks[0].now() if ticks else 0.0, capture_epoch=epoch,
            )  # fmt: skip
            links.append(link)
            timing = TimingClient(timing_channel(link), args.node)
            ticks.append(timing)
            clock: Any = timing
        else:
            clock = _wall_clock(ports, run_dir)
        for board in bench.boards_of(args.node):
            entry = ports.get("boards", {}).get(board.name, {})
            url = entry.get("path") if board.emulated else board.port
            if not url:
                raise SetupError(f"{run_dir}/ports.json: no port for emulated board {board.name}")
            boards[board.name] = client_class(board.name)(
                url, baudrate=board.baud, usb_serial=board.usb_serial, timeout=0.5,
                capture_dir=capture, capture_name=f"fsw-{args.node}-{board.name}",
                timestamp=clock.now, capture_epoch=epoch, silence=_silence(timing, board.name),
            )  # fmt: skip
        log = NodeLog(run_dir / "logs" / f"{args.node}.log", f"fsw.{args.node}", clock.now)
        radio_url = (
            ports.get("space_links", {}).get(args.node, {}).get("radio")
            if spec.emulated_radio
            else spec.radio
        )
        keys = bench.read_keys(run_dir)
        nv_dir = run_dir / "nv"
        nv_dir.mkdir(parents=True, exist_ok=True)
        node = Node(
            node_dictionary(args.node), config, nv_dir / args.node, clock.now, log,
            boards=boards, boot_cause=args.boot_cause,
        )  # fmt: skip
        radio = None
        if radio_url:
            radio_link = open_link(
                radio_url, baudrate=spec.radio_baud, capture_dir=capture, timestamp=clock.now,
                capture_name=f"fsw-{args.node}-radio", capture_epoch=epoch,
                capture_linktypes=(LINKTYPE_TM_FRAME, LINKTYPE_TC_FRAME),  # sends TM, takes TC
            )  # fmt: skip
            links.append(radio_link)
            radio = FlightSpaceLink(
                radio_link, keys, spec.space_link, store=node.nv.counters(),
                monotonic=clock.now, on_event=node.radio_event,
                nonces=_nonces(bench.clock, run_dir, args.node, clock.now),
                trusted=node.nv.loaded_from != "backup", suite=spec.sdls,
            )  # fmt: skip
            node.attach_radio(radio)
    except (BenchError, ConfigError, SetupError, HalError, KeyError, OSError) as exc:
        print(f"fsw {args.node}: {exc}".splitlines()[0], file=sys.stderr)
        _close(links, boards)
        return 2
    try:
        if timing is not None:
            _run_lockstep(node, timing, list(boards.values()), radio, stopping)
        else:
            _run_wall(node, radio, stopping)
    except LinkClosed as exc:
        log("high", "core.process", f"link lost: {exc}")
    finally:
        log("info", "core.process", "stopped")
        log.close()
        _close(links, boards)
    return 0


def _wall_clock(ports: dict[str, Any], run_dir: Path) -> WallClock:
    """On the wall clock: the simulator's time line when the port map gives its epoch, so the
    node, the boards and the ground tell the same time (decision 0031); else from zero now."""
    clock = ports.get("clock")
    epoch = clock.get("epoch") if isinstance(clock, dict) else None
    if epoch is None:
        return WallClock()
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or not math.isfinite(epoch):
        raise SetupError(f"{run_dir}/ports.json: clock.epoch: not a number: {epoch!r}")
    return WallClock.since(float(epoch))


def _silence(timing: TimingClient | None, board: str) -> Callable[[bytes], bool] | None:
    """In lockstep, a board's driver waits for a reply or the simulator's word that none comes
    this cycle, never for the wall clock (decision 0034)."""
    if timing is None:
        return None
    return lambda request_id: timing.unanswered(board, request_id)


def _nonces(clock: str, run_dir: Path, node: str, now: Callable[[], float]) -> Any:
    """The node's source of resync challenge nonces (decision 0023). On the wall clock: the
    operating system's random source. In SIL (nothing may be unseeded): derived from the run's
    secret (:data:`~hal.store.NONCE_SEED_FILE`), the node's name and how many times its process
    started in this run folder (a count kept outside its NV store), mixed with simulated time,
    so the nonces are reproducible from the run folder and never repeat within it, nor across
    run folders, even when the store is wiped or the key file comes from an earlier run."""
    if clock != "sim":
        return lambda: os.urandom(NONCE_SIZE)
    secret = load_or_create_secret(run_dir / NONCE_SEED_FILE)
    rng_dir = run_dir / "rng"
    rng_dir.mkdir(parents=True, exist_ok=True)
    starts = CounterStore(rng_dir / f"{node}.starts.json")
    count = (starts.get("starts", 0) or 0) + 1
    starts.set("starts", count)  # on the disk before the first nonce of this start
    seed = hmac.new(secret, f"{node}|{count}".encode(), hashlib.sha256).digest()
    return ChallengeNonces(seed, now)


def _run_lockstep(
    node: Node, timing: TimingClient, boards: list[BoardClient], radio: FlightSpaceLink | None,
    stopping: threading.Event,
) -> None:  # fmt: skip
    for board in boards:
        timing.watch(board)
    if radio is not None:
        timing.watch(radio.link)
        link = radio.link  # each tick's relayed frames are read before its cycle
        timing.receive_on(lambda: link.stats.bytes_in, lambda t: radio.poll(t, report=False))
    timing.register()
    while not stopping.is_set():
        tick = timing.wait_tick(TICK_TIMEOUT)
        if tick is None:
            return
        node.cycle()
        timing.done(node.next_due())


def _run_wall(node: Node, radio: FlightSpaceLink | None, stopping: threading.Event) -> None:
    """On the wall clock (decision 0031): a cycle, then wait until the next one is due, or a
    telecommand frame arrives, or at most :data:`WALL_WAIT` for a stop signal to be seen.
    The wait blocks in ``select`` (on the radio) or on the stop event, never spins; what the
    radio brings is taken by the cycle that follows at once (its CLCW goes down at the end of
    that cycle, with the telemetry, as in lockstep). A radio whose far end is gone (the
    simulator's emulated radio) raises ``LinkClosed``: the node stops."""
    while not stopping.is_set():
        node.cycle()
        wait = min(max(0.0, node.next_due() - node.now()), WALL_WAIT)
        if radio is not None:
            radio.poll(wait, report=False)
        else:
            stopping.wait(wait)


def _close(links: list[Link], boards: dict[str, BoardClient]) -> None:
    for board in boards.values():
        board.close()
    for link in links:
        link.close()


if __name__ == "__main__":
    sys.exit(main())
