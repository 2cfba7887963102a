"""ICD of the MAV igloo board (lander): 16 heater zones, the MAV propellant thermistor, the door.

The Mars Ascent Vehicle waits, up to a year, in an insulated igloo on the lander, with 16
separately instrumented heater zones; its solid propellant must stay above -40 degC. The igloo's
door opens for sample loading. Zones are numbered 0 to 15 on the wire. Each zone has two heater
elements on separate circuits, prime (0) and redundant (1), as spacecraft heaters usually do;
``select_element`` chooses the one the zone's duty drives (power-on: prime). A zone's heater is
switched by duty cycle (0 to 100 % of its rated power, :data:`HEATER_POWER` on the
:data:`BUS_VOLTAGE` bus, either element) and reports its thermistor, its mean heater current
(to :data:`CURRENT_ACCURACY`) and the element selected; an element that is open draws no
current, so a working one draws ``duty / 100 * HEATER_POWER / BUS_VOLTAGE``. Conventions common
to every device (ping, status request, completion and failure reports) are in
:mod:`hal.protocol.devices.icd`.

==========  =====  ==================================================================
device      APID   what it is
==========  =====  ==================================================================
heaters     0x130  16 heater zones: thermistor, duty cycle, heater current, element
propellant  0x131  MAV propellant thermistor and the igloo's outside thermistor
door        0x132  igloo door actuator with open/closed limit switches
==========  =====  ==================================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. No command of this board is hazardous.
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Field, Limits, LimitSet, Message, enum

ZONES: Final = 16
PROPELLANT_MIN: Final = -40.0  # degC, the propellant's lower limit
SERVICE_HEATERS: Final = 135
SERVICE_DOOR: Final = 136
PRIME: Final = 0  # a zone's prime heater element (selected at power-on)
REDUNDANT: Final = 1  # a zone's redundant heater element, on its own circuit
HEATER_POWER: Final = 20.0  # W: the rated power of each zone's heater element, at 100 % duty
BUS_VOLTAGE: Final = 28.0  # V: the heater bus
CURRENT_ACCURACY: Final = 0.005  # A: the heater current sense reads within this of the truth

FAIL_HEATER_OPEN: Final = 16

ZONE_LIMITS: Final = Limits(LimitSet(yellow=(-40.0, 40.0), red=(-45.0, 50.0)))
"""A heater zone's temperature: a caution outside the propellant's -40 degC limit (MSR_FACTS)
and the 40 degC bench upper storage limit; red outside the flight software's zone fault limits
(lander parameters ``igloo.zone_low`` -45, ``igloo.zone_high`` 50 degC)."""
PROPELLANT_LIMITS: Final = Limits(LimitSet(yellow=(-35.0, 40.0), red=(PROPELLANT_MIN, 50.0)))
"""The propellant: red below its -40 degC limit (MSR_FACTS), a caution within 5 K of it."""
ELEMENTS: Final = enum("prime", "redundant")
"""A zone's heater elements by code."""

# fmt: off
HEATERS = DeviceIcd(
    name="heaters",
    apid=0x130,
    meaning="Sixteen heater zones, each with a thermistor, a switched heater and current sense.",
    commands=(
        Message("set_duty", SERVICE_HEATERS, 1, (
            Field("zone", "u8", "-", 0, ZONES - 1, "heater zone"),
            Field("duty", "f32", "%", 0, 100, "duty cycle, share of the heater's rated power"),
        ), "Set one zone's heater duty cycle; refused heater_open (detail: the zone) when the "
           "selected element has no continuity and the duty is above zero."),
        Message("set_all", SERVICE_HEATERS, 2, (
            Field("duty", "f32", "%", 0, 100, "duty cycle per zone", count=ZONES),
        ), "Set every zone's duty cycle at once (never refused: an open heater just draws no "
           "current)."),
        Message("all_off", SERVICE_HEATERS, 3, (), "Every heater off."),
        Message("select_element", SERVICE_HEATERS, 4, (
            Field("zone", "u8", "-", 0, ZONES - 1, "heater zone"),
            Field("element", "u8", "-", PRIME, REDUNDANT, "0 prime, 1 redundant: the element "
                  "the zone's duty drives from now on", enum=ELEMENTS),
        ), "Switch one zone's duty over to its prime or redundant heater element (the duty "
           "cycle is kept). Never refused for a failed element: a dead element selected just "
           "draws no current."),
    ),
    status=Message("status", 3, 25, (
        Field("temperature", "f32", "degC", -150, 100, "zone thermistor (an open thermistor "
              "reads -150)", count=ZONES, limits=ZONE_LIMITS),
        Field("duty", "f32", "%", 0, 100, "commanded duty cycle", count=ZONES),
        Field("current", "f32", "A", 0, 2, "mean heater current (+/- 5 mA; a working "
              "element draws duty/100 x 20 W / 28 V)", count=ZONES),
        Field("element", "u8", "-", PRIME, REDUNDANT, "heater element the zone's duty drives: "
              "0 prime, 1 redundant", count=ZONES, enum=ELEMENTS,
              limits=Limits(yellow_states=("redundant",))),
    ), "Heater zones status."),
    failures={FAIL_HEATER_OPEN: "heater_open"},
)

PROPELLANT = DeviceIcd(
    name="propellant",
    apid=0x131,
    meaning="MAV propellant thermistor (limit -40 degC) and the thermistor outside the igloo.",
    commands=(),
    status=Message("status", 3, 25, (
        Field("temperature", "f32", "degC", -150, 100, "MAV solid propellant temperature",
              limits=PROPELLANT_LIMITS),
        Field("ambient", "f32", "degC", -150, 50, "Mars air outside the igloo"),
        Field("cold", "bool", "-", 0, 1, "propellant below its -40 degC limit"),
    ), "Propellant status."),
)

DOOR = DeviceIcd(
    name="door",
    apid=0x132,
    meaning="Igloo door actuator with open and closed limit switches.",
    commands=(
        Message("open", SERVICE_DOOR, 1, (), "Drive the door open (open limit switch)."),
        Message("close", SERVICE_DOOR, 2, (), "Drive the door closed (closed limit switch)."),
        Message("stop", SERVICE_DOOR, 3, (), "Stop the door where it is."),
    ),
    status=Message("status", 3, 25, (
        Field("position", "f32", "%", 0, 100, "door opening, 0 closed to 100 fully open"),
        Field("moving", "bool", "-", 0, 1, "the actuator is driving"),
        Field("open", "bool", "-", 0, 1, "open limit switch"),
        Field("closed", "bool", "-", 0, 1, "closed limit switch"),
    ), "Door status."),
)

# fmt: on

BOARD = BoardIcd(
    name="igloo",
    node="lander",
    devices=(HEATERS, PROPELLANT, DOOR),
    meaning="MAV igloo heaters, propellant temperature and door, on the Sample Retrieval Lander.",
)
