"""The flight dictionary: every command, telemetry packet, parameter and event of every node,
declared once.

Pure declarations (construct plus metadata, :mod:`fsw.dictionary.model`), importable by the
ground tools without any flight runtime: ``msr`` checks command arguments, decodes telemetry and
exports the dictionary (JSON, XTCE, the Markdown ICD) from these same records, and the flight
software dispatches and encodes from them.

Each node has one APID for its telecommands and telemetry (:data:`NODE_APIDS`); the message type
(service, subtype) says which component a command is for. Ids (SIDs, event ids, parameter ids)
are unique within a node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import import_module
from types import MappingProxyType
from typing import Final

from fsw.dictionary.core import (
    core_commands,
    core_events,
    core_hk,
    core_parameters,
    core_reports,
)
from fsw.dictionary.files import declare_files
from fsw.dictionary.model import (
    MODES,
    SEVERITIES,
    AppDeclarations,
    Command,
    Event,
    EventDecoded,
    Field,
    HkPacket,
    Message,
    Parameter,
    TmReport,
)
from fsw.dictionary.services import SERVICE_EVENTS
from hal.protocol.devices.icd import Limits, LimitSet

__all__ = [
    "DISARM_ALL",
    "MODES",
    "NAMED_ARGUMENTS",
    "NODE_APIDS",
    "NODE_APPS",
    "SEVERITIES",
    "AppDeclarations",
    "Command",
    "Event",
    "EventDecoded",
    "Field",
    "HkPacket",
    "Message",
    "NodeDictionary",
    "Parameter",
    "TmReport",
    "dictionary",
    "name_arguments",
    "node_dictionary",
]

NODE_APIDS: Final[Mapping[str, int]] = MappingProxyType(
    {"lander": 0x200, "mav": 0x210, "orbiter": 0x220}
)
"""The APID of each node's flight software (its telecommands and telemetry)."""

NODE_APPS: Final[Mapping[str, str]] = MappingProxyType(
    {"lander": "fsw.dictionary.lander", "mav": "fsw.dictionary.mav",
     "orbiter": "fsw.dictionary.orbiter"}
)  # fmt: skip
"""The module declaring each node's apps: its ``declare(apps)`` fills an
:class:`AppDeclarations` (pure declarations, like the core's)."""


@dataclass(frozen=True)
class NodeDictionary:
    """Everything one node declares, with lookups by name and by wire id.

    Attributes:
        node: the node's name.
        apid: its APID.
        commands, hk, events, parameters: the declarations, in order.
        inhibits: the node's onboard inhibits (hazardous-command gate), by index.
        reports: its telemetry reports of a fixed layout other than housekeeping.

    Raises (constructor):
        ValueError: a name or wire id declared twice, or a hazardous command naming an
            inhibit the node does not have.
    """

    node: str
    apid: int
    commands: tuple[Command, ...]
    hk: tuple[HkPacket, ...]
    events: tuple[Event, ...]
    parameters: tuple[Parameter, ...]
    inhibits: tuple[str, ...] = ()
    reports: tuple[TmReport, ...] = ()
    _by: dict[str, dict[object, object]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, dict[object, object]] = {}
        for kind, records, keys in (
            ("command", self.commands, lambda c: (c.name, c.key)),
            ("hk", self.hk, lambda h: (h.name, h.sid)),
            ("event", self.events, lambda e: (e.name, e.id)),
            ("parameter", self.parameters, lambda p: (p.name, p.id)),
            ("report", self.reports, lambda r: (r.name, r.key)),
        ):
            by_name: dict[object, object] = {}
            by_id: dict[object, object] = {}
            for record in records:
                name, wire = keys(record)
                if name in by_name or wire in by_id:
                    raise ValueError(f"{self.node}: {kind} {name} ({wire}) declared twice")
                by_name[name] = by_id[wire] = record
            index[kind] = by_name
            index[f"{kind}_id"] = by_id
        for command in self.commands:
            missing = set(command.inhibits) - set(self.inhibits)
            if missing:
                raise ValueError(f"{command.name}: unknown inhibit {sorted(missing)[0]!r}")
        self._by.update(index)

    def _get(self, kind: str, key: object) -> object:
        try:
            return self._by[kind][key]
        except KeyError:
            known = ", ".join(str(k) for k in list(self._by[kind])[:12])
            what = kind.split("_")[0]
            raise KeyError(f"{self.node} has no {what} {key!r} (known: {known}, ...)") from None

    def command(self, name: str) -> Command:
        """The command called ``name`` (KeyError naming some known ones)."""
        return self._get("command", name)  # type: ignore[return-value]

    def command_at(self, apid: int, service: int, subtype: int) -> Command | None:
        """The command a received packet is, or None."""
        return self._by["command_id"].get((apid, service, subtype))  # type: ignore[return-value]

    def hk_packet(self, name_or_sid: str | int) -> HkPacket:
        """A housekeeping packet by name or SID (KeyError)."""
        kind = "hk_id" if isinstance(name_or_sid, int) else "hk"
        return self._get(kind, name_or_sid)  # type: ignore[return-value]

    def event(self, name_or_id: str | int) -> Event:
        """An event by name or id (KeyError)."""
        kind = "event_id" if isinstance(name_or_id, int) else "event"
        return self._get(kind, name_or_id)  # type: ignore[return-value]

    def parameter(self, name_or_id: str | int) -> Parameter:
        """A parameter by name or id (KeyError)."""
        kind = "parameter_id" if isinstance(name_or_id, int) else "parameter"
        return self._get(kind, name_or_id)  # type: ignore[return-value]

    def report(self, name: str) -> TmReport:
        """A telemetry report by name (KeyError)."""
        return self._get("report", name)  # type: ignore[return-value]

    def report_at(self, service: int, subtype: int) -> TmReport | None:
        """The report a received TM[service,subtype] is, or None."""
        return self._by["report_id"].get((service, subtype))  # type: ignore[return-value]

    @property
    def hazardous(self) -> tuple[Command, ...]:
        """The node's hazardous commands."""
        return tuple(c for c in self.commands if c.hazardous)


def build_node(
    node: str,
    apid: int,
    *,
    commands: Iterable[Command] = (),
    hk: Iterable[HkPacket] = (),
    events: Iterable[tuple[str, str, str]] = (),
    parameters: Iterable[Parameter] = (),
    inhibits: Iterable[str] = (),
    reports: Iterable[TmReport] = (),
) -> NodeDictionary:
    """A node's dictionary: the core's declarations plus the node's own (its apps').

    The core commands that name one of the node's own things by number get the names as
    their argument's enumeration (:func:`name_arguments`), so an operator writes ``gate.arm
    command=launch.arm`` or ``hk.report sid=sta.status``.

    Args:
        events: the apps' events as (name, severity, meaning); their ids follow the core's.
    """
    files = AppDeclarations(node, apid)  # the core's file service, declared after the apps
    declare_files(files)  # so that their event ids stay where they were (decision 0056)
    all_commands = (*core_commands(node, apid), *commands, *files.commands)
    all_hk = tuple(gate_limits(h, tuple(inhibits)) for h in (*core_hk(node, apid), *hk, *files.hk))
    all_events = tuple(core_events(node, SERVICE_EVENTS + tuple(events) + tuple(files.events)))
    all_parameters = (*core_parameters(node), *parameters, *files.parameters)
    names = {
        "hazardous": tuple(((c.message.service << 8) | c.message.subtype, c.name)
                           for c in all_commands if c.hazardous),
        "inhibit": tuple(enumerate(inhibits)),
        "sid": tuple((h.sid, h.name) for h in all_hk),
        "event": tuple((e.id, e.name) for e in all_events),
        "parameter": tuple((p.id, p.name) for p in all_parameters),
    }  # fmt: skip
    return NodeDictionary(
        node,
        apid,
        tuple(name_arguments(c, names) for c in all_commands),
        all_hk,
        all_events,
        all_parameters,
        tuple(inhibits),
        (*core_reports(node, apid), *reports),
    )


def gate_limits(packet: HkPacket, inhibits: tuple[str, ...]) -> HkPacket:
    """``gate.status`` with the limits of its ``inhibits`` bits for this node: every inhibit in
    place is normal, any removed a caution (the mask of all ``inhibits``); another packet is
    returned as it is."""
    if packet.name != "gate.status":
        return packet
    full = (1 << len(inhibits)) - 1
    limits = Limits(LimitSet(yellow=(full, full)))
    fields = tuple(replace(f, limits=limits) if f.name == "inhibits" else f for f in packet.fields)
    return replace(packet, fields=fields)


NAMED_ARGUMENTS: Final[Mapping[tuple[str, str], str]] = MappingProxyType({
    ("gate.arm", "command"): "hazardous",
    ("gate.disarm", "command"): "hazardous",
    ("gate.remove_inhibit", "inhibit"): "inhibit",
    ("gate.restore_inhibit", "inhibit"): "inhibit",
    ("hk.enable", "sid"): "sid",
    ("hk.disable", "sid"): "sid",
    ("hk.report", "sid"): "sid",
    ("hk.set_period", "sid"): "sid",
    ("events.enable", "event_id"): "event",
    ("events.disable", "event_id"): "event",
    ("params.rollback", "parameter"): "parameter",
})  # fmt: skip
"""Core command arguments that number a thing of the node, and which things: ``hazardous``
(``service << 8 | subtype`` of each hazardous command, named by the command), ``inhibit`` (the
gate's inhibits by index), ``sid``, ``event`` and ``parameter`` (by id)."""
DISARM_ALL: Final = 0xFFFF
"""``gate.disarm``'s ``command`` that disarms every armed command (state name ``all``)."""


def name_arguments(command: Command, names: Mapping[str, tuple[tuple[int, str], ...]]) -> Command:
    """``command`` with the enumerations of its :data:`NAMED_ARGUMENTS` filled in from
    ``names`` (the node's things by kind); a command with none is returned as it is (commands
    are frozen: a changed one is a new record, :func:`dataclasses.replace`)."""
    fields = command.message.fields
    changed = False
    new_fields = []
    for f in fields:
        kind = NAMED_ARGUMENTS.get((command.name, f.name))
        if kind is not None:
            states = names.get(kind, ())
            if command.name == "gate.disarm":
                states = (*states, (DISARM_ALL, "all"))
            f = replace(f, enum=tuple(states))
            changed = True
        new_fields.append(f)
    if not changed:
        return command
    return replace(command, message=replace(command.message, fields=tuple(new_fields)))


@cache
def node_dictionary(node: str) -> NodeDictionary:
    """The dictionary of one mission node (KeyError for an unknown node)."""
    if node not in NODE_APIDS:
        raise KeyError(f"no node {node!r} (known: {', '.join(NODE_APIDS)})")
    apps = AppDeclarations(node, NODE_APIDS[node])
    import_module(NODE_APPS[node]).declare(apps)
    return build_node(
        node, apps.apid, commands=apps.commands, hk=apps.hk, events=apps.events,
        parameters=apps.parameters, inhibits=apps.inhibits, reports=apps.reports,
    )  # fmt: skip


def dictionary() -> dict[str, NodeDictionary]:
    """Every mission node's dictionary."""
    return {node: node_dictionary(node) for node in NODE_APIDS}
