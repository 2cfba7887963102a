"""Hostile lines for the control-port fuzz tests (``test_control_fuzz.py``,
``test_backdoor_fuzz.py``): random lines, every JSON type in every field of every request, and
the numbers JSON can spell that no time or count can take (decision 0028)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.schema import RequestError

SPECIAL_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e999", "-1e999")
"""Numbers as JSON text: Python's json reads the first three and 1e999 (as inf) all the same."""

TYPE_SAMPLES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, 2**64, "", "x", "lander", "1", [], [1], ["x"], {}, {"a": 1},
    {"hex": "00"}, "x" * 5000, [[[[1]]]],
)  # fmt: skip
"""One value of every JSON type (and a few shapes of each) to put where another belongs."""

MARK = "<<NUMBER>>"


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path to a value inside a request (the request's own fields and what they hold)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _put(request: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(request)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


def type_confusions(templates: list[dict[str, Any]], accepts: Callable[[Any], bool]) -> list[bytes]:
    """Each template with each of its fields (at any depth) replaced by each of
    :data:`TYPE_SAMPLES`, with an unknown field added, and the whole request replaced by each
    sample; only the lines the schema refuses (``accepts`` is False), so that every one of
    them must be answered with an error and nothing done."""
    lines: list[bytes] = []
    seen: set[bytes] = set()
    candidates: list[Any] = list(TYPE_SAMPLES)
    for template in templates:
        candidates.append({**template, "unexpected": 1})
        for path in _paths(template):
            candidates.extend(_put(template, path, sample) for sample in TYPE_SAMPLES)
    for candidate in candidates:
        line = json.dumps(candidate).encode()
        if line not in seen and not accepts(candidate):
            seen.add(line)
            lines.append(line)
    return lines


def number_lines(
    templates: list[dict[str, Any]], numeric: list[tuple[str | int, ...]]
) -> list[bytes]:
    """Each template with the field at each of ``numeric`` (those that exist in it) spelled as
    each of :data:`SPECIAL_NUMBERS`."""
    lines = []
    for template in templates:
        for path in _paths(template):
            if path not in numeric:
                continue
            text = json.dumps(_put(template, path, MARK))
            for number in SPECIAL_NUMBERS:
                lines.append(text.replace(json.dumps(MARK), number).encode())
    return lines


def accepts(parse: Callable[[Any], object]) -> Callable[[Any], bool]:
    """Whether a schema's ``parse_request`` takes a request."""

    def check(request: Any) -> bool:
        try:
            parse(request)
        except RequestError:
            return False
        return True

    return check


def _no_newline(data: bytes) -> bytes:
    return data.replace(b"\n", b" ")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value (NaN and infinities included: Python's json writes and reads them)."""


def random_lines(ops: tuple[str, ...], keys: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """One random line: octets, text, or a JSON object with a known or random ``op`` and known
    or random fields holding any JSON value."""
    objects = st.builds(
        lambda op, fields: json.dumps({"op": op, **fields}).encode(),
        st.sampled_from(ops) | JSON_VALUES,
        st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), JSON_VALUES, max_size=4),
    )
    lines = (
        st.binary(min_size=1, max_size=80).map(_no_newline)
        | st.text(min_size=1, max_size=40).map(lambda t: _no_newline(t.encode()))
        | JSON_VALUES.map(lambda v: json.dumps(v).encode())
        | objects
    )
    return lines.filter(lambda line: bool(line.strip()))  # a blank line is no request


def send_random_lines(
    refuse: Callable[[list[bytes]], None],
    ops: tuple[str, ...],
    keys: tuple[str, ...],
    accepts: Callable[[Any], bool],
    count: int,
    batch: int,
) -> int:
    """Send at least ``count`` random hostile lines (:func:`random_lines`), ``batch`` at a time,
    through ``refuse`` (which asserts each is refused); a random line the schema ``accepts``
    (a valid request such as ``{"op": "status"}``) is not sent. Returns how many were sent."""
    sent = 0

    def accepted(line: bytes) -> bool:
        try:
            return accepts(json.loads(line))
        except ValueError:
            return False

    @settings(max_examples=count // batch + 20, database=None, derandomize=True)
    @given(st.lists(random_lines(ops, keys), min_size=batch, max_size=batch))
    def fuzz(lines: list[bytes]) -> None:
        nonlocal sent
        hostile = [line for line in lines if not accepted(line)]
        refuse(hostile)
        sent += len(hostile)

    fuzz()
    return sent
