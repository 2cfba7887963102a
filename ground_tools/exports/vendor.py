"""What a board vendor needs beyond the declarations' tables, for the Markdown ICD.

* the serial line every board link runs at (rates, character format, flow control);
* the frame on the wire octet by octet: the sync marker, the CCSDS primary header, the PUS-C TC
  and TM secondary headers (flattened from their declarations, with fixed values), the data and
  the CRC;
* example values for every message and whole example frames built by the project's own encoders
  (so each hex example is right by construction; the ICD tests decode them back);
* the reply deadlines (from the flight software's device timeouts) and the exactly-once memory;
* :func:`clean_text` and :func:`clean_doc`: prose from the declarations and module docstrings
  cleaned of what only the project's developers need (code paths, type names, design records,
  words about the flight software's internals), so the document speaks to someone building a
  board or a ground segment from it. :data:`INTERNAL` is the test of "internal".
"""

from __future__ import annotations

import inspect
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from ground_tools.exports._common import field_bits
from hal.bench import BAUD_RATES, DEFAULT_BAUD
from hal.devices.base import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from hal.protocol import crc, framing, pus, spacepacket
from hal.protocol.cuc import CucTime
from hal.protocol.devices import icd
from hal.protocol.devices.icd import DeviceIcd, Field, Message
from hal.protocol.pus import DeviceFailure, PusTc, PusTm, RequestId

__all__ = [
    "INTERNAL",
    "TC_DATA_OFFSET",
    "TM_DATA_OFFSET",
    "Example",
    "WireField",
    "clean_doc",
    "clean_text",
    "deadlines",
    "example_values",
    "frame_fields",
    "hexdump",
    "internal_words",
    "line_settings",
    "parse_hexdump",
    "tc_example",
    "tm_example",
]

ASM_SIZE: Final = len(framing.ASM)
TC_DATA_OFFSET: Final = ASM_SIZE + pus.TC_HEADER_SIZE
"""Octet offset of a telecommand's application data in the frame (from the marker's first)."""
TM_DATA_OFFSET: Final = ASM_SIZE + pus.TM_HEADER_SIZE
"""Octet offset of a report's source data in the frame."""
EXAMPLE_TIME: Final = 1000.5
"""Board time in the example reports, s (CUC 4+2)."""
EXAMPLE_SEQ: Final = 1
"""Sequence count of the first example telecommand of a device."""
HEX_PER_LINE: Final = 16

# Words and shapes that belong to the code, not to an interface document.
INTERNAL: Final = tuple(
    re.compile(p)
    for p in (
        r":(?:class|meth|func|mod|attr|exc|obj|data):",  # reStructuredText roles
        r"\b(?:hal|fsw|sim_hardware|ground_tools|tests|benchmarks)(?:\.\w+)+",  # module paths
        r"\b\w+\.(?:py|toml)\b",
        r"\b[Dd]ecisions? \d+",
        r"docs/|DESIGN\.md|STYLE\.md",
        r"\b(?:drivers?|emulators?|emulated|emulation|simulat\w*|lockstep|subclass(?:es)?)\b",
        r"\b(?:callbacks?|callers?|caller's|this module|raises?|built with)\b",
        r"\b(?:HAL|Python|construct|codecs?|pytest|hypothesis|pyserial|crcmod)\b",
        r"\b(?:None|True|False|self)\b",
        r"\b\w+\(\)",  # a call
        r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b",  # a CamelCase type name
        r"\b[A-Z][A-Z0-9]*_(?:[A-Z0-9_]+\b|\*)",  # an UPPER_SNAKE constant (or a family)
    )
)
"""A text is internal when one of these matches it (a code path, a type or constant name, a
design record, a word about the software's own workings)."""

_SENTENCE: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z*`(])")
_CLAUSE: Final = re.compile(r"(?<=\w)(; |: )")
_PAREN: Final = re.compile(r"\s?\([^()]*\)")
_DATA_ROLE: Final = re.compile(r":data:`~?([\w.]+)`|``([A-Z][A-Z0-9_]*)``")
_SAME: Final = re.compile(r"\b(\d+(?:\.\d+)?) = \1\b")
_BORDER: Final = re.compile(r"^\s*=+( +=+)+\s*$")


def internal_words(text: str) -> list[str]:
    """Every internal word or shape in ``text`` (empty: fit for the document)."""
    return [m.group(0) for pattern in INTERNAL for m in pattern.finditer(text)]


def _internal(text: str) -> bool:
    return any(pattern.search(text) for pattern in INTERNAL)


# -- cleaning prose -------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """One run of prose (a sentence, a table cell, a paragraph) without its internal parts:
    parentheses that hold one go, then clauses (after ``:`` or ``;``) that do, then sentences.
    What is left may be empty."""
    text = _drop_parens(" ".join(text.split()))
    kept = []
    for sentence in _SENTENCE.split(text):
        if not _internal(sentence):
            kept.append(sentence)
            continue
        parts = _CLAUSE.split(sentence)  # clause, separator, clause, ...
        if not _internal(parts[0]):
            good = parts[0]
            for separator, clause in zip(parts[1::2], parts[2::2], strict=True):
                if not _internal(clause):
                    good += separator + clause
            kept.append(good.rstrip(".:;, ") + ".")
    return " ".join(kept).strip()


def _drop_parens(text: str) -> str:
    """``text`` without the parentheses (innermost first) that hold something internal."""
    while True:
        cut = _PAREN.sub(lambda m: "" if _internal(m.group(0)) else m.group(0), text)
        if cut == text:
            return text
        text = cut


_UNITS: Final = ("degC", "deg/s", "deg", "mm", "km", "m/s", "m", "ohm", "ohms", "Pa m3/s", "W",
                  "V", "A", "s", "ms", "rpm", "N", "Nm", "%")  # fmt: skip
_UNIT_AT: Final = re.compile(
    r"(?:^|, )(" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r")"
    r"(?=[:,.]|\s+(?:at|the|of|per)\b|$)"
)


def _unit_of(module: ModuleType, name: str) -> str:
    """The unit a constant's comment or docstring gives it (``# degC, ...``, ``"deg: how
    close..."``), or ``ohm`` for a name ending in ``OHMS``; empty when none is said."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return ""
    at = re.search(rf"^{re.escape(name)}\b[^\n]*", source, re.M)
    if at is None:
        return ""
    comment = at.group(0).partition("#")[2].strip()
    after = source[at.end() :].lstrip("\n")
    doc = after.split('"""')[1] if after.startswith('"""') else ""
    for text in (comment, " ".join(doc.split())):
        found = _UNIT_AT.search(text)
        if found:
            return "ohm" if found.group(1) == "ohms" else found.group(1)
    return "ohm" if name.endswith("OHMS") else ""


def _resolve(modules: Sequence[ModuleType], name: str, following: str = "") -> str | None:
    """A constant's name as its value and unit (from the first of ``modules`` that has it),
    when a plain number or text; the unit is left out when the text goes on with one."""
    short = name.rsplit(".", 1)[-1]
    for module in modules:
        value = getattr(module, short, None)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        unit = _unit_of(module, short) if not isinstance(value, str) else ""
        word = re.match(r"\s*([\w/%]+)", following)
        if unit and not (word and word.group(1) in (*_UNITS, "seconds", unit)):
            text += f" {unit}" if unit != "%" else unit
        return text
    return None


def resolve_constants(text: str, *modules: ModuleType) -> str:
    """``:data:`NAME``` and ````NAME```` (an upper-case constant) replaced by the value the
    first of ``modules`` gives it; other references are left as they are."""

    def value(match: re.Match[str]) -> str:
        following = match.string[match.end() : match.end() + 20]
        found = _resolve(modules, match.group(1) or match.group(2), following)
        return found if found is not None else match.group(0)

    return _SAME.sub(r"\1", _DATA_ROLE.sub(value, text))


def clean_doc(doc: str, module: ModuleType | None = None, *, drop: Sequence[str] = ()) -> str:
    """A reStructuredText docstring fit for the document: ``:data:`` references become their
    values (from ``module``), paragraphs starting with any of ``drop`` go, every other paragraph
    and bullet is cleaned by :func:`clean_text`; literal blocks and simple tables are kept as
    they are (table cells are cleaned when converted). A paragraph introducing a literal block
    keeps its ``::``."""

    lines = resolve_constants(doc, *([module] if module else [])).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            out.append("")
            i += 1
            continue
        if _BORDER.match(line):  # a simple table: to its closing border
            out.append(line)
            i += 1
            borders = 1
            while i < len(lines):
                out.append(lines[i])
                if _BORDER.match(lines[i]):
                    borders += 1
                    after = lines[i + 1] if i + 1 < len(lines) else ""
                    if borders >= 3 or not after.strip():
                        i += 1
                        break
                i += 1
            continue
        # a paragraph: lines to the next blank line; bullets split it into items
        start = i
        while i < len(lines) and lines[i].strip() and not _BORDER.match(lines[i]):
            i += 1
            if lines[i - 1].rstrip().endswith("::"):
                break
        items: list[list[str]] = []
        for text in lines[start:i]:
            if text.lstrip().startswith(("* ", "- ")) or not items:
                items.append([text])
            else:
                items[-1].append(text)
        for item in items:
            joined = " ".join(part.strip() for part in item)
            if drop and joined.lstrip("*- ").startswith(tuple(drop)):
                continue
            bullet = "* " if item[0].lstrip().startswith(("* ", "- ")) else ""
            body = joined.lstrip()[2:] if bullet else joined
            literal = body.rstrip().endswith("::")
            cleaned = clean_text(body[:-2] if literal else body)
            if literal:
                cleaned = (cleaned.rstrip(".:") if cleaned else "Layout") + "::"
            if cleaned:
                out.append(bullet + cleaned)
        if lines[i - 1].rstrip().endswith("::"):  # the literal block that follows, as it is
            out.append("")
            base = len(lines[i - 1]) - len(lines[i - 1].lstrip())
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base
            ):
                out.append(_drop_parens(lines[i]))
                i += 1
    return "\n".join(_no_orphans(out))


def _no_orphans(lines: list[str]) -> list[str]:
    """A paragraph ending with ``:`` whose list was cleaned away loses that last sentence."""
    out = list(lines)
    for n, line in enumerate(out):
        if not line.rstrip().endswith(":") or line.rstrip().endswith("::"):
            continue
        if line.startswith((" ", "* ")) or _BORDER.match(line):
            continue
        following = next((x for x in out[n + 1 :] if x.strip()), "")
        if following.startswith(("* ", "- ", " ")) or _BORDER.match(following):
            continue
        sentences = _SENTENCE.split(line)
        out[n] = " ".join(sentences[:-1])
    return out


# -- the line -------------------------------------------------------------------------------------


def line_settings() -> list[tuple[str, str]]:
    """The serial line of every board link: setting, value."""
    rates = ", ".join(str(rate) for rate in BAUD_RATES)
    per_second = DEFAULT_BAUD // 10
    return [
        ("interface", "asynchronous serial (UART; a USB-serial adapter or a TCP serial server "
                      "carries the same octets)"),
        ("baud rate", f"{DEFAULT_BAUD} by default; the bench configuration may set any of "
                      f"{rates}"),
        ("data bits", "8"),
        ("parity", "none"),
        ("stop bits", "1"),
        ("flow control", "none (no RTS/CTS, no XON/XOFF): the line carries binary octets, "
                         "every value 0x00..0xFF"),
        ("octet time", f"10 bits per octet (start, 8 data, stop): {per_second} octets/s at "
                       f"{DEFAULT_BAUD} baud"),
        ("bit order", "each octet least significant bit first on the line (UART); within "
                      "the frames below, multi-octet values are big-endian and bit 0 of a "
                      "field is its most significant bit (CCSDS numbering)"),
        ("roles", "the flight computer sends telecommands; the board only answers (it "
                  "sends nothing unasked)"),
    ]  # fmt: skip


def deadlines() -> tuple[float, float, float]:
    """Seconds a board has to answer: an ordinary request, a hazardous command; and the most a
    whole exchange may take (every attempt included)."""
    attempts = 1 + DEFAULT_RETRIES
    return DEFAULT_TIMEOUT / attempts, DEFAULT_TIMEOUT / (2 * attempts), DEFAULT_TIMEOUT


def octet_time(octets: int, baud: int = DEFAULT_BAUD) -> float:
    """Seconds ``octets`` take on the line at ``baud`` (10 bits an octet)."""
    return octets * 10 / baud


# -- the frame, octet by octet --------------------------------------------------------------------


@dataclass(frozen=True)
class WireField:
    """One field of a frame header: where it is and what it holds.

    Attributes:
        name: the field's name.
        offset: octet offset from the first octet of the sync marker.
        bit: bit offset within its first octet (0 = most significant).
        bits: its width.
        fixed: its value when the format fixes it, else None.
        meaning: what it holds.
    """

    name: str
    offset: int
    bit: int
    bits: int
    fixed: int | None
    meaning: str

    @property
    def where(self) -> str:
        """``4``, ``4-5``, or ``4 bits 0-2`` for a field within octets."""
        if self.bit == 0 and self.bits % 8 == 0:
            last = self.offset + self.bits // 8 - 1
            return str(self.offset) if last == self.offset else f"{self.offset}-{last}"
        first, end = self.bit, self.bit + self.bits - 1
        bits = f"bit {first}" if first == end else f"bits {first}-{end}"
        return f"{self.offset} {bits}" if end < 8 else (
            f"{self.offset}-{self.offset + end // 8} {bits}")  # fmt: skip

    @property
    def size(self) -> str:
        """``2 octets`` or ``11 bits``."""
        if self.bits % 8 == 0 and self.bit == 0:
            return f"{self.bits // 8} octet" + ("s" if self.bits > 8 else "")
        return f"{self.bits} bit" + ("s" if self.bits > 1 else "")


def _leaves(con: Any, bitwise: bool) -> list[tuple[str, str, int, int | None]]:
    """A header declaration flattened: (name, meaning, bits, fixed value) in wire order.
    Walks the declaration's objects by their attributes (no import of the library)."""
    kind = type(con).__name__
    if kind == "Transformed":  # a bit structure
        return _leaves(con.subcon, True)
    if kind == "Struct":
        return [leaf for sub in con.subcons for leaf in _leaves(sub, bitwise)]
    if kind != "Renamed":
        raise TypeError(f"unexpected declaration {kind}")
    inner, fixed = con.subcon, None
    while type(inner).__name__ in ("Renamed", "Const"):
        if type(inner).__name__ == "Const":
            fixed = int(inner.value)
        inner = inner.subcon
    if type(inner).__name__ in ("Struct", "Transformed"):
        return _leaves(inner, bitwise)
    bits = int(inner.length) if bitwise else int(inner.length) * 8
    return [(con.name, con.docs or "", bits, fixed)]


def _layout(con: Any, offset: int, fixed: dict[str, int] | None = None) -> list[WireField]:
    out, at = [], offset * 8
    for name, meaning, bits, value in _leaves(con, False):
        if fixed and name in fixed:
            value = fixed[name]
        out.append(WireField(name, at // 8, at % 8, bits, value, clean_text(meaning)))
        at += bits
    return out


def frame_fields(kind: str) -> list[WireField]:
    """The header fields of a ``TC`` or ``TM`` frame on a device link, from the sync marker to
    the first octet of data, offsets from the marker's first octet."""
    asm = WireField("sync marker", 0, 0, ASM_SIZE * 8, int.from_bytes(framing.ASM, "big"),
                    "attached sync marker (CCSDS 131.0-B): starts every frame")  # fmt: skip
    packet_type = spacepacket.TYPE_TC if kind == "TC" else spacepacket.TYPE_TM
    primary = _layout(spacepacket.PrimaryHeader, ASM_SIZE,
                      {"type": packet_type, "sec_header_flag": 1})  # fmt: skip
    secondary = pus.TcSecondaryHeader if kind == "TC" else pus.TmSecondaryHeader
    at = ASM_SIZE + spacepacket.PRIMARY_HEADER_SIZE
    return [asm, *primary, *_layout(secondary, at)]


def crc_facts() -> list[tuple[str, str]]:
    """The packet error control: property, value."""
    return [
        ("name", "CRC-16/CCITT-FALSE (ECSS-E-ST-70-41C packet error control)"),
        ("polynomial", f"0x{crc.CRC16_POLY & 0xFFFF:04X} (x^16 + x^12 + x^5 + 1)"),
        ("initial value", f"0x{crc.CRC16_INIT:04X}"),
        ("reflection", "none (input and output not reflected)"),
        ("final XOR", "0x0000"),
        ("covers", "the whole packet before it: from the first octet of the primary header "
                   "(after the sync marker) to the last octet of data; the marker is not "
                   "covered"),
        ("placement", "the last 2 octets of the packet, big-endian"),
        ("check value", f"0x{crc.CRC16_CHECK_VALUE:04X} over the ASCII octets `123456789`"),
        ("receiver's check", "the CRC over the whole packet, its own CRC included, is 0x0000"),
    ]  # fmt: skip


# -- examples -------------------------------------------------------------------------------------


def _f32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


def example_value(f: Field) -> Any:
    """A value of ``f`` for the examples: its first named state, true, or the middle of its
    range (an f32 exactly as the wire carries it)."""
    if f.enum:
        value: Any = f.enum[-1][0] if len(f.enum) > 1 else f.enum[0][0]
    elif f.kind == "bool":
        value = True
    elif f.kind == "f32":
        value = _f32(round((f.lo + f.hi) / 2, 2))
    else:
        value = math.floor((f.lo + f.hi) / 2)
    return [value] * f.count if f.count > 1 else value


def example_values(message: Message) -> dict[str, Any]:
    """Example values for every field of ``message``."""
    return {f.name: example_value(f) for f in message.fields}


@dataclass(frozen=True)
class Example:
    """One whole frame as it goes on the wire, built by the project's encoders.

    Attributes:
        key: what it shows (``sta_arm.arm.move_joint``, ``sta_arm.arm.move_joint completed``).
        title: the message type and name (``TC[130,1] move_joint``).
        frame: the octets, sync marker to CRC.
        values: the data's values, by field name.
        message: the declaration of the data (None: the data is a report layout of its own).
    """

    key: str
    title: str
    frame: bytes
    values: dict[str, Any]
    message: Message | None = None


def tc_example(key: str, device: DeviceIcd, service: int, subtype: int, name: str,
               message: Message | None = None, seq: int = EXAMPLE_SEQ) -> Example:  # fmt: skip
    """The example frame of a telecommand to ``device`` (its data from :func:`example_values`)."""
    values = example_values(message) if message is not None else {}
    data = message.encode(**values) if message is not None else b""
    packet = PusTc(device.apid, service, subtype, data, seq_count=seq)
    return Example(key, f"TC[{service},{subtype}] {name}", framing.frame(packet.pack()),
                   values, message)  # fmt: skip


def tm_example(key: str, device: DeviceIcd, service: int, subtype: int, name: str,
               data: bytes, values: dict[str, Any], message: Message | None = None,
               counter: int = 1) -> Example:  # fmt: skip
    """The example frame of a report from ``device`` with source ``data``."""
    packet = PusTm(device.apid, service, subtype, data, seq_count=counter & 0x3FFF,
                   msg_counter=counter, time=CucTime.from_seconds(EXAMPLE_TIME))  # fmt: skip
    return Example(key, f"TM[{service},{subtype}] {name}", framing.frame(packet.pack()),
                   values, message)  # fmt: skip


def status_example(key: str, device: DeviceIcd, counter: int = 1) -> Example:
    """The example status report of ``device``."""
    values = example_values(device.status)
    return tm_example(key, device, device.status.service, device.status.subtype, "status",
                      device.status.encode(**values), values, device.status, counter)  # fmt: skip


def completion_example(key: str, device: DeviceIcd, request: Example, counter: int) -> Example:
    """The TM[1,7] answering the telecommand of ``request``."""
    rid = RequestId.of(PusTc.from_raw(request.frame[ASM_SIZE:]))
    return tm_example(key, device, icd.SERVICE_VERIFICATION, icd.SUBTYPE_COMPLETED, "completed",
                      rid.pack(), {"request_id": str(rid)}, None, counter)  # fmt: skip


def failure_example(key: str, device: DeviceIcd, request: Example, subtype: int, code: int,
                    detail: int, counter: int) -> Example:  # fmt: skip
    """A TM[1,2] or TM[1,8] refusing the telecommand of ``request``."""
    rid = RequestId.of(PusTc.from_raw(request.frame[ASM_SIZE:]))
    report = DeviceFailure(rid, code, detail)
    name = "acceptance failed" if subtype == icd.SUBTYPE_ACCEPTANCE_FAILED else "failed"
    values = {"request_id": str(rid), "code": code, "detail": detail}
    return tm_example(key, device, icd.SERVICE_VERIFICATION, subtype, name, report.pack(),
                      values, None, counter)  # fmt: skip


def data_fields(message: Message) -> list[tuple[int, int, Field]]:
    """``(offset in the data, octets, field)`` of every field of ``message``."""
    out, at = [], 0
    for f in message.fields:
        size = field_bits(f) // 8 * f.count
        out.append((at, size, f))
        at += size
    if at != message.size:  # pragma: no cover - a kind whose size the exports misjudge
        raise ValueError(f"{message.name}: fields add up to {at} octets, not {message.size}")
    return out


def hexdump(frame: bytes) -> list[str]:
    """``0000  1A CF FC 1D ...``: 16 octets a line, each line led by its offset (decimal)."""
    return [
        f"{at:04d}  " + " ".join(f"{b:02X}" for b in frame[at : at + HEX_PER_LINE])
        for at in range(0, len(frame), HEX_PER_LINE)
    ]


def parse_hexdump(lines: Sequence[str]) -> bytes:
    """The octets of a :func:`hexdump` (the offsets checked).

    Raises:
        ValueError: a line out of order or not two-digit hex.
    """
    out = bytearray()
    for line in lines:
        offset, _, octets = line.strip().partition("  ")
        if int(offset) != len(out):
            raise ValueError(f"hex line at offset {offset}, expected {len(out)}")
        out += bytes.fromhex(octets)
    return bytes(out)


def show_value(f: Field, value: Any) -> str:
    """A value as the document shows it: numbers plainly, states by name too."""

    def one(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        text = f"{v:g}" if isinstance(v, float) else str(v)
        state = f.state(v)
        return f"{text} ({state})" if state else text

    if isinstance(value, list):
        return "[" + ", ".join(one(v) for v in value) + "]"
    return one(value)
