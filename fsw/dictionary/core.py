"""The flight-software core's declarations, the same on every node: its commands (PUS 3, 5, 9, 11,
17, 20 and the private services of the mode manager, hazardous-command gate, sequences and fault
protection), its housekeeping packets, events and parameters.

Private services of the core (application data big-endian):

=============  ===================  ======================================================
TC             name                 data
=============  ===================  ======================================================
[150,1]        modes.set            mode uint8 (1 safe, 2 nominal, 3 critical)
[151,1]        gate.arm             command uint16 (service << 8 | subtype of a hazardous
                                    command of this node)
[151,2]        gate.disarm          command uint16 (0xFFFF: every command)
[151,3]        gate.remove_inhibit  inhibit uint8 (its index in the node's inhibit list)
[151,4]        gate.restore_inhibit inhibit uint8
[152,1..3]     seq.start/stop/      sequence uint8 (its index in the node's sequence list)
               resume
[152,4]        seq.load             load or replace a stored sequence: name, then steps of
                                    (delay, a whole TC packet) (:mod:`fsw.dictionary.loads`)
[153,1..2]     fdir.enable/disable  monitor uint16 (its index in the node's monitor table)
[153,3]        fdir.clear_reset_    none: the ground clears the reset-loop guard
               loop
=============  ===================  ======================================================

Hazardous confirmation (decision 0024): ``gate.arm``, ``gate.remove_inhibit`` and ``modes.set``
to critical need the ground's confirmation (:class:`~fsw.dictionary.model.Confirmation`), like
every hazardous (gated) command; ``schedule.insert`` and ``seq.load`` need it when a command they
carry does. Fault protection may send only the commands declared ``safing``: ``modes.set`` to
safe, ``gate.disarm``, ``gate.restore_inhibit`` and ``seq.stop``.

Service 20 (parameters) uses PUS-C's TC[20,1] (report) and TC[20,3] (load), and private subtypes
for the two-step table update: TC[20,129] validate the loaded values, TC[20,130] activate them
(all or none, rolled back on a failure), TC[20,131] discard them; TC[20,132] returns one
parameter to its previous active value or its default (:mod:`fsw.dictionary.parameters`, decision
0026).
"""

from __future__ import annotations

import struct
from typing import Final

from fsw.dictionary.model import (
    MODES,
    Command,
    Confirmation,
    Event,
    Field,
    HkPacket,
    Message,
    Parameter,
    TmReport,
)
from fsw.dictionary.model import (
    declare_field as _f,
)
from hal.protocol.devices.icd import Limits, LimitSet, enum

__all__ = [
    "BOARD_LOST",
    "BOARD_STATES",
    "COMMANDED_MODES",
    "CORE_EVENTS",
    "MODE_CODES",
    "MODE_STATES",
    "RESYNC_REPORT",
    "RESYNC_SERVICE",
    "SID_BOARD_HEALTH",
    "board_health",
    "core_commands",
    "core_events",
    "core_hk",
    "core_parameters",
    "core_reports",
]

MODE_CODES: Final = {"boot": 0, "safe": 1, "nominal": 2, "critical": 3}
"""Node mode to its uint8 code in commands and housekeeping."""

U16_ID = Field("sid", "u16", "-", 1, 65535, "structure id of a housekeeping packet")


def _above(yellow: float, red: float | None) -> Limits:
    """Limits of a value normal up to ``yellow``, out of limits above ``red``."""
    return Limits(LimitSet(yellow=(None, yellow), red=(None, red)))


MODE_STATES: Final = enum(*MODES)
"""The node mode as an enumeration (``core.status.mode``): boot, safe, nominal, critical."""
COMMANDED_MODES: Final = tuple((code, name) for code, name in MODE_STATES if name != "boot")
"""The modes ``modes.set`` may command (boot is only ever the node's own)."""
BOARD_STATES: Final = ((0, "ok"), (255, "lost"))
"""The named values of a ``health.boards`` element: 0 healthy, 255 link lost (1..254 count the
requests in a row without a good reply)."""


def core_commands(node: str, apid: int) -> list[Command]:
    """Every core command of ``node``, addressed to ``apid``."""

    def cmd(
        name: str, service: int, subtype: int, meaning: str, *fields: Field,
        variable: str = "", modes: tuple[str, ...] = (), confirm: Confirmation | None = None,
        safing: Confirmation | None = None,
    ) -> Command:  # fmt: skip
        component = name.split(".", 1)[0]
        message = Message(name.split(".", 1)[1], service, subtype, tuple(fields), meaning)
        return Command(
            name, node, apid, message, component, modes=modes,
            variable=bool(variable), layout=variable, confirm=confirm, safing=safing,
        )  # fmt: skip

    always = Confirmation()

    sid = U16_ID
    event_id = _f("event_id", "u16", "-", 1, 65535, "an event id of this node")
    return [
        cmd("core.ping", 17, 1, "are you alive: answered by TM[17,2] (the no-op)"),
        cmd(
            "core.report_verification",
            1,
            128,
            "send again the verification reports kept for a request (the last 64 requests): "
            "a report lost on the downlink is asked for again",
            _f(
                "request_id",
                "u32",
                "-",
                0,
                0xFFFFFFFF,
                "the request's id: its packet id and sequence control, 4 octets",
            ),
        ),
        cmd("hk.enable", 3, 5, "start sending a housekeeping packet at its period", sid),
        cmd("hk.disable", 3, 6, "stop sending a housekeeping packet", sid),
        cmd("hk.report", 3, 27, "send a housekeeping packet once, now", sid),
        cmd(
            "hk.set_period",
            3,
            31,
            "change a housekeeping packet's collection interval",
            sid,
            _f("period", "f32", "s", 0.1, 86400.0, "the new interval"),
        ),
        cmd("events.enable", 5, 5, "report an event again", event_id),
        cmd("events.disable", 5, 6, "stop reporting an event (it is still counted)", event_id),
        cmd(
            "time.set_rate",
            9,
            1,
            "time reports every 2**rate seconds",
            _f("rate", "u8", "-", 0, 12, "exponent of the report interval"),
        ),
        cmd("schedule.enable", 11, 1, "release time-tagged commands when due"),
        cmd("schedule.disable", 11, 2, "hold time-tagged commands"),
        cmd("schedule.reset", 11, 3, "delete every time-tagged command"),
        cmd(
            "schedule.insert",
            11,
            4,
            "insert time-tagged commands (all or none)",
            variable="N uint8 | N x (release CUC 4+2 | a whole TC packet)",
        ),
        cmd("schedule.report", 11, 16, "report every time-tagged command (TM[11,10])"),
        cmd(
            "params.report",
            20,
            1,
            "report parameter values (TM[20,2])",
            variable="N uint8 | N x parameter id uint16",
        ),
        cmd(
            "params.load",
            20,
            3,
            "load parameter values into the staging table (checked)",
            variable="N uint8 | N x (parameter id uint16 | value float64)",
        ),
        cmd("params.validate", 20, 129, "validate the staging table as a whole"),
        cmd("params.activate", 20, 130, "activate the staging table: all or none, persisted"),
        cmd("params.discard", 20, 131, "discard the staging table"),
        cmd(
            "params.rollback",
            20,
            132,
            "return one active parameter to its previous active value or its default "
            "(checked against the other parameters, persisted)",
            _f("parameter", "u16", "-", 1, 65535, "the parameter id"),
            _f(
                "to",
                "u8",
                "-",
                0,
                1,
                "0 its previous active value, 1 its power-on default",
                enum("previous", "default"),
            ),
        ),
        cmd(
            "modes.set",
            150,
            1,
            "command a mode (the node boots safe)",
            _f("mode", "u8", "-", 1, 3, "1 safe, 2 nominal, 3 critical", COMMANDED_MODES),
            confirm=Confirmation("mode", (MODE_CODES["critical"],), "enters critical mode"),
            safing=Confirmation("mode", (MODE_CODES["safe"],)),
        ),
        cmd(
            "gate.arm",
            151,
            1,
            "arm a hazardous command for its window",
            _f("command", "u16", "-", 0, 0xFFFE, "service << 8 | subtype"),
            confirm=Confirmation(why="arms a hazardous command"),
        ),
        cmd(
            "gate.disarm",
            151,
            2,
            "disarm a hazardous command (0xFFFF: all)",
            _f("command", "u16", "-", 0, 0xFFFF, "service << 8 | subtype, or 0xFFFF"),
            safing=always,
        ),
        cmd(
            "gate.remove_inhibit",
            151,
            3,
            "remove one onboard inhibit",
            _f("inhibit", "u8", "-", 0, 254, "index in the node's inhibit list"),
            confirm=Confirmation(why="removes an onboard inhibit"),
        ),
        cmd(
            "gate.restore_inhibit",
            151,
            4,
            "put one onboard inhibit back in place",
            _f("inhibit", "u8", "-", 0, 254, "index in the node's inhibit list"),
            safing=always,
        ),
        cmd(
            "seq.start",
            152,
            1,
            "start a stored sequence from its first step",
            _f("sequence", "u8", "-", 0, 254, "index in the node's sequence list"),
        ),
        cmd(
            "seq.stop",
            152,
            2,
            "stop a running sequence where it is",
            _f("sequence", "u8", "-", 0, 254, "index in the node's sequence list"),
            safing=always,
        ),
        cmd(
            "seq.resume",
            152,
            3,
            "resume a stopped sequence from its step",
            _f("sequence", "u8", "-", 0, 254, "index in the node's sequence list"),
        ),
        cmd(
            "seq.load",
            152,
            4,
            "load or replace a stored sequence (all or none; not while it runs); with the "
            "ground's confirmation when a step needs it",
            variable="L uint8 | name L octets | N uint16 | N x (delay CUC 4+2 | a whole TC packet)",
        ),
        cmd(
            "fdir.enable",
            153,
            1,
            "enable a fault monitor",
            _f("monitor", "u16", "-", 0, 65534, "index in the node's monitor table"),
        ),
        cmd(
            "fdir.disable",
            153,
            2,
            "disable a fault monitor",
            _f("monitor", "u16", "-", 0, 65534, "index in the node's monitor table"),
        ),
        cmd("fdir.clear_reset_loop", 153, 3, "clear the reset-loop guard (autonomy back on)"),
    ]


def core_hk(node: str, apid: int) -> list[HkPacket]:
    """The core's housekeeping packets of ``node``."""
    u32 = 0xFFFF_FFFF

    def count(name: str, meaning: str) -> Field:
        return _f(name, "u32", "-", 0, u32, meaning)

    status = (
        _f("mode", "u8", "-", 0, 3, "0 boot, 1 safe, 2 nominal, 3 critical", MODE_STATES,
           Limits(yellow_states=("boot", "safe"))),
        _f("uptime", "f32", "s", 0, 1e9, "seconds since this boot"),
        count("cycles", "executive cycles run since boot"),
        count("slips", "rate-group runs missed since boot"),
        count("accepted", "telecommands accepted since boot"),
        count("rejected", "telecommands rejected since boot"),
        _f("dropped", "u32", "-", 0, u32, "telecommands dropped on a full queue since boot",
           limits=_above(0, 0)),
        count("events_suppressed", "event reports suppressed by throttling since boot"),
        count("resets", "boots of this node ever (NV store)"),
        count("nv_writes", "NV store writes since boot"),
        _f("queue", "u16", "-", 0, 65535, "telecommands waiting (dispatch.queue_size, 64 by "
           "default, drops the rest)", limits=_above(32, 63)),
        _f("time_reports_rate", "u8", "-", 0, 12, "time report every 2**rate s"),
        _f("encoding_errors", "u32", "-", 0, u32, "housekeeping values beyond their field's "
           "encoding since boot (each sent as its kind's invalid marker; decision 0035)",
           limits=_above(0, 0)),
    )  # fmt: skip
    health = (
        _f("devices_ok", "u8", "-", 0, 255, "boards answering"),
        _f("devices_failed", "u8", "-", 0, 255, "boards silent (a request unanswered) or "
           "lost; a board not asked anything yet is neither", limits=_above(0, 0)),
        _f("apps_ok", "u8", "-", 0, 255, "components running their cycles"),
        _f("apps_failed", "u8", "-", 0, 255, "components stopped after repeated errors",
           limits=_above(0, 0)),
        _f("watchdog", "u8", "-", 0, 255, "cycles since the watchdog was last served (the "
           "node goes safe beyond health.watchdog_cycles, 20 by default)",
           limits=_above(10, 20)),
        count("fdir_trips", "fault monitors tripped since boot"),
        _f("autonomy", "bool", "-", 0, 1, "recovery sequences allowed (reset-loop guard)",
           limits=Limits(LimitSet(yellow=(1, None)))),
    )  # fmt: skip
    gate = (
        _f(
            "armed",
            "u8",
            "-",
            0,
            255,
            "hazardous commands armed now (a caution while any is)",
            limits=_above(0, None),
        ),
        _f("inhibits", "u16", "-", 0, 65535, "bit i set: inhibit i in place"),
        count("fires", "hazardous commands fired since boot"),
        count("gate_rejects", "hazardous commands refused since boot"),
        _f("schedule_enabled", "bool", "-", 0, 1, "time-tagged commands released"),
        _f("schedule_size", "u16", "-", 0, 65535, "time-tagged commands stored"),
        _f("sequences_running", "u8", "-", 0, 255, "stored sequences running"),
    )
    return [
        HkPacket("core.status", node, apid, 1, status, "core", 1.0, "executive and dispatch"),
        HkPacket("health.status", node, apid, 2, health, "health", 1.0, "devices, apps, FDIR"),
        HkPacket("gate.status", node, apid, 3, gate, "gate", 1.0, "gate, schedule, sequences"),
    ]


SID_BOARD_HEALTH: Final = 4
"""SID of ``health.boards``, the per-board health packet of a node with boards."""
BOARD_LOST: Final = 255
"""``health.boards`` value of a board whose link is lost (being reopened)."""


def board_health(node: str, apid: int, boards: tuple[str, ...]) -> HkPacket:
    """``health.boards`` of ``node``: one value per board it drives, from the HAL health record
    (requests in a row without a good reply, :data:`BOARD_LOST` when its link is lost), so a
    fault monitor can judge each board (decision 0025)."""
    limits = Limits(LimitSet(yellow=(None, 0), red=(None, 2)), red_states=("lost",))
    fields = tuple(
        _f(board, "u8", "-", 0, BOARD_LOST, f"board {board}: requests in a row without a good "
           f"reply (0 ok, 3 silent: its fault monitor trips above 2), {BOARD_LOST} link lost",
           BOARD_STATES, limits)
        for board in boards
    )  # fmt: skip
    return HkPacket(
        "health.boards", node, apid, SID_BOARD_HEALTH, fields, "health", 10.0,
        "each board's health (HAL health records)",
    )  # fmt: skip


CORE_EVENTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("core.boot", "info", "the node started, safe and disarmed; detail: the boot cause"),
    ("core.cycle_slip", "low", "a rate group missed runs (the node fell behind)"),
    ("core.command_rejected", "low", "a telecommand failed its checks (detail: the reason)"),
    ("core.queue_overflow", "medium", "telecommands dropped: the command queue was full"),
    ("core.app_failed", "high", "a component raised errors repeatedly and was stopped"),
    ("core.app_error", "medium", "a component raised an error in a cycle or a command"),
    ("core.tc_rejected", "low", "the space link dropped a TC frame (detail: the reason)"),
    ("core.cop", "info", "a COP-1 control command or lockout on the uplink"),
    ("core.store_failed", "high", "a write to the non-volatile store failed"),
    ("modes.changed", "info", "the node changed mode (detail: from, to, why)"),
    ("modes.refused", "low", "a mode change was refused (detail: why)"),
    ("health.device_lost", "medium", "a board's link was lost"),
    ("health.device_recovered", "info", "a board's link is back"),
    ("health.device_silent", "medium", "a board stopped answering"),
    ("health.device_answering", "info", "a silent board answers again"),
    ("health.watchdog", "high", "the software watchdog was not served in time"),
    ("events.throttled", "low", "reports of an event were suppressed (detail: id, count)"),
    ("params.loaded", "info", "parameter values loaded into the staging table"),
    ("params.activated", "info", "the staging table was activated and persisted"),
    ("params.rejected", "low", "a parameter load or validation failed (detail: why)"),
    ("params.rolled_back", "medium", "an activation failed and every value was restored"),
    (
        "params.reverted",
        "info",
        "the ground returned a parameter to its previous or default value (detail: name, from, to)",
    ),
    ("time.report_rate", "info", "the time report rate changed"),
    (
        "health.device_reply_lost",
        "medium",
        "a hazardous device command's reply was lost; the "
        "device's status confirmed it done (detail: the command and what the status showed)",
    ),
    (
        "core.resync_needed",
        "high",
        "the uplink accepts no authenticated frame until the ground resynchronises it (its "
        "anti-replay store is new, lost or old; decision 0023)",
    ),
    (
        "core.resynced",
        "medium",
        "the ground resynchronised the uplink: a new session from the sequence number in the "
        "detail",
    ),
    (
        "core.encoding_error",
        "medium",
        "a housekeeping value does not fit its field's encoding (detail: packet.field = value, "
        "the kind and the marker sent instead); counted in core.status.encoding_errors, "
        "reported at most once a minute per field (decision 0035)",
    ),
)
"""The core's own events: (name, severity, meaning). Ids follow the order (1..)."""


def core_events(node: str, extra: tuple[tuple[str, str, str], ...] = ()) -> list[Event]:
    """The core's events of ``node`` (ids 1.. in order), then ``extra`` events of the core's
    services (declared beside the service that reports them)."""
    rows = CORE_EVENTS + extra
    return [
        Event(name, node, index, severity, name.split(".", 1)[0], meaning)
        for index, (name, severity, meaning) in enumerate(rows, start=1)
    ]


def core_parameters(node: str) -> list[Parameter]:
    """The core's parameters of ``node``."""

    def par(
        pid: int, name: str, kind: str, unit: str, lo: float, hi: float, default: float,
        meaning: str,
    ) -> Parameter:  # fmt: skip
        return Parameter(name, node, pid, kind, unit, lo, hi, default, name.split(".")[0], meaning)

    return [
        par(
            1,
            "events.throttle_count",
            "int",
            "-",
            1,
            1000,
            5,
            "reports of one event allowed per throttle window",
        ),
        par(2, "events.throttle_window", "float", "s", 0.1, 86400, 10.0, "the throttle window"),
        par(
            3,
            "dispatch.max_per_cycle",
            "int",
            "-",
            1,
            1000,
            32,
            "telecommands executed per 10 Hz cycle at most",
        ),
        par(
            4,
            "dispatch.queue_size",
            "int",
            "-",
            1,
            4096,
            64,
            "telecommands waiting at most; more are dropped and counted",
        ),
        par(
            5,
            "health.watchdog_cycles",
            "int",
            "-",
            2,
            255,
            20,
            "cycles without a served watchdog before the node goes safe",
        ),
        par(
            6,
            "health.app_error_limit",
            "int",
            "-",
            1,
            100,
            3,
            "consecutive errors after which a component is stopped",
        ),
        par(
            7,
            "fdir.reset_loop_limit",
            "int",
            "-",
            1,
            20,
            3,
            "quick successive boots before autonomy is switched off",
        ),
        par(
            8,
            "fdir.stable_after",
            "float",
            "s",
            1,
            86400,
            600.0,
            "uptime after which a boot counts as stable",
        ),
        par(
            9,
            "health.heartbeat_period",
            "float",
            "s",
            0.1,
            3600,
            5.0,
            "a board silent this long (apps included) is pinged",
        ),
    ]


def core_reports(node: str, apid: int) -> list[TmReport]:
    """The core's telemetry reports of ``node`` (other than housekeeping and the PUS-1, PUS-5,
    PUS-17 and PUS-20 reports, whose layouts are the services' own)."""
    fields = (
        _f("rate", "u8", "-", 0, 12, "a report every 2**rate s (PUS-9 rate exponent)"),
        _f("coarse", "u32", "s", 0, 0xFFFF_FFFF, "spacecraft time, CUC coarse: whole seconds"),
        _f("fine", "u16", "1/65536 s", 0, 0xFFFF, "spacecraft time, CUC fine: the fraction"),
        _f("cycle", "u32", "-", 0, 0xFFFF_FFFF, "executive cycles since boot, mod 2**32"),
    )
    meaning = "TM[9,2] spacecraft time report, every 2**rate s (time.set_rate)"
    challenge = (
        _f(
            "reason",
            "u8",
            "-",
            1,
            2,
            "1 no session in the store, 2 store from its older copy",
            enum("no_session", "older_copy", start=1),
        ),
        _f("last_sn", "u32", "-", 0, 0xFFFF_FFFF, "the highest anti-replay number known (0: none)"),
        Field("nonce", "u32", "-", 0, 0xFFFF_FFFF, "the challenge's nonce, 16 octets", count=4),
    )
    why = (f"TM[{RESYNC_SERVICE},1] the uplink's pending resync challenge, every few s until "
           "the ground resynchronises (msr link resync; decision 0023)")  # fmt: skip
    return [
        TmReport("time.report", node, apid, 9, 2, fields, "time", meaning),
        TmReport(RESYNC_REPORT, node, apid, RESYNC_SERVICE, 1, challenge, "core", why),
    ]


RESYNC_REPORT: Final = "core.resync_challenge"
"""The report of a node's pending resync challenge (:func:`core_reports`)."""
RESYNC_SERVICE: Final = 140
"""The private service of the space link's security reports (TM[140,1]: the challenge)."""


PARAMETER_ENTRY: Final = struct.Struct(">Hd")
"""One parameter in TC[20,1] loads and TM[20,2] reports: id uint16 | value float64 (PUS 20),
after a count uint8."""
