"""HAL driver of the capture board (ICD: :mod:`hal.protocol.devices.capture`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient
from hal.protocol.devices import capture as icd

__all__ = ["CaptureClient", "ConfirmStatus", "LidStatus", "TriggerStatus"]


@dataclass(frozen=True)
class TriggerStatus:
    """The arm-capture logic and trigger sensor's status report (trip time in board seconds)."""

    armed: bool
    tripped: bool
    tripped_at: float
    trips: int


@dataclass(frozen=True)
class LidStatus:
    """The capture lid's status report (deg: 90 open, 0 shut)."""

    angle: float
    moving: bool
    is_open: bool
    is_shut: bool
    auto_closed: bool


@dataclass(frozen=True)
class ConfirmStatus:
    """The two capture-confirmed switches, and the OS's slot switches read through the capture
    mechanism's contact (``slots``: bit ``n`` set when slot ``n`` holds a tube; 0 while the
    mechanism does not hold the OS)."""

    switch_a: bool
    switch_b: bool
    confirmed: bool
    slots: int = 0

    @property
    def partial(self) -> bool:
        """The switches disagree: one sees the OS, the other does not."""
        return self.switch_a != self.switch_b


class CaptureClient(BoardClient):
    """Typed calls to the trigger, the lid and the confirmation switches; every call may raise a
    ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def arm_capture(self) -> None:
        """Arm the capture (the lid must be fully open)."""
        self.command("trigger", "arm")

    def disarm_capture(self) -> None:
        """Disarm the capture and clear the latched trip."""
        self.command("trigger", "disarm")

    def close_lid(self) -> None:
        """Close the lid (only once armed)."""
        self.command("lid", "close")

    def open_lid(self) -> None:
        """Open the lid (refused once the OS is held)."""
        self.command("lid", "open")

    def read_trigger(self) -> TriggerStatus:
        """The trigger's status now."""
        return TriggerStatus(**self.status("trigger"))

    def read_lid(self) -> LidStatus:
        """The lid's status now."""
        return LidStatus(**self.status("lid"))

    def read_confirm(self) -> ConfirmStatus:
        """The confirmation switches (and the OS's slot switches) now."""
        return ConfirmStatus(**self.status("confirm"))

    def read_os_slots(self) -> int:
        """The OS's slot switches through the capture mechanism's contact: bit ``n`` set when
        slot ``n`` holds a tube; 0 while the mechanism does not hold the OS."""
        return self.read_confirm().slots
