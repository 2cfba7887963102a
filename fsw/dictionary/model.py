"""The records every command, telemetry packet, event and parameter is declared with.

A declaration is construct plus metadata: the data layout comes from
:class:`hal.protocol.devices.icd.Field` (kind, unit, range, meaning, declared with construct) and
:class:`hal.protocol.devices.icd.Message` (service, subtype, fields, meaning, hazard flag), the
same records the board ICDs use, so the ground's dictionary exports cover both alike. This module
is pure: no flight runtime, no I/O, importable by the ground tools.

Wire layouts of the records (all big-endian; packets are PUS-C, architecture.md §3):

==================  ===============================================================
record              application / source data
==================  ===============================================================
:class:`Command`    the message's fixed fields; a ``variable`` command's data is
                    parsed by its component (which checks its length itself)
:class:`HkPacket`   TM[3,25]: SID uint16 | the packet's fields (each value as it is
                    when its kind carries it, else the kind's :data:`INVALID` marker;
                    never clamped, decision 0035)
:class:`TmReport`   TM[service,subtype]: the report's fields (a fixed layout, sent by a
                    component when asked or when due: time reports, custody reports)
:class:`Event`      TM[5,severity]: event id uint16 | detail length uint8 | detail
                    UTF-8 (0..:data:`MAX_DETAIL` octets)
:class:`Parameter`  carried as id uint16 | value float64 by service 20
==================  ===============================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Real
from types import MappingProxyType
from typing import Any, Final

import construct as cs

from hal.errors import EncodeError, HeaderError, LengthError
from hal.protocol.devices.icd import Field, Limits, LimitSet, Message

__all__ = [
    "CONFIRMED_SOURCE",
    "INVALID",
    "MAX_DETAIL",
    "MODES",
    "SEVERITIES",
    "AppDeclarations",
    "Command",
    "Confirmation",
    "EncodingIssue",
    "Event",
    "EventDecoded",
    "Field",
    "HkPacket",
    "Message",
    "Packed",
    "Parameter",
    "TmReport",
    "declare_field",
    "limit_set",
]

SEVERITIES: Final = {"info": 1, "low": 2, "medium": 3, "high": 4}
"""Event severity to its PUS-5 report subtype (TM[5,1] informative .. TM[5,4] high)."""
MODES: Final = ("boot", "safe", "nominal", "critical")
"""The node modes, in their wire order (uint8 0..3)."""
MAX_DETAIL: Final = 120
"""The longest event detail, octets of UTF-8 (a longer one is cut at a character boundary)."""

CONFIRMED_SOURCE: Final = 0x8000
"""Bit 15 of a telecommand's PUS source id (its TC secondary header): the ground confirmed this
command, or this load of a schedule or a sequence, as hazardous (decision 0024). Set only by the
ground station, for a command sent with the operator's confirmation; trusted on board because
the frame that carries it is authenticated (SDLS MAC); read only for commands from the uplink."""

Bounds = tuple[float | None, float | None]
"""A ``(lo, hi)`` range of a limit set; None is an open end."""


def declare_field(
    name: str, kind: str, unit: str, lo: float, hi: float, meaning: str,
    states: tuple[tuple[int, str], ...] = (), limits: Limits | None = None,
) -> Field:  # fmt: skip
    """A field as the dictionary modules declare one: positionally, with its state names
    (:func:`hal.protocol.devices.icd.enum`) and its limits after the meaning."""
    return Field(name, kind, unit, lo, hi, meaning, enum=states, limits=limits)


def limit_set(yellow: Bounds, red: Bounds) -> Limits:
    """The limits of a point with one set in every mode: normal inside ``yellow``, out of
    limits outside ``red``."""
    return Limits(LimitSet(yellow=yellow, red=red))


_EVENT = cs.Struct(
    "event_id" / cs.Int16ub * "the event's id in the dictionary",
    "detail" / cs.PascalString(cs.Int8ub, "utf8") * "one line saying what happened",
)


@dataclass(frozen=True)
class Confirmation:
    """When a command needs the ground's hazardous-command confirmation (decision 0024).

    A command that arms, removes an inhibit, enters critical mode or fires is confirmed by the
    ground (the operator's explicit ``Confirm``), sent with the confirmation mark of its PUS TC
    secondary header, and accepted on board from a stored sequence or the schedule only when
    that sequence or schedule entry was itself loaded with the confirmation.

    Attributes:
        field: ``""``: always; else the argument the rule looks at (``modes.set``'s ``mode``).
        values: with a ``field``: the argument values that need it (``(3,)``: critical).
        why: what the command does that needs it, for the operator and the ICD.
    """

    field: str = ""
    values: tuple[int, ...] = ()
    why: str = ""

    def applies(self, args: Mapping[str, Any]) -> bool:
        """Whether a command with these decoded arguments needs the confirmation (a missing
        argument counts as needing it: the rule never fails open)."""
        if not self.field:
            return True
        return args.get(self.field, self.values[0] if self.values else None) in self.values

    def describe(self) -> str:
        """``always`` or ``when mode in (3)``: for the exports and messages."""
        if not self.field:
            return "always"
        return f"when {self.field} in ({', '.join(str(v) for v in self.values)})"


@dataclass(frozen=True)
class Command:
    """One telecommand a node accepts.

    Attributes:
        name: ``<component>.<command>``, unique within the node (``core.noop``).
        node: the node that accepts it.
        apid: the APID it is addressed to.
        message: service, subtype, fields (units, ranges, meanings) and the hazard flag.
        component: the component that executes it.
        modes: the modes in which it may run (empty: every mode).
        variable: the data has no fixed layout; the component parses and checks it.
        layout: for a variable command, its layout in words (for the ICD document).
        window: a hazardous command: seconds an arm stays valid.
        inhibits: a hazardous command: the onboard inhibits that must all be removed.
        confirm: when the command needs the ground's confirmation (None: never; a hazardous
            command always needs it, see :attr:`confirmation`).
        safing: when the command only makes the node safer, so fault protection may send it
            (None: never).
    """

    name: str
    node: str
    apid: int
    message: Message
    component: str
    modes: tuple[str, ...] = ()
    variable: bool = False
    layout: str = ""
    window: float = 0.0
    inhibits: tuple[str, ...] = ()
    confirm: Confirmation | None = None
    safing: Confirmation | None = None

    def __post_init__(self) -> None:
        for rule in (self.confirm, self.safing):
            if rule is not None and rule.field and (
                self.variable or rule.field not in {f.name for f in self.message.fields}
                or not rule.values
            ):  # fmt: skip
                raise ValueError(f"command {self.name}: a rule on unknown argument {rule.field!r}")
        if self.hazardous and not self.window > 0:
            raise ValueError(f"hazardous command {self.name}: needs an arm window > 0")
        bad = set(self.modes) - set(MODES)
        if bad:
            raise ValueError(f"command {self.name}: unknown mode {sorted(bad)[0]!r}")

    @property
    def hazardous(self) -> bool:
        """The command passes the hazardous-command gate (arm, then fire within a window)."""
        return self.message.hazardous

    @property
    def confirmation(self) -> Confirmation | None:
        """When the command needs the ground's confirmation: a hazardous (gated) command
        always; another one as its ``confirm`` rule says; None: never."""
        if self.hazardous:
            return self.confirm or Confirmation(why="fires: it passes the hazardous gate")
        return self.confirm

    def needs_confirmation(self, args: Mapping[str, Any]) -> bool:
        """Whether this command with these (decoded) arguments needs the confirmation."""
        rule = self.confirmation
        return rule is not None and rule.applies(args)

    def is_safing(self, args: Mapping[str, Any]) -> bool:
        """Whether this command with these arguments only makes the node safer (what fault
        protection may send); never for one that needs the confirmation."""
        return (
            self.safing is not None and self.safing.applies(args)
            and not self.needs_confirmation(args)
        )  # fmt: skip

    @property
    def key(self) -> tuple[int, int, int]:
        """``(apid, service, subtype)``: how a received packet finds its declaration."""
        return (self.apid, self.message.service, self.message.subtype)

    def decode(self, data: bytes) -> dict[str, Any]:
        """The checked arguments of a fixed-layout command (a variable one: ``{"data": ...}``).

        Raises:
            LengthError: not exactly the declared size.
            HeaderError: an argument out of range (the message names it and its range).
        """
        if self.variable:
            return {"data": bytes(data)}
        return self.message.decode(data)

    def encode(self, **values: Any) -> bytes:
        """The application data for these arguments (EncodeError naming a bad one)."""
        if self.variable:
            data = values.get("data", b"")
            if set(values) - {"data"} or not isinstance(data, bytes | bytearray):
                raise EncodeError(f"{self.name}: a variable command takes data=<bytes>")
            return bytes(data)
        return self.message.encode(**values)


@dataclass(frozen=True)
class HkPacket:
    """One housekeeping packet, TM[3,25], identified by its SID.

    Attributes:
        name: ``<component>.<packet>``, unique within the node.
        node: the node that sends it.
        apid: the APID it is sent from.
        sid: the structure id, unique within the node (1..65535).
        fields: its values in wire order, with units, ranges and meanings.
        component: the component that fills it.
        period: the default collection interval, seconds.
        meaning: what it reports.
    """

    name: str
    node: str
    apid: int
    sid: int
    fields: tuple[Field, ...]
    component: str
    period: float = 1.0
    meaning: str = ""

    @cached_property
    def message(self) -> Message:
        """The layout of the fields after the SID."""
        return Message(self.name, 3, 25, self.fields, self.meaning)

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """SID then the fields (:meth:`pack` without its list of encoding errors)."""
        return self.pack(values).data

    def pack(self, values: Mapping[str, Any]) -> Packed:
        """SID then the fields, each value carried as it is whenever its kind can carry it
        (decision 0035): the declared range is no clamp (an out-of-limit value is what the
        limits are for), an ``f32`` carries NaN, infinities and any finite value. A value
        beyond its kind (300 in a ``u8``, a negative in an unsigned, NaN in an integer, not a
        number) is never clamped: the field carries its kind's :data:`INVALID` marker and the
        value is listed in :attr:`Packed.errors`, for the node to count and report.

        Raises:
            EncodeError: a field missing or unknown (a bug of the component, not a value).
        """
        clean: dict[str, Any] = {}
        errors: list[EncodingIssue] = []
        for f in self.fields:
            if f.name not in values:
                raise EncodeError(f"{self.name}: missing value {f.name!r}")
            clean[f.name] = _carry(self.name, f, values[f.name], errors)
        unknown = set(values) - set(clean)
        if unknown:
            raise EncodeError(f"{self.name}: unknown value {sorted(unknown)[0]!r}")
        data = self.sid.to_bytes(2, "big") + bytes(self.message.layout.build(clean))
        return Packed(data, tuple(errors))

    def decode(self, data: bytes) -> dict[str, Any]:
        """The values of a report's source data (after checking its SID and length). A value
        outside its declared range is returned as it is (limits judge it, decision 0035);
        only a wrong SID or length is refused."""
        if len(data) < 2 or int.from_bytes(data[:2], "big") != self.sid:
            raise HeaderError(f"{self.name}: not SID {self.sid}", reason="wrong_sid")
        body = data[2:]
        if len(body) != self.message.size:
            raise LengthError(f"{self.name}: {len(body)} octets, the ICD says {self.message.size}")
        parsed = self.message.layout.parse(bytes(body))
        out: dict[str, Any] = {}
        for f in self.fields:
            value = parsed[f.name]
            if f.count > 1:
                value = [bool(v) if f.kind == "bool" else v for v in value]
            elif f.kind == "bool":
                value = bool(value)
            out[f.name] = value
        return out


INVALID: Final[Mapping[str, Any]] = MappingProxyType({
    "u8": 0xFF, "u16": 0xFFFF, "u32": 0xFFFF_FFFF, "i16": -0x8000, "i32": -0x8000_0000,
    "f32": math.nan, "bool": False,
})  # fmt: skip
"""What a housekeeping field carries when its value is beyond its kind (decision 0035): all
ones for an unsigned kind, the most negative number for a signed one, NaN for ``f32``, false
for ``bool``. The node counts the error (``core.status.encoding_errors``) and reports it
(event ``core.encoding_error``)."""

_SPANS: Final = {
    "u8": (0, 0xFF), "u16": (0, 0xFFFF), "u32": (0, 0xFFFF_FFFF),
    "i16": (-0x8000, 0x7FFF), "i32": (-0x8000_0000, 0x7FFF_FFFF),
}  # fmt: skip
_F32_MAX: Final = 3.4028234663852886e38


@dataclass(frozen=True)
class EncodingIssue:
    """A housekeeping value beyond its field's kind (:meth:`HkPacket.pack`).

    Attributes:
        packet: the packet's name.
        field: the field's name (``name[i]`` for an element of an array).
        value: the value the component gave, as text.
        kind: the field's kind.
    """

    packet: str
    field: str
    value: str
    kind: str

    def describe(self) -> str:
        """``sta.status.lid = 300 does not fit u8 (sent as 255)``, for the event."""
        marker = INVALID[self.kind]
        shown = "nan" if isinstance(marker, float) else str(marker).lower()
        return (
            f"{self.packet}.{self.field} = {self.value} does not fit {self.kind} (sent as {shown})"
        )


@dataclass(frozen=True)
class Packed:
    """A housekeeping report's source data and the values that did not fit their kind."""

    data: bytes
    errors: tuple[EncodingIssue, ...] = ()


def _carry(packet: str, f: Field, value: Any, errors: list[EncodingIssue]) -> Any:
    if f.count > 1:
        items = list(value) if isinstance(value, list | tuple) else None
        if items is None or len(items) != f.count:
            errors.append(EncodingIssue(packet, f.name, _shown(value), f.kind))
            return [INVALID[f.kind]] * f.count
        return [_carry_one(packet, f, item, f"{f.name}[{i}]", errors)
                for i, item in enumerate(items)]  # fmt: skip
    return _carry_one(packet, f, value, f.name, errors)


def _carry_one(packet: str, f: Field, value: Any, name: str, errors: list[EncodingIssue]) -> Any:
    """``value`` as its kind carries it, or the kind's marker (and an issue) when it cannot."""
    if isinstance(value, Real):
        if f.kind == "bool":
            if value in (0, 1):
                return bool(value)
        elif f.kind == "f32":
            try:
                number = float(value)
            except OverflowError:
                number = _F32_MAX * 2  # an integer too large for any float
            if not math.isfinite(number) or abs(number) <= _F32_MAX:
                return number  # NaN and the infinities are IEEE 754 values like any other
        elif math.isfinite(value):
            lo, hi = _SPANS[f.kind]
            whole = round(value)
            if lo <= whole <= hi:
                return whole
    errors.append(EncodingIssue(packet, name, _shown(value), f.kind))
    return INVALID[f.kind]


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, float) else f"{value:g}"
    return text if len(text) <= 24 else text[:21] + "..."


@dataclass(frozen=True)
class TmReport:
    """A telemetry report of a fixed layout other than housekeeping, identified by its
    message type (a standard one such as TM[9,2], or a private service's).

    Attributes:
        name: ``<component>.<report>``, unique within the node.
        node: the node that sends it.
        apid: the APID it is sent from.
        service, subtype: its message type, unique within the node.
        fields: its values in wire order, with units, ranges and meanings.
        component: the component that sends it.
        meaning: what it reports and when it is sent.
    """

    name: str
    node: str
    apid: int
    service: int
    subtype: int
    fields: tuple[Field, ...]
    component: str
    meaning: str = ""

    @cached_property
    def message(self) -> Message:
        """The report's layout."""
        return Message(self.name, self.service, self.subtype, self.fields, self.meaning)

    @property
    def key(self) -> tuple[int, int]:
        """Its message type, ``(service, subtype)``."""
        return (self.service, self.subtype)

    def encode(self, **values: Any) -> bytes:
        """The report's source data (EncodeError naming a value missing or out of range)."""
        return self.message.encode(**values)

    def decode(self, data: bytes) -> dict[str, Any]:
        """The values of a report's source data (LengthError on a wrong length)."""
        return self.message.decode(data)


@dataclass(frozen=True)
class Event:
    """One event a node can report, TM[5,severity].

    Attributes:
        name: ``<component>.<event>``, unique within the node.
        node: the node that reports it.
        id: the event id, unique within the node (1..65535).
        severity: ``info``, ``low``, ``medium`` or ``high``.
        component: the component that reports it.
        meaning: what it means, for the operator.
    """

    name: str
    node: str
    id: int
    severity: str
    component: str
    meaning: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"event {self.name}: unknown severity {self.severity!r}")

    @property
    def subtype(self) -> int:
        """The PUS-5 report subtype of its severity."""
        return SEVERITIES[self.severity]

    def encode(self, detail: str) -> bytes:
        """Event id, then the detail, one line, cut to :data:`MAX_DETAIL` octets of UTF-8."""
        line = " ".join(detail.split())
        raw = line.encode("utf-8")[:MAX_DETAIL].decode("utf-8", "ignore")
        return bytes(_EVENT.build({"event_id": self.id, "detail": raw}))


@dataclass(frozen=True)
class EventDecoded:
    """A received event report's content."""

    event_id: int
    detail: str

    @classmethod
    def parse(cls, data: bytes) -> EventDecoded:
        """The id and detail of TM[5,x] source data (LengthError when malformed)."""
        try:
            parsed = _EVENT.parse(data)
        except (cs.ConstructError, UnicodeDecodeError) as exc:
            raise LengthError(f"event report: {exc}".splitlines()[0]) from exc
        if len(data) != 3 + len(parsed.detail.encode("utf-8")):
            raise LengthError("event report: trailing octets")
        return cls(parsed.event_id, parsed.detail)


@dataclass(frozen=True)
class Parameter:
    """One onboard parameter (PUS 20), typed and ranged, persisted in the NV store.

    Attributes:
        name: ``<component>.<parameter>``, unique within the node.
        node: the node that holds it.
        id: the parameter id, unique within the node (1..65535).
        kind: ``int``, ``float`` or ``bool``.
        unit: its unit (``-`` when none).
        lo, hi: the valid range, inclusive.
        default: the power-on default (within the range).
        component: the component that uses it.
        meaning: what it sets.
    """

    name: str
    node: str
    id: int
    kind: str
    unit: str
    lo: float
    hi: float
    default: float
    component: str
    meaning: str = ""
    enum: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float", "bool"):
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")
        if self.check(self.default) is None:
            raise ValueError(f"parameter {self.name}: default {self.default} is out of range")

    def check(self, value: float) -> float | int | bool | None:
        """``value`` as the parameter's type, or None when it is not a valid value."""
        if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
            return None
        if not self.lo <= value <= self.hi:
            return None
        if self.kind == "float":
            return float(value)
        if int(value) != value:
            return None
        if self.kind == "bool":
            return bool(value)
        return int(value)


@dataclass
class AppDeclarations:
    """What a node's apps declare, built with short calls (the apps' dictionary modules).

    ``events`` are ``(name, severity, meaning)``; their ids follow the core's. ``inhibits``
    are the node's onboard inhibits of the hazardous-command gate, by index.
    """

    node: str
    apid: int
    commands: list[Command] = field(default_factory=list)
    hk: list[HkPacket] = field(default_factory=list)
    reports: list[TmReport] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    inhibits: list[str] = field(default_factory=list)

    def command(
        self, name: str, service: int, subtype: int, meaning: str, *fields: Field,
        modes: tuple[str, ...] = (), window: float = 0.0, inhibits: tuple[str, ...] = (),
        confirm: Confirmation | None = None, safing: Confirmation | None = None,
        variable: str = "",
    ) -> Command:  # fmt: skip
        """Declare command ``<component>.<command>``; with a ``window`` it is hazardous (it
        passes the gate: armed, then fired within ``window`` s, every inhibit removed, and it
        needs the ground's confirmation); ``confirm`` and ``safing`` as :class:`Command`;
        ``variable``: the layout, in words, of a command its component parses itself."""
        component, short = name.split(".", 1)
        message = Message(short, service, subtype, tuple(fields), meaning, hazardous=window > 0)
        command = Command(
            name, self.node, self.apid, message, component, modes=modes, window=window,
            inhibits=inhibits, confirm=confirm, safing=safing, variable=bool(variable),
            layout=variable,
        )  # fmt: skip
        self.commands.append(command)
        return command

    def packet(
        self, name: str, sid: int, meaning: str, *fields: Field, period: float = 1.0
    ) -> HkPacket:
        """Declare housekeeping packet ``<component>.<packet>`` with SID ``sid``."""
        packet = HkPacket(name, self.node, self.apid, sid, tuple(fields), name.split(".")[0],
                          period, meaning)  # fmt: skip
        self.hk.append(packet)
        return packet

    def report(
        self, name: str, service: int, subtype: int, meaning: str, *fields: Field
    ) -> TmReport:
        """Declare telemetry report ``<component>.<report>``, TM[service,subtype]."""
        report = TmReport(name, self.node, self.apid, service, subtype, tuple(fields),
                          name.split(".")[0], meaning)  # fmt: skip
        self.reports.append(report)
        return report

    def event(self, name: str, severity: str, meaning: str) -> None:
        """Declare event ``<component>.<event>``."""
        self.events.append((name, severity, meaning))

    def parameter(
        self, pid: int, name: str, kind: str, unit: str, lo: float, hi: float, default: float,
        meaning: str,
    ) -> Parameter:  # fmt: skip
        """Declare parameter ``<component>.<name>`` with id ``pid``."""
        parameter = Parameter(name, self.node, pid, kind, unit, lo, hi, default,
                              name.split(".")[0], meaning)  # fmt: skip
        self.parameters.append(parameter)
        return parameter
