"""The world model across two processes: a stand-in board coupled to the bench's simulator.

A stand-in board (``python -m sim_hardware --serve``) runs in its own process, but what it does
to the tubes happens in the world the simulator keeps with the other boards: an arm at the depot
is offered the depot's first tube and the cameras see it; a tube let go over slot ``n`` goes into
the OS container the simulator serves. So the stand-in, given the bench's run folder
(``--couple RUN_DIR``), reports its board's state to the simulator's back door (op ``couple``,
:class:`~sim_hardware.backdoor_messages.CoupleRequest`, behind the run's token, decision 0027)
whenever that state changed and before it answers each request; the simulator sets a
:class:`RemoteArm` in its :class:`~sim_hardware.coupling.Coupling` to that state, runs the
coupling, and answers with what the world did to the board (the tube offered between its
fingers, the tube it may keep holding); the stand-in applies the answer to its emulator at once,
before its board time moves on. Since the report precedes the answer to the flight software's
request, the simulator knows where the arm is before the flight software can act on it (ask the
cameras, read the container's slots).

Only ``sta_arm`` couples this way for now (the other boards' couplings are one-way hooks the
simulator's own boards would need too). Decision 0032.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hal.backdoor import BackdoorError, request
from hal.bench import Bench
from hal.control import ControlError, read_token
from sim_hardware.backdoor_messages import ArmState, CoupleRequest
from sim_hardware.coupling import Coupling
from sim_hardware.devices.sta_arm import StaArm

__all__ = ["COUPLED", "CouplingClient", "RemoteArm", "arm_state", "couple"]

COUPLED: Final = ("sta_arm",)
"""The boards a stand-in can couple to a simulator's world."""
REQUEST_TIMEOUT: Final = 2.0
"""Wall seconds one report may take before the simulator counts as gone."""
RETRY_AFTER: Final = 1.0
"""Wall seconds between two attempts to reach a simulator that is not there (yet)."""


@dataclass
class RemoteArm:
    """The simulator's picture of a stand-in arm: what :class:`Coupling` reads and writes of
    a :class:`~sim_hardware.devices.sta_arm.StaArm`, as the stand-in last reported it."""

    angle: list[float] = field(default_factory=lambda: [0.0] * 7)
    target: list[float] = field(default_factory=lambda: [0.0] * 7)
    opening: float = 0.0
    held_tube: int | None = None
    presented_tube: int | None = None
    slipped: list[int] = field(default_factory=list)

    def update(self, state: ArmState) -> None:
        """Take the stand-in's report."""
        self.angle, self.target = list(state.angle), list(state.target)
        self.opening = state.opening
        self.held_tube, self.presented_tube = state.held_tube, state.presented_tube
        self.slipped = list(state.slipped)


def couple(coupling: Coupling, bench: Bench, message: CoupleRequest, now: float) -> dict[str, Any]:
    """The simulator's side of op ``couple``: the stand-in's state into the world, and what the
    world did to it.

    Raises:
        ValueError: the board is emulated by the simulator itself, or not on this bench (the
            back door answers it in one line).
    """
    spec = bench.boards.get(message.board)
    if spec is None:
        raise ValueError(f"couple: no board {message.board!r} on this bench")
    if spec.emulated:
        raise ValueError(f"couple: {message.board} is emulated by the simulator, not a stand-in")
    arm = coupling.boards.get(message.board)
    if not isinstance(arm, RemoteArm):
        arm = RemoteArm()
        coupling.boards[message.board] = arm  # type: ignore[assignment]
    arm.update(message.state)
    coupling.sync(now)
    return {"presented_tube": arm.presented_tube, "held_tube": arm.held_tube}


def arm_state(arm: StaArm) -> dict[str, Any]:
    """What the stand-in reports of its arm (the fields of :class:`ArmState`)."""
    return {
        "angle": [round(a, 6) for a in arm.angle], "target": [round(t, 6) for t in arm.target],
        "opening": round(arm.opening, 6), "held_tube": arm.held_tube,
        "presented_tube": arm.presented_tube, "slipped": list(arm.slipped),
    }  # fmt: skip


class CouplingClient:
    """The stand-in's side: reports its arm to the simulator of the bench in ``run_dir``.

    The bench may come up after the stand-in and go down before it: until its run folder holds
    a port map and a token, and whenever a report fails, the stand-in goes on serving its board
    uncoupled and tries again :data:`RETRY_AFTER` seconds later.

    Args:
        run_dir: the bench's run folder (``runs/latest`` will do).
        arm: the stand-in's arm emulator.
        log: told one line when the coupling is made or lost.
    """

    def __init__(self, run_dir: Path, arm: StaArm, log: Callable[[str], None]) -> None:
        self.run_dir = run_dir
        self.arm = arm
        self.log = log
        self.connected = False
        self.reports = 0
        self.failures = 0
        self._last: dict[str, Any] | None = None
        self._next_try = 0.0

    def sync(self, *, force: bool = False) -> None:
        """Report the arm if its state changed since the last report (or ``force``), and apply
        what the world did to it."""
        state = arm_state(self.arm)
        if not force and state == self._last:
            return
        now = time.monotonic()
        if not self.connected and now < self._next_try:
            return
        try:
            address, token = self._door()
            reply = request(address, {"op": "couple", "board": "sta_arm", "state": state},
                            timeout=REQUEST_TIMEOUT, token=token)  # fmt: skip
        except (OSError, ControlError, BackdoorError, ValueError, KeyError, TypeError) as exc:
            self.failures += 1
            self._next_try = now + RETRY_AFTER
            if self.connected:
                self.connected = False
                self.log(f"coupling to {self.run_dir} lost: {str(exc).splitlines()[0]}")
            return
        if not self.connected:
            self.connected = True
            self.log(f"coupled to the world of {self.run_dir}")
        self.reports += 1
        del self.arm.slipped[: len(state["slipped"])]  # the world has them now
        self.arm.presented_tube = _serial(reply.get("presented_tube"))
        self.arm.held_tube = _serial(reply.get("held_tube"))
        self._last = arm_state(self.arm)

    def _door(self) -> tuple[tuple[str, int], str]:
        import json

        ports = json.loads((self.run_dir / "ports.json").read_text(encoding="utf-8"))
        door = ports["backdoor"]
        return (str(door["host"]), int(door["port"])), read_token(self.run_dir)


def _serial(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
