"""Emulator of the orientation board (ICD: :mod:`hal.protocol.devices.orient`).

Physics at bench level:

* the captured OS lies in the cone at an orientation the simulator sets
  (:attr:`Orient.os_orientation`, deg); the mechanism turns it with itself at :data:`RATE`, so the
  OS's orientation is ``os_orientation + mechanism angle`` (mod 360);
* a camera takes an image in :data:`EXPOSURE` seconds; the image is a small synthetic pattern of
  :data:`IMAGE_SIZE` octets (a brightness wave whose phase is the OS's orientation, plus Gaussian
  pixel noise from the seeded generator), kept in :attr:`Orient.images` and summarised in the status
  by its CRC-32 and mean; lit by its LED the image is bright, unlit it is dark (mean below
  :data:`MIN_BRIGHTNESS`) and ambiguous;
* the board estimates the orientation from a clear image with :data:`ESTIMATE_SIGMA` of noise.

Board fault:

=========================  ==================================================================
``ambiguous_orientation``  the image does not allow a decision (glare, the OS's markings out
                           of view): ``ambiguous`` is set for the camera(s) it applies to
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
IMAGE_SIZE: Final = 256  # octets
LIT: Final = 170.0  # mean pixel value, LED on
DARK: Final = 8.0  # mean pixel value, LED off
WAVE: Final = 40.0  # amplitude of the pattern
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

    def _expose(self, name: str, camera: Camera) -> None:
        level = LIT if camera.led else DARK
        phase = math.radians(self.orientation)
        pixels = bytes(
            min(255, max(0, round(level + WAVE * math.sin(2 * math.pi * i / 64 + phase)
                                  + self.rng.gauss(0.0, PIXEL_NOISE))))
            for i in range(IMAGE_SIZE)
        )  # fmt: skip
        self.images[name] = pixels
        camera.due, camera.ready = None, True
        camera.checksum = zlib.crc32(pixels)
        camera.brightness = round(sum(pixels) / len(pixels))
        dark = camera.brightness < MIN_BRIGHTNESS
        camera.ambiguous = dark or self.fault("ambiguous_orientation", name) is not None
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

    def status_camera_b(self, now: float) -> dict[str, Any]:
        """Camera B's status report values."""
        return self._camera_status("camera_b")
