"""The emulator interface: a board as a pure object of (state, packet, time).

The host around an emulator (:mod:`sim_hardware.host`) owns the link and the clock; the emulator
never touches a port, a thread or a clock. Like httpx's ``MockTransport(handler)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from hal.protocol.pus import PusTc, PusTm

if TYPE_CHECKING:
    from sim_hardware.devices.base import Garbage


class Emulator(Protocol):
    """One emulated board.

    Attributes:
        name: the board's name, as in the bench file and the ICD module.
        apids: APID to largest packet accepted, from the board's ICD.
    """

    name: str
    apids: dict[int, int]

    def handle(self, packet: PusTc | PusTm, now: float) -> Sequence[PusTm | Garbage]:
        """Answer one packet received at simulated time ``now``; return the replies, in order
        (:class:`~sim_hardware.devices.base.Garbage` for raw octets a faulty board emits)."""
        ...

    def advance(self, to_time: float) -> None:
        """Bring the board's physics to simulated time ``to_time`` (never backwards)."""
        ...
