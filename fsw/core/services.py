"""The core's service components: thin wrappers that put the pure engines on the node.

* :class:`CoreComponent` (``core``): the no-op (TC[17,1] -> TM[17,2]), the verification
  reports of a request sent again (TC[1,128], decision 0052) and the status packet;
* :class:`GateComponent` (``gate``): :class:`~fsw.core.hazard.HazardGate` commands and status;
* :class:`ScheduleComponent` (``schedule``): the PUS-11 time-based schedule
  (:class:`~fsw.services.pus_11_scheduling.TimeSchedule`);
* :class:`SequenceComponent` (``seq``): stored relative sequences
  (:class:`~fsw.services.pus_11_scheduling.SequenceEngine`), from the configuration or loaded by
  the ground (TC[152,4]), progress kept in the NV store;
* :class:`FdirComponent` (``fdir``): :class:`~fsw.core.fdir.FaultProtection` and the
  :class:`~fsw.core.fdir.ResetGuard`;
* :class:`HealthComponent` (``health``): device heartbeats through the HAL health records,
  component liveness, and the software watchdog.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.core.fdir import FaultProtection, ResetGuard
from fsw.core.hazard import CommandSource, GateError, HazardGate
from fsw.dictionary.core import BOARD_LOST, SID_BOARD_HEALTH
from fsw.dictionary.loads import LoadError, parse_sequence_load
from fsw.services.pus_11_scheduling import (
    ScheduleError,
    SequenceEngine,
    SequencingError,
    TimeSchedule,
    build_insert,
    parse_insert,
)
from hal.errors import HalError
from hal.protocol.pus import PusTc

if TYPE_CHECKING:
    from fsw.core.executive import Executive
    from hal.devices.base import BoardClient

__all__ = [
    "CoreComponent",
    "FdirComponent",
    "GateComponent",
    "HealthComponent",
    "ScheduleComponent",
    "SequenceComponent",
]


def _prefixed(ctx: NodeContext, component: str) -> Callable[[str, str], None]:
    """An ``emit`` for an engine that names its events without the component."""
    return lambda name, detail: ctx.emit(f"{component}.{name}", detail)


class CoreComponent(Component):
    """The no-op, the verification reports sent again, and the node's status packet
    (component ``core``).

    Args:
        ctx: the node.
        status: ``core.status`` at a time.
        repeat: sends again the verification reports kept for a request id; how many
            (:meth:`fsw.core.dispatcher.Dispatcher.repeat`).
    """

    name = "core"

    def __init__(
        self,
        ctx: NodeContext,
        status: Callable[[float], dict[str, Any]],
        repeat: Callable[[bytes], int],
    ) -> None:
        super().__init__(ctx)
        self.status = status
        self.repeat = repeat
        self.pings = 0

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[17,1]: answer TM[17,2]. TC[1,128]: the request's reports again, or fail
        ``unknown_request`` when the node keeps none for it."""
        if cmd.command.name == "core.report_verification":
            rid = int(cmd.args["request_id"]).to_bytes(4, "big")
            if not self.repeat(rid):
                raise CommandError(f"unknown_request: no reports kept for request {rid.hex()}")
            return
        self.pings += 1
        self.ctx.send_tm(17, 2, b"")

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``core.status``."""
        return {"core.status": self.status(now)}


class GateComponent(Component):
    """The hazardous-command gate's commands (component ``gate``)."""

    name = "gate"

    def __init__(
        self, ctx: NodeContext, gate: HazardGate, extra: Callable[[], dict[str, Any]]
    ) -> None:
        super().__init__(ctx)
        self.gate = gate
        self.extra = extra
        self.inhibits = ctx.dictionary.inhibits
        self.by_code = {
            (c.message.service << 8) | c.message.subtype: c.name for c in ctx.dictionary.hazardous
        }

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[151,1..4]: arm, disarm, remove and restore inhibits."""
        action = cmd.command.name
        try:
            if action in ("gate.arm", "gate.disarm"):
                code = cmd.args["command"]
                if action == "gate.disarm" and code == 0xFFFF:
                    self.gate.disarm_all(now)
                    return
                name = self.by_code.get(code)
                if name is None:
                    raise CommandError(f"out_of_range: 0x{code:04X} is not a hazardous command")
                if action == "gate.arm":
                    self.gate.arm(name, now, cmd.source)
                else:
                    self.gate.disarm(name, now)
                return
            index = cmd.args["inhibit"]
            if index >= len(self.inhibits):
                raise CommandError(f"out_of_range: no inhibit {index}")
            if action == "gate.remove_inhibit":
                self.gate.remove_inhibit(self.inhibits[index], now, cmd.source)
            else:
                self.gate.restore_inhibit(self.inhibits[index], now)
        except GateError as exc:
            raise CommandError(f"hazard:{exc.reason}") from None

    def on_mode(self, old: str, new: str, now: float) -> None:
        """Entering safe disarms everything."""
        if new == "safe":
            self.gate.disarm_all(now)

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``gate.status``."""
        snap = self.gate.snapshot()
        mask = sum(1 << i for i, n in enumerate(self.inhibits) if self.gate.inhibits.get(n, True))
        return {
            "gate.status": {
                "armed": len(self.gate.armed(now)), "inhibits": mask,
                "fires": snap.get("fires", 0),
                "gate_rejects": sum(snap.get("rejections", {}).values()),
                **self.extra(),
            }
        }  # fmt: skip


class ScheduleComponent(Component):
    """The time-based schedule (component ``schedule``); its content is kept in the NV store."""

    name = "schedule"

    def __init__(
        self, ctx: NodeContext, submit: Callable[[PusTc, CommandSource, float], None],
        validate: Callable[[PusTc, CommandSource], str | None],
    ) -> None:  # fmt: skip
        super().__init__(ctx)
        self.schedule = TimeSchedule(
            submit, validate, emit=_prefixed(ctx, "schedule"),
            persist=lambda state: ctx.nv.put("schedule", state),
        )  # fmt: skip

    def start(self, now: float) -> None:
        """Restore the stored activities (disabled: the node is safe after a reset)."""
        state = self.ctx.nv.get("schedule")
        if state:
            self.schedule.restore(state, now)

    def cycle(self, now: float) -> None:
        """Release what is due."""
        self.schedule.cycle(now)

    def next_due(self, now: float) -> float | None:
        """The next activity (when enabled)."""
        return self.schedule.next_due() if self.schedule.enabled else None

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[11,1] enable, [11,2] disable, [11,3] reset, [11,4] insert, [11,16] report."""
        action = cmd.command.name
        try:
            if action == "schedule.enable":
                self.schedule.enable(now)
            elif action == "schedule.disable":
                self.schedule.disable(now)
            elif action == "schedule.reset":
                self.schedule.reset()
            elif action == "schedule.insert":
                self.schedule.insert(
                    parse_insert(cmd.args["data"]), now, confirmed=cmd.source.confirmed
                )
            else:
                items = [(a.release, a.packet) for a in self.schedule.activities()]
                self.ctx.send_tm(11, 10, build_insert(items))
        except ScheduleError as exc:
            if exc.reason.startswith("hazard:"):  # provenance: the event says why, too
                self.ctx.emit("schedule.schedule_refused", f"insert from {cmd.source}: {exc}")
                raise CommandError(str(exc)) from None
            raise CommandError(f"bad_data: {exc}") from None


class SequenceComponent(Component):
    """Stored relative sequences (component ``seq``); progress kept in the NV store.

    A sequence is addressed by its index: the configured sequences first, in their order, then
    those the ground loaded (TC[152,4]), in load order (``seq.sequence_loaded`` names it).
    """

    name = "seq"

    def __init__(
        self, ctx: NodeContext, submit: Callable[[PusTc, CommandSource, float], None],
        validate: Callable[[PusTc, CommandSource], str | None],
        sequences: Sequence[tuple[str, Sequence[tuple[float, PusTc]]]],
        autonomy: Callable[[], bool] = lambda: True,
    ) -> None:  # fmt: skip
        super().__init__(ctx)
        self.autonomy = autonomy
        self.configured = [name for name, _ in sequences]
        self.engine = SequenceEngine(
            submit, validate, emit=_prefixed(ctx, "seq"),
            persist=lambda state: ctx.nv.put("sequences", state),
        )  # fmt: skip
        self._sequences = sequences

    @property
    def names(self) -> list[str]:
        """Every loaded sequence by index: the configured ones, then the ground's."""
        loaded = self.engine.names()
        return [n for n in self.configured if n in loaded] + [
            n for n in loaded if n not in self.configured
        ]

    def start(self, now: float) -> None:
        """Restore the persisted sequences and their progress: one that was running resumes at
        the step it reached, due its delay after the boot, unless the reset-loop guard holds
        the node (``autonomy`` False: it stays stopped there). Then load the configured
        sequences the store does not hold yet."""
        state = self.ctx.nv.get("sequences")
        if state:
            self.engine.restore(state, now, resume=self.autonomy())
        for name, steps in self._sequences:
            if name not in self.engine.names():
                self.engine.load(name, steps, now)

    def cycle(self, now: float) -> None:
        """Release the steps due."""
        self.engine.cycle(now)

    def next_due(self, now: float) -> float | None:
        """The next step of a running sequence."""
        return self.engine.next_due()

    def stop(self, name: str, now: float) -> None:
        """Stop ``name`` if it runs (a fault response)."""
        if name in self.engine.running():
            self.engine.stop(name, now)

    def start_sequence(self, name: str, now: float) -> None:
        """Start ``name`` from its first step (a recovery response of fault protection, which
        may only make things safer: a sequence holding a command that needs the ground's
        confirmation is refused, ``seq.sequence_refused``, and SequenceError raised)."""
        # a step that needs the confirmation is what an unconfirmed sequence would be refused
        unconfirmed = CommandSource.sequence(name, confirmed=False)
        refusal = self.engine.refusal(self.engine.steps(name), unconfirmed)
        if refusal is not None:
            self.ctx.emit("seq.sequence_refused", f"{name} not started by fault protection: "
                          f"{refusal}")  # fmt: skip
            raise SequencingError("hazard:fdir_not_safing", None, f"{name}: {refusal}")
        self.engine.start(name, now)

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[152,1] start, [152,2] stop, [152,3] resume, [152,4] load."""
        if cmd.command.name == "seq.load":
            self._load(cmd, now)
            return
        index = cmd.args["sequence"]
        if index >= len(self.names):
            raise CommandError(f"out_of_range: no sequence {index}")
        name = self.names[index]
        action = cmd.command.name.split(".", 1)[1]
        try:
            getattr(self.engine, action)(name, now)
        except SequencingError as exc:
            raise CommandError(f"precondition: {exc}") from None

    def _load(self, cmd: CommandContext, now: float) -> None:
        """TC[152,4]: load or replace a sequence, all or nothing, with the load's provenance."""
        try:
            name, steps = parse_sequence_load(cmd.args["data"])
        except LoadError as exc:
            raise CommandError(f"bad_data: {exc}") from None
        try:
            self.engine.load(name, steps, now, confirmed=cmd.source.confirmed)
        except SequencingError as exc:
            if exc.reason.startswith("hazard:"):
                self.ctx.emit("seq.sequence_refused", f"load of {name} from {cmd.source}: {exc}")
                raise CommandError(str(exc)) from None
            if exc.reason == "running":
                raise CommandError(f"precondition: {exc}") from None
            raise CommandError(f"bad_data: {exc}") from None
        index = self.names.index(name)
        self.ctx.emit("seq.sequence_loaded", f"{name} is sequence {index} (seq.start {index})")

    def on_mode(self, old: str, new: str, now: float) -> None:
        """Safe mode stops every sequence, except the boot's own entry into safe: a sequence
        resumed after a reset carries on (decision 0025; its steps still meet the dispatcher's
        mode checks and the gate, and the node boots disarmed)."""
        if new == "safe" and old != "boot":
            for name in self.engine.running():
                self.engine.stop(name, now)


class FdirComponent(Component):
    """Fault protection and the reset-loop guard (component ``fdir``)."""

    name = "fdir"

    def __init__(
        self, ctx: NodeContext, protection: FaultProtection, guard: ResetGuard,
        boot_time: float,
    ) -> None:  # fmt: skip
        super().__init__(ctx)
        self.protection = protection
        self.guard = guard
        self.monitor_ids = [m.id for m in protection.tables.monitors]
        self.boot_time = boot_time

    def cycle(self, now: float) -> None:
        """Check every monitor; see whether this boot is stable yet."""
        self.protection.cycle(now)
        if self.guard.cycle(now - self.boot_time):
            self.ctx.nv.put("reset_guard", self.guard.state())
            self.protection.autonomy = not self.guard.tripped

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[153,1] enable, [153,2] disable a monitor, [153,3] clear the reset-loop guard."""
        if cmd.command.name == "fdir.clear_reset_loop":
            self.guard.clear()
            self.ctx.nv.put("reset_guard", self.guard.state())
            self.protection.autonomy = True
            return
        index = cmd.args["monitor"]
        if index >= len(self.monitor_ids):
            raise CommandError(f"out_of_range: no monitor {index}")
        if cmd.command.name == "fdir.enable":
            self.protection.enable(self.monitor_ids[index])
        else:
            self.protection.disable(self.monitor_ids[index])


class HealthComponent(Component):
    """Device heartbeats, component liveness and the software watchdog (component ``health``).

    Every run pings each board that has not answered for ``health.heartbeat_period`` seconds
    of node time (its HAL client's reply count has not moved; a lost link is not waited on
    during its reopen backoff). Node time, not the client's clock: in lockstep a simulated
    second can take much less or much more than a wall second. The ping never blocks the
    cycle: it is sent, and a later run takes the answer or, after the client's timeout, counts
    it missing, so a silent board costs the executive nothing (a blocking ping held the cycle
    for the whole timeout). The watchdog counts the runs of
    each component's rate group since the component last completed one (a group idling at a
    longer period is not stale for it); beyond ``health.watchdog_cycles`` the node goes safe
    (``health.watchdog``).
    """

    name = "health"

    def __init__(
        self, ctx: NodeContext, executive: Executive, boards: Mapping[str, BoardClient],
        extra: Callable[[], dict[str, Any]],
    ) -> None:  # fmt: skip
        super().__init__(ctx)
        self.executive = executive
        self.boards = boards
        self.extra = extra
        self.watchdog = 0
        self._seen: dict[str, tuple[int, int]] = {}  # name -> (its runs, node cycle seen)
        self._answered: dict[str, tuple[int, float]] = {}  # board -> (its replies, when seen)
        self._barked = False
        try:
            packet = ctx.dictionary.hk_packet(SID_BOARD_HEALTH)
        except KeyError:
            packet = None  # a node without boards
        self._board_fields = [f.name for f in packet.fields] if packet is not None else []

    def cycle(self, now: float) -> None:
        """Heartbeats and the watchdog."""
        heartbeat = float(self.ctx.parameter("health.heartbeat_period"))
        for name, board in self.boards.items():
            board.poll_ping(now)  # the heartbeat in flight: answered, missed or not yet
            replies = board.health.replies
            seen = self._answered.get(name)
            if seen is None or seen[0] != replies:
                self._answered[name] = seen = (replies, now)  # it answered since the last look
            if replies and now - seen[1] < heartbeat:
                continue  # it answered the apps recently: that is its heartbeat
            try:
                board.start_ping(board.icd.devices[0].name, now)  # answered in a later run
            except HalError:
                continue  # counted in the board's health record; its events say the rest
        stale = 0
        for group in self.executive.groups:
            for component in group.components:
                if component.name in self.executive.failed:
                    continue
                alive = self.executive.alive.get(component.name, 0)
                seen = self._seen.get(component.name)
                if seen is None or alive != seen[0]:
                    self._seen[component.name] = (alive, group.runs)  # it completed a cycle
                    continue
                stale = max(stale, group.runs - seen[1])
        self.watchdog = min(stale, 255)
        if self.watchdog > int(self.ctx.parameter("health.watchdog_cycles")):
            if not self._barked:
                self._barked = True
                self.ctx.emit("health.watchdog", f"a component has not run for {stale} cycles")
                self.ctx.request_mode("safe", "software watchdog")
        else:
            self._barked = False

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``health.status`` (``extra`` adds fault protection's part) and, on a node with
        boards, ``health.boards``: each board's requests in a row without a good reply
        (:data:`~fsw.dictionary.core.BOARD_LOST` when its link is lost), from its HAL health
        record, for the fault monitors."""
        ok = sum(1 for b in self.boards.values() if b.health.ok)
        # silent (a request unanswered) or lost; a board not asked anything yet is neither
        silent = sum(
            1 for b in self.boards.values()
            if b.health.consecutive_failures or b.health.link == "lost"
        )  # fmt: skip
        failed = len(self.executive.failed)
        running = sum(len(g.components) for g in self.executive.groups) - failed
        out: dict[str, dict[str, Any]] = {
            "health.status": {
                "devices_ok": ok, "devices_failed": silent,
                "apps_ok": max(running, 0), "apps_failed": failed,
                "watchdog": self.watchdog, **self.extra(),
            }
        }  # fmt: skip
        if self._board_fields:
            out["health.boards"] = {name: self._board_value(name) for name in self._board_fields}
        return out

    def sample_times(self, now: float) -> dict[str, float | None]:
        """A board the bench does not give this node was never measured: its monitor goes
        stale rather than reading a made-up healthy value."""
        return {
            f"health.boards.{name}": None for name in self._board_fields if name not in self.boards
        }

    def _board_value(self, name: str) -> int:
        board = self.boards.get(name)
        if board is None:
            return 0  # a placeholder: its sample time is None (sample_times)
        if board.health.link == "lost":
            return BOARD_LOST
        return min(board.health.consecutive_failures, BOARD_LOST - 1)
