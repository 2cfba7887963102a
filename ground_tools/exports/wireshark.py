"""The bench's captures decoded in Wireshark: a Lua dissector generated from the declarations.

``msr dict export --format wireshark -o msr.lua`` writes one Lua file that Wireshark (or tshark)
loads with ``-X lua_script:msr.lua`` or from the personal plugins folder. It dissects the three
kinds of capture record the bench writes (decision 0042), each under its own linktype:

=========  ============  =====================================================================
linktype   Wireshark     record
=========  ============  =====================================================================
147        USER0         ASM ``1ACFFC1D`` + space packet: a board link (device commands and
                         replies) or a timing link (:mod:`hal.protocol.framing`)
148        USER1         ASM + TC transfer frame with its segment header, SDLS security
                         header (SPI, sequence number), packets, MAC and FECF
                         (:mod:`hal.protocol.tc_frame`, :mod:`hal.protocol.sdls`)
149        USER2         ASM + TM transfer frame with its data field's packets and the CLCW
                         in its operational control field (:mod:`hal.protocol.tm_frame`,
                         :mod:`hal.protocol.clcw`)
=========  ============  =====================================================================

The dissector registers itself in the ``wtap_encap`` table for those three, so it replaces any
DLT_USER mapping of the user's preferences (Wireshark's CCSDS dissector reads the ASM as a packet
header). What it names, from the same records the flight software and the boards encode with:

* Space packets: primary header, the PUS-C TC secondary header (ack flags, service, subtype,
  source id with the confirmation mark) or TM secondary header (time reference status, counter,
  destination, CUC time), the packet error control checked.
* A node's telecommand by its dictionary name (``sta.load_tube``) with its arguments; its
  telemetry: housekeeping by SID (``core.status``) with every field's value, unit and state
  name (:attr:`~hal.protocol.devices.icd.Field.enum`), events by id with severity and detail
  text, verification reports (stage, request, failure code and reason), parameter reports
  (service 20) by parameter name, and every declared report (``time.report``...).
* A board's messages by board, device and name (``sta_arm.arm.move_joint``), ping and status
  request, alive, status report fields, completion and failure reports with the failure's name.
* The timing link's messages (:mod:`hal.protocol.timing`), the test board's, idle packets.
* TM frames: header, first header pointer, CLCW fields, FECF checked; packets spanning frames are
  rebuilt per virtual channel (a frame-count gap drops the partial packet, as the ground's
  reassembler does) and shown with the frame that completes them.
* TC frames: header, control commands (Unlock, Set V(R), the SDLS resync directive), segments
  rebuilt per MAP, FECF checked; the MAC is shown, not verified (the key is not the capture's).

Malformed input (a missing ASM, a length field that disagrees with the record, a bad CRC, data
of the wrong length for its declaration, a packet running past its frame) is marked with
expert info in group ``Malformed`` or ``Checksum`` (``msr.malformed``, ``msr.bad_checksum``);
a command, report, event or parameter id the dictionary does not know is ``msr.unknown``; a value
outside its declared range is ``msr.out_of_range`` (a warning). The dissector never stops on bad
input: a Lua error inside it is caught and reported as ``msr.malformed`` on that record.

Display filter fields: ``msr.name`` (every command, report, event and message name in the
record), ``msr.node``, ``msr.source``, ``msr.kind`` (``packet``, ``tc_frame``, ``tm_frame``),
the headers' fields (``msr.apid``, ``msr.service``, ``msr.tc.spi``, ``msr.clcw.report_value``...)
and one field per declared value: ``msr.<node>.tc.<command>.<argument>``,
``msr.<node>.tm.<report>.<field>``, ``msr.<board>.<device>.tc.<command>.<argument>``,
``msr.<board>.<device>.tm.status.<field>``, ``msr.timing.<message>.<field>``.

The script is written for the Lua of Wireshark 3.x and 4.x (5.1 to 5.4): no integer operators,
bit operations through ``bit32``/``bit`` where present. The same declarations always give the
same bytes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fsw.dictionary import SEVERITIES, NodeDictionary
from fsw.dictionary.verification import FAILURE_CODES, REPORT_NAMES
from ground_tools.exports._common import ExportError, dictionaries
from hal.bench import DEFAULT_EPOCH
from hal.protocol import timing
from hal.protocol.devices import test_board
from hal.protocol.devices.icd import FAILURES, BoardIcd, Field, Message
from hal.protocol.pus import FailureCode
from hal.protocol.spacepacket import APID_CFDP

__all__ = ["export_wireshark", "render_wireshark"]

_ABBR: Final = re.compile(r"[^A-Za-z0-9_.-]")
_LUA_KINDS: Final = {"u8", "u16", "u32", "i16", "i32", "f32", "bool"}
_TIMING_MESSAGES: Final = (
    (1, timing.SUBTYPE_TICK, "tick", timing.TickData),
    (0, timing.SUBTYPE_CYCLE_DONE, "cycle_done", timing.CycleDoneData),
    (1, timing.SUBTYPE_STOP, "stop", timing.StopData),
    (0, timing.SUBTYPE_HELLO, "hello", timing.HelloData),
    (0, timing.SUBTYPE_HOLDING, "holding", timing.HoldingData),
    (1, timing.SUBTYPE_UNANSWERED, "unanswered", timing.UnansweredData),
)
"""The timing ICD's messages: (1 for TC else 0, subtype, name, declaration)."""


def export_wireshark(nodes: Iterable[str] | None = None) -> bytes:
    """The Wireshark Lua dissector for ``nodes`` (every node when None) and their boards.

    Raises:
        ExportError: an unknown node name, or a declaration the dissector cannot express.
    """
    from ground_tools.capture import _boards  # the board ICDs, found once (one list for both)

    dicts = dictionaries(nodes)
    names = {d.node for d in dicts}
    boards = [b for b in _boards() if b.node in names]
    return render_wireshark(dicts, boards).encode("utf-8")


# ---------------------------------------------------------------------------------- tables


@dataclass
class _Fields:
    """Every value field of the dissector: one Lua ProtoField each, by abbreviation."""

    rows: list[str]
    abbrs: set[str]

    def add(self, abbr: str, label: str, kind: str, *, unit: str = "-", lo: float = 0,
            hi: float = 0, count: int = 1, size: int = 0,
            states: Sequence[tuple[int, str]] = ()) -> int:  # fmt: skip
        abbr = _ABBR.sub("_", abbr)
        base, n = abbr, 2
        while abbr in self.abbrs:
            abbr, n = f"{base}_{n}", n + 1
        self.abbrs.add(abbr)
        state_text = "{" + ", ".join(f"[{c}]={_lua(s)}" for c, s in states) + "}"
        if not states:
            state_text = "nil"
        self.rows.append(
            f"  {{{_lua(abbr)}, {_lua(label)}, {_lua(kind)}, {_lua(unit)}, {_num(lo)}, "
            f"{_num(hi)}, {count}, {size}, {state_text}}},"
        )
        return len(self.rows)

    def field(self, prefix: str, f: Field) -> int:
        if f.kind not in _LUA_KINDS:
            raise ExportError(f"field {f.name}: kind {f.kind!r} has no Wireshark mapping")
        states = f.enum or (((0, "false"), (1, "true")) if f.kind == "bool" else ())
        return self.add(f"{prefix}.{f.name}", f.name, f.kind, unit=f.unit, lo=f.lo, hi=f.hi,
                        count=f.count, states=states)  # fmt: skip

    def message(self, prefix: str, name: str, message: Message) -> str:
        ids = [self.field(prefix, f) for f in message.fields]
        return f"{{name={_lua(name)}, f={{{', '.join(map(str, ids))}}}}}"


def _lua(value: str) -> str:
    """A Lua string literal: JSON's quoting, which is Lua's for the quote, the backslash and the
    line breaks; other text stays UTF-8 (Lua strings are octets).

    Raises:
        ExportError: a control character, which Lua 5.1 cannot spell as JSON does.
    """
    text = json.dumps(value, ensure_ascii=False)
    if "\\u" in text:
        raise ExportError(f"{value!r}: a control character the dissector cannot carry")
    return text


def _num(value: float) -> str:
    """A Lua number: an integer when whole, ``math.huge`` for an infinite bound."""
    if isinstance(value, float) and math.isinf(value):
        return "math.huge" if value > 0 else "-math.huge"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value) if isinstance(value, float) else str(value)


def _key(service: int, subtype: int) -> int:
    return service * 256 + subtype


def _construct_fields(fields: _Fields, prefix: str, struct: Any) -> list[int]:
    """The fields of a timing ICD declaration: a construct Struct of integers and octet strings,
    read through its attributes (the ground tools do not import construct itself)."""
    ids = []
    for sub in struct.subcons:
        doc = getattr(sub, "docs", "") or ""
        inner = sub
        while type(inner).__name__ in ("Renamed", "Const"):
            inner = inner.subcon
        size = inner.sizeof()
        if hasattr(inner, "fmtstr") and size in (1, 2, 4, 8):
            kind = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]
            ids.append(fields.add(f"{prefix}.{sub.name}", sub.name, kind, lo=0,
                                  hi=256**size - 1))  # fmt: skip
        elif type(inner).__name__ == "Bytes":
            kind = "str" if "ASCII" in doc else "bytes"
            ids.append(fields.add(f"{prefix}.{sub.name}", sub.name, kind, size=size))
        else:
            raise ExportError(f"{prefix}.{sub.name}: a timing field the dissector cannot express")
    return ids


def render_wireshark(dicts: Sequence[NodeDictionary], boards: Sequence[BoardIcd]) -> str:
    """The Lua dissector for these node dictionaries and board ICDs (:func:`export_wireshark`)."""
    fields = _Fields([], set())
    out: list[str] = []
    nodes, commands, hk, reports, events, params = [], [], [], [], [], []
    for d in dicts:
        nodes.append(f"  [{d.apid}] = {_lua(d.node)},")
        rows = []
        for c in d.commands:
            entry = fields.message(f"msr.{d.node}.tc.{c.name}", c.name, c.message)
            if c.variable:
                entry = entry[:-1] + f", variable=true, layout={_lua(c.layout)}}}"
            rows.append(f"    [{_key(c.message.service, c.message.subtype)}] = {entry},")
        commands.append(f"  [{d.apid}] = {{\n" + "\n".join(rows) + "\n  },")
        rows = [f"    [{h.sid}] = {fields.message(f'msr.{d.node}.tm.{h.name}', h.name, h.message)},"
                for h in d.hk]  # fmt: skip
        hk.append(f"  [{d.apid}] = {{\n" + "\n".join(rows) + "\n  },")
        rows = [f"    [{_key(*r.key)}] = "
                f"{fields.message(f'msr.{d.node}.tm.{r.name}', r.name, r.message)},"
                for r in d.reports]  # fmt: skip
        reports.append(f"  [{d.apid}] = {{\n" + "\n".join(rows) + "\n  },")
        rows = [f"    [{e.id}] = {{name={_lua(e.name)}, severity={_lua(e.severity)}}},"
                for e in d.events]  # fmt: skip
        events.append(f"  [{d.apid}] = {{\n" + "\n".join(rows) + "\n  },")
        rows = [f"    [{p.id}] = {{name={_lua(p.name)}, unit={_lua(p.unit)}}},"
                for p in d.parameters]  # fmt: skip
        params.append(f"  [{d.apid}] = {{\n" + "\n".join(rows) + "\n  },")
    devices = []
    for board in boards:
        for device in board.devices:
            prefix = f"msr.{board.name}.{device.name}"
            rows = [
                f"      [{_key(m.service, m.subtype)}] = "
                f"{fields.message(f'{prefix}.tc.{m.name}', m.name, m)},"
                for m in device.commands
            ]
            status = fields.message(f"{prefix}.tm.status", "status", device.status)
            failures = ", ".join(f"[{c}]={_lua(n)}" for c, n in sorted(device.failures.items()))
            devices.append(
                f"  [{device.apid}] = {{board={_lua(board.name)}, device={_lua(device.name)}, "
                f"status={status}, failures={{{failures}}}, commands={{\n"
                + "\n".join(rows) + "\n  }},"
            )  # fmt: skip
    timing_rows = []
    for is_tc, subtype, name, struct in _TIMING_MESSAGES:
        ids = _construct_fields(fields, f"msr.timing.{name}", struct)
        listed = ", ".join(map(str, ids))
        timing_rows.append(f"  [{is_tc * 256 + subtype}] = {{name={_lua(name)}, f={{{listed}}}}},")
    failure_codes = dict(FAILURE_CODES)
    failure_codes.update(FAILURES)
    failure_codes[int(FailureCode.HARDWARE_FAULT)] = FailureCode.HARDWARE_FAULT.label
    out.append(_HEADER)
    out.append(f"local DEFAULT_EPOCH = {int(DEFAULT_EPOCH.timestamp())}\n")
    out.append("local FIELD_DEFS = {\n" + "\n".join(fields.rows) + "\n}\n")
    out.append("local NODES = {\n" + "\n".join(nodes) + "\n}\n")
    out.append("local COMMANDS = {\n" + "\n".join(commands) + "\n}\n")
    out.append("local HK = {\n" + "\n".join(hk) + "\n}\n")
    out.append("local REPORTS = {\n" + "\n".join(reports) + "\n}\n")
    out.append("local EVENTS = {\n" + "\n".join(events) + "\n}\n")
    out.append("local PARAMS = {\n" + "\n".join(params) + "\n}\n")
    out.append("local DEVICES = {\n" + "\n".join(devices) + "\n}\n")
    out.append("local TIMING = {\n" + "\n".join(timing_rows) + "\n}\n")
    out.append(f"local TIMING_APID = {timing.APID}\nlocal TIMING_SERVICE = {timing.SERVICE}\n")
    out.append(f"local CFDP_APID = {APID_CFDP}\n")
    tb = test_board
    out.append(
        f"local TEST_BOARD_APID = {tb.APID}\nlocal TEST_BOARD = {{\n"
        f"  [{65536 + _key(tb.SERVICE_TEST, tb.SUBTYPE_ARE_YOU_ALIVE)}] = 'are_you_alive',\n"
        f"  [{_key(tb.SERVICE_TEST, tb.SUBTYPE_ALIVE_REPORT)}] = 'alive',\n"
        f"  [{65536 + _key(tb.SERVICE_ECHO, tb.SUBTYPE_ECHO)}] = 'echo',\n"
        f"  [{_key(tb.SERVICE_ECHO, tb.SUBTYPE_ECHO_REPORT)}] = 'echo_report',\n"
        f"  [{_key(tb.SERVICE_VERIFICATION, tb.SUBTYPE_ACCEPTANCE_FAILED)}] = "
        "'acceptance_failed',\n}\n"
    )
    out.append(
        "local FAILURE_CODES = {"
        + ", ".join(f"[{c}]={_lua(n)}" for c, n in sorted(failure_codes.items()))
        + "}\n"
    )
    out.append(
        "local STAGES = {"
        + ", ".join(f"[{s}]={_lua(n)}" for s, n in sorted(REPORT_NAMES.items()))
        + "}\n"
    )
    out.append(
        "local SEVERITY_OF = {"
        + ", ".join(f"[{s}]={_lua(n)}" for n, s in sorted(SEVERITIES.items(), key=lambda i: i[1]))
        + "}\n"
    )
    out.append(f"local CRC_TABLE = {{{', '.join(str(v) for v in _crc_table())}}}\n")
    out.append(_BODY)
    return "".join(out)


def _crc_table() -> list[int]:
    """CRC-16/CCITT-FALSE (polynomial 0x1021), one entry per octet value, index from 1."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
        table.append(crc)
    return table


_HEADER: Final = """\
-- msr.lua: Wireshark dissector for the captures of the MSR flight-software bench.
-- Generated by `msr dict export --format wireshark` from the flight dictionary and the board
-- ICDs; do not edit (generate it again when they change).
--
-- Load it: wireshark -X lua_script:msr.lua runs/latest/captures/ground-lander.rx.pcap
--          tshark -X lua_script:msr.lua -r FILE.pcap -V
-- or copy it to the personal Lua plugins folder (Help > About Wireshark > Folders).
-- Linktypes: 147 (USER0) device and timing links, 148 (USER1) TC frames, 149 (USER2) TM frames.

"""

_BODY: Final = r"""
local bit = bit32 or bit
local bxor = bit and bit.bxor or load("return function(a, b) return a ~ b end")()

local msr = Proto("msr", "MSR bench link")
local msr_tc = Proto("msrtc", "MSR uplink (TC frame)")
msr.prefs.epoch = Pref.uint("Mission epoch (POSIX seconds)", DEFAULT_EPOCH,
  "The UTC of mission time 0: the bench file's epoch (2031-07-01T00:00:00Z unless it says)")
local msr_tm = Proto("msrtm", "MSR downlink (TM frame)")

local pf = {
  kind = ProtoField.string("msr.kind", "Record"),
  asm = ProtoField.bytes("msr.asm", "Attached sync marker"),
  name = ProtoField.string("msr.name", "Name"),
  node = ProtoField.string("msr.node", "Node"),
  source = ProtoField.string("msr.source", "Source"),
  version = ProtoField.uint16("msr.version", "Packet version", base.DEC, nil, 0xE000),
  ptype = ProtoField.uint16("msr.type", "Packet type", base.DEC, {[0]="TM", [1]="TC"}, 0x1000),
  shf = ProtoField.uint16("msr.shf", "Secondary header flag", base.DEC, nil, 0x0800),
  apid = ProtoField.uint16("msr.apid", "APID", base.HEX, nil, 0x07FF),
  seq_flags = ProtoField.uint16("msr.seq_flags", "Sequence flags", base.DEC,
    {[0]="continuing", [1]="first", [2]="last", [3]="unsegmented"}, 0xC000),
  seq_count = ProtoField.uint16("msr.seq_count", "Sequence count", base.DEC, nil, 0x3FFF),
  length = ProtoField.uint16("msr.length", "Data length (octets - 7)"),
  pus = ProtoField.uint8("msr.pus", "PUS version", base.DEC, nil, 0xF0),
  ack = ProtoField.uint8("msr.ack", "Acknowledgement flags", base.HEX, nil, 0x0F),
  time_ref = ProtoField.uint8("msr.time_ref", "Time reference status", base.DEC, nil, 0x0F),
  service = ProtoField.uint8("msr.service", "Service type"),
  subtype = ProtoField.uint8("msr.subtype", "Message subtype"),
  source_id = ProtoField.uint16("msr.source_id", "Source id", base.DEC, nil, 0x7FFF),
  confirmed = ProtoField.uint16("msr.confirmed", "Hazard confirmed by the ground", base.DEC,
    {[0]="no", [1]="yes"}, 0x8000),
  msg_counter = ProtoField.uint16("msr.msg_counter", "Message type counter"),
  dest_id = ProtoField.uint16("msr.dest_id", "Destination id"),
  coarse = ProtoField.uint32("msr.time.coarse", "Time, coarse (s)"),
  fine = ProtoField.uint16("msr.time.fine", "Time, fine (1/65536 s)"),
  time = ProtoField.double("msr.time", "On-board time (s since the mission epoch)"),
  utc = ProtoField.absolute_time("msr.time.utc", "On-board time (UTC)", base.UTC),
  crc = ProtoField.uint16("msr.crc", "Packet error control", base.HEX),
  data = ProtoField.bytes("msr.data", "Data"),
  layout = ProtoField.string("msr.layout", "Layout"),
  req_apid = ProtoField.uint32("msr.request.apid", "Request APID", base.HEX, nil, 0x07FF0000),
  req_flags = ProtoField.uint32("msr.request.seq_flags", "Request sequence flags", base.DEC, nil,
    0x0000C000),
  req_count = ProtoField.uint32("msr.request.seq_count", "Request sequence count", base.DEC, nil,
    0x00003FFF),
  stage = ProtoField.string("msr.stage", "Verification stage"),
  step = ProtoField.uint8("msr.step", "Progress step"),
  code16 = ProtoField.uint16("msr.failure.code", "Failure code", base.DEC, FAILURE_CODES),
  code8 = ProtoField.uint8("msr.failure.code8", "Failure code", base.DEC, FAILURE_CODES),
  failure = ProtoField.string("msr.failure.name", "Failure"),
  detail16 = ProtoField.uint16("msr.failure.detail", "Failure detail"),
  reason = ProtoField.string("msr.failure.reason", "Reason"),
  event_id = ProtoField.uint16("msr.event.id", "Event id"),
  event_name = ProtoField.string("msr.event.name", "Event"),
  severity = ProtoField.string("msr.event.severity", "Severity"),
  detail_len = ProtoField.uint8("msr.event.detail_length", "Detail length"),
  detail = ProtoField.string("msr.event.detail", "Detail"),
  sid = ProtoField.uint16("msr.sid", "Structure id (SID)"),
  param_count = ProtoField.uint8("msr.params.count", "Parameters"),
  param_id = ProtoField.uint16("msr.params.id", "Parameter id"),
  param_name = ProtoField.string("msr.params.name", "Parameter"),
  param_value = ProtoField.double("msr.params.value", "Value"),
  idle = ProtoField.bytes("msr.idle", "Idle data"),
  -- CFDP (CCSDS 727.0-B-5) PDUs in space packets of their own APID (decision 0056)
  cfdp_type = ProtoField.string("msr.cfdp.pdu", "CFDP PDU"),
  cfdp_direction = ProtoField.string("msr.cfdp.direction", "Direction"),
  cfdp_length = ProtoField.uint16("msr.cfdp.data_length", "PDU data field length"),
  cfdp_source = ProtoField.uint32("msr.cfdp.source", "Source entity"),
  cfdp_seq = ProtoField.uint32("msr.cfdp.transaction", "Transaction sequence number"),
  cfdp_dest = ProtoField.uint32("msr.cfdp.destination", "Destination entity"),
  cfdp_offset = ProtoField.uint32("msr.cfdp.offset", "File offset"),
  cfdp_data = ProtoField.bytes("msr.cfdp.data", "File data"),
  cfdp_crc = ProtoField.uint16("msr.cfdp.crc", "PDU CRC", base.HEX),
  -- TC frame
  tc_version = ProtoField.uint16("msr.tc.version", "Frame version", base.DEC, nil, 0xC000),
  tc_bypass = ProtoField.uint16("msr.tc.bypass", "Bypass flag", base.DEC,
    {[0]="type A (FARM-checked)", [1]="type B (bypass)"}, 0x2000),
  tc_ctrl = ProtoField.uint16("msr.tc.control", "Control command flag", base.DEC,
    {[0]="data", [1]="control command"}, 0x1000),
  tc_scid = ProtoField.uint16("msr.tc.scid", "Spacecraft id", base.DEC, nil, 0x03FF),
  tc_vcid = ProtoField.uint16("msr.tc.vcid", "Virtual channel", base.DEC, nil, 0xFC00),
  tc_length = ProtoField.uint16("msr.tc.length", "Frame length (octets - 1)", base.DEC, nil,
    0x03FF),
  tc_ns = ProtoField.uint8("msr.tc.ns", "Frame sequence number N(S)"),
  seg_flags = ProtoField.uint8("msr.tc.seg_flags", "Segment sequence flags", base.DEC,
    {[0]="continuing", [1]="first", [2]="last", [3]="unsegmented"}, 0xC0),
  map = ProtoField.uint8("msr.tc.map", "MAP id", base.DEC, nil, 0x3F),
  spi = ProtoField.uint16("msr.tc.spi", "Security parameter index (SPI)"),
  sn = ProtoField.uint32("msr.tc.sn", "Anti-replay sequence number"),
  mac = ProtoField.bytes("msr.tc.mac", "MAC (HMAC-SHA-256/128)"),
  iv = ProtoField.bytes("msr.tc.iv", "IV (anti-replay sequence number)"),
  tag = ProtoField.bytes("msr.tc.tag", "MAC (AES-256-GCM tag)"),
  fecf = ProtoField.uint16("msr.fecf", "Frame error control", base.HEX),
  directive = ProtoField.string("msr.tc.directive", "Control command"),
  vr = ProtoField.uint8("msr.tc.set_vr", "Set V(R) to"),
  nonce = ProtoField.bytes("msr.tc.nonce", "Resync nonce"),
  -- TM frame
  tm_version = ProtoField.uint16("msr.tm.version", "Frame version", base.DEC, nil, 0xC000),
  tm_scid = ProtoField.uint16("msr.tm.scid", "Spacecraft id", base.DEC, nil, 0x3FF0),
  tm_vcid = ProtoField.uint16("msr.tm.vcid", "Virtual channel", base.DEC, nil, 0x000E),
  tm_ocf_flag = ProtoField.uint16("msr.tm.ocf_flag", "OCF flag", base.DEC, nil, 0x0001),
  tm_mc = ProtoField.uint8("msr.tm.mc_count", "Master channel frame count"),
  tm_vc = ProtoField.uint8("msr.tm.vc_count", "Virtual channel frame count"),
  tm_status = ProtoField.uint16("msr.tm.data_status", "Data field status", base.HEX),
  tm_fhp = ProtoField.uint16("msr.tm.fhp", "First header pointer", base.HEX, nil, 0x07FF),
  clcw = ProtoField.uint32("msr.clcw", "CLCW", base.HEX),
  clcw_type = ProtoField.uint32("msr.clcw.type", "Control word type", base.DEC, nil, 0x80000000),
  clcw_version = ProtoField.uint32("msr.clcw.version", "CLCW version", base.DEC, nil, 0x60000000),
  clcw_status = ProtoField.uint32("msr.clcw.status", "Status field", base.DEC, nil, 0x1C000000),
  clcw_cop = ProtoField.uint32("msr.clcw.cop", "COP in effect", base.DEC, {[1]="COP-1"},
    0x03000000),
  clcw_vcid = ProtoField.uint32("msr.clcw.vcid", "TC virtual channel", base.DEC, nil, 0x00FC0000),
  clcw_no_rf = ProtoField.uint32("msr.clcw.no_rf", "No RF available", base.DEC, nil, 0x00008000),
  clcw_no_lock = ProtoField.uint32("msr.clcw.no_bit_lock", "No bit lock", base.DEC, nil,
    0x00004000),
  clcw_lockout = ProtoField.uint32("msr.clcw.lockout", "Lockout", base.DEC, nil, 0x00002000),
  clcw_wait = ProtoField.uint32("msr.clcw.wait", "Wait", base.DEC, nil, 0x00001000),
  clcw_retransmit = ProtoField.uint32("msr.clcw.retransmit", "Retransmit", base.DEC, nil,
    0x00000800),
  clcw_farm_b = ProtoField.uint32("msr.clcw.farm_b", "FARM-B counter", base.DEC, nil, 0x00000600),
  clcw_vr = ProtoField.uint32("msr.clcw.report_value", "Report value V(R)", base.DEC, nil,
    0x000000FF),
}

local KIND_FIELDS = {
  u8 = ProtoField.uint8, u16 = ProtoField.uint16, u32 = ProtoField.uint32,
  i16 = ProtoField.int16, i32 = ProtoField.int32, bool = ProtoField.uint8,
}
local SIZES = {u8=1, u16=2, u32=4, i16=2, i32=4, f32=4, bool=1, u64=8}
local DEFS = {}
for i, d in ipairs(FIELD_DEFS) do
  local abbr, label, kind = d[1], d[2], d[3]
  local field
  if kind == "f32" then
    field = ProtoField.float(abbr, label)
  elseif kind == "u64" then
    field = ProtoField.uint64(abbr, label)
  elseif kind == "str" then
    field = ProtoField.string(abbr, label)
  elseif kind == "bytes" then
    field = ProtoField.bytes(abbr, label)
  else
    field = KIND_FIELDS[kind](abbr, label, base.DEC, d[9])
  end
  DEFS[i] = {pf=field, label=label, kind=kind, unit=d[4], lo=d[5], hi=d[6], count=d[7],
             size=(SIZES[kind] or d[8]), states=d[9]}
  pf["f" .. i] = field
end
local all_fields = {}
for _, field in pairs(pf) do all_fields[#all_fields + 1] = field end
msr.fields = all_fields

local ef = {
  malformed = ProtoExpert.new("msr.malformed", "Malformed", expert.group.MALFORMED,
                              expert.severity.ERROR),
  checksum = ProtoExpert.new("msr.bad_checksum", "Bad checksum", expert.group.CHECKSUM,
                             expert.severity.ERROR),
  unknown = ProtoExpert.new("msr.unknown", "Not in the dictionary", expert.group.UNDECODED,
                            expert.severity.WARN),
  range = ProtoExpert.new("msr.out_of_range", "Value outside its declared range",
                          expert.group.PROTOCOL, expert.severity.WARN),
  sequence = ProtoExpert.new("msr.sequence", "Sequence", expert.group.SEQUENCE,
                             expert.severity.NOTE),
  failure = ProtoExpert.new("msr.failure", "Failure report", expert.group.RESPONSE_CODE,
                            expert.severity.NOTE),
}
msr.experts = {ef.malformed, ef.checksum, ef.unknown, ef.range, ef.sequence, ef.failure}

local function bits(x, shift, width)
  return math.floor(x / 2 ^ shift) % 2 ^ width
end

local function crc16(tvb, offset, length)
  local bytes = tvb(offset, length):bytes()
  local crc = 0xFFFF
  for i = 0, length - 1 do
    local index = bxor(math.floor(crc / 256), bytes:get_index(i))
    crc = bxor((crc % 256) * 256, CRC_TABLE[index + 1])
  end
  return crc
end

local function malformed(tree, text)
  tree:add_proto_expert_info(ef.malformed, text)
end

-- A transfer frame's error control field (the last two octets, from ``stop``), checked.
local function check_fecf(tree, frame, stop)
  local fecf = tree:add(pf.fecf, frame(stop, 2))
  local want = crc16(frame, 0, stop)
  if want ~= frame(stop, 2):uint() then
    fecf:add_proto_expert_info(ef.checksum, string.format("FECF 0x%04X, computed 0x%04X",
                                                          frame(stop, 2):uint(), want))
  else
    fecf:append_text(" [correct]")
  end
end

-- The names of one record, for the Info column.
local Record = {}
Record.__index = Record
local function new_record() return setmetatable({texts = {}}, Record) end
function Record:say(text) self.texts[#self.texts + 1] = text end

local function name_item(tree, name, source, node)
  tree:add(pf.name, name):set_generated()
  if source then tree:add(pf.source, source):set_generated() end
  if node then tree:add(pf.node, node):set_generated() end
end

-- Declared fields: values with unit, state name, range check. Returns a short text.
local function add_fields(tvb, tree, offset, stop, ids, what)
  local texts = {}
  for _, id in ipairs(ids) do
    local d = DEFS[id]
    local total = d.size * d.count
    if offset + total > stop then
      malformed(tree, string.format("%s: %s needs %d octets, %d left", what, d.label, total,
                                    stop - offset))
      return offset, table.concat(texts, ", "), false
    end
    local target = tree
    if d.count > 1 then
      target = tree:add(tvb(offset, total), string.format("%s (%d values)", d.label, d.count))
    end
    for _ = 1, d.count do
      local range = tvb(offset, d.size)
      local item = target:add(d.pf, range)
      local value
      if d.kind == "f32" then value = range:float()
      elseif d.kind == "i16" or d.kind == "i32" then value = range:int()
      elseif d.kind == "u64" then value = range:uint64()
      elseif d.kind == "str" then value = range:stringz()
      elseif d.kind == "bytes" then value = nil
      else value = range:uint() end
      if d.unit ~= "-" then item:append_text(" " .. d.unit) end
      if type(value) == "number" then
        if value ~= value or value < d.lo or value > d.hi then
          item:add_proto_expert_info(ef.range, string.format("%s = %s is outside %s..%s",
            d.label, tostring(value), tostring(d.lo), tostring(d.hi)))
        end
        if #texts < 4 and d.count == 1 then
          local shown = d.states and d.states[value] or
            (d.kind == "f32" and string.format("%.6g", value) or tostring(value))
          texts[#texts + 1] = d.label .. "=" .. shown
        end
      end
      offset = offset + d.size
    end
  end
  return offset, table.concat(texts, ", "), true
end

local function add_message(tvb, tree, offset, stop, message, what)
  local after, text, ok = add_fields(tvb, tree, offset, stop, message.f, what)
  if ok and after ~= stop then
    malformed(tree, string.format("%s: %d octets, its declaration says %d", what, stop - offset,
                                  after - offset))
  end
  return text
end

local function request_text(tvb, offset)
  local apid = bits(tvb(offset, 2):uint(), 0, 11)
  local count = bits(tvb(offset + 2, 2):uint(), 0, 14)
  local owner = NODES[apid] or (DEVICES[apid] and DEVICES[apid].board .. "." ..
    DEVICES[apid].device) or (apid == TIMING_APID and "timing") or string.format("0x%03X", apid)
  return owner .. "#" .. count
end

local function add_request(tvb, tree, offset)
  local sub = tree:add(tvb(offset, 4), "Request id: " .. request_text(tvb, offset))
  sub:add(pf.req_apid, tvb(offset, 4))
  sub:add(pf.req_flags, tvb(offset, 4))
  sub:add(pf.req_count, tvb(offset, 4))
end

local function pascal(tvb, tree, offset, stop, field, what)
  if offset >= stop then
    malformed(tree, what .. ": no length octet")
    return nil, offset
  end
  local n = tvb(offset, 1):uint()
  if offset + 1 + n > stop then
    malformed(tree, string.format("%s: %d octets declared, %d left", what, n, stop - offset - 1))
    return nil, stop
  end
  tree:add(pf.detail_len, tvb(offset, 1))
  if n == 0 then
    tree:add(field, "")
    return "", offset + 1
  end
  local range = tvb(offset + 1, n)
  tree:add_packet_field(field, range, ENC_UTF_8)
  return range:string(ENC_UTF_8), offset + 1 + n
end

-- A node's telecommand or telemetry.
local function node_tc(tvb, tree, offset, stop, apid, service, subtype, rec)
  local node = NODES[apid]
  local command = COMMANDS[apid][service * 256 + subtype]
  if not command then
    tree:add_proto_expert_info(ef.unknown, string.format("%s: no command TC[%d,%d]", node,
                                                         service, subtype))
    rec:say(string.format("%s TC[%d,%d] unknown", node, service, subtype))
    return
  end
  local sub = tree:add(tvb(offset, stop - offset), command.name)
  name_item(sub, command.name, node, node)
  if command.variable then
    if stop > offset then sub:add(pf.data, tvb(offset, stop - offset)) end
    sub:add(pf.layout, command.layout):set_generated()
    rec:say(string.format("%s %s (%d octets)", node, command.name, stop - offset))
    return
  end
  local text = add_message(tvb, sub, offset, stop, command, command.name)
  rec:say(node .. " " .. command.name .. (text ~= "" and " {" .. text .. "}" or ""))
end

local function node_verification(tvb, tree, offset, stop, node, subtype, rec)
  local stage = STAGES[subtype]
  if not stage then
    tree:add_proto_expert_info(ef.unknown, string.format("TM[1,%d] is not a verification report",
                                                         subtype))
    rec:say(node .. " TM[1," .. subtype .. "] unknown")
    return
  end
  local name = "verification." .. stage
  local sub = tree:add(tvb(offset, stop - offset), name)
  name_item(sub, name, node, node)
  sub:add(pf.stage, stage):set_generated()
  if stop - offset < 4 then
    malformed(sub, string.format("%s: %d octets, no request id", name, stop - offset))
    return
  end
  add_request(tvb, sub, offset)
  local text = node .. " " .. name .. " for " .. request_text(tvb, offset)
  local at = offset + 4
  if subtype == 5 or subtype == 6 then
    if at >= stop then malformed(sub, name .. ": no step") return end
    sub:add(pf.step, tvb(at, 1))
    at = at + 1
  end
  if subtype % 2 == 0 then
    if at + 2 > stop then malformed(sub, name .. ": no failure code") return end
    sub:add(pf.code16, tvb(at, 2))
    local code = tvb(at, 2):uint()
    local reason
    reason, at = pascal(tvb, sub, at + 2, stop, pf.reason, name .. " reason")
    sub:add_proto_expert_info(ef.failure, string.format("%s: %s %s", name,
      FAILURE_CODES[code] or ("code " .. code), reason or ""))
    text = text .. ": " .. (FAILURE_CODES[code] or ("code " .. code)) .. " " .. (reason or "")
  end
  if at ~= stop then
    malformed(sub, string.format("%s: %d trailing octets", name, stop - at))
  end
  rec:say(text)
end

local function node_tm(tvb, tree, offset, stop, apid, service, subtype, rec)
  local node = NODES[apid]
  local size = stop - offset
  if service == 1 then
    return node_verification(tvb, tree, offset, stop, node, subtype, rec)
  elseif service == 3 and subtype == 25 then
    if size < 2 then malformed(tree, "housekeeping report without a SID") return end
    local sid = tvb(offset, 2):uint()
    local packet = HK[apid][sid]
    if not packet then
      tree:add(pf.sid, tvb(offset, 2))
      tree:add_proto_expert_info(ef.unknown, string.format("%s: unknown SID %d", node, sid))
      rec:say(string.format("%s TM[3,25] unknown SID %d", node, sid))
      return
    end
    local sub = tree:add(tvb(offset, size), packet.name)
    name_item(sub, packet.name, node, node)
    sub:add(pf.sid, tvb(offset, 2))
    local text = add_message(tvb, sub, offset + 2, stop, packet, packet.name)
    rec:say(node .. " " .. packet.name .. (text ~= "" and " {" .. text .. "}" or ""))
    return
  elseif service == 5 then
    local severity = SEVERITY_OF[subtype]
    if not severity or size < 3 then
      malformed(tree, string.format("TM[5,%d]: not an event report (%d octets)", subtype, size))
      return
    end
    local id = tvb(offset, 2):uint()
    local event = EVENTS[apid][id]
    local name = event and event.name or ("event_" .. id)
    local sub = tree:add(tvb(offset, size), name)
    name_item(sub, name, node, node)
    sub:add(pf.event_id, tvb(offset, 2))
    sub:add(pf.event_name, name):set_generated()
    sub:add(pf.severity, severity):set_generated()
    if not event then
      sub:add_proto_expert_info(ef.unknown, string.format("%s: unknown event id %d", node, id))
    end
    local detail, at = pascal(tvb, sub, offset + 2, stop, pf.detail, name .. " detail")
    if detail and at ~= stop then
      malformed(sub, string.format("%s: %d trailing octets", name, stop - at))
    end
    rec:say(string.format("%s %s [%s] %s", node, name, severity, detail or ""))
    return
  elseif service == 17 and subtype == 2 then
    name_item(tree, "core.alive", node, node)
    if size ~= 0 then malformed(tree, "alive report with data") end
    rec:say(node .. " core.alive")
    return
  elseif service == 20 and subtype == 2 then
    local sub = tree:add(tvb(offset, size), "params.report")
    name_item(sub, "params.report", node, node)
    if size < 1 or size ~= 1 + tvb(offset, 1):uint() * 10 then
      malformed(sub, string.format("parameter report of %d octets is not N | N x (id u16 | "
                                   .. "value f64)", size))
      return
    end
    sub:add(pf.param_count, tvb(offset, 1))
    local names = {}
    for i = 0, tvb(offset, 1):uint() - 1 do
      local at = offset + 1 + i * 10
      local id = tvb(at, 2):uint()
      local param = PARAMS[apid][id]
      local pname = param and param.name or ("parameter_" .. id)
      local entry = sub:add(tvb(at, 10), string.format("%s = %.6g", pname, tvb(at + 2, 8):float()))
      entry:add(pf.param_id, tvb(at, 2))
      entry:add(pf.param_name, pname):set_generated()
      local item = entry:add(pf.param_value, tvb(at + 2, 8))
      if param and param.unit ~= "-" then item:append_text(" " .. param.unit) end
      if not param then
        entry:add_proto_expert_info(ef.unknown, string.format("%s: unknown parameter id %d", node,
                                                              id))
      end
      names[#names + 1] = pname
    end
    rec:say(node .. " params.report {" .. table.concat(names, ", ") .. "}")
    return
  end
  local report = REPORTS[apid][service * 256 + subtype]
  if report then
    local sub = tree:add(tvb(offset, size), report.name)
    name_item(sub, report.name, node, node)
    local text = add_message(tvb, sub, offset, stop, report, report.name)
    rec:say(node .. " " .. report.name .. (text ~= "" and " {" .. text .. "}" or ""))
    return
  end
  tree:add_proto_expert_info(ef.unknown, string.format("%s: no report TM[%d,%d]", node, service,
                                                       subtype))
  rec:say(string.format("%s TM[%d,%d] unknown", node, service, subtype))
end

-- A board device's command or reply.
local function device_packet(tvb, tree, offset, stop, apid, is_tc, service, subtype, rec)
  local dev = DEVICES[apid]
  local source = dev.board .. "." .. dev.device
  local size = stop - offset
  local short, message
  if is_tc then
    if service == 17 and subtype == 1 then short = "ping"
    elseif service == 3 and subtype == 27 then short = "report_status"
    else
      message = dev.commands[service * 256 + subtype]
      short = message and message.name
    end
  else
    if service == 17 and subtype == 2 then short = "alive"
    elseif service == 3 and subtype == 25 then short, message = "status", dev.status
    elseif service == 1 and subtype == 7 then short = "completed"
    elseif service == 1 and (subtype == 2 or subtype == 8) then
      short = subtype == 2 and "acceptance_failed" or "failed"
    end
  end
  if not short then
    tree:add_proto_expert_info(ef.unknown, string.format("%s: no message %s[%d,%d]", source,
      is_tc and "TC" or "TM", service, subtype))
    rec:say(string.format("%s %s[%d,%d] unknown", source, is_tc and "TC" or "TM", service,
                          subtype))
    return
  end
  local name = source .. "." .. short
  local sub = tree:add(tvb(offset, size), name)
  name_item(sub, name, source, nil)
  if message then
    local text = add_message(tvb, sub, offset, stop, message, name)
    rec:say(name .. (text ~= "" and " {" .. text .. "}" or ""))
    return
  end
  if short == "completed" then
    if size ~= 4 then malformed(sub, name .. ": not 4 octets") return end
    add_request(tvb, sub, offset)
    rec:say(name .. " for " .. request_text(tvb, offset))
    return
  elseif short == "acceptance_failed" or short == "failed" then
    if size ~= 7 then malformed(sub, name .. ": not 7 octets") return end
    add_request(tvb, sub, offset)
    sub:add(pf.code8, tvb(offset + 4, 1))
    local code = tvb(offset + 4, 1):uint()
    local failure = FAILURE_CODES[code] or dev.failures[code] or ("failure_" .. code)
    sub:add(pf.failure, failure):set_generated()
    sub:add(pf.detail16, tvb(offset + 5, 2))
    sub:add_proto_expert_info(ef.failure, name .. ": " .. failure)
    rec:say(string.format("%s for %s: %s (detail %d)", name, request_text(tvb, offset), failure,
                          tvb(offset + 5, 2):uint()))
    return
  end
  if size ~= 0 then malformed(sub, string.format("%s: %d octets, it carries none", name, size)) end
  rec:say(name)
end

local function timing_packet(tvb, tree, offset, stop, is_tc, service, subtype, rec)
  local message = service == TIMING_SERVICE and TIMING[(is_tc and 256 or 0) + subtype]
  if not message then
    tree:add_proto_expert_info(ef.unknown, string.format("timing: no message %s[%d,%d]",
      is_tc and "TC" or "TM", service, subtype))
    rec:say(string.format("timing %s[%d,%d] unknown", is_tc and "TC" or "TM", service, subtype))
    return
  end
  local name = "timing." .. message.name
  local sub = tree:add(tvb(offset, stop - offset), name)
  name_item(sub, name, "timing", nil)
  local text = add_message(tvb, sub, offset, stop, message, name)
  rec:say(name .. (text ~= "" and " {" .. text .. "}" or ""))
end

local function test_board_packet(tvb, tree, offset, stop, is_tc, service, subtype, rec)
  local short = TEST_BOARD[(is_tc and 65536 or 0) + service * 256 + subtype]
  if not short then
    tree:add_proto_expert_info(ef.unknown, "test board: unknown message")
    rec:say("test_board unknown")
    return
  end
  name_item(tree, "test_board." .. short, "test_board", nil)
  if stop > offset then tree:add(pf.data, tvb(offset, stop - offset)) end
  rec:say("test_board." .. short)
end

-- One whole space packet: tvb holds exactly the octets its length field declares (or the rest
-- of a record, checked here).
local CFDP_DIRECTIVES = {[4]="eof", [5]="finished", [6]="ack", [7]="metadata", [8]="nak",
  [9]="prompt", [12]="keep_alive"}

-- A CFDP PDU (CCSDS 727.0-B-5 5.1): its fixed header, its directive or file data, its CRC.
local function cfdp_pdu(tvb, tree, offset, stop, rec)
  local sub = tree:add(tvb(offset, stop - offset), "CFDP PDU")
  if stop - offset < 4 then
    malformed(sub, "shorter than a CFDP PDU header")
    rec:say("bad cfdp")
    return
  end
  local b0 = tvb(offset, 1):uint()
  local is_data, to_sender = bits(b0, 4, 1) == 1, bits(b0, 3, 1) == 1
  local has_crc, large = bits(b0, 1, 1) == 1, bits(b0, 0, 1) == 1
  local data_len = tvb(offset + 1, 2):uint()
  local b3 = tvb(offset + 3, 1):uint()
  local id_len, seq_len = bits(b3, 4, 3) + 1, bits(b3, 0, 3) + 1
  local head = 4 + 2 * id_len + seq_len
  if offset + head + data_len ~= stop then
    malformed(sub, string.format("the header says %d octets, the packet carries %d",
                                 head + data_len, stop - offset))
    rec:say("bad cfdp")
    return
  end
  sub:add(pf.cfdp_direction, tvb(offset, 1), to_sender and "toward the sender"
          or "toward the receiver")
  sub:add(pf.cfdp_length, tvb(offset + 1, 2))
  local at = offset + 4
  sub:add(pf.cfdp_source, tvb(at, id_len))
  sub:add(pf.cfdp_seq, tvb(at + id_len, seq_len))
  sub:add(pf.cfdp_dest, tvb(at + id_len + seq_len, id_len))
  local body, last = offset + head, stop
  if has_crc then
    last = stop - 2
    local crc_item = sub:add(pf.cfdp_crc, tvb(last, 2))
    local want = crc16(tvb, offset, last - offset)
    if want ~= tvb(last, 2):uint() then
      crc_item:add_proto_expert_info(ef.checksum, string.format("PDU CRC 0x%04X, computed "
        .. "0x%04X", tvb(last, 2):uint(), want))
    else
      crc_item:append_text(" [correct]")
    end
  end
  local kind
  if is_data then
    kind = "file_data"
    local width = large and 8 or 4
    if last - body >= width then
      sub:add(pf.cfdp_offset, tvb(body, width))
      if last - body > width then sub:add(pf.cfdp_data, tvb(body + width, last - body - width)) end
    end
  elseif last > body then
    kind = CFDP_DIRECTIVES[tvb(body, 1):uint()]
    if not kind then
      sub:add_proto_expert_info(ef.unknown, string.format("CFDP directive 0x%02X",
                                                          tvb(body, 1):uint()))
      kind = "directive"
    end
  else
    malformed(sub, "a directive PDU with no directive code")
    rec:say("bad cfdp")
    return
  end
  sub:add(pf.cfdp_type, tvb(body, last - body), kind)
  local name = "cfdp." .. kind
  name_item(tree, name, nil, nil)
  tree:set_text(string.format("Space packet CFDP %s, transaction %d", kind,
                              tvb(offset + 4 + id_len, seq_len):uint()))
  rec:say(name)
end

local function dissect_packet(tvb, tree, rec, label)
  local len = tvb:len()
  local sub = tree:add(msr, tvb(), label or "Space packet")
  if len < 6 then
    malformed(sub, string.format("%d octets: shorter than a packet header", len))
    rec:say("bad packet")
    return
  end
  local w0 = tvb(0, 2):uint()
  local version, is_tc = bits(w0, 13, 3), bits(w0, 12, 1) == 1
  local shf, apid = bits(w0, 11, 1), bits(w0, 0, 11)
  local header = sub:add(tvb(0, 6), "Primary header")
  header:add(pf.version, tvb(0, 2))
  header:add(pf.ptype, tvb(0, 2))
  header:add(pf.shf, tvb(0, 2))
  local apid_item = header:add(pf.apid, tvb(0, 2))
  local owner = NODES[apid] or (DEVICES[apid] and DEVICES[apid].board .. "." ..
    DEVICES[apid].device) or (apid == TIMING_APID and "timing") or
    (apid == TEST_BOARD_APID and "test_board") or (apid == 0x7FF and "idle") or
    (apid == CFDP_APID and "cfdp")
  if owner then apid_item:append_text(" (" .. owner .. ")") end
  header:add(pf.seq_flags, tvb(2, 2))
  header:add(pf.seq_count, tvb(2, 2))
  header:add(pf.length, tvb(4, 2))
  local total = tvb(4, 2):uint() + 7
  if version ~= 0 then
    malformed(sub, string.format("packet version %d, not 0", version))
    rec:say("bad packet")
    return
  end
  if total ~= len then
    malformed(sub, string.format("the length field says %d octets, the packet has %d", total,
                                 len))
    rec:say("bad packet")
    return
  end
  if apid == 0x7FF then
    sub:set_text(string.format("Idle packet, %d octets", len))
    name_item(sub, "idle", nil, nil)
    if len > 6 then sub:add(pf.idle, tvb(6, len - 6)) end
    return
  end
  if apid == CFDP_APID and shf == 0 then
    cfdp_pdu(tvb, sub, 6, len, rec)
    return
  end
  local head = is_tc and 11 or 19
  if shf ~= 1 or len < head + 2 then
    malformed(sub, string.format("%d octets: not a PUS-C %s packet", len, is_tc and "TC" or "TM"))
    rec:say("bad packet")
    return
  end
  local sec = sub:add(tvb(6, head - 6), is_tc and "TC secondary header" or "TM secondary header")
  sec:add(pf.pus, tvb(6, 1))
  if bits(tvb(6, 1):uint(), 4, 4) ~= 2 then
    malformed(sec, "PUS version is not 2 (PUS-C)")
  end
  if is_tc then sec:add(pf.ack, tvb(6, 1)) else sec:add(pf.time_ref, tvb(6, 1)) end
  sec:add(pf.service, tvb(7, 1))
  sec:add(pf.subtype, tvb(8, 1))
  local service, subtype = tvb(7, 1):uint(), tvb(8, 1):uint()
  if is_tc then
    sec:add(pf.confirmed, tvb(9, 2))
    sec:add(pf.source_id, tvb(9, 2))
  else
    sec:add(pf.msg_counter, tvb(9, 2))
    sec:add(pf.dest_id, tvb(11, 2))
    local coarse, fine = tvb(13, 4):uint(), tvb(17, 2):uint()
    sec:add(pf.coarse, tvb(13, 4))
    sec:add(pf.fine, tvb(17, 2))
    sec:add(pf.time, tvb(13, 6), coarse + fine / 65536)
    sec:add(pf.utc, tvb(13, 6), NSTime.new(msr.prefs.epoch + coarse,
                                           math.floor(fine * 1000000000 / 65536)))
  end
  local stop = len - 2
  local crc_item = sub:add(pf.crc, tvb(stop, 2))
  local want = crc16(tvb, 0, stop)
  if want ~= tvb(stop, 2):uint() then
    crc_item:add_proto_expert_info(ef.checksum, string.format("packet error control 0x%04X, "
      .. "computed 0x%04X", tvb(stop, 2):uint(), want))
  else
    crc_item:append_text(" [correct]")
  end
  local kind = (is_tc and "TC" or "TM") .. "[" .. service .. "," .. subtype .. "]"
  sub:set_text(string.format("%s %s %s, APID 0x%03X, seq %d", label or "Space packet",
                             owner or "?", kind, apid, bits(tvb(2, 2):uint(), 0, 14)))
  if NODES[apid] then
    if is_tc then node_tc(tvb, sub, head, stop, apid, service, subtype, rec)
    else node_tm(tvb, sub, head, stop, apid, service, subtype, rec) end
  elseif DEVICES[apid] then
    device_packet(tvb, sub, head, stop, apid, is_tc, service, subtype, rec)
  elseif apid == TIMING_APID then
    timing_packet(tvb, sub, head, stop, is_tc, service, subtype, rec)
  elseif apid == TEST_BOARD_APID then
    test_board_packet(tvb, sub, head, stop, is_tc, service, subtype, rec)
  else
    sub:add_proto_expert_info(ef.unknown, string.format("APID 0x%03X belongs to no node, board "
                                                        .. "or link", apid))
    rec:say(string.format("0x%03X %s unknown", apid, kind))
  end
end

-- Per-file state for packets that span records (TM frames per virtual channel, TC segments per
-- MAP), filled on the first pass in record order and read back when a record is shown again.
local state = {}
local function reset_state()
  state = {tm = {}, tc = {}, frames = {}, gcm_clear = {}, gcm_frames = {}}
end
reset_state()
function msr.init() reset_state() end

local function record_start(tvb, pinfo, tree, proto, kind)
  pinfo.cols.protocol = "MSR"
  local root = tree:add(proto, tvb())
  root:add(pf.kind, kind):set_generated()
  if tvb:len() < 4 or tvb(0, 4):uint() ~= 0x1ACFFC1D then
    malformed(root, "the record does not start with the attached sync marker 1ACFFC1D")
    return root, nil
  end
  root:add(pf.asm, tvb(0, 4))
  if tvb:len() == 4 then
    malformed(root, "nothing after the attached sync marker")
    return root, nil
  end
  return root, tvb(4):tvb()
end

local function finish(pinfo, rec, head)
  local text = table.concat(rec.texts, "; ")
  if head then text = head .. (text ~= "" and ": " .. text or "") end
  pinfo.cols.info = text
end

local function guarded(body)
  return function(tvb, pinfo, tree)
    local ok, problem = pcall(body, tvb, pinfo, tree)
    if not ok then
      local root = tree:add(msr, tvb())
      malformed(root, "not decoded: " .. tostring(problem))
    end
    return tvb:len()
  end
end

-- Linktype 147: ASM + one space packet (a board link, a timing link).
local function dissect_link_record(tvb, pinfo, tree)
  local rec = new_record()
  local root, body = record_start(tvb, pinfo, tree, msr, "packet")
  if body then dissect_packet(body, root, rec) end
  finish(pinfo, rec, nil)
end

-- The packets of a data field: whole ones here, the rest kept for the next record.
local function packets_in(tvb, tree, rec, offset, stop, label)
  while offset < stop do
    if stop - offset < 6 then
      malformed(tree, string.format("%d octets left: not a packet header", stop - offset))
      return
    end
    local total = tvb(offset + 4, 2):uint() + 7
    if offset + total > stop then
      malformed(tree, string.format("a packet of %d octets runs past the frame (%d left)", total,
                                    stop - offset))
      return
    end
    dissect_packet(tvb(offset, total):tvb(), tree, rec, label)
    offset = offset + total
  end
end

-- True when the frame data of a GCM frame are in clear (authentication only): they start with a
-- PUS-C telecommand header (version 0, type TC, secondary header, PUS version 2), and an
-- unsegmented unit is filled exactly by the packets' declared lengths. Ciphertext is random.
local function gcm_in_clear(frame, at, stop, whole)
  local pos = at
  repeat
    if stop - pos < 7 or bits(frame(pos, 1):uint(), 3, 5) ~= 3
        or bits(frame(pos + 6, 1):uint(), 4, 4) ~= 2 then
      return false
    end
    pos = pos + frame(pos + 4, 2):uint() + 7
  until not whole or pos >= stop
  return not whole or pos == stop
end

-- Linktype 148: ASM + TC transfer frame (SDLS authenticated).
local DIRECTIVES = {[0x00] = "Unlock", [0x82] = "Set V(R)", [0xE5] = "Resync"}
local function dissect_tc_record(tvb, pinfo, tree)
  local rec = new_record()
  local root, frame = record_start(tvb, pinfo, tree, msr_tc, "tc_frame")
  if not frame then finish(pinfo, rec, "TC frame") return end
  local len = frame:len()
  local sub = root:add(msr, frame(), "TC transfer frame")
  if len < 7 then
    malformed(sub, string.format("%d octets: shorter than a TC frame", len))
    finish(pinfo, rec, "TC frame")
    return
  end
  local w0, w1 = frame(0, 2):uint(), frame(2, 2):uint()
  local bypass, ctrl = bits(w0, 13, 1), bits(w0, 12, 1)
  local scid, vcid, flen = bits(w0, 0, 10), bits(w1, 10, 6), bits(w1, 0, 10) + 1
  local ns = frame(4, 1):uint()
  local header = sub:add(frame(0, 5), "Primary header")
  header:add(pf.tc_version, frame(0, 2))
  header:add(pf.tc_bypass, frame(0, 2))
  header:add(pf.tc_ctrl, frame(0, 2))
  header:add(pf.tc_scid, frame(0, 2))
  header:add(pf.tc_vcid, frame(2, 2))
  header:add(pf.tc_length, frame(2, 2))
  header:add(pf.tc_ns, frame(4, 1))
  local type_name = (bypass == 1 and "B" or "A") .. (ctrl == 1 and "C" or "D")
  local head = string.format("TC %s scid=%d vc=%d N(S)=%d", type_name, scid, vcid, ns)
  sub:set_text("TC transfer frame " .. head:sub(4))
  if bits(w0, 14, 2) ~= 0 or flen ~= len then
    malformed(sub, string.format("frame version %d, frame length field %d, record %d octets",
                                 bits(w0, 14, 2), flen, len))
    finish(pinfo, rec, head)
    return
  end
  local stop = len - 2
  check_fecf(sub, frame, stop)
  local at, flags, map = 5, 3, 0
  if ctrl == 0 then
    local seg = sub:add(frame(5, 1), "Segment header")
    seg:add(pf.seg_flags, frame(5, 1))
    seg:add(pf.map, frame(5, 1))
    flags, map = bits(frame(5, 1):uint(), 6, 2), bits(frame(5, 1):uint(), 0, 6)
    at = 6
  end
  local payload_stop = stop
  -- AES-256-GCM (SPI 2 | IV 12 ... tag 16) or HMAC (SPI 2 | sn 4 ... MAC 16): an HMAC sequence
  -- number is never 0, and a GCM IV's first four octets are 0 below 2^64 frames
  local gcm = stop - at >= 30 + ctrl and frame(at + 2, 4):uint() == 0
  if gcm then
    local security = sub:add(frame(at, 14), "Security header (AES-256-GCM)")
    security:add(pf.spi, frame(at, 2))
    security:add(pf.iv, frame(at + 2, 12))
    head = head .. string.format(" spi=%d iv=%s", frame(at, 2):uint(),
                                 frame(at + 2, 12):bytes():tohex())
    sub:add(pf.tag, frame(stop - 16, 16))
    at, payload_stop = at + 14, stop - 16
  elseif stop - at >= 22 + ctrl then
    local security = sub:add(frame(at, 6), "Security header")
    security:add(pf.spi, frame(at, 2))
    security:add(pf.sn, frame(at + 2, 4))
    head = head .. string.format(" spi=%d sn=%d", frame(at, 2):uint(), frame(at + 2, 4):uint())
    sub:add(pf.mac, frame(stop - 16, 16))
    at, payload_stop = at + 6, stop - 16
  else
    sub:add(frame(at, stop - at), "No security header (too short for one)")
  end
  if ctrl == 1 then
    local code = frame(at, 1):uint()
    local directive = DIRECTIVES[code] or string.format("control command 0x%02X", code)
    local item = sub:add(pf.directive, frame(at, payload_stop - at), directive)
    if code == 0x82 and payload_stop - at == 3 then
      item:add(pf.vr, frame(at + 2, 1))
      directive = directive .. "=" .. frame(at + 2, 1):uint()
    elseif code == 0xE5 and payload_stop - at == 17 then
      item:add(pf.nonce, frame(at + 1, 16))
    elseif not (code == 0x00 and payload_stop - at == 1) then
      malformed(item, "not a control command of COP-1 or SDLS")
    end
    name_item(sub, "cop1." .. directive:gsub("[^%w]", ""):lower(), nil, nil)
    rec:say(directive)
    finish(pinfo, rec, head)
    return
  end
  local key = vcid * 64 + map
  if gcm then  -- clear (GCM authentication only) or encrypted: a first part tells, once
    local clear = state.gcm_frames[pinfo.number]
    if clear == nil then
      if flags == 3 or flags == 1 then
        clear = gcm_in_clear(frame, at, payload_stop, flags == 3)
        state.gcm_clear[key] = clear
      else
        clear = state.gcm_clear[key] or false
      end
      state.gcm_frames[pinfo.number] = clear
    end
    if not clear then
      sub:add(frame(at, payload_stop - at), "Frame data, encrypted (AES-256-GCM)")
      rec:say("encrypted")
      finish(pinfo, rec, head .. " encrypted")
      return
    end
  end
  if flags == 3 then
    packets_in(frame, sub, rec, at, payload_stop, nil)
  else
    local done = state.frames[pinfo.number]
    if not pinfo.visited then
      local part = payload_stop > at and frame(at, payload_stop - at):bytes() or ByteArray.new()
      local buffer = state.tc[key]
      if flags == 1 then
        state.tc[key] = part
      elseif buffer then
        buffer:append(part)
        if flags == 2 then
          state.tc[key] = nil
          done = {packet = buffer}
        end
      else
        done = {orphan = true}
      end
      state.frames[pinfo.number] = done or {}
    end
    sub:add(frame(at, payload_stop - at), string.format("Segment (%s) of a TC packet, MAP %d",
      ({[0]="continuing", [1]="first", [2]="last"})[flags], map))
    if done and done.packet then
      dissect_packet(done.packet:tvb("Reassembled TC packet"), sub, rec, "Reassembled packet")
    elseif done and done.orphan then
      sub:add_proto_expert_info(ef.sequence, "a segment with no first part before it")
      rec:say("segment (orphan)")
    else
      rec:say("segment")
    end
  end
  finish(pinfo, rec, head)
end

-- Linktype 149: ASM + TM transfer frame, packets rebuilt across frames per virtual channel.
local function dissect_tm_record(tvb, pinfo, tree)
  local rec = new_record()
  local root, frame = record_start(tvb, pinfo, tree, msr_tm, "tm_frame")
  if not frame then finish(pinfo, rec, "TM frame") return end
  local len = frame:len()
  local sub = root:add(msr, frame(), "TM transfer frame")
  if len < 32 or len > 2048 then
    malformed(sub, string.format("%d octets: not a TM frame length (32..2048)", len))
    finish(pinfo, rec, "TM frame")
    return
  end
  if not state.tm_length then state.tm_length = len end
  if len ~= state.tm_length then
    malformed(sub, string.format("a TM frame of %d octets; this capture's frames are %d", len,
                                 state.tm_length))
    finish(pinfo, rec, "TM frame")
    return
  end
  local w0 = frame(0, 2):uint()
  local scid, vcid, ocf = bits(w0, 4, 10), bits(w0, 1, 3), bits(w0, 0, 1)
  local mc, vcc = frame(2, 1):uint(), frame(3, 1):uint()
  local status = frame(4, 2):uint()
  local fhp = bits(status, 0, 11)
  local header = sub:add(frame(0, 6), "Primary header")
  header:add(pf.tm_version, frame(0, 2))
  header:add(pf.tm_scid, frame(0, 2))
  header:add(pf.tm_vcid, frame(0, 2))
  header:add(pf.tm_ocf_flag, frame(0, 2))
  header:add(pf.tm_mc, frame(2, 1))
  header:add(pf.tm_vc, frame(3, 1))
  local st = header:add(pf.tm_status, frame(4, 2))
  local fhp_item = st:add(pf.tm_fhp, frame(4, 2))
  if fhp == 0x7FE then fhp_item:append_text(" (idle data only)")
  elseif fhp == 0x7FF then fhp_item:append_text(" (no packet starts here)") end
  local head = string.format("TM scid=%d vc=%d mc=%d vcc=%d", scid, vcid, mc, vcc)
  sub:set_text("TM transfer frame " .. head:sub(4))
  if bits(w0, 14, 2) ~= 0 or bits(status, 11, 5) ~= 3 then
    malformed(sub, string.format("frame version %d, data field status 0x%04X: not a TM frame "
                                 .. "of this mission", bits(w0, 14, 2), status))
    finish(pinfo, rec, head)
    return
  end
  local stop = len - 2
  check_fecf(sub, frame, stop)
  local data_stop = stop
  if ocf == 1 then
    data_stop = stop - 4
    local word = frame(data_stop, 4):uint()
    local clcw = sub:add(pf.clcw, frame(data_stop, 4))
    for _, field in ipairs({pf.clcw_type, pf.clcw_version, pf.clcw_status, pf.clcw_cop,
                            pf.clcw_vcid, pf.clcw_no_rf, pf.clcw_no_lock, pf.clcw_lockout,
                            pf.clcw_wait, pf.clcw_retransmit, pf.clcw_farm_b, pf.clcw_vr}) do
      clcw:add(field, frame(data_stop, 4))
    end
    local flags = {}
    if bits(word, 13, 1) == 1 then flags[#flags + 1] = "lockout" end
    if bits(word, 12, 1) == 1 then flags[#flags + 1] = "wait" end
    if bits(word, 11, 1) == 1 then flags[#flags + 1] = "retransmit" end
    head = head .. string.format(" CLCW vc=%d V(R)=%d", bits(word, 18, 6), bits(word, 0, 8))
    if #flags > 0 then head = head .. " " .. table.concat(flags, ",") end
  end
  local data_start = 6
  local data_len = data_stop - data_start
  -- first pass: what this frame completes, what it starts, what it leaves for the next one
  local plan = state.frames[pinfo.number]
  if not pinfo.visited or not plan then
    plan = {}
    local vc = state.tm[vcid]
    if vc and vc.vcc ~= nil and (vc.vcc + 1) % 256 ~= vcc then
      plan.gap = (vcc - vc.vcc - 1) % 256
      vc.buffer = nil
    end
    vc = vc or {}
    vc.vcc = vcc
    state.tm[vcid] = vc
    if fhp == 0x7FE then
      plan.idle = true
    else
      local lead = fhp == 0x7FF and data_len or math.min(fhp, data_len)
      if vc.buffer then
        local buffer = vc.buffer
        if lead > 0 then buffer:append(frame(data_start, lead):bytes()) end
        local total = buffer:len() >= 6 and buffer:get_index(4) * 256 + buffer:get_index(5) + 7
        if total and buffer:len() >= total then
          plan.completed = buffer:subset(0, total)
          if buffer:len() > total then plan.overrun = buffer:len() - total end
          vc.buffer = nil
        elseif fhp ~= 0x7FF then
          plan.short = buffer:len()
          vc.buffer = nil
        end
      elseif lead > 0 then
        plan.orphan = lead
      end
      if fhp ~= 0x7FF then
        local offset = data_start + fhp
        local stop_at = data_stop
        plan.whole = {}
        while offset < stop_at do
          local left = stop_at - offset
          if left < 6 then
            vc.buffer = frame(offset, left):bytes()
            plan.tail = {offset, left}
            break
          end
          local total = frame(offset + 4, 2):uint() + 7
          if offset + total > stop_at then
            vc.buffer = frame(offset, left):bytes()
            plan.tail = {offset, left}
            break
          end
          plan.whole[#plan.whole + 1] = {offset, total}
          offset = offset + total
        end
      end
    end
    state.frames[pinfo.number] = plan
  end
  if plan.gap then
    sub:add_proto_expert_info(ef.sequence, string.format("%d frame(s) lost on vc %d: the packet "
                                                         .. "in progress is dropped", plan.gap,
                                                         vcid))
  end
  if plan.idle then
    sub:add(pf.idle, frame(data_start, data_len))
    name_item(sub, "idle", nil, nil)
    rec:say("idle frame")
    finish(pinfo, rec, head)
    return
  end
  if fhp ~= 0x7FF and fhp > data_len then
    malformed(sub, string.format("first header pointer %d is beyond the data field (%d octets)",
                                 fhp, data_len))
  end
  if plan.completed then
    local lead = fhp == 0x7FF and data_len or math.min(fhp, data_len)
    sub:add(frame(data_start, lead), string.format("End of a packet begun in an earlier frame "
                                                   .. "(%d octets)", lead))
    dissect_packet(plan.completed:tvb("Reassembled TM packet"), sub, rec,
                   "Reassembled packet")
  elseif fhp == 0x7FF then
    sub:add(frame(data_start, data_len), "Middle of a packet that spans frames")
    rec:say("packet continues")
  end
  if plan.overrun then
    malformed(sub, string.format("the packet continued past its length field by %d octets",
                                 plan.overrun))
  end
  if plan.short then
    malformed(sub, string.format("a packet in progress (%d octets) ends before its length field "
                                 .. "says", plan.short))
  end
  if plan.orphan and not plan.gap then
    sub:add_proto_expert_info(ef.sequence, string.format("%d octets of a packet whose start is "
                                                         .. "not in the capture", plan.orphan))
  end
  for _, span in ipairs(plan.whole or {}) do
    dissect_packet(frame(span[1], span[2]):tvb(), sub, rec, nil)
  end
  if plan.tail then
    sub:add(frame(plan.tail[1], plan.tail[2]), string.format("Start of a packet that continues "
                                                             .. "in the next frame (%d octets)",
                                                             plan.tail[2]))
  end
  finish(pinfo, rec, head)
end

msr.dissector = guarded(dissect_link_record)
msr_tc.dissector = guarded(dissect_tc_record)
msr_tm.dissector = guarded(dissect_tm_record)

local encaps = wtap_encaps or wtap
local by_encap = DissectorTable.get("wtap_encap")
by_encap:add(encaps.USER0, msr)
by_encap:add(encaps.USER1, msr_tc)
by_encap:add(encaps.USER2, msr_tm)
"""
