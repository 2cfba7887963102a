"""The orbiter's app declarations: the capture, containment and return system (``ccrs``).

Private service 180 (application data big-endian). Every command runs in mode nominal or
critical; the two hazardous ones only in critical, through the gate (``gate.arm`` with
``command = 180 << 8 | subtype``, their inhibits removed, the app's preconditions true):

=========  ============================  ===========================================================
TC         name                          data / what it does
=========  ============================  ===========================================================
[180,1]    ccrs.search                   none: NAC search, detect, track, close in, arm the capture
                                         at ``ccrs.arm_time`` s to contact, trip, confirm; a missed
                                         trigger or a partial capture re-approaches (bounded).
                                         Completes when the OS is captured (``captured``)
[180,2]    ccrs.orient                   none: image the OS (LED on), turn it to
                                         ``ccrs.orientation_target``, image it again and downlink
                                         the summary (``ccrs.image``, SID 31): ``orient_check``
[180,3]    ccrs.confirm_orientation      ok bool: the ground's verdict from the image: ``oriented``,
                                         or (0) re-orient from another rotation
[180,4]    ccrs.contain                  none: close the primary containment vessel on the OS
                                         (a low-power induction tack): ``contained``
[180,5]    ccrs.braze (hazardous)        none: break-the-chain braze, cool, seal check: ``sealed``
                                         (inhibit ``braze``; precondition ``contained``)
[180,6]    ccrs.transfer                 none: the gantry carries the vessel into the EES
[180,7]    ccrs.stow                     none: the gantry back to its stow latch
[180,8]    ccrs.release_ees (hazardous)  none: release the Earth Entry System (inhibit
                                         ``ees_release``; preconditions ``stowed``, ``sealed``,
                                         ``not_released``)
=========  ============================  ===========================================================

Housekeeping ``ccrs.status`` (SID 30, 1 s) and the image summary ``ccrs.image`` (SID 31: sent
once per image by the app, then every 600 s while an image exists, and on ``hk.report``). The
state code of ``ccrs.status.state`` is the index in :data:`CCRS_STATES`.

The OS's manifest (component ``manifest``, service 165, :mod:`fsw.dictionary.custody`): the
ground relays the MAV's custody of each tube (``manifest.load``); the orbiter moves it with the
OS as the CCRS captures, contains and transfers it, and checks it against the OS's slot switches
through the capture mechanism (decision 0053).
"""

from __future__ import annotations

from typing import Final

from fsw.dictionary.core import board_health
from fsw.dictionary.custody import declare_manifest
from fsw.dictionary.model import AppDeclarations
from fsw.dictionary.model import declare_field as _f
from hal.protocol.devices.icd import Limits, LimitSet, enum

__all__ = [
    "BOARDS",
    "CAMERAS",
    "CCRS_STATES",
    "DECISIONS",
    "INHIBITS",
    "SERVICE_CCRS",
    "SID_IMAGE",
    "SID_STATUS",
    "declare",
]

BOARDS: Final[tuple[str, ...]] = ("nac_camera", "capture", "orient", "braze", "ees_gantry")
"""The boards the node drives (its ``health.boards`` packet has one value per board)."""

SERVICE_CCRS: Final = 180
ORBITER_HOLDS: Final = ("in_orbit", "captured", "primary_containment_vessel", "ees")
"""Where the OS goes on the orbiter (its ``manifest`` component, :mod:`fsw.dictionary.custody`)."""
SID_STATUS: Final = 30
SID_IMAGE: Final = 31
INHIBITS: Final = ("braze", "ees_release")
"""The orbiter's onboard inhibits, by index (``gate.remove_inhibit inhibit=<index>``)."""
CCRS_STATES: Final[tuple[str, ...]] = (
    "idle", "search", "track", "close_in", "capture_armed", "triggered", "captured",
    "orient", "orient_check", "oriented", "contain", "contained", "braze", "seal_check",
    "sealed", "transfer", "transferred", "stow", "stowed", "release", "ees_released", "hold",
)  # fmt: skip
"""The CCRS app's state by its u8 code (``ccrs.status.state``)."""
CAMERAS: Final = ("camera_a", "camera_b")
"""The orientation cameras by their code in ``ccrs.image.camera``."""
DECISIONS: Final = ("ambiguous", "oriented", "off_target")
"""The board's decision on an image, by its code in ``ccrs.image.decision``."""


SEAM_LIMITS: Final = Limits(
    LimitSet(yellow=(None, 100.0), red=(None, 150.0)),
    modes=(("critical", LimitSet(yellow=(None, 650.0), red=(None, 700.0))),),
)
"""A seam thermocouple: the braze runs only in critical mode, where the heater is switched off
above ``ccrs.braze_max_temp`` 650 degC (a caution) under the board's 700 degC cut-out (red);
in any other mode the seam is cold: a caution above the 100 degC the seal check allows, red
above 150 degC."""
LEAK_LIMITS: Final = Limits(LimitSet(yellow=(None, 5e-8), red=(None, 1e-7)))
"""The leak rate of a seal check: red above ``ccrs.leak_limit`` 1e-7 Pa m3/s (the board's
limit), a caution above half of it."""


def declare(apps: AppDeclarations) -> None:
    """The orbiter's app commands, packets, events and parameters."""
    apps.inhibits.extend(INHIBITS)
    ops = ("nominal", "critical")
    s = SERVICE_CCRS
    c = apps.command
    c("ccrs.search", s, 1, "search for the OS with the NAC, track and close in, arm the capture, "
      "capture and confirm (completes when captured)", modes=ops)  # fmt: skip
    c("ccrs.orient", s, 2, "orient the captured OS and downlink its image (ccrs.image)",
      modes=ops)  # fmt: skip
    c("ccrs.confirm_orientation", s, 3, "the ground's verdict on the orientation image",
      _f("ok", "bool", "-", 0, 1, "1: the orientation is right; 0: orient again from another "
         "rotation"), modes=ops)  # fmt: skip
    c("ccrs.contain", s, 4, "close the primary containment vessel on the oriented OS", modes=ops)
    c("ccrs.braze", s, 5, "break-the-chain braze of the vessel's seam, then the seal check",
      window=120.0, inhibits=("braze",), modes=("critical",))  # fmt: skip
    c("ccrs.transfer", s, 6, "carry the sealed vessel into the Earth Entry System", modes=ops)
    c("ccrs.stow", s, 7, "return the gantry to its stow latch", modes=ops)
    c("ccrs.release_ees", s, 8, "release the Earth Entry System (irreversible)",
      window=120.0, inhibits=("ees_release",), modes=("critical",))  # fmt: skip
    c("ccrs.correct_orientation", s, 9, "the OS's orientation as the ground measured it on the "
      "downlinked image: turn the OS by its error from ccrs.orientation_target, take one image "
      "and downlink it for the ground to confirm",
      _f("measured", "f32", "deg", 0, 360, "the OS's orientation read on the image"),
      modes=ops)  # fmt: skip

    apps.hk.append(board_health(apps.node, apps.apid, BOARDS))
    apps.packet(
        "ccrs.status", SID_STATUS, "the capture, containment and return system",
        _f("state", "u8", "-", 0, len(CCRS_STATES) - 1, "the app's state (CCRS_STATES)",
           enum(*CCRS_STATES), Limits(yellow_states=("hold",))),
        _f("range_km", "f32", "km", 0, 5000, "NAC range to the OS (last measurement)"),
        _f("time_to_contact", "f32", "s", -1, 1e6, "range over closing rate; -1 when the OS "
           "is not detected or not closing"),
        _f("detections", "u16", "-", 0, 65535, "times the NAC acquired the OS"),
        _f("capture_attempts", "u8", "-", 0, 255, "captures armed by this search"),
        _f("lid_angle", "f32", "deg", 0, 90, "capture lid, 90 open, 0 shut"),
        _f("orientation", "f32", "deg", 0, 360, "the OS's orientation from the last clear "
           "image"),
        _f("mechanism_angle", "f32", "deg", 0, 360, "orientation mechanism angle"),
        _f("seam_temp", "f32", "degC", -150, 1000, "coolest seam thermocouple now",
           limits=SEAM_LIMITS),
        _f("seam_hottest", "f32", "degC", -150, 1000, "hottest seam thermocouple now",
           limits=SEAM_LIMITS),
        _f("seam_max", "f32", "degC", -150, 1000, "highest coolest-thermocouple reading of "
           "the braze (the seam's guaranteed peak)"),
        _f("braze_time_above", "f32", "s", 0, 1e6, "time every thermocouple held the braze "
           "temperature"),
        _f("braze_attempts", "u8", "-", 0, 255, "heat attempts of the last braze"),
        _f("heater_power", "f32", "W", 0, 2000, "induction power set-point now"),
        _f("seal_ok", "bool", "-", 0, 1, "the seal check passed"),
        _f("leak_rate", "f32", "Pa m3/s", 0, 1, "leak rate of the last seal check",
           limits=LEAK_LIMITS),
        _f("gantry_position", "f32", "mm", 0, 1000, "EES gantry position"),
        _f("ees_released", "bool", "-", 0, 1, "the EES release was fired"),
        _f("state_time", "f32", "s", 0, 1e9, "seconds in the current state"),
        period=1.0,
    )  # fmt: skip
    apps.packet(
        "ccrs.image", SID_IMAGE, "summary of the last orientation image (the image itself "
        "comes down as a file by CFDP: files.status)",
        _f("image_id", "u32", "-", 0, 2**32 - 1, "the board's id of the image"),
        _f("camera", "u8", "-", 0, len(CAMERAS) - 1, "0 camera A, 1 camera B",
           enum(*CAMERAS)),
        _f("attempt", "u8", "-", 0, 255, "images taken by this orient operation"),
        _f("taken_at", "f32", "s", 0, 1e9, "mission time of the image"),
        _f("mechanism_angle", "f32", "deg", 0, 360, "mechanism angle when taken"),
        _f("orientation", "f32", "deg", 0, 360, "the board's estimate of the OS's orientation "
           "(0 when ambiguous)"),
        _f("target", "f32", "deg", 0, 360, "the orientation the vessel needs"),
        _f("error", "f32", "deg", -180, 180, "orientation minus target"),
        _f("decision", "u8", "-", 0, len(DECISIONS) - 1, "0 ambiguous, 1 oriented within "
           "tolerance, 2 off target", enum(*DECISIONS),
           Limits(yellow_states=("ambiguous", "off_target"))),
        _f("brightness", "u8", "-", 0, 255, "mean pixel value (LED lit: about 170)"),
        _f("checksum", "u32", "-", 0, 2**32 - 1, "CRC-32 of the image's octets"),
        period=600.0,
    )  # fmt: skip

    e = apps.event
    e("ccrs.state", "info", "the CCRS changed state (detail: from -> to, why)")
    e("ccrs.detected", "info", "the NAC acquired the OS (range, time to contact)")
    e("ccrs.lost", "low", "the NAC lost the OS; searching again")
    e("ccrs.armed", "info", "the capture is armed (range, time to contact, attempt)")
    e("ccrs.captured", "info", "capture confirmed by both switches")
    e("ccrs.missed_trigger", "medium", "the OS passed the cone without tripping the trigger: "
      "re-approach and re-arm")  # fmt: skip
    e("ccrs.partial_capture", "medium", "the lid shut on a partly captured OS (one switch): "
      "the lid is opened for a re-approach, or held when the attempts are spent")  # fmt: skip
    e("ccrs.search_failed", "high", "the search ended without a capture (detail: why)")
    e("ccrs.image", "info", "an orientation image was downlinked (id, decision, orientation)")
    e("ccrs.orientation_ambiguous", "low", "an image does not allow a decision: retaken at "
      "another rotation, or the ground decides")  # fmt: skip
    e("ccrs.oriented", "info", "the ground confirmed the orientation")
    e("ccrs.contained", "info", "the primary containment vessel is closed on the OS")
    e("ccrs.braze_profile", "info", "the seam's temperature profile during the braze")
    e("ccrs.braze_under_temperature", "medium", "the seam did not reach the braze temperature: "
      "re-heating at more power, or the braze failed")  # fmt: skip
    e("ccrs.seal", "info", "the seal check passed (leak rate)")
    e("ccrs.seal_leak", "high", "the seal check failed: the CCRS holds for the ground")
    e("ccrs.transferred", "info", "the vessel is latched in the Earth Entry System")
    e("ccrs.stowed", "info", "the gantry is stowed and latched")
    e("ccrs.released", "high", "the Earth Entry System was released")
    e("ccrs.restored", "info", "the state the CCRS restored after a reset")

    declare_manifest(apps, ORBITER_HOLDS, 190)
    apps.event("ccrs.image_unreadable", "medium", "an orientation image could not be read out "
               "of the board whole (its summary went down; the image file did not)")  # fmt: skip
    p = apps.parameter
    # Search, track and capture. The approach figures are the bench's (1200 km at 0.2 km/s,
    # sim_hardware.coupling.CouplingConfig); the capture board's OS dwell in the cone is 5 s.
    p(100, "ccrs.frame_period", "float", "s", 0.1, 60, 1.0, "NAC tracking frame period (one "
      "frame a second tracks a 0.2 km/s approach to 0.2 km)")  # fmt: skip
    p(101, "ccrs.search_poll", "float", "s", 1, 60, 10.0, "NAC status poll while far (the "
      "node idles between polls)")  # fmt: skip
    p(102, "ccrs.close_poll", "float", "s", 0.5, 10, 1.0, "poll once closing in and armed "
      "(the lid and the trigger act on their own; a second suffices)")  # fmt: skip
    p(103, "ccrs.close_in_time", "float", "s", 10, 3600, 300.0, "time to contact below which "
      "the CCRS closes in (polls fast)")  # fmt: skip
    p(104, "ccrs.arm_time", "float", "s", 5, 600, 60.0, "time to contact below which the "
      "capture is armed (well before the 5 s the OS spends in the cone)")  # fmt: skip
    p(105, "ccrs.search_timeout", "float", "s", 60, 86400, 3600.0, "longest search without "
      "detecting the OS")  # fmt: skip
    p(106, "ccrs.approach_timeout", "float", "s", 600, 172800, 36000.0, "longest search "
      "command (detect to capture, re-approaches included)")  # fmt: skip
    p(
        107,
        "ccrs.trigger_timeout",
        "float",
        "s",
        5,
        600,
        30.0,
        "after the expected contact, "
        "wait this long for the trip before declaring a missed trigger (6x the OS's dwell)",
    )
    p(108, "ccrs.capture_attempts", "int", "-", 1, 10, 3, "captures armed per search before "
      "giving up (missed trigger, partial or empty capture)")  # fmt: skip
    p(109, "ccrs.confirm_timeout", "float", "s", 3, 120, 10.0, "after the trip, wait this long "
      "for both capture switches (the lid shuts in 3 s)")  # fmt: skip
    p(110, "ccrs.lid_timeout", "float", "s", 3, 120, 15.0, "longest lid travel (3 s nominal)")
    # Orientation (the mechanism turns at 6 deg/s; an exposure takes 0.5 s).
    p(111, "ccrs.orientation_target", "float", "deg", 0, 360, 0.0, "the OS's orientation that "
      "fits the primary containment vessel")  # fmt: skip
    p(112, "ccrs.orientation_tolerance", "float", "deg", 0.1, 30, 2.0, "largest orientation "
      "error accepted on board (the board's estimate has 0.3 deg of noise)")  # fmt: skip
    p(113, "ccrs.retake_step", "float", "deg", 5, 180, 45.0, "rotation before retaking an "
      "ambiguous image")  # fmt: skip
    p(114, "ccrs.orient_attempts", "int", "-", 1, 10, 4, "images per orient operation before "
      "the ground is asked to decide")  # fmt: skip
    p(115, "ccrs.orient_timeout", "float", "s", 10, 600, 90.0, "longest rotation or exposure "
      "(a full turn takes 60 s)")  # fmt: skip
    # Containment and brazing (braze board: 0.35 degC/W at equilibrium, 120 s time constant,
    # cut-out at 700 degC, dwell 60 s above 500 degC; MSR_FACTS: above 500, about 538 degC).
    p(116, "ccrs.contain_power", "float", "W", 10, 500, 100.0, "induction power of the tack "
      "that closes the vessel (a few degrees of warming)")  # fmt: skip
    p(117, "ccrs.contain_time", "float", "s", 1, 120, 10.0, "duration of the tack")
    p(118, "ccrs.braze_min_temp", "float", "degC", 400, 650, 500.0, "every thermocouple must "
      "hold at least this (MSR_FACTS: above 500 degC)")  # fmt: skip
    p(119, "ccrs.braze_target", "float", "degC", 450, 650, 538.0, "the coolest thermocouple's "
      "set-point (MSR_FACTS: about 538 degC)")  # fmt: skip
    p(120, "ccrs.braze_hold", "float", "s", 10, 3600, 60.0, "time above braze_min_temp "
      "required (the board's dwell is 60 s)")  # fmt: skip
    p(121, "ccrs.braze_power", "float", "W", 100, 2000, 1800.0, "power ceiling of the first "
      "heat (equilibrium about 650 degC: under the 700 degC cut-out)")  # fmt: skip
    p(122, "ccrs.braze_power_step", "float", "W", 0, 1000, 100.0, "ceiling raised by this at "
      "each re-heat")  # fmt: skip
    p(123, "ccrs.braze_power_limit", "float", "W", 100, 2000, 2000.0, "highest ceiling ever "
      "(the drive's maximum)")  # fmt: skip
    p(124, "ccrs.braze_hold_power", "float", "W", 0, 2000, 1530.0, "feed-forward power that "
      "holds braze_target on the nominal coil (518 K / 0.97 / 0.35 W/K)")  # fmt: skip
    p(125, "ccrs.braze_gain", "float", "W/K", 0, 500, 50.0, "proportional gain on the coolest "
      "thermocouple (stable at a 5 s poll with the 120 s time constant)")  # fmt: skip
    p(126, "ccrs.braze_heat_timeout", "float", "s", 60, 7200, 450.0, "longest heat to "
      "braze_min_temp per attempt (nominal about 190 s at 1800 W)")  # fmt: skip
    p(127, "ccrs.braze_attempts", "int", "-", 1, 10, 3, "heat attempts (each at a higher "
      "ceiling) before the braze fails")  # fmt: skip
    p(128, "ccrs.braze_poll", "float", "s", 1, 30, 5.0, "seam poll and control period")
    p(129, "ccrs.braze_max_temp", "float", "degC", 500, 700, 650.0, "hottest thermocouple "
      "limit: the heater is switched off above it (under the 700 degC cut-out)")  # fmt: skip
    p(130, "ccrs.profile_period", "float", "s", 10, 3600, 60.0, "braze_profile event period")
    p(131, "ccrs.cool_temp", "float", "degC", 20, 100, 90.0, "hottest thermocouple below "
      "which the seal is checked (the board refuses above 100 degC)")  # fmt: skip
    p(132, "ccrs.cool_timeout", "float", "s", 60, 7200, 1800.0, "longest cool-down (nominal "
      "about 250 s)")  # fmt: skip
    p(133, "ccrs.seal_check_time", "float", "s", 5, 600, 60.0, "pressure-decay measurement "
      "time of the seal check")  # fmt: skip
    p(134, "ccrs.leak_limit", "float", "Pa m3/s", 1e-12, 1, 1e-7, "largest leak rate of a "
      "sealed vessel (the board's own limit)")  # fmt: skip
    # Transfer and release (gantry: 850 mm to the EES at 5 mm/s2, stows at 10 mm/s; 87 s each
    # way; separation in 1 s).
    p(135, "ccrs.gantry_rate", "float", "mm/s", 1, 20, 10.0, "gantry speed into the EES")
    p(136, "ccrs.gantry_margin", "float", "s", 5, 1800, 30.0, "time a gantry move may take "
      "beyond its full-travel profile before it fails gantry_timeout")  # fmt: skip
    p(137, "ccrs.gantry_poll", "float", "s", 1, 30, 5.0, "gantry poll during a move")
    p(138, "ccrs.separation_timeout", "float", "s", 1, 120, 10.0, "longest wait for the "
      "separation switch after the release (1 s nominal)")  # fmt: skip
