"""The flight dictionary as one JSON document, for tools that want the declarations as data.

Layout (keys always in this order; lists in declaration order, so the same dictionary always
gives the same bytes)::

    {
      "schema": "msr-flight-dictionary/1",
      "nodes": {
        "<node>": {
          "apid": int, "inhibits": [str],
          "commands": [{"name", "service", "subtype", "component", "description", "modes",
                        "hazardous", "hazard"?: {"window", "inhibits"},
                        "confirm"?: {"when", "argument", "values", "why"}, "variable",
                        "layout"?, "arguments": [field]}],
          "hk": [{"name", "sid", "component", "period", "description", "fields": [field]}],
          "reports": [{"name", "service", "subtype", "component", "description",
                       "fields": [field]}],
          "events": [{"id", "name", "severity", "subtype", "component", "description"}],
          "parameters": [{"id", "name", "component", "type", "units", "range", "default",
                          "enumeration", "description"}],
          "parameter_bounds": [{"lower", "upper", "strict", "description"}]
        }
      },
      "verification": {"service": 1, "max_reason": int,
                       "reports": [{"subtype", "name", "failure", "data": [...]}],
                       "failure_codes": [{"code", "name"}]}
    }

    field = {"name", "type", "count", "units", "range": {"min", "max"}, "description",
             "enumeration": {"<code>": "<state>"}, "limits": null | limits}
    limits = {"default": set, "modes": {"<mode>": set}, "yellow_states": [str],
              "red_states": [str], "text": str}
    set = {"yellow": {"min", "max"}, "red": {"min", "max"}}   (null: an open bound)

``modes`` empty means every mode. ``hazard`` is present only for a hazardous command (the
seconds its arm stays valid, and the onboard inhibits that must all be removed); ``confirm`` only
for a command that needs the ground's hazardous confirmation (decision 0024: ``when`` ``always``
or ``when mode in (3)``, the ``argument`` and its ``values`` that need it, null and [] when
always, and ``why``); ``layout`` only
for a variable command (its data, in words). An event's ``subtype`` is its PUS-5 report subtype
(TM[5,subtype]). ``type`` is the field's wire kind (``u8`` ... ``f32``, ``bool``; a parameter's is
``int``, ``float`` or ``bool``); ``units`` ``-`` means dimensionless. ``parameter_bounds`` are
the cross-checks between two parameters (decision 0026): ``lower < upper`` (``<=`` unless
``strict``), checked on the whole table at validation, activation and rollback.

A field's ``enumeration`` names its states by code (empty for a plain number; a command
argument's names are what an operator may write instead of the number). ``limits`` (decision
0035) is null for a point that is not monitored; else inside ``yellow`` is normal, outside it
a caution, outside ``red`` out of limits; a mode in ``modes`` uses its own set instead of
``default``; an enumerated point is judged by its state name (``yellow_states``,
``red_states``); ``text`` says it in words. A housekeeping field's ``range`` is what its value
normally spans, not a refusal: a value outside it is carried and judged by the limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from fsw.dictionary import Command, Event, HkPacket, NodeDictionary, Parameter, TmReport
from fsw.dictionary.parameters import bounds_of
from fsw.dictionary.verification import FAILURE_CODES, MAX_REASON, REPORT_NAMES
from ground_tools.exports._common import REPORT_FIELDS, bound, dictionaries, report_fields
from hal.protocol.devices.icd import Field, Limits, LimitSet

__all__ = ["SCHEMA", "dictionary_document", "export_json", "limits_record", "render_json"]

SCHEMA: Final = "msr-flight-dictionary/1"
"""The ``schema`` value of the document: its name and layout version."""


def export_json(nodes: Iterable[str] | None = None) -> str:
    """The flight dictionary of ``nodes`` (every node when None) as JSON text.

    Raises:
        ExportError: an unknown node name.
    """
    return render_json(dictionaries(nodes))


def render_json(dicts: Sequence[NodeDictionary]) -> str:
    """These node dictionaries as JSON text, indented, ending with a newline."""
    return json.dumps(dictionary_document(dicts), indent=2, ensure_ascii=False) + "\n"


def dictionary_document(dicts: Sequence[NodeDictionary]) -> dict[str, Any]:
    """These node dictionaries and the PUS-1 verification reports as plain data."""
    return {
        "schema": SCHEMA,
        "nodes": {d.node: _node(d) for d in dicts},
        "verification": _verification(),
    }


def _node(d: NodeDictionary) -> dict[str, Any]:
    return {
        "apid": d.apid,
        "inhibits": list(d.inhibits),
        "commands": [_command(c) for c in d.commands],
        "hk": [_hk(h) for h in d.hk],
        "reports": [_report(r) for r in d.reports],
        "events": [_event(e) for e in d.events],
        "parameters": [_parameter(p) for p in d.parameters],
        "parameter_bounds": [
            {"lower": b.lower, "upper": b.upper, "strict": b.strict, "description": b.why}
            for b in bounds_of(d.parameters)
        ],
    }


def field_record(f: Field) -> dict[str, Any]:
    """One command argument or telemetry field as plain data."""
    return {
        "name": f.name,
        "type": f.kind,
        "count": f.count,
        "units": f.unit,
        "range": {"min": bound(f.kind, f.lo), "max": bound(f.kind, f.hi)},
        "description": f.meaning,
        "enumeration": {str(code): name for code, name in f.enum},
        "limits": limits_record(f.limits),
    }


def limits_record(limits: Limits | None) -> dict[str, Any] | None:
    """A field's limits as plain data (None when it has none)."""
    if limits is None:
        return None

    def span(bounds: tuple[float | None, float | None]) -> dict[str, float | None]:
        lo, hi = bounds
        return {"min": None if lo is None else float(lo), "max": None if hi is None else float(hi)}

    def limit_set(s: LimitSet) -> dict[str, Any]:
        return {"yellow": span(s.yellow), "red": span(s.red)}

    return {
        "default": limit_set(limits.default),
        "modes": {mode: limit_set(s) for mode, s in limits.modes},
        "yellow_states": list(limits.yellow_states),
        "red_states": list(limits.red_states),
        "text": limits.describe(),
    }


def _command(c: Command) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": c.name,
        "service": c.message.service,
        "subtype": c.message.subtype,
        "component": c.component,
        "description": c.message.meaning,
        "modes": list(c.modes),
        "hazardous": c.hazardous,
    }
    if c.hazardous:
        record["hazard"] = {"window": c.window, "inhibits": list(c.inhibits)}
    rule = c.confirmation
    if rule is not None:
        record["confirm"] = {"when": rule.describe(), "argument": rule.field or None,
                             "values": list(rule.values), "why": rule.why}  # fmt: skip
    record["variable"] = c.variable
    if c.variable:
        record["layout"] = c.layout
    record["arguments"] = [field_record(f) for f in c.message.fields]
    return record


def _hk(h: HkPacket) -> dict[str, Any]:
    return {
        "name": h.name,
        "sid": h.sid,
        "component": h.component,
        "period": h.period,
        "description": h.meaning,
        "fields": [field_record(f) for f in h.fields],
    }


def _report(r: TmReport) -> dict[str, Any]:
    return {
        "name": r.name,
        "service": r.service,
        "subtype": r.subtype,
        "component": r.component,
        "description": r.meaning,
        "fields": [field_record(f) for f in r.fields],
    }


def _event(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "severity": e.severity,
        "subtype": e.subtype,
        "component": e.component,
        "description": e.meaning,
    }


def _parameter(p: Parameter) -> dict[str, Any]:
    default: Any = bool(p.default) if p.kind == "bool" else bound(p.kind, p.default)
    return {
        "id": p.id,
        "name": p.name,
        "component": p.component,
        "type": p.kind,
        "units": p.unit,
        "range": {"min": bound(p.kind, p.lo), "max": bound(p.kind, p.hi)},
        "default": default,
        "enumeration": {str(value): label for value, label in sorted(p.enum.items())},
        "description": p.meaning,
    }


def _verification() -> dict[str, Any]:
    reports = []
    for subtype, name in sorted(REPORT_NAMES.items()):
        data = []
        for field in report_fields(subtype):
            kind, meaning = REPORT_FIELDS[field]
            data.append({"name": field, "type": kind, "description": meaning})
        reports.append(
            {"subtype": subtype, "name": name, "failure": subtype % 2 == 0, "data": data}
        )
    return {
        "service": 1,
        "max_reason": MAX_REASON,
        "reports": reports,
        "failure_codes": [
            {"code": code, "name": name} for code, name in sorted(FAILURE_CODES.items())
        ],
    }
