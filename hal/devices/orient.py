"""HAL driver of the orientation board (ICD: :mod:`hal.protocol.devices.orient`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hal.devices.base import BoardClient, DeviceReplyError
from hal.protocol.devices import orient as icd

__all__ = ["CameraStatus", "ImageRow", "MechanismStatus", "OrientClient"]

CAMERAS = ("camera_a", "camera_b")


@dataclass(frozen=True)
class MechanismStatus:
    """The orientation mechanism's status report (deg)."""

    angle: float
    target: float
    moving: bool
    state: int

    @property
    def state_name(self) -> str:
        """``idle``, ``rotating``, ``at_target`` or ``stopped``."""
        return icd.STATES[self.state]


@dataclass(frozen=True)
class CameraStatus:
    """One orientation camera's status report (orientation in deg)."""

    led: bool
    image_id: int
    image_ready: bool
    checksum: int
    brightness: int
    orientation: float
    ambiguous: bool

    @property
    def decision(self) -> float | None:
        """The OS's orientation from the last image, None if there is none or it is ambiguous."""
        return self.orientation if self.image_ready and not self.ambiguous else None


class OrientClient(BoardClient):
    """Typed calls to the orientation mechanism and its cameras (``camera_a``, ``camera_b``);
    every call may raise a ``DeviceError``."""

    icd: ClassVar = icd.BOARD

    def rotate(self, angle: float) -> None:
        """Rotate the mechanism to ``angle`` deg (0 .. 360)."""
        self.command("mechanism", "rotate", angle=angle)

    def stop(self) -> None:
        """Stop the mechanism where it is."""
        self.command("mechanism", "stop")

    def led(self, camera: str, on: bool) -> None:
        """Switch a camera's LED illuminator on or off."""
        self.command(_camera(camera), "led_on" if on else "led_off")

    def take_image(self, camera: str) -> None:
        """Take an image with a camera; it is ready when the status says so."""
        self.command(_camera(camera), "take_image")

    def read_mechanism(self) -> MechanismStatus:
        """The mechanism's status now."""
        return MechanismStatus(**self.status("mechanism"))

    def read_camera(self, camera: str) -> CameraStatus:
        """A camera's status now."""
        return CameraStatus(**self.status(_camera(camera)))

    def read_row(self, camera: str, row: int) -> ImageRow:
        """Row ``row`` of ``camera``'s last image (select it, then read the store's status)."""
        self.command("image", "select", camera=icd.CAMERAS.index(_camera(camera)), row=row)
        return ImageRow(**self.status("image"))

    def read_image(self, camera: str) -> tuple[int, bytes]:
        """``camera``'s last image, row by row: its id and its pixels (row 0 first).

        Raises:
            DeviceReplyError: a row of another image came back (a new exposure meanwhile).
        """
        rows, image_id = [], None
        for row in range(icd.IMAGE_HEIGHT):
            got = self.read_row(camera, row)
            if image_id is None:
                image_id = got.image_id
            if got.image_id != image_id or got.row != row:
                raise DeviceReplyError(f"orient image: row {row} came back as row {got.row} of "
                                  f"image {got.image_id} (reading image {image_id})")  # fmt: skip
            rows.append(bytes(got.pixels))
        return image_id or 0, b"".join(rows)


@dataclass(frozen=True)
class ImageRow:
    """One row of a camera's last image, as the image store's status carries it."""

    camera: int
    image_id: int
    row: int
    pixels: list[int]


def _camera(name: str) -> str:
    if name not in CAMERAS:
        raise ValueError(f"no camera {name!r} (known: {', '.join(CAMERAS)})")
    return name
