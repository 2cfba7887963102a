"""The simulation clock and the lockstep master (architecture.md §4; ICD:
:mod:`hal.protocol.timing`).

The simulator owns simulated time (:class:`SimClock`, whole microseconds, only forward). Every
participant (a flight node, the ground session) is on its own timing link; :class:`Lockstep`
runs them round by round::

    send_ticks()   [wall mode: wait until the wall clock reaches the tick's time]
                   advance hooks(t)              emulators brought to t
                   TC[130,1] tick(n, t)  ->  every participant
    collect()      TM[130,2] done(n, next_due, written) <- every participant, within round_timeout
                   [read until every participant's written octets are in, within catch_up]
                   t <- next tick time           (the jump rule below)

**Time grid.** Ticks fall on the grid ``k * tick`` (whole microseconds). The *regular* next tick
after a tick at ``t`` is the first grid point after ``t``.

**Jump rule.** After a round at ``t``, let ``d`` be the earliest of every participant's
``next_due`` (``NEXT_TICK`` counts as the regular tick; ``NOTHING_DUE`` as never) and the
simulator's own ``next_due()`` (``math.inf``: nothing scheduled). If ``d`` is not after the
regular tick, time moves to the regular tick. Otherwise it jumps to the first grid point at or
after ``d``, capped at the last grid point within ``max_jump`` seconds of ``t`` (never below the
regular tick); with nothing due anywhere and no cap, time moves to the regular tick. A jump thus
sends exactly the tick that ticking through would have been the first to matter: each participant
said it has nothing to do before ``d``, so the skipped ticks would have been empty cycles. The
tick times depend only on what the participants report, never on the wall clock: the same
behaviour gives the same sequence of tick times at any speed.

**Partial rounds.** A participant named in ``skippable`` is left out of a round it has nothing
in: its standing ``next_due`` (the last it reported) is a time after the round's, and nothing
was queued for it since its last tick (``sent`` would be 0). Its cycle there would be empty, for
the reason a jump may skip ticks: it said it has nothing to do before its due, and nothing
reached it. Its standing due still takes part in the jump rule, and its next tick carries every
octet queued meanwhile. A round at a fixed point that only some participants need (the ground
taking the frames the nodes wrote in the round before, the nodes' housekeeping) thus costs the
others nothing. One that asked for the next tick, or said it has nothing due at all, is in
every round: that is how a participant follows time itself (the ground station pacing a bench
reports nothing due, decision 0039; at the held pace it reports its clients' waits, decision
0034). A participant is always ticked in the first round. One that restarts keeps its
predecessor's standing due (its first cycle comes then, or when a frame reaches it), so which
rounds it sits out never depends on when its hello came. ``stats.skipped`` counts, per
participant, the rounds it sat out.

**Wall mode.** Ticks are paced to ``wall`` (a monotonic seconds callable): the tick at simulated
``t`` is sent no earlier than ``wall0 + (t - t0)``, where ``(wall0, t0)`` is the first round.
The anchor is never moved: a round that overran makes the next ticks go out at once until the
simulation has caught up (``stats.max_lag`` records by how much it was late). Waiting is a
``select`` on the participants' links (or the injected ``wait``), never a sleep; packets that
arrive meanwhile are read and handled.

**Octets written.** A cycle-done report says how many octets the participant wrote on its other
links to the simulator during that cycle (from the tick to the report). With ``received`` (the
simulator's count of octets read from a participant's links) the round is not closed before the
simulator has read that many more than it had when it sent the tick: the kernel hands pty data
over asynchronously, and a frame written just before the report (one no answer confirms, like a
telecommand frame) would otherwise be taken in a tick late under load, and runs would not
repeat. Nothing the participant writes for a cycle can be read before its tick is sent, so the
two counts start at the same point; octets written outside any cycle only add to what was read,
and never make a round wait. Should
the octets not come within ``catch_up`` wall seconds (a participant counting a link the
simulator does not serve), time moves on and ``stats.octets_missing`` counts the round.

**Rejoining.** A participant that restarts (a node reset, a process killed and started again)
reopens its timing link and says hello again. A hello from a participant already registered is a
rejoin (``stats.rejoins``, event ``rejoined``): if the round is open and its report is still
awaited, the current tick is sent again on its link, and its round timeout starts again from the
hello, so the new instance runs the cycle its predecessor did not finish. A tick it already
holds (read from the link before the hello was handled) is a stale tick to its client and is
ignored there. Between rounds nothing is needed: the next tick goes to everyone.

**Stopping.** A simulator told to stop (``stopping``, e.g. a signal) while a round is open
does not wait for the round to end: a held round (the ground holding a tick while no client
waits, as at the end of every campaign) would otherwise keep it until its participants' round
timeout or a kill. :meth:`Lockstep.collect` looks at ``stopping`` at least every
:data:`STOP_POLL` wall seconds and raises :class:`RoundInterrupted`; the caller then sends the
stop (:meth:`Lockstep.stop`), which every participant reads as the end of the run.

**Timeouts.** A participant that has not reported the round done within ``round_timeout``
seconds of wall time raises :class:`ParticipantTimeout`, naming every silent participant, the
tick and its time; a lost link raises :class:`ParticipantLost`. :meth:`Lockstep.run` then sends
a stop (``STOP_ABORT``) to the others so none of them waits for a tick that will not come.
"""

from __future__ import annotations

import io
import math
import select
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hal.errors import LinkClosed, LinkError, LinkTimeout, ProtocolError
from hal.links.channel import Packet, PacketChannel
from hal.protocol.pus import PusTm
from hal.protocol.timing import (
    MAX_WRITTEN,
    NEXT_TICK,
    NOTHING_DUE,
    STOP_ABORT,
    STOP_END,
    CycleDone,
    Hello,
    Holding,
    Stop,
    Tick,
    decode,
    seconds_to_us,
    us_to_seconds,
)

__all__ = [
    "Lockstep",
    "LockstepError",
    "LockstepStats",
    "ParticipantLost",
    "ParticipantTimeout",
    "RoundInterrupted",
    "RoundResult",
    "SimClock",
    "WrongParticipant",
    "next_tick_us",
]

Mode = Literal["sim", "wall"]
STOP_POLL = 0.1
"""Wall seconds between two looks at ``stopping`` while a round waits for its reports."""
_PACE_RESOLUTION = 1e-6  # wall seconds; below this a tick is on time (simulated time is in us)
Wait = Callable[[float, Sequence[int]], object]
"""``wait(seconds, fds)``: block until one of ``fds`` is readable or ``seconds`` have passed
(e.g. ``PtyHost.serve_once``, which serves the device links meanwhile)."""


class LockstepError(LinkError):
    """The lockstep cannot go on because of a participant.

    Attributes:
        participants: the names of the participants at fault.
    """

    default_reason = "lockstep"

    def __init__(
        self, message: str, participants: Sequence[str], *, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.participants: tuple[str, ...] = tuple(participants)


class ParticipantTimeout(LockstepError, LinkTimeout):
    """One or more participants did not report their cycle done within the round timeout."""

    default_reason = "participant_timeout"


class ParticipantLost(LockstepError, LinkClosed):
    """A participant's timing link is closed or its device was lost."""

    default_reason = "participant_lost"


class RoundInterrupted(Exception):
    """The simulator was told to stop while a round was open (module docstring, *Stopping*)."""


class WrongParticipant(LockstepError):
    """A participant said hello with another name than the one its link was given."""

    default_reason = "wrong_participant"


class SimClock:
    """Simulated time: whole microseconds since the mission epoch, only forward.

    Args:
        start: the initial time in seconds (rounded to the microsecond).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._us = seconds_to_us(start)

    def now(self) -> float:
        """The simulated time in seconds (the :class:`hal.clock.Clock` interface)."""
        return us_to_seconds(self._us)

    @property
    def now_us(self) -> int:
        """The simulated time in whole microseconds."""
        return self._us

    def advance_to_us(self, to_us: int) -> None:
        """Move to ``to_us`` microseconds.

        Raises:
            ValueError: ``to_us`` is earlier than now.
        """
        if to_us < self._us:
            raise ValueError(f"simulated time never goes back: {to_us} us < {self._us} us")
        self._us = to_us


@dataclass(frozen=True)
class RoundResult:
    """One completed round.

    Attributes:
        tick: the tick sent (number, simulated time).
        next_time: the simulated time (s) the clock moved to afterwards.
        jumped: True when that was further than the regular next tick.
        dues: each participant's reported next due (s; ``None`` next tick, ``inf`` nothing).
    """

    tick: Tick
    next_time: float
    jumped: bool
    dues: dict[str, float | None]


@dataclass
class LockstepStats:
    """What the lockstep has done.

    Attributes:
        rounds: rounds completed.
        jumps: rounds followed by a jump over idle ticks.
        ticks_skipped: regular ticks jumped over.
        sim_seconds: simulated seconds advanced.
        wall_seconds: wall seconds from the first tick sent to the last round completed.
        max_lag: wall mode: the most a tick went out after its wall time (s).
        max_latency: per participant, the longest wall time from its tick to its report (s).
        ignored: packets received and not used, by reason (``stale_done``, ``decode_...``).
        rejoins: per participant, hellos after its first (restarts).
        octets_waited: per participant, rounds held until its written octets were read.
        octets_missing: per participant, rounds that moved on without all its written octets.
        holds: per participant, holding reports (a round held on purpose, kept alive).
        skipped: per participant, rounds it was left out of (module docstring, *Partial
            rounds*).
    """

    rounds: int = 0
    jumps: int = 0
    ticks_skipped: int = 0
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    max_lag: float = 0.0
    max_latency: dict[str, float] = field(default_factory=dict)
    ignored: Counter[str] = field(default_factory=Counter)
    rejoins: Counter[str] = field(default_factory=Counter)
    octets_waited: Counter[str] = field(default_factory=Counter)
    octets_missing: Counter[str] = field(default_factory=Counter)
    holds: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "rounds": self.rounds,
            "jumps": self.jumps,
            "ticks_skipped": self.ticks_skipped,
            "sim_seconds": self.sim_seconds,
            "wall_seconds": self.wall_seconds,
            "max_lag": self.max_lag,
            "max_latency": dict(self.max_latency),
            "ignored": dict(sorted(self.ignored.items())),
            "rejoins": dict(sorted(self.rejoins.items())),
            "octets_waited": dict(sorted(self.octets_waited.items())),
            "octets_missing": dict(sorted(self.octets_missing.items())),
            "holds": dict(sorted(self.holds.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }


class Lockstep:
    """The time master: ticks every participant, waits for all, then moves time.

    Args:
        participants: name -> timing channel (see :func:`hal.links.timing.timing_channel`), in
            the order ticks are sent. Names as in the bench file; each participant's hello must
            carry the same name.
        tick: the regular tick period in seconds (a whole number of microseconds, > 0).
        mode: ``"sim"`` runs as fast as the participants answer; ``"wall"`` paces ticks to
            ``wall``.
        wall: monotonic seconds; paces wall mode, and measures round timeouts and statistics.
        wait: how to block for traffic (see :data:`Wait`); by default ``select`` on the links.
        clock: the simulated time to drive (a new :class:`SimClock` at 0.0 by default).
        next_due: the simulator's own next event time (s), ``math.inf`` for none.
        advance_hooks: called with the tick's time (s) before each tick is sent (e.g.
            ``emulator.advance``); more may be appended to :attr:`advance_hooks`.
        round_timeout: wall seconds every participant has to report a round done.
        max_jump: the longest single jump (s); ``None``: no limit.
        received: the octets the simulator has read so far from a participant's links other
            than its timing link (``None``: it cannot count them); the round waits for the
            octets each participant reports written (module docstring). ``None``: no waiting.
        catch_up: wall seconds a round waits for those octets after the last report.
        queued: the octets the simulator has queued so far for a participant on its links
            other than its timing link (relayed frames, put there only between rounds;
            ``None``: none). Each tick carries what was queued since the previous one, and
            the participant reads them before its cycle (:mod:`hal.protocol.timing`, ``sent``).
        on_event: called ``(name, detail)`` for ``registered``, ``rejoined``,
            ``participant_timeout``, ``participant_lost``, ``octets_missing`` and ``stop``.
        skippable: the participants that may sit out a round they have nothing in (module
            docstring, *Partial rounds*); by default none.
        stopping: whether the simulator was told to stop; an open round then ends at once
            (:class:`RoundInterrupted`, module docstring). ``None``: rounds always complete.

    Raises:
        ValueError: no participants, a bad tick, mode, timeout or max_jump.
    """

    def __init__(
        self,
        participants: Mapping[str, PacketChannel],
        tick: float = 0.1,
        mode: Mode = "sim",
        *,
        wall: Callable[[], float] = time.monotonic,
        wait: Wait | None = None,
        clock: SimClock | None = None,
        next_due: Callable[[], float] | None = None,
        advance_hooks: Sequence[Callable[[float], object]] = (),
        round_timeout: float = 2.0,
        max_jump: float | None = None,
        received: Callable[[str], int | None] | None = None,
        catch_up: float = 1.0,
        queued: Callable[[str], int | None] | None = None,
        on_event: Callable[[str, str], None] | None = None,
        stopping: Callable[[], bool] | None = None,
        skippable: Iterable[str] = (),
    ) -> None:
        if not participants:
            raise ValueError("a lockstep needs at least one participant")
        if mode not in ("sim", "wall"):
            raise ValueError(f"mode must be 'sim' or 'wall', not {mode!r}")
        tick_us = seconds_to_us(tick) if math.isfinite(tick) and tick > 0 else 0
        if tick_us <= 0 or abs(tick_us - tick * 1e6) > 1e-3:
            raise ValueError(f"tick must be a positive whole number of microseconds, not {tick!r}")
        if not round_timeout > 0:
            raise ValueError(f"round_timeout must be > 0, not {round_timeout!r}")
        if max_jump is not None and not max_jump > 0:
            raise ValueError(f"max_jump must be > 0 or None, not {max_jump!r}")
        if not catch_up >= 0:
            raise ValueError(f"catch_up must be >= 0, not {catch_up!r}")
        self.participants = dict(participants)
        self.tick_us = tick_us
        self.mode: Mode = mode
        self.clock = clock or SimClock()
        self.advance_hooks: list[Callable[[float], object]] = list(advance_hooks)
        self.round_timeout = round_timeout
        self.registered: dict[str, str | None] = dict.fromkeys(self.participants)
        """The name each link's participant said hello with (``None``: not yet)."""
        self.stats = LockstepStats()
        self._max_jump_us = None if max_jump is None else seconds_to_us(max_jump)
        self._wall = wall
        self._wait_fn = wait
        self._next_due = next_due
        self._on_event = on_event
        self._stopping = stopping
        self._skippable = frozenset(skippable)
        self._received = received
        self._catch_up = catch_up
        self._queued = queued
        self._queued_base: dict[str, int] = {}
        self._read_base: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._number = 0
        self._seq = 0
        self._current: Tick | None = None
        self._open = False
        self._pending: set[str] = set()
        self._sent_at: dict[str, float] = {}
        self._rejoined_at: float | None = None  # wall time of the round's last rejoin
        self._held_at: float | None = None  # wall time of the round's last holding report
        self._dues: dict[str, int] = {}  # each participant's latest reported next due
        self._anchor: tuple[float, int] | None = None
        self._started: float | None = None
        self._start_us = self.clock.now_us

    # ------------------------------------------------------------------ properties

    @property
    def now(self) -> float:
        """The simulated time (s)."""
        return self.clock.now()

    @property
    def pending(self) -> frozenset[str]:
        """Participants whose report of the current tick has not arrived."""
        return frozenset(self._pending)

    @property
    def fds(self) -> list[int]:
        """The participants' link descriptors (those that have one), for an outer ``select``."""
        out = []
        for channel in self.participants.values():
            try:
                out.append(channel.link.fileno())
            except (io.UnsupportedOperation, LinkError):
                continue
        return out

    # ------------------------------------------------------------------ the round

    def register(self, timeout: float) -> None:
        """Wait until every participant said hello (do this before the first tick).

        Raises:
            ParticipantTimeout: some did not within ``timeout`` wall seconds (named).
            WrongParticipant: a hello carried another name than its link's.
            ParticipantLost: a link is closed or lost.
        """
        deadline = self._wall() + timeout
        while True:
            self._drain(self.participants)
            silent = [name for name, said in self.registered.items() if said is None]
            if not silent:
                return
            remaining = deadline - self._wall()
            if remaining <= 0:
                self._event("participant_timeout", f"no hello from {', '.join(silent)}")
                raise ParticipantTimeout(
                    f"participant(s) {', '.join(map(repr, silent))} did not say hello within "
                    f"{timeout} s",
                    silent,
                )
            self._block(remaining, silent)

    def send_ticks(self) -> Tick:
        """Start a round: (wall mode) wait for its wall time, run the hooks, tick everyone.

        Returns:
            The tick sent.

        Raises:
            RuntimeError: the previous round was not collected.
            ParticipantLost: a link is closed or lost.
        """
        if self._open:
            raise RuntimeError(f"collect() tick {self._number} before sending the next")
        now_us = self.clock.now_us
        if self.mode == "wall":
            self._pace(now_us)
        for hook in self.advance_hooks:
            hook(us_to_seconds(now_us))
        self._number += 1
        tick = Tick(self._number, now_us)
        raws = {
            name: self._tick_for(name, tick)
            for name in self.participants
            if self._needs_tick(name, now_us)
        }
        for name in self.participants:
            if name in raws:
                self._dues.pop(name, None)  # it reports afresh
            else:
                self.stats.skipped[name] += 1
        self._current = tick
        self._open = True
        self._pending = set(raws)
        if self._started is None:
            self._started = self._wall()
        self._written = {}
        self._rejoined_at = None
        self._held_at = None
        if self._received is not None:  # what the cycle writes is counted from here
            self._read_base = {name: self._received(name) or 0 for name in raws}
        for name, channel in self.participants.items():
            if name not in raws:
                continue
            self._sent_at[name] = self._wall()
            try:
                channel.send(raws[name])
            except LinkError as exc:
                raise self._lost(name, exc) from exc
        return tick

    def _needs_tick(self, name: str, now_us: int) -> bool:
        """Whether ``name`` takes part in the round at ``now_us`` (*Partial rounds*)."""
        if name not in self._skippable:
            return True
        due = self._dues.get(name)
        if due is None or due in (NEXT_TICK, NOTHING_DUE) or due <= now_us:
            return True
        if self._queued is None:
            return False
        return (self._queued(name) or 0) != self._queued_base.get(name, 0)

    def _tick_for(self, name: str, tick: Tick) -> bytes:
        """The tick as sent to ``name``: with the octets queued for it since its last one."""
        if self._queued is not None:
            total = self._queued(name) or 0
            sent = total - self._queued_base.get(name, 0)
            self._queued_base[name] = total
            tick = Tick(tick.number, tick.time_us, max(0, sent) & MAX_WRITTEN)
        raw = tick.to_packet(self._seq).pack()
        self._seq = (self._seq + 1) & 0x3FFF
        return raw

    def collect(self, timeout: float | None = None) -> RoundResult:
        """Finish the round: wait for every report, then move time (regular tick or jump).

        Args:
            timeout: wall seconds to wait; by default ``round_timeout``.

        Raises:
            RuntimeError: no round was started.
            ParticipantTimeout: some did not report in time; each is named in the message and in
                ``participants``. The round stays open: ``collect`` may be called again.
            ParticipantLost: a link is closed or lost.
            WrongParticipant: a hello carried another name than its link's.
            RoundInterrupted: ``stopping`` said so while reports were awaited (the round
                stays open: send the stop).
        """
        tick = self._current
        if tick is None or not self._open:
            raise RuntimeError("send_ticks() before collect()")
        limit = self.round_timeout if timeout is None else timeout
        deadline = self._wall() + limit
        while True:
            self._drain({name: self.participants[name] for name in sorted(self._pending)})
            if not self._pending:
                break
            if self._rejoined_at is not None:  # a restarted participant has the whole limit
                deadline = max(deadline, self._rejoined_at + limit)
            if self._held_at is not None:  # so has one that holds the round on purpose
                deadline = max(deadline, self._held_at + limit)
            remaining = deadline - self._wall()
            if remaining <= 0:
                silent = [name for name in self.participants if name in self._pending]
                detail = (
                    f"participant(s) {', '.join(map(repr, silent))} did not report tick "
                    f"{tick.number} (t = {tick.time:.6f} s) done within {limit} s"
                )
                self._event("participant_timeout", detail)
                raise ParticipantTimeout(detail, silent)
            if self._stopping is not None:
                if self._stopping():
                    raise RoundInterrupted(f"told to stop during tick {tick.number}")
                remaining = min(remaining, STOP_POLL)
            self._block(remaining, sorted(self._pending))
        self._take_in_written()
        return self._advance(tick)

    def round(self) -> RoundResult:
        """One whole round: :meth:`send_ticks` then :meth:`collect`."""
        self.send_ticks()
        return self.collect()

    def run(self, rounds: int | None = None, *, until: float | None = None) -> list[RoundResult]:
        """Run rounds until ``rounds`` are done or simulated time reaches ``until`` (s).

        On a :class:`LockstepError` the others are sent a stop (``STOP_ABORT``) and the error is
        raised again. A normal end sends nothing: call :meth:`stop` when the run is over.

        Raises:
            ValueError: neither limit given.
            LockstepError: as :meth:`collect`.
        """
        if rounds is None and until is None:
            raise ValueError("run() needs rounds or until")
        results: list[RoundResult] = []
        try:
            while (rounds is None or len(results) < rounds) and (
                until is None or self.clock.now() < until
            ):
                results.append(self.round())
        except LockstepError:
            self.stop(STOP_ABORT)
            raise
        return results

    def stop(self, reason: int = STOP_END) -> list[str]:
        """Send a stop to every participant whose link still works.

        Returns:
            The names that could not be told (link closed or lost).
        """
        raw = Stop(reason).to_packet(self._seq).pack()
        self._seq = (self._seq + 1) & 0x3FFF
        self._pending = set()
        self._open = False
        failed = []
        for name, channel in self.participants.items():
            try:
                channel.send(raw)
            except LinkError:
                failed.append(name)
        self._event("stop", f"reason {reason}" + (f", not told: {failed}" if failed else ""))
        return failed

    # ------------------------------------------------------------------ internals

    def _behind(self) -> list[str]:
        """Participants whose reported octets the simulator has not read yet."""
        if self._received is None:
            return []
        out = []
        for name, written in self._written.items():
            got = self._received(name)
            if got is not None and got - self._read_base.get(name, 0) < written:
                out.append(name)
        return out

    def _take_in_written(self) -> None:
        """Serve the links until every participant's written octets are read (catch_up)."""
        behind = self._behind()
        if not behind:
            return
        self.stats.octets_waited.update(behind)
        deadline = self._wall() + self._catch_up
        while behind:
            remaining = deadline - self._wall()
            if remaining <= 0:
                self.stats.octets_missing.update(behind)
                self._event(
                    "octets_missing",
                    f"tick {self._number}: octets written by {', '.join(behind)} not read "
                    f"within {self._catch_up} s",
                )
                return
            self._block(min(remaining, 0.05), [])
            behind = self._behind()

    def _advance(self, tick: Tick) -> RoundResult:
        now_wall = self._wall()
        t = tick.time_us
        regular = (t // self.tick_us + 1) * self.tick_us
        own: int | None = None
        if self._next_due is not None and NEXT_TICK not in self._dues.values():
            seconds = self._next_due()
            own = None if seconds == math.inf else seconds_to_us(max(seconds, 0.0))
        to_us = next_tick_us(t, self.tick_us, self._dues.values(), own, self._max_jump_us)
        self.clock.advance_to_us(to_us)
        self._open = False
        stats = self.stats
        stats.rounds += 1
        if to_us > regular:
            stats.jumps += 1
            stats.ticks_skipped += (to_us - regular) // self.tick_us
        stats.sim_seconds = us_to_seconds(to_us - self._start_us)
        if self._started is not None:
            stats.wall_seconds = now_wall - self._started
        dues = {name: _due_seconds(self._dues[name]) for name in self.participants}
        return RoundResult(tick, us_to_seconds(to_us), to_us > regular, dues)

    def _pace(self, now_us: int) -> None:
        if self._anchor is None:
            self._anchor = (self._wall(), now_us)
        wall0, t0 = self._anchor
        due = wall0 + us_to_seconds(now_us - t0)
        while (remaining := due - self._wall()) > _PACE_RESOLUTION:
            self._block(remaining, list(self.participants))
            self._drain(self.participants)
        self.stats.max_lag = max(self.stats.max_lag, self._wall() - due)

    def _block(self, seconds: float, names: Sequence[str]) -> None:
        """Wait up to ``seconds`` for traffic on the links of ``names``."""
        channels = [self.participants[name] for name in names]
        if not channels and self._wait_fn is None:
            select.select([], [], [], seconds)  # nothing of ours to wait on: just the time
            return
        fds: list[int] = []
        for channel in channels:
            try:
                fds.append(channel.link.fileno())
            except io.UnsupportedOperation:
                continue
            except LinkError:
                continue  # closed: the next read names it
        if self._wait_fn is not None:
            self._wait_fn(seconds, fds)
        elif len(fds) == len(channels):
            select.select(fds, [], [], seconds)
        else:  # a link without a descriptor (loop://): wait on it, briefly
            channels[0].poll(min(seconds, 0.01))

    def _drain(self, channels: Mapping[str, PacketChannel]) -> None:
        for name, channel in channels.items():
            try:
                packets = channel.receive_all(0)
            except LinkError as exc:
                raise self._lost(name, exc) from exc
            for packet in packets:
                self._handle(name, packet)

    def _handle(self, name: str, packet: Packet) -> None:
        if not isinstance(packet, PusTm):
            self.stats.ignored["not_tm"] += 1
            return
        try:
            message = decode(packet)
        except ProtocolError as exc:
            self.stats.ignored[f"decode_{exc.reason}"] += 1
            return
        if isinstance(message, Hello):
            if message.name != name:
                detail = f"the link of {name!r} carries participant {message.name!r}"
                raise WrongParticipant(detail, [name])
            if self.registered[name] is None:
                self._event("registered", name)
                self.registered[name] = message.name
            else:
                self._rejoin(name)
            return
        current = self._current
        if isinstance(message, Holding):
            if current is not None and message.number == current.number and name in self._pending:
                self._held_at = self._wall()
                self.stats.holds[name] += 1
            else:
                self.stats.ignored["stale_holding"] += 1
            return
        if not isinstance(message, CycleDone):  # pragma: no cover - decode gives TM types
            self.stats.ignored["not_done"] += 1
            return
        if current is None or message.number != current.number or name not in self._pending:
            self.stats.ignored["stale_done"] += 1
            return
        self._pending.discard(name)
        self._dues[name] = message.next_due_us
        self._written[name] = message.written
        latency = self._wall() - self._sent_at[name]
        self.stats.max_latency[name] = max(self.stats.max_latency.get(name, 0.0), latency)

    def _rejoin(self, name: str) -> None:
        """A registered participant said hello again: it restarted (module docstring)."""
        self.stats.rejoins[name] += 1
        tick = self._current
        if not (self._open and tick is not None and name in self._pending):
            self._event("rejoined", f"{name}: between rounds")
            return
        raw = tick.to_packet(self._seq).pack()
        self._seq = (self._seq + 1) & 0x3FFF
        now = self._wall()
        self._sent_at[name] = now
        self._rejoined_at = now
        self._event("rejoined", f"{name}: tick {tick.number} sent again")
        try:
            self.participants[name].send(raw)
        except LinkError as exc:
            raise self._lost(name, exc) from exc

    def _lost(self, name: str, exc: LinkError) -> ParticipantLost:
        detail = f"participant {name!r}: timing link lost: {exc}"
        self._event("participant_lost", detail)
        return ParticipantLost(detail, [name])

    def _event(self, name: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event(name, detail)


def next_tick_us(
    t_us: int,
    tick_us: int,
    dues: Iterable[int],
    own_due_us: int | None = None,
    max_jump_us: int | None = None,
) -> int:
    """The jump rule (module docstring): the time of the tick after one at ``t_us``.

    Args:
        t_us: the time of the tick just run (us).
        tick_us: the regular tick period (us); ticks fall on its multiples.
        dues: every participant's reported ``next_due_us`` (with ``NEXT_TICK`` and
            ``NOTHING_DUE``).
        own_due_us: the simulator's own next event (us), ``None`` for none.
        max_jump_us: the longest jump (us), ``None`` for no limit.

    Returns:
        The next tick's time (us), always on the grid and after ``t_us``.
    """
    regular = (t_us // tick_us + 1) * tick_us
    earliest: int | None = own_due_us
    for due in dues:
        if due == NEXT_TICK:
            return regular
        if due != NOTHING_DUE and (earliest is None or due < earliest):
            earliest = due
    if earliest is not None and earliest <= regular:
        return regular
    cap = None if max_jump_us is None else max(regular, (t_us + max_jump_us) // tick_us * tick_us)
    if earliest is None:  # nothing due anywhere
        return regular if cap is None else cap
    target = -(-earliest // tick_us) * tick_us  # the first grid point at or after it
    return target if cap is None else min(target, cap)


def _due_seconds(due_us: int) -> float | None:
    if due_us == NEXT_TICK:
        return None
    if due_us == NOTHING_DUE:
        return math.inf
    return us_to_seconds(due_us)
