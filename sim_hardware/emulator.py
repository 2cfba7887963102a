"""The emulator interface: a board as a pure object of (state, packet, time).

The host around an emulator (:mod:`sim_hardware.host`) owns the link and the clock; the emulator
never touches a port, a thread or a clock. Like httpx's ``MockTransport(handler)``.
"""

from __future__ import annotations

from typing import Protocol

from hal.protocol.pus import PusTc, PusTm


class Emulator(Protocol):
    """One emulated board.

    Attributes:
        name: the board's name, as in the bench file and the ICD module.
        apids: APID to largest packet accepted, from the board's ICD.
    """

    name: str
    apids: dict[int, int]

    def handle(self, packet: PusTc | PusTm, now: float) -> list[PusTm]:
        """Answer one packet received at simulated time ``now``; return the replies, in order."""
        ...

    def advance(self, to_time: float) -> None:
        """Bring the board's physics to simulated time ``to_time`` (never backwards)."""
        ...
