"""The wire layouts of the telecommands that carry other telecommands: the time-based schedule's
insert (TC[11,4]) and the stored-sequence load (TC[152,4]).

Declared here, in the pure dictionary, because both ends read them: the flight software stores
what they carry, and the ground looks inside them for a command that needs the hazardous
confirmation (decision 0024), with the same code, never a second parser.

TC[11,4] ``schedule.insert`` application data::

    N        uint8            number of activities, 0..255
    then N times:
      release  CUC 4+2        release time, mission seconds (hal.protocol.cuc)
      request  7 + length     the whole PUS-C TC packet (primary header, secondary header,
                              application data, CRC); its size read from its own header

TC[152,4] ``seq.load`` application data::

    L        uint8            length of the name, 1..32
    name     L octets         ASCII letters, digits, ``_``, ``.``, ``-``
    N        uint16           number of steps, 1..1024
    then N times:
      delay    CUC 4+2        seconds after the previous step (the first: after the start)
      request  7 + length     the whole PUS-C TC packet, as above

Nothing may follow the last item. Every error is a :class:`LoadError` with a snake_case
``reason`` (``bad_length``: truncated or trailing octets; ``bad_packet``: an embedded packet whose
header or CRC is wrong, or telemetry; ``bad_name``; ``too_many``; ``bad_time``) and the ``index``
of the item at fault (None when it is about the whole).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from hal.errors import EncodeError, LengthError, ProtocolError, TruncatedError
from hal.protocol.cuc import CUC_SIZE, CucTime
from hal.protocol.pus import PusTc
from hal.protocol.spacepacket import PRIMARY_HEADER_SIZE

if TYPE_CHECKING:
    from fsw.dictionary import Command, NodeDictionary

__all__ = [
    "INSERT",
    "MAX_INSERT",
    "MAX_NAME",
    "MAX_STEPS",
    "SEQUENCE_LOAD",
    "LoadError",
    "build_insert",
    "build_sequence_load",
    "confirmations",
    "embedded",
    "parse_insert",
    "parse_sequence_load",
]

INSERT: Final = (11, 4)
"""TC[11,4] insert activities into the time-based schedule."""
SEQUENCE_LOAD: Final = (152, 4)
"""TC[152,4] load (or replace) a stored sequence."""
MAX_INSERT: Final = 255
"""Most activities one TC[11,4] carries (N is one octet)."""
MAX_STEPS: Final = 1024
"""Most steps of one stored sequence."""
MAX_NAME: Final = 32
"""Longest sequence name."""
NAME: Final = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_NAME}}}")
"""What a sequence name may be."""


class LoadError(ValueError):
    """Load data that does not decode or encode.

    Attributes:
        reason: snake_case name of the problem.
        index: the activity or step at fault, or None.
        detail: what was wrong, in a few words.
    """

    def __init__(self, reason: str, index: int | None, detail: str) -> None:
        where = "" if index is None else f" at item {index}"
        super().__init__(f"{reason}{where}: {detail}")
        self.reason = reason
        self.index = index
        self.detail = detail


def _items(data: bytes, offset: int, count: int, what: str) -> list[tuple[float, PusTc]]:
    """``count`` items of (CUC time, whole TC packet) from ``offset``, to the end exactly."""
    items: list[tuple[float, PusTc]] = []
    for index in range(count):
        left = len(data) - offset
        if left < CUC_SIZE + PRIMARY_HEADER_SIZE:
            raise LoadError(
                "bad_length",
                index,
                f"{count} {what} announced, only {left} octets left for this one",
            )
        when = CucTime.from_raw(data, offset).seconds
        offset += CUC_SIZE
        data_length = int.from_bytes(data[offset + 4 : offset + 6], "big")
        size = PRIMARY_HEADER_SIZE + data_length + 1
        if size > len(data) - offset:
            raise LoadError(
                "bad_length",
                index,
                f"the packet's header says {size} octets, {len(data) - offset} are left",
            )
        try:
            packet = PusTc.from_raw(data[offset : offset + size])
        except (LengthError, TruncatedError) as exc:
            raise LoadError("bad_length", index, f"the packet does not decode ({exc})") from exc
        except ProtocolError as exc:
            raise LoadError("bad_packet", index, f"the packet does not decode ({exc})") from exc
        items.append((when, packet))
        offset += size
    if offset != len(data):
        raise LoadError(
            "bad_length", None, f"{len(data) - offset} trailing octets after {count} {what}"
        )
    return items


def _pack_items(items: Sequence[tuple[float, PusTc]]) -> list[bytes]:
    parts: list[bytes] = []
    for index, (when, packet) in enumerate(items):
        if isinstance(when, bool) or not isinstance(when, int | float):
            raise LoadError("bad_time", index, f"time {when!r} is not a number")
        try:
            parts.append(CucTime.from_seconds(when).pack())
        except (EncodeError, ValueError, OverflowError) as exc:
            raise LoadError("bad_time", index, str(exc)) from exc
        if not isinstance(packet, PusTc):
            raise LoadError("bad_packet", index, "not a PUS telecommand")
        try:
            parts.append(packet.pack())
        except EncodeError as exc:
            raise LoadError("bad_packet", index, str(exc)) from exc
    return parts


def parse_insert(app_data: bytes | bytearray | memoryview) -> list[tuple[float, PusTc]]:
    """TC[11,4] application data as ``(release, packet)`` pairs, in the order sent (LoadError).

    Nothing here checks whether an activity may be scheduled: that is the schedule's job."""
    data = bytes(app_data)
    if not data:
        raise LoadError("bad_length", None, "no activity count octet")
    return _items(data, 1, data[0], "activities")


def build_insert(activities: Sequence[tuple[float, PusTc]]) -> bytes:
    """TC[11,4] application data for ``(release, packet)`` pairs (the inverse of
    :func:`parse_insert`; times rounded down to the CUC resolution, 2^-16 s).

    Raises:
        LoadError: ``too_many``, ``bad_time`` or ``bad_packet``.
    """
    if len(activities) > MAX_INSERT:
        raise LoadError(
            "too_many", None, f"{len(activities)} activities; one TC[11,4] carries {MAX_INSERT}"
        )
    return b"".join([bytes([len(activities)]), *_pack_items(activities)])


def parse_sequence_load(
    app_data: bytes | bytearray | memoryview,
) -> tuple[str, list[tuple[float, PusTc]]]:
    """TC[152,4] application data as ``(name, [(delay, packet), ...])`` (LoadError)."""
    data = bytes(app_data)
    if not data:
        raise LoadError("bad_length", None, "no name length octet")
    size = data[0]
    if len(data) < 1 + size + 2:
        raise LoadError("bad_length", None, f"a name of {size} octets and a step count do not fit")
    try:
        name = data[1 : 1 + size].decode("ascii")
    except UnicodeDecodeError:
        name = ""
    if not NAME.fullmatch(name):
        raise LoadError("bad_name", None, f"sequence name {data[1 : 1 + size]!r}")
    count = int.from_bytes(data[1 + size : 3 + size], "big")
    if not 1 <= count <= MAX_STEPS:
        raise LoadError("too_many", None, f"{count} steps; a sequence has 1..{MAX_STEPS}")
    return name, _items(data, 3 + size, count, "steps")


def build_sequence_load(name: str, steps: Sequence[tuple[float, PusTc]]) -> bytes:
    """TC[152,4] application data for a sequence (the inverse of :func:`parse_sequence_load`).

    Raises:
        LoadError: ``bad_name``, ``too_many`` (no step, or more than :data:`MAX_STEPS`),
            ``bad_time`` (a delay that is not a number >= 0 within the CUC range) or
            ``bad_packet``.
    """
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise LoadError("bad_name", None, f"sequence name {name!r}")
    if not 1 <= len(steps) <= MAX_STEPS:
        raise LoadError("too_many", None, f"{len(steps)} steps; a sequence has 1..{MAX_STEPS}")
    raw = name.encode("ascii")
    head = bytes([len(raw)]) + raw + len(steps).to_bytes(2, "big")
    return b"".join([head, *_pack_items(steps)])


def embedded(service: int, subtype: int, app_data: bytes) -> list[PusTc]:
    """The telecommands a telecommand carries (a schedule insert's activities, a sequence
    load's steps); ``[]`` for any other command.

    Raises:
        LoadError: the carrier's data does not decode.
    """
    if (service, subtype) == INSERT:
        return [packet for _, packet in parse_insert(app_data)]
    if (service, subtype) == SEQUENCE_LOAD:
        return [packet for _, packet in parse_sequence_load(app_data)[1]]
    return []


def confirmations(
    dictionary: NodeDictionary, command: Command, args: Mapping[str, Any]
) -> list[str]:
    """Why this command, with these arguments, needs the ground's hazardous confirmation: one
    line per command that needs it, the command itself and every command it carries (a
    schedule insert's activities, a sequence load's steps), ``[]`` when none does. What the
    ground asks the operator for, and what the station checks again (decision 0024). A carried
    command the node does not know, or whose arguments do not decode, is left for the node to
    refuse.

    Raises:
        LoadError: the data of a carrier does not decode.
    """
    found: list[str] = []
    rule = command.confirmation
    if rule is not None and command.needs_confirmation(args):
        found.append(f"{command.name} {rule.why or 'needs it'}".strip())
    if command.variable and command.key[1:] in (INSERT, SEQUENCE_LOAD):
        data = args.get("data", b"")
        carried = embedded(
            *command.key[1:], bytes(data) if isinstance(data, bytes | bytearray) else b""
        )
        for index, packet in enumerate(carried):
            inner = dictionary.command_at(packet.apid, packet.service, packet.subtype)
            if inner is None or inner.key[1:] in (INSERT, SEQUENCE_LOAD):
                continue  # the node refuses it (unknown command, a load inside a load)
            try:
                inner_args = inner.decode(packet.app_data)
            except ProtocolError:
                continue
            found += [f"{command.name} item {index}: {why}"
                      for why in confirmations(dictionary, inner, inner_args)]  # fmt: skip
    return found
