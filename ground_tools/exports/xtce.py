"""The flight dictionary as an XTCE 1.2 document (OMG XTCE, namespace 20180204).

Document layout: a root SpaceSystem ``MSR`` holding one SpaceSystem per node (``lander``,
``mav``, ``orbiter``). Each node's SpaceSystem is self-contained (it declares its own header
parameters and types and references nothing outside itself), so it can be cut out as a document
of its own (:func:`extract_space_system`) for tools that read only a root SpaceSystem, as
space_packet_parser does. Yamcs loads the whole document as it is (decision 0045: its
commands are ``/MSR/<node>/<command>``, its parameters ``/MSR/<node>/<parameter>``).

TelemetryMetaData of a node:

* ``PUS_TM_Packet`` (abstract, :data:`ROOT_CONTAINER`): the node's one root container, the CCSDS
  primary header (CCSDS 133.0-B, 6 octets) and the PUS-C TM secondary header (ECSS-E-ST-70-41C
  7.4.3.1, 13 octets), field by field with their exact bit sizes (:mod:`hal.protocol.spacepacket`,
  :mod:`hal.protocol.pus`), but the time: ``PUS_TM_TIME``, the CUC 4+2 field as one 48-bit count
  of 2^-16 s in an AbsoluteTimeParameterType whose epoch is the bench's mission epoch. Every
  other container of the node inherits from it.
* ``HK_Report`` (abstract): TM[3,25] of the node's APID, adding the SID; then one container per
  housekeeping packet, ``HK_<packet>``, restricted on APID, service type 3, subtype 25 and its
  SID, holding the packet's fields and the packet error control.
* ``EVENT_Report``: TM[5,x] of the node's APID (the subtype is the severity, 1 info .. 4 high):
  event id (enumerated: id -> event name), detail length, detail (UTF-8).
* ``VERIFICATION_<stage>``: TM[1,1..8], the PUS-1 verification reports (request id field by
  field, ``VERIFICATION_REQUEST_APID`` and ``_SEQ_COUNT`` among them; step; failure code
  enumerated by class; reason).
* ``TEST_Alive``: TM[17,2], the answer to ``core.ping``.
* ``TM_<report>``: each other telemetry report of a fixed layout the dictionary declares
  (``time.report``, TM[9,2]; the lander's ``sta.custody``, TM[160,128]), restricted on APID,
  service type and subtype, holding its fields.
* ``PARAMETER_Report``: TM[20,2], a count then that many entries (parameter id, enumerated by
  name, and value float64) as one binary parameter whose size follows from the count (80 bits an
  entry): XTCE readers without repeated entries still find the count and skip the rest.

* ``SCHEDULE_Detail``: TM[11,10], the time-based schedule's activities: a count, then the
  activities (each a CUC 4+2 release time and a whole telecommand, of any length: the TC[11,4]
  layout, :func:`fsw.services.pus_11_scheduling.build_insert`) as one binary parameter sized
  from the packet's data length.

CommandMetaData of a node: the abstract MetaCommand ``PUS_TC`` whose CommandContainer
``PUS_TC_Header`` is the primary header and the PUS-C TC secondary header (7.4.4.1, 5 octets),
and one MetaCommand per command deriving from it, assigning APID, service type and subtype, with
only its own arguments (``ValidRangeSet`` from the declared ranges). The header's other fields
are FixedValueEntry: constants (acknowledgement flags all four, decision 0004), and the sequence
count and packet data length, zeros that the sender fills; the sender appends the packet error
control too (Yamcs: its PUS command postprocessor), so no command container holds it. The
confirmation mark, bit 15 of the source id (decision 0024), is the argument ``confirmed``
(:data:`CONFIRMED_ARGUMENT`): assigned by a command that always or never needs it, the
operator's for one that needs it only for some arguments or carries other commands. A variable
command (its data parsed by its component) has one binary argument ``data`` of the value's own
size. ``PUS_TC``'s VerifierSet verifies every command by its PUS-1 reports (acceptance, start,
completion; any failure report fails it, its reason the result), matching the request id on the
APID and sequence count Yamcs sent (names under ``/yamcs/``: the only references outside the
node's SpaceSystem, which other readers leave unresolved).

Choices and their reasons:

* Names: XTCE names may not hold ``.``, ``/``, ``:``, ``[``, ``]`` or spaces, so dictionary names
  are mapped (``core.ping`` -> ``core_ping``; the field ``mode`` of ``core.status`` ->
  ``core_status_mode``) and the original is kept as an ``Alias`` in name space ``msr``.
* Arrays (a field with ``count`` > 1) are expanded into one parameter or argument per element,
  ``<name>_<i>``, sharing one type: every XTCE reader decodes them (space_packet_parser has no
  ArrayParameterType).
* Hazardous commands carry ``DefaultSignificance consequenceLevel="critical"``, XTCE's own mark
  for a command whose wrong use can harm the mission; the onboard gate (arm, then fire within
  the window, inhibits removed) has no XTCE construct and is stated in ``reasonForWarning``, the
  LongDescription and AncillaryData (``hazard_window``, ``inhibit``). Allowed modes are
  AncillaryData ``mode`` (none: every mode).
* The packet error control (CRC-16/CCITT-FALSE over the whole packet before it) of a telemetry
  packet is a 16-bit parameter whose encoding carries XTCE's ``ErrorDetectCorrect/CRC``
  (polynomial 0x1021, initial remainder 0xFFFF, no reflection, no final XOR); Yamcs skips that
  element and checks the CRC in its link (PUS packet preprocessor, CRC-16-CCIIT).
* States by name and limits as alarms (decision 0035): an enumerated field is an
  EnumeratedParameterType (EnumeratedArgumentType for an argument), its unnamed codes inside its
  declared range listed by number; a limited numeric point has ``DefaultAlarm`` static ranges
  (WarningRange: the yellow range, CriticalRange: the red one) and one ``ContextAlarm`` per
  mode with a set of its own, matched on ``core_status_mode`` (:data:`MODE_PARAMETER`); an
  enumerated point's levels are an EnumerationAlarm list, and so are a boolean's (a boolean with
  limits is enumerated, ``false``/``true``: Yamcs reads no alarm of a BooleanParameterType). A
  housekeeping parameter type has no ValidRange: its declared range is no refusal.
* Booleans are one octet (construct ``Flag``); floats IEEE 754 single precision; everything
  big-endian (``byteOrder="mostSignificantByteFirst"`` throughout).
* Not in the XTCE: the onboard parameters as items of their own (service 20: their ids and
  names are in ``PARAMETER_ENTRIES``'s description; ranges and defaults in the JSON or Markdown
  exports), and the entries of a repeated layout (TM[11,10], TM[20,2]) one by one: they are one
  binary parameter each.

The document is written with :mod:`xml.etree.ElementTree` (standard library) in a fixed order:
the same dictionary gives the same bytes. :func:`validate_xtce` checks a document against the
XTCE 1.2 schema shipped by the ``space_packet_parser`` package, with lxml.
"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from fsw.dictionary import MODES, SEVERITIES, Command, NodeDictionary
from fsw.dictionary.core import PARAMETER_ENTRY
from fsw.dictionary.loads import INSERT, SEQUENCE_LOAD
from fsw.dictionary.model import CONFIRMED_SOURCE, MAX_DETAIL
from fsw.dictionary.verification import FAILURE_CODES, MAX_REASON, REPORT_NAMES
from ground_tools.exports._common import (
    REPORT_FIELDS,
    ExportError,
    bound,
    dictionaries,
    field_bits,
    report_fields,
    xtce_name,
)
from hal.bench import DEFAULT_EPOCH
from hal.protocol import pus, spacepacket
from hal.protocol.devices.icd import LEVELS, Field, Limits, LimitSet

__all__ = [
    "ALIAS_NAMESPACE",
    "CONFIRMED_ARGUMENT",
    "MODE_PARAMETER",
    "ROOT_CONTAINER",
    "XTCE_NS",
    "enumeration_rows",
    "export_xtce",
    "extract_space_system",
    "render_xtce",
    "schema_path",
    "validate_xtce",
]

XTCE_NS: Final = "http://www.omg.org/spec/XTCE/20180204"
"""The XTCE 1.2 namespace."""
ALIAS_NAMESPACE: Final = "msr"
"""The Alias name space holding each item's name in the flight dictionary."""
ROOT_NAME: Final = "MSR"

_BIG_ENDIAN: Final = "mostSignificantByteFirst"
_XML_XSD_URL: Final = "http://www.w3.org/2001/03/xml.xsd"
# The XTCE schema imports the W3C schema of the xml: attributes from the network; validation
# must work offline, so this copy of the four declarations it needs is served instead.
_XML_XSD: Final = b"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           targetNamespace="http://www.w3.org/XML/1998/namespace">
  <xs:attribute name="lang" type="xs:string"/>
  <xs:attribute name="space">
    <xs:simpleType>
      <xs:restriction base="xs:NCName">
        <xs:enumeration value="default"/>
        <xs:enumeration value="preserve"/>
      </xs:restriction>
    </xs:simpleType>
  </xs:attribute>
  <xs:attribute name="base" type="xs:anyURI"/>
  <xs:attribute name="id" type="xs:ID"/>
</xs:schema>
"""


@dataclass(frozen=True)
class _HeaderField:
    """One field of a packet header: its XTCE name, its name in the construct layout, bits,
    the fixed value it always has (None: it varies) and its meaning."""

    name: str
    layout: str
    bits: int
    fixed: int | None
    meaning: str


_PRIMARY: Final = (
    _HeaderField("CCSDS_VERSION", "primary.version", 3, 0, "packet version number, 0"),
    _HeaderField("CCSDS_TYPE", "primary.type", 1, None, "packet type: 0 telemetry, 1 telecommand"),
    _HeaderField("CCSDS_SEC_HDR_FLAG", "primary.sec_header_flag", 1, 1,
                 "secondary header flag: 1, a PUS secondary header follows"),
    _HeaderField("CCSDS_APID", "primary.apid", 11, None, "application process id"),
    _HeaderField("CCSDS_SEQ_FLAGS", "primary.seq_flags", 2, None,
                 "sequence flags: 3 unsegmented, 1 first, 0 continuation, 2 last"),
    _HeaderField("CCSDS_SEQ_COUNT", "primary.seq_count", 14, None,
                 "packet sequence count, per APID, modulo 16384"),
    _HeaderField("CCSDS_DATA_LENGTH", "primary.data_length", 16, None,
                 "octets in the packet data field minus one"),
)  # fmt: skip
_TM_SECONDARY: Final = (
    _HeaderField("PUS_TM_VERSION", "secondary.pus.version", 4, pus.PUS_VERSION,
                 "TM packet PUS version number, 2 (PUS-C)"),
    _HeaderField("PUS_TM_TIME_REF_STATUS", "secondary.pus.time_ref_status", 4, None,
                 "spacecraft time reference status"),
    _HeaderField("PUS_TM_SERVICE", "secondary.service", 8, None, "service type id"),
    _HeaderField("PUS_TM_SUBTYPE", "secondary.subtype", 8, None, "message subtype id"),
    _HeaderField("PUS_TM_MSG_COUNTER", "secondary.msg_counter", 16, None,
                 "message type counter, per destination and type, wraps at 65536"),
    _HeaderField("PUS_TM_DEST_ID", "secondary.dest_id", 16, None, "destination id"),
    _HeaderField("PUS_TM_TIME_COARSE", "secondary.time.coarse", 32, None,
                 "on-board time, CUC 4+2: whole seconds since the mission epoch"),
    _HeaderField("PUS_TM_TIME_FINE", "secondary.time.fine", 16, None,
                 "on-board time, CUC 4+2: fraction of a second in units of 2^-16 s"),
)  # fmt: skip
_TC_SECONDARY: Final = (
    _HeaderField("PUS_TC_VERSION", "secondary.pus.version", 4, pus.PUS_VERSION,
                 "TC packet PUS version number, 2 (PUS-C)"),
    _HeaderField("PUS_TC_ACK_FLAGS", "secondary.pus.ack_flags", 4, None,
                 "acknowledgement flags: 8 completion, 4 progress, 2 start, 1 acceptance"),
    _HeaderField("PUS_TC_SERVICE", "secondary.service", 8, None, "service type id"),
    _HeaderField("PUS_TC_SUBTYPE", "secondary.subtype", 8, None, "message subtype id"),
    _HeaderField("PUS_TC_SOURCE_ID", "secondary.source_id", 16, None,
                 "id of the commanding source"),
)  # fmt: skip
_REQUEST_ID: Final = (
    _HeaderField("VERIFICATION_REQUEST_VERSION", "request.version", 3, 0,
                 "packet version number of the request, 0"),
    _HeaderField("VERIFICATION_REQUEST_TYPE", "request.type", 1, 1,
                 "packet type of the request, 1: a telecommand"),
    _HeaderField("VERIFICATION_REQUEST_SEC_HDR_FLAG", "request.sec_header_flag", 1, None,
                 "secondary header flag of the request"),
    _HeaderField("VERIFICATION_REQUEST_APID", "request.apid", 11, None, "APID of the request"),
    _HeaderField("VERIFICATION_REQUEST_SEQ_FLAGS", "request.seq_flags", 2, None,
                 "sequence flags of the request"),
    _HeaderField("VERIFICATION_REQUEST_SEQ_COUNT", "request.seq_count", 14, None,
                 "packet sequence count of the request"),
)  # fmt: skip
"""The request id of a verification report (ECSS-E-ST-70-41C 6.1.5): the telecommand's packet id
and sequence control, the way :data:`hal.protocol.pus.RequestIdLayout` declares it."""
_YAMCS_ARGUMENTS: Final = "/yamcs/cmd/arg/"
_YAMCS_SEQ_COUNT: Final = "/yamcs/cmdHist/ccsds-seqcount"
_VERIFIERS: Final = (
    ("AcceptedVerifier", "Acceptance", (1,), "PT300S"),
    ("ExecutionVerifier", "Start", (3,), "PT300S"),
    ("CompleteVerifier", "Completion", (7,), "PT3600S"),
    ("FailedVerifier", "Failure", (2, 4, 6, 8), "PT3600S"),
)
"""The PUS-1 stages a command is verified by (XTCE element, stage, TM[1,x] subtypes, time to
stop checking after the command's release); progress reports (TM[1,5]) come only from commands
of steps, and a failed progress (TM[1,6]) fails the command."""
_TC_FIXED: Final = {
    "CCSDS_TYPE": (spacepacket.TYPE_TC, "packet type: 1, a telecommand"),
    "CCSDS_SEQ_FLAGS": (spacepacket.SEQ_UNSEGMENTED, "sequence flags: 3, unsegmented"),
    "CCSDS_SEQ_COUNT": (0, "packet sequence count: filled by the sender (Yamcs: its PUS command "
                           "postprocessor), per APID"),
    "CCSDS_DATA_LENGTH": (0, "packet data length: filled by the sender (Yamcs: its PUS command "
                             "postprocessor), counting the packet error control it appends"),
    "PUS_TC_ACK_FLAGS": (pus.ACK_ALL, "acknowledgement flags: all four verification reports"),
}  # fmt: skip
"""Header fields of a telecommand that are no operator's argument: constants of the bench
(decision 0004) or filled by the sender after encoding (decision 0045)."""
_TC_ASSIGNED: Final = ("CCSDS_APID", "PUS_TC_SERVICE", "PUS_TC_SUBTYPE")
"""Header fields each command assigns (ArgumentAssignment of its base MetaCommand)."""
CONFIRMED_ARGUMENT: Final = "confirmed"
"""The argument of the confirmation mark (bit 15 of the PUS source id, decision 0024): assigned
``yes`` by a command that always needs the ground's confirmation, ``no`` by one that never does,
given by the operator (default ``no``) for one that needs it only for some arguments or carries
other commands (``modes.set``, ``schedule.insert``, ``seq.load``)."""
_CONFIRMED_STATES: Final = ((0, "no"), (1, "yes"))
_SOURCE_BITS: Final = 15
"""The source id below the confirmation mark: 0, the ground."""
ROOT_CONTAINER: Final = "PUS_TM_Packet"
"""Each node's root container: the primary and TM secondary header; every packet container of
the node inherits from it, restricted on APID, service type and subtype."""
_TIME: Final = "PUS_TM_TIME"
_TIME_FIELDS: Final = ("PUS_TM_TIME_COARSE", "PUS_TM_TIME_FINE")
_TIME_BITS: Final = 48
_TIME_SCALE: Final = 2.0**-16
_TIME_MEANING: Final = (
    "on-board time of the packet, CUC 4+2 (implicit P-field 0x2E, decision 0004): whole seconds "
    "(32 bits) and fraction (16 bits, 2^-16 s) since the mission epoch, as one 48-bit count"
)
_CONFIRMED_MEANING: Final = (
    "the ground's hazardous-command confirmation (decision 0024): bit 15 of the PUS source id, "
    "yes only for a command the operator confirmed and that needs it"
)
_CARRIERS: Final = (INSERT, SEQUENCE_LOAD)
"""Commands whose data carries other commands: the confirmation of their load is the
operator's."""
_PEC: Final = "PUS_PEC"
_PEC_MEANING: Final = (
    "packet error control: CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, "
    "no reflection, no final XOR) over every octet of the packet before it"
)


def _checked_header(fields: tuple[_HeaderField, ...], layout: Any, what: str) -> None:
    """The tables above must be the construct declaration of :mod:`hal.protocol.pus` exactly."""
    names = tuple(f.layout for f in fields)
    bits = sum(f.bits for f in fields)
    if names != tuple(layout.fields) or bits != layout.size * 8:
        raise ExportError(
            f"the {what} header declared in hal.protocol.pus ({layout.size} octets: "
            f"{', '.join(layout.fields)}) no longer matches the XTCE export's table"
        )


def export_xtce(nodes: Iterable[str] | None = None, epoch: datetime | None = None) -> bytes:
    """The flight dictionary of ``nodes`` (every node when None) as an XTCE 1.2 document.

    Args:
        nodes: node names; None: every node.
        epoch: the bench's mission epoch (UTC), origin of the packet time ``PUS_TM_TIME``
            (default :data:`hal.bench.DEFAULT_EPOCH`).

    Returns:
        UTF-8 XML with its declaration, indented, ending with a newline.

    Raises:
        ExportError: an unknown node name.
    """
    return render_xtce(dictionaries(nodes), epoch)


def render_xtce(dicts: Sequence[NodeDictionary], epoch: datetime | None = None) -> bytes:
    """These node dictionaries as an XTCE 1.2 document (see :func:`export_xtce`).

    Raises:
        ExportError: two items of a node map to the same XTCE name, the PUS header declaration
            no longer matches this module, or an epoch without a time zone.
    """
    _checked_header(_PRIMARY + _TM_SECONDARY, pus.TM_LAYOUT, "PUS-C TM")
    _checked_header(_PRIMARY + _TC_SECONDARY, pus.TC_LAYOUT, "PUS-C TC")
    _checked_header(_REQUEST_ID, pus.REQUEST_ID_LAYOUT, "request id")
    if CONFIRMED_SOURCE != 1 << _SOURCE_BITS:
        raise ExportError(
            f"the confirmation mark 0x{CONFIRMED_SOURCE:04X} is no longer bit 15 of the PUS "
            "source id, as the XTCE export's TC header has it"
        )
    root = ET.Element(
        "SpaceSystem",
        {
            "xmlns": XTCE_NS,
            "name": ROOT_NAME,
            "shortDescription": "Mars Sample Return flight dictionary",
        },
    )
    _sub(
        root,
        "LongDescription",
        text=(
            "Telecommands and telemetry of the Mars Sample Return nodes, generated from the "
            "flight dictionary (fsw.dictionary); one SpaceSystem per node. Packets are CCSDS "
            "space packets with PUS-C secondary headers and packet error control; everything "
            "is big-endian."
        ),
    )
    _sub(root, "Header", validationStatus="Working", version="1")
    origin = _epoch_text(DEFAULT_EPOCH if epoch is None else epoch)
    for d in dicts:
        root.append(_NodeBuilder(d, origin).build())
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


def _epoch_text(epoch: datetime) -> str:
    """The epoch as XTCE's ``Epoch`` (an xs:dateTime in UTC, ``Z``, to the microsecond)."""
    if epoch.tzinfo is None:
        raise ExportError(f"the mission epoch {epoch.isoformat()} has no time zone (give UTC)")
    text = epoch.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"


def _qualified(name: str) -> str:
    return f"{{{XTCE_NS}}}{name}"


def _sub(parent: ET.Element, tag: str, /, text: str | None = None, **attrs: str) -> ET.Element:
    """A child element. Elements are written unqualified under the root's default namespace
    declaration (ElementTree's ``default_namespace`` refuses the unqualified attributes XTCE
    uses), attributes in the order given."""
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _number(kind: str, value: float) -> str:
    return repr(bound(kind, value))


class _NodeBuilder:
    """Builds one node's SpaceSystem."""

    def __init__(self, d: NodeDictionary, epoch: str) -> None:
        self.d = d
        self.epoch = epoch
        self.names: dict[str, set[str]] = {}
        self.system = ET.Element(
            "SpaceSystem",
            {
                "name": xtce_name(d.node),
                "shortDescription": f"flight software of node {d.node}, APID 0x{d.apid:03X}",
            },
        )
        self.ptypes = ET.Element("ParameterTypeSet")
        self.params = ET.Element("ParameterSet")
        self.containers = ET.Element("ContainerSet")
        self.atypes = ET.Element("ArgumentTypeSet")
        self.commands = ET.Element("MetaCommandSet")

    # -- bookkeeping ------------------------------------------------------------------------------

    def unique(self, kind: str, name: str, source: str) -> str:
        """``name`` after checking no other item of ``kind`` has it (two dictionary names can
        map to one XTCE name: ``a.b_c`` and ``a_b.c``)."""
        seen = self.names.setdefault(kind, set())
        if name in seen:
            raise ExportError(
                f"{self.d.node}: {source} maps to the XTCE {kind} name {name!r}, already used"
            )
        seen.add(name)
        return name

    # -- the document -----------------------------------------------------------------------------

    def build(self) -> ET.Element:
        d = self.d
        inhibits = ", ".join(d.inhibits) or "none"
        _sub(
            self.system,
            "LongDescription",
            text=(
                f"Node {d.node}: telecommands to and telemetry from APID {d.apid} "
                f"(0x{d.apid:03X}). Onboard inhibits of its hazardous-command gate, by index: "
                f"{inhibits}."
            ),
        )
        ancillary = [("apid", str(d.apid))] + [("inhibit", name) for name in d.inhibits]
        _ancillary(self.system, ancillary)
        self.telemetry()
        self.command_set()
        tm = _sub(self.system, "TelemetryMetaData")
        tm.extend([self.ptypes, self.params, self.containers])
        tc = _sub(self.system, "CommandMetaData")
        tc.extend([self.atypes, self.commands])
        return self.system

    # -- telemetry --------------------------------------------------------------------------------

    def telemetry(self) -> None:
        entries = []
        for f in _PRIMARY + _TM_SECONDARY:
            if f.name in _TIME_FIELDS:
                if f.name == _TIME_FIELDS[0]:
                    self.time_ptype(f"{_TIME}_Type")
                    self.parameter(_TIME, f"{_TIME}_Type", _TIME_MEANING)
                    entries.append(_TIME)
                continue
            self.int_ptype(f"{f.name}_Type", f.bits, f.meaning)
            self.parameter(f.name, f"{f.name}_Type", f.meaning)
            entries.append(f.name)
        self.pec_type(self.ptypes, f"{_PEC}_Type")
        self.parameter(_PEC, f"{_PEC}_Type", _PEC_MEANING)
        self.container(
            ROOT_CONTAINER,
            f"a PUS-C telemetry packet of node {self.d.node}: primary and TM secondary header",
            entries,
            abstract=True,
            ancillary=[("Yamcs", "UseAsArchivingPartition")],
            long=(
                "CCSDS space packet primary header (6 octets) and PUS-C TM secondary header "
                "(13 octets, ECSS-E-ST-70-41C 7.4.3.1); the source data and the packet error "
                "control follow in the derived containers. The root container of the node: every "
                "packet container of the node inherits from it (a Yamcs TM stream of this node "
                f"names it as its rootContainer, /{ROOT_NAME}/{xtce_name(self.d.node)}/"
                f"{ROOT_CONTAINER})."
            ),
        )
        self.hk_containers()
        self.event_container()
        self.verification_containers()
        self.container(
            "TEST_Alive",
            "TM[17,2]: the node is alive (answer to core.ping)",
            [_PEC],
            base=(ROOT_CONTAINER, self.restriction(17, 2)),
        )
        self.report_containers()
        self.parameter_report()
        self.schedule_report()

    def restriction(self, service: int, subtype: int | None = None) -> list[tuple[str, int]]:
        rules = [("CCSDS_APID", self.d.apid), ("PUS_TM_SERVICE", service)]
        if subtype is not None:
            rules.append(("PUS_TM_SUBTYPE", subtype))
        return rules

    def hk_containers(self) -> None:
        self.int_ptype("HK_SID_Type", 16, "structure id of a housekeeping packet")
        self.parameter("HK_SID", "HK_SID_Type", "structure id of the housekeeping packet")
        self.container(
            "HK_Report",
            f"TM[3,25] of node {self.d.node}: a housekeeping report, by its SID",
            ["HK_SID"],
            abstract=True,
            base=(ROOT_CONTAINER, self.restriction(3, 25)),
        )
        for h in self.d.hk:
            entries = [name for f in h.fields for name in self.declared_field(h.name, f, hk=True)]
            self.container(
                f"HK_{xtce_name(h.name)}",
                h.meaning or h.name,
                [*entries, _PEC],
                base=("HK_Report", [*self.restriction(3, 25), ("HK_SID", h.sid)]),
                alias=h.name,
                long=(
                    f"Housekeeping packet {h.name}: TM[3,25] SID {h.sid}, filled by component "
                    f"{h.component}, sent every {h.period} s by default. {_sentence(h.meaning)}"
                ).rstrip(),
            )

    def report_containers(self) -> None:
        for r in self.d.reports:
            entries = [name for f in r.fields for name in self.declared_field(r.name, f)]
            self.container(
                f"TM_{xtce_name(r.name)}",
                r.meaning or r.name,
                [*entries, _PEC],
                base=(ROOT_CONTAINER, self.restriction(r.service, r.subtype)),
                alias=r.name,
                long=f"Telemetry report {r.name}: TM[{r.service},{r.subtype}], sent by "
                f"component {r.component}. {_sentence(r.meaning)}".rstrip(),
            )

    def parameter_report(self) -> None:
        ids = ", ".join(f"{p.id} {p.name}" for p in self.d.parameters)
        self.counted_report(
            "PARAMETER", 20, 2, "parameters",
            ("PARAMETER_ENTRIES", "count x (parameter id uint16, value float64)",
             "the parameters: id uint16 then value float64, for each", f"Ids: {ids}."),
            ("PARAMETER_COUNT", 8 * PARAMETER_ENTRY.size, 0),
            ("PARAMETER_Report", "parameter values (answer to params.report)"),
        )  # fmt: skip

    def schedule_report(self) -> None:
        # the activities: the source data (data length + 1 - secondary header - PEC) less the
        # count octet, in bits
        overhead = pus.TM_SECONDARY_HEADER_SIZE + pus.CRC_SIZE
        self.counted_report(
            "SCHEDULE", 11, 10, "activities",
            ("SCHEDULE_ACTIVITIES", "count x (release time CUC 4+2, telecommand space packet)",
             "the activities: release time CUC 4+2 then the whole telecommand, for each", None),
            ("CCSDS_DATA_LENGTH", 8, -8 * overhead),
            ("SCHEDULE_Detail", "the time-based schedule (answer to schedule.report)"),
        )  # fmt: skip

    def counted_report(
        self, prefix: str, service: int, subtype: int, items: str,
        body: tuple[str, str, str, str | None], size: tuple[str, int, int],
        container: tuple[str, str],
    ) -> None:  # fmt: skip
        """A report of a count (uint8) then a binary body whose size in bits is ``slope *
        reference + intercept`` (``size``: the reference parameter, slope, intercept), for the
        reports whose entries XTCE readers without repeated entries cannot list."""
        count = f"{prefix}_COUNT"
        self.int_ptype(f"{count}_Type", 8, f"{items} in the report")
        self.parameter(count, f"{count}_Type", f"{items} in the report")
        name, short, meaning, long = body
        binary = _sub(
            self.ptypes,
            "BinaryParameterType",
            name=self.unique("parameter type", f"{name}_Type", f"{prefix.lower()} {items}"),
            shortDescription=short,
        )
        _sub(binary, "UnitSet")
        dynamic = _sub(_sub(_sub(binary, "BinaryDataEncoding"), "SizeInBits"), "DynamicValue")
        reference, slope, intercept = size
        _sub(dynamic, "ParameterInstanceRef", parameterRef=reference)
        adjust = {"slope": str(slope)} | ({"intercept": str(intercept)} if intercept else {})
        _sub(dynamic, "LinearAdjustment", **adjust)
        self.parameter(name, f"{name}_Type", meaning, long=long)
        self.container(
            container[0],
            f"TM[{service},{subtype}] of node {self.d.node}: {container[1]}",
            [count, name, _PEC],
            base=(ROOT_CONTAINER, self.restriction(service, subtype)),
        )

    def declared_field(self, owner: str, f: Field, *, hk: bool = False) -> list[str]:
        """Declare a field of a housekeeping packet (``hk``) or report called ``owner``;
        returns its parameter names in order. A housekeeping field has no ValidRange: its
        declared range is no refusal (decision 0035), its limits are alarms."""
        base = xtce_name(f"{owner}.{f.name}")
        type_name = self.unique("parameter type", f"{base}_Type", f"{owner}.{f.name}")
        self.field_type(self.ptypes, "Parameter", type_name, f, valid_range=not hk)
        names = []
        for index in range(f.count):
            suffix, alias = (f"_{index}", f"{owner}.{f.name}[{index}]") if f.count > 1 else (
                "", f"{owner}.{f.name}")  # fmt: skip
            name = f"{base}{suffix}"
            long = f"element {index} of {f.count}" if f.count > 1 else None
            self.parameter(name, type_name, f.meaning, alias=alias, long=long)
            names.append(name)
        return names

    def event_container(self) -> None:
        ptype = _sub(
            self.ptypes,
            "EnumeratedParameterType",
            name=self.unique("parameter type", "EVENT_ID_Type", "event ids"),
            shortDescription=f"the events of node {self.d.node}, by id",
        )
        _sub(ptype, "UnitSet")
        _int_encoding(ptype, 16, signed=False)
        enumeration = _sub(ptype, "EnumerationList")
        for e in self.d.events:
            _sub(
                enumeration,
                "Enumeration",
                value=str(e.id),
                label=e.name,
                shortDescription=f"{e.severity}: {e.meaning}",
            )
        self.parameter("EVENT_ID", "EVENT_ID_Type", "the event's id in the dictionary")
        self.int_ptype("EVENT_DETAIL_LENGTH_Type", 8, "octets of the detail that follows")
        self.parameter("EVENT_DETAIL_LENGTH", "EVENT_DETAIL_LENGTH_Type", "octets of the detail")
        self.string_ptype("EVENT_DETAIL_Type", "EVENT_DETAIL_LENGTH", MAX_DETAIL, "one line, UTF-8")
        self.parameter("EVENT_DETAIL", "EVENT_DETAIL_Type", "one line saying what happened")
        severities = ", ".join(f"{n} {name}" for name, n in SEVERITIES.items())
        self.container(
            "EVENT_Report",
            f"TM[5,x] of node {self.d.node}: an event report (x: its severity)",
            ["EVENT_ID", "EVENT_DETAIL_LENGTH", "EVENT_DETAIL", _PEC],
            base=(ROOT_CONTAINER, self.restriction(5)),
            long=(
                f"Event report: event id uint16, detail length uint8, detail UTF-8 (at most "
                f"{MAX_DETAIL} octets). The message subtype is the severity ({severities})."
            ),
        )

    def verification_containers(self) -> None:
        for f in _REQUEST_ID:  # field by field, so that a verifier can match APID and count
            self.int_ptype(f"{f.name}_Type", f.bits, f.meaning)
            self.parameter(f.name, f"{f.name}_Type", f.meaning)
        self.int_ptype("VERIFICATION_STEP_Type", 8, REPORT_FIELDS["step"][1])
        self.parameter("VERIFICATION_STEP", "VERIFICATION_STEP_Type", REPORT_FIELDS["step"][1])
        codes = _sub(
            self.ptypes,
            "EnumeratedParameterType",
            name=self.unique("parameter type", "VERIFICATION_CODE_Type", "failure codes"),
            shortDescription="failure code: the class of the reason",
        )
        _sub(codes, "UnitSet")
        _int_encoding(codes, 16, signed=False)
        enumeration = _sub(codes, "EnumerationList")
        for code, name in sorted(FAILURE_CODES.items()):
            _sub(enumeration, "Enumeration", value=str(code), label=name)
        self.parameter("VERIFICATION_CODE", "VERIFICATION_CODE_Type", REPORT_FIELDS["code"][1])
        self.int_ptype("VERIFICATION_REASON_LENGTH_Type", 8, "octets of the reason that follows")
        self.parameter(
            "VERIFICATION_REASON_LENGTH", "VERIFICATION_REASON_LENGTH_Type", "octets of the reason"
        )
        self.string_ptype(
            "VERIFICATION_REASON_Type", "VERIFICATION_REASON_LENGTH", MAX_REASON, "UTF-8"
        )
        self.parameter(
            "VERIFICATION_REASON",
            "VERIFICATION_REASON_Type",
            "the named reason (class: detail), e.g. out_of_range: period = 0.0 is outside ...",
        )
        entries = {
            "request_id": [f.name for f in _REQUEST_ID],
            "step": ["VERIFICATION_STEP"],
            "code": ["VERIFICATION_CODE"],
            "reason": ["VERIFICATION_REASON_LENGTH", "VERIFICATION_REASON"],
        }
        for subtype, stage in sorted(REPORT_NAMES.items()):
            listed = [name for field in report_fields(subtype) for name in entries[field]]
            self.container(
                f"VERIFICATION_{stage}",
                f"TM[1,{subtype}]: request verification, {stage.replace('_', ' ')}",
                [*listed, _PEC],
                base=(ROOT_CONTAINER, self.restriction(1, subtype)),
            )

    # -- telemetry building blocks ----------------------------------------------------------------

    def parameter(
        self, name: str, type_name: str, meaning: str, *, alias: str | None = None,
        long: str | None = None,
    ) -> None:  # fmt: skip
        element = _sub(
            self.params,
            "Parameter",
            name=self.unique("parameter", name, alias or name),
            parameterTypeRef=type_name,
            shortDescription=meaning,
        )
        if long:
            _sub(element, "LongDescription", text=long)
        if alias:
            _alias(element, alias)
        _sub(element, "ParameterProperties", dataSource="telemetered", readOnly="true")

    def int_ptype(self, name: str, bits: int, meaning: str, unit: str = "-") -> None:
        element = _sub(
            self.ptypes,
            "IntegerParameterType",
            name=self.unique("parameter type", name, name),
            shortDescription=meaning,
            signed="false",
            sizeInBits=str(bits),
        )
        _units(element, unit)
        _int_encoding(element, bits, signed=False)

    def time_ptype(self, name: str) -> None:
        """The packet time: CUC 4+2 read as one 48-bit count of 2^-16 s since the mission epoch
        (an AbsoluteTimeParameterType decoded by the MDB, not by a CUC time decoder: Yamcs's
        adds 1 ms to every time, decision 0045)."""
        element = _sub(
            self.ptypes,
            "AbsoluteTimeParameterType",
            name=self.unique("parameter type", name, name),
            shortDescription=_TIME_MEANING,
        )
        encoding = _sub(element, "Encoding", units="seconds", scale=repr(_TIME_SCALE), offset="0")
        _int_encoding(encoding, _TIME_BITS, signed=False)
        _sub(_sub(element, "ReferenceTime"), "Epoch", text=self.epoch)

    def pec_type(self, parent: ET.Element, name: str) -> None:
        kind = "Parameter" if parent is self.ptypes else "Argument"
        element = _sub(
            parent,
            f"Integer{kind}Type",
            name=self.unique(f"{kind.lower()} type", name, name),
            shortDescription=_PEC_MEANING,
            signed="false",
            sizeInBits="16",
        )
        _units(element, "-")
        encoding = _int_encoding(element, 16, signed=False)
        crc = _sub(
            _sub(encoding, "ErrorDetectCorrect"),
            "CRC",
            width="16",
            reflectData="false",
            reflectRemainder="false",
            bitsFromReference="0",
            reference="start",
        )
        _sub(crc, "Polynomial", text="1021")
        _sub(crc, "InitRemainder", text="FFFF")
        _sub(crc, "FinalXOR", text="0000")

    def string_ptype(self, name: str, length: str, max_octets: int, meaning: str) -> None:
        element = _sub(
            self.ptypes,
            "StringParameterType",
            name=self.unique("parameter type", name, name),
            shortDescription=meaning,
        )
        _sub(element, "UnitSet")
        encoding = _sub(element, "StringDataEncoding", encoding="UTF-8")
        variable = _sub(encoding, "Variable", maxSizeInBits=str(8 * max_octets))
        dynamic = _sub(variable, "DynamicValue")
        _sub(dynamic, "ParameterInstanceRef", parameterRef=length, useCalibratedValue="false")
        _sub(dynamic, "LinearAdjustment", slope="8", intercept="0")

    def field_type(
        self, parent: ET.Element, kind: str, name: str, f: Field, *, valid_range: bool = True,
    ) -> None:  # fmt: skip
        """A parameter (kind ``Parameter``) or argument (``Argument``) type for field ``f``:
        enumerated when it names its states (a boolean parameter with limits too: ``false`` and
        ``true``), with its limits as alarms (a parameter type), with a ValidRange unless
        ``valid_range`` is false."""
        bits = field_bits(f)
        if f.kind == "bool" and kind == "Parameter" and _boolean_levels(f):
            # a boolean with a level: false/true by name, so that the alarm is an enumeration
            # alarm (Yamcs reads no alarm on a BooleanParameterType, decision 0045)
            element = _sub(parent, "EnumeratedParameterType", name=name, shortDescription=f.meaning)
            _units(element, f.unit)
            _int_encoding(element, bits, signed=False)
            listing = _sub(element, "EnumerationList")
            for value, label in _BOOLEAN_STATES:
                _sub(listing, "Enumeration", value=str(value), label=label)
            levels = _boolean_levels(f)
            _enumeration_alarm(
                element, [(label, levels[value]) for value, label in _BOOLEAN_STATES]
            )
            return
        if f.kind == "bool":
            element = _sub(parent, f"Boolean{kind}Type", name=name, shortDescription=f.meaning)
            _units(element, f.unit)
            _int_encoding(element, bits, signed=False)
            return
        if f.enum:
            element = _sub(parent, f"Enumerated{kind}Type", name=name, shortDescription=f.meaning)
            _units(element, f.unit)
            _int_encoding(element, bits, signed=f.kind.startswith("i"))
            telemetry = kind == "Parameter"
            listing = _sub(element, "EnumerationList")
            rows = enumeration_rows(f, gaps=telemetry)
            for value, top, label, _level in rows:
                attrs = {"value": str(value)}
                if top != value:
                    attrs["maxValue"] = str(top)
                attrs["label"] = label
                _sub(listing, "Enumeration", **attrs)
            if telemetry:
                _enumeration_alarm(element, [(label, level) for _, _, label, level in rows])
            return
        if f.kind == "f32":
            element = _sub(
                parent, f"Float{kind}Type", name=name, shortDescription=f.meaning,
                sizeInBits=str(bits),
            )  # fmt: skip
            _units(element, f.unit)
            _sub(
                element,
                "FloatDataEncoding",
                sizeInBits=str(bits),
                encoding="IEEE754_1985",
                byteOrder=_BIG_ENDIAN,
            )
        else:
            signed = f.kind.startswith("i")
            element = _sub(
                parent, f"Integer{kind}Type", name=name, shortDescription=f.meaning,
                signed="true" if signed else "false", sizeInBits=str(bits),
            )  # fmt: skip
            _units(element, f.unit)
            _int_encoding(element, bits, signed=signed)
        low, high = _number(f.kind, f.lo), _number(f.kind, f.hi)
        if kind == "Parameter":
            if valid_range:
                _sub(element, "ValidRange", minInclusive=low, maxInclusive=high)
            if f.limits is not None:
                self.numeric_alarms(element, f.limits)
        else:
            ranges = _sub(element, "ValidRangeSet")
            _sub(ranges, "ValidRange", minInclusive=low, maxInclusive=high)

    def numeric_alarms(self, element: ET.Element, limits: Limits) -> None:
        """``DefaultAlarm`` (the default set) and ``ContextAlarmList`` (one alarm per mode
        with a set of its own, matched on the node's mode parameter) of a numeric type."""
        if _has_ranges(limits.default):
            _static_ranges(_sub(element, "DefaultAlarm"), limits.default)
        if not limits.modes:
            return
        contexts = _sub(element, "ContextAlarmList")
        for mode, limit_set in limits.modes:
            context = _sub(contexts, "ContextAlarm")
            _static_ranges(context, limit_set)
            _sub(_sub(context, "ContextMatch"), "Comparison", parameterRef=MODE_PARAMETER,
                 value=str(MODES.index(mode)), useCalibratedValue="false")  # fmt: skip

    def container(
        self, name: str, short: str, entries: list[str], *, abstract: bool = False,
        base: tuple[str, list[tuple[str, int]]] | None = None, alias: str | None = None,
        long: str | None = None, ancillary: list[tuple[str, str]] | None = None,
    ) -> ET.Element:  # fmt: skip
        attrs = {"name": self.unique("container", name, alias or name), "shortDescription": short}
        if abstract:
            attrs["abstract"] = "true"
        element = _sub(self.containers, "SequenceContainer", **attrs)
        if long:
            _sub(element, "LongDescription", text=long)
        if alias:
            _alias(element, alias)
        _ancillary(element, ancillary or [])
        entry_list = _sub(element, "EntryList")
        for entry in entries:
            _sub(entry_list, "ParameterRefEntry", parameterRef=entry)
        if base is not None:
            container_ref, rules = base
            based = _sub(element, "BaseContainer", containerRef=container_ref)
            comparisons = _sub(_sub(based, "RestrictionCriteria"), "ComparisonList")
            for parameter, value in rules:
                _sub(
                    comparisons,
                    "Comparison",
                    parameterRef=parameter,
                    useCalibratedValue="false",
                    comparisonOperator="==",
                    value=str(value),
                )
        return element

    # -- commands ---------------------------------------------------------------------------------

    def command_set(self) -> None:
        header = {f.name: f for f in _PRIMARY + _TC_SECONDARY}
        for name in _TC_ASSIGNED:
            f = header[name]
            element = _sub(
                self.atypes,
                "IntegerArgumentType",
                name=self.unique("argument type", f"{f.name}_ArgType", f.name),
                shortDescription=f.meaning,
                signed="false",
                sizeInBits=str(f.bits),
            )
            _units(element, "-")
            _int_encoding(element, f.bits, signed=False)
            ranges = _sub(element, "ValidRangeSet")
            _sub(ranges, "ValidRange", minInclusive="0", maxInclusive=str((1 << f.bits) - 1))
        mark = _sub(
            self.atypes,
            "EnumeratedArgumentType",
            name=self.unique("argument type", f"{CONFIRMED_ARGUMENT}_ArgType", "confirmed"),
            shortDescription=_CONFIRMED_MEANING,
        )
        _units(mark, "-")
        _int_encoding(mark, 1, signed=False)
        states = _sub(mark, "EnumerationList")
        for value, label in _CONFIRMED_STATES:
            _sub(states, "Enumeration", value=str(value), label=label)
        base = _sub(
            self.commands,
            "MetaCommand",
            name=self.unique("command", "PUS_TC", "PUS_TC"),
            shortDescription="a PUS-C telecommand: primary and TC secondary header",
            abstract="true",
        )
        _sub(
            base,
            "LongDescription",
            text=(
                "CCSDS space packet primary header (6 octets, packet type 1) and PUS-C TC "
                "secondary header (5 octets, ECSS-E-ST-70-41C 7.4.4.1). Each command assigns "
                "APID, service type and subtype, and the confirmation mark (bit 15 of the source "
                "id) unless its operator gives it. The sender fills the packet sequence count and "
                "the packet data length and appends the packet error control (CRC-16/CCITT-FALSE "
                "over the whole packet) after the application data: in Yamcs, a TC link's "
                "org.yamcs.pus.PusCommandPostprocessor with errorDetection type CRC-16-CCIIT."
            ),
        )
        _ancillary(base, [("packet_error_control", "appended by the sender: " + _PEC_MEANING)])
        arguments = _sub(base, "ArgumentList")
        for name in _TC_ASSIGNED:
            _sub(arguments, "Argument", name=name, argumentTypeRef=f"{name}_ArgType",
                 shortDescription=header[name].meaning)  # fmt: skip
        _sub(arguments, "Argument", name=CONFIRMED_ARGUMENT,
             argumentTypeRef=f"{CONFIRMED_ARGUMENT}_ArgType", shortDescription=_CONFIRMED_MEANING,
             initialValue=_CONFIRMED_STATES[0][1])  # fmt: skip
        container = _sub(base, "CommandContainer", name="PUS_TC_Header")
        entries = _sub(container, "EntryList")
        for f in header.values():
            if f.name in _TC_ASSIGNED:
                _sub(entries, "ArgumentRefEntry", argumentRef=f.name)
            elif f.name == "PUS_TC_SOURCE_ID":  # the mark, then the source: 0, the ground
                _sub(entries, "ArgumentRefEntry", argumentRef=CONFIRMED_ARGUMENT)
                _fixed(entries, f.name, 0, _SOURCE_BITS)
            elif f.fixed is not None:
                _fixed(entries, f.name, f.fixed, f.bits)
            else:
                _fixed(entries, f.name, _TC_FIXED[f.name][0], f.bits)
        self.verifiers(base)
        for command in self.d.commands:
            self.meta_command(command)

    def verifiers(self, base: ET.Element) -> None:
        """The PUS-1 verification of every command of the node (its base ``PUS_TC``): a stage
        passes on the TM[1,x] success report whose request id is the command's APID and sequence
        count, and the command fails on any failure report (TM[1,2], [1,4], [1,6], [1,8]). The
        sent APID and sequence count are Yamcs's names (``/yamcs/cmd/arg/``: an argument of the
        command, ``/yamcs/cmdHist/ccsds-seqcount``: the count its PUS command postprocessor
        wrote); a reader without them has no verifier."""
        verifiers = _sub(base, "VerifierSet")
        for tag, stage, subtypes, window in _VERIFIERS:
            verifier = _sub(verifiers, tag, name=stage)
            conditions = _sub(_sub(verifier, "BooleanExpression"), "ANDedConditions")
            for sent, received in (
                (f"{_YAMCS_ARGUMENTS}CCSDS_APID", "VERIFICATION_REQUEST_APID"),
                (_YAMCS_SEQ_COUNT, "VERIFICATION_REQUEST_SEQ_COUNT"),
            ):
                condition = _sub(conditions, "Condition")
                _sub(condition, "ParameterInstanceRef", parameterRef=sent)
                _sub(condition, "ComparisonOperator", text="==")
                _sub(condition, "ParameterInstanceRef", parameterRef=received)
            _literal(conditions, "PUS_TM_SERVICE", 1)
            if len(subtypes) == 1:
                _literal(conditions, "PUS_TM_SUBTYPE", subtypes[0])
            else:
                either = _sub(conditions, "ORedConditions")
                for subtype in subtypes:
                    _literal(either, "PUS_TM_SUBTYPE", subtype)
            _sub(verifier, "CheckWindow", timeToStopChecking=window,
                 timeWindowIsRelativeTo="commandRelease")  # fmt: skip
            if tag == "FailedVerifier":  # the failure's reason is the verifier's result
                _sub(verifier, "ReturnParmRef", parameterRef="VERIFICATION_REASON")

    def meta_command(self, c: Command) -> None:
        name = self.unique("command", xtce_name(c.name), c.name)
        if name == CONFIRMED_ARGUMENT or any(
            xtce_name(f.name).startswith(CONFIRMED_ARGUMENT) for f in c.message.fields
        ):
            raise ExportError(f"{self.d.node}: {c.name} has an argument named like the "
                              f"confirmation mark {CONFIRMED_ARGUMENT!r}")  # fmt: skip
        element = _sub(self.commands, "MetaCommand", name=name,
                       shortDescription=c.message.meaning or c.name)  # fmt: skip
        _sub(element, "LongDescription", text=_command_text(c))
        _alias(element, c.name)
        ancillary = [("component", c.component)] + [("mode", m) for m in c.modes]
        if c.hazardous:
            ancillary.append(("hazard_window", repr(c.window)))
            ancillary += [("inhibit", inhibit) for inhibit in c.inhibits]
        if c.confirmation is not None:
            ancillary.append(("confirmation", c.confirmation.describe()))
        if not c.variable:
            length = pus.TC_SECONDARY_HEADER_SIZE + c.message.size + pus.CRC_SIZE - 1
            ancillary.append(("packet_data_length", str(length)))
        _ancillary(element, ancillary)
        based = _sub(element, "BaseMetaCommand", metaCommandRef="PUS_TC")
        assignments = _sub(based, "ArgumentAssignmentList")
        values = [("CCSDS_APID", str(c.apid)), ("PUS_TC_SERVICE", str(c.message.service)),
                  ("PUS_TC_SUBTYPE", str(c.message.subtype))]  # fmt: skip
        confirmed = _confirmation_mark(c)
        if confirmed is not None:
            values.append((CONFIRMED_ARGUMENT, confirmed))
        for argument, value in values:
            _sub(assignments, "ArgumentAssignment", argumentName=argument, argumentValue=value)
        refs: list[str] = []
        if c.variable:
            type_name = self.unique("argument type", f"{name}_data_ArgType", f"{c.name}.data")
            binary = _sub(self.atypes, "BinaryArgumentType", name=type_name,
                          shortDescription=c.layout)  # fmt: skip
            _sub(binary, "UnitSet")
            size = _sub(_sub(binary, "BinaryDataEncoding"), "SizeInBits")
            # the value's own size (Yamcs: -1, all of it); on the wire the packet data length
            # gives it: data length + 1 - secondary header - packet error control
            _sub(size, "FixedValue", text="-1")
            args = _sub(element, "ArgumentList")
            _sub(args, "Argument", name="data", argumentTypeRef=type_name,
                 shortDescription=f"application data: {c.layout}")  # fmt: skip
            refs.append("data")
        elif c.message.fields:
            args = _sub(element, "ArgumentList")
            for f in c.message.fields:
                type_name = self.unique(
                    "argument type", f"{name}_{xtce_name(f.name)}_ArgType", f"{c.name}.{f.name}"
                )
                self.field_type(self.atypes, "Argument", type_name, f)
                for index in range(f.count):
                    arg = xtce_name(f.name) + (f"_{index}" if f.count > 1 else "")
                    argument = _sub(args, "Argument", name=arg, argumentTypeRef=type_name,
                                    shortDescription=f.meaning)  # fmt: skip
                    if f.count > 1:
                        _sub(argument, "LongDescription", text=f"element {index} of {f.count}")
                        _alias(argument, f"{f.name}[{index}]")
                    elif arg != f.name:
                        _alias(argument, f.name)
                    refs.append(arg)
        container = _sub(element, "CommandContainer", name=f"{name}_Container")
        entries = _sub(container, "EntryList")
        for ref in refs:
            _sub(entries, "ArgumentRefEntry", argumentRef=ref)
        _sub(container, "BaseContainer", containerRef="PUS_TC_Header")
        if c.hazardous:
            _sub(element, "DefaultSignificance", reasonForWarning=_hazard_text(c),
                 consequenceLevel="critical")  # fmt: skip
        elif c.confirmation is not None:  # arms, removes an inhibit or enters critical (0024)
            level = "vital" if c.confirmation.field else "critical"
            _sub(element, "DefaultSignificance", reasonForWarning=_confirm_text(c),
                 consequenceLevel=level)  # fmt: skip


def _literal(parent: ET.Element, parameter: str, value: int) -> None:
    condition = _sub(parent, "Condition")
    _sub(condition, "ParameterInstanceRef", parameterRef=parameter)
    _sub(condition, "ComparisonOperator", text="==")
    _sub(condition, "Value", text=str(value))


def _confirmation_mark(c: Command) -> str | None:
    """The confirmation mark a command assigns: ``yes`` when it always needs the ground's
    confirmation, None (the operator gives it) when only some arguments need it or it carries
    other commands (a schedule insert, a sequence load), else ``no``."""
    rule = c.confirmation
    if c.variable and c.key[1:] in _CARRIERS:
        return None
    if rule is None:
        return _CONFIRMED_STATES[0][1]
    return None if rule.field else _CONFIRMED_STATES[1][1]


_ALARM_LEVELS: Final = {"green": "normal", "yellow": "warning", "red": "critical"}
"""A limit level as an XTCE alarm level (``ConcernLevelsType``)."""
MODE_PARAMETER: Final = xtce_name("core.status.mode")
"""The parameter a per-mode alarm's ContextMatch compares (the node's mode, by its code)."""
_GAP_CODES: Final = 256
_GAP_SPAN: Final = 1 << 16


def enumeration_rows(f: Field, *, gaps: bool) -> list[tuple[int, int, str, str]]:
    """The rows of an enumerated field's EnumerationList: ``(value, max value, label,
    level)``, by code. With ``gaps`` (telemetry), the codes of the declared range that have no
    name are listed too, so that a partly named value such as a ``health.boards`` element (0
    ok, 1..254 a count, 255 lost) still decodes and its numeric limits still alarm: each code
    labelled with its number when the range is small (:data:`_GAP_CODES` codes at most: every
    reader handles it, space_packet_parser ignores ``maxValue``), else runs ``a..b`` of one
    limit level each."""
    rows = [(code, code, name, f.level(code)) for code, name in sorted(f.enum)]
    if not gaps:
        return rows
    named = {code for code, _ in f.enum}
    lo, hi = int(f.lo), int(f.hi)
    if hi - lo < _GAP_CODES:
        rows += [(c, c, str(c), f.level(c)) for c in range(lo, hi + 1) if c not in named]
        return sorted(rows)
    runs: list[list[int]] = []
    run: list[int] = []
    for code in range(lo, min(hi, lo + _GAP_SPAN) + 1):
        if code in named:
            run = []
        elif run and f.level(run[-1]) == f.level(code):
            run.append(code)
        else:
            run = [code]
            runs.append(run)
    rows += [(r[0], r[-1], f"{r[0]}..{r[-1]}", f.level(r[0])) for r in runs]
    return sorted(rows)


def _enumeration_alarm(element: ET.Element, labels: list[tuple[str, str]]) -> None:
    """``DefaultAlarm`` of an enumerated type: the level most labels have is the
    ``defaultAlarmLevel`` (normal unless most are in alarm, as for the codes 3..254 of a
    ``health.boards`` element), and each label of another level is listed."""
    counts = Counter(level for _, level in labels)
    if set(counts) <= {"green"}:
        return
    default = max(LEVELS, key=lambda level: (counts[level], level == "green"))
    attrs = {} if default == "green" else {"defaultAlarmLevel": _ALARM_LEVELS[default]}
    alarm = _sub(element, "DefaultAlarm", **attrs)
    listed = _sub(alarm, "EnumerationAlarmList")
    for label, level in labels:
        if level != default:
            _sub(listed, "EnumerationAlarm", alarmLevel=_ALARM_LEVELS[level],
                 enumerationLabel=label)  # fmt: skip


_BOOLEAN_STATES: Final = ((0, "false"), (1, "true"))


def _boolean_levels(f: Field) -> dict[int, str]:
    """The limit level of a boolean's 0 and 1; empty when it has no limits or both are green."""
    if f.limits is None:
        return {}
    levels = {value: f.level(value) for value, _ in _BOOLEAN_STATES}
    return {} if set(levels.values()) == {"green"} else levels


def _has_ranges(limit_set: LimitSet) -> bool:
    return limit_set.yellow != (None, None) or limit_set.red != (None, None)


def _static_ranges(parent: ET.Element, limit_set: LimitSet) -> None:
    """``StaticAlarmRanges``: inside WarningRange is normal, outside it a warning; outside
    CriticalRange critical (rangeForm ``outside``, XTCE's default); an open bound is left
    out."""
    ranges = _sub(parent, "StaticAlarmRanges")
    for tag, (lo, hi) in (("WarningRange", limit_set.yellow), ("CriticalRange", limit_set.red)):
        if (lo, hi) == (None, None):
            continue
        attrs = {}
        if lo is not None:
            attrs["minInclusive"] = repr(float(lo))
        if hi is not None:
            attrs["maxInclusive"] = repr(float(hi))
        _sub(ranges, tag, **attrs)


def _hazard_text(c: Command) -> str:
    inhibits = ", ".join(c.inhibits) or "none"
    return (
        f"Hazardous: passes the onboard gate; arm it (gate.arm), then send it within "
        f"{c.window} s; onboard inhibits that must all be removed first: {inhibits}"
    )


def _confirm_text(c: Command) -> str:
    rule = c.confirmation
    if rule is None:
        return ""
    when = "" if not rule.field else f" when {rule.field} is {' or '.join(map(str, rule.values))}"
    why = f" ({rule.why})" if rule.why else ""
    return f"Needs the ground's hazardous confirmation{when}{why}"


def _sentence(text: str) -> str:
    """``text`` as a sentence: capitalised, ending with a full stop ("" stays "")."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _command_text(c: Command) -> str:
    parts = [
        f"Telecommand {c.name}: TC[{c.message.service},{c.message.subtype}] to APID {c.apid}, "
        f"executed by component {c.component}.",
        _sentence(c.message.meaning),
        "Allowed in every mode." if not c.modes else f"Allowed in modes: {', '.join(c.modes)}.",
    ]
    if c.variable:
        parts.append(f"Variable application data: {c.layout}.")
    if c.hazardous:
        parts.append(_hazard_text(c) + ".")
    if c.confirmation is not None:
        parts.append(_confirm_text(c) + ".")
    return " ".join(part for part in parts if part)


def _units(parent: ET.Element, unit: str) -> None:
    units = _sub(parent, "UnitSet")
    if unit and unit != "-":
        _sub(units, "Unit", text=unit)


def _int_encoding(parent: ET.Element, bits: int, *, signed: bool) -> ET.Element:
    return _sub(
        parent,
        "IntegerDataEncoding",
        sizeInBits=str(bits),
        encoding="twosComplement" if signed else "unsigned",
        byteOrder=_BIG_ENDIAN,
    )


def _fixed(entries: ET.Element, name: str, value: int, bits: int) -> None:
    octets = max(1, (bits + 7) // 8)
    _sub(entries, "FixedValueEntry", name=name, binaryValue=value.to_bytes(octets, "big").hex(),
         sizeInBits=str(bits))  # fmt: skip


def _alias(parent: ET.Element, alias: str) -> None:
    _sub(_sub(parent, "AliasSet"), "Alias", nameSpace=ALIAS_NAMESPACE, alias=alias)


def _ancillary(parent: ET.Element, items: list[tuple[str, str]]) -> None:
    if not items:
        return
    data = _sub(parent, "AncillaryDataSet")
    for name, value in items:
        _sub(data, "AncillaryData", text=value, name=name)


# -- reading back: validation and extraction ------------------------------------------------------


def schema_path() -> Path:
    """The XTCE 1.2 schema (``SpaceSystem.xsd``) shipped by the installed space_packet_parser.

    Raises:
        ExportError: space_packet_parser is not installed, or ships no schema there.
    """
    spec = importlib.util.find_spec("space_packet_parser")
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(
            "the XTCE 1.2 schema comes with the space_packet_parser package, which is not "
            "installed (pip install 'space_packet_parser>=6'), or pass the schema's path"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "xtce" / "schemas" / "SpaceSystem.xsd"
        if path.is_file():
            return path
    raise ExportError("space_packet_parser is installed but ships no xtce/schemas/SpaceSystem.xsd")


def _lxml() -> Any:
    try:
        from lxml import etree  # optional: only reading needs it
    except ImportError:
        raise ExportError("reading XTCE needs lxml (pip install 'lxml>=4.9')") from None
    return etree


def _parser(etree: Any) -> Any:
    """An XML parser that never fetches anything and never expands entities."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@cache
def _schema(path: Path) -> Any:
    etree = _lxml()

    class _Offline(etree.Resolver):  # the W3C xml.xsd, from the copy above
        def resolve(self, url: str, pubid: str, context: Any) -> Any:
            if url == _XML_XSD_URL:
                return self.resolve_string(_XML_XSD, context)
            return None

    parser = _parser(etree)
    parser.resolvers.add(_Offline())
    try:
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExportError(f"cannot load the XTCE schema {path}: {first}") from None


def validate_xtce(xml: bytes, schema: Path | None = None) -> list[str]:
    """The XTCE 1.2 schema errors of a document, one line each (empty when it is valid).

    Args:
        xml: the document.
        schema: the XTCE schema (``SpaceSystem.xsd``); by default the one shipped by the
            installed space_packet_parser package. Nothing is fetched from the network: the
            W3C ``xml.xsd`` it imports is served from a copy held here.

    Returns:
        ``line N: message`` for each error; a document that is not well-formed XML gives its
        syntax error.

    Raises:
        ExportError: lxml or the schema missing, or the schema unreadable.
    """
    etree = _lxml()
    checker = _schema(Path(schema) if schema is not None else schema_path())
    try:
        document = etree.fromstring(xml, _parser(etree))
    except etree.XMLSyntaxError as exc:
        return [f"line {exc.lineno}: not well-formed XML: {exc.msg}"]
    if checker.validate(document):
        return []
    return [f"line {error.line}: {error.message}" for error in checker.error_log]


def extract_space_system(xml: bytes, name: str) -> bytes:
    """One child SpaceSystem of a document, as a document of its own (for readers, like
    space_packet_parser, that read only the root SpaceSystem).

    Raises:
        ExportError: lxml missing, the document not XML, or no child SpaceSystem ``name``.
    """
    etree = _lxml()
    try:
        root = etree.fromstring(xml, _parser(etree))
    except etree.XMLSyntaxError as exc:
        raise ExportError(f"not an XTCE document: {exc.msg}") from None
    for child in root.findall(_qualified("SpaceSystem")):
        if child.get("name") == name:
            body: bytes = etree.tostring(child, xml_declaration=True, encoding="UTF-8")
            return body + b"\n"
    known = ", ".join(c.get("name", "?") for c in root.findall(_qualified("SpaceSystem")))
    raise ExportError(f"no SpaceSystem {name!r} in the document (known: {known})")
