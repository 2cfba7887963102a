"""HAL driver of the Sample Transfer Arm board (ICD: :mod:`hal.protocol.devices.sta_arm`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import sta_arm as icd

__all__ = ["ArmStatus", "GripperStatus", "StaArmClient"]


@dataclass(frozen=True)
class ArmStatus:
    """The arm's status report (units as in the ICD: deg, deg/s, A, degC)."""

    angle: tuple[float, ...]
    rate: tuple[float, ...]
    current: tuple[float, ...]
    temperature: tuple[float, ...]
    flags: tuple[int, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    moving: bool

    def stalled(self) -> list[int]:
        """Joints latched stalled."""
        return [j for j, f in enumerate(self.flags) if f & icd.STALLED]

    def over_current(self) -> list[int]:
        """Joints latched over-current."""
        return [j for j, f in enumerate(self.flags) if f & icd.OVER_CURRENT]


@dataclass(frozen=True)
class GripperStatus:
    """The gripper's status report (mm, N)."""

    opening: float
    force: float
    holding: bool


class StaArmClient(BoardClient):
    """Typed calls to the arm and its gripper; every call may raise a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def move_joint(self, joint: int, angle: float, rate: float) -> None:
        """Drive one joint (0 shoulder yaw .. 6 wrist roll) to ``angle`` deg at ``rate`` deg/s."""
        self.command("arm", "move_joint", joint=joint, angle=angle, rate=rate)

    def move_all(self, angles: Sequence[float], rate: float) -> None:
        """Drive all seven joints to a pose, arriving together."""
        self.command("arm", "move_all", angles=list(angles), rate=rate)

    def stop(self) -> None:
        """Hold every joint where it is."""
        self.command("arm", "stop")

    def clear_fault(self, joint: int) -> None:
        """Clear a latched stall or over-current on a joint."""
        self.command("arm", "clear_fault", joint=joint)

    def open_gripper(self) -> None:
        """Open the fingers."""
        self.command("gripper", "open")

    def close_gripper(self, force: float) -> None:
        """Close the fingers to hold at ``force`` N."""
        self.command("gripper", "close", force=force)

    def read_arm(self) -> ArmStatus:
        """The arm's status now."""
        s = self.status("arm")
        return ArmStatus(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.items()})

    def read_gripper(self) -> GripperStatus:
        """The gripper's status now."""
        return GripperStatus(**self.status("gripper"))
