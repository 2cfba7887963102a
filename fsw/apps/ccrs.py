"""The capture, containment and return system app (orbiter): from the NAC search for the Orbiting
Sample to the release of the Earth Entry System.

Each command is one operation (:mod:`fsw.apps.base`) that moves the app through its states
(:data:`~fsw.dictionary.orbiter.CCRS_STATES`); every transition is a ``ccrs.state`` event.

* ``ccrs.search``: the NAC tracks; once it detects the OS (``track``) the status is read every
  ``ccrs.search_poll`` s, every ``ccrs.close_poll`` s once the time to contact is under
  ``ccrs.close_in_time`` (``close_in``); under ``ccrs.arm_time`` the lid is checked open and the
  capture armed (``capture_armed``). The board closes the lid itself when the trigger trips
  (``triggered``); both switches closed is ``captured``. On board, without the ground:

  - **missed trigger**: no trip ``ccrs.trigger_timeout`` s after the contact (the NAC's contact
    flag, else the predicted time): disarm, back to ``track`` for the re-approach, re-arm;
  - **partial capture**: the lid shut but only one switch pressed after
    ``ccrs.confirm_timeout`` s: open the lid (the OS drifts out), disarm, re-approach; when the
    attempts are spent the lid stays shut on it and the app holds (``hold``) for the ground;
  - at most ``ccrs.capture_attempts`` captures are armed per search.

* ``ccrs.orient``: image the OS with an LED lit; an ambiguous image is retaken with the other
  camera after turning ``ccrs.retake_step`` deg; a clear one gives the orientation, the mechanism
  turns the OS to ``ccrs.orientation_target`` and it is imaged again, until it is within
  ``ccrs.orientation_tolerance`` (at most ``ccrs.orient_attempts`` images). The last image's
  summary goes down (``ccrs.image``, SID 31), the image itself as a file by CFDP
  (``orient-<id>.pgm``, read out of the board a few rows a cycle), and the app waits for the
  ground (``orient_check``); when every image was ambiguous they go down all the same and the
  command fails ``ambiguous_orientation``: the ground decides from the image.
* ``ccrs.confirm_orientation ok=1``: ``oriented``; ``ok=0``: orient again from another rotation.
* ``ccrs.correct_orientation``: in ``orient_check``, the ground's own reading of the image
  (decision 0056): the OS is turned by its error from the target and imaged once more, and the
  app waits for the ground again.
* ``ccrs.contain``: a low-power induction tack closes the primary containment vessel.
* ``ccrs.braze`` (hazardous): heat the seam toward ``ccrs.braze_target`` under a power ceiling
  (feed-forward plus proportional control on the coolest thermocouple), hold until every
  thermocouple has held ``ccrs.braze_min_temp`` for ``ccrs.braze_hold`` s and the board says
  brazed, switch off, cool below ``ccrs.cool_temp``, check the seal: ``sealed``. A seam that
  stays under temperature is re-heated with a higher ceiling (``ccrs.braze_power_step``, never
  above ``ccrs.braze_power_limit``), at most ``ccrs.braze_attempts`` heats; a hottest
  thermocouple above ``ccrs.braze_max_temp`` stops the heat; a leaking seal holds (``hold``,
  ``ccrs.seal_leak``). The heater is switched off however the operation ends.
* ``ccrs.transfer``, ``ccrs.stow``: the gantry into the EES at ``ccrs.gantry_rate``, then back
  to its stow latch. Arrival at either end is confirmed by the end's switch as well as the
  position (and the EES's latch, or the stow latch); a move not confirmed within its full-travel
  profile time plus ``ccrs.gantry_margin`` is stopped and fails ``gantry_timeout`` (a jam, a
  switch that never closes).
* ``ccrs.release_ees`` (hazardous): the fact that the release is being fired is written to the NV
  store *before* it is fired, so no reset can fire it twice.

What survives a reset (the NV store's ``ccrs`` section, which the node gives every app, names
``ccrs.*``): the last stable state from ``captured`` on (an operation interrupted by the reset
restarts from the state before it), what a hold came from, the seal verdict, and the release
fired. After a reset that may have interrupted a braze the heater is switched off at the first
cycle.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Generator, Mapping
from typing import Any, Final

from fsw.apps.base import App, Operation, OperationFailed, Wait
from fsw.apps.manifest import HELD, IN_TRANSIT
from fsw.apps.manifest import TOPIC as OS_TOPIC
from fsw.core.component import CommandContext, CommandError, NodeContext
from fsw.core.nvstore import NvError
from fsw.dictionary.files import TOPIC_PUT, FilePut, image_file_name, pgm
from fsw.dictionary.orbiter import CAMERAS, CCRS_STATES, DECISIONS, SID_IMAGE
from hal.devices.base import DeviceFailed, DeviceNotActed
from hal.devices.braze import BrazeClient, SeamStatus
from hal.devices.capture import CaptureClient
from hal.devices.ees_gantry import EesGantryClient
from hal.devices.nac_camera import NacCameraClient, NacStatus
from hal.devices.orient import CameraStatus, OrientClient
from hal.errors import HalError
from hal.protocol.devices import ees_gantry as gantry_icd
from hal.protocol.devices.orient import IMAGE_HEIGHT, IMAGE_WIDTH

__all__ = ["Ccrs"]

FAR_POLLS: Final = 3
"""Polls of ``ccrs.search_poll`` before contact beyond which the search's looks go on the
mission-time grid (decision 0053): nearer, they are timed from the last look."""
OS_PLACES: Final = {
    "captured": "captured", "contained": "primary_containment_vessel", "transferred": "ees",
}  # fmt: skip
"""The CCRS states in which the OS arrives somewhere, and where (published on
:data:`fsw.apps.manifest.TOPIC` for the manifest)."""

PERSISTED: Final = frozenset(
    {"captured", "oriented", "contained", "sealed", "transferred", "stowed", "ees_released",
     "hold"}
)  # fmt: skip
"""States written to the NV store: a reset comes back to them (``orient_check`` comes back as
``captured``: the image must be taken again)."""
TRANSIENT: Final = frozenset(
    {"search", "track", "close_in", "capture_armed", "triggered", "orient", "contain", "braze",
     "seal_check", "transfer", "stow", "release"}
)  # fmt: skip
"""States that exist only while an operation runs; it falling leaves the app in its fallback."""
NV_PREFIX: Final = "ccrs."
IMAGE_POLL: Final = 1.0
"""Seconds between looks at a camera after ``take_image`` (an exposure takes 0.5 s)."""
ROWS_PER_CYCLE: Final = 8
"""Image rows read out of the orientation board per cycle (decision 0056)."""
ROW_WAIT: Final = 0.1
"""Seconds between two batches of rows."""
MECHANISM_POLL: Final = 1.0
"""Seconds between looks at the orientation mechanism (6 deg/s: a look every 6 deg)."""
ANGLE_MATCH: Final = 0.5
"""deg: the mechanism is where it was sent (its encoder reads to well under this)."""
GANTRY_TOLERANCE: Final = 1.0
"""mm: the gantry is at an end of its travel (its encoder reads to well under this)."""


def wrap180(angle: float) -> float:
    """``angle`` (deg) brought into -180 .. 180."""
    return (angle + 180.0) % 360.0 - 180.0


class Ccrs(App):
    """Component ``ccrs`` (module docstring)."""

    name = "ccrs"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.state = "idle"
        self.state_since = 0.0
        self.hold_from = "idle"
        self.fallback = "idle"
        self.range_km = 0.0
        self.time_to_contact = -1.0
        self.detections = 0
        self.capture_attempts = 0
        self.lid_angle = 90.0
        self.orientation = 0.0
        self.mechanism_angle = 0.0
        self.seam_temp = 0.0
        self.seam_hottest = 0.0
        self.seam_max = 0.0
        self.seam_at: float | None = None  # when the thermocouples were last read
        self.braze_time_above = 0.0
        self.braze_attempts = 0
        self.heater_power = 0.0
        self.seal_ok = False
        self.leak_rate = 0.0
        self.gantry_position = 0.0
        self.release_fired = False
        self.image: dict[str, Any] | None = None
        self.retake = False
        self._safe_heater = False
        # the approach in progress (ccrs.search)
        self._frames_floor = -1
        self._expect: float | None = None
        self._contact_at: float | None = None
        self._tripped_at: float | None = None
        self._searching_since = 0.0

    # ------------------------------------------------------------------ boards, parameters

    # ------------------------------------------------------------------ start

    def start(self, now: float) -> None:
        """Restore what the NV store holds (module docstring)."""
        super().start(now)
        self.state_since = now
        try:
            stored = self.ctx.nv.counters(self.name).items(NV_PREFIX)
        except NvError as exc:
            self.ctx.emit("ccrs.restored", f"nothing restored: {exc}")
            return
        code = stored.get("ccrs.state", 0)
        state = CCRS_STATES[code] if 0 <= code < len(CCRS_STATES) else "idle"
        hold_code = stored.get("ccrs.hold_from", 0)
        self.hold_from = CCRS_STATES[hold_code] if 0 <= hold_code < len(CCRS_STATES) else "idle"
        self.seal_ok = bool(stored.get("ccrs.sealed", 0))
        self.release_fired = bool(stored.get("ccrs.release_fired", 0))
        if self.release_fired and state != "ees_released":
            state, self.hold_from = "hold", "stowed"  # fired, never confirmed: never again
        self.state = state if state in PERSISTED else "idle"
        self._safe_heater = self.state in ("contained", "hold")
        if self.state != "idle":
            held = f" (from {self.hold_from})" if self.state == "hold" else ""
            self.ctx.emit("ccrs.restored", f"{self.state}{held} after the reset")

    # ------------------------------------------------------------------ commands

    def do_search(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.search``: from ``idle`` (or a hold during the capture)."""
        if not (self.state == "idle" or (self.state == "hold" and self.hold_from == "idle")):
            raise CommandError(f"precondition: the CCRS is {self.state}, not idle")
        self.begin("search", self._search(), cmd)

    def do_orient(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.orient``: the OS captured (or its image awaiting the ground)."""
        if self.state not in ("captured", "orient_check"):
            raise CommandError(f"precondition: the CCRS is {self.state}, not captured")
        self.retake = self.retake or self.state == "orient_check"
        self.begin("orient", self._orient(), cmd)

    def do_confirm_orientation(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.confirm_orientation``: the ground's verdict on the image."""
        if self.state != "orient_check":
            raise CommandError(f"precondition: no image awaits the ground (state {self.state})")
        if cmd.args["ok"]:
            self._set_state("oriented", "confirmed by the ground")
            self.ctx.emit("ccrs.oriented", f"orientation {self.orientation:.1f} deg confirmed")
            return
        self.retake = True
        self.begin("orient", self._orient(), cmd)

    def do_correct_orientation(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.correct_orientation``: the ground measured the orientation on the image."""
        if self.state != "orient_check":
            raise CommandError(f"precondition: no image awaits the ground (state {self.state})")
        self.begin("orient", self._correct(float(cmd.args["measured"])), cmd)

    def do_contain(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.contain``: the OS oriented."""
        if self.state != "oriented":
            raise CommandError(f"precondition: the CCRS is {self.state}, not oriented")
        self.begin("contain", self._contain(), cmd)

    def do_braze(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.braze`` (hazardous; the gate checked :meth:`preconditions`)."""
        self.begin("braze", self._braze(), cmd)

    def do_transfer(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.transfer``: the vessel sealed."""
        if self.state != "sealed" or not self.seal_ok:
            raise CommandError(f"precondition: the CCRS is {self.state}, not sealed")
        self.begin("transfer", self._transfer(), cmd)

    def do_stow(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.stow``: the vessel in the EES."""
        if self.state != "transferred":
            raise CommandError(f"precondition: the CCRS is {self.state}, not transferred")
        self.begin("stow", self._stow(), cmd)

    def do_release_ees(self, cmd: CommandContext, now: float) -> None:
        """``ccrs.release_ees`` (hazardous; the gate checked :meth:`preconditions`)."""
        self.begin("release_ees", self._release(), cmd)

    def preconditions(self, cmd: CommandContext, now: float) -> Mapping[str, bool]:
        """The hazardous commands' own conditions, in the order they are reported."""
        if cmd.command.name == "ccrs.braze":
            contained = self.state == "contained" or (
                self.state == "hold" and self.hold_from == "contained"
            )
            return {"contained": contained, "not_busy": not self.running}
        if cmd.command.name == "ccrs.release_ees":
            return {
                "stowed": self.state == "stowed", "sealed": self.seal_ok,
                "not_released": not self.release_fired, "not_busy": not self.running,
            }  # fmt: skip
        return {}

    # ------------------------------------------------------------------ search and capture

    def _search(self) -> Operation:
        nac = self.board("nac_camera", NacCameraClient)
        capture = self.board("capture", CaptureClient)
        self.fallback = "idle"
        self.capture_attempts = 0
        limit = self.param("approach_timeout")
        deadline = self.now + limit
        if not nac.read_nac().tracking:
            nac.start_tracking(self.param("frame_period"))
        self._reset_approach(-1)
        self._set_state("search", "NAC tracking")
        held = capture.read_confirm().confirmed  # caught while nobody watched (a reset, safe)
        if not held:
            yield from self._lid_open(capture)
            capture.disarm_capture()
        self._searching_since = self.now
        while not held:
            if self.now > deadline:
                capture.disarm_capture()
                raise OperationFailed(f"approach_timeout: no capture in {limit:.0f} s")
            status = nac.read_nac()
            self._note_nac(status)
            held = yield from self._approach_step(capture, status)
            if not held:
                yield self._next_look()
        capture.disarm_capture()
        nac.stop_tracking()
        self.range_km, self.time_to_contact = 0.0, -1.0
        self.lid_angle = capture.read_lid().angle
        self.ctx.emit("ccrs.captured", f"both switches pressed, attempt {self.capture_attempts}")
        self._set_state("captured", "capture confirmed")

    def _approach_step(
        self, capture: CaptureClient, status: NacStatus
    ) -> Generator[Wait, None, bool]:
        """One look at the approach in the current state; True once the capture is confirmed."""
        fresh = status.frames > self._frames_floor
        ttc = status.time_to_contact if fresh else None
        if self.state == "search":
            if status.detected and fresh:
                self.detections += 1
                where = f"range {status.range:.1f} km, contact in {_seconds(ttc)}"
                self.ctx.emit("ccrs.detected", where)
                self._set_state("track", "OS detected")
            elif self.now - self._searching_since > self.param("search_timeout"):
                limit = self.param("search_timeout")
                raise OperationFailed(f"not_detected: no detection in {limit:.0f} s")
        elif self.state in ("track", "close_in"):
            if not status.detected:
                self.ctx.emit("ccrs.lost", f"last range {self.range_km:.1f} km")
                self._set_state("search", "OS lost")
                self._searching_since = self.now
            elif ttc is not None and ttc <= self.param("arm_time"):
                yield from self._arm(capture, ttc)
            elif ttc is not None and ttc <= self.param("close_in_time") and self.state == "track":
                self._set_state("close_in", f"contact in {ttc:.0f} s")
        elif self.state == "capture_armed":
            if capture.read_trigger().tripped:
                self._tripped_at = self.now
                self._set_state("triggered", "the trigger tripped: the lid closes")
            else:
                yield from self._check_contact(capture, status)
        elif self.state == "triggered":
            self.lid_angle = capture.read_lid().angle
            confirm = capture.read_confirm()
            if confirm.confirmed:
                return True
            tripped = self._tripped_at if self._tripped_at is not None else self.now
            if self.now - tripped >= self.param("confirm_timeout"):
                if confirm.partial:
                    which = "A" if confirm.switch_a else "B"
                    detail, why = f"only switch {which} pressed", "partial_capture"
                else:
                    detail, why = "the lid shut on nothing", "empty_capture"
                yield from self._retry(capture, why, detail, open_lid=True)
        return False

    def _next_look(self) -> Wait:
        """When to look at the approach again: every ``search_poll`` while searching or
        tracking, on the mission-time grid while contact is far (more than
        :data:`FAR_POLLS` polls away: the looks then fall on the housekeeping rounds), from
        now once it nears; every ``close_poll`` once closing in."""
        poll = self.param("search_poll")
        if self.state not in ("search", "track"):
            return Wait(self.param("close_poll"))
        ttc = self.time_to_contact
        far = self.state == "search" or ttc < 0 or ttc > FAR_POLLS * poll
        return Wait(poll, grid=far)

    def _note_nac(self, status: NacStatus) -> None:
        if status.detected:
            self.range_km = status.range
        ttc = status.time_to_contact
        self.time_to_contact = -1.0 if ttc is None else ttc

    def _reset_approach(self, frames: int) -> None:
        self._frames_floor = frames
        self._expect = self._contact_at = self._tripped_at = None

    def _arm(self, capture: CaptureClient, ttc: float) -> Operation:
        yield from self._lid_open(capture)
        capture.arm_capture()
        self.capture_attempts += 1
        self._expect, self._contact_at = self.now + ttc, None
        self.ctx.emit("ccrs.armed", f"range {self.range_km:.2f} km, contact in {ttc:.0f} s, "
                      f"attempt {self.capture_attempts}")  # fmt: skip
        self._set_state("capture_armed", f"contact in {ttc:.0f} s")

    def _check_contact(self, capture: CaptureClient, status: NacStatus) -> Operation:
        """While armed: a contact with no trip within ``trigger_timeout`` is a missed trigger."""
        ttc = status.time_to_contact
        if status.contact and self._contact_at is None:
            self._contact_at = self.now
        elif self._contact_at is None and status.detected and ttc is not None and ttc > 0:
            predicted = self.now + ttc
            self._expect = predicted if self._expect is None else min(self._expect, predicted)
        due = self._contact_at if self._contact_at is not None else self._expect
        if due is not None and self.now > due + self.param("trigger_timeout"):
            seen = "at contact" if self._contact_at is not None else "at the predicted contact"
            yield from self._retry(capture, "missed_trigger", f"no trip {seen}", open_lid=False)

    def _retry(self, capture: CaptureClient, why: str, detail: str, open_lid: bool) -> Operation:
        """A capture attempt failed: re-approach and re-arm, or give up (bounded)."""
        limit = int(self.param("capture_attempts"))
        left = limit - self.capture_attempts
        event = "ccrs.partial_capture" if why == "partial_capture" else "ccrs.missed_trigger"
        if left <= 0:
            self.ctx.emit(event, f"{detail}: attempt {self.capture_attempts} of {limit}, no more")
            if why == "partial_capture":
                self._hold("idle", "partial capture: the lid stays shut on the OS")
            else:
                capture.disarm_capture()
            raise OperationFailed(f"{why}: {detail} after {self.capture_attempts} capture attempts")
        action = "opening the lid, " if open_lid else ""
        self.ctx.emit(event, f"{detail}: {action}re-approach ({left} attempt(s) left)")
        capture.disarm_capture()
        if open_lid:
            capture.open_lid()
            yield from self._lid_open(capture)
        frames = self.board("nac_camera", NacCameraClient).read_nac().frames
        self._reset_approach(frames)
        self._set_state("track", f"{why}: re-approach")

    def _lid_open(self, capture: CaptureClient) -> Operation:
        lid = capture.read_lid()
        if lid.is_open and not lid.moving:
            self.lid_angle = lid.angle
            return
        capture.open_lid()
        deadline = self.now + self.param("lid_timeout")
        while True:
            yield Wait(self.param("close_poll"))
            lid = capture.read_lid()
            self.lid_angle = lid.angle
            if lid.is_open and not lid.moving:
                return
            if self.now >= deadline:
                raise OperationFailed(f"lid_not_open: the capture lid is at {lid.angle:.0f} deg")

    # ------------------------------------------------------------------ orientation

    def _orient(self) -> Operation:
        orient = self.board("orient", OrientClient)
        self.fallback = "captured"
        self._set_state("orient", "imaging the OS")
        target = self.param("orientation_target") % 360.0
        tolerance = self.param("orientation_tolerance")
        step = self.param("retake_step")
        attempts = int(self.param("orient_attempts"))
        if self.retake:
            yield from self._rotate(orient, (self._mechanism(orient) + step) % 360.0)
        camera = CAMERAS[0]
        image: CameraStatus | None = None
        decision = 0
        for attempt in range(1, attempts + 1):
            image = yield from self._take(orient, camera)
            angle = self._mechanism(orient)
            if image.ambiguous:
                decision = 0
                other = CAMERAS[1 - CAMERAS.index(camera)]
                then = "no more retakes: the ground decides"
                if attempt < attempts:
                    then = f"retaking with {other} at +{step:.0f} deg"
                seen = f"image {image.image_id} ({camera}, {angle:.0f} deg)"
                self.ctx.emit("ccrs.orientation_ambiguous", f"{seen}: {then}")
                if attempt < attempts:
                    camera = other
                    yield from self._rotate(orient, (angle + step) % 360.0)
                continue
            self.orientation = image.orientation
            error = wrap180(image.orientation - target)
            decision = 1 if abs(error) <= tolerance else 2
            if decision == 1:
                break
            if attempt < attempts:
                yield from self._rotate(orient, (angle - error) % 360.0)
        if image is None:
            raise OperationFailed("no_image: orient_attempts is 0")
        self._downlink(image, camera, attempt, decision, target)
        yield from self._send_image(orient, image, camera)
        self.retake = False
        self._set_state("orient_check", "image downlinked: the ground confirms")
        if decision == 0:
            raise OperationFailed(
                f"ambiguous_orientation: {attempt} images without a decision; the ground "
                f"decides from image {image.image_id}"
            )
        if decision == 2:
            raise OperationFailed(f"off_target: {attempt} images; the ground decides from "
                                  f"image {image.image_id}")  # fmt: skip

    def _correct(self, measured: float) -> Operation:
        """Turn the OS by the error the ground measured, take one image with the camera of
        the last one, and downlink it (summary and file) for the ground to confirm."""
        orient = self.board("orient", OrientClient)
        self.fallback = "captured"
        self._set_state("orient", f"correcting by the ground's measurement {measured:.1f} deg")
        target = self.param("orientation_target") % 360.0
        error = wrap180(measured - target)
        yield from self._rotate(orient, (self._mechanism(orient) - error) % 360.0)
        camera = CAMERAS[int(self.image["camera"])] if self.image else CAMERAS[0]
        image = yield from self._take(orient, camera)
        decision = 0
        if not image.ambiguous:
            self.orientation = image.orientation
            off = abs(wrap180(image.orientation - target))
            decision = 1 if off <= self.param("orientation_tolerance") else 2
        attempt = int(self.image["attempt"]) + 1 if self.image else 1
        self._downlink(image, camera, attempt, decision, target)
        yield from self._send_image(orient, image, camera)
        self._set_state("orient_check", "image downlinked: the ground confirms")

    def _mechanism(self, orient: OrientClient) -> float:
        angle = orient.read_mechanism().angle
        self.mechanism_angle = angle
        return angle

    def _rotate(self, orient: OrientClient, angle: float) -> Operation:
        orient.rotate(angle)
        deadline = self.now + self.param("orient_timeout")
        while True:
            status = orient.read_mechanism()
            self.mechanism_angle = status.angle
            if not status.moving and abs(status.angle - angle) < ANGLE_MATCH:
                return
            if status.state_name == "stopped" or self.now >= deadline:
                orient.stop()
                raise OperationFailed(f"rotation_failed: the mechanism is {status.state_name} at "
                                      f"{status.angle:.1f} deg, sent to {angle:.1f}")  # fmt: skip
            yield Wait(MECHANISM_POLL)

    def _take(self, orient: OrientClient, camera: str) -> Generator[Wait, None, CameraStatus]:
        orient.led(camera, True)
        try:
            orient.take_image(camera)
            deadline = self.now + self.param("orient_timeout")
            while True:
                yield Wait(IMAGE_POLL)
                status = orient.read_camera(camera)
                if status.image_ready:
                    return status
                if self.now >= deadline:
                    raise OperationFailed(f"image_timeout: {camera} took no image")
        finally:
            _quietly(lambda: orient.led(camera, False))

    def _downlink(
        self, image: CameraStatus, camera: str, attempt: int, decision: int, target: float
    ) -> None:
        """Send the image's summary now (``ccrs.image``, TM[3,25] SID 31) and report it."""
        error = 0.0 if image.ambiguous else wrap180(image.orientation - target)
        self.image = {
            "image_id": image.image_id, "camera": CAMERAS.index(camera), "attempt": attempt,
            "taken_at": self.now, "mechanism_angle": self.mechanism_angle,
            "orientation": image.orientation, "target": target, "error": error,
            "decision": decision, "brightness": image.brightness, "checksum": image.checksum,
        }  # fmt: skip
        packet = self.ctx.dictionary.hk_packet(SID_IMAGE)
        self.ctx.send_tm(3, 25, packet.encode(self.image))
        what = f"{DECISIONS[decision]}, orientation {image.orientation:.1f} deg"
        self.ctx.emit("ccrs.image", f"image {image.image_id} ({camera}): {what}, "
                      f"error {error:+.1f} deg")  # fmt: skip

    def _send_image(self, orient: OrientClient, image: CameraStatus, camera: str) -> Operation:
        """Read the image out of the board, :data:`ROWS_PER_CYCLE` rows a cycle (the serial
        line's share: a whole image is about 0.6 s of it at 115200 baud), and offer it to the
        file service, which sends it to the ground by CFDP (``orient-<id>.pgm``, decision
        0056): the ground confirms the orientation from the image itself. An image that cannot
        be read whole, or whose octets do not match the camera's CRC-32, is reported and not
        sent (its summary went down)."""
        rows: list[bytes] = []
        try:
            for row in range(IMAGE_HEIGHT):
                got = orient.read_row(camera, row)
                if got.image_id != image.image_id or got.row != row:
                    raise OperationFailed(f"row {row} came back as row {got.row} of image "
                                          f"{got.image_id}")  # fmt: skip
                rows.append(bytes(got.pixels))
                if row % ROWS_PER_CYCLE == ROWS_PER_CYCLE - 1:
                    yield Wait(ROW_WAIT, busy=True)
        except (HalError, OperationFailed) as exc:
            self.ctx.emit("ccrs.image_unreadable", f"image {image.image_id}: {exc}")
            return
        pixels = b"".join(rows)
        if zlib.crc32(pixels) != image.checksum:
            self.ctx.emit("ccrs.image_unreadable", f"image {image.image_id}: CRC-32 "
                          f"{zlib.crc32(pixels):08x} read out, the camera said "
                          f"{image.checksum:08x}")  # fmt: skip
            return
        comment = (f"msr orient camera={camera} image_id={image.image_id} taken_at="
                   f"{self.image['taken_at'] if self.image else self.now:.3f} "
                   f"mechanism_angle={self.mechanism_angle:.3f}")  # fmt: skip
        data = pgm(IMAGE_WIDTH, IMAGE_HEIGHT, pixels, comment)
        self.ctx.bus.publish(TOPIC_PUT, FilePut(image_file_name(image.image_id), data))

    # ------------------------------------------------------------------ containment and braze

    def _contain(self) -> Operation:
        braze = self.board("braze", BrazeClient)
        self.fallback = "oriented"
        self._set_state("contain", "closing the primary containment vessel")
        try:
            braze.set_power(self.param("contain_power"))
            braze.heater_on()
            self.heater_power = self.param("contain_power")
            yield Wait(self.param("contain_time"))
            braze.heater_off()
            self.heater_power = 0.0
            self._note_seam(braze.read_seam())
        finally:
            self._heater_off(braze)
        self.ctx.emit("ccrs.contained", f"vessel closed on the OS (seam {self.seam_hottest:.0f} "
                      "degC)")  # fmt: skip
        self._set_state("contained", "vessel closed")

    def _braze(self) -> Operation:
        braze = self.board("braze", BrazeClient)
        self.fallback = self.state
        self.seal_ok = False
        self._persist_quietly()
        self._set_state("braze", "heating the seam")
        try:
            yield from self._heat(braze)
            self._set_state("seal_check", "cooling before the seal check")
            yield from self._cool(braze)
            yield from self._check_seal(braze)
        finally:
            self._heater_off(braze)

    def _heat(self, braze: BrazeClient) -> Operation:
        low, target, hold = (
            self.param("braze_min_temp"),
            self.param("braze_target"),
            self.param("braze_hold"),
        )
        poll, attempts = self.param("braze_poll"), int(self.param("braze_attempts"))
        braze.reset_braze()
        self.seam_max = self.braze_time_above = 0.0
        next_profile = self.now
        ceiling = self.param("braze_power")
        for attempt in range(1, attempts + 1):
            self.braze_attempts = attempt
            step = (attempt - 1) * self.param("braze_power_step")
            ceiling = min(self.param("braze_power") + step, self.param("braze_power_limit"))
            braze.set_power(ceiling)
            braze.heater_on()
            self.heater_power = ceiling
            heat_from, reached = self.now, False
            while True:
                yield Wait(poll)
                seam = braze.read_seam()
                self._note_seam(seam)
                cut_out = braze.read_heater().over_temperature
                if cut_out or self.seam_hottest > self.param("braze_max_temp"):
                    self._heater_off(braze)
                    raise OperationFailed(
                        f"over_temperature: seam at {self.seam_hottest:.0f} degC, limit "
                        f"{self.param('braze_max_temp'):.0f}"
                    )
                if self.now >= next_profile:
                    next_profile = self.now + self.param("profile_period")
                    self._profile(f"attempt {attempt}")
                if seam.brazed and seam.time_at_braze >= hold and seam.coolest >= low:
                    self._heater_off(braze)
                    self._profile(f"brazed after {attempt} heat(s)")
                    return
                if seam.coolest >= low:
                    reached = True
                elif reached or self.now - heat_from >= self.param("braze_heat_timeout"):
                    break  # under temperature: re-heat at a higher ceiling
                power = self.param("braze_hold_power") + self.param("braze_gain") * (
                    target - seam.coolest
                )
                power = min(max(power, 0.0), ceiling)
                if abs(power - self.heater_power) >= 1.0:
                    braze.set_power(power)
                    self.heater_power = power
            more = ""
            if attempt < attempts:
                step, top = self.param("braze_power_step"), self.param("braze_power_limit")
                more = f"; re-heating up to {min(ceiling + step, top):.0f} W"
            self.ctx.emit("ccrs.braze_under_temperature",
                          f"heat {attempt}: coolest {self.seam_temp:.0f} degC, under {low:.0f}, "
                          f"at up to {ceiling:.0f} W{more}")  # fmt: skip
        self._heater_off(braze)
        raise OperationFailed(
            f"braze_under_temperature: peak {self.seam_max:.0f} degC, under {low:.0f}, after "
            f"{attempts} heats up to {ceiling:.0f} W"
        )

    def _profile(self, what: str) -> None:
        self.ctx.emit("ccrs.braze_profile",
                      f"{what}: coolest {self.seam_temp:.0f} hottest {self.seam_hottest:.0f} "
                      f"peak {self.seam_max:.0f} degC, {self.braze_time_above:.0f} s above "
                      f"{self.param('braze_min_temp'):.0f}, {self.heater_power:.0f} W")  # fmt: skip

    def _cool(self, braze: BrazeClient) -> Operation:
        deadline = self.now + self.param("cool_timeout")
        while True:
            self._note_seam(braze.read_seam())
            if self.seam_hottest <= self.param("cool_temp"):
                return
            if self.now >= deadline:
                raise OperationFailed(
                    f"cool_timeout: the seam is still {self.seam_hottest:.0f} degC"
                )
            yield Wait(self.param("braze_poll"))

    def _check_seal(self, braze: BrazeClient) -> Operation:
        duration = self.param("seal_check_time")
        checks = braze.read_seal().checks
        braze.check_seal(duration)
        deadline = self.now + 2 * duration
        yield Wait(duration)
        while True:
            seal = braze.read_seal()
            if not seal.checking and seal.checks > checks:
                break
            if self.now >= deadline:
                raise OperationFailed("seal_check_timeout: no seal check result")
            yield Wait(self.param("braze_poll"))
        self.leak_rate = seal.leak_rate
        limit = self.param("leak_limit")
        if seal.sealed and seal.leak_rate <= limit:
            self.seal_ok = True
            self.ctx.emit("ccrs.seal", f"sealed: leak rate {seal.leak_rate:.1e} Pa m3/s")
            self._set_state("sealed", "seal verified")
            return
        self.ctx.emit("ccrs.seal_leak", f"leak rate {seal.leak_rate:.1e} Pa m3/s over "
                      f"{limit:.1e}: holding for the ground")  # fmt: skip
        self._hold("contained", "seal leak")
        raise OperationFailed(f"seal_leak: leak rate {seal.leak_rate:.1e} Pa m3/s over {limit:.1e}")

    def _note_seam(self, seam: SeamStatus) -> None:
        self.seam_at = self.now
        self.seam_temp = seam.coolest
        self.seam_hottest = max(seam.temperature)
        self.seam_max = seam.peak
        self.braze_time_above = seam.time_at_braze

    def _heater_off(self, braze: BrazeClient) -> None:
        _quietly(braze.heater_off)
        self.heater_power = 0.0

    # ------------------------------------------------------------------ transfer, stow, release

    def _transfer(self) -> Operation:
        gantry = self.board("ees_gantry", EesGantryClient)
        self.fallback = "sealed"
        self._set_state("transfer", "gantry into the EES")
        rate = self.param("gantry_rate")
        gantry.insert(rate)
        yield from self._gantry(gantry, gantry_icd.INSERT_POSITION, rate, "at the EES end")
        self.ctx.emit(
            "ccrs.transferred", f"vessel latched in the EES at {self.gantry_position:.0f} mm"
        )
        self._set_state("transferred", "vessel in the EES")

    def _stow(self) -> Operation:
        gantry = self.board("ees_gantry", EesGantryClient)
        self.fallback = "transferred"
        self._set_state("stow", "gantry to its stow latch")
        gantry.stow()
        yield from self._gantry(gantry, gantry_icd.STOW_POSITION, gantry_icd.STOW_RATE, "stowed")
        self.ctx.emit("ccrs.stowed", "gantry stowed and latched")
        self._set_state("stowed", "gantry stowed")

    def _gantry(self, gantry: EesGantryClient, end: float, rate: float, what: str) -> Operation:
        """Wait for the gantry to arrive at ``end`` (an end of its travel): at rest within
        :data:`GANTRY_TOLERANCE` of it with that end's switch closed, and the vessel latched in
        the EES (far end) or the stow latch engaged (stow end). A move that has not arrived a
        full travel's profile time at ``rate`` plus ``ccrs.gantry_margin`` after it began is
        stopped and fails ``gantry_timeout``, saying where the carriage is and what it reads."""
        far = end > gantry_icd.STOW_POSITION
        limit = gantry_icd.move_time(gantry_icd.TRAVEL, rate) + self.param("gantry_margin")
        deadline = self.now + limit
        while True:
            yield Wait(self.param("gantry_poll"))
            status = gantry.read_gantry()
            self.gantry_position = status.position
            switch = status.far_switch if far else status.stow_switch
            latched = status.vessel_in_ees if far else status.stowed
            there = abs(status.position - end) <= GANTRY_TOLERANCE
            if switch and there and latched and not status.moving:
                return
            if self.now >= deadline:
                _quietly(gantry.stop)
                raise OperationFailed(
                    f"gantry_timeout: not {what} {limit:.0f} s after the move began: at "
                    f"{status.position:.0f} mm, {'EES' if far else 'stow'} end switch "
                    f"{'closed' if switch else 'open'}, drive {status.drive_name} at "
                    f"{status.current:.1f} A"
                )

    def _release(self) -> Operation:
        gantry = self.board("ees_gantry", EesGantryClient)
        self.fallback = "stowed"
        self._set_state("release", "firing the EES release")
        self.release_fired = True
        try:
            self._persist()  # before the fire: no reset can fire it twice
        except NvError as exc:
            self.release_fired = False
            raise OperationFailed(f"store_failed: not fired: {exc}") from None
        try:
            gantry.release_ees()
        except (DeviceFailed, DeviceNotActed) as exc:  # refused, or the status shows no release
            self.release_fired = False
            self._persist_quietly()
            raise OperationFailed(f"device: {exc.reason}: the release was not fired") from None
        except HalError as exc:
            self._hold("stowed", "release fired, outcome unknown")
            raise OperationFailed(f"release_unknown: {str(exc).splitlines()[0]}") from None
        deadline = self.now + self.param("separation_timeout")
        while True:
            yield Wait(1.0)
            if gantry.read_release().separated:
                break
            if self.now >= deadline:
                self._hold("stowed", "no separation")
                raise OperationFailed("no_separation: the separation switch did not open")
        self.ctx.emit("ccrs.released", "the Earth Entry System is released and separated")
        self._set_state("ees_released", "EES separated")

    # ------------------------------------------------------------------ state

    def _set_state(self, state: str, why: str = "") -> None:
        if state == self.state:
            return
        old, self.state, self.state_since = self.state, state, self.now
        self.ctx.emit("ccrs.state", f"{old} -> {state}" + (f": {why}" if why else ""))
        if state in PERSISTED:
            self._persist_quietly()
        if state in OS_PLACES:  # the manifest moves with the OS (decision 0053)
            self.ctx.bus.publish(OS_TOPIC, (OS_PLACES[state], self.now))
        elif state == "transfer":  # the gantry pulls the vessel off the capture contact
            self.ctx.bus.publish(OS_TOPIC, (IN_TRANSIT, self.now))
        elif old == "transfer":  # the transfer ended short: the vessel is where it was
            self.ctx.bus.publish(OS_TOPIC, (HELD, self.now))

    def _hold(self, came_from: str, why: str) -> None:
        self.hold_from = came_from
        self._set_state("hold", why)
        self._persist_quietly()

    def _persist(self) -> None:
        """Write what a reset must find (raises NvError when the store cannot be written)."""
        state = self.state if self.state in PERSISTED else None
        values = {
            "ccrs.sealed": int(self.seal_ok), "ccrs.release_fired": int(self.release_fired),
            "ccrs.hold_from": CCRS_STATES.index(self.hold_from),
        }  # fmt: skip
        if state is not None:
            values["ccrs.state"] = CCRS_STATES.index(state)
        self.ctx.nv.counters(self.name).update(values)

    def _persist_quietly(self) -> None:
        self.persist_or_report(self._persist)

    def operation_ended(self, name: str, reason: str) -> None:
        """A failed operation leaves the app in its fallback state (a hold stays a hold)."""
        if reason and self.state in TRANSIENT:
            self._set_state(self.fallback, reason)
        if reason and name == "search":
            self.ctx.emit("ccrs.search_failed", reason)

    def monitor(self, now: float) -> None:
        """After a reset that may have interrupted a braze: the heater off, once."""
        if self._safe_heater:
            self._safe_heater = False
            braze = self.ctx.boards.get("braze")
            if isinstance(braze, BrazeClient):
                _quietly(braze.heater_off)

    def sample_times(self, now: float) -> dict[str, float | None]:
        """The seam's temperatures were measured at the last thermocouple reading (None before
        the first: placeholders)."""
        names = ("seam_temp", "seam_hottest", "seam_max", "braze_time_above")
        return {f"ccrs.status.{name}": self.seam_at for name in names}

    def housekeeping(self, now: float) -> dict[str, dict[str, Any]]:
        """``ccrs.status``, and ``ccrs.image`` once an image exists."""
        out: dict[str, dict[str, Any]] = {
            "ccrs.status": {
                "state": CCRS_STATES.index(self.state), "range_km": self.range_km,
                "time_to_contact": self.time_to_contact, "detections": self.detections,
                "capture_attempts": self.capture_attempts, "lid_angle": self.lid_angle,
                "orientation": self.orientation, "mechanism_angle": self.mechanism_angle,
                "seam_temp": self.seam_temp, "seam_hottest": self.seam_hottest,
                "seam_max": self.seam_max, "braze_time_above": self.braze_time_above,
                "braze_attempts": self.braze_attempts, "heater_power": self.heater_power,
                "seal_ok": self.seal_ok, "leak_rate": self.leak_rate,
                "gantry_position": self.gantry_position, "ees_released": self.release_fired,
                "state_time": max(0.0, now - self.state_since),
            }
        }  # fmt: skip
        if self.image is not None:
            out["ccrs.image"] = dict(self.image)
        return out


def _seconds(value: float | None) -> str:
    return "unknown" if value is None or not math.isfinite(value) else f"{value:.0f} s"


def _quietly(action: Callable[[], object]) -> None:
    """A safing action: try it; a board that cannot be reached is left to the health service."""
    try:
        action()
    except HalError:
        pass
