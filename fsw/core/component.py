"""The component contract, and what the node hands every component.

A component is one unit of flight software with a clear contract (F Prime's components, cFS's
apps): the commands it accepts and the housekeeping packets and events it emits are declared in
the dictionary under its name; what it does each cycle is :meth:`Component.cycle`. It meets the
rest of the node only through its :class:`NodeContext`: the software bus, the event and telemetry
services, the non-volatile store, the parameters and the mode. It never opens a port, never
sleeps, and never reads the host's clock: ``now`` is handed to it.

A command reaches :meth:`Component.handle_command` already checked (APID, type, length, ranges,
mode, the hazardous-command gate) as a :class:`CommandContext`. The component reports what
happens through it: :meth:`~CommandContext.progress`, :meth:`~CommandContext.complete`,
:meth:`~CommandContext.fail`. A command the handler neither completed, failed nor deferred is
completed when the handler returns; a deferred one stays open until the component reports it
(an arm move that takes seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hal.protocol.pus import PusTc

if TYPE_CHECKING:
    from fsw.core.bus import Pipe, SoftwareBus
    from fsw.core.hazard import CommandSource
    from fsw.core.nvstore import NvStore
    from fsw.dictionary import Command, NodeDictionary
    from hal.devices.base import BoardClient

__all__ = ["CommandContext", "CommandError", "Component", "NodeContext"]


class CommandError(Exception):
    """A command cannot be carried out; ``reason`` is its named reason
    (``precondition: the lid is open``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CommandContext:
    """One accepted telecommand on its way through a component.

    Attributes:
        command: its dictionary declaration.
        packet: the telecommand as received.
        args: its checked arguments (``{"data": bytes}`` for a variable command).
        source: where it came from and whether it carries the ground's hazardous confirmation
            (:class:`~fsw.core.hazard.CommandSource`).
        received: mission time it was accepted.
        state: ``open``, ``deferred``, ``completed`` or ``failed``.
    """

    command: Command
    packet: PusTc
    args: dict[str, Any]
    source: CommandSource
    received: float
    report: Callable[[CommandContext, int, str, int], None] = field(repr=False)
    state: str = "open"
    reason: str = ""

    def progress(self, step: int) -> None:
        """Report progress step ``step`` (0..255) of a running command."""
        if self.state in ("open", "deferred"):
            self.report(self, 5, "", step & 0xFF)

    def complete(self) -> None:
        """Report the command completed (once; later reports are ignored)."""
        if self.state in ("open", "deferred"):
            self.state = "completed"
            self.report(self, 7, "", 0)

    def fail(self, reason: str) -> None:
        """Report the command failed with a named reason (once)."""
        if self.state in ("open", "deferred"):
            self.state = "failed"
            self.reason = reason
            self.report(self, 8, reason, 0)

    def defer(self) -> None:
        """Keep the command open after the handler returns: the component reports it later."""
        if self.state == "open":
            self.state = "deferred"

    @property
    def done(self) -> bool:
        """Completed or failed."""
        return self.state in ("completed", "failed")


class NodeContext:
    """What the node hands each component: its services, never its internals.

    Attributes:
        node: the node's name.
        dictionary: the node's dictionary.
        bus: the software bus.
        nv: the non-volatile store.
        boards: the node's board clients (HAL) by board name; an app's device manager
            finds its boards here (a board absent from the bench is absent here).
    """

    def __init__(
        self,
        node: str,
        dictionary: NodeDictionary,
        bus: SoftwareBus,
        nv: NvStore,
        *,
        emit: Callable[[str, str], None],
        send_tm: Callable[[int, int, bytes], None],
        parameter: Callable[[str], Any],
        mode: Callable[[], str],
        request_mode: Callable[[str, str], bool],
        submit: Callable[[PusTc, CommandSource], bool],
        boards: Mapping[str, BoardClient] | None = None,
        send_packet: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.node = node
        self._send_packet = send_packet
        self.boards: Mapping[str, BoardClient] = boards or {}
        self.dictionary = dictionary
        self.bus = bus
        self.nv = nv
        self._emit = emit
        self._send_tm = send_tm
        self._parameter = parameter
        self._mode = mode
        self._request_mode = request_mode
        self._submit = submit

    def emit(self, event: str, detail: str = "") -> None:
        """Report event ``event`` (``<component>.<name>``, declared in the dictionary)."""
        self._emit(event, detail)

    def send_tm(self, service: int, subtype: int, data: bytes) -> None:
        """Send a telemetry packet TM[service,subtype] from the node's APID."""
        self._send_tm(service, subtype, data)

    def send_packet(self, packet: bytes) -> bool:
        """Send a whole space packet that is not PUS telemetry (a CFDP PDU's) on the downlink's
        playback virtual channel; False when it could not be queued (or the node has no
        radio)."""
        return self._send_packet(packet) if self._send_packet is not None else False

    def parameter(self, name: str) -> Any:
        """The active value of parameter ``name``."""
        return self._parameter(name)

    @property
    def mode(self) -> str:
        """The node's mode now."""
        return self._mode()

    def request_mode(self, mode: str, why: str) -> bool:
        """Ask the mode manager for ``mode`` (e.g. ``safe`` on a fault); False when refused."""
        return self._request_mode(mode, why)

    def submit(self, packet: PusTc, source: CommandSource) -> bool:
        """Hand a telecommand to the dispatcher, as a sequence does (False: queue full)."""
        return self._submit(packet, source)


class Component:
    """The base of every component.

    Subclasses set :attr:`name` (as in the dictionary) and override what they need. Each method
    gets ``now``, the mission time of the cycle.
    """

    name: ClassVar[str] = "component"

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.pipe: Pipe | None = None

    def start(self, now: float) -> None:
        """Called once after boot, when the node is safe and every component exists."""

    def cycle(self, now: float) -> None:
        """One run of the rate group the component is scheduled in."""

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """Carry out an accepted command (raise :class:`CommandError` to fail it)."""
        raise CommandError(f"execution_failed: {self.name} has no command {cmd.command.name}")

    def preconditions(self, cmd: CommandContext, now: float) -> Mapping[str, bool]:
        """For a hazardous command: the conditions the component itself requires, by name."""
        return {}

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """The values of the component's housekeeping packets, by packet name."""
        return {}

    def sample_times(self, now: float) -> Mapping[str, float | None]:
        """When the values of its housekeeping were measured, by point
        (``<packet>.<field>``): the time of the device reading a value comes from, or None
        when it was never measured (a placeholder). A point not named here is measured when
        its packet is collected. The fault monitors judge each measurement once and call a
        value whose measurement stopped stale (decision 0025)."""
        return {}

    def next_due(self, now: float) -> float | None:
        """When the component next needs to run (``None``: at its rate group's period)."""
        return None

    def busy(self, now: float) -> bool:
        """The component needs its rate group's full rate now (an operation in progress that
        polls a device); while no member is busy a group with an idle period runs slower."""
        return False

    def on_mode(self, old: str, new: str, now: float) -> None:
        """The node changed mode (a component safes itself on ``safe``)."""
