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
  =============  ==============================================================================

  and the board's own faults (a joint stall, a grasp slip, a heater zone failure...), which the
  subclass reads with :meth:`BoardEmulator.fault`. A fault may end at a time (``until``).

Replies are :class:`~hal.protocol.pus.PusTm` objects, or :class:`Garbage` for raw octets that
the host writes as they are. Randomness comes only from the seeded generator handed in.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hal.errors import HeaderError, LengthError
from hal.protocol.cuc import CucTime
from hal.protocol.devices import icd as common
from hal.protocol.devices.icd import BoardIcd, DeviceIcd, request_id
from hal.protocol.framing import ASM
from hal.protocol.pus import PusTc, PusTm

__all__ = ["GENERIC_FAULTS", "BoardEmulator", "Fault", "Garbage", "Refused"]

GENERIC_FAULTS: Final = frozenset({"no_reply", "late_reply", "garbage", "stuck", "bias", "noise"})


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
    """

    kind: str
    device: str | None = None
    field: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    until: float | None = None
    frozen: Any = None


class BoardEmulator:
    """An emulated board, driven by its ICD; subclasses add the physics.

    Args:
        rng: the seeded generator for noise and garbage (the simulator's, per board).
    """

    icd: ClassVar[BoardIcd]
    board_faults: ClassVar[frozenset[str]] = frozenset()
    fault_devices: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Board faults that only some devices can have: kind -> those devices."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.name = self.icd.name
        self.apids = self.icd.apids
        self.rng = rng or random.Random(0)  # noqa: S311 - a simulation, not cryptography
        self.now = 0.0
        self.faults: list[Fault] = []
        self._late: list[tuple[float, int, PusTm | Garbage]] = []
        self._counter = 0
        self.handled = 0

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
            ValueError: unknown kind, device or field, naming the known ones.
        """
        self.check_fault(kind, device, field=field)
        fault = Fault(kind, device, field, dict(params), until)
        self.faults.append(fault)
        return fault

    def check_fault(
        self, kind: str, device: str | None = None, *, field: str | None = None
    ) -> None:
        """Check that this board can have the fault, changing nothing.

        Raises:
            ValueError: unknown kind, device or field, naming the known ones.
        """
        if kind not in GENERIC_FAULTS | self.board_faults:
            known = ", ".join(sorted(GENERIC_FAULTS | self.board_faults))
            raise ValueError(f"{self.name}: unknown fault {kind!r} (known: {known})")
        target = self.icd.device(device) if device is not None else None
        allowed = self.fault_devices.get(kind)
        if allowed is not None and device is not None and device not in allowed:
            raise ValueError(f"{self.name}: fault {kind!r} applies to {', '.join(allowed)}")
        if kind in ("stuck", "bias", "noise"):
            if target is None or field not in {f.name for f in target.status.fields}:
                raise ValueError(f"{self.name}: fault {kind!r} needs a device and a status field")

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
        """The active fault of this kind on this device (or board-wide), if any."""
        for f in self.faults:
            if f.kind == kind and (f.device is None or device is None or f.device == device):
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
        self.handled += 1
        replies: list[PusTm | Garbage] = list(self._dispatch(device, packet, now))
        if self.fault("garbage", device.name):
            replies = [self._garbage() for _ in replies]
        late = self.fault("late_reply", device.name)
        if late is not None:
            due = now + float(late.params.get("delay", 1.0))
            self._late += [(due, i, r) for i, r in enumerate(replies)]
            self._late.sort(key=lambda item: (item[0], item[1]))
            return []
        return replies

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
        rid = request_id(tc.apid, tc.seq_flags, tc.seq_count)
        if key == (common.SERVICE_TEST, common.SUBTYPE_ALIVE):
            return [self._tm(device, common.SERVICE_TEST, common.SUBTYPE_ALIVE_REPORT, b"", now)]
        if key == (common.SERVICE_HK, common.SUBTYPE_REPORT_NOW):
            return [self._tm(device, 3, 25, self.status_data(device, now), now)]
        message = device.command_for(*key)
        if message is None:
            return [self._failure(device, common.SUBTYPE_ACCEPTANCE_FAILED, rid, 1, 0, now)]
        try:
            values = message.decode(tc.app_data)
        except LengthError:
            return [self._failure(device, common.SUBTYPE_FAILED, rid, 2, 0, now)]
        except HeaderError:
            return [self._failure(device, common.SUBTYPE_FAILED, rid, 3, 0, now)]
        handler = getattr(self, f"cmd_{device.name}_{message.name}")
        try:
            handler(values, now)
        except Refused as refused:
            code, detail = refused.code, refused.detail
            return [self._failure(device, common.SUBTYPE_FAILED, rid, code, detail, now)]
        return [self._tm(device, common.SERVICE_VERIFICATION, common.SUBTYPE_COMPLETED, rid, now)]

    def status_data(self, device: DeviceIcd, now: float) -> bytes:
        """The status report's data: the physics, then any field faults, clamped to the ICD."""
        values = getattr(self, f"status_{device.name}")(now)
        for f in self.faults:
            if f.device != device.name or f.field is None:
                continue
            values[f.field] = self._faulty(f, values[f.field])
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
                items[i] = item + float(fault.params.get("offset", 0.0))
            elif fault.kind == "noise":
                items[i] = item + self.rng.gauss(0.0, float(fault.params.get("sigma", 1.0)))
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
        self, device: DeviceIcd, subtype: int, rid: bytes, code: int, detail: int, now: float
    ) -> PusTm:
        data = rid + bytes([code]) + detail.to_bytes(2, "big")
        return self._tm(device, common.SERVICE_VERIFICATION, subtype, data, now)


def _clamp(spec: common.Field, value: Any) -> Any:
    """A sensor saturates at the ends of its range."""
    if spec.kind == "bool":
        return [bool(v) for v in value] if spec.count > 1 else bool(value)

    def one(v: float) -> float | int:
        v = min(max(v, spec.lo), spec.hi)
        return float(v) if spec.kind == "f32" else round(v)

    return [one(v) for v in value] if spec.count > 1 else one(value)
