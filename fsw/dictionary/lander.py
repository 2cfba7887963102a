"""The lander's app declarations: the Sample Transfer Arm (``sta``) and the igloo's thermal
control (``igloo``).

Private services (application data big-endian):

=========  ======================  ==================================================
TC         name                    data
=========  ======================  ==================================================
[160,1]    sta.load_tube           source uint8 (:data:`SOURCES` index): survey it,
                                   grasp the first tube, read and verify its serial,
                                   insert it into a free OS slot, verify seating,
                                   release, retract
[160,2]    sta.stow                none: the arm to its stowed pose
[160,3]    sta.open_lid            none
[160,4]    sta.close_lid           none: close and latch the OS lid
[160,5]    sta.hand_over           none: the lid latched and the OS in the MAV nose;
                                   the inventory hands every tube over (custody ->
                                   ``in_mav``)
[160,6]    sta.confirm_serial      serial uint32: the ground's reading of a tube the
                                   cameras could not read
[160,7]    sta.stop                none: stop the arm and the operation in progress
[160,8]    sta.clear_fault         joint uint8: clear a latched stall/over-current
[160,9]    sta.report_custody      none: one TM[160,128] per tube (the inventory)
[161,1]    igloo.condition         setpoint f32 degC: heater zones held at it
[161,2]    igloo.heaters_off       none
[161,3]    igloo.open_door         none
[161,4]    igloo.close_door        none
=========  ======================  ==================================================

TM[160,128] custody report ``sta.custody``: the layout every node's custody report shares
(:mod:`fsw.dictionary.custody`): ``count`` rows of serial, place (:data:`PLACES`; a slot is
``os_slot`` with the slot number), slot, status, step and since. Sent with a tube's new step at
each of its moves, and with every step of every tube on ``sta.report_custody``.
"""

from __future__ import annotations

from typing import Final

from fsw.dictionary.core import board_health
from fsw.dictionary.custody import PLACES, SOURCES, SUBTYPE_CUSTODY, custody_fields
from fsw.dictionary.model import AppDeclarations
from fsw.dictionary.model import declare_field as _f
from fsw.dictionary.model import limit_set as _limits
from hal.protocol.devices.icd import Limits, enum
from hal.protocol.devices.sta_arm import JOINT_NAMES

__all__ = ["BOARDS", "LID_STATES", "PLACES", "SOURCES", "STA_STATES", "declare"]

BOARDS: Final[tuple[str, ...]] = ("sta_arm", "sta_vision", "os_container", "igloo")
"""The boards the node drives (its ``health.boards`` packet has one value per board)."""

STA_STATES: Final = (
    "idle", "moving", "surveying", "grasping", "reading", "inserting", "releasing",
    "retracting", "lid", "awaiting_serial", "stopped", "handed_over",
)  # fmt: skip
"""The arm app's state by its HK code."""
LID_STATES: Final = ("unknown", "open", "closed", "latched")
"""The OS lid as ``sta.status.lid`` reports it, by code."""
SERVICE_STA: Final = 160
SERVICE_IGLOO: Final = 161


OS_TEMP_LIMITS: Final = _limits((-60.0, 25.0), (-80.0, 30.0))
"""The OS container's temperature: the samples stay below about 30 degC (MSR_FACTS), a
caution from 25; the low ends are this project's choice (the container sits near -20 degC on
the lander; an open thermistor reads -150)."""
ZONE_LIMITS: Final = _limits((-40.0, 40.0), (-45.0, 50.0))
"""An igloo heater zone: red outside the zone fault limits ``igloo.zone_low`` -45 and
``igloo.zone_high`` 50 degC; a caution outside the propellant's -40 degC limit (MSR_FACTS)
and the launch's warmest zone ``launch.zone_high`` 40 degC."""
PROPELLANT_LIMITS: Final = _limits((-35.0, 40.0), (-40.0, 50.0))
"""The MAV propellant: it must stay above -40 degC (MSR_FACTS), a caution within 5 K of it;
the highs are the zones' (bench upper storage limit 40 degC, fault limit 50)."""


def declare(apps: AppDeclarations) -> None:
    """The lander's app commands, packets, events and parameters."""
    ops = ("nominal", "critical")
    c = apps.command
    c("sta.load_tube", 160, 1, "load the first tube found at a source into a free OS slot",
      _f("source", "u8", "-", 0, len(SOURCES) - 1, "0 rover cache, 1 depot, 2 ground near "
         "the lander", enum(*SOURCES)), modes=ops)  # fmt: skip
    c("sta.stow", 160, 2, "move the arm to its stowed pose", modes=ops)
    c("sta.open_lid", 160, 3, "open the OS lid", modes=ops)
    c("sta.close_lid", 160, 4, "close and latch the OS lid", modes=ops)
    c("sta.hand_over", 160, 5, "hand the loaded OS over to the MAV: lid latched, custody of "
      "every tube passes to in_mav", modes=ops)  # fmt: skip
    c("sta.confirm_serial", 160, 6, "the ground's reading of a tube the cameras cannot read",
      _f("serial", "u32", "-", 1, 999999, "the tube's etched serial number"))  # fmt: skip
    c("sta.stop", 160, 7, "stop the arm and the operation in progress")
    c("sta.clear_fault", 160, 8, "clear a latched stall or over-current on a joint",
      _f("joint", "u8", "-", 0, 6, "0 shoulder yaw .. 6 wrist roll",
         enum(*JOINT_NAMES)))  # fmt: skip
    c("sta.report_custody", 160, 9, "report every tube of the inventory (TM[160,128])")
    c("igloo.condition", 161, 1, "hold every heater zone at a setpoint",
      _f("setpoint", "f32", "degC", -40, 40, "zone temperature to hold"), modes=ops)  # fmt: skip
    c("igloo.heaters_off", 161, 2, "switch every heater off (conditioning ends)")
    c("igloo.open_door", 161, 3, "open the igloo door (sample loading)", modes=ops)
    c("igloo.close_door", 161, 4, "close the igloo door", modes=ops)

    apps.hk.append(board_health(apps.node, apps.apid, BOARDS))
    apps.packet(
        "sta.status", 10, "the Sample Transfer Arm and the sample inventory",
        _f("state", "u8", "-", 0, len(STA_STATES) - 1, "the app's state (STA_STATES)",
           enum(*STA_STATES), Limits(yellow_states=("awaiting_serial", "stopped"))),
        _f("holding", "u32", "-", 0, 999999, "serial of the tube in the gripper, 0 none"),
        _f("tubes_loaded", "u8", "-", 0, 255, "tubes seated in OS slots"),
        _f("tubes_known", "u8", "-", 0, 255, "tubes in the inventory"),
        _f("tubes_in_mav", "u8", "-", 0, 255, "tubes handed over to the MAV"),
        _f("free_slots", "u8", "-", 0, 255, "OS slots free"),
        _f("retries", "u16", "-", 0, 65535, "grasp, read and seat retries since boot"),
        _f("lid", "u8", "-", 0, 3, "OS lid: 0 unknown, 1 open, 2 closed, 3 latched",
           enum(*LID_STATES), Limits(yellow_states=("unknown",))),
        _f("max_current", "f32", "A", 0, 20, "highest joint motor current now (the arm stops "
           "at sta.max_current, 4.5 A by default)", limits=_limits((None, 3.5), (None, 4.5))),
        _f("violations", "u8", "-", 0, 255, "inventory invariant violations (0)",
           limits=_limits((None, 0), (None, 0))),
        _f("os_temp", "f32", "degC", -150, 100, "OS container thermistor, read every "
           "sta.thermal_period (the samples stay below about 30 degC, MSR_FACTS)",
           limits=OS_TEMP_LIMITS),
        period=5.0,
    )  # fmt: skip
    apps.packet(
        "igloo.status", 11, "the MAV igloo: heater zones, propellant and door",
        _f("conditioning", "bool", "-", 0, 1, "the zones are held at the setpoint"),
        _f("setpoint", "f32", "degC", -40, 40, "zone setpoint"),
        _f("zone_min", "f32", "degC", -150, 100, "coldest zone", limits=ZONE_LIMITS),
        _f("zone_max", "f32", "degC", -150, 100, "warmest zone", limits=ZONE_LIMITS),
        _f("zones_failed", "u8", "-", 0, 16, "zones left off: both heater elements or the "
           "thermistor failed", limits=_limits((None, 0), (None, 1))),
        _f("zones_redundant", "u8", "-", 0, 16, "zones switched to their redundant heater "
           "element (their prime one opened)", limits=_limits((None, 0), (None, None))),
        _f("propellant", "f32", "degC", -150, 100, "MAV propellant temperature",
           limits=PROPELLANT_LIMITS),
        _f("door", "f32", "%", 0, 100, "door position, 0 closed"),
        period=10.0,
    )  # fmt: skip

    apps.report(
        "sta.custody", SERVICE_STA, SUBTYPE_CUSTODY, "one tube of the onboard inventory, sent "
        "at each of its moves and for each tube on sta.report_custody", *custody_fields(),
    )  # fmt: skip

    e = apps.event
    e("sta.tube_loaded", "info", "a tube is seated in an OS slot (serial, slot)")
    e("sta.tube_rejected", "medium", "a tube that would not seat was set down near the lander")
    e("sta.grasp_slip", "medium", "a tube slipped from the gripper (retried or stopped)")
    e("sta.not_seated", "low", "a tube did not seat; reseating")
    e("sta.serial_unreadable", "medium", "the cameras cannot read a tube's serial: the ground "
      "is asked for it (sta.confirm_serial)")  # fmt: skip
    e("sta.serial_mismatch", "medium", "the serial read does not match the tube expected")
    e("sta.arm_fault", "high", "a joint stalled or drew over-current: the arm is stopped")
    e("sta.encoder_glitch", "medium", "a joint read further than its drive can move: the "
      "reading is ignored (three in a row stop the arm)")  # fmt: skip
    e("sta.source_empty", "info", "no tube found at a source")
    e("sta.lid", "info", "the OS lid opened, closed or latched")
    e("sta.handed_over", "info", "the OS and every tube in it are handed over to the MAV")
    e("sta.custody_restore", "high", "the stored inventory was refused (detail: why)")
    e("igloo.zone_fault", "medium", "a heater zone failed or left its limits")
    e("igloo.door", "info", "the igloo door opened or closed")

    p = apps.parameter
    p(100, "sta.rate", "float", "deg/s", 0.5, 5, 4.0, "joint slew rate for transit moves "
      "(the drives allow 5 deg/s)")  # fmt: skip
    p(101, "sta.grip_force", "float", "N", 5, 60, 25.0, "gripper force on a tube")
    p(102, "sta.min_grip_force", "float", "N", 1, 60, 15.0, "force that counts as a good grasp")
    p(103, "sta.grasp_retries", "int", "-", 0, 5, 2, "grasp attempts after a slip")
    p(104, "sta.seat_retries", "int", "-", 0, 5, 2, "reseat attempts before a tube is rejected")
    p(105, "sta.read_retries", "int", "-", 0, 5, 2, "serial reads at other wrist angles")
    p(106, "sta.min_confidence", "float", "-", 0.5, 1, 0.8, "serial read confidence needed")
    p(107, "sta.poll", "float", "s", 0.1, 10, 5.0, "longest wait between arm status reads "
      "in a move (the drives stop a stalled joint themselves)")  # fmt: skip
    p(108, "sta.move_timeout", "float", "s", 10, 600, 120.0, "longest a move may take")
    p(109, "sta.ground_timeout", "float", "s", 60, 86400, 3600.0, "wait for the ground's "
      "serial reading")  # fmt: skip
    p(110, "sta.max_current", "float", "A", 0.5, 10, 4.5, "joint current that stops the arm")
    p(111, "sta.lid_timeout", "float", "s", 5, 600, 60.0, "longest a lid or latch move takes")
    p(112, "sta.thermal_period", "float", "s", 1, 3600, 60.0, "the OS container's thermistor "
      "is read this often (fault protection judges it)")  # fmt: skip
    p(120, "igloo.control_period", "float", "s", 1, 3600, 60.0, "heater control period")
    p(121, "igloo.gain", "float", "-/K", 0.01, 2, 0.2, "duty per kelvin below the setpoint")
    p(122, "igloo.zone_low", "float", "degC", -100, 40, -45.0, "a zone below this is a fault")
    p(123, "igloo.zone_high", "float", "degC", -40, 100, 50.0, "a zone above this is a fault")
