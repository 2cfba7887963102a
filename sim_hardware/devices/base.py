"""The common part of every mission board emulator: ICD dispatch and fault injection.

A board emulator subclasses :class:`BoardEmulator`, names its ICD, and writes only its physics:
``advance(to_time)``, one ``status_<device>(now)`` per device returning the status report's
values, and one ``cmd_<device>_<command>(values, now)`` per command, which raises
:class:`Refused` to fail it. Everything else is here and the same for every board:

* ping TC[17,1] -> TM[17,2]; status request TC[3,27] -> TM[3,25]; commands -> TM[1,7] completed or
  TM[1,8] failed with a code; unknown message types -> TM[1,2]; argument data checked against the
  ICD (length -> ``bad_length``, range -> ``out_of_range``) before the command runs.
* Fault injection (:meth:`BoardEmulator.inject`), per device:

  =============  ==============================================================================
  ``no_reply``   the device stays silent
  ``late_reply`` replies come ``delay`` seconds late (collected by :meth:`BoardEmulator.poll`)
  ``garbage``    replies replaced by random octets (half of them behind a sync marker)
  ``stuck``      a status field keeps the value it had when the fault began
  ``bias``       a status field reads ``offset`` more than the truth
  ``noise``      a status field gets Gaussian noise of standard deviation ``sigma``
  ``reply_lost`` the device acts on the next ``count`` requests (named by ``command``: a
                 command's name, ``status`` or ``ping``; default every request), but their
                 replies never reach the wire
  ``request_lost`` the next ``count`` requests (as above) never reach the device
  =============  ==============================================================================

  and the board's own faults (a joint stall, a grasp slip, a heater zone failure...), which the
  subclass reads with :meth:`BoardEmulator.fault`. A fault may end at a time (``until``).

  Every fault's parameters are declared (:class:`FaultParam`: :data:`GENERIC_FAULT_PARAMS`, and
  each board's :attr:`BoardEmulator.fault_params`), and checked when the fault is injected: an
  unknown name or a bad value is refused with a one-line ``ValueError`` naming it, and the
  fault does not start.

Exactly once (decision 0022, the rule in :mod:`hal.protocol.devices.icd`): the base keeps, per
device, the last :data:`~hal.protocol.devices.icd.REMEMBERED` commands (request id, service,
subtype, data) with the replies they got, for :data:`~hal.protocol.devices.icd.REMEMBER_SECONDS`,
and answers a repeat (same id, same content) with the stored replies without running the
handler again; :attr:`BoardEmulator.acted` counts the handler runs per ``(device, command)``
and :attr:`BoardEmulator.repeats` the repeats answered from memory.

Replies are :class:`~hal.protocol.pus.PusTm` objects, or :class:`Garbage` for raw octets that
the host writes as they are. Randomness comes only from the seeded generator handed in.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hal.errors import HeaderError, LengthError
from hal.protocol.cuc import CucTime
from hal.protocol.devices import icd as common
from hal.protocol.devices.icd import REMEMBER_SECONDS, REMEMBERED, BoardIcd, DeviceIcd
from hal.protocol.framing import ASM
from hal.protocol.pus import DeviceFailure, FailureCode, PusTc, PusTm, RequestId

__all__ = [
    "GENERIC_FAULTS",
    "GENERIC_FAULT_PARAMS",
    "BoardEmulator",
    "Fault",
    "FaultParam",
    "Garbage",
    "Refused",
]

GENERIC_FAULTS: Final = frozenset(
    {"no_reply", "late_reply", "garbage", "stuck", "bias", "noise", "reply_lost", "request_lost"}
)
LOSS_FAULTS: Final = frozenset({"reply_lost", "request_lost"})
"""The generic faults that lose a counted number of requests or replies, then end."""
REQUEST_NAMES: Final = ("status", "ping")
"""What a loss fault's ``command`` may name besides the board's commands."""
FIELD_FAULTS: Final = frozenset({"stuck", "bias", "noise"})
"""The generic faults that act on one status field (and need it named)."""
LATE_REPLY_DELAY: Final = 1.0  # s: a reply a late_reply fault holds back when it names no delay
MAX_LATE_REPLY_DELAY: Final = 3600.0
"""s: the longest delay a late_reply may name; an hour is far past every HAL timeout, so a longer
one is a no_reply in all but name (and a typo, such as milliseconds, more likely)."""
BIAS_OFFSET: Final = 0.0  # the field's unit: a bias fault naming no offset changes nothing
NOISE_SIGMA: Final = 1.0  # the field's unit: the standard deviation of a noise fault naming none
PARAM_KINDS: Final = ("number", "integer", "word")


@dataclass(frozen=True)
class FaultParam:
    """One parameter a fault takes, declared so that a typo is refused rather than ignored.

    Attributes:
        kind: ``number`` (an int or a finite float, not a bool), ``integer`` (an int, not a bool)
            or ``word`` (a str, one of ``words``).
        meaning: what it does, with its unit and its default (used when it is not given).
        low, high: the inclusive range of a number or an integer.
        words: the values a word may take.
    """

    kind: str
    meaning: str
    low: float = -math.inf
    high: float = math.inf
    words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"fault parameter kind {self.kind!r} is not one of "
                             f"{', '.join(PARAM_KINDS)}")  # fmt: skip
        if self.low > self.high or (self.kind == "word") != bool(self.words):
            raise ValueError(f"fault parameter ({self.meaning}): empty range, or words on a "
                             "number (or none on a word)")  # fmt: skip

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (``"'prim' is not one of prime, ..."``), or None."""
        if self.kind == "word":
            if isinstance(value, str) and value in self.words:
                return None
            return f"{value!r} is not one of {', '.join(self.words)}"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if self.kind == "integer":
            number = number and isinstance(value, int)
        finite = number and (isinstance(value, int) or math.isfinite(value))
        if finite and self.low <= value <= self.high:
            return None
        return f"{value!r} is not {self.describe()}"

    def describe(self) -> str:
        """The values it takes, in words (``an integer in 0..6``, ``a number >= 0``...)."""
        what = "an integer" if self.kind == "integer" else "a number"
        if self.kind == "word":
            return f"one of {', '.join(self.words)}"
        if math.isfinite(self.low) and math.isfinite(self.high):
            return f"{what} in {self.low:g}..{self.high:g}"
        if math.isfinite(self.low):
            return f"{what} >= {self.low:g}"
        if math.isfinite(self.high):
            return f"{what} <= {self.high:g}"
        return what if self.kind == "integer" else "a finite number"


_INDEX: Final = FaultParam(
    "integer", "the item of an array field it acts on, from 0 (default: every item)", low=0
)
GENERIC_FAULT_PARAMS: Final[Mapping[str, Mapping[str, FaultParam]]] = {
    "no_reply": {},
    "garbage": {},
    "stuck": {},
    "late_reply": {
        "delay": FaultParam(
            "number", f"seconds each reply is held back (default {LATE_REPLY_DELAY:g})",
            low=0.0, high=MAX_LATE_REPLY_DELAY,
        ),
    },
    "bias": {
        "offset": FaultParam(
            "number", f"added to the reading, in the field's unit (default {BIAS_OFFSET:g})"
        ),
        "index": _INDEX,
    },
    "reply_lost": {
        "command": FaultParam(
            "word", "the request whose reply is lost: a command's name, status or ping "
            "(default: every request)", words=REQUEST_NAMES,
        ),
        "count": FaultParam("integer", "replies lost, then the fault ends (default 1)", low=1),
    },
    "request_lost": {
        "command": FaultParam(
            "word", "the request lost: a command's name, status or ping (default: every "
            "request)", words=REQUEST_NAMES,
        ),
        "count": FaultParam("integer", "requests lost, then the fault ends (default 1)", low=1),
    },
    "noise": {
        "sigma": FaultParam(
            "number", "standard deviation of the Gaussian noise added, in the field's unit "
            f"(default {NOISE_SIGMA:g})", low=0.0,
        ),
        "index": _INDEX,
    },
}  # fmt: skip
"""The parameters of each generic fault (``field`` is not one: it is the fault's own)."""


class Refused(Exception):
    """Raised by a command handler to fail the command with a failure code and detail."""

    def __init__(self, code: int, detail: int = 0) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Garbage:
    """Raw octets a faulty board puts on the wire instead of a reply."""

    data: bytes


@dataclass
class Fault:
    """One injected fault.

    Attributes:
        kind: generic (see the module docstring) or the board's own.
        device: the device it applies to (None: every device of the board).
        field: the status field of a ``stuck``, ``bias`` or ``noise`` fault.
        params: the fault's parameters (``delay``, ``offset``, ``sigma``, ``index``, ...).
        until: simulated time at which it ends by itself, or None.
        effects: how many times it changed what the device did (a read of it by
            :meth:`BoardEmulator.fault` while acting, a request lost or a reply spoiled, a status
            report faked): 0 for a fault that never took effect (decision 0040).
        first_effect: the simulated time of the first of them, or None.
    """

    kind: str
    device: str | None = None
    field: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    until: float | None = None
    frozen: Any = None
    used: int = 0
    effects: int = 0
    first_effect: float | None = None

    def took_effect(self, now: float) -> None:
        """Count one change it made to what the device did, at ``now``."""
        self.effects += 1
        if self.first_effect is None:
            self.first_effect = now


class BoardEmulator:
    """An emulated board, driven by its ICD; subclasses add the physics.

    Args:
        rng: the seeded generator for noise and garbage (the simulator's, per board).
    """

    icd: ClassVar[BoardIcd]
    board_faults: ClassVar[frozenset[str]] = frozenset()
    fault_devices: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Board faults that only some devices can have: kind -> those devices."""
    fault_params: ClassVar[Mapping[str, Mapping[str, FaultParam]]] = {}
    """The parameters of the board's own faults: kind -> name -> declaration (a kind absent
    takes none)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.name = self.icd.name
        self.apids = self.icd.apids
        self.rng = rng or random.Random(0)  # noqa: S311 - a simulation, not cryptography
        self.now = 0.0
        self.faults: list[Fault] = []
        self._late: list[tuple[float, int, PusTm | Garbage]] = []
        self._counter = 0
        self.handled = 0
        self.acted: Counter[tuple[str, str]] = Counter()
        """Command handler runs per (device, command): what the device really did."""
        self.repeats = 0
        """Repeated requests answered from memory, without acting."""
        self._memory: dict[str, deque[_Remembered]] = {}

    # ------------------------------------------------------------------ fault injection

    def inject(
        self,
        kind: str,
        device: str | None = None,
        *,
        field: str | None = None,
        until: float | None = None,
        **params: Any,
    ) -> Fault:
        """Start a fault; returns it (pass it to :meth:`clear` to end it early).

        Raises:
            ValueError: unknown kind, device, field or parameter, or a parameter's bad value,
                naming it; the fault does not start.
        """
        self.check_fault(kind, device, field=field, params=params)
        fault = Fault(kind, device, field, dict(params), until)
        self.faults.append(fault)
        return fault

    def check_fault(
        self,
        kind: str,
        device: str | None = None,
        *,
        field: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """Check that this board can have the fault, with these parameters, changing nothing.

        Raises:
            ValueError: unknown kind, device, field or parameter (naming the known ones), or a
                parameter's bad value (naming the values it takes).
        """
        if kind not in GENERIC_FAULTS | self.board_faults:
            known = ", ".join(sorted(GENERIC_FAULTS | self.board_faults))
            raise ValueError(f"{self.name}: unknown fault {kind!r} (known: {known})")
        target = self.icd.device(device) if device is not None else None
        allowed = self.fault_devices.get(kind)
        if allowed is not None and device is not None and device not in allowed:
            raise ValueError(f"{self.name}: fault {kind!r} applies to {', '.join(allowed)}")
        spec = None
        if kind in FIELD_FAULTS:
            fields = {f.name: f for f in target.status.fields} if target is not None else {}
            spec = fields.get(field) if isinstance(field, str) else None
            if spec is None:
                raise ValueError(f"{self.name}: fault {kind!r} needs a device and a status field")
        elif field is not None:
            raise ValueError(f"{self.name}: fault {kind!r} takes no status field ({field!r})")
        declared = self.params_of(kind, spec)
        given = dict(params or {})
        unknown = sorted(str(name) for name in given if name not in declared)
        if unknown:
            takes = f"it takes: {', '.join(declared)}" if declared else "it takes none"
            raise ValueError(f"{self.name}: fault {kind!r} takes no parameter {unknown[0]!r} "
                             f"({takes})")  # fmt: skip
        for name, value in given.items():
            problem = declared[name].problem(value)
            if problem is not None:
                raise ValueError(f"{self.name}: fault {kind!r} parameter {name} {problem}")

    def params_of(self, kind: str, field: common.Field | None = None) -> Mapping[str, FaultParam]:
        """The parameters fault ``kind`` takes on this board (on status ``field``, for a field
        fault): its declaration, with an ``index`` narrowed to the field's items. A subclass
        narrows further what depends on its own construction (the slots fitted...)."""
        declared = GENERIC_FAULT_PARAMS.get(kind)
        if declared is None:
            return self.fault_params.get(kind, {})
        if kind in LOSS_FAULTS:
            names = sorted({m.name for d in self.icd.devices for m in d.commands})
            command = dataclasses.replace(declared["command"], words=(*names, *REQUEST_NAMES))
            return {**declared, "command": command}
        if field is not None and "index" in declared:
            index = dataclasses.replace(declared["index"], high=field.count - 1)
            return {**declared, "index": index}
        return declared

    def clear(self, fault: Fault | None = None, *, kind: str | None = None) -> int:
        """End one fault, every fault of a kind, or every fault; return how many ended."""
        before = len(self.faults)
        self.faults = [
            f
            for f in self.faults
            if not (f is fault or (fault is None and (kind is None or f.kind == kind)))
        ]
        return before - len(self.faults)

    def fault(self, kind: str, device: str | None = None) -> Fault | None:
        """The active fault of this kind on this device (or board-wide), if any. A device asks
        at the moment the fault would change what it does (a slip is asked for only with a tube
        held), so a fault found is counted as taking effect (:attr:`Fault.effects`)."""
        for f in self.faults:
            if f.kind == kind and (f.device is None or device is None or f.device == device):
                f.took_effect(self.now)
                return f
        return None

    # ------------------------------------------------------------------ the emulator interface

    def advance(self, to_time: float) -> None:
        """Bring the physics to ``to_time``; subclasses extend it (call this first)."""
        self.now = max(self.now, to_time)
        self.faults = [f for f in self.faults if f.until is None or f.until > self.now]

    @staticmethod
    def steps(start: float, end: float, step: float) -> Iterator[tuple[float, float]]:
        """``(t, dt)`` for physics integrated from ``start`` to ``end`` in steps of at most
        ``step`` seconds (``t`` the end of each step), so a jump of the clock gives the same
        sequence as small advances would."""
        t = start
        while t < end - 1e-9:
            dt = min(step, end - t)
            t += dt
            yield t, dt

    def handle(self, packet: PusTc | PusTm, now: float) -> list[PusTm | Garbage]:
        """Answer one packet received at ``now``."""
        self.advance(now)
        if not isinstance(packet, PusTc):
            return []
        device = self.icd.device_at(packet.apid)
        if device is None or self.fault("no_reply", device.name):
            return []
        if self._lose("request_lost", device, packet):
            return []
        self.handled += 1
        replies: list[PusTm | Garbage] = list(self._dispatch(device, packet, now))
        if self._lose("reply_lost", device, packet):
            return []
        if self.fault("garbage", device.name):
            replies = [self._garbage() for _ in replies]
        late = self.fault("late_reply", device.name)
        if late is not None:
            due = now + float(late.params.get("delay", LATE_REPLY_DELAY))
            self._late += [(due, i, r) for i, r in enumerate(replies)]
            self._late.sort(key=lambda item: (item[0], item[1]))
            return []
        return replies

    def _lose(self, kind: str, device: DeviceIcd, tc: PusTc) -> bool:
        """A loss fault of ``kind`` takes this request (and counts it; the last one ends it)."""
        key = (tc.service, tc.subtype)
        if key == (common.SERVICE_HK, common.SUBTYPE_REPORT_NOW):
            name = "status"
        elif key == (common.SERVICE_TEST, common.SUBTYPE_ALIVE):
            name = "ping"
        else:
            message = device.command_for(*key)
            name = message.name if message is not None else ""
        for f in self.faults:
            if f.kind != kind or f.device not in (None, device.name):
                continue
            if f.params.get("command", name) != name:
                continue
            f.used += 1
            f.took_effect(self.now)
            if f.used >= int(f.params.get("count", 1)):
                self.faults.remove(f)
            return True
        return False

    def poll(self, now: float) -> list[PusTm | Garbage]:
        """Replies held back by a ``late_reply`` fault that are due by ``now``."""
        due = [r for t, _, r in self._late if t <= now]
        self._late = [item for item in self._late if item[0] > now]
        return due

    def next_due(self) -> float | None:
        """When a held-back reply is due (for the simulation clock's jumps)."""
        return min((t for t, _, _ in self._late), default=None)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, device: DeviceIcd, tc: PusTc, now: float) -> Sequence[PusTm]:
        key = (tc.service, tc.subtype)
        rid = RequestId.of(tc)
        if key == (common.SERVICE_TEST, common.SUBTYPE_ALIVE):
            return [self._tm(device, common.SERVICE_TEST, common.SUBTYPE_ALIVE_REPORT, b"", now)]
        if key == (common.SERVICE_HK, common.SUBTYPE_REPORT_NOW):
            return [self._tm(device, 3, 25, self.status_data(device, now), now)]
        message = device.command_for(*key)
        if message is None:
            return [self._failure(device, common.SUBTYPE_ACCEPTANCE_FAILED, rid,
                                  FailureCode.UNKNOWN_COMMAND, 0, now)]  # fmt: skip
        remembered = self._recall(device, rid, tc, now)
        if remembered is not None:
            self.repeats += 1
            return remembered
        replies = self._run(device, message, rid, tc, now)
        memory = self._memory.setdefault(device.name, deque(maxlen=REMEMBERED))
        for old in [m for m in memory if m.request_id == rid]:
            memory.remove(old)  # the same id with other content: a new request replaces it
        memory.append(_Remembered(rid, key, bytes(tc.app_data), tuple(replies), now))
        return replies

    def _recall(
        self, device: DeviceIcd, rid: RequestId, tc: PusTc, now: float
    ) -> list[PusTm] | None:
        """The stored replies to this very request, when it is a repeat still remembered."""
        for m in self._memory.get(device.name, ()):
            if m.request_id != rid or now - m.at > REMEMBER_SECONDS:
                continue
            if m.key == (tc.service, tc.subtype) and m.data == tc.app_data:
                return list(m.replies)
        return None

    def _run(
        self, device: DeviceIcd, message: common.Message, rid: RequestId, tc: PusTc, now: float
    ) -> list[PusTm]:
        try:
            values = message.decode(tc.app_data)
        except LengthError:
            return [self._failure(device, common.SUBTYPE_FAILED, rid, FailureCode.BAD_LENGTH, 0,
                                  now)]  # fmt: skip
        except HeaderError:
            return [self._failure(device, common.SUBTYPE_FAILED, rid, FailureCode.OUT_OF_RANGE,
                                  0, now)]  # fmt: skip
        handler = getattr(self, f"cmd_{device.name}_{message.name}")
        self.acted[(device.name, message.name)] += 1
        try:
            handler(values, now)
        except Refused as refused:
            code, detail = refused.code, refused.detail
            return [self._failure(device, common.SUBTYPE_FAILED, rid, code, detail, now)]
        done = rid.pack()
        return [self._tm(device, common.SERVICE_VERIFICATION, common.SUBTYPE_COMPLETED, done, now)]

    def status_data(self, device: DeviceIcd, now: float) -> bytes:
        """The status report's data: the physics, then any field faults, clamped to the ICD."""
        values = getattr(self, f"status_{device.name}")(now)
        for f in self.faults:
            if f.device != device.name or f.field is None:
                continue
            values[f.field] = self._faulty(f, values[f.field])
            f.took_effect(now)
        for spec in device.status.fields:
            values[spec.name] = _clamp(spec, values[spec.name])
        return device.status.encode(**values)

    def _faulty(self, fault: Fault, value: Any) -> Any:
        if fault.kind == "stuck":
            if fault.frozen is None:
                fault.frozen = value
            return fault.frozen
        index = fault.params.get("index")
        items = list(value) if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if index is not None and i != index:
                continue
            if fault.kind == "bias":
                items[i] = item + float(fault.params.get("offset", BIAS_OFFSET))
            elif fault.kind == "noise":
                sigma = float(fault.params.get("sigma", NOISE_SIGMA))
                items[i] = item + self.rng.gauss(0.0, sigma)
        return items if isinstance(value, list) else items[0]

    def _garbage(self) -> Garbage:
        junk = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(8, 64)))
        return Garbage(ASM + junk if self.rng.random() < 0.5 else junk)

    def _tm(self, device: DeviceIcd, service: int, subtype: int, data: bytes, now: float) -> PusTm:
        self._counter = (self._counter + 1) & 0xFFFF
        return PusTm(
            device.apid, service, subtype, data,
            seq_count=self._counter & 0x3FFF, msg_counter=self._counter,
            time=CucTime.from_seconds(max(now, 0.0)),
        )  # fmt: skip

    def _failure(
        self, device: DeviceIcd, subtype: int, rid: RequestId, code: int, detail: int, now: float
    ) -> PusTm:
        data = DeviceFailure(rid, int(code), detail).pack()
        return self._tm(device, common.SERVICE_VERIFICATION, subtype, data, now)


@dataclass(frozen=True)
class _Remembered:
    """A command a device acted on: its id and content, the replies it got, and when."""

    request_id: RequestId
    key: tuple[int, int]
    data: bytes
    replies: tuple[PusTm, ...]
    at: float


def _clamp(spec: common.Field, value: Any) -> Any:
    """A sensor saturates at the ends of its range."""
    if spec.kind == "bool":
        return [bool(v) for v in value] if spec.count > 1 else bool(value)

    def one(v: float) -> float | int:
        v = min(max(v, spec.lo), spec.hi)
        return float(v) if spec.kind == "f32" else round(v)

    return [one(v) for v in value] if spec.count > 1 else one(value)
