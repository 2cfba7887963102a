"""The simulator of a bench: every emulated board, the world, the space links and the clock.

:class:`Simulator` is the composition root of ``python -m sim_hardware --bench FILE``. From the
bench file it builds:

* one emulator per board whose ``port`` is ``"sim"``, each with its own seeded generator, served
  on a pseudo-terminal by a :class:`~sim_hardware.host.PtyHost` (boards on real ports are left to
  the real hardware);
* the :class:`~sim_hardware.world.World` and the :class:`~sim_hardware.coupling.Coupling` that
  ties the boards to it;
* for each node whose ``radio`` is ``"sim"``, a :class:`RadioRelay`: two pseudo-terminals, the
  node's radio and the ground's station, and a :class:`~sim_hardware.space_link.LinkPath` each
  way with the node's light time, bit-error rate and blackouts, in simulated time;
* a timing link (pseudo-terminal) per participant and the :class:`~sim_hardware.clock.Lockstep`
  that drives them (``clock = "sim"``: as fast as they answer; ``"wall"``: see below);
* the :class:`~sim_hardware.faults.FaultManager` with the bench's fault schedule, and the
  :class:`~sim_hardware.backdoor.Backdoor` through which tests and the ground inject more.

Every descriptor is served from one ``select`` loop, the lockstep's wait: device requests are
answered at once at the current simulated time, frames in flight come out when simulated time
reaches them, and the clock jumps over idle spans only as far as the next frame, fault or late
reply due. All captures (``captures/*.pcap``) are stamped with simulated time, so the same seed,
bench file and participant behaviour give the same files, byte for byte.

**On the wall clock** (``clock = "wall"``, hardware in the loop; decision 0031) a real board
cannot be paused, so nothing waits for the nodes: they run their rate groups on their own
monotonic clocks and are never lockstep participants (naming one is an error). Simulated time
is the wall clock since :attr:`Simulator.epoch` (a ``time.monotonic`` value, in the port map,
so every process of the bench on this machine reads the same time line): the emulated boards,
the world, the space-link paths, the faults and the captures all follow it, and a board answers
a request with its state at the moment the request is read. The only participant there may be
is the ground station, whose ticks are paced to the same time line (every regular tick, never
a jump), so it runs unchanged: its cycle takes the downlink and sends the uplink ten times a
second, and every timeout it and the procedures measure is in real seconds. Without any
participant (``--free-run``, or a wall bench without ``--participant ground``) the boards
simply follow the wall clock.

The port map (:data:`PORT_MAP`, JSON, in the run folder) tells the nodes and the ground where
everything is; ``ports/<name>`` symlinks give each tty a stable name.
"""

from __future__ import annotations

import math
import os
import random
import select
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from hal.bench import Bench, NodeSpec
from hal.control import create_token
from hal.errors import LinkError
from hal.links import LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME, Link, open_link
from hal.links.channel import FrameReader, PacketChannel
from hal.links.timing import timing_channel
from hal.protocol.framing import ASM, Deframer, FixedLengthRule, TcFrameRule
from hal.protocol.pus import PusTc, PusTm, RequestId
from hal.protocol.timing import Unanswered
from hal.schema import RequestError
from sim_hardware.backdoor import MAX_CLIENTS as BACKDOOR_CLIENTS
from sim_hardware.backdoor import Backdoor, BackdoorError
from sim_hardware.backdoor_messages import (
    BackdoorRequest,
    ClearAllRequest,
    ClearRequest,
    CoupleRequest,
    FaultsRequest,
    InjectRequest,
    LoseTubeRequest,
    StatusRequest,
    WorldRequest,
    parse_request,
)
from sim_hardware.clock import Lockstep, ParticipantTimeout, RoundInterrupted, SimClock
from sim_hardware.coupling import Coupling, CouplingConfig
from sim_hardware.devices.base import BoardEmulator
from sim_hardware.devices.braze import Braze
from sim_hardware.devices.capture import Capture
from sim_hardware.devices.ees_gantry import EesGantry
from sim_hardware.devices.igloo import Igloo
from sim_hardware.devices.mav_avionics import MavAvionics
from sim_hardware.devices.mav_pyro import MavPyro
from sim_hardware.devices.nac_camera import NacCamera
from sim_hardware.devices.orient import Orient
from sim_hardware.devices.os_container import OsContainer
from sim_hardware.devices.sta_arm import StaArm
from sim_hardware.devices.sta_vision import StaVision
from sim_hardware.faults import FaultError, FaultManager
from sim_hardware.host import PtyHost
from sim_hardware.process import PORT_MAP, write_port_map
from sim_hardware.remote_coupling import couple
from sim_hardware.space_link import Impairments, LinkPath
from sim_hardware.world import LidState, Reason, Refused, World, WorldConfig

__all__ = ["EMULATORS", "PORT_MAP", "RadioRelay", "Simulator"]

EMULATORS: Final[Mapping[str, type[BoardEmulator]]] = {
    "sta_arm": StaArm, "sta_vision": StaVision, "os_container": OsContainer, "igloo": Igloo,
    "mav_avionics": MavAvionics, "mav_pyro": MavPyro, "nac_camera": NacCamera,
    "capture": Capture, "orient": Orient, "braze": Braze, "ees_gantry": EesGantry,
}  # fmt: skip
"""Every board the simulator can emulate, by its bench-file name."""
"""The port map's file name in the run folder."""
OUTBOX_LIMIT: Final = 1 << 20
"""Octets a relay holds for an end that is not reading (a radio's buffer); more are dropped."""
STOP_GRACE: Final = 2.0
"""Wall seconds the timing links stay open after the stop, for the participants to read it."""
STOP_SETTLE: Final = 0.05
"""Wall seconds the simulator waits after the stop before trusting a link's unread count: a
pty moves written octets to the reading side asynchronously, so right after the write the
count can still say 0 (decision 0012)."""
GROUND: Final = "ground"
"""The name of the ground session as a lockstep participant."""


class Outbox:
    """Frames on their way to one end of a relay, written as fast as that end's reader takes
    them and never waiting for it: a participant that is between cycles does not read, and the
    simulator must go on serving everyone else meanwhile (a blocking write there stalled the
    lockstep once a COP-1 window of long frames filled the pty).

    Beyond :data:`OUTBOX_LIMIT` octets waiting, further frames are dropped (``relay_overflow``)
    as a radio's full buffer would; COP-1 sends them again.
    """

    def __init__(self, link: Link) -> None:
        self.link = link
        self.frames: deque[bytes] = deque()
        self.held = 0
        self.high_water = 0
        self.queued = 0
        """Octets accepted so far (the lockstep announces them in the ticks)."""
        self._sent = 0  # octets of the first frame already written

    def put(self, frames: list[bytes]) -> None:
        """Queue frames (each whole, or dropped whole when there is no room)."""
        for frame in frames:
            if self.held + len(frame) > OUTBOX_LIMIT:
                self.link.record_error("relay_overflow")
                continue
            self.frames.append(frame)
            self.held += len(frame)
            self.queued += len(frame)
        self.high_water = max(self.high_water, self.held)

    def flush(self) -> None:
        """Write what the end takes now; a frame counts as sent once its last octet went."""
        try:
            while self.frames:
                frame = self.frames[0]
                self._sent += self.link.write_ready(frame[self._sent :])
                if self._sent < len(frame):
                    return
                self.link.record_frame_out(frame)
                self.frames.popleft()
                self.held -= len(frame)
                self._sent = 0
        except LinkError as exc:  # nobody listening on that end: the frames are lost
            self.link.record_error(f"relay_{exc.reason}", len(self.frames))
            self.frames.clear()
            self.held = self._sent = 0


class RadioRelay:
    """One node's emulated space link: the ground's station <-> the path <-> the node's radio.

    Uplink frames (ground to node) are cut by their TC frame length, downlink frames by the
    node's fixed TM frame length; each is then what the :class:`LinkPath` of its direction makes
    of it (light time, bit errors, blackouts, link faults), delivered when simulated time
    reaches it.

    Args:
        node: the node's bench entry.
        seed: the run's seed.
        clock: simulated time (stamps the captures).
        capture_dir: where the two ends record their pcap files.
        ports_dir: where the ``ground-<node>`` and ``radio-<node>`` symlinks go.
        tick: the simulation tick: the radio line's credit, in seconds (decision 0033).
        capture_epoch: the mission epoch, POSIX seconds, added to the captures' stamps.
    """

    def __init__(
        self,
        node: NodeSpec,
        seed: int,
        clock: Callable[[], float],
        capture_dir: str | None,
        ports_dir: Path | None,
        tick: float = 0.1,
        capture_epoch: float = 0.0,
    ) -> None:
        self.node = node.name
        self.base = Impairments(
            delay=node.light_time, bit_error_rate=node.bit_error_rate, blackouts=node.blackouts,
            baud=node.radio_baud, burst=tick,  # the radio's rate, a tick of credit (0033)
        )  # fmt: skip
        self.up = LinkPath(self.base, random.Random(f"{seed}/space/{node.name}/up"))  # noqa: S311
        self.down = LinkPath(self.base, random.Random(f"{seed}/space/{node.name}/down"))  # noqa: S311
        self.ground: Link = open_link(
            "pty://", capture_dir=capture_dir, capture_name=f"space-{node.name}-ground",
            timestamp=clock, symlink=_symlink(ports_dir, f"ground-{node.name}"),
            capture_epoch=capture_epoch,  # sends the downlink's TM, takes the uplink's TC
            capture_linktypes=(LINKTYPE_TM_FRAME, LINKTYPE_TC_FRAME),
        )  # fmt: skip
        try:
            self.radio: Link = open_link(
                "pty://", capture_dir=capture_dir, capture_name=f"space-{node.name}-radio",
                timestamp=clock, symlink=_symlink(ports_dir, f"radio-{node.name}"),
                capture_epoch=capture_epoch,  # sends the uplink's TC, takes the downlink's TM
                capture_linktypes=(LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME),
            )  # fmt: skip
        except BaseException:
            self.ground.close()
            raise
        config = node.space_link
        self._uplink = FrameReader(self.ground, Deframer(rule=TcFrameRule(config.tc_frame_max)))
        self._downlink = FrameReader(
            self.radio, Deframer(rule=FixedLengthRule(config.tm_frame_length))
        )
        self._to_radio = Outbox(self.radio)
        self._to_ground = Outbox(self.ground)
        self.in_lockstep = False
        """Deliver frames only when time moves (:meth:`advance`, before a tick), never while
        a round is open, so each participant takes them in the same cycle in every run."""

    @property
    def fds(self) -> list[int]:
        """The two ends' descriptors."""
        return [self.ground.fileno(), self.radio.fileno()]

    def ends(self) -> dict[str, str]:
        """The tty paths: ``ground`` (the ground station's) and ``radio`` (the node's)."""
        return {
            "ground": str(getattr(self.ground, "peer_path", "")),
            "radio": str(getattr(self.radio, "peer_path", "")),
        }

    def impair(self, impairments: Mapping[str, Impairments]) -> None:
        """Set the ``up`` and/or ``down`` impairments (the bench's own plus any link fault)."""
        for direction, value in impairments.items():
            getattr(self, direction).impairments = value

    def serve_ready(self, ready: set[int], now: float) -> None:
        """Take the frames either end wrote, and deliver what is due by ``now``."""
        for end, reader, path in (
            (self.ground, self._uplink, self.up),
            (self.radio, self._downlink, self.down),
        ):
            if end.fileno() in ready:
                for raw in reader.read(0):
                    path.push_frame(ASM + raw, now)
        if self.in_lockstep:  # what is queued goes out as the ends take it; nothing new
            self._to_radio.flush()
            self._to_ground.flush()
        else:
            self.advance(now)

    @property
    def to_radio(self) -> int:
        """Octets queued so far for the node's radio."""
        return self._to_radio.queued

    @property
    def to_ground(self) -> int:
        """Octets queued so far for the ground's end."""
        return self._to_ground.queued

    def advance(self, now: float) -> None:
        """Deliver the frames due by ``now``, as far as each end takes them without waiting."""
        for path, outbox in ((self.up, self._to_radio), (self.down, self._to_ground)):
            outbox.put(path.due(now))
            outbox.flush()

    @property
    def writers(self) -> list[int]:
        """The ends holding frames they could not take yet (to watch for room)."""
        return [box.link.fileno() for box in (self._to_radio, self._to_ground) if box.frames]

    def next_due(self) -> float:
        """When the next frame in flight arrives (``math.inf``: none)."""
        dues = [d for d in (self.up.next_due, self.down.next_due) if d is not None]
        return min(dues, default=math.inf)

    def stats(self) -> dict[str, Any]:
        """What each direction did (``held``: most octets waiting for the far end at once)."""
        return {
            "up": {**self.up.stats.as_dict(), "held": self._to_radio.high_water},
            "down": {**self.down.stats.as_dict(), "held": self._to_ground.high_water},
        }

    def close(self) -> None:
        """Close both ends (idempotent)."""
        self.ground.close()
        self.radio.close()


class Simulator:
    """Everything below the flight software of one bench, in one process.

    Args:
        bench: the bench (from :func:`hal.bench.load_bench`).
        run_dir: the run folder: ``ports.json``, ``ports/``, ``captures/`` go there.
        participants: the lockstep's participants (names); by default every node of the
            bench on the simulated clock, none on the wall clock (where a node may not be one).
            An empty list runs without lockstep: simulated time follows the wall clock.
        world_config: the world's starting state (defaults: :class:`WorldConfig`).
        coupling_config: the coupling figures (defaults: :class:`CouplingConfig`).
        round_timeout: wall seconds every participant has to finish a cycle.
        wall: the monotonic wall clock (pacing, free running, timeouts); on the wall clock,
            ``time.monotonic`` for the epoch to mean the same to the other processes.
        backdoor_clients: back-door connections at once (more are refused, decision 0027).

    Raises:
        ValueError: a node named as a participant of a wall-clock bench.
    """

    def __init__(
        self,
        bench: Bench,
        run_dir: str | os.PathLike[str],
        *,
        participants: Sequence[str] | None = None,
        world_config: WorldConfig | None = None,
        coupling_config: CouplingConfig | None = None,
        round_timeout: float = 5.0,
        wall: Callable[[], float] = time.monotonic,
        backdoor_clients: int = BACKDOOR_CLIENTS,
    ) -> None:
        self.bench = bench
        self._backdoor_clients = backdoor_clients
        self.run_dir = Path(run_dir)
        self.ports_dir = self.run_dir / "ports"
        self.capture_dir = str(self.run_dir / "captures")
        self.ports_dir.mkdir(parents=True, exist_ok=True)
        self.clock = SimClock()
        self.wall = wall
        self.wall_clock = bench.clock == "wall"
        self.epoch: float | None = wall() if self.wall_clock else None
        """The wall time (``wall``) of simulated time 0 while simulated time follows the wall
        clock (``None``: it does not, or not yet)."""
        if self.wall_clock:
            nodes = [name for name in participants or () if name in bench.nodes]
            if nodes:
                raise ValueError(
                    f"participant {nodes[0]!r}: on the wall clock a node runs on its own clock "
                    f"and never joins the lockstep (only {GROUND!r} may)"
                )
            participants = participants or []
        self.stopping = False
        self.world = World(world_config)
        self.emulators: dict[str, BoardEmulator] = {
            spec.name: self._emulator(spec.name) for spec in bench.emulated_boards
        }
        self.coupling = Coupling(
            self.world, self.emulators, coupling_config,
            random.Random(f"{bench.seed}/coupling"),  # noqa: S311 - a simulation
        )  # fmt: skip
        self._losses: list[tuple[int, float]] = []  # lose_tube asked in an open round: serial, time
        self.host: PtyHost | None = None
        self.relays: dict[str, RadioRelay] = {}
        self.timing: dict[str, PacketChannel] = {}
        self.backdoor: Backdoor | None = None
        self._counted: dict[str, list[Link] | None] = {}
        try:
            self._open(participants)
            self.faults = FaultManager(  # a refused schedule closes what was opened
                self.emulators, {b.name: b.baud for b in bench.boards.values()},
                {name: {"up": r.base, "down": r.base} for name, r in self.relays.items()},
                self._impair, tick=bench.tick, schedule=bench.faults,
            )  # fmt: skip
        except BaseException:
            self.close()
            raise
        self.lockstep: Lockstep | None = None
        if self.timing and self.wall_clock:
            # the ground alone, on a clock of its own: ticks on the grid, every one paced to the
            # wall (max_jump: never a jump); the boards and relays follow the wall in _wait
            self.lockstep = Lockstep(
                self.timing, bench.tick, "wall", wall=wall, wait=self._wait,
                clock=SimClock(), round_timeout=round_timeout, max_jump=bench.tick,
                received=self.received, stopping=lambda: self.stopping,
            )  # fmt: skip
        elif self.timing:
            self.lockstep = Lockstep(
                self.timing, bench.tick, "wall" if bench.clock == "wall" else "sim",
                wall=wall, wait=self._wait, clock=self.clock, next_due=self.next_due,
                advance_hooks=[self.advance], round_timeout=round_timeout,
                received=self.received, queued=self.queued, stopping=lambda: self.stopping,
                skippable=list(self.timing),  # partial rounds (decision 0050)
            )  # fmt: skip
            for relay in self.relays.values():
                relay.in_lockstep = True
            if self.host is not None and bench.clock == "sim":
                self.host.on_unanswered = self._unanswered  # decision 0034

    def _emulator(self, name: str) -> BoardEmulator:
        rng = random.Random(f"{self.bench.seed}/board/{name}")  # noqa: S311 - a simulation
        if name == "os_container":
            lid_open = self.world.lid is LidState.OPEN
            return OsContainer(rng, capacity=self.world.capacity, lid_open=lid_open)
        if name == "mav_pyro":
            # the MAV on the lander is in flight configuration: its arm plug went in on Earth
            return MavPyro(rng, arm_plug=True)
        return EMULATORS[name](rng)

    def _open(self, participants: Sequence[str] | None) -> None:
        self.host = PtyHost(
            list(self.emulators.values()), self.clock.now, capture_dir=self.capture_dir,
            capture_epoch=self.bench.epoch.timestamp(),
            symlinks={name: str(self.ports_dir / name) for name in self.emulators},
            seed=self.bench.seed, burst=self.bench.tick,
            bauds={name: self.bench.boards[name].baud for name in self.emulators},  # 0033
        )  # fmt: skip
        # in lockstep a line's late frames reach the tty before the tick goes out (0033)
        self.host.settle = self.bench.clock == "sim" and participants != []
        for node in self.bench.nodes.values():
            if node.emulated_radio:
                self.relays[node.name] = RadioRelay(
                    node, self.bench.seed, self.clock.now, self.capture_dir, self.ports_dir,
                    tick=self.bench.tick, capture_epoch=self.bench.epoch.timestamp(),
                )  # fmt: skip
        names = list(self.bench.nodes) if participants is None else list(participants)
        for name in names:
            link = open_link(
                "pty://", capture_dir=self.capture_dir, capture_name=f"timing-{name}",
                timestamp=self.clock.now, symlink=str(self.ports_dir / f"timing-{name}"),
                capture_epoch=self.bench.epoch.timestamp(),
            )  # fmt: skip
            self.timing[name] = timing_channel(link)
        self.backdoor = Backdoor(
            self._request, token=create_token(self.run_dir), max_clients=self._backdoor_clients
        )

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        """Simulated time, seconds."""
        return self.clock.now()

    def advance(self, t: float) -> None:
        """Bring everything to simulated time ``t`` (the lockstep's hook, before each tick)."""
        losses, self._losses = self._losses, []
        for serial, at in losses:  # asked for while the last round was open, in that order
            try:
                self.coupling.lose_tube(serial, at)
            except Refused:
                pass  # the round moved the tube (the arm took it out): the coupling logged it
        self.faults.advance(t, self._physics)
        for relay in self.relays.values():
            relay.advance(t)

    def _physics(self, t: float) -> None:
        """The boards and the world, brought to ``t``."""
        if self.host is not None:
            self.host.advance(t)
        self.coupling.sync(t)

    def next_due(self) -> float:
        """The simulator's own next event: a frame in flight, a fault, a late reply."""
        dues = [self.faults.next_due(), *(r.next_due() for r in self.relays.values())]
        if self.host is not None:
            dues.append(self.host.next_due())
        return min(dues)

    def participant_links(self, name: str) -> list[Link] | None:
        """The links participant ``name`` writes on besides its timing link: a node's emulated
        boards and radio, the ground's station ends (``None``: a participant the bench does
        not know, whose links cannot be counted)."""
        if name == GROUND:
            return [relay.ground for relay in self.relays.values()]
        if name not in self.bench.nodes:
            return None
        served = {} if self.host is None else self.host.by_name
        links = [
            served[spec.name].channel.link
            for spec in self.bench.emulated_boards
            if spec.node == name and spec.name in served
        ]
        relay = self.relays.get(name)
        return links if relay is None else [*links, relay.radio]

    def received(self, name: str) -> int | None:
        """Octets read so far from participant ``name``'s links (the lockstep's count)."""
        if name not in self._counted:  # the links never change during a run: find them once
            self._counted[name] = self.participant_links(name)
        links = self._counted[name]
        return None if links is None else sum(link.stats.bytes_in for link in links)

    def _unanswered(self, board: str, request: PusTc | PusTm) -> None:
        """Tell the node that owns ``board`` that ``request`` gets no reply this cycle (TC[130,6]
        on its timing link): its driver stops waiting (decision 0034)."""
        spec = self.bench.boards.get(board)
        channel = None if spec is None else self.timing.get(spec.node)
        if channel is None:
            return
        notice = Unanswered(board, RequestId.of(request).pack())
        try:
            channel.send(notice.to_packet().pack())
        except LinkError as exc:  # the node is gone: the lockstep names it
            channel.link.record_error(f"unanswered_{exc.reason}")

    def queued(self, name: str) -> int | None:
        """Octets queued so far for participant ``name`` on its links from the simulator: a
        node's radio, the ground's station ends (the lockstep's ``sent`` in each tick)."""
        if name == GROUND:
            return sum(relay.to_ground for relay in self.relays.values())
        relay = self.relays.get(name)
        return None if relay is None else relay.to_radio

    def _wait(self, seconds: float, fds: Sequence[int]) -> None:
        """Serve every link for up to ``seconds`` of wall time, or until a participant's link
        (``fds``) has something (the lockstep's wait). While simulated time follows the wall
        clock, also until the simulator's own next event, and everything is brought to the
        wall's time before and after."""
        following = self.epoch is not None
        if following:
            seconds = min(seconds, self.next_due() - self.follow_wall())
        mine = self.fds
        writers = [fd for relay in self.relays.values() for fd in relay.writers]
        if self.backdoor is not None:
            writers += self.backdoor.writers
        ready, room, _ = select.select([*fds, *mine], writers, [], max(0.0, seconds))
        if following:
            self.follow_wall()
        if ready or room:
            self.serve_ready({*ready, *room})
        if following:
            self.advance(self.clock.now())

    def follow_wall(self) -> float:
        """Move simulated time to the wall clock's (since :attr:`epoch`) when that is later;
        return simulated time. Nothing moves while :attr:`epoch` is ``None``."""
        if self.epoch is not None:
            t_us = int((self.wall() - self.epoch) * 1_000_000)
            if t_us > self.clock.now_us:
                self.clock.advance_to_us(t_us)
        return self.clock.now()

    @property
    def fds(self) -> list[int]:
        """Every descriptor the simulator serves, the timing links excepted."""
        out = [] if self.host is None else list(self.host.fds)
        for relay in self.relays.values():
            out += relay.fds
        if self.backdoor is not None:
            out += self.backdoor.fds
        return out

    def serve_ready(self, ready: set[int]) -> None:
        """Answer what is ready, at the current simulated time."""
        now = self.clock.now()
        if self.host is not None:
            boards = [fd for fd in self.host.fds if fd in ready]
            self.host.serve_ready(boards)
            if boards:  # a command may have changed what the world must follow
                self.coupling.sync(now)
        for relay in self.relays.values():
            relay.serve_ready(ready, now)
        if self.backdoor is not None:
            self.backdoor.serve_ready(ready, ready)

    # ------------------------------------------------------------------ running

    def run(self, *, register_timeout: float = 60.0, until: float | None = None) -> None:
        """Run until :attr:`stopping` (a signal), ``until`` or the bench's duration limit.

        With participants: wait for every hello, then lockstep rounds; a normal end sends
        every participant a stop. Without: simulated time follows the wall clock.

        Raises:
            LockstepError: a participant is silent or lost (the others were told to stop).
        """
        limit = min(x for x in (until, self.bench.duration_limit, math.inf) if x is not None)
        if self.lockstep is None:
            self._run_free(limit)
            return
        if self.wall_clock:
            self._run_wall(self.lockstep, register_timeout, limit)
            return
        self.lockstep.register(register_timeout)
        try:
            while not self.stopping and self.clock.now() < limit:
                self.lockstep.run(rounds=1)
        except RoundInterrupted:
            pass  # told to stop in a round a participant holds (the end of a campaign)
        self.lockstep.stop()
        self._linger()

    def _linger(self) -> None:
        """After the stop: keep the timing links open until every participant has read it, or
        :data:`STOP_GRACE` wall seconds have passed, so none of them loses the stop telecommand
        by the link closing under it."""
        start = self.wall()
        deadline = start + STOP_GRACE
        links = [channel.link for channel in self.timing.values()]

        def unread() -> bool:
            return any(getattr(link, "unread_by_peer", 0) for link in links)

        while self.wall() < start + STOP_SETTLE or unread():
            remaining = deadline - self.wall()
            if remaining <= 0:
                return
            self._wait(min(remaining, 0.01), [])

    def _run_free(self, limit: float) -> None:
        """No participant: simulated time follows the wall clock (from now, when it did not
        already)."""
        if self.epoch is None:
            self.epoch = self.wall() - self.clock.now()
        while not self.stopping and self.follow_wall() < limit:
            self._wait(0.05, [])

    def _run_wall(self, lockstep: Lockstep, register_timeout: float, limit: float) -> None:
        """The wall clock with the ground as participant (module docstring): serve the boards
        while the ground says hello (a stop ends the wait), start its clock on the first grid
        point at or after simulated time once the wall reaches it, then paced rounds."""
        deadline = self.wall() + register_timeout
        while not self.stopping:
            try:
                lockstep.register(min(0.5, max(0.0, deadline - self.wall())))
                break
            except ParticipantTimeout as exc:
                if self.wall() >= deadline:
                    raise ParticipantTimeout(
                        f"participant(s) {', '.join(map(repr, exc.participants))} did not say "
                        f"hello within {register_timeout:g} s", exc.participants,
                    ) from None  # fmt: skip
        tick_us = lockstep.tick_us
        start_us = -(-self.clock.now_us // tick_us) * tick_us
        while not self.stopping and self.follow_wall() < start_us / 1e6:
            self._wait(start_us / 1e6 - self.clock.now(), [])
        lockstep.clock.advance_to_us(max(start_us, lockstep.clock.now_us))
        try:
            while not self.stopping and self.follow_wall() < limit:
                lockstep.run(rounds=1)
        except RoundInterrupted:
            pass  # told to stop while the ground held a round
        lockstep.stop()
        self._linger()

    # ------------------------------------------------------------------ faults and the door

    def _impair(self, kind: str, name: str, impairments: Mapping[str, Impairments]) -> None:
        if kind == "space":
            self.relays[name].impair(impairments)
        elif self.host is not None:
            for direction, value in impairments.items():
                self.host.impair(name, value, [direction])  # type: ignore[list-item]

    def _request(self, request: Any) -> dict[str, Any]:
        """Answer one decoded back-door line: parsed into its schema first (decision 0028), so
        a request the schema refuses changes nothing."""
        try:
            message = parse_request(request)
        except RequestError as exc:
            raise BackdoorError(str(exc)) from None
        return self._serve_request(message)

    def _serve_request(self, message: BackdoorRequest) -> dict[str, Any]:
        now = self.clock.now()
        # in lockstep a fault starts or ends between rounds (decision 0034): the cycles of the
        # round in progress meet the same boards whenever the request came in
        between = self.lockstep is not None and self.bench.clock == "sim"
        try:
            if isinstance(message, InjectRequest):
                fault_id = self.faults.inject(
                    message.target, message.kind, now, duration=message.duration,
                    at=message.at, params=message.params, start=not between,
                )  # fmt: skip
                if not between:
                    self.coupling.sync(now)
                return {"id": fault_id, "time": now}
            if isinstance(message, ClearRequest):
                self.faults.clear(message.id, now, later=between)
                return {"time": now}
            if isinstance(message, ClearAllRequest):
                cleared = self.faults.clear_all(now, message.target, later=between)
                return {"cleared": cleared, "time": now}
            if isinstance(message, FaultsRequest):
                return {"faults": self.faults.listing(), "history": self.faults.history[-100:],
                        "report": self.faults.report()}  # fmt: skip
            if isinstance(message, StatusRequest):
                return self.status()
            if isinstance(message, WorldRequest):
                world = {**self.world.snapshot(), "ascent": _finite(self.coupling.ascent)}
                return {"world": world, "time": now}
            if isinstance(message, CoupleRequest):  # a stand-in board's state (decision 0032)
                return couple(self.coupling, self.bench, message, now)
            if isinstance(message, LoseTubeRequest):
                return self._lose_tube(message.serial, now, later=between)
        except (FaultError, Refused) as exc:
            raise BackdoorError(str(exc)) from None
        raise AssertionError(f"unhandled request {message!r}")  # every op has a branch

    def _lose_tube(self, serial: int, now: float, *, later: bool) -> dict[str, Any]:
        """The back door's ``lose_tube``: the tube falls out of the OS at ``now``, at once, or
        with ``later`` (in lockstep) between this round and the next at the time asked, as a
        fault does (decision 0034), so what a round's cycles read of the OS's slot switches
        does not depend on when the request came in. The reply names where the tube is lost
        from as it is when asked (the world's custody chain keeps where it fell from).

        Raises:
            Refused: ``unknown_tube``; ``tube_not_in_os`` (in no OS slot, or already falling
                out this round). Nothing changes.
        """
        # refused now, as World.lose_tube would refuse it (the client's error is not the
        # coupling's: it is not counted among its refusals)
        lost_from = self.world.lost_from(serial)
        if any(falling == serial for falling, _ in self._losses):
            raise Refused(Reason.TUBE_NOT_IN_OS, f"tube {serial} is already falling out")
        if later:
            self._losses.append((serial, now))
        else:
            self.coupling.lose_tube(serial, now)
        return {"serial": serial, "from": str(lost_from.location), "slot": lost_from.slot}

    # ------------------------------------------------------------------ reporting

    def port_map(self) -> dict[str, Any]:
        """Where everything is (the content of :data:`PORT_MAP`)."""
        boards: dict[str, Any] = {}
        served = {} if self.host is None else self.host.by_name
        for spec in self.bench.boards.values():
            entry: dict[str, Any] = {
                "node": spec.node, "baud": spec.baud, "emulated": spec.emulated
            }  # fmt: skip
            if spec.emulated:
                entry["path"] = served[spec.name].path
                entry["link"] = str(self.ports_dir / spec.name)
            else:
                entry["path"] = spec.port
                entry["usb_serial"] = spec.usb_serial
            boards[spec.name] = entry
        space = {}
        for node in self.bench.nodes.values():
            relay = self.relays.get(node.name)
            if relay is not None:
                space[node.name] = {"emulated": True, **relay.ends()}
            else:
                # a real radio: the node opens it, the ground station its ground end (the
                # ground equipment's port the bench names, if any)
                space[node.name] = {"emulated": False, "radio": node.radio, "ground": node.ground}
        timing = {
            name: str(getattr(channel.link, "peer_path", ""))
            for name, channel in self.timing.items()
        }
        host, port = self.backdoor.address if self.backdoor is not None else ("", 0)
        return {
            "pid": os.getpid(), "seed": self.bench.seed, "bench": self.bench.source,
            "clock": {"mode": self.bench.clock, "tick": self.bench.tick,
                      **({} if self.epoch is None else {"epoch": self.epoch})},
            "boards": boards, "space_links": space, "timing": timing,
            "backdoor": {"host": host, "port": port},
        }  # fmt: skip

    def write_port_map(self) -> Path:
        """Write :data:`PORT_MAP` into the run folder (atomically); return its path."""
        return write_port_map(self.run_dir, self.port_map())

    def status(self) -> dict[str, Any]:
        """Time, lockstep, faults, links and the world in brief."""
        lock = self.lockstep
        return {
            "time": self.clock.now(),
            "lockstep": None if lock is None else lock.stats.as_dict(),
            "pending": [] if lock is None else sorted(lock.pending),  # this round's, unreported
            "faults": self.faults.listing(),
            "coupling_refusals": self.coupling.refusals,
            "boards": {} if self.host is None else self.host.stats(),
            "space_links": {name: r.stats() for name, r in self.relays.items()},
            "os": self.world.os_location.value, "lid": self.world.lid.value,
        }  # fmt: skip

    def close(self) -> None:
        """Close every link and the back door (idempotent)."""
        if self.host is not None:
            self.host.close()
        for relay in self.relays.values():
            relay.close()
        for channel in self.timing.values():
            channel.close()
        if self.backdoor is not None:
            self.backdoor.close()


def _symlink(ports_dir: Path | None, name: str) -> str | None:
    return None if ports_dir is None else str(ports_dir / name)


def _finite(value: Any) -> Any:
    """``value`` with every number that is not finite as None (JSON has no inf or nan: an
    ascent that did not reach orbit has an infinite apoapsis)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
