"""PUS 20, onboard parameters: typed, ranged, loaded, validated, activated, dumped; persisted.

Every parameter is declared in the dictionary (:class:`fsw.dictionary.model.Parameter`: type,
unit, range, power-on default). The active values live in the non-volatile store (section
``parameters``, by name) and survive a reset; a stored value that no longer fits its declaration
falls back to the default with ``params.rejected``.

A table update takes three steps, so nothing half-checked is ever active:

* TC[20,3] load: ``N uint8 | N x (id uint16 | value float64)``. Every value is checked against
  its declaration (length, unknown id, type, range); one bad value rejects the whole load with
  its index and reason, and the staging table is left as it was.
* TC[20,129] validate: the staging table as a whole, with the components' own cross-checks
  (``validators``: e.g. a window shorter than a timeout).
* TC[20,130] activate: validate again, then every staged value becomes active at once and is
  persisted in one NV write; if the write fails every value is rolled back
  (``params.rolled_back``) and the command fails. TC[20,131] discards the staging table.

TC[20,1] ``N uint8 | N x id uint16`` reports values as TM[20,2]:
``N uint8 | N x (id uint16 | value float64)``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.dictionary.core import PARAMETER_ENTRY
from hal.errors import StoreError

__all__ = ["ParameterService", "build_load", "build_report_request", "parse_values"]

Validator = Callable[[Mapping[str, Any]], str | None]
"""``(values by name) -> reason or None``: a component's cross-check of a whole table."""

_ID = struct.Struct(">H")


def parse_values(data: bytes) -> list[tuple[int, float]]:
    """``N | N x (id, value)`` to pairs (CommandError ``bad_length`` when malformed)."""
    if not data or len(data) != 1 + data[0] * PARAMETER_ENTRY.size:
        raise CommandError(f"bad_length: {len(data)} octets is not N | N x (id u16, value f64)")
    return [PARAMETER_ENTRY.unpack_from(data, 1 + i * PARAMETER_ENTRY.size) for i in range(data[0])]


def build_load(values: Mapping[int, float]) -> bytes:
    """The data of TC[20,3] for ``{id: value}`` (at most 255)."""
    if len(values) > 255:
        raise ValueError("at most 255 parameters in one load")
    return bytes([len(values)]) + b"".join(PARAMETER_ENTRY.pack(i, v) for i, v in values.items())


def build_report_request(ids: list[int]) -> bytes:
    """The data of TC[20,1] for these ids (at most 255)."""
    if len(ids) > 255:
        raise ValueError("at most 255 parameters in one request")
    return bytes([len(ids)]) + b"".join(_ID.pack(i) for i in ids)


class ParameterService(Component):
    """The node's parameters (component ``params``)."""

    name = "params"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.declared = {p.name: p for p in ctx.dictionary.parameters}
        self.validators: list[Validator] = []
        self.active: dict[str, Any] = {n: p.check(p.default) for n, p in self.declared.items()}
        self.staging: dict[str, Any] = {}
        self.loads = 0
        self.activations = 0
        stored = ctx.nv.get("parameters")
        bad = []
        for name, value in (stored or {}).items():
            declared = self.declared.get(name)
            checked = None if declared is None else declared.check(value)
            if checked is None:
                bad.append(name)
            else:
                self.active[name] = checked
        self._bad_on_boot = bad

    def start(self, now: float) -> None:
        """Report stored values that no longer fit their declarations."""
        for name in self._bad_on_boot:
            self.ctx.emit("params.rejected", f"stored {name} does not fit: back to its default")

    def get(self, name: str) -> Any:
        """The active value (KeyError for an undeclared name)."""
        return self.active[name]

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[20,1] report, TC[20,3] load, TC[20,129] validate, [20,130] activate, [20,131]
        discard."""
        action = cmd.command.name
        if action == "params.load":
            self._load(cmd.args["data"])
        elif action == "params.validate":
            self._validate(self.staging)
        elif action == "params.activate":
            self._activate()
        elif action == "params.discard":
            self.staging = {}
        else:
            self._report(cmd.args["data"])

    def _load(self, data: bytes) -> None:
        staged = dict(self.staging)
        for index, (pid, value) in enumerate(parse_values(data)):
            try:
                declared = self.ctx.dictionary.parameter(pid)
            except KeyError:
                self._reject(f"out_of_range: entry {index}: no parameter id {pid}")
            checked = declared.check(value)
            if checked is None:
                self._reject(
                    f"out_of_range: entry {index}: {declared.name} = {value!r} is not a "
                    f"{declared.kind} in {declared.lo}..{declared.hi} {declared.unit}"
                )
            staged[declared.name] = checked
        self.staging = staged
        self.loads += 1
        self.ctx.emit("params.loaded", f"{len(staged)} value(s) staged")

    def _validate(self, staged: Mapping[str, Any]) -> None:
        if not staged:
            self._reject("precondition: nothing staged")
        table = {**self.active, **staged}
        for validator in self.validators:
            reason = validator(table)
            if reason is not None:
                self._reject(f"bad_data: {reason}")

    def _activate(self) -> None:
        self._validate(self.staging)
        previous = dict(self.active)
        self.active.update(self.staging)
        try:
            self.ctx.nv.put("parameters", dict(self.active))
        except StoreError as exc:
            self.active = previous
            self.ctx.emit("params.rolled_back", f"NV write failed: {exc}")
            raise CommandError(f"execution_failed: rolled back: {exc}") from None
        count = len(self.staging)
        self.staging = {}
        self.activations += 1
        self.ctx.emit("params.activated", f"{count} value(s) active and persisted")

    def _report(self, data: bytes) -> None:
        if not data or len(data) != 1 + data[0] * _ID.size:
            raise CommandError(f"bad_length: {len(data)} octets is not N | N x id u16")
        ids = [_ID.unpack_from(data, 1 + i * _ID.size)[0] for i in range(data[0])]
        out = bytearray([len(ids)])
        for pid in ids:
            try:
                declared = self.ctx.dictionary.parameter(pid)
            except KeyError:
                raise CommandError(f"out_of_range: no parameter id {pid}") from None
            out += PARAMETER_ENTRY.pack(pid, float(self.active[declared.name]))
        self.ctx.send_tm(20, 2, bytes(out))

    def _reject(self, reason: str) -> None:
        self.ctx.emit("params.rejected", reason)
        raise CommandError(reason)
