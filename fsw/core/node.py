"""One node's flight software: the core services and apps on a software bus, driven cycle by
cycle (architecture.md §5). This is the composition root of ``python -m fsw``: it alone names
concrete components; it is handed its clock, its links and its store path.

A cycle (:meth:`Node.cycle`, at the clock's ``now``)::

    uplink     poll the space link; accepted telecommands -> dispatcher queue ("ground"), as
               many as it has room for: the rest wait in the radio, whose full buffer makes
               FARM-1 report Wait, so a flood is held back on the ground, never dropped
    dispatch   at most dispatch.max_per_cycle commands checked, gated, executed, verified
    groups     every rate group due runs its components (sequences, schedule, FDIR, HK...)
    downlink   every queued TM packet goes out in TM frames, with the CLCW: the acknowledgement
               of the cycle's telecommands goes down in one burst with the reports they caused,
               so the ground never sees its command acknowledged before its verification

Boot (:meth:`Node.boot`): the NV store is read (defaults with an event when corrupt), the reset
counters move on, the reset-loop guard decides whether autonomy stays on, parameters, schedule and
sequence progress are restored, and the node enters **safe**, with every hazardous command
disarmed and every inhibit in place.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsw.core.bus import Pipe, SoftwareBus
from fsw.core.component import Component, NodeContext
from fsw.core.config import ConfigError, GroupConfig, NodeConfig
from fsw.core.dispatcher import Dispatcher, provenance_refusal
from fsw.core.executive import Executive, RateGroup
from fsw.core.fdir import FaultProtection, FdirError, FdirTables, ResetGuard
from fsw.core.hazard import CommandSource, HazardGate, HazardSpec
from fsw.core.modes import ModeManager
from fsw.core.nvstore import NvStore
from fsw.core.services import (
    CoreComponent,
    FdirComponent,
    GateComponent,
    HealthComponent,
    ScheduleComponent,
    SequenceComponent,
)
from fsw.core.telemetry import Telemetry
from fsw.dictionary import NodeDictionary
from fsw.dictionary.core import MODE_CODES, RESYNC_REPORT
from fsw.dictionary.files import TOPIC_PDU
from fsw.dictionary.loads import INSERT, SEQUENCE_LOAD
from fsw.dictionary.model import CONFIRMED_SOURCE
from fsw.services.files import Files
from fsw.services.pus_3_housekeeping import Housekeeping
from fsw.services.pus_5_events import EventService
from fsw.services.pus_9_time import TimeService
from fsw.services.pus_20_parameters import ParameterService
from hal.errors import ProtocolError
from hal.protocol.pus import PusTc, PusTm
from hal.protocol.tm_frame import VC_PLAYBACK

if TYPE_CHECKING:
    from hal.devices.base import BoardClient
    from hal.links.space_link import FlightSpaceLink

__all__ = ["NV_DEFAULTS", "Node", "nv_defaults"]

NV_DEFAULTS: Mapping[str, Any] = {
    "boot": {"count": 0},
    "counters": {},
    "parameters": {},
    "parameters_previous": {},
    "schedule": None,
    "sequences": None,
    "reset_guard": None,
    "custody": [],
}
"""The NV store's core sections and their power-on defaults. Every app of the configuration also
gets a section of its own, named after it, holding counts (``{}`` at power-on:
``nv.counters(<app>)``)."""


def nv_defaults(config: NodeConfig) -> dict[str, Any]:
    """The NV store's sections of a node with this configuration: the core's
    (:data:`NV_DEFAULTS`) and one per app, named after it (``{}`` at power-on)."""
    return {**{name: {} for name in config.apps}, **NV_DEFAULTS}


Log = Callable[[str, str, str], None]
"""``(severity, event name, detail)``: the node's log."""


class Node:
    """The flight software of one node.

    Args:
        dictionary: the node's dictionary.
        config: its configuration (rate groups, apps, sequences, fault tables).
        nv_path: where its non-volatile store lives (``<run>/nv/<node>``).
        now: the injected clock (mission seconds).
        log: the process log.
        boards: the node's board clients (HAL), by board name.
        radio: the space link's flight end, or None (no ground yet).
        durable: fsync the NV store (off only in tests that never kill).

    Raises:
        ConfigError: the configuration names an unknown component or command, or a bad table.
    """

    def __init__(
        self,
        dictionary: NodeDictionary,
        config: NodeConfig,
        nv_path: str | Path,
        now: Callable[[], float],
        log: Log,
        *,
        boards: Mapping[str, BoardClient] | None = None,
        radio: FlightSpaceLink | None = None,
        durable: bool = True,
        boot_cause: str = "power_on",
    ) -> None:
        self.dictionary = d = dictionary
        self.config = config
        self.now = now
        self.log = log
        self.boards = dict(boards or {})
        for board in self.boards.values():
            board.on_event = self.board_event
        self.radio = radio
        self.boot_cause = boot_cause
        self.bus = SoftwareBus()
        self._early_events: list[tuple[str, str]] = []
        self.started = False
        app_classes = {
            name: _app_class(name, target, config.source) for name, target in config.apps.items()
        }
        self.nv = NvStore(nv_path, nv_defaults(config), durable=durable, emit=self._nv_event)
        self.telemetry = Telemetry(d.apid, now, radio.send_tm if radio is not None else None)
        self.components: dict[str, Component] = {}
        ctx = NodeContext(
            d.node, d, self.bus, self.nv, emit=self.emit, send_tm=self.telemetry.send,
            parameter=self._parameter, mode=lambda: self.modes.mode,
            request_mode=self._request_mode, submit=self.submit, boards=self.boards,
            send_packet=self._send_packet,
        )  # fmt: skip
        self.ctx = ctx
        self.events = EventService(ctx, log)
        self.params = ParameterService(ctx)
        self.modes = ModeManager(ctx, self._mode_changed)
        specs = [
            HazardSpec(c.name, c.window, c.inhibits, c.modes or ("critical",)) for c in d.hazardous
        ]
        self.gate = HazardGate(specs, emit=lambda n, t: self.emit(f"gate.{n}", t))
        self.executive = Executive(
            [], self.emit, lambda: int(self._parameter("health.app_error_limit"))
        )
        self.dispatcher = Dispatcher(
            d, self.components, self.telemetry.send, self.emit, self.gate,
            lambda: self.modes.mode, self._limits, lambda: self.executive.failed,
        )  # fmt: skip
        submit = self._release
        self.schedule = ScheduleComponent(ctx, submit, self.validate)
        sequences = [(name, self._steps(name, steps)) for name, steps in config.sequences]
        self.sequences = SequenceComponent(
            ctx, submit, self.validate, sequences, autonomy=lambda: self.protection.autonomy
        )
        self.hk = Housekeeping(ctx, self.components)
        try:
            tables = FdirTables.from_mapping(config.fdir or {"monitors": [], "responses": []})
        except FdirError as exc:
            raise ConfigError(f"{config.source}: fdir: {exc}") from None
        points = {f"{p.name}.{f.name}" for p in d.hk for f in p.fields}
        for monitor in tables.monitors:
            for point in (monitor.point, monitor.active_point):
                if point is not None and point not in points:
                    raise ConfigError(
                        f"{config.source}: fdir: monitor {monitor.id!r}: no housekeeping point "
                        f"{point!r} in the {d.node} dictionary"
                    )
        self.guard = ResetGuard(
            self.nv.get("reset_guard"), limit=int(self._parameter("fdir.reset_loop_limit")),
            stable_after=float(self._parameter("fdir.stable_after")),
            emit=lambda n, t: self.emit(f"fdir.{n}", t),
        )  # fmt: skip
        self.protection = FaultProtection(
            tables, self.hk.point, self, emit=lambda n, t: self.emit(f"fdir.{n}", t)
        )
        self.boot_time = now()
        self.fdir = FdirComponent(ctx, self.protection, self.guard, self.boot_time)
        self.health = HealthComponent(
            ctx, self.executive, self.boards,
            lambda: {"fdir_trips": self.protection.trips, "autonomy": self.protection.autonomy},
        )  # fmt: skip
        for component in (
            self.events, self.params, self.modes, GateComponent(ctx, self.gate, self._gate_extra),
            self.schedule, self.sequences, self.hk, self.fdir, self.health,
            CoreComponent(ctx, self._status, self.dispatcher.repeat),
            TimeService(ctx, lambda: self.executive.cycles), Files(ctx),
        ):  # fmt: skip
            self.components[component.name] = component
        for name, cls in app_classes.items():
            component = cls(ctx)
            if not isinstance(component, Component):
                raise ConfigError(
                    f"{config.source}: apps.{name}: {cls.__name__} is not a Component"
                )
            self.components[name] = component
        for component in self.components.values():
            component.pipe = Pipe(component.name)
        self.executive.groups = [self._group(g) for g in config.groups]

    # ------------------------------------------------------------------ building

    def _group(self, group: GroupConfig) -> RateGroup:
        unknown = [n for n in group.components if n not in self.components]
        if unknown:
            raise ConfigError(
                f"{self.config.source}: rate group {group.name}: no component {unknown[0]!r}"
            )
        members = [self.components[n] for n in group.components]
        return RateGroup(group.name, group.period, members, group.idle_period)

    def _steps(self, name: str, steps: Any) -> list[tuple[float, PusTc]]:
        out = []
        for i, step in enumerate(steps):
            try:
                command = self.dictionary.command(step.command)
                data = command.encode(**step.args)
            except (KeyError, ProtocolError) as exc:
                raise ConfigError(
                    f"{self.config.source}: sequence {name} step {i}: {exc}"
                ) from None
            packet = PusTc(
                self.dictionary.apid, command.message.service, command.message.subtype, data
            )
            refused = self.validate(packet, CommandSource.sequence(name))
            if refused is not None:  # a configured sequence is not the ground's confirmed load
                raise ConfigError(f"{self.config.source}: sequence {name} step {i}: {refused}")
            out.append((step.delay, packet))
        return out

    def attach_radio(self, radio: FlightSpaceLink) -> None:
        """Give the node its space link (built after the node, whose NV store keeps the link's
        anti-replay counters)."""
        self.radio = radio
        self.telemetry.downlink = radio.send_tm

    # ------------------------------------------------------------------ running

    def boot(self) -> None:
        """Start the node: count the boot, decide autonomy, restore state, enter safe."""
        now = self.now()
        self.events.now = now
        for name, detail in self._early_events:
            self.emit(name, detail)
        boots = dict(self.nv.get("boot") or {})
        boots["count"] = int(boots.get("count", 0)) + 1
        stable = self.guard.boot(self.boot_cause)
        self.nv.put_many({"boot": boots, "reset_guard": self.guard.state()})
        for board in self.boards.values():  # ids unlike those a previous boot left in a board
            board.start_sequence(boots["count"])
        self.protection.autonomy = stable
        self.emit("core.boot", f"boot {boots['count']} ({self.boot_cause}): safe and disarmed")
        self.executive.start(now)
        for component in self.components.values():
            component.start(now)
        self.modes.request("safe", "boot", now)
        self.started = True

    def cycle(self) -> None:
        """One node cycle at the clock's time (see the module docstring)."""
        if not self.started:
            self.boot()
        now = self.now()
        self.events.now = now
        self.modes.now = now
        if self.radio is not None:
            self.radio.poll(0, report=False)  # the CLCW goes down with the cycle's telemetry
            room = self._limits()[0] - len(self.dispatcher)
            while room > 0 and (packet := self.radio.receive(0)) is not None:
                self.submit(packet)
                room -= 1
            while (pdu := self.radio.receive_pdu()) is not None:  # CFDP, for "files" (0056)
                self.bus.publish(TOPIC_PDU, pdu)
            for refusal in self.radio.refusals():
                self.dispatcher.refuse(refusal.request_id, f"{refusal.reason}: {refusal.detail}")
            challenge = self.radio.challenge_due(now)
            if challenge is not None:  # no uplink until the ground resyncs (decision 0023)
                report = self.dictionary.report(RESYNC_REPORT)
                nonce = [int.from_bytes(challenge.nonce[i : i + 4], "big") for i in (0, 4, 8, 12)]
                data = report.encode(
                    reason=challenge.reason_code, last_sn=challenge.last_sn, nonce=nonce
                )
                self.telemetry.send(report.service, report.subtype, data)
        self.dispatcher.dispatch(now)
        self.executive.run(now)
        if self.radio is not None:
            self.radio.flush()

    def _send_packet(self, packet: bytes) -> bool:
        return self.radio.send_tm(packet, VC_PLAYBACK) if self.radio is not None else False

    def next_due(self) -> float:
        """When the node next needs a cycle (mission seconds): a rate group, a queued command,
        a schedule or sequence step."""
        if not self.started or len(self.dispatcher):
            return self.now()
        due = self.executive.next_due(self.now())
        if self.radio is not None and self.radio.needs_resync:
            due = min(due, self.radio.next_challenge)
        return due

    # ------------------------------------------------------------------ services for components

    def emit(self, event: str, detail: str = "") -> None:
        """Report an event (declared in the dictionary)."""
        self.events.emit(event, detail)

    def board_event(self, name: str, detail: str) -> None:
        """Report a health transition of a board client (its ``on_event``): ``device_lost``,
        ``device_recovered``, ``device_silent``, ``device_answering``, ``device_reply_lost``."""
        self.emit(f"health.{name}", detail)

    def radio_event(self, name: str, detail: str) -> None:
        """Report an event of the space link's flight end (its ``on_event``): COP-1 control
        (``cop_*``), a failed counter write (``store_failed``), a rejected frame or packet, a
        resync needed or taken (``resync_needed``, ``resynced``: decision 0023)."""
        if name.startswith("cop_"):
            event = "core.cop"
        elif name in ("resync_needed", "resynced"):
            event = f"core.{name}"
        else:
            event = "core.store_failed" if name == "store_failed" else "core.tc_rejected"
        self.emit(event, f"{name}: {detail}")

    def submit(self, packet: PusTc, source: CommandSource | None = None) -> bool:
        """Queue a telecommand for the dispatcher. ``source`` None: from the uplink, a ground
        command, confirmed when its source id carries
        :data:`~fsw.dictionary.model.CONFIRMED_SOURCE` (the frame was authenticated)."""
        if source is None:
            source = CommandSource.ground(bool(packet.source_id & CONFIRMED_SOURCE))
        return self.dispatcher.submit(packet, source)

    def _release(self, packet: PusTc, source: CommandSource, now: float) -> None:
        self.dispatcher.submit(packet, source)

    def validate(self, packet: PusTc, source: CommandSource) -> str | None:
        """Why the dispatcher would refuse ``packet`` from ``source`` on its form or its
        provenance (None: it would take it): what a schedule insert or a sequence load checks
        for each command it stores, and again at a restore. A load inside a load is refused
        (``nested_load``): a load's provenance is the ground's alone."""
        if packet.apid != self.dictionary.apid:
            return f"unknown_apid: 0x{packet.apid:03X}"
        command = self.dictionary.command_at(packet.apid, packet.service, packet.subtype)
        if command is None:
            return f"unknown_command: TC[{packet.service},{packet.subtype}]"
        if command.key[1:] in (INSERT, SEQUENCE_LOAD):
            return f"nested_load: {command.name} cannot be stored in a schedule or a sequence"
        try:
            args = command.decode(packet.app_data)
        except ProtocolError as exc:
            return f"{exc.reason}: {command.name}: {exc}"
        return provenance_refusal(command, args, source)

    def _parameter(self, name: str) -> Any:
        return self.params.get(name)

    def _limits(self) -> tuple[int, int]:
        return int(self._parameter("dispatch.queue_size")), int(
            self._parameter("dispatch.max_per_cycle")
        )

    def _request_mode(self, mode: str, why: str) -> bool:
        return self.modes.request(mode, why, self.now())

    def _mode_changed(self, old: str, new: str, now: float) -> None:
        for component in self.components.values():
            if component is not self.modes:
                component.on_mode(old, new, now)

    def _nv_event(self, name: str, detail: str) -> None:
        if self.started:
            self.emit(f"nv.{name}", detail)
        else:
            self._early_events.append((f"nv.{name}", detail))

    # fault responses (fsw.core.fdir.Responder)
    def stop_sequence(self, name: str, reason: str) -> None:
        """Stop a stored sequence (a fault response)."""
        self.sequences.stop(name, self.now())

    def start_sequence(self, name: str, reason: str) -> None:
        """Start a recovery sequence (a fault response)."""
        self.sequences.start_sequence(name, self.now())

    def enter_safe(self, reason: str) -> None:
        """Go safe (a fault response)."""
        self.modes.request("safe", reason, self.now())

    # ------------------------------------------------------------------ status

    def _status(self, now: float) -> dict[str, Any]:
        dispatcher = self.dispatcher
        return {
            "mode": MODE_CODES[self.modes.mode], "uptime": max(0.0, now - self.boot_time),
            "cycles": self.executive.cycles, "slips": self.executive.slips,
            "accepted": dispatcher.accepted, "rejected": sum(dispatcher.rejected.values()),
            "dropped": dispatcher.dropped, "events_suppressed": self.events.suppressed_total,
            "resets": int((self.nv.get("boot") or {}).get("count", 0)),
            "nv_writes": self.nv.writes, "queue": len(dispatcher),
            "time_reports_rate": self.components["time"].rate,  # type: ignore[attr-defined]
            "encoding_errors": self.hk.encoding_errors,
        }  # fmt: skip

    def _gate_extra(self) -> dict[str, Any]:
        return {
            "schedule_enabled": self.schedule.schedule.enabled,
            "schedule_size": len(self.schedule.schedule.activities()),
            "sequences_running": len(self.sequences.engine.running()),
        }

    def on_packet(self, listener: Callable[[PusTm], None]) -> None:
        """Also hand every TM packet sent to ``listener`` (tests, the log)."""
        self.telemetry.listeners.append(listener)


def _app_class(name: str, target: str, source: str) -> type:
    """The class named by ``[apps] name = "module:Class"`` (ConfigError when it cannot load)."""
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{source}: apps.{name}: cannot load {target}: {exc}") from None
    if not isinstance(cls, type):
        raise ConfigError(f"{source}: apps.{name}: {target} is not a class")
    return cls
