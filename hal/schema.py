"""Building blocks of the request schemas of the bench's local control ports (the ground
station's control port, :mod:`ground_tools.control_messages`; the simulator's back door,
:mod:`sim_hardware.backdoor_messages`), decision 0028.

A line from a control port is hostile input (architecture.md §7): it is parsed into a pydantic
model whose every field is typed and bounded before anything acts on it or archives it. The
models here are strict (no coercion: ``"1"`` is not a number, ``1`` is not a name, ``1`` is not
``true``), frozen, and refuse unknown fields; numbers are finite (JSON's ``NaN``, ``Infinity``
and ``1e999``, which Python reads as ``inf``, are refused) and inside ranges the lockstep's time
conversion (:func:`hal.protocol.timing.seconds_to_us`) takes.

:func:`parse` turns any decoded JSON value into a model or raises :class:`RequestError`, whose
one-line message names the field (pydantic's ``loc``) and the problem (its ``msg``).
"""

from __future__ import annotations

import re
import tomllib
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from hal.protocol.timing import MAX_TIME_US, US_PER_SECOND

__all__ = [
    "MAX_COUNT",
    "MAX_INT",
    "MAX_NUMBER",
    "MAX_SECONDS",
    "FiniteNumber",
    "Name",
    "RequestError",
    "Seconds",
    "StrictModel",
    "parse",
]

MAX_SECONDS: Final = 1e9
"""The latest simulated time, and the longest span, a request may name: about 31 years, far
past any run, and (twice over, a start plus a duration) far inside
:data:`~hal.protocol.timing.MAX_TIME_US`, so no accepted time overflows the lockstep."""
if not 2 * MAX_SECONDS * US_PER_SECOND < MAX_TIME_US:  # pragma: no cover - a constant's check
    raise ImportError("hal.schema: MAX_SECONDS does not fit the lockstep's time range")
MAX_NUMBER: Final = 1e12
"""The largest magnitude of a free-form number (a fault parameter)."""
MAX_INT: Final = (1 << 63) - 1
"""The largest magnitude of a free-form integer (fits the archive's SQLite integers)."""
MAX_COUNT: Final = (1 << 63) - 1
"""The largest cursor or counter a request may name."""
MAX_NAME: Final = 64
"""The longest name (node, board, command, fault kind, parameter)."""
MAX_ERROR_INPUT: Final = 40
"""Characters of the refused value quoted in an error."""

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")
NAME_PATTERN: Final = r"^[a-z][a-z0-9_]*$"
"""A name: lower-case identifier (``lander``, ``sta_arm``, ``grasp_slip``)."""

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, min_length=1, max_length=MAX_NAME)]
"""A node, board, fault kind or parameter name."""
Seconds = Annotated[float, Field(ge=0.0, le=MAX_SECONDS, allow_inf_nan=False)]
"""A simulated time or span, finite, 0..:data:`MAX_SECONDS`."""
FiniteNumber = Annotated[float, Field(ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)]
"""A finite number of a free-form value."""


class RequestError(ValueError):
    """A request refused by its schema; the message is one line naming the field and the
    problem (``cmd: ack: Input should be less than or equal to 15``).

    Attributes:
        op: the request's ``op`` when it had a usable one, else ``""``.
        field: the dotted path of the bad field (``""``: the request as a whole).
        problem: what is wrong with it.
    """

    def __init__(self, op: str, field: str, problem: str) -> None:
        self.op, self.field, self.problem = op, field, problem
        where = ": ".join(part for part in (op, field) if part)
        text = f"{where}: {problem}" if where else problem
        super().__init__(_CONTROL.sub("?", text))  # one line, whatever the client sent


class StrictModel(BaseModel):
    """The base of every request: strict types, frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


M = TypeVar("M")


def parse(adapter: TypeAdapter[M], request: Any, ops: tuple[str, ...]) -> M:
    """``request`` (a decoded JSON value) as its model.

    Args:
        adapter: the discriminated union of the port's requests (on ``op``).
        request: whatever the line decoded to.
        ops: the known ``op`` values, to name them when the request's is unknown.

    Raises:
        RequestError: not an object, no or an unknown ``op``, or a field the schema refuses.
    """
    if not isinstance(request, dict):
        raise RequestError("", "", f"a request is a JSON object, not {_kind(request)}")
    op = request.get("op")
    if not isinstance(op, str) or op not in ops:
        shown = _show(op) if "op" in request else "missing"
        raise RequestError("", "op", f"unknown op {shown} (known: {', '.join(ops)})")
    try:
        return adapter.validate_python(request)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = [_field(part) for part in first["loc"]]
        if loc and loc[0] == op:  # the union's tag
            loc = loc[1:]
        problem = str(first["msg"]).replace("a valid dictionary", "a JSON object")
        if "input" in first and first["type"] not in ("missing", "extra_forbidden"):
            problem += f" (got {_show(first['input'])})"
        more = len(errors) - 1
        if more:
            problem += f" (and {more} more)"
        raise RequestError(op, ".".join(loc), problem) from None


def parse_toml(text: str, source: str, *, limit: int, what: str,
               error: type[Exception]) -> dict[str, Any]:  # fmt: skip
    """A TOML document from a file's ``text``, bounded before it is parsed (decision 0030): a
    text longer than ``limit`` characters, not TOML, an integer too long to read or nesting too
    deep each raise ``error`` with one line naming ``source`` (``what`` names the kind of file:
    ``bench file``)."""
    if len(text) > limit:
        raise error(f"{source}: longer than {limit} characters ({limit / (1 << 20):g} MiB), "
                    f"not a {what}")  # fmt: skip
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {exc}") from None
    except ValueError:  # an integer literal beyond Python's conversion limit (4300 digits)
        raise error(f"{source}: not valid TOML: an integer too long to read") from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise error(f"{source}: not valid TOML: arrays or tables nested too deep") from None


def _field(part: Any) -> str:
    """One step of a field's path: a name as it is, anything else (a key the client made up)
    quoted and cut short."""
    text = str(part)
    return text if _PLAIN.fullmatch(text) else _show(text)


def _show(value: Any) -> str:
    text = repr(value)
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= MAX_ERROR_INPUT else text[: MAX_ERROR_INPUT - 3] + "..."


def _kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)
