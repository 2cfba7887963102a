"""Emulator of the Sample Transfer Arm board (ICD: :mod:`hal.protocol.devices.sta_arm`).

Physics at bench level:

* each joint slews toward its target at the commanded rate, never above :data:`MAX_RATE`; its
  motor draws a holding current plus a part proportional to the rate; its temperature follows
  the dissipated power against the ambient with a first-order lag;
* a ``stall`` fault (``index``: the joint) blocks the joint: its rate drops to zero and its current
  climbs to the stall current; after :data:`STALL_DETECT` seconds the drive latches *stalled* and
  *over-current* and stops, until ``clear_fault``;
* the gripper closes at :data:`FINGER_SPEED`; if a tube is presented between the fingers
  (:attr:`StaArm.presented_tube`, set by the world or a test) it stops on the tube's diameter and
  holds it at the set force; a ``grasp_slip`` fault makes the held tube slip out: force to zero,
  *holding* false, and :attr:`StaArm.slipped` records the tube for the world model.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Final

from hal.protocol.devices import sta_arm as icd
from sim_hardware.devices.base import BoardEmulator, FaultParam, Refused

MAX_RATE: Final = 5.0  # deg/s
HOLD_CURRENT: Final = 0.3  # A
CURRENT_PER_RATE: Final = 0.25  # A per deg/s
STALL_CURRENT: Final = 6.0  # A
OVER_CURRENT_LIMIT: Final = 5.0  # A
STALL_DETECT: Final = 0.5  # s
THERMAL_TAU: Final = 600.0  # s
DEG_PER_WATT: Final = 4.0  # degC above ambient per W dissipated, at equilibrium
WINDING_OHMS: Final = 2.0
FINGER_SPEED: Final = 20.0  # mm/s
OPEN_MM: Final = 60.0
TUBE_DIAMETER_MM: Final = 13.0
DEFAULT_LIMITS: Final = ((-170, 170), (-90, 120), (-150, 150), (-175, 175),
                         (-120, 120), (-120, 120), (-175, 175))  # fmt: skip


FAULT_PARAMS: Final = {
    "stall": {
        "index": FaultParam("integer", "the joint that stalls (default 0)",
                            low=0, high=icd.JOINTS - 1),
    },
}  # fmt: skip
"""The parameters of the board's own faults (see the module docstring)."""


class StaArm(BoardEmulator):
    """The arm's seven joints and the gripper.

    Args:
        rng: seeded generator.
        ambient: ambient temperature, degC (Mars surface at the lander: about -40 by day).
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"stall", "grasp_slip"})
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(self, rng: random.Random | None = None, ambient: float = -40.0) -> None:
        super().__init__(rng)
        self.ambient = ambient
        self.angle = [0.0] * icd.JOINTS
        self.target = [0.0] * icd.JOINTS
        self.slew = [1.0] * icd.JOINTS
        self.rate = [0.0] * icd.JOINTS
        self.current = [HOLD_CURRENT] * icd.JOINTS
        self.temperature = [ambient] * icd.JOINTS
        self.flags = [0] * icd.JOINTS
        self.blocked_since: list[float | None] = [None] * icd.JOINTS
        self.lower = [float(lo) for lo, _ in DEFAULT_LIMITS]
        self.upper = [float(hi) for _, hi in DEFAULT_LIMITS]
        self.opening = OPEN_MM
        self.finger_target = OPEN_MM
        self.set_force = 0.0
        self.force = 0.0
        self.presented_tube: int | None = None
        self.held_tube: int | None = None
        self.slipped: list[int] = []

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Move joints and fingers, heat and cool motors, detect stalls, up to ``to_time``."""
        dt = to_time - self.now
        super().advance(to_time)
        if dt <= 0:
            return
        stall = self.fault("stall", "arm")
        for j in range(icd.JOINTS):
            self._joint(j, dt, stall is not None and stall.params.get("index", 0) == j)
        self._gripper(dt)

    def _joint(self, j: int, dt: float, blocked: bool) -> None:
        error = self.target[j] - self.angle[j]
        moving = abs(error) > 1e-6 and not self.flags[j] & icd.STALLED
        if blocked and moving:
            self.rate[j] = 0.0
            self.current[j] = STALL_CURRENT
            since = self.blocked_since[j]
            if since is None:
                self.blocked_since[j] = since = self.now - dt
            if self.now - since >= STALL_DETECT:
                self.flags[j] |= icd.STALLED | icd.OVER_CURRENT
                self.target[j] = self.angle[j]
        elif moving:
            rate = min(self.slew[j], MAX_RATE)
            step = math.copysign(min(abs(error), rate * dt), error)
            self.angle[j] += step
            self.rate[j] = step / dt
            self.current[j] = HOLD_CURRENT + CURRENT_PER_RATE * abs(self.rate[j])
            self.blocked_since[j] = None
        else:
            self.rate[j] = 0.0
            self.current[j] = HOLD_CURRENT
        limits = 0
        if self.angle[j] <= self.lower[j] + 1e-6:
            limits |= icd.LIMIT_LOW
        if self.angle[j] >= self.upper[j] - 1e-6:
            limits |= icd.LIMIT_HIGH
        self.flags[j] = (self.flags[j] & ~(icd.LIMIT_LOW | icd.LIMIT_HIGH)) | limits
        power = self.current[j] ** 2 * WINDING_OHMS
        equilibrium = self.ambient + DEG_PER_WATT * power
        lag = 1 - math.exp(-dt / THERMAL_TAU)
        self.temperature[j] += (equilibrium - self.temperature[j]) * lag

    def _gripper(self, dt: float) -> None:
        if self.held_tube is not None and self.fault("grasp_slip", "gripper"):
            self.slipped.append(self.held_tube)  # it fell: the world model takes it from here
            self.held_tube = None
        obstacle = TUBE_DIAMETER_MM if self.held_tube is not None or self.presented_tube else 0.0
        closing = self.finger_target < self.opening
        target = max(self.finger_target, obstacle) if closing else self.finger_target
        step = min(abs(target - self.opening), FINGER_SPEED * dt)
        self.opening += step if target > self.opening else -step
        gripped = closing and self.presented_tube is not None and self.opening <= obstacle + 1e-6
        if gripped and self.set_force > 0:
            self.held_tube, self.presented_tube = self.presented_tube, None
        self.force = self.set_force if self.held_tube is not None else 0.0

    # ------------------------------------------------------------------ commands

    def cmd_arm_move_joint(self, values: dict[str, Any], now: float) -> None:
        """Start one joint toward its target."""
        self._move(values["joint"], values["angle"], values["rate"])

    def cmd_arm_move_all(self, values: dict[str, Any], now: float) -> None:
        """Start every joint, rates scaled so they all arrive together."""
        travel = [abs(a - b) for a, b in zip(values["angles"], self.angle, strict=True)]
        longest = max(travel) or 1.0
        for j, angle in enumerate(values["angles"]):
            self._check(j, angle)
        for j, angle in enumerate(values["angles"]):
            self._move(j, angle, max(values["rate"] * travel[j] / longest, 0.1))

    def _check(self, joint: int, angle: float) -> None:
        if self.flags[joint] & icd.STALLED:
            raise Refused(icd.FAIL_STALL, joint)
        if not self.lower[joint] <= angle <= self.upper[joint]:
            raise Refused(icd.FAIL_JOINT_LIMIT, joint)

    def _move(self, joint: int, angle: float, rate: float) -> None:
        self._check(joint, angle)
        self.target[joint] = angle
        self.slew[joint] = rate

    def cmd_arm_stop(self, values: dict[str, Any], now: float) -> None:
        """Hold every joint where it is."""
        self.target = list(self.angle)

    def cmd_arm_clear_fault(self, values: dict[str, Any], now: float) -> None:
        """Clear a latched stall, unless the joint is still blocked."""
        joint = values["joint"]
        stall = self.fault("stall", "arm")
        if stall is not None and stall.params.get("index", 0) == joint:
            raise Refused(icd.FAIL_STALL, joint)
        self.flags[joint] &= ~(icd.STALLED | icd.OVER_CURRENT)
        self.blocked_since[joint] = None

    def cmd_gripper_open(self, values: dict[str, Any], now: float) -> None:
        """Open the fingers, letting go of any tube."""
        self.finger_target = OPEN_MM
        self.set_force = 0.0
        if self.held_tube is not None:
            self.presented_tube = self.held_tube
            self.held_tube = None

    def cmd_gripper_close(self, values: dict[str, Any], now: float) -> None:
        """Close the fingers to hold at the given force."""
        self.finger_target = 0.0
        self.set_force = values["force"]

    # ------------------------------------------------------------------ status

    def status_arm(self, now: float) -> dict[str, Any]:
        """The arm's status report values."""
        return {
            "angle": list(self.angle), "rate": list(self.rate), "current": list(self.current),
            "temperature": list(self.temperature), "flags": list(self.flags),
            "lower": list(self.lower), "upper": list(self.upper),
            "moving": any(abs(t - a) > 1e-6 for t, a in zip(self.target, self.angle, strict=True)),
        }  # fmt: skip

    def status_gripper(self, now: float) -> dict[str, Any]:
        """The gripper's status report values."""
        return {"opening": self.opening, "force": self.force, "holding": self.held_tube is not None}
