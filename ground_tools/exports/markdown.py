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
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any, Final

import fsw.dictionary.core as dictionary_core
import fsw.dictionary.model as dictionary_model
import fsw.dictionary.verification as verification
import hal.protocol.devices as devices_package
from fsw.dictionary import NODE_APIDS, Command, NodeDictionary
from fsw.dictionary.parameters import bounds_of
from ground_tools.exports import vendor
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
from hal.protocol.pus import PusTc

__all__ = [
    "board_examples",
    "board_modules",
    "export_markdown",
    "render_markdown",
    "rst_to_markdown",
]

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
_SPACE_LINK_ENDS: Final = [
    "The ground end sends telecommand packets: it segments them into TC transfer frames, "
    "numbers them under COP-1's FOP-1, authenticates each transmission (SDLS) and puts the sync "
    "marker before each frame. The flight end hunts for the marker, verifies the frame's "
    "authentication and anti-replay sequence number, passes it through FARM-1 and delivers the "
    "packets in order. Telemetry goes the other way in fixed-length TM transfer frames on "
    "virtual channels, each with the CLCW that reports FARM-1's state to FOP-1.",
    "",
    "* The ground end reports each telecommand's fate (`queued`, `sent`, `delivered`, "
    "`recovering`, `failed:<reason>`) and recovers from a COP-1 alert by itself: it unlocks "
    "FARM-1 and sends again exactly the frames not known to be accepted.",
    "* The flight end counts every TC frame it drops by a named reason and reports it as an "
    "event. Its anti-replay sequence numbers, session nonces and FARM-1's V(R) survive a "
    "restart: each sequence number is stored before the frame that used it is accepted.",
    "* Resynchronisation: a flight end whose store holds no session (first boot, a store lost "
    "or corrupt) accepts no authenticated frame; it reports a challenge in telemetry, and only "
    "the ground's resync frame over that challenge, signed with the key, opens a new session.",
    "",
]
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
        "Generated from the mission's declarations of the space link, the flight dictionary "
        "and the boards, the same ones the flight and ground software encode and decode with, "
        "so this document and the wire cannot disagree. Do not edit: regenerate with "
        "`msr dict export --format md`.",
        "",
        "Conventions: every multi-octet value is big-endian; `f32` is IEEE 754 single "
        "precision; `bool` is one octet (0 or 1); ranges are inclusive; unit `-` means "
        "dimensionless; `TC[s,t]` / `TM[s,t]` is a PUS message of service type `s`, subtype "
        "`t`; a state is shown as its code and its name (`2 nominal`); limits are inclusive "
        "ranges, yellow for a caution and red for out of limits.",
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


def rst_to_markdown(doc: str, clean: Callable[[str], str] | None = None) -> list[str]:
    """A module docstring (reStructuredText as this project writes it) as Markdown lines.

    Literal blocks (``::``) become fenced code, simple tables (``===`` borders) Markdown tables,
    roles (``:class:`~a.B``` ) and inline literals code spans. ``clean``, when given, rewrites
    each table cell's text first (:func:`~ground_tools.exports.vendor.clean_text`).
    """
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _BORDER.match(line):
            table, i = _simple_table(lines, i, clean)
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


def _simple_table(
    lines: list[str], i: int, clean: Callable[[str], str] | None = None
) -> tuple[list[str], int]:
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
    tidy = clean or (lambda cell: cell)
    body = [[_inline(tidy(cell)) for cell in row] for row in rows[header_rows:]]
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
    """Plain text (a dictionary meaning) as one table cell, cleaned of internal notes."""
    return _inline(vendor.clean_text(str(text)), stars=True).replace("|", "\\|")


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
        ("field", "type", "unit", "range", "description", "states", "limits"),
        ((_code(f.name), _kind(f), f.unit, _range(f.lo, f.hi), f.meaning, _states(f),
          f.limits.describe() if f.limits else "") for f in fields),
    )  # fmt: skip


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
        if modules[0] is space_link:
            out += _SPACE_LINK_ENDS
            continue
        for module in modules:
            out += [*_prose(module.__doc__ or "", module), ""]
        if modules[0] is tm_frame:
            out += ["Virtual channels of the downlink:", ""]
            out += _table(("VC", "carries"), _VIRTUAL_CHANNELS)
            out += [""]
    out += [f"### 1.{len(_SPACE_LINK) + 1} Space-link parameters", ""]
    out += ["Defaults (the bench configuration may set each one per node):", ""]
    meanings = _attributes(space_link.SpaceLinkConfig.__doc__ or "")
    rows = [
        (_code(f.name), _code(repr(f.default)), _inline(_meaning(meanings.get(f.name, ""))))
        for f in dataclasses.fields(space_link.SpaceLinkConfig)
    ]
    out += _table(("parameter", "default", "meaning"), rows, raw=True)
    return [*out, ""]


def _meaning(text: str) -> str:
    return vendor.clean_text(vendor.resolve_constants(text, space_link, sdls))


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
        "Wire layouts of the records (all big-endian, in PUS-C packets):",
        "",
        *_table(
            ("record", "application / source data"),
            (
                (
                    "command",
                    "the command's fields (tables below); a command marked with a data "
                    "layout carries that variable layout instead",
                ),
                ("housekeeping packet", "TM[3,25]: SID uint16, then the packet's fields"),
                ("other report", "TM[service,subtype]: the report's fields, a fixed layout"),
                (
                    "event",
                    "TM[5,severity]: event id uint16, detail length uint8, detail UTF-8 "
                    f"(0..{dictionary_model.MAX_DETAIL} octets)",
                ),
                ("parameter", "id uint16, value float64, in the messages of service 20"),
            ),
        ),
        "",
        *_prose(_from(dictionary_core.__doc__ or "", "Private services"), dictionary_core),
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
        (_code(c.name), _code(f.name), _kind(f), f.unit, _range(f.lo, f.hi), f.meaning,
         _states(f))
        for c in d.commands
        for f in c.message.fields
    ]  # fmt: skip
    out += ["", f"#### Command arguments of `{d.node}`", ""]
    out += _table(("command", "argument", "type", "unit", "range", "description", "states"),
                  rows)  # fmt: skip
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
                "validation, activation and rollback:", ""]  # fmt: skip
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
        *_prose(verification.__doc__ or "", verification),
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

_COMMON_FAILURES: Final = {
    "unknown_command": "the device has no message of this type (the reply is TM[1,2]); detail 0",
    "bad_length": "the application data is not the length this ICD declares; detail 0",
    "out_of_range": "a value is outside its declared range (or a bool is not 0 or 1); detail 0",
    "busy": "the device is doing something that this command cannot interrupt",
    "precondition": "the device's state does not allow the command now (each board says when)",
    "hardware_fault": "the device tried and its hardware failed",
}
_EXAMPLE_BOARD: Final = "sta_arm"


def board_examples(module: ModuleType) -> list[vendor.Example]:
    """Every example frame of one board's section, in document order: per device, each command
    and its completion, then the status report (and a failure report for a device with failure
    codes of its own). The test board gets its echo and its reply."""
    board = getattr(module, "BOARD", None)
    if not isinstance(board, BoardIcd):
        return _test_board_examples(module)
    out: list[vendor.Example] = []
    for device in board.devices:
        out += _device_examples(board.name, device)
    return out


def _device_examples(board: str, d: DeviceIcd) -> list[vendor.Example]:
    out: list[vendor.Example] = []
    counter = 1
    for seq, m in enumerate(d.commands, start=vendor.EXAMPLE_SEQ):
        key = f"{board}.{d.name}.{m.name}"
        request = vendor.tc_example(key, d, m.service, m.subtype, m.name, m, seq)
        out += [request, vendor.completion_example(f"{key} completed", d, request, counter)]
        counter += 1
    out.append(vendor.status_example(f"{board}.{d.name}.status", d, counter))
    if d.failures and d.commands:
        code = min(d.failures)
        request = next(e for e in out if e.message is d.commands[0])
        out.append(vendor.failure_example(
            f"{board}.{d.name}.{d.commands[0].name} failed", d, request, icd.SUBTYPE_FAILED,
            code, 0, counter + 1,
        ))  # fmt: skip
    return out


def _test_board_examples(module: ModuleType) -> list[vendor.Example]:
    apid = int(module.APID)
    device = DeviceIcd("echo", apid, (), Message("status", 3, 25))
    echo = b"hello"
    packet = PusTc(apid, module.SERVICE_ECHO, module.SUBTYPE_ECHO, echo, seq_count=1)
    name = _board_name(module)
    title = f"TC[{module.SERVICE_ECHO},{module.SUBTYPE_ECHO}] echo"
    shown = {"data": echo.hex()}
    request = vendor.Example(f"{name}.echo", title, framing.frame(packet.pack()), shown)
    reply = vendor.tm_example(f"{name}.echo reply", device, module.SERVICE_ECHO,
                              module.SUBTYPE_ECHO_REPORT, "echo", echo, shown)  # fmt: skip
    return [request, reply]


def _boards(modules: Sequence[ModuleType]) -> list[str]:
    out = [
        "## 4. Board ICDs",
        "",
        "Each board is one serial line to the flight computer of its node; each device on the "
        "board has its own APID. Section 4.0 is common to every board; each board's section "
        "gives its devices, every command and report octet by octet, and a hex example of "
        "every frame exactly as it goes on the line.",
        "",
    ]
    out += _board_common(modules)
    for number, module in enumerate(modules, start=1):
        out += _board(number, module)
    return out


def _board_common(modules: Sequence[ModuleType]) -> list[str]:
    ordinary, hazardous, whole = vendor.deadlines()
    out = ["### 4.0 Common to every board", "", "#### 4.0.1 The serial line", ""]
    out += _table(("setting", "value"), vendor.line_settings())
    out += [
        "",
        "#### 4.0.2 Frames on the line",
        "",
        f"A frame is the sync marker `{framing.ASM.hex().upper()}` followed by one CCSDS space "
        "packet (133.0-B) with a PUS-C secondary header (ECSS-E-ST-70-41C) and the packet "
        "error control. Nothing else is on the line: no escaping, no padding, no fill between "
        "frames. The packet's own length field delimits it. A receiver must accept a frame "
        "split over several reads and several frames in one read. Offsets below count octets "
        "from the first octet of the sync marker; bits are numbered from 0, the most "
        "significant.",
        "",
        "Telecommand frame (flight computer to board):",
        "",
    ]
    out += _frame_table("TC")
    out += ["", "Report frame (board to flight computer):", ""]
    out += _frame_table("TM")
    out += [
        "",
        "What the flight computer puts in a telecommand: the device's APID; sequence flags 3 "
        "(unsegmented); a sequence count per device, counted on from a start that changes at "
        "every boot of the node, which the board must treat as an opaque part of the request "
        "id; acknowledgement flags 0xF; source id 0.",
        "",
        "What a board puts in a report: the device's APID; sequence flags 3; a sequence count "
        "and a message type counter that count its reports (each wraps); destination id 0; "
        "time reference status 0; and its own time in the time field. The flight computer "
        "reads none of these counters or the time: it matches a reply by APID, message type "
        "and, for verification reports, the request id.",
        "",
        "#### 4.0.3 Packet error control",
        "",
    ]
    out += _table(("property", "value"), vendor.crc_facts())
    out += [
        "",
        "#### 4.0.4 What a receiver does with what it reads",
        "",
        "Both ends read the same way. A receiver hunts for the sync marker, reads the packet "
        "header after it, and takes the frame only when: the packet version is 0; the APID is "
        "one of the board's devices; the length is at least 13 octets (the smallest "
        "telecommand) and at most the longest packet of that device (the device tables give "
        "it); and the CRC checks. Any other frame is dropped without a reply, and the hunt "
        "resumes at the octet after the rejected marker, so a corrupt or forged header costs "
        "at most the frames behind it within one maximum frame. A frame whose declared length "
        "never arrives is abandoned when the line falls silent. A board must never answer "
        "what it could not read: a reply to a corrupt request is worse than none.",
        "",
        "#### 4.0.5 Messages every device answers",
        "",
    ]
    out += _table(
        ("request", "reply", "when"),
        (
            ("TC[17,1] are you alive, no data", "TM[17,2] alive, no data", "always"),
            ("TC[3,27] report status, no data", "TM[3,25] the device's status report",
             "always (the device tables give its layout)"),
            ("TC[s,t] a command of the device", "TM[1,7] completed: the request id",
             "the command was done (for a motion: started and accepted)"),
            ("", "TM[1,8] failed: request id, failure code, detail",
             "the command was refused or failed (nothing done)"),
            ("any other message type", "TM[1,2] acceptance failed: request id, code 2, detail 0",
             "the device has no such message"),
        ),
    )  # fmt: skip
    out += [
        "",
        "Device commands use private services (128 and up). Every command gets exactly one "
        "reply; a ping or a status request gets exactly one report.",
        "",
        "Request id, 4 octets: the telecommand's packet id and packet sequence control "
        "(ECSS-E-ST-70-41C 6.1.5), as they were on the wire:",
        "",
    ]
    out += _wire_table(vendor._layout(pus.RequestIdLayout, 0), "data offset")
    out += ["", "Failure report (TM[1,2], TM[1,8]) source data, 7 octets:", ""]
    rows = [
        (f"{vendor.TM_DATA_OFFSET}-{vendor.TM_DATA_OFFSET + 3}", "0-3", "4 octets", "request id",
         "the id of the refused telecommand"),
        (vendor.TM_DATA_OFFSET + 4, 4, "1 octet", "code", "failure code (tables below)"),
        (f"{vendor.TM_DATA_OFFSET + 5}-{vendor.TM_DATA_OFFSET + 6}", "5-6", "2 octets", "detail",
         "which field, or a value the device's section names; 0 when none"),
    ]  # fmt: skip
    out += _table(("frame offset", "data offset", "size", "field", "meaning"), rows)
    out += ["", "Failure codes every device uses (a device adds its own from 16 up):", ""]
    out += _table(
        ("code", "name", "meaning"),
        ((code, _code(name), _COMMON_FAILURES.get(name, "")) for code, name in
         sorted(icd.FAILURES.items())),
    )  # fmt: skip
    out += ["", *_common_examples(modules), ""]
    out += [
        "#### 4.0.6 Reply deadlines",
        "",
        f"The flight computer gives one exchange with a board at most {_num(whole)} s, "
        f"retries included. It sends a request, waits, and sends the very same octets again "
        f"when nothing came, {vendor.DEFAULT_RETRIES} times at most. A board must therefore "
        "send its whole reply within:",
        "",
    ]
    out += _table(
        ("request", "deadline", "then the flight computer"),
        (
            ("ping, status request, ordinary command", f"{ordinary * 1000:.0f} ms",
             "sends the same request again (same request id)"),
            ("hazardous command (marked in the device tables)", f"{hazardous * 1000:.0f} ms",
             "asks the device's status (same deadline), and sends the same command again only "
             "if the status does not show it done"),
        ),
    )  # fmt: skip
    out += [
        "",
        "A deadline runs from the last octet of the request to the last octet of the reply, "
        "so it includes the reply's time on the line: a 60-octet reply takes "
        f"{vendor.octet_time(60) * 1000:.1f} ms at {vendor.DEFAULT_BAUD} baud, "
        f"{vendor.octet_time(60, 9600) * 1000:.1f} ms at 9600. A reply after its deadline is "
        "discarded. A device that misses three requests in a row is reported silent.",
        "",
        "#### 4.0.7 Exactly once",
        "",
        "A command must act once, however often its frame arrives: a reply can be lost on the "
        "line, and the flight computer then repeats the request with the same request id. "
        f"Every board therefore keeps, per device, its last {icd.REMEMBERED} commands: the "
        "request id, the message type and the application data of each, and the reply it "
        f"gave, for {_num(icd.REMEMBER_SECONDS)} s of its own time after it acted. A command "
        "whose request id, message type and data all equal a remembered one is answered with "
        "the remembered reply, octet for octet the same, and is not acted on again, whether "
        "the first reply was a completion or a failure. The same request id with other "
        "content is a new command, and its entry replaces the old one. Pings and status "
        "requests are not remembered: they act on nothing, and a status must report the "
        "present. A board that loses power may forget: that is why a hazardous command is "
        "decided on the device's status, and each hazardous command names the status field "
        "that shows it done.",
        "",
    ]
    return out


def _common_examples(modules: Sequence[ModuleType]) -> list[str]:
    """Ping, status request and the two failure reports, on the first device of a board."""
    board = next((b for m in modules if isinstance(b := getattr(m, "BOARD", None), BoardIcd)
                  and b.name == _EXAMPLE_BOARD), None)  # fmt: skip
    if board is None:
        board = next((b for m in modules if isinstance(b := getattr(m, "BOARD", None), BoardIcd)),
                     None)  # fmt: skip
    if board is None:
        return []
    d = board.devices[0]
    key = f"{board.name}.{d.name}"
    ping = vendor.tc_example(f"{key}.ping", d, icd.SERVICE_TEST, icd.SUBTYPE_ALIVE, "are you alive")
    alive = vendor.tm_example(f"{key}.ping reply", d, icd.SERVICE_TEST, icd.SUBTYPE_ALIVE_REPORT,
                              "alive", b"", {})  # fmt: skip
    ask = vendor.tc_example(f"{key}.status request", d, icd.SERVICE_HK, icd.SUBTYPE_REPORT_NOW,
                            "report status", seq=2)  # fmt: skip
    unknown = vendor.tc_example(f"{key}.unknown", d, 200, 1, "no such command", seq=3)
    refused = vendor.failure_example(f"{key}.unknown refused", d, unknown,
                                     icd.SUBTYPE_ACCEPTANCE_FAILED, 2, 0, 2)  # fmt: skip
    out = [f"Examples on device `{key}` (APID 0x{d.apid:03X}):", ""]
    for example in (ping, alive, ask, unknown, refused):
        out += _example(example)
    m = next((m for m in d.commands if m.size), None)
    if m is not None:
        data = m.encode(**vendor.example_values(m))[:-1]
        packet = PusTc(d.apid, m.service, m.subtype, data, seq_count=4)
        cut = vendor.Example(f"{key}.{m.name} too short",
                             f"TC[{m.service},{m.subtype}] {m.name}, one octet short",
                             framing.frame(packet.pack()), {})  # fmt: skip
        failed = vendor.failure_example(f"{key}.{m.name} too short refused", d, cut,
                                        icd.SUBTYPE_FAILED, 3, 0, 3)  # fmt: skip
        out += _example(cut) + _example(failed)
    return out


def _frame_table(kind: str) -> list[str]:
    fields = vendor.frame_fields(kind)
    out = _wire_table(fields, "frame offset")
    start = vendor.TC_DATA_OFFSET if kind == "TC" else vendor.TM_DATA_OFFSET
    data = "application data" if kind == "TC" else "source data"
    out += [
        f"| {start} .. {start}+n-1 | n octets | {data} | | the message's data (device "
        "tables), 0 or more octets |",
        f"| {start}+n .. {start}+n+1 | 2 octets | CRC | | packet error control (4.0.3) |",
    ]
    return out


def _wire_table(fields: Sequence[vendor.WireField], where: str) -> list[str]:
    def value(f: vendor.WireField) -> str:
        if f.fixed is None:
            return ""
        return f"0x{f.fixed:0{max(1, f.bits // 4)}X}" if f.bits >= 8 else str(f.fixed)

    return _table(
        (where, "size", "field", "value", "meaning"),
        ((f.where, f.size, f.name.replace("_", " "), value(f), f.meaning) for f in fields),
    )


def _example(e: vendor.Example) -> list[str]:
    shown = ", ".join(f"{name} = {_show(e.message, name, v)}" for name, v in e.values.items())
    return [
        f"**Example** `{e.key}`, {e.title}" + (f": {shown}" if shown else "") + f" "
        f"({len(e.frame)} octets on the line)",
        "",
        "```text",
        *vendor.hexdump(e.frame),
        "```",
        "",
    ]


def _show(message: Message | None, name: str, value: Any) -> str:
    if message is None:
        return str(value)
    f = next(f for f in message.fields if f.name == name)
    unit = "" if f.unit == "-" else f" {f.unit}"
    return vendor.show_value(f, value) + unit


def _board(number: int, module: ModuleType) -> list[str]:
    name = _board_name(module)
    board = getattr(module, "BOARD", None)
    if not isinstance(board, BoardIcd):
        out = [f"### 4.{number} Board `{name}` (bench, owned by no node)", ""]
        out += [*_prose(module.__doc__ or "", module), ""]
        out += ["Line settings, frames and the common messages as in 4.0.", ""]
        for example in board_examples(module):
            out += _example(example)
        return out
    out = [f"### 4.{number} Board `{name}` (node `{board.node}`)", "", _para(board.meaning), ""]
    out += [*_prose(module.__doc__ or "", module, drop=("Exactly once",)), ""]
    out += [
        f"Line: {vendor.DEFAULT_BAUD} baud unless the bench configuration sets another "
        "standard rate, 8 data bits, no parity, 1 stop bit, no flow control (4.0.1).",
        "",
    ]
    out += _table(
        ("device", "APID", "longest packet (octets)", "description"),
        ((_code(d.name), f"0x{d.apid:03X}", d.max_packet_length, d.meaning)
         for d in board.devices),
    )  # fmt: skip
    out += [""]
    hazardous = [(d, m) for d in board.devices for m in d.commands if m.hazardous]
    if hazardous:
        out += ["Hazardous commands, and the status that shows each done (4.0.6, 4.0.7):", ""]
        out += _table(
            ("command", "done when the status reads"),
            ((_code(f"{d.name}.{m.name}"), _code(m.effect.describe() if m.effect else ""))
             for d, m in hazardous),
        )  # fmt: skip
        out += [""]
    else:
        out += ["No command of this board is hazardous.", ""]
    examples = {e.key: e for e in board_examples(module)}
    for device in board.devices:
        out += _device(name, device, examples)
    return out


def _device(board: str, d: DeviceIcd, examples: dict[str, vendor.Example]) -> list[str]:
    out = [f"#### Device `{board}.{d.name}` (APID 0x{d.apid:03X})", "", _para(d.meaning), ""]
    out += ["Commands (besides TC[17,1] are you alive and TC[3,27] report status, 4.0.5):", ""]
    if d.commands:
        out += _table(
            ("TC", "command", "data octets", "hazardous", "description"),
            (
                (f"[{m.service},{m.subtype}]", _code(m.name), m.size, _hazard_text(m),
                 m.meaning)
                for m in d.commands
            ),
        )  # fmt: skip
    else:
        out += ["none."]
    out += [""]
    key = f"{board}.{d.name}"
    for m in d.commands:
        out += [f"##### Command `{key}.{m.name}`, TC[{m.service},{m.subtype}]", ""]
        out += [f"{_para(m.meaning)} Application data: {m.size} octets.", ""]
        if m.fields:
            out += _offsets_table(m, vendor.TC_DATA_OFFSET)
            out += [""]
        out += _example(examples[f"{key}.{m.name}"])
        out += ["Its reply when done:", ""]
        out += _example(examples[f"{key}.{m.name} completed"])
    status = d.status
    out += [
        f"##### Status `{key}`, TM[{status.service},{status.subtype}]",
        "",
        f"{_para(status.meaning)} Source data: {status.size} octets.".strip(),
        "",
    ]
    out += _offsets_table(status, vendor.TM_DATA_OFFSET)
    out += [""]
    out += _example(examples[f"{key}.status"])
    if d.failures:
        out += ["Device failure codes (TM[1,8]), besides the common ones (4.0.5):", ""]
        out += _table(("code", "name"), ((c, _code(n)) for c, n in sorted(d.failures.items())))
        out += [""]
        refused = examples.get(f"{key}.{d.commands[0].name} failed") if d.commands else None
        if refused is not None:
            out += _example(refused)
    return out


def _offsets_table(m: Message, base: int) -> list[str]:
    rows = []
    for at, size, f in vendor.data_fields(m):
        where = f"{base + at}" if size == 1 else f"{base + at}-{base + at + size - 1}"
        inside = f"{at}" if size == 1 else f"{at}-{at + size - 1}"
        rows.append((where, inside, size, _code(f.name), _kind(f), f.unit, _range(f.lo, f.hi),
                     _states(f), f.limits.describe() if f.limits else "", f.meaning))  # fmt: skip
    return _table(("frame offset", "data offset", "octets", "field", "type", "unit", "range",
                   "states", "limits", "meaning"), rows)  # fmt: skip


def _states(f: Field) -> str:
    return ", ".join(f"{code} {name}" for code, name in f.enum)


def _hazard_text(m: Message) -> str:
    """``no``, or ``yes`` with the status that shows the command done."""
    if not m.hazardous:
        return "no"
    if m.effect is None:  # pragma: no cover - a device refuses it
        return "yes"
    return f"yes; done when the status reads `{m.effect.describe()}`"


def _para(text: str) -> str:
    """A declaration's meaning as a paragraph, cleaned."""
    return _inline(vendor.clean_text(text), stars=True)


def _prose(doc: str, module: ModuleType | None = None, drop: Sequence[str] = ()) -> list[str]:
    """A docstring as vendor prose: cleaned (:func:`vendor.clean_doc`), then Markdown."""
    return rst_to_markdown(vendor.clean_doc(inspect.cleandoc(doc), module, drop=drop),
                           clean=vendor.clean_text)  # fmt: skip
