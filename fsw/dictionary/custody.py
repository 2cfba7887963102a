"""Custody of the sample tubes on every node, declared once: the places a tube can be, the
custody report every node sends per tube, and the manifest that travels with the Orbiting
Sample container (OS) from node to node (decision 0053).

A tube's **place** (:data:`PLACES`, its code is the index) is where the node that reports it
knows it to be: at a pickup source, in the arm's gripper, in an OS slot on the lander, or with
the OS in the MAV nose, in orbit, held by the orbiter's capture mechanism, inside the primary
containment vessel, or in the Earth Entry System. Its **status** (:data:`STATUSES`) is what the
node's sensors say of it: ``present``; ``missing`` when the slot it should be in reads empty;
``unexpected`` is not a tube's status but a slot that holds a tube the manifest does not list.

The **custody report** TM[service,128] (the lander's is ``sta.custody``, the MAV's and the
orbiter's ``manifest.custody``) carries up to :data:`BATCH` rows, each one step of one tube's
history on that node; source data big-endian, ``count`` then each column as an array of
:data:`BATCH` (rows past ``count`` are zero)::

    count    uint8         rows in this report, 1..BATCH
    serial   uint32 x 32   the tube's etched serial number (0: not a number)
    place    uint8 x 32    PLACES code
    slot     uint8 x 32    its OS slot, 255 when not in one
    status   uint8 x 32    STATUSES code
    steps    uint16 x 32   which step of the tube's history on this node (1: its first)
    since    uint32 x 32   whole mission seconds when it got to this place (or status)

A node reports a tube's new step at every change of that tube (a move, a hand-over, the OS
carried on with every tube in one report, a tube found missing), and every step of every tube
when the ground asks, so the ground fills in what its downlink lost. A report holds as many
rows as fit: one frame carries the whole OS. The ground's custody ledger is built from these
reports and nothing else (:mod:`ground_tools.custody`).

The **manifest** the ground uplinks to the node that takes the OS next (TC[165,1]
``manifest.load``, application data)::

    N        uint8    number of tubes, 1..MAX_TUBES
    then N times:
      serial uint32   1..999999, each once
      slot   uint8    its OS slot, 0..254, each once

Nothing may follow the last item. :func:`parse_manifest` refuses anything else with a
:class:`ManifestError` whose ``reason`` is ``bad_length``, ``too_many``, ``bad_serial``,
``bad_slot`` or ``duplicate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import construct as cs

from fsw.dictionary.model import AppDeclarations, Field, TmReport
from fsw.dictionary.model import declare_field as _f
from fsw.dictionary.model import limit_set as _limits
from hal.protocol.devices.icd import Limits, enum

__all__ = [
    "BATCH",
    "COLUMNS",
    "MANIFEST_LAYOUT",
    "MAX_TUBES",
    "NO_SLOT",
    "PLACES",
    "SERVICE_MANIFEST",
    "SOURCES",
    "STATUSES",
    "SUBTYPE_CUSTODY",
    "CustodyRow",
    "ManifestError",
    "build_manifest",
    "custody_fields",
    "custody_rows",
    "declare_manifest",
    "encode_custody",
    "parse_manifest",
]

SOURCES: Final = ("rover_cache", "depot", "ground_near_lander")
"""Where the arm picks tubes up (the lander's ``sta.load_tube`` source codes)."""
PLACES: Final = (
    *SOURCES, "gripper", "os_slot", "in_mav", "in_orbit", "captured",
    "primary_containment_vessel", "ees",
)  # fmt: skip
"""A tube's place in a custody report, by code (the world's locations, by the same names)."""
STATUSES: Final = ("present", "missing")
"""A tube's status in a custody report, by code."""
NO_SLOT: Final = 255
SUBTYPE_CUSTODY: Final = 128
SERVICE_MANIFEST: Final = 165
"""The manifest component's private service (the MAV's and the orbiter's)."""
MAX_TUBES: Final = 64
"""The most tubes a manifest lists (the OS holds 30 by default; MSR_FACTS)."""
MANIFEST_LAYOUT: Final = "N uint8 | N x (serial uint32 | slot uint8)"
MAX_SERIAL: Final = 999999
BATCH: Final = 32
"""Rows a custody report carries: the default OS (30 tubes) in one report, one frame."""

_ENTRY = cs.Struct("serial" / cs.Int32ub, "slot" / cs.Int8ub)
_ENTRY_SIZE: Final = _ENTRY.sizeof()


class ManifestError(ValueError):
    """A manifest that cannot be taken; ``reason`` names why (module docstring)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class CustodyRow:
    """One row of a custody report: a step of one tube's history on the reporting node."""

    serial: int
    place: str
    slot: int | None
    status: str
    steps: int
    since: float


COLUMNS: Final = ("serial", "place", "slot", "status", "steps", "since")
"""The custody report's columns, in wire order after ``count``."""


def custody_fields() -> tuple[Field, ...]:
    """The custody report's fields (module docstring), for each node's declaration."""
    places = ", ".join(f"{i} {name}" for i, name in enumerate(PLACES))
    n = BATCH
    return (
        Field("count", "u8", "-", 1, n, f"rows in this report (1..{n}); later rows are zero"),
        Field("serial", "u32", "-", 0, MAX_SERIAL, "each row's tube: its etched serial number "
              "(0: not a number)", count=n),
        Field("place", "u8", "-", 0, len(PLACES) - 1, f"where it is ({places})", count=n,
              enum=enum(*PLACES)),
        Field("slot", "u8", "-", 0, NO_SLOT, f"its OS slot, {NO_SLOT} when not in one", count=n),
        Field("status", "u8", "-", 0, len(STATUSES) - 1, "what the sensors say (0 present, 1 "
              "missing: its slot reads empty)", count=n, enum=enum(*STATUSES),
              limits=Limits(red_states=("missing",))),
        Field("steps", "u16", "-", 0, 65535, "which step of its history on this node (1: its "
              "first)", count=n),
        Field("since", "u32", "s", 0, 4294967295, "mission time it got to this place or "
              "status (whole seconds)", count=n),
    )  # fmt: skip


def encode_custody(report: TmReport, rows: Sequence[CustodyRow]) -> list[bytes]:
    """The source data of the custody reports that carry ``rows``, :data:`BATCH` a report."""
    out = []
    for first in range(0, len(rows), BATCH):
        batch = rows[first : first + BATCH]
        pad = BATCH - len(batch)
        columns: dict[str, Any] = {
            "serial": [min(max(r.serial, 0), MAX_SERIAL) for r in batch],
            "place": [PLACES.index(r.place) for r in batch],
            "slot": [NO_SLOT if r.slot is None else min(max(r.slot, 0), NO_SLOT) for r in batch],
            "status": [STATUSES.index(r.status) for r in batch],
            "steps": [min(max(r.steps, 0), 65535) for r in batch],
            "since": [min(max(int(r.since), 0), 0xFFFFFFFF) for r in batch],
        }
        out.append(report.encode(count=len(batch),
                                 **{k: v + [0] * pad for k, v in columns.items()}))  # fmt: skip
    return out


def custody_rows(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of a decoded custody report (its fields' values), each ``{column: value}``
    with the wire's codes; the first ``count`` only (none when the report is malformed)."""
    try:
        count = int(values["count"])
        columns = [list(values[name]) for name in COLUMNS]
    except (KeyError, TypeError, ValueError):
        return []
    if not 0 <= count <= min(BATCH, *(len(c) for c in columns)):
        return []
    return [dict(zip(COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)][:count]


def build_manifest(entries: Sequence[tuple[int, int]]) -> bytes:
    """``manifest.load``'s application data for ``(serial, slot)`` pairs.

    Raises:
        ManifestError: as :func:`parse_manifest` refuses what it builds (checked before any
            octet is built).
    """
    for index, (serial, slot) in enumerate(entries):
        if not 1 <= serial <= MAX_SERIAL:
            raise ManifestError("bad_serial", f"item {index}: serial {serial} is outside "
                                f"1..{MAX_SERIAL}")  # fmt: skip
        if not 0 <= slot < NO_SLOT:
            raise ManifestError("bad_slot", f"item {index}: slot {slot} is outside "
                                f"0..{NO_SLOT - 1}")  # fmt: skip
    if not 1 <= len(entries) <= MAX_TUBES:
        raise ManifestError("too_many", f"{len(entries)} tubes: a manifest lists 1..{MAX_TUBES}")
    data = bytes([len(entries)]) + b"".join(
        _ENTRY.build({"serial": serial, "slot": slot}) for serial, slot in entries
    )
    parse_manifest(data)  # the rules between items (each serial and slot once)
    return data


def parse_manifest(data: bytes, capacity: int = NO_SLOT) -> list[tuple[int, int]]:
    """The ``(serial, slot)`` pairs of a manifest (module docstring), slots below
    ``capacity``.

    Raises:
        ManifestError: the data breaks the layout or a rule (the reason and the item).
    """
    if not data:
        raise ManifestError("bad_length", "no data: a manifest starts with its tube count")
    count = data[0]
    if not 1 <= count <= MAX_TUBES:
        raise ManifestError("too_many", f"{count} tubes: a manifest lists 1..{MAX_TUBES}")
    if len(data) != 1 + count * _ENTRY_SIZE:
        raise ManifestError("bad_length", f"{len(data)} octets for {count} tubes (expected "
                            f"{1 + count * _ENTRY_SIZE})")  # fmt: skip
    entries: list[tuple[int, int]] = []
    serials: set[int] = set()
    slots: set[int] = set()
    for index in range(count):
        item = _ENTRY.parse(data[1 + index * _ENTRY_SIZE : 1 + (index + 1) * _ENTRY_SIZE])
        serial, slot = int(item.serial), int(item.slot)
        if not 1 <= serial <= MAX_SERIAL:
            raise ManifestError("bad_serial", f"item {index}: serial {serial} is outside "
                                f"1..{MAX_SERIAL}")  # fmt: skip
        if not 0 <= slot < min(capacity, NO_SLOT):
            raise ManifestError("bad_slot", f"item {index}: slot {slot} is outside "
                                f"0..{min(capacity, NO_SLOT) - 1}")  # fmt: skip
        if serial in serials or slot in slots:
            raise ManifestError("duplicate", f"item {index}: tube {serial} or slot {slot} "
                                "is listed twice")  # fmt: skip
        serials.add(serial)
        slots.add(slot)
        entries.append((serial, slot))
    return entries


def declare_manifest(apps: AppDeclarations, holds: Sequence[str], pid: int) -> None:
    """Declare the ``manifest`` component of a node that takes the OS after the lander: its
    commands (TC[165,1] ``manifest.load``, TC[165,2] ``manifest.report``), its custody report
    TM[165,128], housekeeping ``manifest.status`` (SID 40), events, and parameter ``pid``
    ``manifest.check_period``. ``holds``: the places the OS goes through on this node."""
    s = SERVICE_MANIFEST
    apps.command(
        "manifest.load", s, 1, "take the manifest of the OS (every tube's serial and slot) as "
        "the ground relays it from the node that held the OS; each tube is then checked "
        "against the OS's slot switches", variable=MANIFEST_LAYOUT,
    )  # fmt: skip
    apps.command("manifest.report", s, 2, "report every step of every tube (TM[165,128])")
    apps.report(
        "manifest.custody", s, SUBTYPE_CUSTODY, "steps of the tubes of the manifest: each tube's "
        "new one when it changes (loaded, moved with the OS, found missing or back), and every "
        "one on manifest.report",
        *custody_fields(),
    )  # fmt: skip
    held = ", ".join(f"{i + 1} {name}" for i, name in enumerate(holds))
    apps.packet(
        "manifest.status", 40, "the OS's custody on this node: where it is, tubes, missing",
        _f("place", "u8", "-", 0, len(holds), f"where the OS is (0 no manifest, {held})",
           enum("none", *holds)),
        _f("tubes", "u8", "-", 0, MAX_TUBES, "tubes in the manifest"),
        _f("missing", "u8", "-", 0, MAX_TUBES, "tubes of the manifest whose slot reads empty",
           limits=_limits((None, 0.0), (None, 0.0))),
        _f("unexpected", "u8", "-", 0, NO_SLOT, "occupied slots the manifest does not list",
           limits=_limits((None, 0.0), (None, 0.0))),
        period=60.0,
    )  # fmt: skip
    e = apps.event
    e("manifest.loaded", "info", "the manifest was taken (tubes, and how many the slot switches "
      "confirm)")  # fmt: skip
    e("manifest.moved", "info", "the OS, and every tube of the manifest, moved (to where)")
    e("manifest.tube_missing", "high", "a tube of the manifest is not in its slot: which tube, "
      "which slot, where the OS is")  # fmt: skip
    e("manifest.tube_back", "medium", "a tube reported missing reads in its slot again")
    e("manifest.unexpected", "high", "a slot holds a tube the manifest does not list")
    e("manifest.restore", "high", "the stored manifest was refused (detail: why)")
    apps.parameter(
        pid, "manifest.check_period", "float", "s", 1, 600, 10.0,
        "the OS's slot switches are read this often while the node holds the OS, at the rate "
        "group's own cycles (no wake-up of their own): a lost tube is reported within one "
        "period",
    )  # fmt: skip
