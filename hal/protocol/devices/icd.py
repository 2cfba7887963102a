"""The shape every board ICD takes: boards, devices (one APID each), messages, fields.

A board is one serial endpoint; each device on it has its own APID. Every device speaks the same
PUS-C conventions, so that one HAL client and one emulator host serve them all::

    telecommand                        reply
    TC[17,1]  are you alive            TM[17,2]  alive
    TC[3,27]  report status now        TM[3,25]  the device's status report
    TC[s,n]   a device command         TM[1,7]   completed (data: request id, 4 octets)
                                       TM[1,8]   failed (data: request id 4, failure code 1,
                                                 detail 2: which field or device-specific value)
    anything else                      TM[1,2]   acceptance failed (request id 4, code 1, detail 2)

The request id is the request's packet id and sequence control (ECSS-E-ST-70-41C 6.1.5,
:class:`~hal.protocol.pus.RequestId`); the failure report's data is declared once, as
:data:`~hal.protocol.pus.DeviceFailureReport`, and its codes are the project's one table
(:class:`~hal.protocol.pus.FailureCode`: :data:`FAILURES` names the ones a board uses). Device
commands use private services (128 and up).

Exactly once (decision 0022). Every request carries a request id, and a retry after a lost reply
re-sends the *same* id. A board keeps, per device, the ids of its last :data:`REMEMBERED`
commands with the packet each came in and the reply it gave, for :data:`REMEMBER_SECONDS`; a
command whose id and content (service, subtype, data) equal a remembered one is answered with
the stored reply and not acted on again. The same id with other content is a new request.
Status requests and pings are not remembered (they act on nothing and must read the present).
A driver numbers its requests from a start its node gives it (derived from the node's boot
count), so a rebooted node does not reuse the ids its predecessor's requests left in a board's
memory. A hazardous command (``Message.hazardous``) is never re-sent blindly: after a lost
reply the driver reads the device's status and compares it with the command's declared
:class:`Effect`. The effect present is a success (the node reports the lost reply, confirmed by
the state); absent, the driver re-sends the same id (the board's memory keeps that at most once)
and, when no attempt is left, fails with ``DeviceTimeout`` saying whether the state showed the
command not done (``not_acted``) or could not be read (``unconfirmed``).

Application and source data are fixed layouts, declared with construct from :class:`Field`
records that carry each value's unit, range and meaning next to it: the ICD document is generated
from the same records.

Values are checked on both sides: :meth:`Message.encode` refuses an out-of-range argument
(:class:`~hal.errors.EncodeError` naming the field and its range); :meth:`Message.decode` refuses
data of the wrong length or with a value out of range (:class:`~hal.errors.LengthError`,
:class:`~hal.errors.HeaderError` reason ``out_of_range``), so a board sending garbage is seen as
such and never as a plausible reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import construct as cs

from hal.errors import EncodeError, HeaderError, LengthError
from hal.protocol.pus import FailureCode

__all__ = [
    "FAILURES",
    "LEVELS",
    "REMEMBERED",
    "REMEMBER_SECONDS",
    "BoardIcd",
    "DeviceIcd",
    "Effect",
    "Field",
    "LimitSet",
    "Limits",
    "Message",
    "enum",
]

SERVICE_VERIFICATION: Final = 1
SUBTYPE_ACCEPTANCE_FAILED: Final = 2
SUBTYPE_COMPLETED: Final = 7
SUBTYPE_FAILED: Final = 8
SERVICE_HK: Final = 3
SUBTYPE_REPORT_NOW: Final = 27
SUBTYPE_STATUS_REPORT: Final = 25
SERVICE_TEST: Final = 17
SUBTYPE_ALIVE: Final = 1
SUBTYPE_ALIVE_REPORT: Final = 2

FAILURES: Final = {
    int(code): code.label
    for code in (
        FailureCode.UNKNOWN_COMMAND, FailureCode.BAD_LENGTH, FailureCode.OUT_OF_RANGE,
        FailureCode.BUSY, FailureCode.PRECONDITION, FailureCode.HARDWARE_FAULT,
    )
}  # fmt: skip
"""Failure codes common to every device, numbered as the flight software numbers them
(:class:`~hal.protocol.pus.FailureCode`); a device adds its own from 16 up."""

REMEMBERED: Final = 8
"""Commands a board remembers per device (id, content and reply) to answer a repeat."""
REMEMBER_SECONDS: Final = 60.0
"""How long a board remembers a command, s of its own time: far beyond any driver's timeout,
far below the time a node takes to reboot and come back to the same command."""

_KINDS: Final[dict[str, Any]] = {
    "u8": cs.Int8ub,
    "u16": cs.Int16ub,
    "u32": cs.Int32ub,
    "i16": cs.Int16sb,
    "i32": cs.Int32sb,
    "f32": cs.Float32b,
    "bool": cs.Flag,
}


LEVELS: Final = ("green", "yellow", "red")
"""A telemetry value's limit level, from normal to out of limits (:meth:`Limits.level`)."""


def enum(*names: str, start: int = 0) -> tuple[tuple[int, str], ...]:
    """Consecutive state names from ``start``: ``enum("off", "on")`` is ``((0, "off"), (1,
    "on"))``, the form :attr:`Field.enum` takes."""
    return tuple((start + i, name) for i, name in enumerate(names))


@dataclass(frozen=True)
class LimitSet:
    """One set of limits: inside ``yellow`` is normal, outside it a caution, outside ``red``
    out of limits. A bound of None is open (no low or no high limit).

    Attributes:
        yellow: the caution range ``(lo, hi)``, inclusive.
        red: the out-of-limits range ``(lo, hi)``, inclusive (contains ``yellow``).
    """

    yellow: tuple[float | None, float | None] = (None, None)
    red: tuple[float | None, float | None] = (None, None)

    def __post_init__(self) -> None:
        (ylo, yhi), (rlo, rhi) = self.yellow, self.red
        for outer, inner, low in ((rlo, ylo, True), (rhi, yhi, False)):
            if outer is not None and (inner is None or (inner < outer if low else inner > outer)):
                raise ValueError(f"limits: red {self.red} must contain yellow {self.yellow}")
        for lo, hi in (self.yellow, self.red):
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"limits: empty range ({lo}, {hi})")

    def level(self, value: float) -> str:
        """``green``, ``yellow`` or ``red`` for ``value`` (NaN is red)."""
        if math.isnan(value):
            return "red"
        for name, (lo, hi) in (("red", self.red), ("yellow", self.yellow)):
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                return name
        return "green"

    def describe(self) -> str:
        """``yellow 5..25, red 0..30`` for documents and listings."""

        def span(bounds: tuple[float | None, float | None]) -> str:
            lo, hi = bounds
            return f"{'' if lo is None else f'{lo:g}'}..{'' if hi is None else f'{hi:g}'}"

        parts = [f"{name} {span(b)}" for name, b in (("yellow", self.yellow), ("red", self.red))
                 if b != (None, None)]  # fmt: skip
        return ", ".join(parts)


@dataclass(frozen=True)
class Limits:
    """The limits of one telemetry point, declared beside it (:attr:`Field.limits`).

    A numeric point has a default :class:`LimitSet` and, where its normal range depends on the
    node's mode, one set per mode (``modes``: ``(("critical", LimitSet(...)), ...)``, names of
    :data:`fsw.dictionary.model.MODES`). An enumerated point names the states that are a caution
    (``yellow_states``) and the ones out of limits (``red_states``). Each element of an array
    field is judged alone.

    Attributes:
        default: the set used in any mode without its own.
        modes: per-mode sets.
        yellow_states, red_states: state names (of the field's :attr:`Field.enum`).
    """

    default: LimitSet = LimitSet()
    modes: tuple[tuple[str, LimitSet], ...] = ()
    yellow_states: tuple[str, ...] = ()
    red_states: tuple[str, ...] = ()

    def set_for(self, mode: str | None) -> LimitSet:
        """The set that applies in ``mode`` (None: unknown mode, the default set)."""
        for name, limit_set in self.modes:
            if name == mode:
                return limit_set
        return self.default

    def level(self, value: Any, mode: str | None = None, state: str | None = None) -> str:
        """``green``, ``yellow`` or ``red`` for one value: by its state name when the point is
        enumerated (``state``), else by the set of ``mode``. A boolean counts as 0 or 1."""
        if state is not None and (self.red_states or self.yellow_states):
            if state in self.red_states:
                return "red"
            return "yellow" if state in self.yellow_states else "green"
        if value is None or isinstance(value, str):
            return "green"
        return self.set_for(mode).level(float(value))

    def describe(self) -> str:
        """The limits in one line, for documents and listings."""
        parts = []
        if self.default.describe():
            parts.append(self.default.describe())
        parts += [f"in {mode}: {limit_set.describe()}" for mode, limit_set in self.modes]
        if self.yellow_states:
            parts.append("yellow when " + " or ".join(self.yellow_states))
        if self.red_states:
            parts.append("red when " + " or ".join(self.red_states))
        return "; ".join(parts)


@dataclass(frozen=True)
class Field:
    """One value in a message.

    Attributes:
        name: identifier, as the HAL call's keyword argument and the status key.
        kind: ``u8``, ``u16``, ``u32``, ``i16``, ``i32``, ``f32`` (IEEE 754, big-endian) or
            ``bool``.
        unit: SI or mission unit (``deg``, ``deg/s``, ``A``, ``degC``, ``N``, ``mm``, ``km``...),
            ``-`` when dimensionless.
        lo, hi: the valid range, inclusive (checked both ways by :class:`Message`; a flight
            housekeeping field's span is no clamp and no refusal, its limits judge it:
            :meth:`fsw.dictionary.model.HkPacket.pack`, decision 0035).
        meaning: what the value is, for the ICD document.
        count: for a per-item array (e.g. 7 joints), its length; 1 for a scalar.
        enum: the names of an enumerated value's states, ``((code, name), ...)``
            (:func:`enum` builds consecutive ones); empty for a plain number.
        limits: a telemetry value's yellow and red limits (None: not monitored).
    """

    name: str
    kind: str
    unit: str
    lo: float
    hi: float
    meaning: str
    count: int = 1
    enum: tuple[tuple[int, str], ...] = ()
    limits: Limits | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        if self.lo > self.hi or self.count < 1:
            raise ValueError(f"field {self.name}: empty range or count")
        codes = [code for code, _ in self.enum]
        names = [name for _, name in self.enum]
        if len(set(codes)) != len(codes) or len(set(names)) != len(names):
            raise ValueError(f"field {self.name}: an enumeration repeats a code or a name")
        if self.enum and (self.kind == "f32" or not all(self.lo <= c <= self.hi for c in codes)):
            raise ValueError(f"field {self.name}: enumeration codes outside {self.lo}..{self.hi}")
        if self.limits is not None:
            states = set(self.limits.yellow_states) | set(self.limits.red_states)
            if states - set(names):
                raise ValueError(f"field {self.name}: limits name unknown states "
                                 f"{sorted(states - set(names))}")  # fmt: skip

    @cached_property
    def states(self) -> dict[int, str]:
        """Code to state name (empty for a plain number)."""
        return dict(self.enum)

    def state(self, value: Any) -> str | None:
        """The name of ``value``'s state, or None (not enumerated, or a code with no name)."""
        if not self.enum or (isinstance(value, float) and not value.is_integer()):
            return None
        try:
            return self.states.get(int(value))
        except (TypeError, ValueError, OverflowError):
            return None

    def code(self, name: str) -> int:
        """The code of state ``name``: how an operator's ``mode=nominal`` becomes its number.

        Raises:
            EncodeError: not a state of this field (the message lists the known ones).
        """
        for code, state in self.enum:
            if state == name:
                return code
        known = ", ".join(state for _, state in self.enum) or "none: give a number"
        raise EncodeError(f"{self.name}: {name!r} is not one of its states ({known})")

    def level(self, value: Any, mode: str | None = None) -> str:
        """``green``, ``yellow`` or ``red`` for one telemetry value against its limits (green
        when it has none), by state name when enumerated."""
        if self.limits is None:
            return "green"
        return self.limits.level(value, mode, self.state(value) if self.enum else None)

    @property
    def subcon(self) -> Any:
        """The construct declaration of this field."""
        base = _KINDS[self.kind]
        doc = f"{self.unit}; {self.lo}..{self.hi}; {self.meaning}"
        if self.count > 1:
            return self.name / cs.Array(self.count, base) * doc
        return self.name / base * doc

    def check(self, value: Any, error: type[EncodeError] | type[HeaderError]) -> Any:
        """Return ``value`` checked against kind, count and range, or raise ``error``."""
        values = value if self.count > 1 else [value]
        if self.count > 1 and (not isinstance(value, list | tuple) or len(value) != self.count):
            raise error(f"{self.name}: needs {self.count} values", reason="out_of_range")
        for item in values:
            if self.kind == "bool":
                if not isinstance(item, bool | int) or item not in (0, 1):
                    raise error(f"{self.name}: {item!r} is not a boolean", reason="out_of_range")
                continue
            number = isinstance(item, int | float) and not isinstance(item, bool)
            if not number or math.isnan(item) or not self.lo <= item <= self.hi:
                raise error(
                    f"{self.name} = {item!r} is outside {self.lo}..{self.hi} {self.unit}",
                    reason="out_of_range",
                )
            if self.kind != "f32" and int(item) != item:
                raise error(f"{self.name} = {item!r} is not an integer", reason="out_of_range")
        return list(value) if self.count > 1 else value


@dataclass(frozen=True)
class Effect:
    """What a command leaves in its device's status report once it has acted: status field
    ``field`` reads ``value``. A driver that lost a hazardous command's reply reads the status
    and decides on it (decision 0022).

    Attributes:
        field: a field of the device's status report.
        value: the value it reads once the command has acted.
        meaning: for the ICD document (``the initiator has fired``).
    """

    field: str
    value: bool | float
    meaning: str = ""

    def present(self, status: dict[str, Any]) -> bool:
        """The effect shows in ``status`` (a decoded status report)."""
        return bool(status.get(self.field) == self.value)

    def describe(self) -> str:
        """``fired = true`` for documents and events."""
        value = str(self.value).lower() if isinstance(self.value, bool) else f"{self.value:g}"
        return f"{self.field} = {value}"


@dataclass(frozen=True)
class Message:
    """A telecommand or a report of a device: its service, subtype and fixed data layout.

    Attributes:
        name: identifier (``move_joint``, ``status``).
        service, subtype: the PUS message type.
        fields: the data, in wire order.
        meaning: what it does, for the ICD document.
        hazardous: the flight software must pass it through its hazardous-command gate, and
            its driver never re-sends it blindly (it reads the :attr:`effect` first).
        effect: what the device's status shows once it has acted (every hazardous command
            declares one; its device's :class:`DeviceIcd` checks the field exists).
    """

    name: str
    service: int
    subtype: int
    fields: tuple[Field, ...] = ()
    meaning: str = ""
    hazardous: bool = False
    effect: Effect | None = None

    @cached_property
    def layout(self) -> Any:
        """The construct declaration of the data, compiled."""
        return cs.Struct(*[f.subcon for f in self.fields]).compile()

    @cached_property
    def size(self) -> int:
        """Octets of the data."""
        return int(cs.Struct(*[f.subcon for f in self.fields]).sizeof())

    def encode(self, **values: Any) -> bytes:
        """The data for ``values`` (every field, by name).

        Raises:
            EncodeError: a field missing, unknown or out of range (the message names it).
        """
        names = {f.name for f in self.fields}
        unknown = set(values) - names
        if unknown:
            raise EncodeError(f"{self.name}: unknown argument {sorted(unknown)[0]!r}")
        checked = {}
        for f in self.fields:
            if f.name not in values:
                raise EncodeError(f"{self.name}: missing argument {f.name!r}")
            checked[f.name] = f.check(values[f.name], EncodeError)
        return bytes(self.layout.build(checked))

    def decode(self, data: bytes | bytearray | memoryview) -> dict[str, Any]:
        """The values in ``data``, checked.

        Raises:
            LengthError: not exactly :attr:`size` octets.
            HeaderError: a value out of its range (reason ``out_of_range``).
        """
        if len(data) != self.size:
            raise LengthError(f"{self.name}: {len(data)} octets, the ICD says {self.size}")
        parsed = self.layout.parse(bytes(data))
        out = {}
        for f in self.fields:
            value = parsed[f.name]
            value = [bool(v) if f.kind == "bool" else v for v in value] if f.count > 1 else value
            out[f.name] = f.check(value, HeaderError)
        return out


@dataclass(frozen=True)
class DeviceIcd:
    """One device on a board, addressed by its APID.

    Attributes:
        name: the device's name on its board (``arm``, ``gripper``).
        apid: its application process id.
        commands: the telecommands it accepts (besides ping and status request).
        status: its status report, TM[3,25].
        failures: device-specific failure codes (16 and up) to their names.
        meaning: what the device is.
    """

    name: str
    apid: int
    commands: tuple[Message, ...]
    status: Message
    failures: dict[int, str] = field(default_factory=dict)
    meaning: str = ""

    def __post_init__(self) -> None:
        status = {f.name: f for f in self.status.fields}
        for message in self.commands:
            effect = message.effect
            if message.hazardous and effect is None:
                raise ValueError(f"{self.name}.{message.name}: hazardous without an effect")
            if effect is None:
                continue
            spec = status.get(effect.field)
            if spec is None or spec.count != 1:
                raise ValueError(f"{self.name}.{message.name}: effect on {effect.field!r}, "
                                 "not a scalar field of the status")  # fmt: skip
            spec.check(effect.value, EncodeError)

    def command(self, name: str) -> Message:
        """The command called ``name``; KeyError naming the known ones otherwise."""
        for message in self.commands:
            if message.name == name:
                return message
        known = ", ".join(m.name for m in self.commands)
        raise KeyError(f"{self.name} has no command {name!r} (known: {known})")

    def command_for(self, service: int, subtype: int) -> Message | None:
        """The command with this message type, or None."""
        for message in self.commands:
            if (message.service, message.subtype) == (service, subtype):
                return message
        return None

    def failure_name(self, code: int) -> str:
        """The name of a failure code (common or device-specific)."""
        return FAILURES.get(code) or self.failures.get(code) or f"failure_{code}"

    @property
    def max_packet_length(self) -> int:
        """The longest packet to or from this device (TM header 19 + data + CRC 2)."""
        data = max([self.status.size, 7, *(m.size for m in self.commands)])
        return 19 + data + 2


@dataclass(frozen=True)
class BoardIcd:
    """One board: a serial endpoint of a node, hosting devices.

    Attributes:
        name: the board's name in the bench file (``sta_arm``).
        node: the node that owns it (``lander``, ``mav``, ``orbiter``).
        devices: its devices.
        meaning: what the board is.
    """

    name: str
    node: str
    devices: tuple[DeviceIcd, ...]
    meaning: str = ""

    def device(self, name: str) -> DeviceIcd:
        """The device called ``name``; KeyError naming the known ones otherwise."""
        for device in self.devices:
            if device.name == name:
                return device
        known = ", ".join(d.name for d in self.devices)
        raise KeyError(f"board {self.name} has no device {name!r} (known: {known})")

    def device_at(self, apid: int) -> DeviceIcd | None:
        """The device with this APID, or None."""
        for device in self.devices:
            if device.apid == apid:
                return device
        return None

    @property
    def apids(self) -> dict[int, int]:
        """APID to the longest packet (the deframer's per-APID limits)."""
        return {d.apid: d.max_packet_length for d in self.devices}
