"""The requests of the ground station's control port, as schemas (decision 0028).

Every line a client sends the station (:mod:`ground_tools.station`) is parsed by
:func:`parse_request` into one of the models below, a discriminated union on ``op``, before the
station acts on it or archives anything of it. Each field is typed and bounded (strict types:
no ``"1"`` for a number, no number for a name, no ``1`` for ``true``; finite numbers only;
bounded strings, lists and objects; unknown fields refused). A refused request raises
:class:`~hal.schema.RequestError`, whose one line names the field and the problem; the station
answers it as ``{"error": ...}`` and goes on.

What a schema cannot know stays with the station: whether a node is one of the bench's, whether
a command is in the node's dictionary and its arguments in their declared ranges (the dictionary
checks them), whether a hazardous command is confirmed.

=============  ===========================================================================
``status``     no field
``cmd``        ``node``, ``name``, ``args`` (name to value: a boolean, an integer, a finite
               number, an array of those, or octets as ``{"hex": "..."}``), ``source``,
               ``confirmed`` (boolean), ``ack`` (PUS ack flags, 0..15)
``stages``     ``node``, ``request_id`` (8 hex digits)
``latest``     ``names``: up to :data:`MAX_NAMES` ``NODE.PACKET[.FIELD]``
``packets``    ``since`` (cursor >= 0), ``limit`` (0..:data:`MAX_LIMIT`)
``step``       ``until`` (simulated s, 0..:data:`~hal.schema.MAX_SECONDS`), ``wake``, ``since``
``pace``       ``pace``: a number :data:`MIN_PACE`..:data:`MAX_PACE`, ``"fast"`` or null
``stop``       no field
``resync``     ``node``
``limits``     ``since`` (limit-event cursor >= 0), ``limit`` (0..:data:`MAX_LIMIT`), ``all``
               (boolean: every monitored point, not only those out of limits)
=============  ===========================================================================
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal

from pydantic import Field, PlainValidator, StringConstraints, TypeAdapter

from hal.protocol.file_names import NAME
from hal.protocol.pus import ACK_ALL
from hal.protocol.spacepacket import MAX_DATA_FIELD_SIZE
from hal.schema import MAX_COUNT, MAX_INT, Name, Seconds, StrictModel, parse

__all__ = [
    "MAX_LIMIT",
    "MAX_NAMES",
    "MAX_PACE",
    "MIN_PACE",
    "OPS",
    "CmdRequest",
    "ControlRequest",
    "FilesRequest",
    "LatestRequest",
    "LimitsRequest",
    "PaceRequest",
    "PacketsRequest",
    "ResyncRequest",
    "StagesRequest",
    "StatusRequest",
    "StepRequest",
    "StopRequest",
    "parse_request",
]

MIN_PACE: Final = 0.1
"""Slowest pace: a held tick must stay well inside the simulator's round timeout."""
MAX_PACE: Final = 1e6
"""Fastest numeric pace (``"fast"`` or null: as fast as the bench computes)."""
MAX_LIMIT: Final = 20_000
"""Most packets one ``packets`` request returns (the station's history holds no more)."""
MAX_NAMES: Final = 256
"""Most points one ``latest`` request names."""
MAX_ARGS: Final = 64
"""Most arguments of one command (the dictionary's widest has a handful)."""
MAX_ITEMS: Final = 64
"""Longest array argument (the dictionary's longest has 30 items)."""
MAX_OCTETS: Final = MAX_DATA_FIELD_SIZE
"""Longest octet-string argument: a whole packet data field."""
MAX_SOURCE: Final = 256
"""Longest ``source`` (how a command is named in the command history)."""

CommandName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)
]
"""A command of the flight dictionary: ``component.command``."""
PointName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_\[\]]+)+$", max_length=128)
]
"""A telemetry point or packet: ``NODE.PACKET`` or ``NODE.PACKET.FIELD``."""
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$", max_length=MAX_SOURCE)]
"""One line of printable text."""
RequestIdHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}$")]
"""A PUS-1 request id: its 4 octets in lower-case hex."""
Cursor = Annotated[int, Field(ge=0, le=MAX_COUNT)]


def _scalar(value: Any) -> bool | int | float:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"integer beyond +-{MAX_INT}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    raise ValueError(f"a boolean, a number, an array of them or {{'hex': ...}}, not {_kind(value)}")


def _argument(value: Any) -> Any:
    """A command argument from JSON: a scalar, an array of scalars, or octets as hex."""
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise ValueError(f"an array of at most {MAX_ITEMS} items, not {len(value)}")
        return [_scalar(item) for item in value]
    if isinstance(value, dict):
        text = value.get("hex")
        if set(value) != {"hex"} or not isinstance(text, str):
            raise ValueError("octets are {'hex': '<hex digits>'} and nothing else")
        if len(text) > 2 * MAX_OCTETS:
            raise ValueError(f"at most {MAX_OCTETS} octets")
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise ValueError("hex: not an even number of hex digits") from None
    return _scalar(value)


def _kind(value: Any) -> str:
    names = {str: "a string", type(None): "null", dict: "an object", list: "an array",
             bool: "a boolean"}  # fmt: skip
    return names.get(type(value), "that")


Argument = Annotated[Any, PlainValidator(_argument)]
"""A command argument: bool, int, finite float, a list of those, or bytes (from hex)."""


class StatusRequest(StrictModel):
    """Simulated time, pace, counts and each node's link."""

    op: Literal["status"]


class CmdRequest(StrictModel):
    """Encode a command with the node's dictionary and send it (decision 0016, 0024)."""

    op: Literal["cmd"]
    node: Name
    name: CommandName
    args: Annotated[dict[Name, Argument], Field(max_length=MAX_ARGS)] = Field(default_factory=dict)
    source: Text = "station"
    confirmed: bool = False
    ack: Annotated[int, Field(ge=0, le=15)] = ACK_ALL


class StagesRequest(StrictModel):
    """The PUS-1 reports received for one command."""

    op: Literal["stages"]
    node: Name
    request_id: RequestIdHex


class LatestRequest(StrictModel):
    """The last value (and its time) of each named point or packet."""

    op: Literal["latest"]
    names: Annotated[list[PointName], Field(max_length=MAX_NAMES)] = Field(default_factory=list)


class PacketsRequest(StrictModel):
    """The decoded packets after a cursor."""

    op: Literal["packets"]
    since: Cursor = 0
    limit: Annotated[int, Field(ge=0, le=MAX_LIMIT)] = 1000


class StepRequest(StrictModel):
    """Answer once simulated time reaches ``until`` (or, with ``wake``, at the first packet
    after ``since``)."""

    op: Literal["step"]
    until: Seconds
    wake: bool = False
    since: Cursor | None = None


def _pace(value: Any) -> float | None:
    """A pace: null or ``"fast"`` (as fast as possible), or a finite number in range."""
    if value is None or value == "fast":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a number, 'fast' or null, not {_kind(value)}")
    if not (math.isfinite(value) and MIN_PACE <= value <= MAX_PACE):
        raise ValueError(f"a finite number in {MIN_PACE:g}..{MAX_PACE:g}, 'fast' or null")
    return float(value)


class PaceRequest(StrictModel):
    """Set the pace: simulated seconds per wall second, or as fast as possible."""

    op: Literal["pace"]
    pace: Annotated[float | None, PlainValidator(_pace)]


class StopRequest(StrictModel):
    """End the station."""

    op: Literal["stop"]


class HoldRequest(StrictModel):
    """Answered once the station holds a tick (at ``--pace held``: before a procedure acts on
    the bench outside the station, e.g. through the simulator's back door, decision 0034)."""

    op: Literal["hold"]


class ResyncRequest(StrictModel):
    """Resynchronise a node's uplink (decision 0023); the station checks the node is its."""

    op: Literal["resync"] = "resync"
    node: Name


class LimitsRequest(StrictModel):
    """The limit state (decision 0036): the points out of limits now (``all``: every monitored
    point with its level) and the limit events after the cursor ``since``."""

    op: Literal["limits"]
    since: Cursor = 0
    limit: Annotated[int, Field(ge=0, le=MAX_LIMIT)] = 1000
    all: bool = False


FileName = Annotated[str, Field(min_length=1, max_length=64, pattern=f"^{NAME.pattern}$")]
"""A file's name as CFDP carries it here (:data:`hal.protocol.file_names.NAME`)."""


class FilesRequest(StrictModel):
    """The files that came down by CFDP (decision 0056): every transfer that ended, oldest
    first, optionally only a node's or a name's; ``data``: with the octets (hex) of the latest
    whole file that matches."""

    op: Literal["files"]
    node: Name | None = None
    name: FileName | None = None
    data: bool = False


ControlRequest = Annotated[
    StatusRequest | CmdRequest | StagesRequest | LatestRequest | PacketsRequest | StepRequest
    | PaceRequest | StopRequest | ResyncRequest | HoldRequest | LimitsRequest | FilesRequest,
    Field(discriminator="op"),
]  # fmt: skip
"""Any request of the control port."""

OPS: Final = ("status", "cmd", "stages", "latest", "packets", "step", "pace", "stop", "resync",
               "hold", "limits", "files")  # fmt: skip
_ADAPTER: Final[TypeAdapter[ControlRequest]] = TypeAdapter(ControlRequest)


def parse_request(request: Any) -> ControlRequest:
    """A decoded control-port line as its request model.

    Raises:
        hal.schema.RequestError: anything else (one line naming the field and the problem).
    """
    return parse(_ADAPTER, request, OPS)
