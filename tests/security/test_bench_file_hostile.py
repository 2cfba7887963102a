"""Bench files as hostile input (issue 17, decision 0030): whatever a bench file holds, the
loader answers with one :class:`~hal.bench.BenchError` naming the file and the field, or with a
bench whose every value is bounded; never with another exception. Hypothesis puts every TOML
type at every key of a valid bench, absurd numbers (NaN, infinities, 1e308, huge integers,
negatives) at every number, and arbitrary text and octets in place of the file. Through the
real command line, the operator sees one line and no traceback, and no process is started."""

from __future__ import annotations

import copy
import datetime as dt
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal.bench import (
    MAX_BLACKOUTS,
    MAX_FAULTS,
    MAX_LIGHT_TIME,
    MAX_NAME,
    MAX_PARAM_INT,
    MAX_PARAM_NUMBER,
    MAX_PARAM_TEXT,
    MAX_PARAMS,
    MAX_PATH,
    MAX_SECONDS,
    MAX_SEED,
    MAX_TICK,
    MIN_TICK,
    Bench,
    BenchError,
    load_bench,
    parse_bench,
)

SOURCE = "hostile.toml"

# A valid bench that uses every key the format knows, so that every key can be attacked.
VALID: dict[str, Any] = {
    "seed": 7,
    "clock": "sim",
    "tick": 0.1,
    "duration_limit": 7200.0,
    "keys": "generate",
    "runs_dir": "runs",
    "archive": "sqlite",
    "nodes": {
        "lander": {"radio": "sim", "radio_baud": 115200, "scid": 100, "spi": 1,
                   "light_time": 0.5, "bit_error_rate": 1e-7, "blackouts": [[10.0, 20.0]],
                   "space_link": {"t1": 2.0, "fop_window": 2, "farm_window": 10}},
        "mav": {"radio": "sim", "scid": 101, "spi": 2},
    },
    "boards": {
        "sta_arm": {"node": "lander", "port": "sim", "baud": 115200, "usb_serial": "A50285BI"},
        "mav_pyro": {"node": "mav", "port": "sim"},
    },
    "faults": [
        {"at": 30.0, "target": "sta_arm.wrist", "kind": "bias", "duration": 12.5,
         "params": {"amount": 0.5, "unit": "deg", "latched": True, "joint": 3}},
        {"at": 0.0, "target": "link:mav", "kind": "delay", "params": {"seconds": 2.0}},
    ],
}  # fmt: skip

ABSURD: tuple[float | int, ...] = (
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    2**64,
    -(2**64),
    10**100,
    -1,
)
"""Numbers no field takes (a fault parameter may be -1; a tick takes no tiny one either)."""


def paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every key and array element under ``value``, as a path of keys and indices."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        here = (*path, key)
        yield here
        if isinstance(item, dict | list):
            yield from paths(item, here)


def dotted(path: tuple[str | int, ...]) -> str:
    """A path as the loader names a field: ``faults[0].params.amount``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def replaced(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The valid bench with the value at ``path`` replaced."""
    doc = copy.deepcopy(VALID)
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


def load(doc: dict[str, Any]) -> Bench:
    return parse_bench(tomli_w.dumps(doc), SOURCE)


def assert_one_line_naming(error: BenchError, path: tuple[str | int, ...]) -> None:
    """The message is one line that starts with the file and names the field changed, or a
    table or array that holds it (a missing key is named under its table; a clash between two
    fields names both)."""
    message = str(error)
    assert message.startswith(f"{SOURCE}: ") and "\n" not in message, message
    assert len(message) < 600, message  # a huge value is shown by its start only
    assert_worded(message)
    named = [dotted(path[:n]) for n in range(len(path), 0, -1)]
    assert any(name in message for name in named), (named[0], message)
    assert error.reason == "bad_bench"


PYDANTIC_WORDS = ("Input should", "Field required", "Extra inputs", "String should", "should have")


def assert_worded(message: str) -> None:
    """The schema's refusal is said in the bench file's words, never in pydantic's own."""
    assert not any(words in message for words in PYDANTIC_WORDS), message


def assert_bounded(bench: Bench) -> None:
    """What an accepted bench holds is inside the loader's bounds."""
    assert 0 <= bench.seed <= MAX_SEED and MIN_TICK <= bench.tick <= MAX_TICK
    assert bench.duration_limit is None or 0 < bench.duration_limit <= MAX_SECONDS
    assert len(str(bench.runs_dir)) <= MAX_PATH
    for node in bench.nodes.values():
        assert 0 <= node.light_time <= MAX_LIGHT_TIME and 0 <= node.bit_error_rate <= 1
        assert len(node.blackouts) <= MAX_BLACKOUTS and len(node.radio) <= MAX_PATH
        assert all(0 <= a < b <= MAX_SECONDS for a, b in node.blackouts)
        for name in ("t1", "clcw_interval", "challenge_interval", "idle_flush"):
            assert 0 < getattr(node.space_link, name) <= MAX_SECONDS
    for board in bench.boards.values():
        assert len(board.port) <= MAX_PATH and len(board.usb_serial or "") <= MAX_NAME
    assert len(bench.faults) <= MAX_FAULTS
    for fault in bench.faults:
        assert 0 <= fault.at <= MAX_SECONDS and len(fault.target) <= MAX_NAME
        assert fault.duration is None or 0 < fault.duration <= MAX_SECONDS
        assert len(fault.params) <= MAX_PARAMS
        for item in fault.params.values():
            if isinstance(item, str):
                assert len(item) <= MAX_PARAM_TEXT
            elif isinstance(item, float):
                assert math.isfinite(item) and abs(item) <= MAX_PARAM_NUMBER
            elif isinstance(item, int):
                assert abs(item) <= MAX_PARAM_INT


# ---------------------------------------------------------------------------- generated values


def at(path: tuple[str | int, ...]) -> Any:
    """The valid bench's value at ``path``."""
    value: Any = VALID
    for part in path:
        value = value[part]
    return value


PATHS = list(paths(VALID))
NUMBERS = [p for p in PATHS if isinstance(at(p), int | float) and not isinstance(at(p), bool)]
PARAMS = [p for p in NUMBERS if "params" in p]

# Every TOML type: strings, integers (some far beyond 64 bits), floats (NaN and the infinities
# too), booleans, dates, times and date-times, arrays and tables, nested.
SCALARS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda n, c: "/dev/" + c * n, st.integers(4000, 6000), st.sampled_from("x/ \t")),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**1000, -(10**1000), 2**63, 2**64 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ABSURD),
    st.booleans(),
    st.dates(),
    st.times(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
HYPOTHESIS = settings(max_examples=1500, deadline=None, database=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def test_the_valid_bench_loads_and_every_key_is_attacked():
    assert_bounded(load(VALID))
    assert len(PATHS) >= 50 and len(NUMBERS) >= 20 and PARAMS


@HYPOTHESIS
@given(path=st.sampled_from(PATHS), value=TOML_VALUES)
def test_any_toml_value_at_any_key_is_a_bench_or_one_error_naming_the_field(path, value):
    try:
        bench = load(replaced(path, value))
    except BenchError as error:
        assert_one_line_naming(error, path)
    else:
        assert_bounded(bench)


@pytest.mark.parametrize("path", NUMBERS, ids=dotted)
def test_absurd_numbers_at_every_number_are_refused_naming_the_field(path):
    for number in (*ABSURD, 1e-300) if path == ("tick",) else ABSURD:
        if "params" in path and number == -1:  # a parameter may be negative
            continue
        with pytest.raises(BenchError) as caught:
            load(replaced(path, number))
        assert_one_line_naming(caught.value, path)
        assert dotted(path) in str(caught.value), caught.value


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(
    doc=st.dictionaries(
        st.sampled_from(list(VALID)) | st.text(max_size=12), TOML_VALUES, max_size=6
    )
)
def test_any_toml_document_is_a_bench_or_one_error(doc):
    try:
        bench = load(doc)
    except BenchError as error:
        assert str(error).startswith(f"{SOURCE}: ") and "\n" not in str(error)
        assert_worded(str(error))
    else:
        assert_bounded(bench)


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(text=st.text(max_size=300))
def test_any_text_is_a_bench_or_one_error(text):
    with pytest.raises(BenchError) as caught:
        parse_bench(text, SOURCE)
    assert str(caught.value).startswith(f"{SOURCE}: ") and "\n" not in str(caught.value)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(data=st.binary(max_size=300))
def test_any_file_is_read_to_one_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("octets") / "bench.toml"
    path.write_bytes(data)
    with pytest.raises(BenchError) as caught:
        load_bench(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed = " + "[" * 100_000 + "]" * 100_000, "nested too deep"),
        ("seed = " + "{a = " * 50_000 + "1" + "}" * 50_000, "nested too deep"),
        ("seed = " + "9" * 5000, "an integer too long to read"),
        ("seed = 0x" + "f" * 5000, "seed: must be an integer in 0..9223372036854775807, "
         "not a 20000-bit integer"),
        ("seed = 1\nkeys = " + '"' + "k" * 500_000 + '"', "keys: must be"),
    ],
    ids=["arrays", "tables", "decimal", "hex", "long-string"],
)  # fmt: skip
def test_pathological_toml_is_one_short_error(text, expected):
    with pytest.raises(BenchError) as caught:
        parse_bench(text, SOURCE)
    message = str(caught.value)
    assert expected in message and "\n" not in message and len(message) < 600, message[:600]


# ---------------------------------------------------------------------------- the command line


def msr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ground_tools.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


BAD_BENCHES = {
    "at-1e308": (replaced(("faults", 0, "at"), 1e308), "faults[0].at: must be a number"),
    "duration-nan": (replaced(("faults", 0, "duration"), math.nan), "faults[0].duration: "),
    "seed-huge": (replaced(("seed",), 10**30), "seed: must be an integer in 0.."),
    "tick-tiny": (replaced(("tick",), 1e-300), "tick: must be a number of seconds in 0.001..60"),
    "real-board-sim-clock": (replaced(("boards", "sta_arm", "port"), "/dev/ttyUSB7"),
                             'boards.sta_arm.port: sta_arm is a real board on "/dev/ttyUSB7", '
                             'and a real one cannot be paused, so use clock = "wall"'),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_BENCHES))
def test_msr_bench_up_with_a_bad_bench_prints_one_line_and_starts_nothing(tmp_path, case):
    doc, expected = BAD_BENCHES[case]
    bench = tmp_path / "bad.toml"
    bench.write_text(tomli_w.dumps(doc))
    runs = tmp_path / "runs"
    result = msr("bench", "up", "--bench", str(bench), "--runs-dir", str(runs), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"msr bench: {bench}: "), result.stderr
    assert expected in lines[0], lines[0]
    assert not runs.exists() or not any(runs.iterdir())  # no run folder: nothing started


def test_msr_bench_up_with_a_huge_file_prints_one_line(tmp_path):
    bench = tmp_path / "huge.toml"
    bench.write_text(tomli_w.dumps(VALID) + "#" * (2 << 20) + "\n")
    result = msr("bench", "up", "--bench", str(bench), "--runs-dir", str(tmp_path / "r"),
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"msr bench: {bench}: cannot read the bench file: larger than 1048576 octets (1 MiB), "
        "not a bench file"
    ]


@pytest.mark.parametrize(
    "spec",
    ["sta_arm:stall@1e308", "sta_arm:stall@inf", "sta_arm:stall@nan", "sta_arm:stall+1e308",
     "sta_arm:stall@1+inf", "sta_arm:stall+nan", "sta_arm:stall@-1e308", "sta_arm:stall@1e999",
     "sta_arm:stall@" + "9" * 5000],
)  # fmt: skip
def test_msr_campaign_refuses_an_absurd_fault_time_in_one_line(tmp_path, spec):
    result = msr("campaign", "--fault", spec, "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("msr campaign: fault "), result.stderr
    assert "seconds" in lines[0] and len(lines[0]) < 300, lines[0]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/bench.json"))
