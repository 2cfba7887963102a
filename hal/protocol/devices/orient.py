"""ICD of the orientation board (orbiter, CCRS): the orientation mechanism and its two cameras.

Once captured, the Orbiting Sample must be turned to the one orientation in which it fits the
primary containment vessel. The orientation mechanism rotates it; two cameras, each with an LED
illuminator, image it, and the ground confirms the orientation from one downlinked image. Images
are kept on the board; the status carries an image's id, a CRC-32 of its octets and the board's
own estimate of the OS's orientation, or ``ambiguous`` when the image does not allow a decision.
Angles are about the cone's axis, 0 .. 360 deg. Conventions common to every device (ping, status
request, completion and failure reports) are in :mod:`hal.protocol.devices.icd`.

=========  =====  ==============================================================
device     APID   what it is
=========  =====  ==============================================================
mechanism  0x178  the orientation mechanism: rotates the OS to a commanded angle
camera_a   0x179  orientation camera A with its LED illuminator
camera_b   0x17A  orientation camera B with its LED illuminator
image      0x17B  the cameras' image store, read out one row at a time
=========  =====  ==============================================================

Images (decision 0056). Each camera looks down the capture cone's axis and keeps its last image:
:data:`IMAGE_WIDTH` x :data:`IMAGE_HEIGHT` pixels, 8-bit grey, row 0 at the top. The OS appears
as a lit disc centred on the image; its orientation is where its dark fiducial mark lies,
measured counter-clockwise from the image's +x axis (right) with y up: a mark at orientation
``a`` is centred at ``(cx + r cos a, cy - r sin a)``. The flight software reads an image out by
selecting a row (``image.select``) and reading the image device's status, which carries that
row's pixels, and sends the image to the ground as a file.

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. No command of this board is hazardous.
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import FAILURES, BoardIcd, DeviceIcd, Field, Limits, Message, enum

SERVICE_MECHANISM: Final = 172
SERVICE_CAMERA_A: Final = 173
SERVICE_CAMERA_B: Final = 174

STATE_IDLE: Final = 0
STATE_ROTATING: Final = 1
STATE_AT_TARGET: Final = 2
STATE_STOPPED: Final = 3
STATES: Final = ("idle", "rotating", "at_target", "stopped")

SERVICE_IMAGE: Final = 175
IMAGE_WIDTH: Final = 48
IMAGE_HEIGHT: Final = 48
CAMERAS: Final = ("camera_a", "camera_b")

FAIL_MECHANISM_MOVING: Final = 16
FAIL_NO_IMAGE: Final = 17
FAIL_BUSY: Final = next(code for code, name in FAILURES.items() if name == "busy")

# fmt: off
MECHANISM = DeviceIcd(
    name="mechanism",
    apid=0x178,
    meaning="Rotary mechanism turning the captured OS about the cone's axis.",
    commands=(
        Message("rotate", SERVICE_MECHANISM, 1, (
            Field("angle", "f32", "deg", 0, 360, "mechanism angle to rotate to"),
        ), "Rotate to an angle (travel time at the mechanism's rate); arrival is in the status."),
        Message("stop", SERVICE_MECHANISM, 2, (), "Stop where it is."),
    ),
    status=Message("status", 3, 25, (
        Field("angle", "f32", "deg", 0, 360, "mechanism angle from its encoder"),
        Field("target", "f32", "deg", 0, 360, "commanded angle"),
        Field("moving", "bool", "-", 0, 1, "the mechanism is rotating"),
        Field("state", "u8", "-", 0, len(STATES) - 1, "0 idle, 1 rotating, 2 at target, "
              "3 stopped short of the target", enum=enum(*STATES),
              limits=Limits(yellow_states=("stopped",))),
    ), "Orientation mechanism status."),
)


def _camera(name: str, apid: int, service: int, letter: str) -> DeviceIcd:
    return DeviceIcd(
        name=name,
        apid=apid,
        meaning=f"Orientation camera {letter} with its LED illuminator.",
        commands=(
            Message("led_on", service, 1, (), "Switch the LED illuminator on."),
            Message("led_off", service, 2, (), "Switch the LED illuminator off."),
            Message("take_image", service, 3, (), "Take an image (ready a moment later); "
                    "refused while the mechanism rotates or an image is being taken."),
        ),
        status=Message("status", 3, 25, (
            Field("led", "bool", "-", 0, 1, "the LED illuminator is on"),
            Field("image_id", "u32", "-", 0, 2**32 - 1, "id of the last image, 0 if none"),
            Field("image_ready", "bool", "-", 0, 1, "the last image is taken and stored"),
            Field("checksum", "u32", "-", 0, 2**32 - 1, "CRC-32 of the last image's octets"),
            Field("brightness", "u8", "-", 0, 255, "mean pixel value of the last image"),
            Field("orientation", "f32", "deg", 0, 360, "the OS's orientation estimated from "
                  "the last image (valid when not ambiguous)"),
            Field("ambiguous", "bool", "-", 0, 1, "the last image does not allow a decision "
                  "on the orientation"),
        ), f"Camera {letter} status."),
        failures={FAIL_MECHANISM_MOVING: "mechanism_moving"},
    )


CAMERA_A = _camera("camera_a", 0x179, SERVICE_CAMERA_A, "A")
CAMERA_B = _camera("camera_b", 0x17A, SERVICE_CAMERA_B, "B")

IMAGE = DeviceIcd(
    name="image",
    apid=0x17B,
    meaning="The cameras' image store: the last image of each camera, read out row by row.",
    commands=(
        Message("select", SERVICE_IMAGE, 1, (
            Field("camera", "u8", "-", 0, len(CAMERAS) - 1, "0 camera A, 1 camera B",
                  enum=enum(*CAMERAS)),
            Field("row", "u8", "-", 0, IMAGE_HEIGHT - 1, "the row the status carries"),
        ), "Select a row of a camera's last image; refused when that camera has none ready."),
    ),
    status=Message("status", 3, 25, (
        Field("camera", "u8", "-", 0, len(CAMERAS) - 1, "the camera selected",
              enum=enum(*CAMERAS)),
        Field("image_id", "u32", "-", 0, 2**32 - 1, "id of the image the row is from, 0 if "
              "none"),
        Field("row", "u8", "-", 0, IMAGE_HEIGHT - 1, "the row selected"),
        Field("pixels", "u8", "-", 0, 255, "the row's pixels, left to right",
              count=IMAGE_WIDTH),
    ), "Image store status: one row of the selected image."),
    failures={FAIL_NO_IMAGE: "no_image"},
)

# fmt: on

BOARD = BoardIcd(
    name="orient",
    node="orbiter",
    devices=(MECHANISM, CAMERA_A, CAMERA_B, IMAGE),
    meaning="Orientation mechanism and cameras of the Earth Return Orbiter's capture, "
    "containment and return system.",
)
