"""ICD of the brazing board (orbiter, CCRS): break-the-chain brazing of the containment seam.

Once the Orbiting Sample is inside the primary containment vessel, an induction coil heats the
vessel's seam above :data:`BRAZE_TEMPERATURE` (about 538 degC is cited) to sterilise the outside,
separate the vessel from the capture hardware and seal it. Thermocouples around the seam report
the profile; the board declares the braze done once every thermocouple has held the braze
temperature for :data:`BRAZE_DWELL` seconds. A seal check then measures the leak rate of the cold
seam. Conventions common to every device (ping, status request, completion and failure reports)
are in :mod:`hal.protocol.devices.icd`.

==============  =====  ==============================================================
device          APID   what it is
==============  =====  ==============================================================
heater          0x180  induction heater drive: power set-point, on/off, delivered power
thermocouples   0x181  four thermocouples on the seam, peak and time at braze temperature
seal            0x182  seal check of the brazed seam: sealed flag and measured leak rate
==============  =====  ==============================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. Hazardous commands, never re-sent blindly: after a lost reply the driver
reads the status, which shows each done as: ``heater.on`` (``on = true``).
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Effect, Field, Limits, LimitSet, Message

THERMOCOUPLES: Final = 4
MAX_POWER: Final = 2000.0  # W
BRAZE_TEMPERATURE: Final = 500.0  # degC, the least every thermocouple must hold
BRAZE_DWELL: Final = 60.0  # s at or above the braze temperature
SEAL_CHECK_MAX_TEMPERATURE: Final = 100.0  # degC, the seam must be this cold to be checked
LEAK_LIMIT: Final = 1e-7  # Pa m3/s, the most a sealed seam leaks
CUTOUT_TEMPERATURE: Final = 700.0  # degC, the heater's over-temperature cut-out
CUTOUT_RESET: Final = 600.0  # degC, below which the drive may be switched on again
SEAM_LIMITS: Final = Limits(LimitSet(yellow=(None, 650.0), red=(None, CUTOUT_TEMPERATURE)))
"""A seam thermocouple: red at the cut-out, a caution above the flight software's heater-off
limit (``ccrs.braze_max_temp``, 650 degC)."""
LEAK_LIMITS: Final = Limits(LimitSet(yellow=(None, LEAK_LIMIT / 2), red=(None, LEAK_LIMIT)))
"""The last seal check's leak rate: red above the limit, a caution above half of it."""
SERVICE_HEATER: Final = 180
SERVICE_THERMOCOUPLES: Final = 181
SERVICE_SEAL: Final = 182

FAIL_NO_POWER_SET: Final = 16
FAIL_SEAM_HOT: Final = 17
FAIL_CHECK_RUNNING: Final = 18
FAIL_OVER_TEMPERATURE: Final = 19

# fmt: off
HEATER = DeviceIcd(
    name="heater",
    apid=0x180,
    meaning="Induction heater drive around the containment vessel's seam.",
    commands=(
        Message("set_power", SERVICE_HEATER, 1, (
            Field("power", "f32", "W", 0, MAX_POWER, "power set-point of the induction drive"),
        ), "Set the power the drive delivers when on (takes effect at once if on)."),
        Message("on", SERVICE_HEATER, 2, (), "Switch the drive on at the set power (brazing "
                "power: hazardous); refused with no power set, during a seal check, or while the "
                "seam is still above the cut-out's reset temperature.", hazardous=True,
                effect=Effect("on", True, "the drive reads on")),
        Message("off", SERVICE_HEATER, 3, (), "Switch the drive off."),
    ),
    status=Message("status", 3, 25, (
        Field("on", "bool", "-", 0, 1, "the drive is switched on"),
        Field("power_set", "f32", "W", 0, MAX_POWER, "power set-point"),
        Field("power", "f32", "W", 0, MAX_POWER, "power delivered to the coil now"),
        Field("energy", "f32", "kJ", 0, 1e6, "energy delivered since power-up"),
        Field("over_temperature", "bool", "-", 0, 1, "the cut-out tripped (seam above its "
              "limit); latched until the seam has cooled and the drive is switched on again"),
    ), "Heater drive status."),
    failures={
        FAIL_NO_POWER_SET: "no_power_set",
        FAIL_CHECK_RUNNING: "check_running",
        FAIL_OVER_TEMPERATURE: "over_temperature",
    },
)

THERMOCOUPLE_DEVICE = DeviceIcd(
    name="thermocouples",
    apid=0x181,
    meaning="Type K thermocouples spaced evenly around the seam.",
    commands=(
        Message("reset_braze", SERVICE_THERMOCOUPLES, 1, (), "Clear the peak, the time at braze "
                "temperature and the brazed flag, before a new braze attempt."),
    ),
    status=Message("status", 3, 25, (
        Field("temperature", "f32", "degC", -150, 1000, "seam temperature per thermocouple",
              count=THERMOCOUPLES, limits=SEAM_LIMITS),
        Field("peak", "f32", "degC", -150, 1000, "highest coolest-thermocouple reading "
              "since reset (the seam's guaranteed peak)"),
        Field("time_at_braze", "f32", "s", 0, 1e6, "time every thermocouple has read at or "
              "above the braze temperature since reset"),
        Field("brazed", "bool", "-", 0, 1, "the seam held the braze temperature for the dwell"),
    ), "Seam temperature profile."),
)

SEAL = DeviceIcd(
    name="seal",
    apid=0x182,
    meaning="Leak check of the brazed seam (pressure decay of the primary containment vessel).",
    commands=(
        Message("check", SERVICE_SEAL, 1, (
            Field("duration", "f32", "s", 5, 600, "how long to measure the pressure decay"),
        ), "Start a seal check; the result is in the status once ``checking`` clears. Refused "
           "while the heater is on or the seam is hotter than the check allows."),
    ),
    status=Message("status", 3, 25, (
        Field("checking", "bool", "-", 0, 1, "a seal check is running"),
        Field("checked", "bool", "-", 0, 1, "a seal check has completed since power-up"),
        Field("sealed", "bool", "-", 0, 1, "the last check measured a leak rate within the "
              "limit"),
        Field("leak_rate", "f32", "Pa m3/s", 0, 1, "leak rate measured by the last check",
              limits=LEAK_LIMITS),
        Field("checks", "u16", "-", 0, 65535, "seal checks completed since power-up"),
    ), "Seal check status."),
    failures={FAIL_SEAM_HOT: "seam_hot", FAIL_CHECK_RUNNING: "check_running"},
)

# fmt: on

BOARD = BoardIcd(
    name="braze",
    node="orbiter",
    devices=(HEATER, THERMOCOUPLE_DEVICE, SEAL),
    meaning="Break-the-chain brazing of the primary containment vessel, on the Earth Return "
    "Orbiter's capture, containment and return system.",
)
