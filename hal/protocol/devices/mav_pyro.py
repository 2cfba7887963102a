"""ICD of the MAV pyrotechnic board (mav): safety inhibits, arm plug and the three pyro channels.

The Mars Ascent Vehicle is launched by pyrotechnics: the lander's toss actuator throws the rocket
upward, the first-stage igniter (SRM1) lights just after, and the second-stage igniter (SRM2) after
the coast. A channel fires only when the board's firing bus is live: three independent inhibits
removed (each by its own command, from the flight software's hazardous-command gate) *and* the arm
plug inserted (a physical plug, put in on the pad or the bench: no command moves it). The board
itself refuses a fire command otherwise (``inhibited``, detail: bit 0..2 for each inhibit still in
place; ``not_armed``), refuses to fire a channel already fired (``already_fired``) and refuses one
whose bridgewire is open (``no_continuity``). Conventions common to every device (ping, status
request, completion and failure reports) are in :mod:`hal.protocol.devices.icd`.

Each channel measures its bridgewire with a safe, low continuity current: about
:data:`BRIDGEWIRE_OHMS` when intact, :data:`OPEN_OHMS` (the top of the range) when open. A fired
initiator opens its bridgewire; a channel that was fired but still shows continuity did not fire.

=========  =====  ==================================================================
device     APID   what it is
=========  =====  ==================================================================
inhibit_1  0x150  first safety inhibit of the firing bus (removed / in place)
inhibit_2  0x151  second safety inhibit, on an independent switch
inhibit_3  0x152  third safety inhibit, on an independent switch
arm_plug   0x153  the arm plug (inserted by hand) and the firing bus state
toss       0x154  the lander's toss actuator initiator, throws the MAV upward
srm1       0x155  first-stage solid rocket motor igniter
srm2       0x156  second-stage solid rocket motor igniter
=========  =====  ==================================================================

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the board answers a
repeated request (same request id, same content) from its memory, without acting again, so a driver
retries with the same id. Hazardous commands, never re-sent blindly: after a lost reply the driver
reads the status, which shows each done as: ``inhibit_1.remove`` (``removed = true``),
``inhibit_2.remove`` (``removed = true``), ``inhibit_3.remove`` (``removed = true``), ``toss.fire``
(``fired = true``), ``srm1.fire`` (``fired = true``), ``srm2.fire`` (``fired = true``).
"""

from __future__ import annotations

from typing import Final

from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Effect, Field, Message

INHIBITS: Final = ("inhibit_1", "inhibit_2", "inhibit_3")
CHANNELS: Final = ("toss", "srm1", "srm2")
IGNITERS: Final = ("srm1", "srm2")
SERVICE_INHIBIT: Final = 150
SERVICE_PYRO: Final = 151

FAIL_INHIBITED: Final = 16
FAIL_NOT_ARMED: Final = 17
FAIL_ALREADY_FIRED: Final = 18
FAIL_NO_CONTINUITY: Final = 19

BRIDGEWIRE_OHMS: Final = 1.05
OPEN_OHMS: Final = 20.0
CONTINUITY_MAX_OHMS: Final = 2.0
"""A channel shows continuity when its bridgewire reads at most this many ohms."""

PYRO_FAILURES: Final = {
    FAIL_INHIBITED: "inhibited",
    FAIL_NOT_ARMED: "not_armed",
    FAIL_ALREADY_FIRED: "already_fired",
    FAIL_NO_CONTINUITY: "no_continuity",
}


def _inhibit(name: str, apid: int, ordinal: str) -> DeviceIcd:
    return DeviceIcd(
        name=name,
        apid=apid,
        meaning=f"The {ordinal} of three independent safety inhibits of the pyro firing bus.",
        commands=(
            Message("remove", SERVICE_INHIBIT, 1, (), f"Open the {ordinal} inhibit (one step "
                    "toward a live firing bus).", hazardous=True,
                    effect=Effect("removed", True, "the inhibit reads removed")),
            Message("restore", SERVICE_INHIBIT, 2, (), f"Put the {ordinal} inhibit back in "
                    "place (safes the firing bus)."),
        ),
        status=Message("status", 3, 25, (
            Field("removed", "bool", "-", 0, 1, "the inhibit is removed (not safing the bus)"),
        ), f"{ordinal.capitalize()} inhibit status."),
    )  # fmt: skip


def _channel(name: str, apid: int, what: str) -> DeviceIcd:
    return DeviceIcd(
        name=name,
        apid=apid,
        meaning=what,
        commands=(
            Message("fire", SERVICE_PYRO, 1, (
                Field("pulse", "u16", "ms", 10, 100, "firing current pulse width"),
            ), "Fire the initiator: refused unless the three inhibits are removed and the arm "
               "plug is in, and if the channel was already fired or has no continuity.",
               hazardous=True, effect=Effect("fired", True, "the channel reads fired")),
        ),
        status=Message("status", 3, 25, (
            Field("resistance", "f32", "ohm", 0, OPEN_OHMS, "bridgewire resistance measured "
                  "with the continuity current; the top of the range means open"),
            Field("continuity", "bool", "-", 0, 1, f"bridgewire intact (at most "
                  f"{CONTINUITY_MAX_OHMS} ohm)"),
            Field("fired", "bool", "-", 0, 1, "the initiator has fired (sensed, latched)"),
        ), f"{name} channel status."),
        failures=dict(PYRO_FAILURES),
    )  # fmt: skip


INHIBIT_1 = _inhibit("inhibit_1", 0x150, "first")
INHIBIT_2 = _inhibit("inhibit_2", 0x151, "second")
INHIBIT_3 = _inhibit("inhibit_3", 0x152, "third")

# fmt: off
ARM_PLUG = DeviceIcd(
    name="arm_plug",
    apid=0x153,
    meaning="The arm plug, inserted by hand before launch; the board senses it and the bus.",
    commands=(),
    status=Message("status", 3, 25, (
        Field("inserted", "bool", "-", 0, 1, "the arm plug is in its socket"),
        Field("armed", "bool", "-", 0, 1, "firing bus live: plug in and all three inhibits "
              "removed"),
    ), "Arm plug status."),
)
# fmt: on

TOSS = _channel("toss", 0x154, "Initiator of the lander's toss actuator, throws the MAV upward.")
SRM1 = _channel("srm1", 0x155, "Igniter of the first-stage solid rocket motor (SRM1).")
SRM2 = _channel("srm2", 0x156, "Igniter of the second-stage solid rocket motor (SRM2).")

BOARD = BoardIcd(
    name="mav_pyro",
    node="mav",
    devices=(INHIBIT_1, INHIBIT_2, INHIBIT_3, ARM_PLUG, TOSS, SRM1, SRM2),
    meaning="MAV pyrotechnic controller: inhibits, arm plug, toss, SRM1 and SRM2 igniters.",
)
