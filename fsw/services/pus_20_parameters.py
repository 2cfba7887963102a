"""PUS 20, onboard parameters: typed, ranged, cross-checked, loaded, validated, activated,
dumped, rolled back; persisted.

Every parameter is declared in the dictionary (:class:`fsw.dictionary.model.Parameter`: type,
unit, range, power-on default) and checked by :mod:`fsw.dictionary.parameters` (decision 0026):
each value by its validator (a finite number of the parameter's kind, within its range), the
table by the bounds where one parameter bounds another (``launch.srm1_delay`` shorter than
``launch.srm1_window``...). The active values live in the non-volatile store (section
``parameters``, by name) with, for each parameter the ground changed, the value it replaced
(section ``parameters_previous``); both survive a reset. A stored value that no longer fits its
declaration, or a stored pair that breaks a bound, falls back to the default with
``params.rejected``.

A table update takes three steps, so nothing half-checked is ever active:

* TC[20,3] load: ``N uint8 | N x (id uint16 | value float64)``. Every value is checked against
  its declaration (length, unknown id, type, range); one bad value rejects the whole load with
  its index and reason, and the staging table is left as it was.
* TC[20,129] validate: the active table with the staged values, as a whole: every bound, then
  the components' own cross-checks (:attr:`ParameterService.validators`).
* TC[20,130] activate: validate again, then every staged value becomes active at once and is
  persisted, with the values it replaced, in one NV write; if the write fails every value is
  rolled back (``params.rolled_back``) and the command fails. TC[20,131] discards the staging
  table.

TC[20,132] ``id uint16 | to uint8`` returns one active parameter to its previous active value
(``to`` 0) or its power-on default (1), checked like an activation (the bounds with every other
active value), persisted the same way (the value it replaces becomes the previous one, so a
second rollback undoes the first); ``params.reverted`` says from what to what.

Every refusal fails the command's verification with a reason that names the parameter, the
value and the rule (``out_of_range: entry 0: sta.rate: 9 is outside 0.5..5 deg/s``,
``bad_data: launch.srm1_delay = 3 must be < launch.srm1_window = 2: SRM1 is fired before ...``).

TC[20,1] ``N uint8 | N x id uint16`` reports values as TM[20,2]:
``N uint8 | N x (id uint16 | value float64)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from fsw.core.component import CommandContext, CommandError, Component, NodeContext
from fsw.dictionary.model import Parameter
from fsw.dictionary.parameters import (
    ENTRY,
    ID,
    ROLLBACK_TO,
    bounds_of,
    build_load,
    build_report_request,
    refusal,
    table_refusal,
)
from hal.errors import StoreError

__all__ = [
    "PREVIOUS_SECTION",
    "ParameterService",
    "build_load",
    "build_report_request",
    "parse_values",
]

PREVIOUS_SECTION = "parameters_previous"
"""The NV section of the values the ground's changes replaced, by name."""

Validator = Callable[[Mapping[str, Any]], str | None]
"""``(values by name) -> reason or None``: a component's cross-check of a whole table."""


def parse_values(data: bytes) -> list[tuple[int, float]]:
    """``N | N x (id, value)`` to pairs (CommandError ``bad_length`` when malformed)."""
    if not data or len(data) != 1 + data[0] * ENTRY.size:
        raise CommandError(f"bad_length: {len(data)} octets is not N | N x (id u16, value f64)")
    return [ENTRY.unpack_from(data, 1 + i * ENTRY.size) for i in range(data[0])]


def _typed(declared: Parameter, value: float) -> float | int | bool:
    """A valid value as the parameter's kind."""
    if declared.kind == "float":
        return float(value)
    return bool(value) if declared.kind == "bool" else int(value)


class ParameterService(Component):
    """The node's parameters (component ``params``)."""

    name = "params"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.declared = {p.name: p for p in ctx.dictionary.parameters}
        self.by_id = {p.id: p for p in ctx.dictionary.parameters}
        self.bounds = bounds_of(ctx.dictionary.parameters)
        self.validators: list[Validator] = []
        self.active: dict[str, Any] = {n: _typed(p, p.default) for n, p in self.declared.items()}
        self.previous: dict[str, Any] = {}
        self.staging: dict[str, Any] = {}
        self.loads = 0
        self.activations = 0
        self.rollbacks = 0
        self._bad_on_boot: list[str] = []
        self.active.update(self._stored("parameters", "stored"))
        self.previous = self._stored(PREVIOUS_SECTION, "previous")
        for bound in self.bounds:
            if not bound.holds(self.active):
                self._bad_on_boot.append(
                    f"stored {bound.describe(self.active)}: both back to their defaults"
                )
                for name in (bound.lower, bound.upper):
                    self.active[name] = _typed(self.declared[name], self.declared[name].default)

    def _stored(self, section: str, what: str) -> dict[str, Any]:
        """The valid values of an NV section; the others are reported at start."""
        good: dict[str, Any] = {}
        for name, value in (self.ctx.nv.get(section) or {}).items():
            declared = self.declared.get(name)
            if declared is None:
                self._bad_on_boot.append(f"{what} {name} is not declared: dropped")
                continue
            why = refusal(declared, value)
            if why is not None:
                self._bad_on_boot.append(f"{what} {why}: back to its default")
                continue
            good[name] = _typed(declared, value)
        return good

    def start(self, now: float) -> None:
        """Report stored values that no longer fit their declarations or their bounds."""
        for detail in self._bad_on_boot:
            self.ctx.emit("params.rejected", detail)

    def get(self, name: str) -> Any:
        """The active value (KeyError for an undeclared name)."""
        return self.active[name]

    def handle_command(self, cmd: CommandContext, now: float) -> None:
        """TC[20,1] report, TC[20,3] load, TC[20,129] validate, [20,130] activate, [20,131]
        discard, [20,132] rollback."""
        action = cmd.command.name
        if action == "params.load":
            self._load(cmd.args["data"])
        elif action == "params.validate":
            self._validate(self.staging)
        elif action == "params.activate":
            self._activate()
        elif action == "params.discard":
            self.staging = {}
        elif action == "params.rollback":
            self._rollback(int(cmd.args["parameter"]), ROLLBACK_TO[int(cmd.args["to"])])
        else:
            self._report(cmd.args["data"])

    def _declared(self, pid: int, where: str) -> Parameter:
        declared = self.by_id.get(pid)
        if declared is None:
            self._reject(f"out_of_range: {where}no parameter id {pid}")
        return declared

    def _load(self, data: bytes) -> None:
        staged = dict(self.staging)
        for index, (pid, value) in enumerate(parse_values(data)):
            declared = self._declared(pid, f"entry {index}: ")
            why = refusal(declared, value)
            if why is not None:
                self._reject(f"out_of_range: entry {index}: {why}")
            staged[declared.name] = _typed(declared, value)
        self.staging = staged
        self.loads += 1
        self.ctx.emit("params.loaded", f"{len(staged)} value(s) staged")

    def _table_refusal(self, table: Mapping[str, Any]) -> str | None:
        why = table_refusal(self.bounds, table)
        if why is not None:
            return why
        for validator in self.validators:
            why = validator(table)
            if why is not None:
                return why
        return None

    def _validate(self, staged: Mapping[str, Any]) -> None:
        if not staged:
            self._reject("precondition: nothing staged")
        why = self._table_refusal({**self.active, **staged})
        if why is not None:
            self._reject(f"bad_data: {why}")

    def _activate(self) -> None:
        self._validate(self.staging)
        changed = {n: v for n, v in self.staging.items() if self.active[n] != v}
        previous = {**self.previous, **{n: self.active[n] for n in changed}}
        self._commit({**self.active, **changed}, previous, "activation")
        count = len(self.staging)
        self.staging = {}
        self.activations += 1
        self.ctx.emit("params.activated", f"{count} value(s) active and persisted")

    def _rollback(self, pid: int, to: str) -> None:
        declared = self._declared(pid, "")
        name = declared.name
        current = self.active[name]
        if to == "previous":
            if name not in self.previous:
                self._reject(f"precondition: {name} has no previous value (never changed)")
            target = self.previous[name]
        else:
            target = _typed(declared, declared.default)
        why = refusal(declared, target)
        if why is None:
            why = self._table_refusal({**self.active, name: target})
        if why is not None:
            self._reject(f"bad_data: {name} back to its {to} {target:g}: {why}")
        self._commit({**self.active, name: target}, {**self.previous, name: current}, "rollback")
        self.rollbacks += 1
        self.ctx.emit("params.reverted", f"{name}: {current:g} -> {target:g} ({to})")

    def _commit(self, active: dict[str, Any], previous: dict[str, Any], what: str) -> None:
        """Make ``active`` and ``previous`` the tables, persisted in one NV write (nothing
        changes, and the command fails, when the write fails)."""
        try:
            self.ctx.nv.put_many({"parameters": dict(active), PREVIOUS_SECTION: dict(previous)})
        except StoreError as exc:
            self.ctx.emit("params.rolled_back", f"{what}: NV write failed: {exc}")
            raise CommandError(f"execution_failed: rolled back: {exc}") from None
        self.active, self.previous = active, previous

    def _report(self, data: bytes) -> None:
        if not data or len(data) != 1 + data[0] * ID.size:
            raise CommandError(f"bad_length: {len(data)} octets is not N | N x id u16")
        ids = [ID.unpack_from(data, 1 + i * ID.size)[0] for i in range(data[0])]
        out = bytearray([len(ids)])
        for pid in ids:
            try:
                declared = self.ctx.dictionary.parameter(pid)
            except KeyError:
                raise CommandError(f"out_of_range: no parameter id {pid}") from None
            out += ENTRY.pack(pid, float(self.active[declared.name]))
        self.ctx.send_tm(20, 2, bytes(out))

    def _reject(self, reason: str) -> NoReturn:
        self.ctx.emit("params.rejected", reason)
        raise CommandError(reason)
