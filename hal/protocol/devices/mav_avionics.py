"""ICD of the MAV avionics board (mav): inertial sensing, attitude and navigation, steering, spin-up
and the release of the Orbiting Sample.

Body axes: x along the rocket's long axis (the thrust direction, nose forward), y to the right,
z completing the right-handed set (up when the MAV lies in its cradle on the lander). The
accelerometers measure specific force (non-gravitational acceleration): about 3.71 m/s^2 while
resting on Mars, close to zero in free fall or coast, thrust over mass during a burn; that is how
the flight software confirms the toss and each ignition. Attitude is the 3-2-1 Euler set against
the local horizon: yaw is the heading (0 north, 90 east), pitch the nose's elevation above the
horizon, roll about the long axis. Conventions common to every device (ping, status request,
completion and failure reports) are in :mod:`hal.protocol.devices.icd`.

=========  =====  ==================================================================
device     APID   what it is
=========  =====  ==================================================================
imu        0x140  body rates (deg/s) and specific force (m/s^2) on three axes
attitude   0x141  attitude solution: roll, pitch, yaw (deg)
nav        0x142  navigation solution: altitude, speed, vertical speed
tvc        0x143  SRM1 thrust-vector control: nozzle gimbal in pitch and yaw
spin       0x144  second-stage spin-up motor (spin-stabilised SRM2, tested at 200 rpm)
os_latch   0x145  the latch that holds the Orbiting Sample, released in orbit; through its
                  connector, the OS's slot switches (which slots hold a tube)
umbilical  0x146  the lander-MAV umbilical: propellant and igloo heater-zone temperatures
=========  =====  ==================================================================

The MAV's own boards have no thermistor on the propellant nor in the igloo: those belong to the
lander's igloo board (:mod:`hal.protocol.devices.igloo`). The lander's readings reach the MAV
through the umbilical, which the avionics present as the ``umbilical`` device (decision 0018):
the propellant temperature, the coldest and warmest of the 16 heater-zone thermistors, how many
zones read outside :data:`ZONE_LOW`..:data:`ZONE_HIGH`, and whether the umbilical is carrying
readings at all (false before the lander's first reading and for good after the toss, which
breaks it; the last readings are then held).

The OS's slot switches reach the MAV through the latch's connector: the ``os_latch`` status
carries them as a bit mask (``slots``, bit n set when slot n holds a tube), so the MAV sees a tube
lost from the OS during the ascent. The connector parts with the latch: once the latch is open
the mask reads 0 (the orbiter's capture mechanism reads the same switches after capture,
:mod:`hal.protocol.devices.capture`).

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. Hazardous commands, never re-sent blindly: after a lost reply the driver
reads the status, which shows each done as: ``os_latch.release`` (``latched = false``).
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

AXES: Final = ("x", "y", "z")
GIMBAL_LIMIT: Final = 5.0
"""Nozzle deflection limit, deg, each axis."""
SPIN_MAX: Final = 250.0
"""Highest spin rate the spin motor may be asked for, rpm."""
ZONE_LOW: Final = -40.0
"""Coldest heater-zone reading counted as within limits, degC: the propellant's own limit (it
must stay above -40 degC, MSR_FACTS.md "Mars Ascent Vehicle"), which no zone around it may
undercut."""
ZONE_HIGH: Final = 40.0
"""Warmest heater-zone reading counted as within limits, degC: a bench upper storage limit for a
solid propellant, not a flight figure."""
ZONE_LIMITS: Final = Limits(LimitSet(yellow=(ZONE_LOW, ZONE_HIGH), red=(-45.0, 50.0)))
"""A heater-zone reading: a caution outside :data:`ZONE_LOW`..:data:`ZONE_HIGH`, red outside
the igloo's zone fault limits (-45..50 degC, the lander's ``igloo.zone_low``/``zone_high``)."""
PROPELLANT_LIMITS: Final = Limits(LimitSet(yellow=(-35.0, ZONE_HIGH), red=(ZONE_LOW, 50.0)))
"""The propellant: red below its -40 degC limit (MSR_FACTS), a caution within 5 K of it."""
SERVICE_TVC: Final = 140
SERVICE_SPIN: Final = 141
SERVICE_LATCH: Final = 142

FAIL_SEPARATED: Final = 16
FAIL_NOT_SEPARATED: Final = 17
FAIL_ALREADY_RELEASED: Final = 18

# fmt: off
IMU = DeviceIcd(
    name="imu",
    apid=0x140,
    meaning="Three gyros and three accelerometers on the body axes.",
    commands=(),
    status=Message("status", 3, 25, (
        Field("rate", "f32", "deg/s", -2000, 2000, "body angular rate about x (roll, spin), "
              "y (pitch), z (yaw)", count=3),
        Field("accel", "f32", "m/s^2", -100, 100, "specific force along x, y, z",
              count=3),
    ), "IMU status."),
)

ATTITUDE = DeviceIcd(
    name="attitude",
    apid=0x141,
    meaning="The attitude solution against the local horizon (3-2-1 Euler angles).",
    commands=(),
    status=Message("status", 3, 25, (
        Field("roll", "f32", "deg", -180, 180, "roll about the long axis"),
        Field("pitch", "f32", "deg", -90, 90, "nose elevation above the local horizon"),
        Field("yaw", "f32", "deg", 0, 360, "heading, 0 north, 90 east"),
    ), "Attitude status."),
)

NAV = DeviceIcd(
    name="nav",
    apid=0x142,
    meaning="The navigation solution: height above the mean radius of Mars and velocity.",
    commands=(),
    status=Message("status", 3, 25, (
        Field("altitude", "f32", "km", -10, 2000, "altitude above the mean radius of Mars"),
        Field("speed", "f32", "m/s", 0, 6000, "speed, inertial"),
        Field("vertical_speed", "f32", "m/s", -6000, 6000, "radial speed, positive up"),
    ), "Navigation status."),
)

TVC = DeviceIcd(
    name="tvc",
    apid=0x143,
    meaning="Movable SRM1 nozzle on two actuators; lost with the first stage at separation.",
    commands=(
        Message("gimbal", SERVICE_TVC, 1, (
            Field("pitch", "f32", "deg", -GIMBAL_LIMIT, GIMBAL_LIMIT, "nozzle deflection in "
                  "pitch; positive raises the nose"),
            Field("yaw", "f32", "deg", -GIMBAL_LIMIT, GIMBAL_LIMIT, "nozzle deflection in yaw; "
                  "positive turns the nose right"),
        ), "Drive the nozzle to a deflection; the actuators slew to it."),
    ),
    status=Message("status", 3, 25, (
        Field("pitch", "f32", "deg", -GIMBAL_LIMIT, GIMBAL_LIMIT, "nozzle deflection in pitch"),
        Field("yaw", "f32", "deg", -GIMBAL_LIMIT, GIMBAL_LIMIT, "nozzle deflection in yaw"),
        Field("moving", "bool", "-", 0, 1, "the actuators are still slewing"),
        Field("attached", "bool", "-", 0, 1, "the first stage (and its nozzle) is attached"),
    ), "TVC status."),
    failures={FAIL_SEPARATED: "separated"},
)

SPIN = DeviceIcd(
    name="spin",
    apid=0x144,
    meaning="Spin-up motor of the second stage, which flies spin-stabilised.",
    commands=(
        Message("spin_up", SERVICE_SPIN, 1, (
            Field("rate", "f32", "rpm", 0, SPIN_MAX, "spin rate to reach"),
        ), "Spin the second stage up (or down) to a rate; only after stage separation."),
    ),
    status=Message("status", 3, 25, (
        Field("rate", "f32", "rpm", -300, 300, "spin rate about the long axis"),
        Field("target", "f32", "rpm", 0, SPIN_MAX, "commanded spin rate"),
        Field("separated", "bool", "-", 0, 1, "the first stage has separated"),
    ), "Spin motor status."),
    failures={FAIL_NOT_SEPARATED: "not_separated"},
)

OS_LATCH = DeviceIcd(
    name="os_latch",
    apid=0x145,
    meaning="The latch holding the Orbiting Sample on the second stage.",
    commands=(
        Message("release", SERVICE_LATCH, 1, (), "Open the latch: the OS is let go, for good.",
                hazardous=True, effect=Effect("latched", False, "the latch reads open")),
    ),
    status=Message("status", 3, 25, (
        Field("latched", "bool", "-", 0, 1, "the latch is closed on the OS"),
        Field("slots", "u32", "-", 0, 4294967295, "the OS's slot switches as the latch's "
              "connector reads them: bit n set when slot n holds a tube; 0 once the latch is "
              "open"),
    ), "OS latch status."),
    failures={FAIL_ALREADY_RELEASED: "already_released"},
)

UMBILICAL = DeviceIcd(
    name="umbilical",
    apid=0x146,
    meaning="The lander-MAV umbilical: the lander's igloo readings (propellant and heater "
            "zones) as the MAV sees them, until the toss breaks the umbilical.",
    commands=(),
    status=Message("status", 3, 25, (
        Field("propellant", "f32", "degC", -150, 100, "MAV solid propellant temperature, the "
              "igloo's propellant thermistor (limit -40 degC)", limits=PROPELLANT_LIMITS),
        Field("zone_min", "f32", "degC", -150, 100, "coldest of the 16 heater-zone thermistors "
              "(an open thermistor reads -150)", limits=ZONE_LIMITS),
        Field("zone_max", "f32", "degC", -150, 100, "warmest of the 16 heater-zone "
              "thermistors", limits=ZONE_LIMITS),
        Field("zones_out", "u8", "-", 0, 16, f"heater zones reading outside {ZONE_LOW:g}.."
              f"{ZONE_HIGH:g} degC"),
        Field("connected", "bool", "-", 0, 1, "the umbilical is mated and carrying the "
              "lander's readings (false before the first and after the toss: values held)"),
    ), "Umbilical status."),
)
# fmt: on

BOARD = BoardIcd(
    name="mav_avionics",
    node="mav",
    devices=(IMU, ATTITUDE, NAV, TVC, SPIN, OS_LATCH, UMBILICAL),
    meaning="MAV avionics: IMU, attitude and navigation, TVC, spin-up motor, OS release latch, "
    "the lander umbilical's igloo temperatures.",
)
