"""Command dispatch with PUS-1 verification (architecture.md §5).

Every telecommand, from the ground, the time-based schedule or a stored sequence, enters through
:meth:`Dispatcher.submit` into one bounded queue (a full queue drops the command, counts it and
reports ``core.queue_overflow`` once per burst, so a flood never grows memory), and
:meth:`Dispatcher.dispatch` executes at most ``dispatch.max_per_cycle`` of them per cycle, so a
flood never starves the rate groups. Each is checked before anything runs, in this order, and
the first failure is reported as TM[1,2] acceptance failure with its named reason, with an
event and no side effect:

1. ``unknown_apid``      the packet is not addressed to this node;
2. ``unknown_command``   no command of this node has that service and subtype;
3. ``bad_length`` / ``out_of_range``   the data is not exactly the declared size, or an
   argument is outside its declared range (the reason names it);
4. ``component_failed``  the component that executes it has been stopped;
5. ``wrong_mode``        not allowed in the node's current mode;
6. ``hazard:fdir_not_safing`` / ``hazard:unconfirmed``   the command's provenance
   (:class:`~fsw.core.hazard.CommandSource`, decision 0024): fault protection may send only a
   command the dictionary declares safing; a command that needs the ground's confirmation
   (arm, remove an inhibit, enter critical, fire) is taken only from a confirmed source: a
   ground command with the confirmation mark, or a sequence step or schedule activity loaded
   with it. The refusal's reason says which, and ``core.command_rejected`` reports it;
7. ``hazard:<reason>``   a hazardous command refused by the gate (not armed, expired,
   an inhibit in place, wrong mode, a precondition the component reports false).

Then TM[1,1] (accepted), TM[1,3] (started), the component's progress TM[1,5], and TM[1,7]
(completed) or TM[1,8] (failed, with the reason) — success reports only when the telecommand's
ack flags ask for them; failures always.

The reports sent for the last :data:`VERIFICATION_HISTORY` requests are kept (per request its
acceptance, start, latest progress and final report) and :meth:`Dispatcher.repeat` sends them
again when the ground asks (``core.report_verification``, decision 0052): PUS-1 reports go
down once, and a frame the downlink's bit errors spoil would otherwise leave the ground
waiting for a command the node finished long ago.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from fsw.core.component import CommandContext, CommandError, Component
from fsw.core.hazard import CommandSource, GateError, HazardGate, SourceKind
from fsw.dictionary.verification import Verification, failure_code
from hal.errors import ProtocolError
from hal.protocol.pus import (
    ACK_ACCEPTANCE,
    ACK_COMPLETION,
    ACK_PROGRESS,
    ACK_START,
    PusTc,
    RequestId,
)

if TYPE_CHECKING:
    from fsw.dictionary import Command, NodeDictionary

__all__ = ["VERIFICATION_HISTORY", "Dispatcher", "provenance_refusal"]

VERIFICATION_HISTORY: Final = 64
"""Requests whose verification reports the node keeps to send again (a bounded memory: the
oldest request is forgotten first)."""

_ACK_BIT = {1: ACK_ACCEPTANCE, 3: ACK_START, 5: ACK_PROGRESS, 7: ACK_COMPLETION}


class Dispatcher:
    """Checks, verifies and routes the node's telecommands.

    Args:
        dictionary: the node's dictionary.
        components: component name -> component.
        send_tm: ``(service, subtype, data)`` -> sends a TM packet.
        emit: ``(event, detail)`` -> reports an event.
        gate: the hazardous-command gate.
        mode: the node's mode now.
        limits: ``() -> (queue_size, max_per_cycle)`` from the parameters.
        failed: the names of components stopped by the health service.
    """

    def __init__(
        self,
        dictionary: NodeDictionary,
        components: Mapping[str, Component],
        send_tm: Callable[[int, int, bytes], None],
        emit: Callable[[str, str], None],
        gate: HazardGate,
        mode: Callable[[], str],
        limits: Callable[[], tuple[int, int]],
        failed: Callable[[], set[str]],
    ) -> None:
        self.dictionary = dictionary
        self.components = components
        self.send_tm = send_tm
        self.emit = emit
        self.gate = gate
        self.mode = mode
        self.limits = limits
        self.failed = failed
        self._queue: deque[tuple[PusTc, CommandSource]] = deque()
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.dropped = 0
        self._overflowing = False
        self.open: list[CommandContext] = []
        self._sent: OrderedDict[bytes, dict[int, bytes]] = OrderedDict()  # request -> reports
        self.repeated = 0

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, packet: PusTc, source: CommandSource) -> bool:
        """Queue a telecommand from ``source``; False when the queue is full: the command is
        dropped and counted, and ``core.queue_overflow`` reported once per burst (the node takes
        from its radio only what fits, so ground commands are held back by COP-1, never
        dropped here)."""
        queue_size, _ = self.limits()
        if len(self._queue) >= queue_size:
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                self.emit("core.queue_overflow", f"queue of {queue_size} full: dropping")
            return False
        self._overflowing = False
        self._queue.append((packet, source))
        return True

    def dispatch(self, now: float) -> int:
        """Check and execute up to ``max_per_cycle`` queued telecommands; return how many."""
        _, most = self.limits()
        done = 0
        while self._queue and done < most:
            packet, source = self._queue.popleft()
            self.execute(packet, source, now)
            done += 1
        self.open = [cmd for cmd in self.open if not cmd.done]
        return done

    def execute(self, packet: PusTc, source: CommandSource, now: float) -> CommandContext | None:
        """Check one telecommand and run it now (what :meth:`dispatch` does for each)."""
        try:
            cmd = self._accept(packet, source, now)
        except CommandError as exc:
            self.rejected[exc.reason.split(":", 1)[0]] += 1
            self._report_packet(packet, 2, exc.reason, 0)
            self.emit("core.command_rejected", f"{exc.reason} ({_describe(packet)} from {source})")
            return None
        self.accepted += 1
        self._report(cmd, 1, "", 0)
        self._report(cmd, 3, "", 0)
        component = self.components[cmd.command.component]
        try:
            component.handle_command(cmd, now)
        except CommandError as exc:
            cmd.fail(exc.reason)
        except Exception as exc:
            cmd.fail(f"execution_failed: {type(exc).__name__}: {exc}")
            self.emit("core.app_error", f"{component.name}: {cmd.command.name}: {exc!r}")
        if cmd.state == "open":
            cmd.complete()
        elif cmd.state == "deferred":
            self.open.append(cmd)
        return cmd

    def _accept(self, packet: PusTc, source: CommandSource, now: float) -> CommandContext:
        d = self.dictionary
        if packet.apid != d.apid:
            raise CommandError(f"unknown_apid: APID 0x{packet.apid:03X} is not {d.node}'s")
        command = d.command_at(packet.apid, packet.service, packet.subtype)
        if command is None:
            raise CommandError(
                f"unknown_command: TC[{packet.service},{packet.subtype}] is not a {d.node} command"
            )
        try:
            args = command.decode(packet.app_data)
        except ProtocolError as exc:
            if exc.reason == "bad_length":
                raise CommandError(
                    f"bad_length: {command.name}: {len(packet.app_data)} octets of application "
                    f"data, the dictionary declares {command.message.size}"
                ) from None
            raise CommandError(f"out_of_range: {command.name}: {exc}") from None
        if command.component in self.failed():
            raise CommandError(f"component_failed: {command.component} is stopped")
        mode = self.mode()
        if command.modes and mode not in command.modes:
            raise CommandError(f"wrong_mode: {command.name} needs {'/'.join(command.modes)}")
        refused = provenance_refusal(command, args, source)
        if refused is not None:
            raise CommandError(refused)
        cmd = CommandContext(command, packet, args, source, now, self._report)
        if command.hazardous:
            component = self.components[command.component]
            try:
                conditions = dict(component.preconditions(cmd, now))
                self.gate.check_fire(command.name, now, source, mode, conditions)
            except GateError as exc:
                raise CommandError(f"hazard:{exc.reason}: {command.name}") from None
        return cmd

    def refuse(self, request_id: bytes | None, reason: str) -> None:
        """Refuse a telecommand the radio could not decode (bad length, checksum or header):
        counted by the class of ``reason``, and answered with an acceptance failure when its
        ``request_id`` is known (the radio already reported the packet in an event)."""
        self.rejected[reason.split(":", 1)[0]] += 1
        if request_id is not None:
            code = failure_code(reason)
            self._send_report(request_id, 2, Verification(2, request_id, code, reason, 0))

    def _report(self, cmd: CommandContext, subtype: int, reason: str, step: int) -> None:
        self._report_packet(cmd.packet, subtype, reason, step)

    def _report_packet(self, packet: PusTc, subtype: int, reason: str, step: int) -> None:
        bit = _ACK_BIT.get(subtype)
        if bit is not None and not packet.ack_flags & bit:
            return
        rid = RequestId.of(packet).pack()
        code = failure_code(reason) if subtype % 2 == 0 else 0
        self._send_report(rid, subtype, Verification(subtype, rid, code, reason, step))

    def _send_report(self, request_id: bytes, subtype: int, report: Verification) -> None:
        data = report.encode()
        kept = self._sent.get(request_id)
        if kept is None:
            kept = self._sent[request_id] = {}
            if len(self._sent) > VERIFICATION_HISTORY:
                self._sent.popitem(last=False)
        kept[subtype] = data  # a progress report replaces the one before
        self.send_tm(1, subtype, data)

    def repeat(self, request_id: bytes) -> int:
        """Send again, in their order, the verification reports kept for ``request_id``;
        return how many (0: the node keeps none for it: never seen, too old, or sent before a
        reset)."""
        kept = self._sent.get(request_id, {})
        for subtype in sorted(kept):
            self.send_tm(1, subtype, kept[subtype])
        self.repeated += len(kept)
        return len(kept)

    def stats(self) -> dict[str, Any]:
        """Accepted, rejected by reason, dropped, queued, open."""
        return {
            "accepted": self.accepted, "rejected": dict(self.rejected), "dropped": self.dropped,
            "queued": len(self._queue), "open": len(self.open),
        }  # fmt: skip


def provenance_refusal(
    command: Command, args: Mapping[str, Any], source: CommandSource
) -> str | None:
    """Why ``source`` may not send ``command`` with these arguments (decision 0024), as a named
    reason (``hazard:fdir_not_safing: ...``, ``hazard:unconfirmed: ...``), or None when it may.
    The dispatcher asks it of every command; a schedule insert and a sequence load ask it of
    every command they store, with the load's provenance."""
    if not isinstance(source, CommandSource):
        return f"hazard:unconfirmed: {command.name} from an unnamed source {source!r}"
    refusal = source.refusal()  # never None for fault protection
    fdir = source.kind is SourceKind.FDIR and not command.is_safing(args)
    if refusal is None or not (fdir or command.needs_confirmation(args)):
        return None
    return f"hazard:{refusal[0]}: {command.name} from {source}: {refusal[1]}"


def _describe(packet: PusTc) -> str:
    return f"TC[{packet.service},{packet.subtype}] APID 0x{packet.apid:03X} seq {packet.seq_count}"
