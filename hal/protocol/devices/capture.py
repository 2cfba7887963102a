"""ICD of the capture board (orbiter, CCRS): the capture cone, its trigger, lid and confirmation.

The Orbiting Sample drifts into the capture cone of the Earth Return Orbiter. Once the capture is
armed, the OS crossing the trigger sensor at the cone's throat trips it, and the board closes the
lid on its own (the light-time forbids waiting for the ground); two independent switches confirm
that the OS is held once the lid is shut. The lid may be closed by command too, but only once the
capture is armed. Lid angle: 90 deg fully open, 0 deg shut. Conventions common to every device
(ping, status request, completion and failure reports) are in :mod:`hal.protocol.devices.icd`.

While the mechanism holds the OS (captured, then inside the primary containment vessel until the
transfer to the Earth Entry System), a contact on it reads the OS's slot switches: the
``confirm`` status carries them as a bit mask (``slots``, bit n set when slot n holds a tube, as
the MAV's ``os_latch`` status did until release), 0 at any other time.

========  =====  ==================================================================
device    APID   what it is
========  =====  ==================================================================
trigger   0x170  the arm-capture logic and the trigger sensor across the cone's throat
lid       0x171  the capture lid and its drive (auto-closed when the trigger trips)
confirm   0x172  two independent capture-confirmed switches behind the lid, and the OS's slot
                 switches read through the mechanism's contact
========  =====  ==================================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. No command of this board is hazardous.
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Field, Message

LID_OPEN: Final = 90.0  # deg
LID_SHUT: Final = 0.0  # deg
SERVICE_TRIGGER: Final = 170
SERVICE_LID: Final = 171

FAIL_LID_NOT_OPEN: Final = 16
FAIL_NOT_ARMED: Final = 17
FAIL_CAPTURED: Final = 18

# fmt: off
TRIGGER = DeviceIcd(
    name="trigger",
    apid=0x170,
    meaning="Arm-capture logic and the trigger sensor (a light curtain across the cone's throat).",
    commands=(
        Message("arm", SERVICE_TRIGGER, 1, (), "Arm the capture: from now on the trigger tripping "
                "closes the lid. Refused unless the lid is fully open."),
        Message("disarm", SERVICE_TRIGGER, 2, (), "Disarm the capture (the trigger is ignored "
                "and the latched trip cleared)."),
    ),
    status=Message("status", 3, 25, (
        Field("armed", "bool", "-", 0, 1, "the capture is armed"),
        Field("tripped", "bool", "-", 0, 1, "the trigger tripped while armed (latched)"),
        Field("tripped_at", "f32", "s", 0, 1e7, "board time of the trip, 0 if none"),
        Field("trips", "u16", "-", 0, 65535, "trips since power-up"),
    ), "Trigger status."),
    failures={FAIL_LID_NOT_OPEN: "lid_not_open"},
)

LID = DeviceIcd(
    name="lid",
    apid=0x171,
    meaning="The capture lid over the cone, with its drive and end switches.",
    commands=(
        Message("close", SERVICE_LID, 1, (), "Close the lid (travel time a few seconds); "
                "refused unless the capture is armed."),
        Message("open", SERVICE_LID, 2, (), "Open the lid; refused once the OS is captured."),
    ),
    status=Message("status", 3, 25, (
        Field("angle", "f32", "deg", LID_SHUT, LID_OPEN, "lid angle, 90 open, 0 shut"),
        Field("moving", "bool", "-", 0, 1, "the lid is travelling"),
        Field("is_open", "bool", "-", 0, 1, "the open end switch"),
        Field("is_shut", "bool", "-", 0, 1, "the shut end switch"),
        Field("auto_closed", "bool", "-", 0, 1, "the last close was started by the trigger"),
    ), "Lid status."),
    failures={FAIL_NOT_ARMED: "not_armed", FAIL_CAPTURED: "captured"},
)

CONFIRM = DeviceIcd(
    name="confirm",
    apid=0x172,
    meaning="Two independent switches pressed by the OS once it is held under the shut lid, "
            "and the OS's slot switches read through the mechanism's contact.",
    commands=(),
    status=Message("status", 3, 25, (
        Field("switch_a", "bool", "-", 0, 1, "capture-confirmed switch A"),
        Field("switch_b", "bool", "-", 0, 1, "capture-confirmed switch B"),
        Field("confirmed", "bool", "-", 0, 1, "both switches pressed: capture confirmed"),
        Field("slots", "u32", "-", 0, 4294967295, "the OS's slot switches read through the "
              "capture mechanism's contact while it holds the OS (captured, and inside the "
              "primary containment vessel before the transfer to the EES): bit n set when slot "
              "n holds a tube; 0 otherwise"),
    ), "Capture confirmation."),
)

# fmt: on

BOARD = BoardIcd(
    name="capture",
    node="orbiter",
    devices=(TRIGGER, LID, CONFIRM),
    meaning="Capture cone, trigger, lid and capture confirmation of the Earth Return Orbiter's "
    "capture, containment and return system.",
)
