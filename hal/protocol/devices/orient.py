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
=========  =====  ==============================================================

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

FAIL_MECHANISM_MOVING: Final = 16
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

# fmt: on

BOARD = BoardIcd(
    name="orient",
    node="orbiter",
    devices=(MECHANISM, CAMERA_A, CAMERA_B),
    meaning="Orientation mechanism and cameras of the Earth Return Orbiter's capture, "
    "containment and return system.",
)
