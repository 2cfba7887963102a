"""The interface control document (ICD) in Markdown: space link, flight dictionary, board ICDs.

Sections:

1. **Space link**: space packets and PUS-C headers, packet error control, TC transfer frames,
   segmentation, SDLS authentication, COP-1 (FARM-1, FOP-1, CLCW), TM transfer frames and
   virtual channels, and the space-link parameters. The text is the wire-format documentation
   of the protocol modules themselves (:mod:`hal.protocol`, :mod:`hal.links.space_link`),
   converted from reStructuredText, so the ICD says what the code says.
2. **Flight dictionary**, per node: commands and their arguments, housekeeping packets and their
   fields, events, parameters; tables with types, units and ranges.
3. **Request verification** (PUS 1): the reports and the failure codes.
4. **Board ICDs**: device-link framing and the conventions common to every device, then every
   board module of :mod:`hal.protocol.devices` (each board's devices, commands, status reports,
   failure codes).

Selecting nodes keeps the space link and verification sections whole and limits the flight
dictionary and the mission boards to those nodes (the bench test board, owned by no node, is
always listed). The output is deterministic: the same declarations give the same text.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Final

import fsw.dictionary.core as dictionary_core
import fsw.dictionary.model as dictionary_model
import fsw.dictionary.verification as verification
import hal.protocol.devices as devices_package
from fsw.dictionary import NODE_APIDS, Command, NodeDictionary
from fsw.dictionary.parameters import bounds_of
from ground_tools.exports._common import dictionaries, select_nodes
from hal.links import space_link
from hal.protocol import (
    clcw,
    crc,
    cuc,
    farm1,
    fop1,
    framing,
    pus,
    sdls,
    spacepacket,
    tc_frame,
    tc_segment,
    tm_frame,
)
from hal.protocol.devices import icd
from hal.protocol.devices.icd import BoardIcd, DeviceIcd, Field, Message

__all__ = ["board_modules", "export_markdown", "render_markdown", "rst_to_markdown"]

_BORDER: Final = re.compile(r"^\s*=+( +=+)+\s*$")
_ROLE: Final = re.compile(r":[a-z]+:`(~?)([^`]+)`")
_LITERAL: Final = re.compile(r"``(.+?)``")
_ATTRIBUTE: Final = re.compile(r"^\s{8}(\w+)(?:, \w+)*: (.*)$")

_SPACE_LINK: Final[tuple[tuple[str, tuple[ModuleType, ...]], ...]] = (
    ("Space-link endpoints", (space_link,)),
    ("Space packets", (spacepacket,)),
    ("PUS-C packets", (pus,)),
    ("Time code", (cuc,)),
    ("Packet error control", (crc,)),
    ("TC transfer frames", (tc_frame,)),
    ("Packets in TC frames", (tc_segment,)),
    ("SDLS authentication", (sdls,)),
    ("COP-1", (farm1, fop1, clcw)),
    ("TM transfer frames", (tm_frame,)),
)
_VIRTUAL_CHANNELS: Final = (
    (tm_frame.VC_REALTIME_HK, "real-time housekeeping (PUS 3) and other live telemetry"),
    (tm_frame.VC_EVENTS, "event reports (PUS 5) and verification reports (PUS 1)"),
    (tm_frame.VC_PLAYBACK, "stored telemetry played back from the on-board store"),
    (tm_frame.VC_IDLE, "idle frames (only idle data), sent when no channel has a frame ready"),
)


def export_markdown(nodes: Iterable[str] | None = None) -> str:
    """The ICD for ``nodes`` (every node when None) as Markdown text.

    Raises:
        ExportError: an unknown node name.
    """
    names = select_nodes(nodes)
    return render_markdown(dictionaries(names), [b for b in board_modules() if _owned(b, names)])


def board_modules() -> list[ModuleType]:
    """Every board ICD module of :mod:`hal.protocol.devices` (all but ``icd``): the mission
    boards (with a ``BOARD``) by node then name, then the others (the bench test board)."""
    modules = []
    for info in pkgutil.iter_modules(devices_package.__path__):
        if info.name != "icd" and not info.name.startswith("_"):
            modules.append(importlib.import_module(f"{devices_package.__name__}.{info.name}"))
    order = {node: index for index, node in enumerate(NODE_APIDS)}

    def key(module: ModuleType) -> tuple[int, str]:
        board = getattr(module, "BOARD", None)
        rank = order.get(board.node, len(order)) if isinstance(board, BoardIcd) else len(order) + 1
        return rank, _board_name(module)

    return sorted(modules, key=key)


def _board_name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _owned(module: ModuleType, nodes: Sequence[str]) -> bool:
    board = getattr(module, "BOARD", None)
    return not isinstance(board, BoardIcd) or board.node in nodes


def render_markdown(dicts: Sequence[NodeDictionary], boards: Sequence[ModuleType]) -> str:
    """The ICD for these node dictionaries and board ICD modules (see :func:`export_markdown`)."""
    out: list[str] = [
        "# Mars Sample Return: interface control document",
        "",
        "Generated from the flight dictionary (`fsw.dictionary`), the protocol modules "
        "(`hal.protocol`, `hal.links.space_link`) and the board ICDs (`hal.protocol.devices`). "
        "Do not edit: regenerate with `msr dict export --format md`.",
        "",
        "Conventions: every multi-octet value is big-endian; `f32` is IEEE 754 single "
        "precision; `bool` is one octet (0 or 1); ranges are inclusive; unit `-` means "
        "dimensionless; `TC[s,t]` / `TM[s,t]` is a PUS message of service type `s`, subtype "
        "`t`.",
        "",
        "## Contents",
        "",
        "1. [Space link](#1-space-link)",
        "2. [Flight dictionary](#2-flight-dictionary)",
        "3. [Request verification](#3-request-verification)",
        "4. [Board ICDs](#4-board-icds)",
        "",
    ]
    out += _space_link()
    out += _flight_dictionary(dicts)
    out += _verification()
    out += _boards(boards)
    return "\n".join(_squeeze(out)).rstrip("\n") + "\n"


def _squeeze(lines: list[str]) -> list[str]:
    """No two blank lines in a row."""
    kept: list[str] = []
    for line in lines:
        if line == "" and kept and kept[-1] == "":
            continue
        kept.append(line)
    return kept


# -- reStructuredText docstrings to Markdown ------------------------------------------------------


def rst_to_markdown(doc: str) -> list[str]:
    """A module docstring (reStructuredText as this project writes it) as Markdown lines.

    Literal blocks (``::``) become fenced code, simple tables (``===`` borders) Markdown tables,
    roles (``:class:`~a.B``` ) and inline literals code spans.
    """
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _BORDER.match(line):
            table, i = _simple_table(lines, i)
            out += ["", *table, ""]
            continue
        if line.rstrip().endswith("::"):
            text = line.rstrip()[:-2].rstrip()
            if text:
                out.append(_inline(text + ":"))
            block, i = _literal_block(lines, i + 1, _indent(line))
            out += ["", "```text", *block, "```", ""]
            continue
        out.append(_inline(line))
        i += 1
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _literal_block(lines: list[str], i: int, base: int) -> tuple[list[str], int]:
    block: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
    while block and not block[0].strip():
        block.pop(0)
    strip = min((_indent(line) for line in block if line.strip()), default=0)
    return [line[strip:].rstrip() for line in block], i


def _simple_table(lines: list[str], i: int) -> tuple[list[str], int]:
    """An RST simple table starting at the border on line ``i``; returns its Markdown and the
    index after its closing border. A row whose first cell is empty continues the one above; a
    second border followed by a blank line (or the end) closes a table with no header."""
    starts = [m.start() for m in re.finditer(r"=+", lines[i])]
    rows: list[list[str]] = []
    header_rows = 0
    section = 0
    i += 1
    while i < len(lines):
        line = lines[i]
        i += 1
        if _BORDER.match(line):
            if header_rows or i >= len(lines) or not lines[i].strip():
                break
            header_rows = section = len(rows)
            continue
        if not line.strip():
            continue
        cells = [
            line[start : starts[n + 1] if n + 1 < len(starts) else len(line)].strip()
            for n, start in enumerate(starts)
        ]
        if len(rows) > section and not cells[0]:
            rows[-1] = [_join(a, b) for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    header = rows[:header_rows] or [[""] * len(starts)]
    head = [" ".join(parts).strip() for parts in zip(*header, strict=True)]
    body = [[_inline(cell) for cell in row] for row in rows[header_rows:]]
    return _table([_inline(h) for h in head], body, raw=True), i


def _join(first: str, more: str) -> str:
    """A cell continued on the next row: words joined by a space, a name cut after ``_`` or
    ``/`` joined as it was."""
    if not more or not first or first.endswith(("_", "/")):
        return first + more
    return f"{first} {more}"


def _inline(text: str, *, stars: bool = False) -> str:
    """Roles and ``literals`` to code spans; outside code, ``<`` escaped (and ``*`` when
    ``stars``: dictionary text is plain, docstrings may hold *emphasis*)."""

    def role(match: re.Match[str]) -> str:
        target = match.group(2).removesuffix("()")
        if match.group(1):
            target = target.rsplit(".", 1)[-1]
        return f"`{target}`"

    text = _ROLE.sub(role, text)
    text = _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)
    parts = text.split("`")
    for n in range(0, len(parts), 2):  # outside code spans
        parts[n] = parts[n].replace("<", "&lt;")
        if stars:
            parts[n] = parts[n].replace("*", "\\*")
    return "`".join(parts)


# -- tables ---------------------------------------------------------------------------------------


def _cell(text: object) -> str:
    """Plain text (a dictionary meaning) as one table cell."""
    return _inline(str(text).replace("\n", " "), stars=True).replace("|", "\\|")


def _table(
    head: Sequence[str], rows: Iterable[Sequence[object]], *, raw: bool = False
) -> list[str]:
    """A Markdown table (``raw``: cells already Markdown, only ``|`` escaped)."""
    fmt = (lambda c: str(c).replace("|", "\\|")) if raw else _cell
    lines = [
        "| " + " | ".join(fmt(h) for h in head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return lines


def _num(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _range(lo: float, hi: float) -> str:
    return f"{_num(lo)} .. {_num(hi)}"


def _kind(f: Field) -> str:
    return f"{f.kind}[{f.count}]" if f.count > 1 else f.kind


def _code(text: str) -> str:
    return f"`{text}`"


def _fields_table(fields: Sequence[Field]) -> list[str]:
    return _table(
        ("field", "type", "unit", "range", "description"),
        ((_code(f.name), _kind(f), f.unit, _range(f.lo, f.hi), f.meaning) for f in fields),
    )


# -- 1. space link --------------------------------------------------------------------------------


def _space_link() -> list[str]:
    out = [
        "## 1. Space link",
        "",
        "Ground and each node talk over a space link carried on a byte stream: uplink CCSDS TC "
        "transfer frames (232.0-B) with frame error control, authenticated after SDLS "
        "(355.0-B, HMAC-SHA-256 truncated MAC, anti-replay sequence number) and sequence-"
        "controlled by COP-1 (232.1-B); downlink fixed-length CCSDS TM transfer frames "
        "(132.0-B) on virtual channels, with the CLCW in the operational control field. Both "
        f"directions put the attached sync marker `{framing.ASM.hex().upper()}` before each "
        "frame. The frames carry CCSDS space packets (133.0-B) with PUS-C secondary headers "
        "(ECSS-E-ST-70-41C) and the packet error control.",
        "",
    ]
    for number, (title, modules) in enumerate(_SPACE_LINK, start=1):
        out += [f"### 1.{number} {title}", ""]
        for module in modules:
            out += [f"*From `{module.__name__}`:*", "", *rst_to_markdown(module.__doc__ or ""), ""]
        if modules[0] is tm_frame:
            out += ["Virtual channels of the downlink:", ""]
            out += _table(("VC", "carries"), _VIRTUAL_CHANNELS)
            out += [""]
    out += [f"### 1.{len(_SPACE_LINK) + 1} Space-link parameters", ""]
    out += [
        "Defaults of `SpaceLinkConfig` (the bench file may set each one per node):",
        "",
    ]
    meanings = _attributes(space_link.SpaceLinkConfig.__doc__ or "")
    rows = [
        (_code(f.name), _code(repr(f.default)), _inline(meanings.get(f.name, "")))
        for f in dataclasses.fields(space_link.SpaceLinkConfig)
    ]
    out += _table(("parameter", "default", "meaning"), rows, raw=True)
    return [*out, ""]


def _attributes(doc: str) -> dict[str, str]:
    """``name: meaning`` entries of a Google-style ``Attributes:`` section."""
    found: dict[str, str] = {}
    current: list[str] = []
    names: list[str] = []
    for line in doc.splitlines():
        match = _ATTRIBUTE.match(line)
        if match:
            names = [n.strip() for n in line.strip().split(":", 1)[0].split(",")]
            current = [match.group(2).strip()]
            for name in names:
                found[name] = " ".join(current)
        elif names and line.startswith(" " * 12) and line.strip():
            current.append(line.strip())
            for name in names:
                found[name] = " ".join(current)
        else:
            names = []
    return found


# -- 2. flight dictionary -------------------------------------------------------------------------


def _flight_dictionary(dicts: Sequence[NodeDictionary]) -> list[str]:
    out = [
        "## 2. Flight dictionary",
        "",
        "Each node has one APID for its telecommands and telemetry; the message type (service, "
        "subtype) says which component a command is for. Ids (SIDs, event ids, parameter ids) "
        "are unique within a node.",
        "",
        "*From `fsw.dictionary.model`:*",
        "",
        *rst_to_markdown(_from(dictionary_model.__doc__ or "", "Wire layouts")),
        "",
        "*From `fsw.dictionary.core`:*",
        "",
        *rst_to_markdown(_from(dictionary_core.__doc__ or "", "Private services")),
        "",
    ]
    for number, d in enumerate(dicts, start=1):
        out += _node(number, d)
    return out


def _from(doc: str, marker: str) -> str:
    """The part of ``doc`` from the paragraph starting with ``marker`` (all of it if absent)."""
    text = inspect.cleandoc(doc)
    at = text.find(marker)
    return text[at:] if at >= 0 else text


def _node(number: int, d: NodeDictionary) -> list[str]:
    out = [f"### 2.{number} Node `{d.node}` (APID 0x{d.apid:03X})", ""]
    if d.inhibits:
        listed = ", ".join(f"{i} `{name}`" for i, name in enumerate(d.inhibits))
        out += [f"Onboard inhibits of the hazardous-command gate, by index: {listed}.", ""]
    else:
        out += ["Onboard inhibits of the hazardous-command gate: none.", ""]
    out += [
        f"{len(d.commands)} commands, {len(d.hk)} housekeeping packets, {len(d.reports)} "
        f"other telemetry reports, {len(d.events)} events, {len(d.parameters)} parameters.",
        "",
        f"#### Commands of `{d.node}`",
        "",
    ]
    out += _table(
        ("TC", "command", "component", "modes", "hazard", "description"),
        (
            (
                f"[{c.message.service},{c.message.subtype}]",
                _code(c.name),
                c.component,
                ", ".join(c.modes) or "all",
                _hazard(c),
                _command_meaning(c),
            )
            for c in d.commands
        ),
    )
    rows = [
        (_code(c.name), _code(f.name), _kind(f), f.unit, _range(f.lo, f.hi), f.meaning)
        for c in d.commands
        for f in c.message.fields
    ]
    out += ["", f"#### Command arguments of `{d.node}`", ""]
    out += _table(("command", "argument", "type", "unit", "range", "description"), rows)
    out += ["", f"#### Housekeeping packets of `{d.node}` (TM[3,25])", ""]
    out += _table(
        ("SID", "packet", "component", "period (s)", "octets", "description"),
        (
            (h.sid, _code(h.name), h.component, _num(h.period), 2 + h.message.size, h.meaning)
            for h in d.hk
        ),
    )
    for h in d.hk:
        out += ["", f"##### `{h.name}` (SID {h.sid}): SID uint16, then", ""]
        out += _fields_table(h.fields)
    out += ["", f"#### Other telemetry reports of `{d.node}`", ""]
    out += _table(
        ("TM", "report", "component", "octets", "description"),
        ((f"[{r.service},{r.subtype}]", _code(r.name), r.component, r.message.size, r.meaning)
         for r in d.reports),
    )  # fmt: skip
    for r in d.reports:
        out += ["", f"##### `{r.name}` (TM[{r.service},{r.subtype}])", ""]
        out += _fields_table(r.fields)
    out += ["", f"#### Events of `{d.node}` (TM[5,severity])", ""]
    out += _table(
        ("id", "event", "severity", "TM", "component", "description"),
        ((e.id, _code(e.name), e.severity, f"[5,{e.subtype}]", e.component, e.meaning)
         for e in d.events),
    )  # fmt: skip
    out += ["", f"#### Parameters of `{d.node}` (PUS 20)", ""]
    out += _table(
        ("id", "parameter", "type", "unit", "range", "default", "description"),
        (
            (
                p.id, _code(p.name), p.kind, p.unit, _range(p.lo, p.hi), _num(p.default),
                p.meaning + _enum(p.enum),
            )
            for p in d.parameters
        ),
    )  # fmt: skip
    bounds = bounds_of(d.parameters)
    if bounds:
        out += ["", f"Bounds between parameters of `{d.node}`, checked on the whole table at "
                "validation, activation and rollback (decision 0026):", ""]  # fmt: skip
        out += _table(
            ("lower", "rule", "upper", "why"),
            ((_code(b.lower), "<" if b.strict else "<=", _code(b.upper), b.why) for b in bounds),
        )
    return [*out, ""]


def _enum(enum: dict[int, str]) -> str:
    if not enum:
        return ""
    return " (" + ", ".join(f"{value} {label}" for value, label in sorted(enum.items())) + ")"


def _hazard(c: Command) -> str:
    rule = c.confirmation
    confirm = "" if rule is None else f"confirmation {rule.describe()}"
    if rule is not None and rule.why and not c.hazardous:
        confirm += f" ({rule.why})"
    if not c.hazardous:
        return confirm or "-"
    inhibits = ", ".join(c.inhibits) or "none"
    return f"hazardous: arm window {_num(c.window)} s; inhibits {inhibits}; {confirm}"


def _command_meaning(c: Command) -> str:
    if c.variable:
        return f"{c.message.meaning}; data: {c.layout}"
    return c.message.meaning


# -- 3. verification ------------------------------------------------------------------------------


def _verification() -> list[str]:
    out = [
        "## 3. Request verification",
        "",
        "*From `fsw.dictionary.verification`:*",
        "",
        *rst_to_markdown(verification.__doc__ or ""),
        "",
        "Failure codes of the flight software:",
        "",
    ]
    out += _table(
        ("code", "class of reason"),
        ((code, _code(name)) for code, name in sorted(verification.FAILURE_CODES.items())),
    )
    return [*out, ""]


# -- 4. boards ------------------------------------------------------------------------------------


def _boards(modules: Sequence[ModuleType]) -> list[str]:
    out = [
        "## 4. Board ICDs",
        "",
        "### 4.0 Device links and the conventions of every device",
        "",
        "*From `hal.protocol.framing`:*",
        "",
        *rst_to_markdown(framing.__doc__ or ""),
        "",
        "*From `hal.protocol.devices.icd`:*",
        "",
        *rst_to_markdown(icd.__doc__ or ""),
        "",
        "Failure codes common to every device (a device adds its own from 16 up):",
        "",
    ]
    out += _table(
        ("code", "name"), ((code, _code(name)) for code, name in sorted(icd.FAILURES.items()))
    )
    out += [""]
    for number, module in enumerate(modules, start=1):
        out += _board(number, module)
    return out


def _board(number: int, module: ModuleType) -> list[str]:
    name = _board_name(module)
    board = getattr(module, "BOARD", None)
    if not isinstance(board, BoardIcd):
        out = [f"### 4.{number} Board `{name}` (bench, owned by no node)", ""]
        return [*out, *rst_to_markdown(module.__doc__ or ""), ""]
    out = [f"### 4.{number} Board `{name}` (node `{board.node}`)", "", board.meaning, ""]
    out += [*rst_to_markdown(module.__doc__ or ""), ""]
    out += _table(
        ("device", "APID", "longest packet (octets)", "description"),
        ((_code(d.name), f"0x{d.apid:03X}", d.max_packet_length, d.meaning)
         for d in board.devices),
    )  # fmt: skip
    out += [""]
    for device in board.devices:
        out += _device(name, device)
    return out


def _device(board: str, d: DeviceIcd) -> list[str]:
    out = [f"#### Device `{board}.{d.name}` (APID 0x{d.apid:03X})", "", d.meaning, ""]
    out += ["Telecommands (besides TC[17,1] are-you-alive and TC[3,27] report status):", ""]
    if d.commands:
        out += _table(
            ("TC", "command", "octets", "hazardous (exactly once)", "description"),
            (
                (f"[{m.service},{m.subtype}]", _code(m.name), m.size, _hazard_text(m),
                 m.meaning)
                for m in d.commands
            ),
        )  # fmt: skip
    else:
        out += ["none."]
    rows = [(_code(m.name), *_field_row(f)) for m in d.commands for f in m.fields]
    if rows:
        out += ["", "Command arguments:", ""]
        out += _table(("command", "argument", "type", "unit", "range", "description"), rows)
    out += ["", *_status(d.status), ""]
    if d.failures:
        out += ["Device failure codes:", ""]
        out += _table(("code", "name"), ((c, _code(n)) for c, n in sorted(d.failures.items())))
        out += [""]
    return out


def _hazard_text(m: Message) -> str:
    """``no``, or ``yes`` with the status that shows the command done (decision 0022)."""
    if not m.hazardous:
        return "no"
    if m.effect is None:  # pragma: no cover - a DeviceIcd refuses it
        return "yes"
    return f"yes; done when the status reads `{m.effect.describe()}`"


def _field_row(f: Field) -> tuple[str, str, str, str, str]:
    return _code(f.name), _kind(f), f.unit, _range(f.lo, f.hi), f.meaning


def _status(status: Message) -> list[str]:
    title = f"Status report TM[{status.service},{status.subtype}], {status.size} octets"
    meaning = f": {status.meaning}" if status.meaning else ""
    return [f"{title}{meaning}", "", *_fields_table(status.fields)]
