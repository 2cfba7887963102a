"""ICD of the narrow-angle camera board (orbiter): detection and tracking of the Orbiting Sample.

The Earth Return Orbiter finds the Orbiting Sample (about 30 cm across, faint at long range) with
a narrow-angle camera from more than 1,000 km down to contact, and guides itself autonomously on
its measurements (the one-way light-time to Earth is 3 to 22 minutes). While tracking, the camera
reports whether it sees the OS, its bearing from the boresight, its range (from the apparent size
and brightness) and the detection's signal-to-noise ratio. Conventions common to every device
(ping, status request, completion and failure reports) are in :mod:`hal.protocol.devices.icd`.

======  =====  ==============================================================
device  APID   what it is
======  =====  ==============================================================
nac     0x160  narrow-angle camera and its on-board OS detection and tracking
======  =====  ==============================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. No command of this board is hazardous.
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Field, Message

MAX_RANGE: Final = 1500.0  # km, the farthest the OS can be detected
SNR_MIN: Final = 4.0  # the least signal-to-noise ratio of a detection
HALF_FIELD: Final = 5.0  # deg, half the field of view
SERVICE_NAC: Final = 160

FAIL_ALREADY_TRACKING: Final = 16

# fmt: off
NAC = DeviceIcd(
    name="nac",
    apid=0x160,
    meaning="Narrow-angle camera with on-board detection and tracking of the OS.",
    commands=(
        Message("start_tracking", SERVICE_NAC, 1, (
            Field("frame_period", "f32", "s", 0.1, 60, "time between tracking frames"),
        ), "Start taking frames and searching for the OS; refused if already tracking."),
        Message("stop_tracking", SERVICE_NAC, 2, (), "Stop tracking (the last measurement is "
                "kept, ``detected`` clears)."),
    ),
    status=Message("status", 3, 25, (
        Field("tracking", "bool", "-", 0, 1, "the camera is taking tracking frames"),
        Field("detected", "bool", "-", 0, 1, "the OS is detected in the last frame"),
        Field("azimuth", "f32", "deg", -HALF_FIELD, HALF_FIELD, "bearing of the OS from the "
              "boresight, across (valid when detected)"),
        Field("elevation", "f32", "deg", -HALF_FIELD, HALF_FIELD, "bearing of the OS from the "
              "boresight, up (valid when detected)"),
        Field("range", "f32", "km", 0, 5000, "estimated range of the OS (valid when detected)"),
        Field("range_rate", "f32", "km/s", -1, 1, "estimated rate of change of the range, "
              "negative closing (valid when detected)"),
        Field("snr", "f32", "-", 0, 1000, "signal-to-noise ratio of the OS in the last frame"),
        Field("frames", "u32", "-", 0, 2**32 - 1, "tracking frames taken since power-up"),
        Field("contact", "bool", "-", 0, 1, "the OS is at the capture cone (range under 1 m)"),
    ), "Camera and tracking status."),
    failures={FAIL_ALREADY_TRACKING: "already_tracking"},
)

# fmt: on

BOARD = BoardIcd(
    name="nac_camera",
    node="orbiter",
    devices=(NAC,),
    meaning="Narrow-angle camera of the Earth Return Orbiter, for the rendezvous with the OS.",
)
