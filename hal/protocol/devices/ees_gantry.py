"""ICD of the EES gantry board (orbiter, CCRS): transfer into the Earth Entry System and release.

After brazing, a gantry carries the primary containment vessel from the capture, containment and
return system into the Earth Entry System (position along the gantry: 0 mm at the containment
station, :data:`INSERT_POSITION` in the EES, where the vessel is latched in), and then stows clear
of the EES. About 3 days before entry the passive EES (no parachute) is released: a hazardous
command, refused unless the gantry is stowed. Conventions common to every device (ping, status
request, completion and failure reports) are in :mod:`hal.protocol.devices.icd`.

=======  =====  ==============================================================
device   APID   what it is
=======  =====  ==============================================================
gantry   0x190  the transfer gantry: position, travel, stow latch
release  0x191  the EES release mechanism and its separation switch
=======  =====  ==============================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. Hazardous commands, never re-sent blindly: after a lost reply the driver
reads the status, which shows each done as: ``release.release`` (``released = true``).
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Effect, Field, Message

TRAVEL: Final = 1000.0  # mm
INSERT_POSITION: Final = 850.0  # mm
STOW_POSITION: Final = 0.0  # mm
SERVICE_GANTRY: Final = 190
SERVICE_RELEASE: Final = 191

FAIL_RELEASED: Final = 16
FAIL_NOT_STOWED: Final = 17

# fmt: off
GANTRY = DeviceIcd(
    name="gantry",
    apid=0x190,
    meaning="Linear gantry carrying the primary containment vessel into the EES.",
    commands=(
        Message("move", SERVICE_GANTRY, 1, (
            Field("position", "f32", "mm", 0, TRAVEL, "position to move to"),
            Field("rate", "f32", "mm/s", 1, 20, "travel speed"),
        ), "Move along the gantry (travel time at the rate); reaching the insert position "
           "latches the vessel into the EES. Unlatches the stow latch."),
        Message("stow", SERVICE_GANTRY, 2, (), "Return to the stow position and latch there."),
    ),
    status=Message("status", 3, 25, (
        Field("position", "f32", "mm", 0, TRAVEL, "gantry position from its encoder"),
        Field("target", "f32", "mm", 0, TRAVEL, "commanded position"),
        Field("moving", "bool", "-", 0, 1, "the gantry is travelling"),
        Field("stowed", "bool", "-", 0, 1, "at the stow position with the stow latch engaged"),
        Field("vessel_in_ees", "bool", "-", 0, 1, "the vessel is latched in the EES"),
    ), "Gantry status."),
    failures={FAIL_RELEASED: "released"},
)

RELEASE = DeviceIcd(
    name="release",
    apid=0x191,
    meaning="Release mechanism holding the Earth Entry System to the orbiter.",
    commands=(
        Message("release", SERVICE_RELEASE, 1, (), "Release the EES (irreversible); refused "
                "unless the gantry is stowed, or once released.", hazardous=True,
                effect=Effect("released", True, "the release reads fired")),
    ),
    status=Message("status", 3, 25, (
        Field("released", "bool", "-", 0, 1, "the release has been fired"),
        Field("separated", "bool", "-", 0, 1, "the separation switch: the EES has left"),
    ), "Release status."),
    failures={FAIL_RELEASED: "released", FAIL_NOT_STOWED: "not_stowed"},
)

# fmt: on

BOARD = BoardIcd(
    name="ees_gantry",
    node="orbiter",
    devices=(GANTRY, RELEASE),
    meaning="Transfer gantry into the Earth Entry System and the EES release, on the Earth "
    "Return Orbiter.",
)
