"""Emulator of the orientation board (ICD: :mod:`hal.protocol.devices.orient`).

Physics at bench level:

* the captured OS lies in the cone at an orientation the simulator sets
  (:attr:`Orient.os_orientation`, deg); the mechanism turns it with itself at :data:`RATE`, so the
  OS's orientation is ``os_orientation + mechanism angle`` (mod 360);
* a camera takes an image in :data:`EXPOSURE` seconds. The image is rendered from the geometry
  (decision 0056): the camera looks down the cone's axis at the OS, a disc of :data:`OS_RADIUS`
  pixels centred in the :data:`~hal.protocol.devices.orient.IMAGE_WIDTH` x
  :data:`~hal.protocol.devices.orient.IMAGE_HEIGHT` frame, lit by the camera's LED (limb
  darkened), with its dark fiducial mark at :data:`MARK_RADIUS` pixels from the centre in the
  direction of the OS's orientation (the ICD's convention), plus Gaussian pixel noise from the
  seeded generator. It is kept in :attr:`Orient.images`, read out row by row through the
  ``image`` device, and summarised in the camera's status by its CRC-32 and mean; unlit it is
  dark (mean below :data:`MIN_BRIGHTNESS`) and ambiguous;
* the board estimates the orientation from a clear image with :data:`ESTIMATE_SIGMA` of noise.

Board fault:

=========================  ==================================================================
``ambiguous_orientation``  the image does not allow the board a decision: the LED's glare
                           (a saturated patch at :data:`GLARE` in the camera's frame) lies
                           on the OS; ``ambiguous`` is set for the camera(s) it applies to.
                           The ground, masking the saturated pixels, can still find the mark
                           unless the glare hides it
=========================  ==================================================================
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hal.protocol.devices import orient as icd
from sim_hardware.devices.base import BoardEmulator, Refused

RATE: Final = 6.0  # deg/s
EXPOSURE: Final = 0.5  # s
LIT: Final = 170.0  # the OS's brightness at the centre, LED on
DARK: Final = 8.0  # the same, LED off
BACKGROUND: Final = 0.12  # the cone's wall, as a fraction of the OS's brightness
OS_RADIUS: Final = 18.0  # pixels
MARK_RADIUS: Final = 12.0  # pixels from the centre to the fiducial mark's centre
MARK_SIZE: Final = 2.6  # pixels, the mark's radius
MARK_LEVEL: Final = 0.2  # the mark's brightness, as a fraction of the OS's
GLARE: Final = {"camera_a": (45.0, 9.0, 8.0), "camera_b": (225.0, 9.0, 8.0)}
"""Where each camera's LED glare falls under ``ambiguous_orientation``: direction (deg, the
ICD's convention), distance from the centre and radius (pixels)."""
PIXEL_NOISE: Final = 3.0
MIN_BRIGHTNESS: Final = 40
ESTIMATE_SIGMA: Final = 0.3  # deg


@dataclass
class Camera:
    """One camera's state."""

    led: bool = False
    image_id: int = 0
    due: float | None = None
    ready: bool = False
    checksum: int = 0
    brightness: int = 0
    orientation: float = 0.0
    ambiguous: bool = False


class Orient(BoardEmulator):
    """The orientation mechanism and the two cameras.

    Args:
        rng: seeded generator.
        os_orientation: the captured OS's orientation at mechanism angle 0, deg.
    """

    icd: ClassVar = icd.BOARD
    board_faults: ClassVar = frozenset({"ambiguous_orientation"})

    def __init__(self, rng: random.Random | None = None, os_orientation: float = 0.0) -> None:
        super().__init__(rng)
        self.os_orientation = os_orientation
        self.angle = 0.0
        self.target = 0.0
        self.state = icd.STATE_IDLE
        self.cameras = {"camera_a": Camera(), "camera_b": Camera()}
        self.images: dict[str, bytes] = {}
        self.selected = (0, 0)  # the image store's selected camera and row
        self._image_ids = 0

    @property
    def orientation(self) -> float:
        """The OS's true orientation now, deg."""
        return (self.os_orientation + self.angle) % 360.0

    # ------------------------------------------------------------------ physics

    def advance(self, to_time: float) -> None:
        """Rotate the mechanism and finish exposures up to ``to_time``."""
        start = self.now
        super().advance(to_time)
        dt = self.now - start
        if self.state == icd.STATE_ROTATING and dt > 0:
            error = self.target - self.angle
            self.angle += math.copysign(min(abs(error), RATE * dt), error)
            if abs(self.target - self.angle) < 1e-6:
                self.angle, self.state = self.target, icd.STATE_AT_TARGET
        for name, camera in self.cameras.items():
            if camera.due is not None and camera.due <= self.now:
                self._expose(name, camera)

    def render(self, camera: str, led: bool, glare: bool) -> bytes:
        """The image ``camera`` takes now (see the module docstring), row 0 first."""
        level = LIT if led else DARK
        a = math.radians(self.orientation)
        cx, cy = (icd.IMAGE_WIDTH - 1) / 2, (icd.IMAGE_HEIGHT - 1) / 2
        mx, my = cx + MARK_RADIUS * math.cos(a), cy - MARK_RADIUS * math.sin(a)
        g_dir, g_dist, g_radius = GLARE[camera]
        gx = cx + g_dist * math.cos(math.radians(g_dir))
        gy = cy - g_dist * math.sin(math.radians(g_dir))
        gauss = self.rng.gauss
        out = bytearray()
        for y in range(icd.IMAGE_HEIGHT):
            for x in range(icd.IMAGE_WIDTH):
                d2 = ((x - cx) ** 2 + (y - cy) ** 2) / OS_RADIUS**2
                if d2 <= 1.0:
                    v = level * (1.0 - 0.25 * d2)
                    if (x - mx) ** 2 + (y - my) ** 2 <= (MARK_SIZE + 1.0) ** 2:
                        cover = _coverage(x - mx, y - my)  # the mark's edge, anti-aliased
                        v = v * (1.0 - cover) + level * MARK_LEVEL * cover
                else:
                    v = level * BACKGROUND
                if glare and (x - gx) ** 2 + (y - gy) ** 2 <= g_radius**2:
                    v = 255.0
                else:
                    v += gauss(0.0, PIXEL_NOISE)
                out.append(min(255, max(0, round(v))))
        return bytes(out)

    def _expose(self, name: str, camera: Camera) -> None:
        glare = self.fault("ambiguous_orientation", name) is not None
        pixels = self.render(name, camera.led, glare and camera.led)
        self.images[name] = pixels
        camera.due, camera.ready = None, True
        camera.checksum = zlib.crc32(pixels)
        camera.brightness = round(sum(pixels) / len(pixels))
        dark = camera.brightness < MIN_BRIGHTNESS
        camera.ambiguous = dark or glare
        estimate = self.orientation + self.rng.gauss(0.0, ESTIMATE_SIGMA)
        camera.orientation = 0.0 if camera.ambiguous else estimate % 360.0

    # ------------------------------------------------------------------ commands

    def cmd_mechanism_rotate(self, values: dict[str, Any], now: float) -> None:
        """Start rotating toward an angle."""
        self.target = values["angle"]
        self.state = icd.STATE_ROTATING if abs(self.target - self.angle) > 1e-6 else self.state

    def cmd_mechanism_stop(self, values: dict[str, Any], now: float) -> None:
        """Stop where it is."""
        if self.state == icd.STATE_ROTATING:
            self.target, self.state = self.angle, icd.STATE_STOPPED

    def _led(self, name: str, on: bool) -> None:
        self.cameras[name].led = on

    def _take(self, name: str, now: float) -> None:
        camera = self.cameras[name]
        if camera.due is not None:
            raise Refused(icd.FAIL_BUSY)
        if self.state == icd.STATE_ROTATING:
            raise Refused(icd.FAIL_MECHANISM_MOVING)
        self._image_ids += 1
        camera.image_id, camera.ready, camera.due = self._image_ids, False, now + EXPOSURE

    def cmd_camera_a_led_on(self, values: dict[str, Any], now: float) -> None:
        """Camera A's LED on."""
        self._led("camera_a", True)

    def cmd_camera_a_led_off(self, values: dict[str, Any], now: float) -> None:
        """Camera A's LED off."""
        self._led("camera_a", False)

    def cmd_camera_a_take_image(self, values: dict[str, Any], now: float) -> None:
        """Camera A takes an image."""
        self._take("camera_a", now)

    def cmd_camera_b_led_on(self, values: dict[str, Any], now: float) -> None:
        """Camera B's LED on."""
        self._led("camera_b", True)

    def cmd_camera_b_led_off(self, values: dict[str, Any], now: float) -> None:
        """Camera B's LED off."""
        self._led("camera_b", False)

    def cmd_camera_b_take_image(self, values: dict[str, Any], now: float) -> None:
        """Camera B takes an image."""
        self._take("camera_b", now)

    # ------------------------------------------------------------------ status

    def status_mechanism(self, now: float) -> dict[str, Any]:
        """The mechanism's status report values."""
        return {
            "angle": self.angle, "target": self.target,
            "moving": self.state == icd.STATE_ROTATING, "state": self.state,
        }  # fmt: skip

    def _camera_status(self, name: str) -> dict[str, Any]:
        c = self.cameras[name]
        return {
            "led": c.led, "image_id": c.image_id, "image_ready": c.ready, "checksum": c.checksum,
            "brightness": c.brightness, "orientation": c.orientation, "ambiguous": c.ambiguous,
        }  # fmt: skip

    def status_camera_a(self, now: float) -> dict[str, Any]:
        """Camera A's status report values."""
        return self._camera_status("camera_a")

    def cmd_image_select(self, values: dict[str, Any], now: float) -> None:
        """Select a row of a camera's last image for the image store's status."""
        camera = icd.CAMERAS[values["camera"]]
        if not self.cameras[camera].ready or camera not in self.images:
            raise Refused(icd.FAIL_NO_IMAGE)
        self.selected = (values["camera"], values["row"])

    def status_image(self, now: float) -> dict[str, Any]:
        """The image store's status values: the selected row."""
        index, row = self.selected
        camera = icd.CAMERAS[index]
        pixels = self.images.get(camera, bytes(icd.IMAGE_WIDTH * icd.IMAGE_HEIGHT))
        start = row * icd.IMAGE_WIDTH
        return {
            "camera": index, "image_id": self.cameras[camera].image_id if camera in self.images
            else 0, "row": row, "pixels": list(pixels[start : start + icd.IMAGE_WIDTH]),
        }  # fmt: skip

    def status_camera_b(self, now: float) -> dict[str, Any]:
        """Camera B's status report values."""
        return self._camera_status("camera_b")


_SUB: Final = tuple((i + 0.5) / 4 - 0.5 for i in range(4))


def _coverage(dx: float, dy: float) -> float:
    """The fraction of the pixel at offset (dx, dy) from the mark's centre that the mark
    covers (4 x 4 samples)."""
    r2 = MARK_SIZE**2
    return sum((dx + sx) ** 2 + (dy + sy) ** 2 <= r2 for sx in _SUB for sy in _SUB) / 16
