"""ICD of the Sample Transfer Arm vision board (lander): tube detection and serial-number read.

The arm's two cameras find a sample tube (on the rover's cache, on the ground, in the gripper)
and give its pose in the arm base frame: position x, y, z in metres and yaw about the vertical in
degrees. On command they read the tube's laser-etched serial number, with a confidence; a read
that cannot reach the caller's confidence fails. Detection runs continuously: every status report
carries the latest pose; a serial read stays in the report (with a count of successful reads, to
tell a fresh read from an old one) until the tube in view changes. Conventions common to every
device (ping, status request, completion and failure reports) are in
:mod:`hal.protocol.devices.icd`.

=========  =====  ==================================================================
device     APID   what it is
=========  =====  ==================================================================
cameras    0x118  stereo cameras: tube detection with pose, serial-number reader
=========  =====  ==================================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. No command of this board is hazardous.
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Field, Message

SERVICE_VISION: Final = 132
MAX_SERIAL: Final = 999_999

FAIL_NO_TUBE: Final = 16
FAIL_SERIAL_UNREADABLE: Final = 17

UNREADABLE_LOW_CONFIDENCE: Final = 1
UNREADABLE_ETCHING: Final = 2

# fmt: off
CAMERAS = DeviceIcd(
    name="cameras",
    apid=0x118,
    meaning="Stereo cameras of the arm: tube detection with pose and serial-number reading.",
    commands=(
        Message("read_serial", SERVICE_VISION, 1, (
            Field("min_confidence", "f32", "-", 0, 1, "least confidence to accept the read"),
        ), "Read the serial number of the tube in view; refused no_tube when none is "
           "detected, serial_unreadable (detail 1: below min_confidence, 2: the etching cannot "
           "be read) otherwise. The result is in the status report."),
    ),
    status=Message("status", 3, 25, (
        Field("detected", "bool", "-", 0, 1, "a tube is in view"),
        Field("x", "f32", "m", -3, 3, "tube position in the arm base frame, forward"),
        Field("y", "f32", "m", -3, 3, "tube position in the arm base frame, left"),
        Field("z", "f32", "m", -3, 3, "tube position in the arm base frame, up"),
        Field("yaw", "f32", "deg", -180, 180, "tube axis heading about the vertical"),
        Field("serial", "u32", "-", 0, MAX_SERIAL, "serial number last read, 0 for none"),
        Field("confidence", "f32", "-", 0, 1, "confidence of that read, 0 for none"),
        Field("reads", "u16", "-", 0, 65535, "successful reads so far (wraps)"),
    ), "Vision status; pose fields are zero when nothing is detected."),
    failures={FAIL_NO_TUBE: "no_tube", FAIL_SERIAL_UNREADABLE: "serial_unreadable"},
)

# fmt: on

BOARD = BoardIcd(
    name="sta_vision",
    node="lander",
    devices=(CAMERAS,),
    meaning="Sample Transfer Arm cameras, on the Sample Retrieval Lander.",
)
