"""The requests of the simulator's back door, as schemas (decision 0028).

Every line a client sends the back door (:mod:`sim_hardware.backdoor`) is parsed by
:func:`parse_request` into one of the models below, a discriminated union on ``op``, before the
simulator acts on it. Each field is typed and bounded: strict types (no ``"1"`` for a number, no
number for a name), finite numbers only, times and spans in
0..:data:`~hal.schema.MAX_SECONDS` (so a fault's start plus its duration always fits the
lockstep's time conversion), bounded names and parameter objects, unknown fields refused. A
refused request raises :class:`~hal.schema.RequestError` naming the field and the problem; the
back door answers it ``{"ok": false, "error": ...}`` and nothing changes.

What a schema cannot know stays with the fault manager (:mod:`sim_hardware.faults`): whether
the target exists and is emulated, whether the kind applies to it, and each parameter's own
range (a link delay, a probability, what each board declares for its device faults); and with
the world model (:mod:`sim_hardware.world`): whether a tube has that serial and is in the OS.

=============  ===========================================================================
``inject``     ``target`` (``board``, ``board.device`` or ``link:<node>``), ``kind``,
               ``duration`` (s > 0), ``at`` (s >= 0), ``params`` (up to :data:`MAX_PARAMS`
               names to a boolean, an integer, a finite number or a short string)
``clear``      ``id`` (a fault number)
``clear_all``  ``target`` (optional)
``faults``     no field
``status``     no field
``world``      no field
``couple``     ``board`` (a stand-in board's name) and ``state`` (what the world model reads
               of it: :class:`ArmState` for ``sta_arm``; decision 0032)
``lose_tube``  ``serial`` (a tube's serial number, 1..:data:`TUBE_SERIAL_MAX`): the tube
               falls out of the OS (``World.lose_tube``)
=============  ===========================================================================
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal

from pydantic import Field, PlainValidator, StringConstraints, TypeAdapter

from hal.protocol.devices.sta_vision import MAX_SERIAL
from hal.schema import MAX_COUNT, MAX_INT, MAX_NUMBER, MAX_SECONDS, Name, Seconds, StrictModel
from hal.schema import parse as parse_schema

__all__ = [
    "MAX_PARAMS",
    "OPS",
    "TUBE_SERIAL_MAX",
    "ArmState",
    "BackdoorRequest",
    "ClearAllRequest",
    "ClearRequest",
    "CoupleRequest",
    "FaultsRequest",
    "InjectRequest",
    "LoseTubeRequest",
    "StatusRequest",
    "WorldRequest",
    "parse_request",
]

MAX_PARAMS: Final = 16
"""Most parameters of one fault (the widest fault takes four)."""
MAX_TEXT: Final = 64
"""Longest string parameter (a status field, a command name, an element)."""
TUBE_SERIAL_MAX: Final = MAX_SERIAL
"""Highest tube serial number a request may name: the highest the arm's cameras read
(:data:`hal.protocol.devices.sta_vision.MAX_SERIAL`, 999,999)."""

Target = Annotated[
    str,
    StringConstraints(
        pattern=r"^(link:[a-z][a-z0-9_]*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?)$", max_length=72
    ),
]
"""A fault's target: ``board``, ``board.device`` or ``link:<node>``."""
Span = Annotated[float, Field(gt=0.0, le=MAX_SECONDS, allow_inf_nan=False)]
"""A fault's duration, seconds > 0."""


def _param(value: Any) -> bool | int | float | str:
    """A fault parameter: a boolean, a bounded integer, a finite bounded number or a short
    line of text (its meaning is checked by the fault manager)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"integer beyond +-{MAX_INT}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise ValueError(f"not a finite number within +-{MAX_NUMBER:g}")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT or not value.isprintable():
            raise ValueError(f"a string parameter is printable, at most {MAX_TEXT} characters")
        return value
    kind = {type(None): "null", list: "an array", dict: "an object"}.get(type(value), "that")
    raise ValueError(f"a boolean, a number or a string, not {kind}")


Param = Annotated[Any, PlainValidator(_param)]


class InjectRequest(StrictModel):
    """Start a fault now (or schedule it for ``at``)."""

    op: Literal["inject"]
    target: Target
    kind: Name
    duration: Span | None = None
    at: Seconds | None = None
    params: Annotated[dict[Name, Param], Field(max_length=MAX_PARAMS)] = Field(default_factory=dict)


class ClearRequest(StrictModel):
    """End (or unschedule) one fault."""

    op: Literal["clear"]
    id: Annotated[int, Field(ge=1, le=MAX_COUNT)]


class ClearAllRequest(StrictModel):
    """End every fault (of ``target``, when given)."""

    op: Literal["clear_all"]
    target: Target | None = None


class FaultsRequest(StrictModel):
    """Every fault scheduled or in effect, and the latest history."""

    op: Literal["faults"]


class StatusRequest(StrictModel):
    """Time, lockstep, faults, links and the world in brief."""

    op: Literal["status"]


class WorldRequest(StrictModel):
    """The world model's snapshot."""

    op: Literal["world"]


Angle = Annotated[float, Field(ge=-360.0, le=360.0, allow_inf_nan=False)]
"""A joint angle, degrees."""
Serial = Annotated[int, Field(ge=0, le=MAX_INT)]
"""A tube's serial number."""


class ArmState(StrictModel):
    """What the world model reads of a stand-in arm (``sim_hardware.devices.sta_arm.StaArm``):
    its joints' angles and targets (degrees), the fingers' opening (mm), the tube it holds and
    the one between its fingers, and the tubes that slipped from it since the last report."""

    angle: Annotated[list[Angle], Field(min_length=7, max_length=7)]
    target: Annotated[list[Angle], Field(min_length=7, max_length=7)]
    opening: Annotated[float, Field(ge=0.0, le=1000.0, allow_inf_nan=False)]
    held_tube: Serial | None = None
    presented_tube: Serial | None = None
    slipped: Annotated[list[Serial], Field(max_length=MAX_PARAMS)] = Field(default_factory=list)


class CoupleRequest(StrictModel):
    """A stand-in board's state for the world model; the reply is what the world did to it
    (``sim_hardware.remote_coupling``, decision 0032)."""

    op: Literal["couple"]
    board: Literal["sta_arm"]
    state: ArmState


class LoseTubeRequest(StrictModel):
    """Fault: the tube ``serial`` falls out of the OS and is lost (``World.lose_tube``); the
    reply names where it was lost from (``from``, a tube location, and ``slot``)."""

    op: Literal["lose_tube"]
    serial: Annotated[int, Field(ge=1, le=TUBE_SERIAL_MAX)]


BackdoorRequest = Annotated[
    InjectRequest
    | ClearRequest
    | ClearAllRequest
    | FaultsRequest
    | StatusRequest
    | WorldRequest
    | CoupleRequest
    | LoseTubeRequest,
    Field(discriminator="op"),
]
"""Any request of the back door."""

OPS: Final = ("inject", "clear", "clear_all", "faults", "status", "world", "couple", "lose_tube")
_ADAPTER: Final[TypeAdapter[BackdoorRequest]] = TypeAdapter(BackdoorRequest)


def parse_request(request: Any) -> BackdoorRequest:
    """A decoded back-door line as its request model.

    Raises:
        hal.schema.RequestError: anything else (one line naming the field and the problem).
    """
    return parse_schema(_ADAPTER, request, OPS)
