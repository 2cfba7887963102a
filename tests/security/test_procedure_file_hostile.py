"""Procedure files as hostile input (issue 17, decision 0030). A procedure is operator code,
trusted to run once it is loaded; the loader still bounds and checks what it reads. A file larger
than 1 MiB, one with a NUL octet, one that is not UTF-8 and one that is not valid Python are
each refused with one line naming the file and the line, before anything is sent: on a live
bench, ``msr run`` of each leaves nothing sent up or archived, and every node still answers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ground_tools.api import connect
from ground_tools.archive import Archive
from ground_tools.bench_ctl import BenchUp
from ground_tools.procedure import MAX_PROCEDURE_BYTES, ProcedureError, load_procedure
from tests.security.control_bench import (
    assert_every_node_answers,
    assert_nothing_done,
    live_bench,
    transmitted,
)

# Each bad file sends a command first, so a file run despite its flaw would show.
SEND = b'cmd("lander core.ping")\n'

BAD: dict[str, tuple[bytes, str]] = {
    "over-1-MiB": (SEND + b"#" * MAX_PROCEDURE_BYTES + b"\n",
                   "cannot read the procedure: larger than 1048576 octets (1 MiB)"),
    "nul": (SEND + b"x = 1\n# a NUL \x00 here\n", ":3: a NUL octet (octet "),
    "latin-1": (SEND + b"x = 1\n# caf\xe9\n", ":3: not UTF-8 (octet "),
    "syntax": (SEND + b"x = 1\nif x\n    pass\n", ":3: expected ':'"),
    "nested-parentheses": (SEND + b"x = " + b"(" * 100_000 + b")" * 100_000 + b"\n",
                           ":2: too many nested parentheses"),
    "nested-unary": (SEND + b"x = " + b"-" * 100_000 + b"1\n",
                     ": an expression nested too deep to compile"),
    "indentation": (SEND + b"if 1:\n" + b"".join(b" " * i + b"if 1:\n" for i in range(1, 200)),
                    ":102: too many levels of indentation"),
}  # fmt: skip


def write(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.py"
    path.write_bytes(BAD[case][0])
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_procedure_file_is_one_error_naming_the_file_and_the_line(tmp_path, case):
    path = write(tmp_path, case)
    with pytest.raises(ProcedureError) as caught:
        load_procedure(path)
    message = str(caught.value)
    assert message.startswith(f"{path}") and BAD[case][1] in message, message
    assert "\n" not in message and len(message) < 300, message


def test_a_good_procedure_loads_with_or_without_a_byte_order_mark(tmp_path):
    path = tmp_path / "ok.py"
    path.write_bytes(b"\xef\xbb\xbf" + SEND + "# café\n".encode())
    assert load_procedure(path).co_filename == str(path)
    path.write_bytes(b"#" * (MAX_PROCEDURE_BYTES - 1) + b"\n")  # the bound itself
    assert load_procedure(path)


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(ProcedureError, match=r"nope\.py: cannot read the procedure: No such"):
        load_procedure(tmp_path / "nope.py")
    with pytest.raises(ProcedureError, match=r"cannot read the procedure: Is a directory"):
        load_procedure(tmp_path)


def test_an_endless_device_is_read_only_up_to_the_bound():
    with pytest.raises(ProcedureError, match=r"^/dev/zero: cannot read the procedure: larger"):
        load_procedure(Path("/dev/zero"))


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_octets_are_code_or_one_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("octets") / "procedure.py"
    path.write_bytes(data)
    try:
        load_procedure(path)
    except ProcedureError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)


# ---------------------------------------------------------------------------- on a live bench


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchUp]:
    with live_bench(tmp_path_factory.mktemp("procedures") / "runs") as up:
        yield up


def test_msr_run_refuses_each_bad_file_in_one_line_and_sends_nothing(bench, tmp_path):
    with connect(bench.run_dir, source="security check") as session:
        before = transmitted(session)
    for case in BAD:
        path = write(tmp_path, case)
        result = subprocess.run(
            [sys.executable, "-m", "ground_tools.cli", "run", str(path), "--run-dir",
             str(bench.run_dir)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert result.stdout == "", result.stdout[-2000:]  # not one operation ran
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"msr run: {path}"), result.stderr[-2000:]
        assert BAD[case][1] in lines[0], lines[0]
    assert_nothing_done(bench.run_dir, before)
    with Archive.open_readonly(bench.run_dir / "archive.sqlite") as archive:
        sources = {c.source for c in archive.commands()}
    assert not {f"procedure {case}.py" for case in BAD} & sources, sources
    assert_every_node_answers(bench.run_dir)
