"""ICD of the EES gantry board (orbiter, CCRS): transfer into the Earth Entry System and release.

After brazing, a gantry carries the primary containment vessel from the capture, containment and
return system into the Earth Entry System, and then stows clear of the EES. About 3 days before
entry the passive EES (no parachute) is released: a hazardous command, refused unless the gantry
is stowed. Conventions common to every device (ping, status request, completion and failure
reports) are in :mod:`hal.protocol.devices.icd`.

=======  =====  ==============================================================
device   APID   what it is
=======  =====  ==============================================================
gantry   0x190  the transfer gantry: carriage, drive, end switches, stow latch
release  0x191  the EES release mechanism and its separation switch
=======  =====  ==============================================================

Mechanical interface (decision 0058). Positions along the gantry, in mm from the containment
station, + toward the EES::

    stow end: 0 mm                                         far (EES) end: 850 mm
    |<------------------------- travel 850 mm ------------------------->|
    stow end switch, stow latch          EES end switch; the vessel seated and latched

The carriage runs between two hard ends, each with an end switch that closes when the carriage
is at that end (and only then). The far end is the insert position: there the vessel is seated
in the EES and its latch holds it (``vessel_in_ees``). A move follows a trapezoidal speed
profile: it accelerates at 5 mm/s^2 up to the commanded rate (at most 20 mm/s), cruises, and
brakes at 5 mm/s^2 to stop on the target, so a move of d mm at a rate of v mm/s takes
d / v + v / 5 s, or 2 sqrt(d / 5) s when too short to reach v. A ``stow`` runs at 10 mm/s. A
commanded position may lie past the far end (up to 1000 mm): the drive stops when the end switch
ahead of it closes, the carriage at the end (``drive`` reads ``at_end``), which is how a
controller homes on a switch. A drive that pushes without moving (an obstruction, or a hard end
whose switch never closed) draws its current limit, 2 A, and reads ``blocked`` until it is
stopped or given a new move.

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. Hazardous commands, never re-sent blindly: after a lost reply the driver
reads the status, which shows each done as: ``release.release`` (``released = true``).
"""

from __future__ import annotations

import math
from typing import Final

from hal.protocol.devices.icd import (
    BoardIcd,
    DeviceIcd,
    Effect,
    Field,
    Limits,
    LimitSet,
    Message,
    enum,
)

STOW_POSITION: Final = 0.0
"""mm: the stow end, where the stow end switch closes and the stow latch engages."""
FAR_END: Final = 850.0
"""mm: the far (EES) end, where the EES end switch closes: the vessel is seated in the EES."""
INSERT_POSITION: Final = FAR_END
"""mm: where the vessel is latched into the EES (the far end)."""
TRAVEL: Final = FAR_END - STOW_POSITION
"""mm: the carriage's travel between its two hard ends."""
POSITION_SPAN: Final = 1000.0
"""mm: the span of a commanded position and of the encoder's reading; a command past
:data:`FAR_END` drives the carriage onto its end switch."""
MAX_SPEED: Final = 20.0
"""mm/s: the drive's rate limit (the fastest a move may be commanded)."""
ACCELERATION: Final = 5.0
"""mm/s^2: the drive's acceleration and braking (a 2 s ramp to 10 mm/s)."""
STOW_RATE: Final = 10.0
"""mm/s: the rate of a ``stow``."""
CURRENT_LIMIT: Final = 2.0
"""A: the drive's current limit, what it draws pushing without moving."""
SERVICE_GANTRY: Final = 190
SERVICE_RELEASE: Final = 191

DRIVE_IDLE: Final = 0
DRIVE_MOVING: Final = 1
DRIVE_AT_END: Final = 2
DRIVE_BLOCKED: Final = 3
DRIVE_STATES: Final = ("idle", "moving", "at_end", "blocked")

FAIL_RELEASED: Final = 16
FAIL_NOT_STOWED: Final = 17


def move_time(distance: float, rate: float, acceleration: float = ACCELERATION) -> float:
    """Seconds a move of ``distance`` mm from rest to rest takes at a cruise ``rate`` mm/s
    (capped at :data:`MAX_SPEED`): trapezoidal, or triangular when too short to reach the rate."""
    distance, rate = abs(distance), min(rate, MAX_SPEED)
    if distance * acceleration <= rate * rate:
        return 2.0 * math.sqrt(distance / acceleration)
    return distance / rate + rate / acceleration


# fmt: off
GANTRY = DeviceIcd(
    name="gantry",
    apid=0x190,
    meaning="Linear gantry carrying the primary containment vessel into the EES.",
    commands=(
        Message("move", SERVICE_GANTRY, 1, (
            Field("position", "f32", "mm", 0, POSITION_SPAN, "position to move to (past the "
                  "far end: until the EES end switch closes)"),
            Field("rate", "f32", "mm/s", 1, MAX_SPEED, "cruise speed"),
        ), "Move along the gantry on the trapezoidal profile; reaching the far end seats and "
           "latches the vessel in the EES. Unlatches the stow latch."),
        Message("stow", SERVICE_GANTRY, 2, (), "Return to the stow end (at the stow rate) and "
                "latch there."),
        Message("stop", SERVICE_GANTRY, 3, (), "Brake to a stop (or stop pushing) and hold."),
    ),
    status=Message("status", 3, 25, (
        Field("position", "f32", "mm", 0, POSITION_SPAN, "carriage position from its encoder"),
        Field("target", "f32", "mm", 0, POSITION_SPAN, "commanded position"),
        Field("speed", "f32", "mm/s", -MAX_SPEED, MAX_SPEED, "carriage speed, + toward the EES"),
        Field("current", "f32", "A", 0, 5, "drive motor current",
              limits=Limits(LimitSet(yellow=(None, 1.5), red=(None, 1.9)))),
        Field("moving", "bool", "-", 0, 1, "the carriage is travelling"),
        Field("drive", "u8", "-", 0, len(DRIVE_STATES) - 1, "0 idle, 1 moving, 2 stopped by "
              "an end switch, 3 blocked: pushing at its current limit without moving",
              enum=enum(*DRIVE_STATES), limits=Limits(red_states=("blocked",))),
        Field("stow_switch", "bool", "-", 0, 1, "the stow end switch reads closed"),
        Field("far_switch", "bool", "-", 0, 1, "the EES (far) end switch reads closed"),
        Field("stowed", "bool", "-", 0, 1, "at the stow end with the stow latch engaged"),
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
