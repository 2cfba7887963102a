"""The mode manager: boot, safe, nominal, critical.

Every start and restart ends the boot in **safe**, disarmed (architecture.md §5): nothing
carries a mode across a reset. From safe the ground may command nominal or critical; anything may
ask for safe (a fault response, the watchdog), which is always granted and disarms every
hazardous command (the node's ``on_safe`` hook). Critical (hazardous operations) is entered only
by a ground command with its hazardous confirmation (or a sequence or schedule entry loaded with
one, decision 0024), and only from nominal. Every change is an event saying from, to and why;
a refused request is an event saying why.
"""

from __future__ import annotations

from collections.abc import Callable

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.dictionary.core import MODE_CODES

__all__ = ["ModeManager"]

_CODE_MODES = {code: mode for mode, code in MODE_CODES.items()}
_ALLOWED = {
    ("boot", "safe"), ("safe", "nominal"), ("nominal", "critical"), ("critical", "nominal"),
    ("nominal", "safe"), ("critical", "safe"), ("safe", "safe"),
}  # fmt: skip


class ModeManager(Component):
    """The node's mode (component ``modes``).

    Args:
        ctx: the node context.
        on_change: called ``(old, new, now)`` after every change (the node tells every
            component; entering safe disarms the gate).
    """

    name = "modes"

    def __init__(self, ctx: NodeContext, on_change: Callable[[str, str, float], None]) -> None:
        super().__init__(ctx)
        self.mode = "boot"
        self.on_change = on_change
        self.changes = 0
        self.now = 0.0

    def request(self, mode: str, why: str, now: float | None = None) -> bool:
        """Change to ``mode`` if the transition is allowed; False (and an event) otherwise."""
        when = self.now if now is None else now
        if (self.mode, mode) not in _ALLOWED:
            self.ctx.emit("modes.refused", f"{self.mode} -> {mode} is not allowed ({why})")
            return False
        old, self.mode = self.mode, mode
        self.changes += 1
        self.ctx.emit("modes.changed", f"{old} -> {mode}: {why}")
        self.on_change(old, mode, when)
        return True

    def cycle(self, now: float) -> None:
        """Keep the time for requests made between commands."""
        self.now = now

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[150,1]: the ground commands a mode. Critical only from a source that carries
        the ground's hazardous confirmation (the dispatcher checks it first; checked here
        again, since critical is where hazardous commands may fire)."""
        target = _CODE_MODES[cmd.args["mode"]]
        refusal = cmd.source.refusal() if target == "critical" else None
        if refusal is not None:
            self.ctx.emit(
                "modes.refused", f"{self.mode} -> critical from {cmd.source}: {refusal[1]}"
            )
            raise CommandError(f"hazard:{refusal[0]}: modes.set from {cmd.source}: {refusal[1]}")
        if not self.request(target, f"commanded by {cmd.source}", now):
            raise CommandError(f"precondition: {self.mode} -> {target} is not allowed")
