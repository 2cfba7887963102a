"""HAL driver of the MAV pyrotechnic board (ICD: :mod:`hal.protocol.devices.mav_pyro`).

Removing an inhibit and firing a channel are hazardous commands: this driver sends them as asked;
the flight software's hazardous-command gate decides whether to ask. The board refuses a fire on
a dead bus by itself (``DeviceFailed`` reason ``inhibited``, ``not_armed``, ``already_fired``,
``no_continuity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import mav_pyro as icd

__all__ = ["ArmPlugStatus", "MavPyroClient", "PyroChannelStatus", "PyroStatus"]

DEFAULT_PULSE_MS = 20


@dataclass(frozen=True)
class ArmPlugStatus:
    """The arm plug and the firing bus."""

    inserted: bool
    armed: bool


@dataclass(frozen=True)
class PyroChannelStatus:
    """One pyro channel (ohm for the bridgewire)."""

    resistance: float
    continuity: bool
    fired: bool


@dataclass(frozen=True)
class PyroStatus:
    """The whole board in one record: inhibits (1..3 in order), plug and channels."""

    inhibits_removed: tuple[bool, bool, bool]
    arm_plug: ArmPlugStatus
    toss: PyroChannelStatus
    srm1: PyroChannelStatus
    srm2: PyroChannelStatus

    @property
    def safe(self) -> bool:
        """Every inhibit in place."""
        return not any(self.inhibits_removed)


class MavPyroClient(BoardClient):
    """Typed calls to the inhibits, the arm plug and the pyro channels; every call may raise a
    ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def remove_inhibit(self, number: int) -> None:
        """Remove inhibit ``number`` (1, 2 or 3). Hazardous."""
        self.command(_inhibit(number), "remove")

    def restore_inhibit(self, number: int) -> None:
        """Put inhibit ``number`` (1, 2 or 3) back in place."""
        self.command(_inhibit(number), "restore")

    def fire(self, channel: str, pulse_ms: int = DEFAULT_PULSE_MS) -> None:
        """Fire ``channel`` (``toss``, ``srm1``, ``srm2``) with a ``pulse_ms`` pulse. Hazardous.

        Raises:
            ValueError: not a pyro channel (nothing is sent).
        """
        if channel not in icd.CHANNELS:
            raise ValueError(f"{channel!r} is not a pyro channel ({', '.join(icd.CHANNELS)})")
        self.command(channel, "fire", pulse=pulse_ms)

    def read_inhibit(self, number: int) -> bool:
        """Whether inhibit ``number`` is removed."""
        return bool(self.status(_inhibit(number))["removed"])

    def read_arm_plug(self) -> ArmPlugStatus:
        """The arm plug and firing bus now."""
        return ArmPlugStatus(**self.status("arm_plug"))

    def read_channel(self, channel: str) -> PyroChannelStatus:
        """One channel now (``toss``, ``srm1``, ``srm2``)."""
        if channel not in icd.CHANNELS:
            raise ValueError(f"{channel!r} is not a pyro channel ({', '.join(icd.CHANNELS)})")
        return PyroChannelStatus(**self.status(channel))

    def read_all(self) -> PyroStatus:
        """Every device of the board, one status request each."""
        removed = (self.read_inhibit(1), self.read_inhibit(2), self.read_inhibit(3))
        return PyroStatus(
            inhibits_removed=removed,
            arm_plug=self.read_arm_plug(),
            toss=self.read_channel("toss"),
            srm1=self.read_channel("srm1"),
            srm2=self.read_channel("srm2"),
        )


def _inhibit(number: int) -> str:
    if number not in (1, 2, 3):
        raise ValueError(f"inhibit {number!r}: the board has inhibits 1, 2 and 3")
    return icd.INHIBITS[number - 1]
