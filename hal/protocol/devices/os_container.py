"""ICD of the Orbiting Sample container board (lander): slot seat switches, lid and latch, thermal.

The Orbiting Sample (OS) is a basketball-sized container holding the sample tubes, 30 by default
(the capacity is a configuration value of the container, at most :data:`MAX_SLOTS`). The slot
report always carries :data:`MAX_SLOTS` seat switches, plus the container's ``capacity``: switches
at index ``capacity`` and above read open. Slots are numbered from 0, as in the world model. A
seat switch is only a switch: the board does not know which tube sits in a slot. The lid is
driven open and closed by an actuator with a travel time; once closed, a latch can be driven
home (irreversible on flight hardware, hence hazardous); the latch switch closes when the pins are
home. Conventions common to every device (ping, status request, completion and failure reports)
are in :mod:`hal.protocol.devices.icd`.

=========  =====  ==================================================================
device     APID   what it is
=========  =====  ==================================================================
slots      0x120  one seat switch per tube slot (closed: a tube is pushed home)
lid        0x121  lid actuator with open/closed limit switches, latch and its switch
thermal    0x122  container thermistor; the samples are kept below about 30 degC
=========  =====  ==================================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. Hazardous commands, never re-sent blindly: after a lost reply the driver
reads the status, which shows each done as: ``lid.latch`` (``latch_driven = true``).
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import (
    BoardIcd,
    DeviceIcd,
    Effect,
    Field,
    Limits,
    LimitSet,
    Message,
)

MAX_SLOTS: Final = 30
TEMPERATURE_LIMIT: Final = 30.0  # degC, the samples' upper limit
TEMPERATURE_LIMITS: Final = Limits(LimitSet(yellow=(-60.0, 25.0), red=(-80.0, TEMPERATURE_LIMIT)))
"""The container's temperature: red above the samples' 30 degC limit (MSR_FACTS), a caution from
25; the lows are this project's (the container sits near -20 degC; an open thermistor reads
-150)."""
SERVICE_LID: Final = 120

FAIL_LID_NOT_CLOSED: Final = 16
FAIL_LATCHED: Final = 17

# fmt: off
SLOTS = DeviceIcd(
    name="slots",
    apid=0x120,
    meaning="Seat switches of the tube slots; a tube pushed fully home closes its switch.",
    commands=(),
    status=Message("status", 3, 25, (
        Field("capacity", "u8", "-", 1, MAX_SLOTS, "slots fitted in this container"),
        Field("seated", "bool", "-", 0, 1, "seat switch closed, slot 0 first (slots at and "
              "above capacity read open)", count=MAX_SLOTS),
        Field("count", "u8", "-", 0, MAX_SLOTS, "seat switches closed"),
    ), "Slot seat switches."),
)

LID = DeviceIcd(
    name="lid",
    apid=0x121,
    meaning="Lid actuator with open and closed limit switches, and the lid latch.",
    commands=(
        Message("open", SERVICE_LID, 1, (), "Drive the lid open; refused once latched. "
                "Completion is reported at once, arrival by the open limit switch."),
        Message("close", SERVICE_LID, 2, (), "Drive the lid closed (closed limit switch)."),
        Message("stop", SERVICE_LID, 3, (), "Stop the lid actuator where it is."),
        Message("move", SERVICE_LID, 5, (
            Field("position", "f32", "%", 0, 100, "lid opening to drive to, 0 closed"),
        ), "Drive the lid to a part-open position (inspection); refused once latched."),
        Message("latch", SERVICE_LID, 4, (), "Drive the latch pins home; only with the lid "
                "closed. Irreversible on flight hardware: the latch switch closes when done.",
                hazardous=True, effect=Effect("latch_driven", True, "the latch reads commanded")),
    ),
    status=Message("status", 3, 25, (
        Field("position", "f32", "%", 0, 100, "lid opening, 0 closed to 100 fully open"),
        Field("moving", "bool", "-", 0, 1, "the actuator is driving"),
        Field("open", "bool", "-", 0, 1, "open limit switch"),
        Field("closed", "bool", "-", 0, 1, "closed limit switch"),
        Field("latch_driven", "bool", "-", 0, 1, "the latch has been commanded"),
        Field("latched", "bool", "-", 0, 1, "latch switch: the pins are home"),
    ), "Lid status."),
    failures={FAIL_LID_NOT_CLOSED: "lid_not_closed", FAIL_LATCHED: "latched"},
)

THERMAL = DeviceIcd(
    name="thermal",
    apid=0x122,
    meaning="Container thermistor (the samples must stay below about 30 degC).",
    commands=(),
    status=Message("status", 3, 25, (
        Field("temperature", "f32", "degC", -150, 150, "container temperature",
              limits=TEMPERATURE_LIMITS),
        Field("over_limit", "bool", "-", 0, 1, "temperature above the 30 degC sample limit"),
    ), "Thermal status."),
)

# fmt: on

BOARD = BoardIcd(
    name="os_container",
    node="lander",
    devices=(SLOTS, LID, THERMAL),
    meaning="Orbiting Sample container: slots, lid and latch, thermistor; on the lander.",
)
