"""Emulator of the capture board (ICD: :mod:`hal.protocol.devices.capture`).

Physics at bench level:

* the simulator (the world model, or a test) says when the Orbiting Sample enters the cone with
  :meth:`Capture.os_arrives`; if the capture is armed, the trigger trips at that moment and the
  lid starts closing by itself;
* the lid travels at :data:`LID_RATE` (about three seconds from open to shut);
* the OS stays in the cone for ``dwell`` seconds (a default of :data:`DWELL`) and then drifts out
  again (:attr:`Capture.os_escaped`), unless the lid has closed below :data:`RETAIN_ANGLE` by then,
  after which it cannot get out; once the lid is shut on it, both confirmation switches close;
* while the mechanism holds the OS, its contact reads the OS's slot switches: the simulator's
  coupling sets :attr:`Capture.os_slots` (the world's slot mask while the OS is captured or in
  the primary containment vessel, 0 otherwise) and the ``confirm`` status reports it.

Board faults:

===================  =====================================================================
``trigger_miss``     the trigger does not trip when the OS enters: the lid is not auto-closed,
                     the OS drifts out after its dwell and the capture is never confirmed
``partial_capture``  the OS is caught off-centre: when the lid shuts on it only one switch
                     closes (``switch``: ``"a"``, the default, or ``"b"``), the capture is
                     not confirmed, and the lid may be opened again, letting the OS drift out
                     (a fault active at the moment the lid shuts decides; clearing it later
                     does not seat the OS)
===================  =====================================================================

The physics advance in steps of at most :data:`STEP` seconds, so a test may jump the clock and
still see the same sequence.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Final

from hal.protocol.devices import capture as icd
from sim_hardware.devices.base import BoardEmulator, FaultParam, Refused

LID_RATE: Final = 30.0  # deg/s
RETAIN_ANGLE: Final = 45.0  # deg: below this the OS cannot leave the cone
DWELL: Final = 5.0  # s the OS spends in the cone if nothing holds it
STEP: Final = 0.05  # s


FAULT_PARAMS: Final = {
    "partial_capture": {
        "switch": FaultParam(
            "word", "the one confirmation switch that closes (default a)", words=("a", "b")
        ),
    },
}
"""The parameters of the board's own faults (see the module docstring)."""


class Capture(BoardEmulator):
    """The trigger, the lid and the confirmation switches.

    Args:
        rng: seeded generator.
        dwell: seconds the OS stays in the cone before drifting out if the lid does not hold it.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"trigger_miss", "partial_capture"})
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(self, rng: random.Random | None = None, dwell: float = DWELL) -> None:
        super().__init__(rng)
        self.dwell = dwell
        self.armed = False
        self.tripped = False
        self.tripped_at = 0.0
        self.trips = 0
        self.angle = icd.LID_OPEN
        self.lid_target = icd.LID_OPEN
        self.auto_closed = False
        self.arrival: float | None = None
        self.os_in_cone = False
        self.os_retained = False
        self.os_escaped = False
        self.partial: str | None = None  # the one switch pressed by an off-centre OS
        self.os_slots = 0  # the OS's slot switches through the contact (the coupling's)
        self._seated_decided = False

    def os_arrives(self, at: float) -> None:
        """The OS will enter the cone at simulated time ``at`` (the world model's call)."""
        self.arrival = at
        self.os_in_cone = self.os_retained = self.os_escaped = False
        self.partial, self._seated_decided = None, False

    @property
    def captured(self) -> bool:
        """The OS is held, seated, under the shut lid."""
        return self.os_in_cone and self.partial is None and self.angle <= icd.LID_SHUT + 1e-6

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Let the OS in (and out), trip the trigger, move the lid, up to ``to_time``."""
        start = self.now
        super().advance(to_time)
        for t, dt in self.steps(start, self.now, STEP):
            self._step(t, dt)

    def _step(self, t: float, dt: float) -> None:
        arrival = self.arrival
        entering = arrival is not None and t >= arrival and not (self.os_in_cone or self.os_escaped)
        if entering:
            self.os_in_cone = True
            if self.armed and not self.fault("trigger_miss", "trigger"):
                self.tripped, self.tripped_at = True, t
                self.trips += 1
                self.lid_target, self.auto_closed = icd.LID_SHUT, True
        step = min(abs(self.lid_target - self.angle), LID_RATE * dt)
        self.angle += step if self.lid_target > self.angle else -step
        if self.os_in_cone and not self.os_retained and arrival is not None:
            if self.angle <= RETAIN_ANGLE and self.lid_target == icd.LID_SHUT:
                self.os_retained = True
            elif self.angle > RETAIN_ANGLE and t >= arrival + self.dwell:
                self.os_in_cone, self.os_escaped = False, True
        shut = self.angle <= icd.LID_SHUT + 1e-6
        if shut and self.os_retained and not self._seated_decided:
            self._seated_decided = True
            fault = self.fault("partial_capture")
            if fault is not None:
                self.partial = "b" if str(fault.params.get("switch", "a")).lower() == "b" else "a"

    # ------------------------------------------------------------------ commands

    def cmd_trigger_arm(self, values: dict[str, Any], now: float) -> None:
        """Arm the capture, with the lid fully open."""
        if self.angle < icd.LID_OPEN - 1e-6 or self.lid_target != icd.LID_OPEN:
            raise Refused(icd.FAIL_LID_NOT_OPEN, round(self.angle))
        self.armed = True

    def cmd_trigger_disarm(self, values: dict[str, Any], now: float) -> None:
        """Disarm the capture and clear the latched trip."""
        self.armed = False
        self.tripped = False

    def cmd_lid_close(self, values: dict[str, Any], now: float) -> None:
        """Close the lid, once armed."""
        if not self.armed:
            raise Refused(icd.FAIL_NOT_ARMED)
        self.lid_target, self.auto_closed = icd.LID_SHUT, False

    def cmd_lid_open(self, values: dict[str, Any], now: float) -> None:
        """Open the lid, unless it holds the OS seated (an off-centre OS is let go)."""
        if self.os_in_cone and self.os_retained and self.partial is None:
            raise Refused(icd.FAIL_CAPTURED)
        self.lid_target = icd.LID_OPEN
        self.os_retained = False

    # ------------------------------------------------------------------ status

    def status_trigger(self, now: float) -> dict[str, Any]:
        """The trigger's status report values."""
        return {
            "armed": self.armed, "tripped": self.tripped, "tripped_at": self.tripped_at,
            "trips": self.trips,
        }  # fmt: skip

    def status_lid(self, now: float) -> dict[str, Any]:
        """The lid's status report values."""
        return {
            "angle": self.angle, "moving": abs(self.lid_target - self.angle) > 1e-6,
            "is_open": self.angle >= icd.LID_OPEN - 1e-6,
            "is_shut": self.angle <= icd.LID_SHUT + 1e-6, "auto_closed": self.auto_closed,
        }  # fmt: skip

    def status_confirm(self, now: float) -> dict[str, Any]:
        """The confirmation switches' status report values."""
        captured = self.captured
        held = self.os_in_cone and self.angle <= icd.LID_SHUT + 1e-6 and self.partial is not None
        a = captured or (held and self.partial == "a")
        b = captured or (held and self.partial == "b")
        return {"switch_a": a, "switch_b": b, "confirmed": captured, "slots": self.os_slots}
