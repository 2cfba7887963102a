"""Emulator of the Sample Transfer Arm board (ICD: :mod:`hal.protocol.devices.sta_arm`).

Physics at the level a flight engineer checks against closed-form cases (decision 0053):

* **Motion.** Each joint drives toward its target on a trapezoidal profile: it accelerates at
  :data:`MAX_ACCEL`, cruises at the commanded rate (never above :data:`MAX_RATE`), and brakes at
  :data:`MAX_ACCEL` to stop on the target. A move of ``d`` degrees at rate ``v`` therefore takes
  ``d / v + v / MAX_ACCEL`` seconds (``2 * sqrt(d / MAX_ACCEL)`` when too short to reach ``v``).
* **Load and current.** The motor's torque at the joint is inertia times acceleration, plus the
  gravity load of the links it carries, ``GRAVITY_TORQUE[j] * cos(angle)`` (largest with the
  link horizontal; roll joints carry none), plus friction, Coulomb :data:`COULOMB_TORQUE` and
  viscous :data:`VISCOUS_TORQUE` per deg/s; the current is :data:`HOLD_CURRENT` (the drive
  electronics) plus ``|torque| / TORQUE_CONSTANT``. A joint at rest holds its gravity load.
* **Heat.** The winding dissipates ``current**2 * WINDING_OHMS``; its temperature follows it
  toward ``ambient + DEG_PER_WATT * power`` with a first-order lag of :data:`THERMAL_TAU`.
* **Stalls come from the model.** A joint that meets an obstacle (:attr:`StaArm.obstacles`, each
  a :class:`Obstacle`: a span of a joint's angle that something occupies) stops at its edge; the
  drive pushes at its current limit (:data:`STALL_CURRENT`) with the joint not moving, and after
  :data:`STALL_DETECT` seconds it latches *stalled* and *over-current* and holds, until
  ``clear_fault`` (refused while the joint still pushes on the obstacle). The ``stall`` fault
  puts such an obstacle in the model: at ``at`` degrees of joint ``index``, or right where the
  joint is when no ``at`` is given (it cannot move either way).
* **Gripper.** The fingers close at :data:`FINGER_SPEED`; if a tube is presented between the
  fingers (:attr:`StaArm.presented_tube`, set by the world or a test) they stop on the tube's
  diameter and hold it at the set force; a ``grasp_slip`` fault makes the held tube slip out:
  force to zero, *holding* false, and :attr:`StaArm.slipped` records the tube for the world.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hal.protocol.devices import sta_arm as icd
from sim_hardware.devices.base import BoardEmulator, FaultParam, Refused

MAX_RATE: Final = 5.0
"""Fastest a joint turns, deg/s (the drives' limit)."""
MAX_ACCEL: Final = 10.0
"""Acceleration and braking of a joint, deg/s^2 (a half-second ramp to full rate)."""
HOLD_CURRENT: Final = 0.3
"""Current of a drive at rest with no load, A (its electronics and brake)."""
TORQUE_CONSTANT: Final = 40.0
"""Joint torque per ampere through the gearbox, N m / A."""
GRAVITY_TORQUE: Final = (0.0, 40.0, 20.0, 0.0, 4.0, 0.0, 0.0)
"""Gravity load of each joint with its link horizontal, N m: the shoulder and elbow pitch
joints carry the arm (about 2.5 m), the wrist pitch the gripper; yaw and roll joints none."""
COULOMB_TORQUE: Final = 4.0
"""Dry friction of a moving joint, N m."""
VISCOUS_TORQUE: Final = 2.0
"""Viscous friction, N m per deg/s."""
INERTIA: Final = 2.0
"""Moment of inertia each joint drives, kg m^2."""
STALL_CURRENT: Final = 6.0
"""The drive's current limit, A: what it draws pushing on an obstacle."""
OVER_CURRENT_LIMIT: Final = 5.0  # A
STALL_DETECT: Final = 0.5
"""Seconds at the current limit without moving before the drive latches a stall."""
THERMAL_TAU: Final = 600.0  # s
DEG_PER_WATT: Final = 4.0  # degC above ambient per W dissipated, at equilibrium
WINDING_OHMS: Final = 2.0
STEP: Final = 0.05
"""Integration step of a moving joint, s."""
FINGER_SPEED: Final = 20.0  # mm/s
OPEN_MM: Final = 60.0
TUBE_DIAMETER_MM: Final = 13.0
DEFAULT_LIMITS: Final = ((-170, 170), (-90, 120), (-150, 150), (-175, 175),
                         (-120, 120), (-120, 120), (-175, 175))  # fmt: skip
OBSTACLE_WIDTH: Final = 1.0
"""Span of the obstacle a ``stall`` fault with ``at`` puts in the model, deg."""


@dataclass(frozen=True)
class Obstacle:
    """Something in the way of joint ``joint`` between ``lo`` and ``hi`` degrees: the joint
    cannot enter the span (it stops at the edge it meets)."""

    joint: int
    lo: float
    hi: float


FAULT_PARAMS: Final = {
    "stall": {
        "index": FaultParam("integer", "the joint that stalls (default 0)",
                            low=0, high=icd.JOINTS - 1),
        "at": FaultParam("number", "the joint angle of the obstacle, deg (default: where the "
                         "joint is)", low=-180.0, high=180.0),
    },
}  # fmt: skip
"""The parameters of the board's own faults (see the module docstring)."""


def gravity_torque(joint: int, angle: float) -> float:
    """The gravity load of ``joint`` at ``angle`` degrees, N m."""
    return GRAVITY_TORQUE[joint] * math.cos(math.radians(angle))


def joint_current(joint: int, angle: float, rate: float, accel: float) -> float:
    """The drive current of ``joint`` at ``angle`` deg moving at ``rate`` deg/s and
    accelerating at ``accel`` deg/s^2 (module docstring), A."""
    friction = (math.copysign(COULOMB_TORQUE, rate) + VISCOUS_TORQUE * rate) if rate else 0.0
    torque = INERTIA * math.radians(accel) + gravity_torque(joint, angle) + friction
    return HOLD_CURRENT + abs(torque) / TORQUE_CONSTANT


def move_time(degrees: float, rate: float) -> float:
    """Seconds a joint takes to move ``degrees`` at a cruise ``rate`` (trapezoidal profile,
    or triangular when too short to reach the rate)."""
    rate = min(rate, MAX_RATE)
    if degrees * MAX_ACCEL <= rate * rate:
        return 2.0 * math.sqrt(degrees / MAX_ACCEL)
    return degrees / rate + rate / MAX_ACCEL


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
        self.current = [joint_current(j, 0.0, 0.0, 0.0) for j in range(icd.JOINTS)]
        self.temperature = [ambient] * icd.JOINTS
        self.flags = [0] * icd.JOINTS
        self.blocked_since: list[float | None] = [None] * icd.JOINTS
        self.obstacles: list[Obstacle] = []
        """What is in the way of the joints (the world's, a test's); a ``stall`` fault adds
        its own while it lasts."""
        self._fault_obstacle: tuple[int, Obstacle] | None = None  # (fault id, its obstacle)
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
        start = self.now
        super().advance(to_time)
        if dt <= 0:
            return
        obstacles = self._obstacles()
        for j in range(icd.JOINTS):
            self._joint(j, start, dt, [o for o in obstacles if o.joint == j])
        self._gripper(dt)

    def _obstacles(self) -> list[Obstacle]:
        """The obstacles now: the arm's own and the one a ``stall`` fault puts in the model."""
        stall = self.fault("stall", "arm")
        if stall is None:
            self._fault_obstacle = None
            return self.obstacles
        if self._fault_obstacle is None or self._fault_obstacle[0] != id(stall):
            j = int(stall.params.get("index", 0))
            at = stall.params.get("at")
            if at is None:  # right where the joint is: it cannot move either way
                here = self.angle[j]
                obstacle = Obstacle(j, here - OBSTACLE_WIDTH, here + OBSTACLE_WIDTH)
            else:
                obstacle = Obstacle(j, float(at), float(at) + OBSTACLE_WIDTH)
            self._fault_obstacle = (id(stall), obstacle)
        return [*self.obstacles, self._fault_obstacle[1]]

    def _joint(self, j: int, start: float, dt: float, obstacles: list[Obstacle]) -> None:
        """Integrate joint ``j`` over ``dt`` from ``start`` (module docstring)."""
        t, accel = 0.0, 0.0
        pushing = False
        while t < dt - 1e-12:
            h = min(STEP, dt - t)
            error = self.target[j] - self.angle[j]
            if self.flags[j] & icd.STALLED or (abs(error) <= 1e-6 and self.rate[j] == 0.0):
                self.rate[j], accel = 0.0, 0.0
                break  # at rest: nothing to integrate
            cruise = min(self.slew[j], MAX_RATE)
            coast = self._coast(j, error, cruise, dt - t, obstacles)
            if coast > 0:  # at its cruise rate, far from braking: one exact step for it all
                self.angle[j] += self.rate[j] * coast
                t, accel = t + coast, 0.0
                continue
            stopping = math.sqrt(2.0 * MAX_ACCEL * abs(error))  # fastest that still stops
            wanted = math.copysign(min(cruise, stopping), error)
            change = max(-MAX_ACCEL * h, min(MAX_ACCEL * h, wanted - self.rate[j]))
            rate = self.rate[j] + change
            step = (self.rate[j] + rate) / 2.0 * h  # exact under constant acceleration
            if abs(step) > abs(error):  # the last bit: arrive exactly
                step, rate = error, 0.0
            wall = self._wall(j, self.angle[j], self.angle[j] + step, obstacles)
            if wall is not None:  # the joint meets an obstacle: it stops against it
                self.angle[j], self.rate[j], accel = wall, 0.0, 0.0
                pushing = True
                since = self.blocked_since[j]
                if since is None:
                    self.blocked_since[j] = since = start + t
                if start + t + h - since >= STALL_DETECT - 1e-9:
                    self.flags[j] |= icd.STALLED | icd.OVER_CURRENT
                    self.target[j] = self.angle[j]
                t += h
                continue
            accel = change / h
            self.angle[j] += step
            self.rate[j] = rate
            t += h
        if not pushing:
            self.blocked_since[j] = None
        self.current[j] = (
            STALL_CURRENT if pushing
            else joint_current(j, self.angle[j], self.rate[j], accel)
        )  # fmt: skip
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

    def _coast(
        self, j: int, error: float, cruise: float, left: float, obstacles: list[Obstacle]
    ) -> float:
        """Seconds joint ``j`` can go on at its cruise rate before it must brake (at most
        ``left``, none if that is under a step, if it is not cruising or an obstacle is in
        the way): the constant-rate part of the profile, integrated in one step."""
        rate = self.rate[j]
        if abs(abs(rate) - cruise) > 1e-9 or rate * error <= 0:
            return 0.0
        braking = cruise * cruise / (2.0 * MAX_ACCEL)
        span = min(left, (abs(error) - braking) / cruise)
        if span <= STEP:
            return 0.0
        if self._wall(j, self.angle[j], self.angle[j] + rate * span, obstacles) is not None:
            return 0.0  # an obstacle ahead: step up to it
        return span

    @staticmethod
    def _wall(j: int, frm: float, to: float, obstacles: list[Obstacle]) -> float | None:
        """Where a move of joint ``j`` from ``frm`` to ``to`` meets an obstacle (the edge it
        reaches first), or None."""
        for o in obstacles:
            if o.lo < frm < o.hi:  # inside it (a stall fault's, where the joint stands)
                return frm
            if frm <= o.lo < to:  # moving up into it: stopped at its low edge
                return o.lo
            if to < o.hi <= frm:  # moving down into it: stopped at its high edge
                return o.hi
        return None

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
        if any(
            o.joint == joint and o.lo - 1e-6 <= self.angle[joint] <= o.hi + 1e-6
            for o in self._obstacles()
        ):  # still against the obstacle
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
