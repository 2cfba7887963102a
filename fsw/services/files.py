"""The file service (component ``files``, service 190): files to the ground by CFDP.

A core service: every node runs one (decision 0056, declarations in
:mod:`fsw.dictionary.files`). It holds a store of files in memory and a CFDP source entity
(:class:`hal.protocol.cfdp.FileSender`, the ``cfdp-py`` library): class 2, acknowledged, one
file at a time to the ground entity, at most ``files.per_cycle`` file data PDUs per cycle.

* Components offer files on the software bus (:data:`~fsw.dictionary.files.TOPIC_PUT`): the
  CCRS its orientation images, the manifest its custody file. A file offered with ``downlink``
  goes to the ground at once, after those already waiting.
* ``files.downlink`` sends a stored file again, or ``events.log``, made at that moment from the
  node's latest events (every event line arrives on :data:`~fsw.dictionary.files.TOPIC_EVENTS`).
* The node hands over the PDUs the ground sent (ACK, NAK, Finished) on
  :data:`~fsw.dictionary.files.TOPIC_PDU`; the component answers them in its cycle, and its
  PDUs go down on the playback virtual channel. While a file is in transfer the component is
  busy: its rate group runs at its full rate.
* The store is volatile: a reset loses the files and the transfer in progress (the ground asks
  again; the images are taken again on the next orientation).
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

from fsw.core.bus import Pipe
from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.dictionary.files import (
    LOG_LINES,
    LOG_NAME,
    TOPIC_EVENTS,
    TOPIC_PDU,
    TOPIC_PUT,
    FileNameError,
    FilePut,
    parse_file_name,
)
from hal.protocol.cfdp import CfdpError, FileSender

__all__ = ["Files"]

ANSWER_POLL = 1.0
"""Seconds between two looks at the sender's timers while it awaits the ground's answer."""
PIPE_DEPTH = 512
"""Messages the component's pipe holds: a cycle's PDUs from the ground and event lines."""


class Files(Component):
    """A node's file store and CFDP sender (see the module docstring)."""

    name: ClassVar[str] = "files"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.sender = FileSender(ctx.dictionary.apid)
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.sent = 0
        self.failed = 0

    @property
    def pipe(self) -> Pipe | None:
        """The component's pipe; given one (by the node, before boot), it subscribes at once to
        files offered, PDUs from the ground and event lines, so ``events.log`` has the boot's."""
        return self._pipe

    @pipe.setter
    def pipe(self, pipe: Pipe | None) -> None:
        self._pipe = pipe
        if pipe is not None:
            pipe.depth = PIPE_DEPTH
            for topic in (TOPIC_PUT, TOPIC_PDU, TOPIC_EVENTS):
                self.ctx.bus.subscribe(topic, pipe)

    def cycle(self, now: float) -> None:
        """Take what the bus brought, run the CFDP sender, report transfers that ended."""
        if self.pipe is not None:
            for topic, message in self.pipe.drain():
                if topic == TOPIC_PDU:
                    self.sender.receive(message, now)
                elif topic == TOPIC_EVENTS:
                    self.log.append(message)
                elif topic == TOPIC_PUT:
                    self._offered(message)
        self.sender.per_step = int(self.ctx.parameter("files.per_cycle"))
        for packet in self.sender.step(now):
            self.ctx.send_packet(packet)
        for outcome in self.sender.take_outcomes():
            if outcome.ok:
                self.sent += 1
                self.ctx.emit("files.sent", f"{outcome.name}: transaction {outcome.seq}, "
                              f"{outcome.size} octets, CRC-32 {outcome.checksum:08x}, sent from "
                              f"{outcome.started:.1f} s")  # fmt: skip
            else:
                self.failed += 1
                self.ctx.emit("files.failed", f"{outcome.name}: transaction {outcome.seq} "
                              f"abandoned ({outcome.condition})")  # fmt: skip

    def _offered(self, put: Any) -> None:
        if not isinstance(put, FilePut):
            return
        try:
            self.sender.store.put(put.name, put.data)
            if put.downlink:
                self.sender.put(put.name)
        except CfdpError as exc:
            self.ctx.emit("files.refused", f"{put.name!r}: {exc}")

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """``files.downlink``: queue a stored file (or ``events.log``) for the ground."""
        if cmd.command.name != "files.downlink":
            raise CommandError(f"execution_failed: files has no command {cmd.command.name}")
        try:
            name = parse_file_name(cmd.args["data"])
            if name == LOG_NAME:
                self.sender.store.put(name, "".join(f"{line}\n" for line in self.log).encode())
            self.sender.put(name)
        except (FileNameError, CfdpError) as exc:
            reason = getattr(exc, "reason", "bad_name")
            raise CommandError(f"{reason}: {str(exc).removeprefix(f'{reason}: ')}") from None

    def busy(self, now: float) -> bool:
        """Something to send (a file waiting, or a transfer's data): the group runs at its full
        rate. Awaiting an answer from the ground is not busy: the answer is taken at the
        group's next cycle, and the timers are looked at :data:`ANSWER_POLL` s apart."""
        return self.sender.sending

    def next_due(self, now: float) -> float | None:
        """While a transfer awaits the ground's answer, its timers need a look now and then."""
        return now + ANSWER_POLL if self.sender.busy else None

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``files.status``."""
        name, progress, size = self.sender.progress
        return {
            "files.status": {
                "stored": len(self.sender.store.files), "waiting": len(self.sender.waiting),
                "sending": int(name is not None), "progress": progress, "size": size,
                "sent": self.sent & 0xFFFF, "failed": self.failed & 0xFFFF,
                "pdus_in": self.sender.pdus_in & 0xFFFFFFFF,
                "refused": sum(self.sender.rejects.values()) & 0xFFFFFFFF,
            }
        }  # fmt: skip
