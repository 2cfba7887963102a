"""The mav node's app declarations: the MAV launch sequencer (component ``launch``).

Private service 170 (application data big-endian; none of these commands takes arguments):

=========  =================  ===========================================================
TC         name               what it does
=========  =================  ===========================================================
[170,1]    launch.condition   thermal conditioning: wait for the propellant to reach
                              ``launch.min_propellant_temp`` with every heater zone within
                              limits (safe -> conditioning -> conditioned)
[170,2]    launch.verify_load the OS is latched in the MAV nose (conditioned -> os_loaded)
[170,3]    launch.arm         HAZARDOUS (gate window 120 s, inhibit ``arm``): the sequencer's
                              own preconditions, then pyro inhibits 1 and 2 removed and
                              verified (os_loaded -> armed)
[170,4]    launch.launch      HAZARDOUS (gate window 60 s, inhibits ``arm`` and ``launch``):
                              inhibit 3 removed, all three verified, the toss fired; then the
                              autonomous ascent to the OS release (armed -> ... -> released);
                              completes when the OS is released
[170,5]    launch.safe        abort to safe from any state before the toss (reason
                              ``operator``), in any mode
=========  =================  ===========================================================

The OS's manifest (component ``manifest``, service 165, :mod:`fsw.dictionary.custody`): the
ground relays the lander's custody of each tube (``manifest.load``); the MAV checks it against
the OS's slot switches through the latch until it lets the OS go (decision 0053).

The sequencer's state (:data:`LAUNCH_STATES`, by its uint8 code) and its last abort reason
(:data:`ABORT_REASONS`, code 0 ``none``) are in housekeeping ``launch.status`` (SID 20). The
node's onboard inhibits (``gate.remove_inhibit inhibit=<index>``): 0 ``arm``, 1 ``launch``.
Every figure of the sequence is a parameter (ids 100..), with its source in its meaning.
"""

from __future__ import annotations

from typing import Final

from fsw.dictionary.core import board_health
from fsw.dictionary.custody import declare_manifest
from fsw.dictionary.lander import ZONE_LIMITS as IGLOO_ZONE_LIMITS
from fsw.dictionary.model import AppDeclarations, Confirmation
from fsw.dictionary.model import declare_field as _f
from fsw.dictionary.model import limit_set as _limits
from hal.protocol.devices.icd import Limits, LimitSet, enum

__all__ = [
    "ABORT_REASONS",
    "BOARDS",
    "INHIBITS",
    "LAUNCH_STATES",
    "PARAMETERS",
    "SERVICE",
    "declare",
]

BOARDS: Final[tuple[str, ...]] = ("mav_avionics", "mav_pyro")
"""The boards the node drives (its ``health.boards`` packet has one value per board)."""

SERVICE: Final = 170
"""The launch sequencer's private service."""

LAUNCH_STATES: Final[tuple[str, ...]] = (
    "safe",  # 0: on the lander, pyro inhibits in place, nothing in progress
    "conditioning",  # 1: waiting for the propellant and the igloo to reach launch temperatures
    "conditioned",  # 2: temperatures ready
    "os_loaded",  # 3: the OS latched in the MAV nose
    "armed",  # 4: pyro inhibits 1 and 2 removed (inhibit 3 and the gate still hold)
    "toss",  # 5: inhibit 3 removed, the toss fired: the MAV is thrown upward
    "srm1_ignition",  # 6: SRM1 fired inside its window, waiting for the accelerometer
    "srm1_burn",  # 7: SRM1 burning, steered by the TVC
    "coast",  # 8: first stage separated, coasting up
    "spin_up",  # 9: second stage spinning up, waiting for the SRM2 ignition point
    "srm2_burn",  # 10: SRM2 fired and burning
    "os_release",  # 11: burnout in orbit, releasing the OS
    "released",  # 12: the OS is in orbit, let go: the sequence is over
)
"""The sequencer's states, by their uint8 code in ``launch.status``."""

ABORT_REASONS: Final[tuple[str, ...]] = (
    "none",  # 0: no abort since the sequence was last started
    "operator",  # 1: launch.safe (before the toss)
    "ignition_timeout",  # 2: SRM1 or SRM2 not confirmed by the accelerometer in its window
    "temperature",  # 3: propellant or a heater zone out of limits (or too cold to go on)
    "inhibit_mismatch",  # 4: a pyro inhibit that does not read as the sequencer set it
    "attitude_rate",  # 5: transverse attitude rate over the limit (M of N samples)
    "umbilical",  # 6: no igloo readings before the toss (umbilical disconnected)
    "safe_mode",  # 7: the node went safe during the sequence
    "device_error",  # 8: a board did not answer or refused, mid-sequence
    "spin_up",  # 9: the second stage did not reach its spin rate in time
    "separation",  # 10: SRM1 burnt out but the first stage did not separate
    "no_orbit",  # 11: coast or SRM2 burn ended without the orbit the OS is released into
    "reset",  # 12: the node restarted mid-sequence (it comes back safe; nothing re-fires)
    "store_failed",  # 13: the NV store refused the write that must precede a pyro fire
)
"""Why the sequencer last went safe, by its uint8 code in ``launch.status``."""

MAV_HOLDS: Final = ("in_mav", "in_orbit")
"""Where the OS goes on the MAV (its ``manifest`` component, :mod:`fsw.dictionary.custody`)."""
INHIBITS: Final[tuple[str, ...]] = ("arm", "launch")
"""The mav node's onboard inhibits of the hazardous-command gate, by index."""


ABORT_YELLOW: Final = ("operator", "safe_mode", "reset")
"""Abort reasons that are a caution (the ground or the node chose safety); every other reason
but ``none`` is out of limits."""


ZONE_LIMITS: Final = IGLOO_ZONE_LIMITS  # the same zones, read through the umbilical
"""An igloo heater zone through the umbilical: within ``launch.zone_low`` -40 (the propellant's
limit, MSR_FACTS) and ``launch.zone_high`` 40 degC; red outside the igloo's fault limits -45
and 50 degC (``igloo.zone_low``, ``igloo.zone_high`` on the lander)."""
PROPELLANT_LIMITS: Final = _limits((-35.0, 40.0), (-40.0, 50.0))
"""The propellant must stay above -40 degC (MSR_FACTS): a caution within 5 K of it."""
RATE_LIMITS: Final = Limits(
    LimitSet(yellow=(None, 5.0), red=(None, 20.0)),
    modes=(("critical", LimitSet(yellow=(None, 10.0), red=(None, 20.0))),),
)
"""The transverse attitude rate: red above ``launch.rate_limit`` 20 deg/s in every mode; a
caution above 10 deg/s in critical (the ascent: the pitch programme turns at 0.5 deg/s,
staging transients are larger) and above 5 deg/s otherwise (on the lander or released, the
MAV should hardly turn)."""


def declare(apps: AppDeclarations) -> None:
    """Declare the mav's app commands, packets, events and parameters into ``apps``."""
    apps.inhibits.extend(INHIBITS)
    ground = ("nominal", "critical")
    apps.command(
        "launch.condition", SERVICE, 1,
        "start thermal conditioning: done when the propellant is at least "
        "launch.min_propellant_temp and every heater zone within limits", modes=ground,
    )  # fmt: skip
    apps.command(
        "launch.verify_load", SERVICE, 2,
        "check that the OS is latched in the MAV nose (guard: conditioned)", modes=ground,
    )  # fmt: skip
    apps.command(
        "launch.arm", SERVICE, 3,
        "arm the MAV: preconditions (OS loaded, temperatures, arm plug, continuity), then pyro "
        "inhibits 1 and 2 removed and verified", window=120.0, inhibits=("arm",),
    )  # fmt: skip
    apps.command(
        "launch.launch", SERVICE, 4,
        "launch: inhibit 3 removed, all three verified, toss fired, then the autonomous ascent "
        "to the OS release (completes when released)", window=60.0, inhibits=("arm", "launch"),
    )  # fmt: skip
    apps.command(
        "launch.safe",
        SERVICE,
        5,
        "abort to safe from any state before the toss (pyro inhibits restored, node safe)",
        safing=Confirmation(),
    )

    apps.hk.append(board_health(apps.node, apps.apid, BOARDS))
    states = f"0..{len(LAUNCH_STATES) - 1}: " + ", ".join(LAUNCH_STATES)
    reasons = f"0..{len(ABORT_REASONS) - 1}: " + ", ".join(ABORT_REASONS)
    apps.packet(
        "launch.status", 20, "the MAV launch sequencer: state, abort reason, temperatures, "
        "inhibits and the ascent",
        _f("state", "u8", "-", 0, len(LAUNCH_STATES) - 1, f"sequencer state ({states})",
           enum(*LAUNCH_STATES)),
        _f("abort_reason", "u8", "-", 0, len(ABORT_REASONS) - 1, f"last abort ({reasons})",
           enum(*ABORT_REASONS), Limits(
               yellow_states=ABORT_YELLOW,
               red_states=tuple(r for r in ABORT_REASONS if r not in ("none", *ABORT_YELLOW)))),
        _f("propellant_temp", "f32", "degC", -150, 100, "propellant (through the umbilical)",
           limits=PROPELLANT_LIMITS),
        _f("zone_min", "f32", "degC", -150, 100, "coldest igloo heater zone",
           limits=ZONE_LIMITS),
        _f("zone_max", "f32", "degC", -150, 100, "warmest igloo heater zone",
           limits=ZONE_LIMITS),
        _f("inhibits_removed", "u8", "-", 0, 7, "pyro hardware inhibits read removed: bit 0 "
           "inhibit 1, bit 1 inhibit 2, bit 2 inhibit 3"),
        _f("accel", "f32", "m/s^2", 0, 200, "specific force magnitude (3.7 resting on Mars, 0 "
           "in free fall or coast, thrust over mass in a burn)"),
        _f("rate", "f32", "deg/s", 0, 2000, "transverse attitude rate (pitch and yaw; the "
           "spin about the long axis excluded)", limits=RATE_LIMITS),
        _f("altitude", "f32", "km", -10, 2000, "altitude above the mean radius of Mars"),
        _f("speed", "f32", "m/s", 0, 6000, "inertial speed"),
        _f("spin", "f32", "rpm", -300, 300, "second-stage spin rate"),
        _f("os_released", "bool", "-", 0, 1, "the OS latch is open: the OS was let go"),
        _f("state_time", "f32", "s", 0, 1e9, "seconds in the current state"),
        _f("pyros_fired", "u8", "-", 0, 7, "pyro channels fired: bit 0 toss, bit 1 SRM1, bit 2 "
           "SRM2 (0: the MAV has not left the lander, its umbilical is read)"),
        period=1.0,
    )  # fmt: skip

    apps.event("launch.state", "info", "the sequencer changed state: 'from -> to'")
    apps.event("launch.abort", "high", "the sequencer aborted to safe: '<reason>: why'")
    apps.event("launch.ignition", "medium", "a motor's ignition confirmed by the accelerometer")
    apps.event("launch.released", "medium", "the OS was released in orbit (altitude, speed)")
    apps.event("launch.fire_unconfirmed", "high", "an igniter's fire got no reply and no "
               "status: counted fired, the accelerometer decides (decision 0022)")  # fmt: skip

    _parameters(apps)
    declare_manifest(apps, MAV_HOLDS, 190)


# fmt: off
PARAMETERS: Final[tuple[tuple[int, str, str, str, float, float, float, str], ...]] = (
    (100, "launch.min_propellant_temp", "float", "degC", -40, 40, -20.0,
     "propellant temperature at which conditioning is done and below which the MAV may not be "
     "armed or launched: 20 K above the propellant's -40 degC limit (MSR_FACTS)"),
    (101, "launch.zone_low", "float", "degC", -60, 40, -40.0,
     "coldest heater-zone reading within limits: the propellant's -40 degC limit (MSR_FACTS)"),
    (102, "launch.zone_high", "float", "degC", 0, 100, 40.0,
     "warmest heater-zone reading within limits: bench upper storage limit of the propellant"),
    (103, "launch.condition_poll", "float", "s", 1, 3600, 60.0,
     "conditioning reads the igloo this often: its zones lag by about 3 h, the propellant by "
     "about 11 h (igloo emulator time constants), so a minute misses nothing"),
    (104, "launch.condition_timeout", "float", "s", 60, 1e7, 177550.0,
     "conditioning not done in this time aborts (temperature): two sols"),
    (105, "launch.monitor_period", "float", "s", 1, 600, 5.0,
     "temperatures and pyro inhibits are checked this often while conditioned, OS loaded or "
     "armed (and read for housekeeping while safe)"),
    (106, "launch.settle", "float", "s", 0, 10, 0.5,
     "wait between commanding a pyro inhibit and reading it back (relay settling, bench "
     "figure)"),
    (107, "launch.srm1_delay", "float", "s", 0.3, 5, 0.5,
     "SRM1 is fired this long after the toss: the ignition window opens once the 0.3 s toss "
     "stroke is over (mav_avionics emulator) and the MAV is clear of the lander"),
    (108, "launch.srm1_window", "float", "s", 0.5, 10, 2.0,
     "SRM1 must be confirmed by this long after the toss, or abort ignition_timeout: the "
     "tossed MAV falls back onto the surface about 2.2 s after the toss"),
    (109, "launch.ignition_accel", "float", "m/s^2", 1, 50, 10.0,
     "specific force along the thrust axis that confirms an ignition: SRM1 gives about 20 "
     "m/s^2 at lift-off, SRM2 about 45; resting on Mars reads 3.7 (on the z axis), free fall 0"),
    (110, "launch.srm2_window", "float", "s", 0.2, 10, 1.0,
     "SRM2 must be confirmed this long after it is fired, or abort ignition_timeout"),
    (111, "launch.tvc_period", "float", "s", 0.05, 1, 0.2,
     "TVC control period during the SRM1 burn: 5 Hz, ten times the closed loop's 1 rad/s"),
    (112, "launch.tvc_kp", "float", "deg/deg", 0, 5, 0.1,
     "nozzle deflection per degree of attitude error: with the emulator's 10 deg/s^2 per "
     "degree of deflection, a 1 rad/s closed loop"),
    (113, "launch.tvc_kd", "float", "deg/(deg/s)", 0, 5, 0.2,
     "nozzle deflection per deg/s of attitude-rate error: damping ratio 1 with tvc_kp"),
    (114, "launch.pitch_start", "float", "deg", 0, 90, 70.0,
     "pitch programme: nose elevation at SRM1 ignition (mav_avionics emulator default)"),
    (115, "launch.pitch_end", "float", "deg", 0, 90, 30.0,
     "pitch programme: nose elevation at SRM1 burnout (mav_avionics emulator default)"),
    (116, "launch.srm1_burn", "float", "s", 1, 300, 75.0,
     "SRM1 burn time, the pitch programme's duration (mav_avionics emulator default)"),
    (117, "launch.azimuth", "float", "deg", 0, 360, 73.0,
     "launch heading the TVC holds in yaw (mav_avionics emulator default)"),
    (118, "launch.burn_timeout", "float", "s", 10, 600, 120.0,
     "a motor still thrusting this long after ignition aborts no_orbit (SRM1 burns 75 s, SRM2 "
     "30 s)"),
    (119, "launch.rate_limit", "float", "deg/s", 1, 500, 20.0,
     "transverse attitude-rate limit from SRM1 ignition on: far above the pitch programme's "
     "0.5 deg/s, below the 25 deg/s a full nozzle deflection gives in half a second"),
    (120, "launch.rate_count", "int", "-", 1, 16, 3,
     "the rate limit trips when this many of the last launch.rate_window samples exceed it "
     "(one upset sample, or the staging transient, never trips it)"),
    (121, "launch.rate_window", "int", "-", 1, 16, 5,
     "samples over which launch.rate_count is counted"),
    (122, "launch.spin_rate", "float", "rpm", 10, 250, 200.0,
     "second-stage spin rate (the motor was tested spinning at 200 rpm, MSR_FACTS)"),
    (123, "launch.spin_start_climb", "float", "m/s", 0, 2000, 150.0,
     "spin-up starts when the climb has slowed to this: about 35 s before the SRM2 point at 3 "
     "m/s^2 of gravity, and spinning to 200 rpm takes 20 s at 10 rpm/s"),
    (124, "launch.spin_timeout", "float", "s", 5, 600, 60.0,
     "the spin rate not reached (95 %) this long after the spin-up command aborts spin_up"),
    (125, "launch.srm2_climb", "float", "m/s", 0, 1000, 40.0,
     "SRM2 is fired when the climb has slowed to this, near the top of the coast, so that the "
     "burn straddles it (mav_avionics emulator guidance figure: a 340 x 360 km orbit)"),
    (126, "launch.coast_timeout", "float", "s", 60, 10000, 1500.0,
     "a coast from separation that has not reached the SRM2 point in this time aborts no_orbit "
     "(the nominal coast is about 470 s)"),
    (127, "launch.coast_poll", "float", "s", 0.2, 60, 10.0,
     "longest wait between navigation reads in the coast (shortened near the next event)"),
    (128, "launch.release_min_altitude", "float", "km", 50, 2000, 200.0,
     "the OS is released only above this altitude after SRM2 burnout, else abort no_orbit"),
    (129, "launch.device_misses", "int", "-", 1, 100, 3,
     "consecutive failed monitor reads (conditioned, OS loaded, armed) that abort device_error"),
)
# fmt: on
"""The sequence's figures: id, name, kind, unit, low, high, default, meaning (with its source or
rationale)."""


def _parameters(apps: AppDeclarations) -> None:
    """Declare :data:`PARAMETERS` (ids from 100)."""
    for pid, name, kind, unit, lo, hi, default, meaning in PARAMETERS:
        apps.parameter(pid, name, kind, unit, lo, hi, default, meaning)
