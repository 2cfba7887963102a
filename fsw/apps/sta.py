"""The Sample Transfer Arm app (lander): tubes from their sources into the Orbiting Sample
container, each by serial number, under the onboard inventory's custody.

``sta.load_tube`` is one operation (:mod:`fsw.apps.base`), step by step:

1. **plan**: a free OS slot (free in the inventory *and* on the seat switches, not a slot that
   refused a tube before), the lid open, the gripper empty (a tube still held after a reset is
   inserted first);
2. **move** to the source through collision-free waypoints: fold the arm into its transit
   posture (the stowed pose's pitch, elbow and wrist) at the current heading, turn to the target
   heading folded, then unfold onto the target; every waypoint is checked against the joint
   limits the arm reports before anything moves;
3. **survey**: the cameras must see a tube at the source (else ``no_tube``), and read its serial
   from there when they can;
4. **grasp** at ``sta.grip_force``; a grasp counts when the fingers hold it at
   ``sta.min_grip_force`` or more; the serial is read close up (again, to verify it, or for the
   first time at up to ``sta.read_retries`` other wrist angles, and then the ground is asked:
   ``sta.confirm_serial``); the inventory records where the tube was found and that it is held;
5. **lift** to the transit posture: a tube no longer held there has slipped (``sta.grasp_slip``):
   it lies near the lander, and the arm tries again from there ``sta.grasp_retries`` times, then
   stops;
6. **insert** over the slot (a tube no longer held there slipped on the way: it lies near the
   lander and the operation ends ``grasp_slip``, for the ground to load it from there) and
   release; the seat switch must close: if not, the tube is taken out and pushed in again
   ``sta.seat_retries`` times, then rejected (set down near the lander, ``sta.tube_rejected``,
   the slot avoided from then on);
7. **retract** to the transit posture.

While the arm moves, its status is read every ``sta.poll`` seconds (the node idles meanwhile); a
stalled or over-current joint stops the arm and sends the node safe (``sta.arm_fault``).

Every custody change is written to the NV store before it counts (:class:`Inventory`), so a
node reset in the middle of loading finds each tube where it last was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final

from fsw.apps.base import App, Operation, OperationFailed, Wait
from fsw.apps.custody import IN_MAV, SOURCES, CustodyError, Inventory, Tube, slot_of
from fsw.core.component import CommandContext, CommandError, NodeContext
from fsw.dictionary.custody import CustodyRow, encode_custody
from fsw.dictionary.lander import (
    STA_STATES,
)
from hal.devices.os_container import OsContainerClient
from hal.devices.sta_arm import ArmStatus, StaArmClient
from hal.devices.sta_vision import StaVisionClient
from hal.errors import HalError
from hal.protocol.devices import sta_arm as arm_icd

__all__ = ["SampleTransferArm", "plan_waypoints"]

CAPACITY_DEFAULT = 30
"""OS slots when the container cannot be asked (public reporting says 30)."""
FINGER_TIME = 3.0
"""Seconds for the fingers to travel from open onto a tube (60 -> 13 mm at 20 mm/s, rounded up)."""
GLITCH_MARGIN: Final = 2.0
"""Degrees a joint may read beyond what it can move between two readings (encoder noise and
the reading's own timing) before the reading is called an encoder glitch."""
GLITCH_LIMIT: Final = 3
"""Encoder glitches in a row that stop the arm: one is ridden through (the next reading
decides), a persistent one is an encoder fault."""
WRIST_ROLL = 6
READ_ANGLES = (30.0, -30.0, 60.0, -60.0, 90.0)
"""Wrist-roll offsets (deg) at which an unreadable serial is read again."""


def plan_waypoints(start: Sequence[float], target: Sequence[float]) -> list[tuple[float, ...]]:
    """Collision-free waypoints from ``start`` to ``target`` (joint angles, deg): fold into the
    transit posture at the current heading, turn folded, unfold onto the target. Waypoints the
    arm is already at are left out."""
    transit = arm_icd.STOW[1:]
    legs = [(start[0], *transit), (target[0], *transit), tuple(target)]
    out: list[tuple[float, ...]] = []
    here = tuple(start)
    for leg in legs:
        if max(abs(a - b) for a, b in zip(leg, here, strict=True)) > arm_icd.STATION_TOLERANCE / 2:
            out.append(tuple(float(a) for a in leg))
            here = leg
    return out


class SampleTransferArm(App):
    """Component ``sta`` (module docstring)."""

    name = "sta"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.state = "idle"
        self.capacity = CAPACITY_DEFAULT
        self.inventory = Inventory(ctx.nv, self.capacity)
        self.retries = 0
        self.bad_slots: set[int] = set()
        self.lid = 0
        self.ground_serial: int | None = None
        self.glitches = 0  # implausible arm readings in a row
        self._arm_status: ArmStatus | None = None
        self._arm_status_at: float | None = None  # when the arm status was read
        self.os_temp = 0.0
        self._os_temp_at: float | None = None  # when the container thermistor was read
        self._next_thermal = 0.0

    # ------------------------------------------------------------------ boards

    @property
    def arm(self) -> StaArmClient:
        return self.board("sta_arm", StaArmClient)

    @property
    def vision(self) -> StaVisionClient:
        return self.board("sta_vision", StaVisionClient)

    @property
    def container(self) -> OsContainerClient:
        return self.board("os_container", OsContainerClient)

    # ------------------------------------------------------------------ start

    def start(self, now: float) -> None:
        """Read the OS's capacity and restore the inventory (a refused store is reported)."""
        super().start(now)
        try:
            capacity = self.container.read_slots().capacity
        except (HalError, OperationFailed):
            capacity = self.capacity
        if capacity != self.capacity:
            self.capacity = capacity
            self.inventory = Inventory(self.ctx.nv, capacity)
        if self.inventory.restore_error:
            self.ctx.emit("sta.custody_restore", self.inventory.restore_error)
        if self.inventory.counts()["handed_over"]:
            self.state = "handed_over"

    # ------------------------------------------------------------------ commands

    def do_load_tube(self, cmd: CommandContext, now: float) -> None:
        """``sta.load_tube``."""
        self._not_handed_over()
        self.begin("load_tube", self._load(SOURCES[cmd.args["source"]], cmd), cmd)

    def do_stow(self, cmd: CommandContext, now: float) -> None:
        """``sta.stow``."""
        self.begin("stow", self._goto(arm_icd.STOW, "retracting"), cmd)

    def do_open_lid(self, cmd: CommandContext, now: float) -> None:
        """``sta.open_lid``."""
        self._not_handed_over()
        self.begin("open_lid", self._open_lid(), cmd)

    def do_close_lid(self, cmd: CommandContext, now: float) -> None:
        """``sta.close_lid``: stow the arm, close the lid, latch it."""
        self.begin("close_lid", self._close_lid(), cmd)

    def do_hand_over(self, cmd: CommandContext, now: float) -> None:
        """``sta.hand_over``: the lid must be latched; custody passes to the MAV."""
        self._not_handed_over()
        if self.running:
            raise CommandError(f"busy: {self.name} is {self.operation}")
        try:
            lid = self.container.read_lid()
        except (HalError, OperationFailed) as exc:
            raise CommandError(f"device: {str(exc).splitlines()[0]}") from None
        if not lid.latched:
            raise CommandError("precondition: the OS lid is not latched")
        try:
            tubes = self.inventory.hand_over(now)
        except CustodyError as exc:
            raise CommandError(f"custody: {exc}") from None
        self._set_state("handed_over")
        self._report([self._row(tube) for tube in tubes])
        self.ctx.emit("sta.handed_over", f"{len(tubes)} tubes in the OS, in the MAV nose")

    def do_confirm_serial(self, cmd: CommandContext, now: float) -> None:
        """``sta.confirm_serial``: only while the arm waits for it."""
        if self.state != "awaiting_serial":
            raise CommandError("precondition: no tube is waiting for the ground's serial")
        self.ground_serial = int(cmd.args["serial"])

    def do_stop(self, cmd: CommandContext, now: float) -> None:
        """``sta.stop``."""
        self.abort("stopped: by command")
        self.arm.stop()
        self._set_state("stopped")

    def do_clear_fault(self, cmd: CommandContext, now: float) -> None:
        """``sta.clear_fault``."""
        self.arm.clear_fault(int(cmd.args["joint"]))

    def do_report_custody(self, cmd: CommandContext, now: float) -> None:
        """``sta.report_custody``: every step of each tube's chain, oldest first, in
        TM[160,128] reports (the ground's ledger fills in what the downlink lost)."""
        self._report([self._row(tube, step) for tube in self.inventory.tubes()
                      for step in range(1, len(tube.chain) + 1)])  # fmt: skip

    def _row(self, tube: Tube, step: int = 0) -> CustodyRow:
        """A tube's ``step`` of its chain (1 its first; 0 its latest) as a custody row."""
        step = step or len(tube.chain)
        chain = tube.chain[:step]
        where, since, _ = chain[-1]
        slot = slot_of(where)
        place = "os_slot" if slot is not None else where
        if place == IN_MAV:  # the slot it went into the MAV in: the manifest's
            slot = next((slot_of(p) for p, _, _ in reversed(chain) if slot_of(p) is not None),
                        None)  # fmt: skip
        serial = int(tube.serial) if tube.serial.isdigit() else 0
        return CustodyRow(serial, place, slot, "present", step, since)

    def _report(self, rows: list[CustodyRow]) -> None:
        """Custody reports, TM[160,128], of these rows (:mod:`fsw.dictionary.custody`)."""
        report = self.ctx.dictionary.report("sta.custody")
        for data in encode_custody(report, rows):
            self.ctx.send_tm(report.service, report.subtype, data)

    def _not_handed_over(self) -> None:
        if self.state == "handed_over":
            raise CommandError("precondition: the OS was handed over to the MAV")

    # ------------------------------------------------------------------ loading

    def _load(self, source: str, cmd: CommandContext) -> Operation:
        inv = self.inventory
        self._require_lid_open()
        serial = inv.holding
        if serial is None:
            self._choose_slot()  # refuse at once when the OS is full
            serial = yield from self._pick_up(source, cmd)
        cmd.progress(3)
        yield from self._insert(serial, cmd)
        cmd.progress(5)
        yield from self._goto(self._transit(), "retracting")
        self._set_state("idle")

    def _pick_up(self, source: str, cmd: CommandContext) -> Generator[Wait, None, str]:
        """Survey ``source``, grasp its first tube, read its serial, lift it: the serial."""
        attempts = int(self.param("grasp_retries")) + 1
        for attempt in range(attempts):
            self.arm.open_gripper()  # open on the way: closed fingers hide a tube from the offer
            yield from self._goto(self._station(source), "moving")
            self._set_state("surveying")
            seen = self.vision.read_cameras()
            if not seen.detected:
                self.ctx.emit("sta.source_empty", source)
                raise OperationFailed(f"no_tube: nothing found at {source}")
            first = self._read_serial()
            cmd.progress(1)
            yield from self._grasp()
            serial = yield from self._read_held(first)
            self._record_grasp(serial, source)
            cmd.progress(2)
            yield from self._goto(self._transit(), "moving")
            if self.arm.read_gripper().holding:
                return serial
            self.retries += 1
            self._custody(lambda s=serial: self.inventory.set_down(s, self.now, "slipped"))
            left = attempts - attempt - 1
            self.ctx.emit("sta.grasp_slip", f"tube {serial} slipped; {left} attempt(s) left")
            source = "ground_near_lander"
        self.arm.stop()
        self._set_state("stopped")
        raise OperationFailed(f"grasp_slip: the tube slipped {attempts} times; arm stopped")

    def _record_grasp(self, serial: str, source: str) -> None:
        inv = self.inventory
        try:
            known = inv.tube(serial)
        except CustodyError:
            known = None
        if known is None:
            self._custody(lambda: inv.locate(serial, source, self.now))
        elif known.place != source:
            self.ctx.emit("sta.serial_mismatch", f"{serial} was at {known.place}, seen at {source}")
        self._custody(lambda: inv.grasp(serial, self.now))

    def _grasp(self) -> Operation:
        self._set_state("grasping")
        self.arm.open_gripper()
        yield Wait(FINGER_TIME)
        self.arm.close_gripper(float(self.param("grip_force")))
        yield Wait(FINGER_TIME)
        grip = self.arm.read_gripper()
        if not grip.holding or grip.force < float(self.param("min_grip_force")):
            self.arm.open_gripper()
            raise OperationFailed(f"grasp_failed: holding {grip.holding} at {grip.force:.1f} N")

    def _read_serial(self) -> int | None:
        try:
            status = self.vision.read_serial(float(self.param("min_confidence")))
        except HalError:
            return None
        return status.serial or None

    def _read_held(self, first: int | None) -> Generator[Wait, None, str]:
        """Read the held tube's serial close up (verifying ``first``), at other wrist angles,
        then from the ground."""
        self._set_state("reading")
        serial = self._read_serial()
        if serial is None:
            status = self.arm.read_arm()
            home = list(status.angle)
            for offset in READ_ANGLES[: int(self.param("read_retries"))]:
                self.retries += 1
                pose = list(home)
                pose[WRIST_ROLL] = max(-170.0, min(170.0, home[WRIST_ROLL] + offset))
                yield from self._goto(pose, "reading", direct=True)
                serial = self._read_serial()
                if serial is not None:
                    break
            yield from self._goto(home, "reading", direct=True)
        if serial is None:
            serial = first
        if serial is None:
            serial = yield from self._ask_ground()
        if first is not None and serial != first:
            self.ctx.emit("sta.serial_mismatch", f"read {first} at the source, {serial} held")
        return str(serial)

    def _ask_ground(self) -> Generator[Wait, None, int]:
        self._set_state("awaiting_serial")
        self.ground_serial = None
        self.ctx.emit("sta.serial_unreadable", "send sta.confirm_serial with the tube's serial")
        deadline = self.now + float(self.param("ground_timeout"))
        while self.ground_serial is None:
            if self.now >= deadline:
                raise OperationFailed("serial_unreadable: no serial from the ground in time")
            yield Wait(5.0)
        return self.ground_serial

    def _insert(self, serial: str, cmd: CommandContext) -> Operation:
        attempts = int(self.param("seat_retries")) + 1
        slot = self._choose_slot()
        yield from self._goto(arm_icd.slot_pose(slot), "moving")
        if not self.arm.read_gripper().holding:
            yield from self._slipped_on_the_way(serial, slot)
        for attempt in range(attempts):
            self._set_state("inserting")
            self.arm.open_gripper()
            yield Wait(FINGER_TIME)
            if self.arm.read_gripper().holding:
                raise OperationFailed(f"release_failed: tube {serial} still held over slot {slot}")
            self._custody(lambda: self.inventory.insert(serial, slot, self.now))
            yield Wait(1.0)
            if self.container.read_slots().seated[slot]:
                self.ctx.emit("sta.tube_loaded", f"tube {serial} seated in slot {slot}")
                return
            self.retries += 1
            self.ctx.emit("sta.not_seated", f"tube {serial} in slot {slot}, attempt {attempt + 1}")
            self.arm.close_gripper(float(self.param("grip_force")))  # take it out to push it again
            yield Wait(FINGER_TIME)
            if not self.arm.read_gripper().holding:
                raise OperationFailed(f"not_seated: tube {serial} cannot be taken from slot {slot}")
            self._custody(lambda: self.inventory.unseat(serial, self.now))
        self.bad_slots.add(slot)
        yield from self._goto(self._station("ground_near_lander"), "moving")
        self.arm.open_gripper()
        yield Wait(FINGER_TIME)
        self._custody(lambda: self.inventory.set_down(serial, self.now, "rejected"))
        self.ctx.emit("sta.tube_rejected", f"tube {serial} would not seat in slot {slot}")
        yield from self._goto(self._transit(), "retracting")
        self._set_state("idle")
        raise OperationFailed(f"not_seated: tube {serial} rejected near the lander")

    def _slipped_on_the_way(self, serial: str, slot: int) -> Operation:
        """The tube fell between the lift and the slot: it lies near the lander (recorded so),
        and the operation ends ``grasp_slip`` (the ground loads it again from there)."""
        self.retries += 1
        self._custody(lambda: self.inventory.set_down(serial, self.now, "slipped"))
        self.ctx.emit("sta.grasp_slip", f"tube {serial} slipped on the way to slot {slot}")
        yield from self._goto(self._transit(), "retracting")
        self._set_state("idle")
        raise OperationFailed(f"grasp_slip: tube {serial} slipped on the way to slot {slot}")

    def _choose_slot(self) -> int:
        seated = set(self.container.read_slots().seated_slots())
        for slot in self.inventory.free_slots():
            if slot not in seated and slot not in self.bad_slots:
                return slot
        raise OperationFailed("os_full: no free OS slot")

    def _custody(self, move: Callable[[], Tube]) -> None:
        """Make one move of the inventory and report the tube moved (its custody report);
        a move refused stops the arm and the operation."""
        try:
            tube = move()
        except CustodyError as exc:
            self.arm.stop()
            raise OperationFailed(f"custody: {exc}") from None
        self._report([self._row(tube)])

    # ------------------------------------------------------------------ the lid

    def _require_lid_open(self) -> None:
        lid = self.container.read_lid()
        if lid.latch_driven or not lid.open:
            raise OperationFailed("precondition: the OS lid is not open")

    def _open_lid(self) -> Operation:
        self._set_state("lid")
        self.container.open_lid()
        yield from self._wait_lid(lambda: self.container.read_lid().open, "open")
        self.ctx.emit("sta.lid", "open")
        self.lid = 1
        self._set_state("idle")

    def _close_lid(self) -> Operation:
        if self.inventory.holding is not None:
            raise OperationFailed(f"precondition: the arm holds tube {self.inventory.holding}")
        yield from self._goto(arm_icd.STOW, "retracting")
        self._set_state("lid")
        self.container.close_lid()
        yield from self._wait_lid(lambda: self.container.read_lid().closed, "closed")
        self.ctx.emit("sta.lid", "closed")
        self.lid = 2
        self.container.latch_lid()
        yield from self._wait_lid(lambda: self.container.read_lid().latched, "latched")
        self.ctx.emit("sta.lid", "latched")
        self.lid = 3
        self._set_state("idle")

    def _wait_lid(self, done: Callable[[], bool], what: str) -> Operation:
        deadline = self.now + float(self.param("lid_timeout"))
        while not done():
            if self.now >= deadline:
                raise OperationFailed(f"lid_not_{what}: the lid is not {what} in time")
            yield Wait(1.0)

    # ------------------------------------------------------------------ moving

    def _station(self, name: str) -> tuple[float, ...]:
        return arm_icd.PICKUP_STATIONS[name]

    def _transit(self) -> tuple[float, ...]:
        status = self._arm_status or self.arm.read_arm()
        return (status.angle[0], *arm_icd.STOW[1:])

    def _goto(self, pose: Sequence[float], state: str, direct: bool = False) -> Operation:
        status = self.arm.read_arm()
        legs = [tuple(pose)] if direct else plan_waypoints(status.angle, pose)
        for leg in legs:
            for j, angle in enumerate(leg):
                if not status.lower[j] <= angle <= status.upper[j]:
                    raise OperationFailed(
                        f"joint_limit: joint {j} to {angle:.1f} deg is outside "
                        f"{status.lower[j]:.0f}..{status.upper[j]:.0f}"
                    )
        rate = float(self.param("rate"))
        for leg in legs:
            self._set_state(state)
            self.arm.move_all(leg, rate)
            deadline = self.now + float(self.param("move_timeout"))
            while True:
                status = self._check_arm()
                error = max(abs(a - b) for a, b in zip(status.angle, leg, strict=True))
                if not status.moving and error <= arm_icd.STATION_TOLERANCE / 2:
                    break
                if self.now >= deadline:
                    self.arm.stop()
                    raise OperationFailed(f"move_timeout: {error:.1f} deg from the waypoint")
                remaining = error / rate if rate > 0 else math.inf
                yield Wait(max(0.1, min(float(self.param("poll")), remaining)))

    def _check_arm(self) -> ArmStatus:
        """The arm's status now, checked: a stalled or over-current joint stops the arm; a
        joint that read further than the drives can move since the last reading is an encoder
        glitch: the reading is not used (the last good one is returned), and
        :data:`GLITCH_LIMIT` in a row stop the arm (``encoder_glitch``)."""
        status = self.arm.read_arm()
        jump, last = self._implausible(status), self._arm_status
        if jump is not None and last is not None:  # a jump is measured from a good reading
            joint, moved, seconds = jump
            self.glitches += 1
            self.ctx.emit("sta.encoder_glitch", f"joint {joint} read {moved:.1f} deg from the "
                          f"last reading in {seconds:.1f} s: reading ignored "
                          f"({self.glitches} in a row)")  # fmt: skip
            if self.glitches >= GLITCH_LIMIT:
                self.arm.stop()
                self._set_state("stopped")
                raise OperationFailed(f"encoder_glitch: joint {joint}, {self.glitches} readings "
                                      "in a row no drive could make; arm stopped")  # fmt: skip
            return last
        self.glitches = 0
        self._arm_status, self._arm_status_at = status, self.now
        bad = status.stalled() or status.over_current()
        limit = float(self.param("max_current"))
        hot = [j for j, amps in enumerate(status.current) if amps > limit]
        if bad or hot:
            self.arm.stop()
            joint = (bad or hot)[0]
            what = "stalled" if joint in status.stalled() else "over-current"
            raise OperationFailed(
                f"arm_fault: joint {joint} {what} ({status.current[joint]:.1f} A)"
            )
        return status

    def _implausible(self, status: ArmStatus) -> tuple[int, float, float] | None:
        """``(joint, degrees, seconds)`` of the first joint that read further from the last
        good reading than the drives can move in the time between (``sta.rate``'s upper bound,
        the drives' top rate, plus :data:`GLITCH_MARGIN`), or None."""
        last, at = self._arm_status, self._arm_status_at
        if last is None or at is None:
            return None
        seconds = max(self.now - at, 0.0)
        fastest = self.ctx.dictionary.parameter("sta.rate").hi  # the drives' top rate
        allowed = fastest * seconds + GLITCH_MARGIN
        for joint, (now_deg, then_deg) in enumerate(zip(status.angle, last.angle, strict=True)):
            if abs(now_deg - then_deg) > allowed:
                return joint, abs(now_deg - then_deg), seconds
        return None

    # ------------------------------------------------------------------ reporting

    def _set_state(self, state: str) -> None:
        self.state = state

    def operation_ended(self, name: str, reason: str) -> None:
        """An arm fault stops the arm and sends the node safe; other failures leave it idle."""
        if reason.startswith("arm_fault"):
            self.ctx.emit("sta.arm_fault", reason)
            self._set_state("stopped")
            self.ctx.request_mode("safe", f"sta: {reason}")
        elif self.state not in ("stopped", "handed_over"):
            self._set_state("idle")

    def monitor(self, now: float) -> None:
        """Read the OS container's thermistor every ``sta.thermal_period`` (the samples must
        stay below about 30 degC: a fault monitor judges ``sta.status.os_temp``)."""
        if now + 1e-9 < self._next_thermal:
            return
        self._next_thermal = now + float(self.param("thermal_period"))
        try:
            self.os_temp = self.container.read_thermal().temperature
        except (HalError, OperationFailed):
            return  # a silent container: health reports it, and the reading goes stale
        self._os_temp_at = now

    def next_due(self, now: float) -> float | None:
        """The operation's next step, or the next thermistor reading."""
        due = super().next_due(now)
        return self._next_thermal if due is None else min(due, self._next_thermal)

    def sample_times(self, now: float) -> dict[str, float | None]:
        """The container temperature and the joint current were measured at their readings
        (None before the first: placeholders)."""
        return {"sta.status.os_temp": self._os_temp_at,
                "sta.status.max_current": self._arm_status_at}  # fmt: skip

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``sta.status``."""
        inv = self.inventory
        counts = inv.counts()
        holding = inv.holding
        status = self._arm_status
        lid = self.lid
        return {
            "sta.status": {
                "state": STA_STATES.index(self.state),
                "holding": int(holding) if holding and holding.isdigit() else 0,
                "tubes_loaded": counts["in_slots"], "tubes_known": counts["known"],
                "tubes_in_mav": counts["handed_over"],
                "free_slots": len([s for s in inv.free_slots() if s not in self.bad_slots]),
                "retries": min(self.retries, 65535), "lid": lid,
                "max_current": max(status.current) if status else 0.0,
                "violations": len(inv.violations()), "os_temp": self.os_temp,
            }
        }  # fmt: skip
