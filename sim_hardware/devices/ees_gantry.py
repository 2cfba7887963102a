"""Emulator of the EES gantry board (ICD: :mod:`hal.protocol.devices.ees_gantry`).

Physics at the level a flight engineer checks against closed-form cases (decision 0058):

* **Motion.** The carriage runs between two hard ends, the stow end
  (:data:`~hal.protocol.devices.ees_gantry.STOW_POSITION`) and the far (EES) end
  (:data:`~hal.protocol.devices.ees_gantry.FAR_END`). A move follows a trapezoidal profile
  (:func:`plan`): :data:`~hal.protocol.devices.ees_gantry.ACCELERATION` up to the commanded
  rate, cruise, and braking to stop on the target, so a move of ``d`` mm at ``v`` mm/s takes
  ``d / v + v / ACCELERATION`` s (``2 sqrt(d / ACCELERATION)`` when too short to reach ``v``:
  :func:`~hal.protocol.devices.ees_gantry.move_time`). A new move while moving starts from the
  present speed (braking first when it must reverse). The profile is kept as segments of
  constant acceleration and evaluated in closed form at any time, so a jump of the clock gives
  exactly what small advances would.
* **End switches.** Each end has a switch that is closed when the carriage is at that end and
  only then. The drive stops at once when the switch ahead of it reads closed: a move commanded
  past the far end stops on the EES end switch, the carriage at the end (drive ``at_end``). A
  carriage that reaches a hard end whose switch reads open pushes against it (``blocked``).
* **Current.** :data:`HOLD_CURRENT` (the drive electronics) plus the force along the rail over
  :data:`FORCE_CONSTANT`: the carriage's :data:`MASS` times its acceleration, Coulomb
  :data:`COULOMB_FORCE` and viscous :data:`VISCOUS_FORCE` friction. A drive that pushes without
  moving draws its current limit, :data:`~hal.protocol.devices.ees_gantry.CURRENT_LIMIT`, until
  a ``stop`` or a new move; once the obstruction is gone it goes on to its target.
* **Latches.** Reaching the far end seats the vessel in the EES, where its latch holds it
  (``vessel_in_ees``); a ``stow`` that arrives at the stow end engages the stow latch.
* **Release.** It fires at once; the EES pushes off and the separation switch opens
  :data:`SEPARATION_TIME` seconds later.

Board faults, from the model (``gantry`` device):

* ``jam`` (``at`` mm): an obstruction :data:`JAM_WIDTH` mm wide from ``at`` (or around the
  carriage where it stands, when no ``at`` is given: it cannot move either way). The carriage
  stops at its edge and the drive pushes at its current limit; the end switch never closes.
* ``switch_stuck`` (``switch`` ``stow`` or ``far``, ``reads`` ``closed`` or ``open``): that end
  switch reads so whatever the carriage does. Stuck closed, the drive will not move toward that
  end; stuck open, the carriage arrives, the switch does not say so, and a move past the end
  pushes on the hard end.

The generic faults apply as on every board.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hal.protocol.devices import ees_gantry as icd
from sim_hardware.devices.base import BoardEmulator, Fault, FaultParam, Refused

STOW_RATE: Final = icd.STOW_RATE  # mm/s
SEPARATION_TIME: Final = 1.0  # s
MASS: Final = 25.0
"""kg: the carriage with the primary containment vessel aboard."""
COULOMB_FORCE: Final = 20.0
"""N: dry friction of the moving carriage (rail bearings, lead-screw preload)."""
VISCOUS_FORCE: Final = 0.5
"""N per mm/s: viscous friction."""
FORCE_CONSTANT: Final = 50.0
"""N along the rail per ampere of motor current, through the lead screw."""
HOLD_CURRENT: Final = 0.2
"""A: the drive at rest (its electronics and brake)."""
JAM_WIDTH: Final = 10.0
"""mm: the span of the obstruction a ``jam`` fault puts on the rail."""

FAULT_PARAMS: Final = {
    "jam": {
        "at": FaultParam("number", "where the obstruction begins, mm (default: around the "
                         "carriage where it stands)", low=icd.STOW_POSITION, high=icd.FAR_END),
    },
    "switch_stuck": {
        "switch": FaultParam("word", "the end switch: stow or far (default far)",
                             words=("stow", "far")),
        "reads": FaultParam("word", "what it reads whatever the carriage does (default open)",
                            words=("closed", "open")),
    },
}  # fmt: skip
"""The parameters of the board's own faults (see the module docstring)."""


@dataclass(frozen=True)
class Segment:
    """One part of a profile at constant acceleration, from ``start`` to ``end`` (s), position
    ``x0`` to ``x1`` (mm), speed ``v0`` to ``v1`` (mm/s). Speed keeps its sign throughout."""

    start: float
    end: float
    x0: float
    v0: float
    x1: float
    v1: float
    accel: float

    def at(self, t: float) -> tuple[float, float]:
        """Position and speed at time ``t`` within the segment. A segment that ends at rest is
        reckoned back from its end, so the carriage is short of its stop until it arrives."""
        if self.v1 == 0.0:
            rem = self.end - t
            return self.x1 + 0.5 * self.accel * rem * rem, -self.accel * rem
        tau = t - self.start
        return self.x0 + self.v0 * tau + 0.5 * self.accel * tau * tau, self.v0 + self.accel * tau

    def crossing(self, point: float) -> float:
        """When the carriage passes ``point`` (a position between ``x0`` and ``x1``)."""
        d = point - self.x0
        s = 1.0 if self.x1 > self.x0 else -1.0
        root = math.sqrt(max(0.0, self.v0 * self.v0 + 2.0 * self.accel * d))
        speeds = self.v0 + s * root
        tau = 2.0 * d / speeds if speeds else 0.0
        return self.start + min(max(tau, 0.0), self.end - self.start)


def plan(
    t0: float, x0: float, v0: float, target: float, cruise: float,
    accel: float = icd.ACCELERATION,
) -> list[Segment]:  # fmt: skip
    """The profile from ``x0`` mm at ``v0`` mm/s at time ``t0`` to rest on ``target`` at a cruise
    speed ``cruise``: brake to rest first if moving away or too fast to stop in time, then
    accelerate (or slow) to the peak speed, cruise, brake. Empty when already there at rest."""
    segments: list[Segment] = []
    d = target - x0
    if v0 != 0.0 and (v0 * d < 0.0 or v0 * v0 / (2.0 * accel) > abs(d) + 1e-9):
        span = abs(v0) / accel
        x1 = x0 + v0 * span / 2.0
        segments.append(Segment(t0, t0 + span, x0, v0, x1, 0.0, -math.copysign(accel, v0)))
        t0, x0, v0, d = t0 + span, x1, 0.0, target - x1
    if d == 0.0:
        return segments
    s = 1.0 if d > 0.0 else -1.0
    distance, u = abs(d), abs(v0)
    peak = min(cruise, math.sqrt(accel * distance + u * u / 2.0)) if u <= cruise else cruise
    d1, t1 = abs(peak * peak - u * u) / (2.0 * accel), abs(peak - u) / accel
    d3, t3 = peak * peak / (2.0 * accel), peak / accel
    d2 = max(0.0, distance - d1 - d3)
    t2 = d2 / peak
    xa, xb = x0 + s * d1, target - s * d3
    if t1 > 0.0:
        ramp = s * accel if peak > u else -s * accel
        segments.append(Segment(t0, t0 + t1, x0, s * u, xa, s * peak, ramp))
    if t2 > 0.0:
        segments.append(Segment(t0 + t1, t0 + t1 + t2, xa, s * peak, xb, s * peak, 0.0))
    end = t0 + t1 + t2
    segments.append(Segment(end, end + t3, xb, s * peak, target, 0.0, -s * accel))
    return segments


def drive_current(speed: float, accel: float) -> float:
    """The motor current of the carriage moving at ``speed`` mm/s and accelerating at
    ``accel`` mm/s^2 (module docstring), A."""
    friction = math.copysign(COULOMB_FORCE, speed) + VISCOUS_FORCE * speed if speed else 0.0
    force = MASS * accel / 1000.0 + friction
    return HOLD_CURRENT + abs(force) / FORCE_CONSTANT


class EesGantry(BoardEmulator):
    """The gantry and the EES release.

    Args:
        rng: seeded generator.
        stowed: the gantry starts stowed (at launch) rather than unlatched at the stow end.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"jam", "switch_stuck"})
    fault_devices: ClassVar = {"jam": ("gantry",), "switch_stuck": ("gantry",)}
    fault_params: ClassVar = FAULT_PARAMS

    def __init__(self, rng: random.Random | None = None, stowed: bool = True) -> None:
        super().__init__(rng)
        self.position = icd.STOW_POSITION
        self.speed = 0.0
        self.accel = 0.0
        self.target = icd.STOW_POSITION
        self.rate = STOW_RATE
        self.drive = icd.DRIVE_IDLE
        self.segments: list[Segment] = []
        self.stowing = False
        self.stowed = stowed
        self.vessel_in_ees = False
        self.released_at: float | None = None
        self.obstructions: list[tuple[float, float]] = []
        """Spans of the rail ``(lo, hi)`` mm that something occupies (a test's); a ``jam``
        fault adds its own while it lasts."""
        self._jam: tuple[int, tuple[float, float]] | None = None  # (fault id, its span)

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Move the carriage along its profile up to ``to_time`` (module docstring)."""
        start = self.now
        super().advance(to_time)
        self._travel(start, self.now)

    def _travel(self, t: float, end: float) -> None:
        for _ in range(64):  # each pass ends a segment, stops the carriage, or reaches ``end``
            if self.drive == icd.DRIVE_BLOCKED:
                if self._pushing():
                    break
                self._start(t)  # the way is clear again: on to the target
            if self.drive != icd.DRIVE_MOVING:
                break
            segment = self.segments[0]
            ahead = 1.0 if segment.x1 > segment.x0 else -1.0
            if self._switch(ahead):  # the switch ahead reads closed: the drive stops at once
                self._halt(icd.DRIVE_AT_END)
                break
            stop = self._stop_on(self.position, segment.x1)  # the way still ahead
            if stop is not None and segment.crossing(stop[0]) <= end:
                t = max(t, segment.crossing(stop[0]))
                self.position = stop[0]
                self._halt(icd.DRIVE_AT_END if stop[1] and self._switch(ahead)
                           else icd.DRIVE_BLOCKED)  # fmt: skip
                continue
            if segment.end > end:
                self.position, self.speed = segment.at(end)
                self.accel = segment.accel
                break
            t = segment.end
            self.position, self.speed, self.accel = segment.x1, segment.v1, segment.accel
            self.segments.pop(0)
            if not self.segments:  # arrived on the target
                self._halt(icd.DRIVE_IDLE)
                self.stowed = self.stowing and self.position == icd.STOW_POSITION
        if self.position >= icd.INSERT_POSITION:
            self.vessel_in_ees = True

    def _halt(self, drive: int) -> None:
        self.speed, self.accel, self.segments, self.drive = 0.0, 0.0, [], drive

    def _start(self, now: float) -> None:
        """Plan the move from where the carriage is to the target."""
        self.segments = plan(now, self.position, self.speed, self.target, self.rate)
        self.drive = icd.DRIVE_MOVING if self.segments else icd.DRIVE_IDLE
        if not self.segments:
            self.speed = self.accel = 0.0

    def _stop_on(self, x0: float, x1: float) -> tuple[float, bool] | None:
        """The first place a path from ``x0`` to ``x1`` mm stops the carriage: ``(position,
        True)`` for a hard end it would pass, ``(position, False)`` for an obstruction's edge
        (or ``x0`` when inside one), or None."""
        up = x1 > x0
        stops: list[tuple[float, bool]] = []
        if up and x0 <= icd.FAR_END < x1:
            stops.append((icd.FAR_END, True))
        if not up and x1 < icd.STOW_POSITION <= x0:
            stops.append((icd.STOW_POSITION, True))
        jam = None
        for lo, hi in self._obstructions():
            if lo < x0 < hi:
                edge = x0
            elif up and x0 <= lo < x1:
                edge = lo
            elif not up and x1 < hi <= x0:
                edge = hi
            else:
                continue
            stops.append((edge, False))
            if self._jam is not None and (lo, hi) == self._jam[1]:
                jam = edge
        if not stops:
            return None
        first = min(stops, key=lambda stop: stop[0] if up else -stop[0])
        if jam is not None and first == (jam, False):  # the jam fault stops the carriage
            for fault in self.faults:
                if fault.kind == "jam" and self._jam is not None and id(fault) == self._jam[0]:
                    fault.took_effect(self.now)
        return first

    def _pushing(self) -> bool:
        """A blocked drive still has something in its way (else it may go on)."""
        ahead = math.copysign(1.0, self.target - self.position)
        if self.target == self.position:
            self.drive = icd.DRIVE_IDLE
            return True
        stop = self._stop_on(self.position, self.position + ahead * 1e-6)
        if stop is None or stop[0] != self.position:
            return False
        if stop[1] and self._switch(ahead):
            self.drive = icd.DRIVE_AT_END
        return True

    def _obstructions(self) -> list[tuple[float, float]]:
        """What is on the rail now: the board's own and a ``jam`` fault's."""
        jam = next((f for f in self.faults if f.kind == "jam"), None)
        if jam is None:
            self._jam = None
            return self.obstructions
        if self._jam is None or self._jam[0] != id(jam):
            at = jam.params.get("at")
            if at is None:
                span = (self.position - JAM_WIDTH, self.position + JAM_WIDTH)
            else:
                span = (float(at), float(at) + JAM_WIDTH)
            self._jam = (id(jam), span)
        return [*self.obstructions, self._jam[1]]

    def _switch(self, end: float) -> bool:
        """What the end switch at the far end (``end`` > 0) or the stow end reads."""
        far = end > 0
        truth = (self.position >= icd.FAR_END) if far else (self.position <= icd.STOW_POSITION)
        stuck = self._stuck("far" if far else "stow")
        if stuck is None:
            return truth
        reads = stuck.params.get("reads", "open") == "closed"
        if reads != truth:
            stuck.took_effect(self.now)
        return reads

    def _stuck(self, switch: str) -> Fault | None:
        for fault in self.faults:
            if fault.kind == "switch_stuck" and fault.params.get("switch", "far") == switch:
                return fault
        return None

    # ------------------------------------------------------------------ commands

    def cmd_gantry_move(self, values: dict[str, Any], now: float) -> None:
        """Start a move from where the carriage is, at its present speed; the stow latch lets
        go."""
        if self.released_at is not None:
            raise Refused(icd.FAIL_RELEASED)
        self.target, self.rate = values["position"], min(values["rate"], icd.MAX_SPEED)
        self.stowing = self.stowed = False
        self._start(now)

    def cmd_gantry_stow(self, values: dict[str, Any], now: float) -> None:
        """Return to the stow end and latch (at once when already there at rest)."""
        self.target, self.rate, self.stowing = icd.STOW_POSITION, STOW_RATE, True
        self._start(now)
        self.stowed = self.drive == icd.DRIVE_IDLE and self.position == icd.STOW_POSITION

    def cmd_gantry_stop(self, values: dict[str, Any], now: float) -> None:
        """Brake to a stop at the acceleration limit (stop pushing when blocked) and hold."""
        self.stowing = False
        if self.drive != icd.DRIVE_MOVING or self.speed == 0.0:
            self.target = self.position
            self._halt(icd.DRIVE_IDLE)
            return
        span = abs(self.speed) / icd.ACCELERATION
        stop = self.position + self.speed * span / 2.0
        brake = -math.copysign(icd.ACCELERATION, self.speed)
        self.segments = [Segment(now, now + span, self.position, self.speed, stop, 0.0, brake)]
        self.target = min(max(stop, 0.0), icd.POSITION_SPAN)

    def cmd_release_release(self, values: dict[str, Any], now: float) -> None:
        """Fire the release, once stowed."""
        if self.released_at is not None:
            raise Refused(icd.FAIL_RELEASED)
        if not self.stowed:
            raise Refused(icd.FAIL_NOT_STOWED, round(self.position))
        self.released_at = now

    # ------------------------------------------------------------------ status

    @property
    def current(self) -> float:
        """The drive's motor current now, A (module docstring)."""
        if self.drive == icd.DRIVE_BLOCKED:
            return icd.CURRENT_LIMIT
        if self.drive != icd.DRIVE_MOVING:
            return HOLD_CURRENT
        return drive_current(self.speed, self.accel)

    def status_gantry(self, now: float) -> dict[str, Any]:
        """The gantry's status report values."""
        return {
            "position": self.position, "target": self.target, "speed": self.speed,
            "current": self.current, "moving": self.drive == icd.DRIVE_MOVING,
            "drive": self.drive, "stow_switch": self._switch(-1.0),
            "far_switch": self._switch(1.0), "stowed": self.stowed,
            "vessel_in_ees": self.vessel_in_ees,
        }  # fmt: skip

    def status_release(self, now: float) -> dict[str, Any]:
        """The release's status report values."""
        fired = self.released_at
        return {
            "released": fired is not None,
            "separated": fired is not None and now >= fired + SEPARATION_TIME,
        }
