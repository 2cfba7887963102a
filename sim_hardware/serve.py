"""A stand-in board on a real serial port: ``python -m sim_hardware --serve BOARD --port PATH``.

One emulated board of the bench (any of :data:`~sim_hardware.simulator.EMULATORS`: ``sta_arm``,
``igloo``, ``mav_pyro``...) served on an existing serial device: a USB-serial adapter wired to
the bench (a second computer standing in for the board), or one end of a socat pair (the cable
of ``tests/system/test_hil_cable.py``). It runs on the wall clock, since a board cannot be
paused: board time is the wall seconds since the serve started. The board has its world model
(:class:`~sim_hardware.world.World` and the :class:`~sim_hardware.coupling.Coupling` with this
one board: an arm at the depot is offered the depot's tubes) and its faults, from the bench
file's schedule (the entries that target this board, their ``at`` in seconds since the serve
started) and through its own back door (:mod:`sim_hardware.backdoor`, the run's token first,
decision 0027).

The run folder (``--run-dir``, default a new ``serve-<board>-...`` folder under the bench's
``runs_dir``) holds ``control.token`` and ``ports.json`` (the board, its port and the back door,
in the simulator's port-map form, so ``ground_tools.api.backdoor_request(run_dir, ...)`` and
``msr``'s fault tools reach it). On stdout, one JSON object per line::

    {"board": "sta_arm", "port": "/dev/ttyUSB0", "baud": 115200, "run_dir": "...",
     "backdoor": {"host": "127.0.0.1", "port": 40123}, "token": ".../control.token"}
    {"ready": true}
    {"stats": {...}}                       on exit: the board's link and what it did
    {"error": "..."}                       a one-line reason, before a non-zero exit

The port is opened exclusively (an ``flock``, as pyserial's ``exclusive=True``): a port another
process holds is refused as busy, as is a missing one, each in one line with exit status 2. A
pseudo-terminal carries octets as fast as they are written, so on one (a socat pair) the board's
line is held to its baud rate by the host (decision 0033); a real UART's own rate is the line's.
When the port goes away under it (the adapter unplugged, the cable's socat ended) the board is
gone: it says so in one line and exits with status 1. It stops cleanly on SIGTERM/SIGINT or when
the parent closes its stdin pipe.
"""

from __future__ import annotations

import errno
import json
import math
import os
import random
import select
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hal.bench import BAUD_RATES, Bench, BenchError, default_bench_path, load_bench
from hal.control import TOKEN_FILE, ControlError, create_token
from hal.errors import HalError, LinkClosed, LinkOpenError
from hal.links import Link, open_link
from hal.schema import RequestError
from sim_hardware.backdoor import Backdoor, BackdoorError
from sim_hardware.backdoor_messages import (
    ClearAllRequest,
    ClearRequest,
    FaultsRequest,
    InjectRequest,
    StatusRequest,
    WorldRequest,
    parse_request,
)
from sim_hardware.coupling import Coupling
from sim_hardware.devices.base import BoardEmulator
from sim_hardware.devices.mav_pyro import MavPyro
from sim_hardware.devices.os_container import OsContainer
from sim_hardware.devices.sta_arm import StaArm
from sim_hardware.faults import FaultError, FaultManager
from sim_hardware.host import PtyHost
from sim_hardware.process import on_stop_signals, watch_stdin, write_port_map
from sim_hardware.remote_coupling import COUPLED, CouplingClient
from sim_hardware.simulator import EMULATORS
from sim_hardware.space_link import Impairments
from sim_hardware.world import LidState, World

__all__ = ["ServeError", "StandIn", "open_port", "serve"]

IDLE_WAIT: Final = 0.5
"""Most wall seconds the serving loop sleeps in ``select`` with nothing due (a stop signal is
seen within it); it never wakes more often than something is due."""
DEFAULT_BAUD: Final = 115200


class ServeError(HalError):
    """A stand-in board that cannot be served: the message is one line for the operator."""

    default_reason = "serve"


@dataclass(frozen=True)
class ServeOptions:
    """What ``--serve`` was asked: the board, the port, its rate, the bench and the run folder."""

    board: str
    port: str
    baud: int | None = None
    bench: str | None = None
    run_dir: str | None = None
    couple: str | None = None


def open_port(port: str, baud: int, *, timestamp: Any = time.monotonic) -> Link:
    """Open ``port`` exclusively at ``baud`` for a stand-in board.

    Raises:
        ServeError: no such device, not a serial device, or busy (another process holds it);
            one line naming the port.
    """
    if not os.path.exists(port):
        raise ServeError(
            f"--port {port}: no such device (is the adapter plugged in, the cable up?)"
        )
    try:
        return open_link(port, baudrate=baud, exclusive=True, timestamp=timestamp)
    except LinkOpenError as exc:
        cause = exc.__cause__
        code = getattr(cause, "errno", None)
        text = str(cause or exc)
        if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) or "lock" in text.lower():
            raise ServeError(f"--port {port}: busy: another process holds it") from None
        if code == errno.ENOENT or "No such file" in text:
            raise ServeError(f"--port {port}: no such device") from None
        raise ServeError(f"--port {port}: cannot open: {text.splitlines()[0]}") from None


def build_emulator(name: str, world: World, seed: int) -> BoardEmulator:
    """The emulator of board ``name``, built as the simulator builds it for the same world and
    seed (``sim_hardware.simulator.Simulator``: the OS container as the world has it, the MAV's
    pyro board in flight configuration).

    Raises:
        ServeError: not a board the simulator emulates.
    """
    if name not in EMULATORS:
        raise ServeError(f"--serve {name}: not an emulated board (boards: {', '.join(EMULATORS)})")
    rng = random.Random(f"{seed}/board/{name}")  # noqa: S311 - a simulation
    if name == "os_container":
        return OsContainer(rng, capacity=world.capacity, lid_open=world.lid is LidState.OPEN)
    if name == "mav_pyro":
        return MavPyro(rng, arm_plug=True)
    return EMULATORS[name](rng)


class StandIn:
    """One emulated board with its world, faults and back door, served on an open port.

    Args:
        name: the board (a key of :data:`~sim_hardware.simulator.EMULATORS`).
        link: the open port (:func:`open_port`); closed with the stand-in.
        bench: the bench (seed, tick, fault schedule, the board's rate).
        run_dir: the run folder (token, port map).
        baud: the line's rate.
        line_rate: hold the line to ``baud`` in the host (a pseudo-terminal; a real UART holds
            itself to its rate).
        couple: the run folder of the bench whose world the board shares (its simulator's back
            door, :mod:`sim_hardware.remote_coupling`); None: the stand-in's own world.
    """

    def __init__(
        self, name: str, link: Link, bench: Bench, run_dir: Path, baud: int, *,
        line_rate: bool = False, couple: Path | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self.port = link.url
        self.baud = baud
        self.run_dir = run_dir
        self._start = time.monotonic()
        self._turn = 0.0  # board time of the serving loop's turn: one time for a whole turn
        self.world = World()
        self.emulator = build_emulator(name, self.world, bench.seed)
        self.coupling = Coupling(
            self.world, {name: self.emulator}, None,
            random.Random(f"{bench.seed}/coupling"),  # noqa: S311 - a simulation
        )  # fmt: skip
        self.remote: CouplingClient | None = None
        if couple is not None:
            if not isinstance(self.emulator, StaArm):
                link.close()
                raise ServeError(f"--couple: only {', '.join(COUPLED)} couples to a bench's world")
            self.remote = CouplingClient(couple, self.emulator, self._say)
        self.backdoor: Backdoor | None = None
        self.host = PtyHost(
            [self.emulator], lambda: self._turn, seed=bench.seed, links={name: link},
            bauds={name: baud} if line_rate else None, burst=bench.tick,
        )  # fmt: skip
        try:
            schedule = tuple(f for f in bench.faults if f.board == name)
            self.faults = FaultManager(
                {name: self.emulator}, {name: baud}, {}, self._impair, tick=bench.tick,
                schedule=schedule,
            )  # fmt: skip
            self.backdoor = Backdoor(self._request, token=create_token(run_dir))
        except BaseException:
            self.close()
            raise
        self.stopping = threading.Event()

    def now(self) -> float:
        """Board time: wall seconds since the stand-in started."""
        return time.monotonic() - self._start

    # ------------------------------------------------------------------ serving

    def run(self) -> None:
        """Serve until :attr:`stopping` is set.

        Raises:
            LinkClosed: the port went away (unplugged, the cable's socat ended).
        """
        door = self.backdoor
        if door is None:  # pragma: no cover - built in the constructor
            return
        board_fd = self.host.fds[0]
        while not self.stopping.is_set():
            due = min(self.faults.next_due(), self.host.next_due())
            wait = IDLE_WAIT if math.isinf(due) else min(IDLE_WAIT, max(0.0, due - self.now()))
            ready, room, _ = select.select([board_fd, *door.fds], door.writers, [], wait)
            now = self._turn = max(self._turn, self.now())
            self.faults.advance(now, self._physics)  # the world knows the board before it answers
            if board_fd in ready:
                self.host.serve_ready([board_fd])
                self._couple(now)
            if ready or room:
                door.serve_ready(ready, room)

    def _physics(self, t: float) -> None:
        self.host.advance(t)
        self._couple(t)

    def _couple(self, t: float) -> None:
        if self.remote is not None:
            self.remote.sync()
        else:
            self.coupling.sync(t)

    def _say(self, line: str) -> None:
        print(json.dumps({"coupling": line}), flush=True)

    def _impair(self, kind: str, name: str, impairments: Mapping[str, Impairments]) -> None:
        for direction, value in impairments.items():
            self.host.impair(name, value, [direction])  # type: ignore[list-item]

    # ------------------------------------------------------------------ the back door

    def _request(self, request: Any) -> dict[str, Any]:
        """One back-door line, parsed into its schema first (decision 0028), answered as the
        simulator answers it, for this one board."""
        try:
            message = parse_request(request)
        except RequestError as exc:
            raise BackdoorError(str(exc)) from None
        now = self.now()
        try:
            if isinstance(message, InjectRequest):
                fault_id = self.faults.inject(
                    message.target, message.kind, now, duration=message.duration,
                    at=message.at, params=message.params,
                )  # fmt: skip
                self._couple(now)
                return {"id": fault_id, "time": now}
            if isinstance(message, ClearRequest):
                self.faults.clear(message.id, now)
                return {"time": now}
            if isinstance(message, ClearAllRequest):
                return {"cleared": self.faults.clear_all(now, message.target), "time": now}
            if isinstance(message, FaultsRequest):
                return {"faults": self.faults.listing(), "history": self.faults.history[-100:],
                        "report": self.faults.report()}  # fmt: skip
            if isinstance(message, StatusRequest):
                return self.status()
            if isinstance(message, WorldRequest):
                return {"world": self.world.snapshot(), "time": now}
        except FaultError as exc:
            raise BackdoorError(str(exc)) from None
        raise BackdoorError(f"unhandled request {type(message).__name__}")

    # ------------------------------------------------------------------ reporting

    def port_map(self) -> dict[str, Any]:
        """The run folder's ``ports.json``: the board on its port, and the back door."""
        host, port = self.backdoor.address if self.backdoor is not None else ("", 0)
        return {
            "pid": os.getpid(), "stand_in": self.name, "clock": {"mode": "wall"},
            "boards": {self.name: {"path": self.port, "baud": self.baud, "emulated": True}},
            "backdoor": {"host": host, "port": port},
        }  # fmt: skip

    def write_port_map(self) -> Path:
        """Write ``ports.json`` into the run folder (atomically); return its path."""
        return write_port_map(self.run_dir, self.port_map())

    def status(self) -> dict[str, Any]:
        """Board time, faults, the board's link and what it did, the world in brief."""
        return {
            "time": self.now(), "faults": self.faults.listing(), "boards": self.host.stats(),
            "coupling_refusals": self.coupling.refusals, "lid": self.world.lid.value,
            "coupled": None if self.remote is None else {
                "run_dir": str(self.remote.run_dir), "connected": self.remote.connected,
                "reports": self.remote.reports, "failures": self.remote.failures,
            },
        }  # fmt: skip

    def close(self) -> None:
        """Close the port and the back door (idempotent)."""
        self.host.close()
        if self.backdoor is not None:
            self.backdoor.close()


def serve(options: ServeOptions) -> int:
    """Serve one stand-in board (module docstring); the process exit code.

    Bad input (an unknown board, a missing or busy port, a bad bench file or baud rate) and a
    port lost while serving are one line on stdout (``{"error": ...}``) and stderr, never a
    traceback.
    """
    try:
        stand_in = _start(options)
    except (BenchError, ControlError, ServeError, HalError, OSError, ValueError) as exc:
        return _fail(exc, 2)
    on_stop_signals(stand_in.stopping.set)
    watch_stdin(stand_in.stopping.set)
    code = 0
    try:
        stand_in.write_port_map()
        host, port = stand_in.backdoor.address if stand_in.backdoor else ("", 0)
        print(json.dumps({
            "board": stand_in.name, "port": stand_in.port, "baud": stand_in.baud,
            "run_dir": str(stand_in.run_dir), "backdoor": {"host": host, "port": port},
            "token": str(stand_in.run_dir / TOKEN_FILE),
        }), flush=True)  # fmt: skip
        print(json.dumps({"ready": True}), flush=True)
        try:
            stand_in.run()
        except LinkClosed as exc:
            code = _fail(
                ServeError(f"--port {stand_in.port}: the port went away ({exc.reason})"), 1
            )
        print(json.dumps({"stats": stand_in.status()}, default=str), flush=True)
    finally:
        stand_in.close()
    return code


def _start(options: ServeOptions) -> StandIn:
    bench = load_bench(options.bench or default_bench_path())
    if options.board not in EMULATORS:
        raise ServeError(
            f"--serve {options.board}: not an emulated board (boards: {', '.join(EMULATORS)})"
        )
    spec = bench.boards.get(options.board)
    baud = options.baud or (spec.baud if spec is not None else DEFAULT_BAUD)
    if baud not in BAUD_RATES:
        raise ServeError(
            f"--baud {baud}: not a standard baud rate ({', '.join(map(str, BAUD_RATES))})"
        )
    link = open_port(options.port, baud)
    pty = os.path.realpath(options.port).startswith("/dev/pts/")
    try:
        if options.run_dir:
            run_dir = Path(options.run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = bench.runs_dir / f"serve-{options.board}-{stamp}-{os.getpid()}"
            run_dir.mkdir(parents=True, exist_ok=False)
        couple = Path(options.couple) if options.couple else None
        return StandIn(options.board, link, bench, run_dir, baud, line_rate=pty, couple=couple)
    except BaseException:
        link.close()
        raise


def _fail(exc: BaseException, code: int) -> int:
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(json.dumps({"error": line}), flush=True)
    print(f"python -m sim_hardware: {line}", file=sys.stderr)
    return code
