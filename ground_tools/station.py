"""The ground station: the ground session of a bench run, one process
(``python -m ground_tools.station --bench FILE --run-dir DIR``, started by ``msr bench up``).

It is what a mission-control server is to its clients (Yamcs, the COSMOS command and telemetry
server), in one small process:

* the **ground end of every node's space link** (:class:`~hal.links.space_link.GroundSpaceLink`:
  SDLS authentication, COP-1 FOP, TM frame reassembly), with its anti-replay counter in the run
  folder, so every client's commands share one FOP and one sequence-number space;
* the **lockstep participant** ``ground``: it answers each tick once it has taken the downlink
  of that tick, and paces simulated time (see below);
* the **archive** (``archive.sqlite``): every frame both ways, every decoded telemetry point,
  every event, every command with its verification stages;
* a **control port** (JSON lines over TCP on 127.0.0.1; its address in ``station.json``) that
  the ``msr`` commands and the scripting API (:mod:`ground_tools.api`) talk to. It is a
  :class:`hal.control.ControlServer` (decision 0027): a client first presents the run's token
  (``runs/<id>/control.token``); lines, nesting, unread replies and connections are bounded,
  and no write waits on a client, so no client can hold up the lockstep.

Pacing. With ``--pace 1`` (the default) simulated time runs no faster than the wall clock, as
an operator at a console expects; ``--pace fast`` runs as fast as the bench computes. Either
way a client that waits (``step``) for a simulated time lets the simulation run as fast as it
can up to that time: a procedure's ``wait(600)`` costs only what the simulation needs. The
station then re-anchors its pacing at the time reached, so paced time never jumps back.
An idle bench (no client connected) faster than real time runs at :data:`IDLE_PACE` until a
client connects (decision 0039): only how fast simulated time passes changes, never what
happens at a simulated time, and an idle bench's archive grows as a real-time one's does.

``--pace held`` (campaigns, reruns: decision 0034) makes the clients lockstep participants:
simulated time moves only while a client waits in a ``step``, never while a procedure computes
between two requests, so what it sends goes out in the same cycle in every run. A client woken
by the simulation (its time reached, a packet) acts in the tick that woke it: the station holds
that tick until the client waits again (or leaves), and only then reports the cycle done, with
the client's new wait as its next due (a command or resync it asked for meanwhile goes up in
the next cycle, so the report then asks for the next regular tick). While time is held the
station tells the simulator so every
:data:`HOLD_REPORT_EVERY` wall seconds (TM[130,5]), so a held round is not a dead station.
Each tick's relayed downlink is read before the tick is taken (``sent`` in the tick).

Control requests (one JSON object per line; one reply line each, in order). Each is parsed into
its schema (:mod:`ground_tools.control_messages`, decision 0028) before anything is done or
archived; a refused one is answered with an error naming the field and the problem:

===========  ==================================================================================
``status``   simulated time, pace, packets received, each node's link (FOP state, counts)
``cmd``      ``node``, ``name``, ``args`` (octets as ``{"hex": "..."}``), ``source``,
             ``confirmed``: encode with the flight dictionary, send; reply ``request_id``
             (hex) or ``error`` naming the problem. A command that needs the hazardous
             confirmation (itself or a command it carries, decision 0024) is refused without
             ``confirmed: true``, and sent with the confirmation mark in its source id
``stages``   ``node``, ``request_id``: the PUS-1 reports received for it
``latest``   ``names``: ``NODE.PACKET`` or ``NODE.PACKET.FIELD``: last value and its time
``packets``  ``since``, ``limit``: the decoded packets after ``since`` (``next`` to go on)
``step``     ``until`` (simulated s), ``wake``: reply once time reaches ``until``, or (``wake``)
             at the first packet received after the request, or after ``STEP_WALL_LIMIT``
             wall seconds (the client asks again: a long wait never looks like a dead station);
             the reply: ``time``, ``next`` (packets received), and ``command``: the client's
             latest command (``node``, ``request_id``) with its ``stages`` as ``stages`` gives
``pace``     ``pace``: a number (x real time) or null (as fast as possible)
``resync``   ``node``: resynchronise the node's uplink (decision 0023): the station answers the
             node's next challenge report with a resync frame signed with the key; reply the
             node's sync state (``status`` gives it after: ``synced`` once the node says so)
``stop``     end the station (the simulator and the nodes stop with ``msr bench down``)
``limits``   ``since``, ``limit``, ``all``: the points out of limits now (``all``: every monitored
             point and its level) and the limit events after ``since`` (``next`` to go on)
``files``    ``node``, ``name``, ``data``: the file transfers that ended (decision 0056); with
             ``data``, the octets (hex) of the latest whole one that matches
===========  ==================================================================================

External ground equipment (decision 0044, :mod:`ground_tools.ground_equipment`). For a node
whose bench table names ``tm_udp``, every TM frame received from its radio also goes there, one
UDP datagram each; ``tc_udp`` takes TC frames, each parsed and checked before it goes up the
node's radio in the next cycle. With ``uplink = "external"`` the station runs no COP-1 and
refuses ``cmd`` for that node; it answers the node's resync challenge when asked and hands the
session over in ``ground/<node>.session.json``. ``status`` gives each node's ``uplink`` and its
ports' counts (``udp``). Such a bench on the simulated clock is paced: ``fast`` is refused.

Lost verification reports (decision 0052). PUS-1 reports go down once, and bit errors spoil
whole frames. A command sent with the completion report asked for is watched until its final
report comes. When a TM frame of its node went missing since the command's last report (a gap
in the master channel frame count; which virtual channel it was on is not known) and
:data:`RECHECK_AFTER` simulated seconds (plus the link's round trip) passed with no report for
it, the station asks the node for its reports again (``core.report_verification``, no success
reports of its own); the next ask needs another missing frame and twice the silence, up to
:data:`RECHECK_MAX`. A clean downlink asks nothing.
A report received again is taken once; the node answering ``unknown_request`` (it keeps none:
reset, or too old) ends the watch. Every ask is in the command history, from ``station``.
A node's resync whose ``core.resynced`` event was lost is taken as done when its challenges
stop while its telemetry flows (:data:`QUIET_CHALLENGES`).

Files (decision 0056). The station is the ground's CFDP entity (:class:`ground_tools.files.
FileDesk`, one class-2 receiver per node whose uplink it runs): it takes the CFDP PDUs of each
node's downlink in the tick they arrive, sends its ACKs, NAKs and Finished up in type-BD frames
in the same tick, and lands each file that arrives whole, once, in the archive (``files``) and
in ``files/<node>/``; ``files`` gives them to clients. While a transfer is open it asks for a
tick a second, for its timers.

Limit monitoring (decision 0036). Every housekeeping packet and declared report received is
judged against its fields' declared limits in the node's current mode
(:class:`~ground_tools.limits.LimitMonitor`); each change of a point's level is archived as a
limit event (``limits`` table) and kept for the ``limits`` request.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple

from fsw.dictionary import NodeDictionary, node_dictionary
from fsw.dictionary.core import RESYNC_REPORT
from fsw.dictionary.loads import confirmations
from fsw.dictionary.model import CONFIRMED_SOURCE
from fsw.dictionary.verification import FINAL_STAGES
from ground_tools.archive import Archive, ArchiveError, FileRecord
from ground_tools.control_messages import (
    MIN_PACE,
    CmdRequest,
    ControlRequest,
    FilesRequest,
    HoldRequest,
    LatestRequest,
    LimitsRequest,
    PaceRequest,
    PacketsRequest,
    ResyncRequest,
    StagesRequest,
    StatusRequest,
    StepRequest,
    StopRequest,
    parse_request,
)
from ground_tools.files import FileDesk
from ground_tools.ground_equipment import GroundEquipmentError, UdpGroundEquipment, write_session
from ground_tools.limits import LimitEvent, LimitMonitor
from ground_tools.telemetry import Received, decode_tm
from hal.bench import Bench, BenchError, NodeSpec, load_bench
from hal.control import MAX_CLIENTS, Connection, ControlError, ControlServer, create_token
from hal.errors import EncodeError, HalError, LinkClosed, LinkTimeout, ProtocolError
from hal.links import LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME, Link, open_link
from hal.links.space_link import GroundSpaceLink
from hal.links.timing import TimingClient, timing_channel
from hal.protocol.framing import ASM, ASM_SIZE
from hal.protocol.pus import ACK_ALL, ACK_COMPLETION, PusTc, PusTm, RequestId
from hal.protocol.sdls import SecurityAssociation
from hal.schema import RequestError
from hal.store import CounterStore

__all__ = ["STATION_FILE", "Station", "StationError", "main"]

STATION_FILE: Final = "station.json"
"""The control port's address in the run folder: ``{"host", "port", "pid"}``."""
ARCHIVE_FILE: Final = "archive.sqlite"
FILES_DIR: Final = "files"
"""Where the files that came down by CFDP land in the run folder, one folder per node."""
_AT_ONCE: Final = (StopRequest, PaceRequest)
"""The requests taken at once at the held pace; the others wait for a held tick."""
HELD: Final = "held"
"""The pace at which time moves only while a client waits (module docstring)."""
HOLD_REPORT_EVERY: Final = 2.0
"""Wall seconds between two holding reports while the station holds a tick on purpose."""
IDLE_PACE: Final = 1.0
"""The pace of a bench faster than this (or ``fast``) on the simulated clock while no client is
connected (decision 0039: an idle bench does not fill the disk)."""
STEP_WALL_LIMIT: Final = 5.0
"""Wall seconds after which a ``step`` is answered with the time reached so far."""
HISTORY: Final = 20_000
"""Decoded packets kept for ``packets`` requests (the archive keeps them all)."""
LIMIT_HISTORY: Final = 20_000
"""Limit events kept for ``limits`` requests (the archive keeps them all)."""
_MONITORED: Final = ("hk", "report")
"""The kinds of decoded packet whose fields are judged against their limits."""


class StationError(Exception):
    """A station that cannot start (bad bench, no port map, no key file): one line."""


SYNC_STATES: Final = ("unknown", "needed", "resyncing", "synced")
"""A node's uplink as the station sees it: no challenge seen since it started (``unknown``:
the node needs none), a challenge seen and not asked to answer (``needed``), answering
(``resyncing``), or resynchronised (``synced``)."""
RESYNCED_EVENT: Final = "core.resynced"
RECHECK_COMMAND: Final = "core.report_verification"
"""The command that asks a node for a request's verification reports again (decision 0052)."""
RECHECK_AFTER: Final = 2.0
"""Simulated seconds of silence on a command with no final report (beyond the round trip),
a frame of its node missing since, before the station first asks for its reports again;
doubled after each ask."""
RECHECK_MAX: Final = 300.0
"""The longest silence between two asks for one command (a long operation's end is asked for
at least this often)."""
RECHECKED: Final = 256
"""Commands watched at once (the oldest is dropped first)."""
QUIET_CHALLENGES: Final = 5
"""Challenge intervals of a node's silence (its downlink flowing, no challenge in it) after the
station answered, beyond the round trip, that say the node took the answer even though its
``core.resynced`` event was lost (decision 0052): a node with a pending challenge reports it
every ``challenge_interval`` (2 s), so five in a row lost is a chance of about 4e-6 at a
frame error rate of 8.5%."""
RESYNC_RETRY: Final = 10.0
"""Simulated seconds before the same challenge is answered again (the first answer may have
been lost; reports sent before it arrived, with a long light time, are not answered twice)."""


@dataclass
class _Sync:
    """The resynchronisation of one node's uplink (decision 0023)."""

    state: str = "unknown"
    wanted: bool = False
    nonce: bytes | None = None  # the latest challenge reported
    last_sn: int = 0
    answers: int = 0
    answered: bytes | None = None  # the nonce last answered
    answered_at: float = -math.inf
    challenged_at: float = -math.inf  # the latest challenge report received
    inferred: int = 0  # resyncs taken as done from the challenges' silence (decision 0052)


class _Uplink(NamedTuple):
    """A command taken from a client, to go up (and into the history) in the next cycle."""

    node: str
    raw: bytes
    rid: bytes
    name: str
    args: dict[str, Any]
    source: str
    tick: int  # the tick the station held (or had last answered) when it took the command
    ack: int = ACK_ALL


@dataclass
class _Recheck:
    """A command with no final report yet (decision 0052): when to ask for its reports."""

    node: str
    rid: str  # hex
    due: float  # the silence's end
    interval: float
    missing: int = 0  # the node's missing TM frames when the silence began
    asks: int = 0


@dataclass
class _Client:
    conn: Connection
    waiting: dict[str, Any] | None = None  # a pending step request
    resumes: float | None = None  # the until of a step answered on the wall clock (held pace)
    since: int = 0  # packets received when the step was asked
    command: tuple[str, str] | None = None  # (node, request id) of its latest command


class Station:
    """The ground session of one run (see the module docstring).

    Args:
        bench: the bench.
        run_dir: the run folder (``ports.json`` and ``keys.json`` must be there).
        pace: simulated seconds per wall second, ``None`` (as fast as possible) or
            :data:`HELD` (only while a client waits).
        wall: the wall clock (monotonic seconds).
        max_clients: control-port connections at once (more are refused, decision 0027).

    Raises:
        StationError: the run folder lacks what the station needs, or a link does not open.
    """

    def __init__(
        self,
        bench: Bench,
        run_dir: Path,
        *,
        pace: float | str | None = 1.0,
        wall: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.bench = bench
        self.run_dir = run_dir
        self.wall = wall
        self.held = pace == HELD
        self.pace = None if self.held else _checked_pace(pace)
        self._wall_peer = _wall_peer(bench)
        if self.pace is None and not self.held and self._wall_peer:
            raise StationError(f"--pace fast: {self._wall_peer}")
        self.links: list[Link] = []
        self.stopping = False
        self._clock: TimingClient | None = None  # the captures' time stamps, once it exists
        try:
            ports = json.loads((run_dir / "ports.json").read_text(encoding="utf-8"))
            keys = bench.read_keys(run_dir)
        except (OSError, ValueError, BenchError) as exc:
            raise StationError(f"{run_dir}: {str(exc).splitlines()[0]}") from None
        captures = run_dir / "captures"
        try:
            timing_url = ports["timing"]["ground"]
        except KeyError:
            raise StationError(f"{run_dir}/ports.json: no timing link for 'ground'") from None
        link = self._open(timing_url, captures, "ground-timing")
        self.timing = self._clock = timing = TimingClient(timing_channel(link), "ground")
        self.dictionaries: dict[str, NodeDictionary] = {}
        self.equipment: dict[str, UdpGroundEquipment] = {}  # external, on UDP (decision 0044)
        self._equipment_tick = -1  # the tick whose external TC frames went up
        self.ground: dict[str, GroundSpaceLink] = {}
        (run_dir / "ground").mkdir(exist_ok=True)
        for name, spec in bench.nodes.items():
            url = ports["space_links"][name]["ground"]
            if url is None:
                continue  # a real radio whose ground end the bench does not name
            end = self._open(
                url, captures, f"ground-{name}", baudrate=spec.radio_baud,
                capture_linktypes=(LINKTYPE_TC_FRAME, LINKTYPE_TM_FRAME),  # sends TC, takes TM
            )  # fmt: skip
            end.on_frame = self._framer(name)
            sa = SecurityAssociation(spec.spi, keys[spec.spi])
            store = CounterStore(run_dir / "ground" / f"{name}.counters.json")
            self.ground[name] = GroundSpaceLink(
                end, sa, spec.space_link, store=store, monotonic=timing.now, suite=spec.sdls
            )
            self.dictionaries[name] = node_dictionary(name)
            timing.watch(end)
            if spec.tm_udp is not None or spec.tc_udp is not None:
                self.equipment[name] = self._udp(name, spec)
        self.external = {name for name in self.ground if bench.nodes[name].external_uplink}
        """The nodes external equipment commands: the station sends them no telecommand."""
        ends = [ground.link for ground in self.ground.values()]
        timing.receive_on(lambda: sum(end.stats.bytes_in for end in ends), self._pump)
        self.archive = Archive(run_dir / ARCHIVE_FILE, monotonic=wall)
        self.files = FileDesk(  # CFDP receivers (decision 0056); external equipment runs its own
            {n: self.dictionaries[n].apid for n in self.ground if n not in self.external},
            folder=run_dir / FILES_DIR, archive=self._archive_file,
        )  # fmt: skip
        self.limit_monitor = LimitMonitor(self.dictionaries)
        self.limit_events: deque[tuple[int, LimitEvent]] = deque(maxlen=LIMIT_HISTORY)
        self.limit_count = 0
        self.archive_errors = 0
        self.history: deque[Received] = deque(maxlen=HISTORY)
        self.received = 0
        self.latest: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self.stages: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._rechecks: OrderedDict[tuple[str, str], _Recheck] = OrderedDict()  # decision 0052
        self._asking: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()  # ask -> cmd
        self.rechecks = 0  # asks sent
        self.reports_again = 0  # reports received a second time (and taken once)
        self._uplink: list[_Uplink] = []  # the commands of the next cycle (_send)
        self.send_errors = 0
        self._seq = dict.fromkeys(self.ground, 0)
        self.sync = {name: _Sync() for name in self.ground}
        self._resync_out: list[str] = []  # nodes whose challenge is answered in the next cycle
        self._anchor = (0.0, wall())
        self._pace_in_force = self.pace  # the pace the anchor is for (_pace_now)
        self._answered = True
        self._held_report = 0.0  # wall time of the last holding report
        self._deferred: list[tuple[_Client, ControlRequest]] = []  # actions awaiting a tick
        self._acting: set[int] = set()  # held pace: clients woken in this tick, not waiting yet
        try:
            token = create_token(run_dir)
        except ControlError as exc:
            raise StationError(str(exc)) from None
        self.server = ControlServer(
            self._request, token=token, name="ground station", max_clients=max_clients,
            wall=wall, on_close=self._closed,
        )  # fmt: skip
        self.server.watch(self.timing.channel.link.fileno())
        self.clients: dict[int, _Client] = {}  # by connection number
        host, port = self.server.address
        info = {"host": host, "port": port, "pid": os.getpid()}
        tmp = run_dir / f".{STATION_FILE}.tmp"  # whole or absent: clients poll for the file
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, run_dir / STATION_FILE)

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        """Register with the simulator, start COP-1 on every link, and serve until the
        simulator stops or a client asks the station to stop."""
        self.timing.register()
        for name, ground in self.ground.items():
            if name not in self.external:  # COP-1 is the external equipment's (decision 0044)
                ground.start()
        try:
            while not self.stopping and not self.timing.stopped:
                self._serve(self._wait_time())
                self._commit_due()
                self._take_tick()
                if self.timing.tick is not None and not self._answered:
                    self._maybe_answer()
                if self.timing.tick is not None and not self._answered:
                    self._report_holding()
        except LinkClosed:
            pass  # the simulator went away: the run is over
        finally:
            self.close()

    def close(self) -> None:
        """Commit the archive, close every link and the control port (idempotent)."""
        self.archive.close()
        self.server.close()
        self.clients.clear()
        for link in self.links:
            link.close()
        for equipment in self.equipment.values():
            equipment.close()
        (self.run_dir / STATION_FILE).unlink(missing_ok=True)

    def _commit_due(self) -> None:
        """Commit the archive when its interval passed, every loop turn and not only on a tick
        (commands and a paced run leave ticks held): a kill loses at most about 0.15 s of it
        (decision 0029)."""
        try:
            self.archive.tick()
        except ArchiveError as exc:  # the rows stay pending; the next turn tries again
            self.archive_errors += 1
            print(f"ground station: archive: {exc}", file=sys.stderr, flush=True)

    def allowed(self) -> float:
        """The simulated time the station lets the run reach now. At the held pace: any time
        while a client waits (its wait is answered in the first tick at or after its time, which
        need not be on the tick grid), none while no client does."""
        waits = [c.waiting["until"] for c in self.clients.values() if c.waiting is not None]
        if self.held:
            return math.inf if waits else -math.inf
        paced = math.inf
        pace = self._pace_now()
        if pace is not None:
            sim, wall = self._anchor
            paced = sim + (self.wall() - wall) * pace
        return max([paced, *waits])

    def _pace_now(self) -> float | None:
        """The pace in force: the station's, but at most :data:`IDLE_PACE` while no client is
        connected on the simulated clock (decision 0039); pacing is re-anchored at the time
        reached whenever it changes, so paced time neither jumps nor stalls."""
        pace = self.pace
        idle = not self.clients and self.bench.clock == "sim"
        if idle and (pace is None or pace > IDLE_PACE):
            pace = IDLE_PACE
        if pace != self._pace_in_force:
            self._pace_in_force = pace
            self._anchor = (self.timing.now(), self.wall())
        return pace

    def _wait_time(self) -> float:
        if self.timing.tick is None or self._answered:
            return 0.05
        ahead = self.timing.now() - self.allowed()
        if ahead <= 0:
            return 0.0
        pace = None if self.held else self._pace_now()
        return 0.05 if pace is None else min(0.05, ahead / pace)

    def _pump(self, timeout: float) -> None:
        """Read every ground end for up to ``timeout`` (the tick's relayed downlink)."""
        fds = [ground.link.fileno() for ground in self.ground.values()]
        select.select(fds, [], [], timeout)
        for ground in self.ground.values():
            ground.poll(0)

    def _report_holding(self) -> None:
        """Tell the simulator, every few wall seconds, that the tick is held on purpose."""
        now = self.wall()
        if now - self._held_report >= HOLD_REPORT_EVERY:
            self._held_report = now
            self.timing.hold()

    def _take_tick(self) -> None:
        channel = self.timing.channel
        if not channel.pending and not channel.poll(0):
            return
        try:
            tick = self.timing.wait_tick(0)
        except LinkTimeout:
            return
        if tick is not None:
            self._answered = False
            self._held_report = self.wall()
            self._send_external()  # before any client is served in this tick (decision 0044)
            if self._rechecks:
                self._recheck(self.timing.now())  # once a tick; the asks go up in it (0052)
            self._take_deferred()

    def _maybe_answer(self) -> None:
        now = self.timing.now()
        self._send(now)
        if now > self.allowed() + 1e-9:
            return  # paced: hold the tick
        pace = None if self.held else self._pace_now()
        if pace is not None:
            sim, wall = self._anchor
            if now > sim + (self.wall() - wall) * pace + 1e-9:
                self._anchor = (now, self.wall())  # a client ran time ahead: pace from here
        for node, ground in self.ground.items():
            ground.poll(0)
            for packet in ground.receive_all(0):
                if isinstance(packet, PusTm):
                    self._take(node, packet, now)
            self._files(node, ground, now)
        self.archive.tick()
        woken = self._wake(now)
        if self._acting:
            return  # held pace: the clients it woke act in this tick; it is answered after
        # nothing of ours in flight: the nodes' own dues and the clients' waits decide how far
        # time may jump; a command or resync taken in this tick goes up in the next one; a
        # client the simulation woke at another pace acts in the next regular tick
        idle = all(g.idle for name, g in self.ground.items() if name not in self.external)
        idle = idle and not any(e.waiting for e in self.equipment.values())  # 0044
        idle = idle and not self._uplink and not self._resync_out
        woken = woken and not self.held
        waits = [
            c.waiting["until"] if c.waiting is not None else c.resumes
            for c in self.clients.values()
            if c.waiting is not None or c.resumes is not None
        ]  # fmt: skip
        due = max(min([*waits, self._recheck_due()]), now) if self.held else math.inf
        due = min(due, self.files.due(now))  # a file receiver's timers (decision 0056)
        self.timing.done(due if idle and not woken else None)
        self._answered = True

    def _send(self, now: float) -> None:
        """Hand the commands taken since the last cycle to their space links, inside this
        cycle: the octets then count in the cycle's report and the lockstep does not move time
        before the simulator has read them (:mod:`hal.links.timing`). Written between cycles,
        a frame could reach the simulator a few rounds late on a loaded machine, and a short
        ``cmd`` timeout could pass before the node even saw it."""
        resyncs, self._resync_out = self._resync_out, []
        for node in resyncs:
            sync = self.sync[node]
            if sync.nonce is not None and sync.wanted:
                try:
                    base = self.ground[node].resync(sync.nonce, sync.last_sn)
                except HalError as exc:
                    print(f"ground station: {node}: resync not sent: {exc}", file=sys.stderr)
                    continue
                if node in self.external:
                    self._hand_over(node, sync.nonce, base)
                sync.answers += 1
                sync.answered, sync.answered_at = sync.nonce, now
        uplink, self._uplink = self._uplink, []
        if self.held:  # taken while this tick was held: with the next, after the faults the
            # procedure put in meanwhile (they start between the rounds, decision 0034)
            number = self.timing.tick.number if self.timing.tick is not None else 0
            self._uplink = [u for u in uplink if u.tick >= number]
            uplink = [u for u in uplink if u.tick < number]
        for up in uplink:
            node, raw, rid, name, args, source = up[:6]
            try:
                self.archive.add_command(node, now, name, args, rid, source)
                self.archive.commit()  # the command history holds every command sent, at once
            except ArchiveError as exc:  # the command still goes: the archive is not in its path
                self.archive_errors += 1
                print(f"ground station: archive: {exc}", file=sys.stderr, flush=True)
            try:
                self.ground[node].send(raw)
            except (HalError, EncodeError) as exc:
                self.send_errors += 1
                reason = f"not sent: {str(exc).splitlines()[0]}"
                stage = {"stage": "start_failed", "time": now, "code": 0, "reason": reason}
                self.stages.setdefault((node, rid.hex()), []).append(stage)
                print(f"ground station: {node}: {reason}", file=sys.stderr, flush=True)
                continue
            if up.ack & ACK_COMPLETION and name != RECHECK_COMMAND:
                self._watch(node, rid.hex(), now)

    # ------------------------------------------------------------------ files (0056)

    def _files(self, node: str, ground: GroundSpaceLink, now: float) -> None:
        """The CFDP PDUs of the node's downlink to its receiver; its answers go up at once, in
        type-BD frames (CFDP recovers its own losses), inside this cycle."""
        pdus = ground.receive_pdus()
        if node not in self.files.receivers:
            return
        for packet in self.files.take(node, pdus, now):
            try:
                ground.send(packet, bypass=True)
            except (HalError, EncodeError) as exc:
                self.send_errors += 1
                print(f"ground station: {node}: CFDP PDU not sent: {exc}", file=sys.stderr,
                      flush=True)  # fmt: skip

    def _archive_file(self, record: FileRecord) -> None:
        try:
            self.archive.add_file(record)
            self.archive.commit()
        except ArchiveError as exc:  # the file is on disk all the same
            self.archive_errors += 1
            print(f"ground station: archive: {exc}", file=sys.stderr, flush=True)

    def files_list(self, request: FilesRequest) -> dict[str, Any]:
        """The file transfers that ended (see :class:`FilesRequest`)."""
        records = [r for r in self.files.received
                   if (request.node is None or r.node == request.node)
                   and (request.name is None or r.name == request.name)]  # fmt: skip
        reply: dict[str, Any] = {"time": self.timing.now(),
                                 "files": [r.as_dict() for r in records]}  # fmt: skip
        whole = [r for r in records if r.ok]
        if request.data and whole:
            reply["data"] = whole[-1].data.hex()
        return reply

    # ------------------------------------------------------------------ lost reports (0052)

    def _round_trip(self, node: str) -> float:
        return 2 * self.bench.nodes[node].light_time + 2 * self.bench.tick

    def _watch(self, node: str, rid: str, now: float) -> None:
        """Watch a command from ``now``, or again from ``now`` (a report restarts its silence,
        at the interval its asks reached)."""
        key = (node, rid)
        watch = self._rechecks.pop(key, None)
        if watch is None:
            watch = _Recheck(node, rid, 0.0, RECHECK_AFTER)
        watch.due = now + watch.interval + self._round_trip(node)
        watch.missing = self.ground[node].frames_missing
        self._rechecks[key] = watch  # the latest at the end: the oldest is dropped first
        while len(self._rechecks) > RECHECKED:
            self._rechecks.popitem(last=False)

    def _lost_since(self, watch: _Recheck) -> bool:
        return self.ground[watch.node].frames_missing > watch.missing

    def _recheck_due(self) -> float:
        """When the next ask is due: only a command a missing frame may have lost a report of
        is ever asked about."""
        lost = [w.due for w in self._rechecks.values() if self._lost_since(w)]
        return min(lost, default=math.inf)

    def _recheck(self, now: float) -> None:
        """Ask each node for the reports of its commands silent past their due with a frame of
        theirs missing since (this cycle)."""
        tick = self.timing.tick.number if self.timing.tick is not None else 0
        for key, watch in list(self._rechecks.items()):
            if watch.due > now + 1e-9 or not self._lost_since(watch):
                continue
            request = CmdRequest(op="cmd", node=watch.node, name=RECHECK_COMMAND,
                                 args={"request_id": int(watch.rid, 16)}, ack=0)  # fmt: skip
            reply = self._command(request, tick=tick - 1)  # goes up in this cycle
            if "error" in reply:  # the node cannot be asked (an external uplink): stop
                del self._rechecks[key]
                continue
            self.rechecks += 1
            watch.asks += 1
            watch.interval = min(2 * watch.interval, RECHECK_MAX)
            watch.due = now + watch.interval + self._round_trip(watch.node)
            watch.missing = self.ground[watch.node].frames_missing  # the next ask: a new loss
            self._asking[(watch.node, reply["request_id"])] = key
            while len(self._asking) > RECHECKED:
                self._asking.popitem(last=False)

    def _report_taken(self, node: str, rid: str, stage: dict[str, Any], now: float) -> None:
        """A verification report for ``rid``: a final one ends its watch; any other restarts
        its silence; the node's ``unknown_request`` to an ask ends the watch it was for."""
        key = (node, rid)
        if stage["stage"] in FINAL_STAGES:
            self._rechecks.pop(key, None)
        elif key in self._rechecks:
            self._watch(node, rid, now)
        asked = self._asking.pop(key, None)
        if asked is not None and stage["reason"].startswith("unknown_request"):
            if self._rechecks.pop(asked, None) is not None:
                print(f"ground station: {node}: no reports of {asked[1]} kept on board (a reset?)"
                      "; no longer asked for", file=sys.stderr, flush=True)  # fmt: skip

    # ------------------------------------------------------------------ external equipment

    def _udp(self, node: str, spec: NodeSpec) -> UdpGroundEquipment:
        """The UDP ports of ``node``'s external equipment (decision 0044); a TC frame budget of
        one cycle of its radio's line (10 bits an octet)."""
        budget = int(spec.radio_baud / 10 * self.bench.tick)
        try:
            return UdpGroundEquipment(node, spec.space_link, tm=spec.tm_udp, tc=spec.tc_udp,
                                      budget=budget)  # fmt: skip
        except GroundEquipmentError as exc:
            for equipment in self.equipment.values():
                equipment.close()
            raise StationError(str(exc)) from None

    def _send_external(self) -> None:
        """Put the TC frames the external equipment sent up each node's radio, once a tick, as
        the tick comes (before any client's request of that tick is served): within the cycle,
        as the station's own go, so the lockstep counts their octets and the simulator relays
        them between rounds, through the link's light time, blackouts and line rate. A datagram
        that came at any wall time goes up at a tick boundary; one that comes while the tick is
        held waits for the next."""
        tick = self.timing.tick.number if self.timing.tick is not None else -1
        if tick == self._equipment_tick:
            return
        self._equipment_tick = tick
        for node, equipment in self.equipment.items():
            frames = equipment.take_tc()
            if not frames:
                continue
            try:
                self.ground[node].link.write_frames([ASM + frame for frame in frames])
            except HalError as exc:
                self.send_errors += 1
                print(f"ground station: {node}: external TC frames not sent: "
                      f"{str(exc).splitlines()[0]}", file=sys.stderr, flush=True)  # fmt: skip

    def _hand_over(self, node: str, nonce: bytes, base: int) -> None:
        """Give the session a resync opened on an externally commanded node to its equipment
        (``ground/<node>.session.json``, decision 0044): the station sends nothing more on it."""
        ground, spec = self.ground[node], self.bench.nodes[node]
        try:
            write_session(self.run_dir / "ground", node, spi=spec.spi, suite=spec.sdls,
                          nonce=nonce, key=ground.sa.key, next_sn=base + 1)  # fmt: skip
        except OSError as exc:
            print(f"ground station: {node}: session not handed over: {exc.strerror or exc}",
                  file=sys.stderr, flush=True)  # fmt: skip

    def _take(self, node: str, tm: PusTm, now: float) -> None:
        self.received += 1
        item = decode_tm(self.dictionaries[node], tm, self.received, now)
        self.history.append(item)
        if item.name in (RESYNC_REPORT, RESYNCED_EVENT):
            self._sync_seen(node, item)
        else:
            self._sync_quiet(node, now)
        try:
            self._archive(node, item)
        except ArchiveError as exc:  # the packet stays in the history; the run goes on
            self.archive_errors += 1
            print(f"ground station: archive: {exc}", file=sys.stderr, flush=True)
        if item.kind in _MONITORED and item.error is None:
            self._monitor(node, item)

    def _monitor(self, node: str, item: Received) -> None:
        """Judge a packet's values against their limits; keep and archive each transition."""
        for event in self.limit_monitor.check(node, item.name, item.time, item.values):
            self.limit_count += 1
            self.limit_events.append((self.limit_count, event))
            try:
                self.archive.add_limit(
                    node, event.point, event.time, event.old, event.new, event.value,
                    state=event.state, unit=event.unit, mode=event.mode, limit_set=event.limits,
                )  # fmt: skip
            except ArchiveError as exc:  # kept for the clients all the same
                self.archive_errors += 1
                print(f"ground station: archive: {exc}", file=sys.stderr, flush=True)

    def limits(self, request: LimitsRequest) -> dict[str, Any]:
        """The points out of limits now (or every monitored point) and the limit events after
        the request's cursor."""
        events = [{"seq": seq, **event.as_dict()} for seq, event in self.limit_events
                  if seq > request.since][: request.limit]  # fmt: skip
        return {"time": self.timing.now(), "current": self.limit_monitor.listing(every=request.all),
                "events": events, "next": events[-1]["seq"] if events else request.since,
                "total": self.limit_count}  # fmt: skip

    def _sync_seen(self, node: str, item: Received) -> None:
        """A node's challenge (answer it if asked to) or its word that it is resynced."""
        sync = self.sync[node]
        if item.kind == "event":
            if sync.state == "resyncing":
                sync.state, sync.wanted = "synced", False
            return
        if item.kind != "report" or item.error:
            return
        sync.challenged_at = item.time
        words = item.values["nonce"]
        nonce = b"".join(int(word).to_bytes(4, "big") for word in words)
        if nonce == sync.answered and (
            sync.state == "synced" or item.time < sync.answered_at + RESYNC_RETRY
        ):
            return  # reported before our answer reached the node
        sync.nonce = nonce
        sync.last_sn = int(item.values["last_sn"])
        if sync.wanted:
            sync.state = "resyncing"
            self._resync_out.append(node)
        else:
            sync.state = "needed"

    def _sync_quiet(self, node: str, now: float) -> None:
        """A packet from a node being resynced: when no challenge came for
        :data:`QUIET_CHALLENGES` intervals since the answer (and the round trip), the node took
        it; its ``core.resynced`` event was lost on the downlink (decision 0052)."""
        sync = self.sync[node]
        if sync.state != "resyncing" or sync.answered is None:
            return
        interval = self.ground[node].config.challenge_interval
        quiet = QUIET_CHALLENGES * interval + self._round_trip(node)
        if now - max(sync.answered_at, sync.challenged_at) > quiet:
            sync.state, sync.wanted = "synced", False
            sync.inferred += 1
            print(f"ground station: {node}: resynced (no challenge for {quiet:g} s since the "
                  "answer; its resynced event was lost)", file=sys.stderr, flush=True)  # fmt: skip

    def resync(self, node: str) -> dict[str, Any]:
        """Ask for the resynchronisation of ``node``'s uplink: its pending challenge is answered
        in the next cycle, or its next one when it reports it."""
        sync = self.sync[node]
        sync.wanted = True  # until the node says it is resynced
        if sync.nonce is not None and sync.state == "needed":
            sync.state = "resyncing"
            self._resync_out.append(node)
        # the answers before this request's: one already on its way counts as this request's
        on_its_way = (
            sync.state == "resyncing" and sync.nonce is not None and sync.answered == sync.nonce
        )
        return {"node": node, "state": sync.state, "resyncs": sync.answers - int(on_its_way)}

    def _archive(self, node: str, item: Received) -> None:
        if item.kind == "hk":
            self.latest[(node, item.name)] = (item.time, item.values)
            self.archive.add_packet(node, item.name, item.time, item.values)
        elif item.kind == "event":
            v = item.values
            self.archive.add_event(node, item.time, v["id"], item.name, v["severity"], v["detail"])
        elif item.kind == "verification":
            v = item.values
            stage = {"stage": v["stage"], "time": item.time, "code": v["code"],
                     "reason": v["reason"]}  # fmt: skip
            stages = self.stages.setdefault((node, v["request_id"]), [])
            same = (v["stage"], v["code"], v["reason"], v["step"])
            if any((s["stage"], s["code"], s["reason"], s.get("step", 0)) == same for s in stages):
                self.reports_again += 1  # asked for again (0052): taken once
                return
            if v["step"]:
                stage["step"] = v["step"]
            stages.append(stage)
            self._report_taken(node, v["request_id"], stage, item.time)
            self.archive.add_stage(node, bytes.fromhex(v["request_id"]), item.time, v["stage"],
                                   v["code"], v["reason"])  # fmt: skip
        elif item.kind in ("time", "params", "report"):  # named values, as housekeeping's
            self.latest[(node, item.name)] = (item.time, item.values)
            self.archive.add_packet(node, item.name, item.time, item.values)

    def _framer(self, node: str) -> Callable[[str, bytes], None]:
        def record(direction: str, frame: bytes) -> None:
            way = "up" if direction == "out" else "down"
            equipment = self.equipment.get(node)
            if equipment is not None and way == "down":
                equipment.send_tm(frame[ASM_SIZE:])  # the frame alone, as received (0044)
            try:
                self.archive.add_frame(node, way, self._now(), frame)
            except ArchiveError as exc:
                self.archive_errors += 1
                print(f"ground station: archive: {exc}", file=sys.stderr, flush=True)

        return record

    def _now(self) -> float:
        return 0.0 if self._clock is None else self._clock.now()

    def _open(self, url: str, captures: Path, name: str, **options: Any) -> Link:
        try:
            link = open_link(
                url, capture_dir=captures, capture_name=name, timestamp=self._now,
                capture_epoch=self.bench.epoch.timestamp(), **options,
            )  # fmt: skip
        except HalError as exc:
            raise StationError(str(exc).splitlines()[0]) from None
        self.links.append(link)
        return link

    # ------------------------------------------------------------------ clients

    def _serve(self, timeout: float) -> None:
        # the control port (hal.control: bounded, never blocks on a client) and the timing link
        self.server.serve(timeout)

    def _request(self, conn: Connection, request: dict[str, Any]) -> dict[str, Any] | None:
        client = self.clients.get(conn.number)
        if client is None:
            client = self.clients[conn.number] = _Client(conn)
        reply = self._handle(client, request)
        waits = client.waiting is not None or any(c is client for c, _ in self._deferred)
        if reply is None and waits:
            self.server.hold(conn)  # its next lines wait for this one's answer
        return reply

    def _closed(self, conn: Connection) -> None:
        self.clients.pop(conn.number, None)
        self._acting.discard(conn.number)

    def _answer_lines(self, client: _Client) -> None:
        """Answer the client's waiting request lines (after a step is answered)."""
        self.server.release(client.conn)

    def _reply(self, client: _Client, reply: dict[str, Any]) -> None:
        self.server.send(client.conn, reply)

    def _wake(self, now: float) -> bool:
        """Answer the steps that are over; whether the simulation woke one (its time reached,
        a packet), not the wall clock (a long step answered so far)."""
        woken = False
        for client in list(self.clients.values()):
            step = client.waiting
            if step is None:
                continue
            simulated = now >= step["until"] - 1e-9 or (
                step.get("wake") and self.received > client.since
            )
            if simulated or self.wall() >= step["wall_limit"]:
                woken = woken or bool(simulated)
                if simulated and self.held:  # it acts in this tick, which stays held meanwhile
                    self._acting.add(client.conn.number)
                # answered so far on the wall clock: the client asks again for the same time,
                # and the dues the station reports meanwhile must not depend on when it does
                client.resumes = None if simulated else step["until"]
                client.waiting = None
                self._reply(client, self._woke(client, now))
                self._answer_lines(client)
        return woken

    def _woke(self, client: _Client, now: float) -> dict[str, Any]:
        """A step's reply: the time reached, the packet count, and the stages of the client's
        latest command, what a procedure waiting for it would ask next (decision 0050)."""
        reply: dict[str, Any] = {"time": now, "next": self.received}
        if client.command is not None:
            node, rid = client.command
            reply["command"] = {"node": node, "request_id": rid,
                                "stages": self.stages.get((node, rid), [])}  # fmt: skip
        return reply

    def _handle(self, client: _Client, request: Any) -> dict[str, Any] | None:
        """Answer one decoded request line: parsed into its schema first (decision 0028), so
        nothing is done or archived for a request the schema refuses. At the held pace a
        request is taken only while the station holds a tick: one that comes between two
        ticks waits for the next, so what a procedure reads (the time first of all) and does
        is the same in every run (decision 0034); a stop or a pace is taken at once."""
        try:
            message = parse_request(request)
        except RequestError as exc:
            return {"error": f"bad request: {exc}"}
        if self.held and not isinstance(message, _AT_ONCE) and not self._holding():
            self._deferred.append((client, message))
            return None
        return self._dispatch(client, message)

    def _holding(self) -> bool:
        """A tick is here and not answered yet."""
        return self.timing.tick is not None and not self._answered

    def _take_deferred(self) -> None:
        """The requests that waited for a held tick, in the order they came."""
        deferred, self._deferred = self._deferred, []
        for client, message in deferred:
            if client.conn.number not in self.clients:
                continue  # gone meanwhile
            reply = self._dispatch(client, message)
            if reply is not None:
                self._reply(client, reply)
            if client.waiting is None:  # a step still waiting keeps the lines behind it held
                self._answer_lines(client)

    def _dispatch(self, client: _Client, message: ControlRequest) -> dict[str, Any] | None:
        if isinstance(message, StatusRequest):
            return self.status()
        if isinstance(message, CmdRequest):
            reply = self._command(message)
            if "request_id" in reply:
                client.command = (message.node, str(reply["request_id"]))
            return reply
        if isinstance(message, StagesRequest):
            return {"stages": self.stages.get((message.node, message.request_id), [])}
        if isinstance(message, LatestRequest):
            return {"values": {n: self._latest(n) for n in message.names}}
        if isinstance(message, PacketsRequest):
            since = message.since
            items = [p.as_dict() for p in self.history if p.seq > since][: message.limit]
            return {"packets": items, "next": items[-1]["seq"] if items else since}
        if isinstance(message, StepRequest):
            self._acting.discard(client.conn.number)
            client.resumes = None
            client.waiting = {
                "until": message.until, "wake": message.wake,
                "wall_limit": self.wall() + STEP_WALL_LIMIT,
            }  # fmt: skip
            client.since = self.received if message.since is None else message.since
            self._wake(self.timing.now())
            return None
        if isinstance(message, PaceRequest):
            if message.pace is None and self._wall_peer:
                return {"error": f"pace: null (as fast as possible): {self._wall_peer}"}
            self.pace, self.held = message.pace, False
            self._acting.clear()
            self._anchor = (self.timing.now(), self.wall())
            self._pace_in_force = self.pace
            return {"pace": self.pace}
        if isinstance(message, HoldRequest):
            return {"time": self.timing.now()}
        if isinstance(message, StopRequest):
            self.stopping = True
            return {"stopping": True}
        if isinstance(message, LimitsRequest):
            return self.limits(message)
        if isinstance(message, FilesRequest):
            return self.files_list(message)
        if isinstance(message, ResyncRequest):
            if message.node not in self.ground:
                known = ", ".join(self.ground)
                return {"error": f"resync: node: {message.node!r} is not a node of this "
                                 f"station ({known})"}  # fmt: skip
            return self.resync(message.node)
        raise AssertionError(f"unhandled request {message!r}")  # every op has a branch

    # ------------------------------------------------------------------ operations

    def status(self) -> dict[str, Any]:
        """Simulated time, pace, counts and each node's link."""
        nodes = {}
        for name, ground in self.ground.items():
            stats = ground.stats()
            nodes[name] = {
                "sdls": ground.suite.name,  # the uplink's SDLS suite (decision 0043)
                "fop": ground.fop.state.name.lower(), "delivered": stats["delivered"],
                "transmitted": stats["transmitted"], "retransmissions": stats["retransmissions"],
                "lockouts": stats["lockouts"], "packets_in": stats["packets_in"],
                "rejects": stats["rejects"], "alerts": sum(stats["alerts"].values()),
                "recoveries": stats["recoveries"], "frames_lost": stats["frames_lost"],
                "sync": self.sync[name].state, "resyncs": self.sync[name].answers,
                "resyncs_inferred": self.sync[name].inferred,  # decision 0052
            }  # fmt: skip
            nodes[name]["uplink"] = "external" if name in self.external else "station"
            if name in self.equipment:
                nodes[name]["udp"] = self.equipment[name].stats()
        return {"time": self.timing.now(), "pace": HELD if self.held else self.pace,
                "received": self.received, "rechecks": self.rechecks,
                "reports_again": self.reports_again,
                "archive_errors": self.archive_errors, "run_dir": str(self.run_dir),
                "nodes": nodes, "files": self.files.stats()}  # fmt: skip

    def _command(self, request: CmdRequest, tick: int | None = None) -> dict[str, Any]:
        """Encode, check and queue one command. Everything that can refuse it (the dictionary,
        the hazardous confirmation, the packet's size) comes before the command history: an
        archived command is one that went up. ``tick``: the tick it counts as taken in (the
        station's own ask of decision 0052 goes up in the cycle it is made in)."""
        node = request.node
        if node not in self.ground:
            if node in self.bench.nodes:
                field = f"nodes.{node}.ground"
                return {"error": f"{node}: a real radio with no ground end on this bench "
                                 f"(set {field} to the ground equipment's port)"}  # fmt: skip
            return {"error": f"unknown node {node!r} (known: {', '.join(self.ground)})"}
        if node in self.external:
            return {"error": f'{node}: uplink = "external" on this bench: its external ground '
                             f"equipment commands it (nodes.{node}.tc_udp), not the "
                             "station"}  # fmt: skip
        d = self.dictionaries[node]
        name = request.name
        try:
            command = d.command(name)
        except KeyError as exc:
            return {"error": str(exc.args[0]) if exc.args else f"unknown command {name!r}"}
        args = dict(request.args)  # octets arrive as bytes (the schema decoded their hex)
        try:
            data = command.encode(**args)
            reasons = confirmations(d, command, command.decode(data))
        except (EncodeError, TypeError, ValueError, ProtocolError) as exc:  # LoadError too
            return {"error": f"{node} {name}: {str(exc).splitlines()[0]}"}
        if reasons and not request.confirmed:  # checked here again: a client may skip its own check
            return {"error": f"{node} {name} is hazardous ({'; '.join(reasons)}): it needs an "
                             "explicit confirmation"}  # fmt: skip
        seq = (self._seq[node] + 1) & 0x3FFF
        message = command.message
        mark = CONFIRMED_SOURCE if reasons else 0  # the node checks the mark (decision 0024)
        try:
            packet = PusTc(d.apid, message.service, message.subtype, data, seq_count=seq,
                           ack_flags=request.ack, source_id=mark)  # fmt: skip
            raw = packet.pack()
            rid = RequestId.of(packet).pack()
        except (EncodeError, ProtocolError) as exc:
            return {"error": f"{node} {name}: not sent: {str(exc).splitlines()[0]}"}
        limit = self.ground[node].config.max_packet_length
        if len(raw) > limit:
            return {"error": f"{node} {name}: not sent: the packet exceeds the space link's "
                             f"max_packet_length {limit}"}  # fmt: skip
        self._seq[node] = seq  # the count is used only by a command that goes up
        self.stages.pop((node, rid.hex()), None)  # a sequence count used again: a new command
        # archived and sent in the cycle it goes up in (_send): its time is that cycle's, the
        # same in every run, not whichever tick the station held when the request came
        if tick is None:
            tick = self.timing.tick.number if self.timing.tick is not None else 0
        self._uplink.append(_Uplink(node, raw, rid, name, args, request.source, tick, request.ack))
        return {"request_id": rid.hex(), "time": self.timing.now()}

    def _latest(self, name: str) -> Any:
        parts = name.split(".")
        node = parts[0]
        for cut in range(len(parts), 1, -1):  # the longest packet name that matches
            packet = ".".join(parts[1:cut])
            found = self.latest.get((node, packet))
            if found is None:
                continue
            when, values = found
            rest = ".".join(parts[cut:])
            if not rest:
                return {"time": when, "value": values}
            if rest in values:
                return {"time": when, "value": values[rest]}
            return {"error": f"{name}: packet {node}.{packet} has no field {rest!r}"}
        return {"error": f"{name}: nothing received yet (or no such packet)"}


def _wall_peer(bench: Bench) -> str:
    """Why the bench cannot run as fast as it computes: external equipment on UDP runs on the
    wall clock (decision 0044); empty when nothing does (or the bench is on the wall clock)."""
    for name, node in bench.nodes.items():
        key = "tm_udp" if node.tm_udp is not None else "tc_udp" if node.tc_udp is not None else ""
        if key and bench.clock == "sim":
            return (f"nodes.{name}.{key}: external ground equipment runs on the wall clock; "
                    "pace the bench (a number, or held)")  # fmt: skip
    return ""


def _checked_pace(pace: Any) -> float | None:
    if pace is None or pace == "fast":
        return None
    value = float(pace)
    if not math.isfinite(value) or value < MIN_PACE:
        raise ValueError(f"pace must be 'fast' or a number >= {MIN_PACE}, not {pace!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """``python -m ground_tools.station``: run the ground station of a run folder."""
    parser = argparse.ArgumentParser(prog="python -m ground_tools.station")
    parser.add_argument("--bench", required=True, help="bench file")
    parser.add_argument("--run-dir", required=True, help="run folder (ports.json, keys.json)")
    parser.add_argument(
        "--pace", default="1", help="x real time, 'fast', or 'held' (time moves only while a "
        "client waits: reruns repeat) (default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--max-clients", type=int, default=MAX_CLIENTS,
        help=f"control-port connections at once (default: {MAX_CLIENTS})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        pace = HELD if args.pace == HELD else _checked_pace(args.pace)
        station = Station(load_bench(args.bench), Path(args.run_dir), pace=pace,
                          max_clients=args.max_clients)  # fmt: skip
    except (StationError, BenchError, ValueError, OSError) as exc:
        print(f"ground station: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    station.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
