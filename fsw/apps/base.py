"""What every mission app shares: its boards, and operations that take time without sleeping.

An app (the Sample Transfer Arm, the MAV launch sequencer, the capture-and-return system) is a
:class:`~fsw.core.component.Component`. Much of what it does takes seconds to hours: an arm move,
a thermal soak, a burn, a rendezvous. Flight code never sleeps, so such an **operation** is
written as a generator that *yields* what it waits for (:class:`Wait`) and is resumed by the
app's cycles: the code reads top to bottom like the procedure it is, and the node is free
between steps (the simulator jumps over the wait when nothing else is due)::

    def _stow(self) -> Operation:
        self.arm.move_all(STOW, rate)           # a device call: request/response, bounded
        while not self._arrived():
            yield Wait(1.0)                     # look again in a second of node time
        self.ctx.emit("sta.stowed")

An operation started by a command keeps the command open (``deferred``) and reports it completed
when the generator returns, or failed when it raises :class:`OperationFailed` (its reason goes
into the PUS-1 failure report) or a HAL error (``device:`` and the error). The node going safe
aborts the operation in progress. Only one operation runs at a time per app; a second command
that needs one is refused ``busy``.

Commands reach ``do_<command>(cmd, now)`` methods (``sta.load_tube`` -> ``do_load_tube``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.core.executive import grid_after
from fsw.core.nvstore import NvError
from hal.devices.base import BoardClient
from hal.errors import HalError

__all__ = ["App", "Operation", "OperationFailed", "Wait"]


@dataclass(frozen=True)
class Wait:
    """What an operation yields: resume it ``seconds`` later (node time). ``busy``: the app
    needs its rate group's full rate meanwhile (a step that must be seen within a tenth of a
    second, such as an ignition window); otherwise the node may idle. ``grid``: resume at the
    next multiple of ``seconds`` of mission time instead, for a slow periodic poll whose phase
    does not matter: it then falls on the cycles the node and the others run anyway
    (housekeeping is on the same grid), not on cycles of its own."""

    seconds: float
    busy: bool = False
    grid: bool = False


C = TypeVar("C", bound=BoardClient)
Operation = Generator[Wait, None, None]
"""An operation: a generator of waits (module docstring)."""


class OperationFailed(Exception):
    """An operation cannot go on; ``reason`` is its named reason (``grasp_slip: ...``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class App(Component):
    """The base of a mission app: boards, operations, commands by method name.

    Subclasses set :attr:`name`, define ``do_<command>`` methods, and may override
    :meth:`monitor` (called every cycle, operation or not) and :meth:`operation_ended`.
    """

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.now = 0.0
        self.operation: str = ""
        self._op: Operation | None = None
        self._op_cmd: CommandContext | None = None
        self._wake = math.inf
        self._busy = False
        self.last_failure = ""

    # ------------------------------------------------------------------ boards

    def board(self, name: str, kind: type[C]) -> C:
        """The node's client of board ``name``, of client class ``kind``.

        Raises:
            OperationFailed: ``no_board``: the bench gives this node no such board, or one of
                another kind.
        """
        client = self.ctx.boards.get(name)
        if client is None:
            raise OperationFailed(f"no_board: {self.ctx.node} has no board {name}")
        if not isinstance(client, kind):
            raise OperationFailed(f"no_board: {name} is not a {kind.__name__}")
        return client

    def param(self, name: str) -> float:
        """The active value of the app's parameter ``<app>.<name>``, as a number."""
        return float(self.ctx.parameter(f"{self.name}.{name}"))

    def persist_or_report(self, write: Callable[[], None]) -> bool:
        """Run ``write`` (a write of the app's state to the NV store); when the store refuses
        it, report ``core.store_failed`` naming the app and go on: the state in memory is what
        the vehicle does, and the store reports nothing by itself. Writes that must precede an
        action (a pyro fire's mark) check the store themselves instead. True when written."""
        try:
            write()
        except NvError as exc:
            self.ctx.emit("core.store_failed", f"{self.name}: {str(exc).splitlines()[0]}")
            return False
        return True

    # ------------------------------------------------------------------ operations

    def start(self, now: float) -> None:
        """Remember the boot time (apps restore their state in their own ``start``)."""
        self.now = now

    def begin(self, name: str, operation: Operation, cmd: CommandContext | None = None) -> None:
        """Start ``operation`` now (its first step runs at once).

        Raises:
            CommandError: ``busy``: another operation is in progress.
        """
        if self._op is not None:
            raise CommandError(f"busy: {self.name} is {self.operation}")
        self.operation, self._op, self._op_cmd = name, operation, cmd
        if cmd is not None:
            cmd.defer()
        self._resume()

    def abort(self, reason: str) -> None:
        """Stop the operation in progress (its command fails with ``reason``)."""
        if self._op is None:
            return
        op, self._op = self._op, None
        op.close()
        self._finish(reason)

    @property
    def running(self) -> bool:
        """An operation is in progress."""
        return self._op is not None

    def _resume(self) -> None:
        op = self._op
        if op is None:
            return
        try:
            wait = next(op)
        except StopIteration:
            self._op = None
            self._finish("")
            return
        except OperationFailed as exc:
            self._op = None
            self._finish(exc.reason)
            return
        except HalError as exc:
            self._op = None
            self._finish(f"device: {str(exc).splitlines()[0]}")
            return
        seconds = wait.seconds if math.isfinite(wait.seconds) else 0.0
        if wait.grid and seconds > 0:
            self._wake = grid_after(self.now, seconds)
        else:
            self._wake = self.now + max(0.0, seconds)
        self._busy = wait.busy

    def _finish(self, reason: str) -> None:
        name, cmd = self.operation, self._op_cmd
        self.operation, self._op_cmd, self._wake, self._busy = "", None, math.inf, False
        if reason:
            self.last_failure = f"{name}: {reason}"
        if cmd is not None:
            if reason:
                cmd.fail(reason)
            else:
                cmd.complete()
        self.operation_ended(name, reason)

    def operation_ended(self, name: str, reason: str) -> None:
        """An operation ended: ``reason`` empty when it succeeded (subclasses report it)."""

    # ------------------------------------------------------------------ component contract

    def cycle(self, now: float) -> None:
        """Resume the operation when its wait is over, then :meth:`monitor`."""
        self.now = now
        if self._op is not None and now + 1e-9 >= self._wake:
            self._resume()
        self.monitor(now)

    def monitor(self, now: float) -> None:
        """Checks made every cycle (limits, health); nothing by default."""

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """Route ``<app>.<command>`` to ``do_<command>(cmd, now)``."""
        self.now = now
        handler: Any = getattr(self, "do_" + cmd.command.name.split(".", 1)[1], None)
        if handler is None:
            super().handle_command(cmd, now)
            return
        handler(cmd, now)

    def next_due(self, now: float) -> float | None:
        """The operation's next step (None: nothing in progress)."""
        return self._wake if self._op is not None else None

    def busy(self, now: float) -> bool:
        """The operation asked for the full rate."""
        return self._op is not None and self._busy

    def on_mode(self, old: str, new: str, now: float) -> None:
        """Going safe aborts the operation in progress."""
        self.now = now
        if new == "safe" and self._op is not None:
            self.abort(f"safe_mode: the node went safe during {self.operation}")
