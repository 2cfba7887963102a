"""``msr`` output that pipes (issue 19, decision 0037), against a real SIL bench brought up with
``msr bench up`` and brought down after the module.

A reader that goes away (``msr ... | head -1``) costs no traceback, no message and no error
status; output in a pipe is not wrapped; archive queries honour ``--kind`` and ``--json``;
exports carry UTC beside simulated seconds, and a state's name beside its raw code.

Each closed-pipe case is run twice: as the shell pipeline an operator types (``| head -1``: the
first line arrives whole), and with the pipe closed before ``msr`` writes anything, so the
first write fails whatever the output's size (a short output can fit in the pipe's buffer and
never meet the closed end in a pipeline).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ground_tools.timefmt import mission_utc
from hal.bench import default_bench_path

MSR = [sys.executable, "-m", "ground_tools.cli"]
UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def msr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*MSR, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"msr {' '.join(args)} -> {done.returncode}: {done.stderr}"
    return done


def head_1(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``msr ARGS | head -1`` in bash with pipefail: the status is msr's if it failed."""
    line = f"set -o pipefail; {shlex.join([*MSR, *args])} | head -1"
    return subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def closed_early(*args: str, cwd: Path) -> tuple[int, str]:
    """``msr ARGS`` with its standard output's reader gone before it writes: status, stderr."""
    proc = subprocess.Popen([*MSR, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # Python takes far longer to start than this takes
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err


EPOCH = "2035-03-04T05:06:07Z"
"""The mission epoch of the module's bench: not the default, so UTC is seen to come from it."""


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory):
    """A bench (the default one with its own epoch) up in a scratch folder, the lander taken
    to nominal and back (a mode change in the archive), and down after the module."""
    where = tmp_path_factory.mktemp("pipes")
    text = default_bench_path().read_text(encoding="utf-8")
    (where / "epoch.toml").write_text(re.sub(r"(?m)^epoch = .*$", f"epoch = {EPOCH}", text),
                                      encoding="utf-8")  # fmt: skip
    msr("bench", "up", "--pace", "fast", "--bench", "epoch.toml", cwd=where)
    try:
        msr("cmd", "lander", "modes.set", "mode=nominal", cwd=where)
        msr("cmd", "lander", "modes.set", "mode=safe", cwd=where)
        yield where
    finally:
        subprocess.run([*MSR, "bench", "down"], cwd=where, capture_output=True, timeout=120)


def _capture(bench: Path) -> str:
    """The largest capture file of the run."""
    files = sorted((bench / "runs" / "latest" / "captures").glob("*.pcap"),
                   key=lambda path: path.stat().st_size)  # fmt: skip
    return str(files[-1])


CASES = {
    "archive export": ("archive", "export", "--format", "csv"),
    "archive export of one point": ("archive", "export", "lander.core.status.mode"),
    "archive query": ("archive", "query"),
    "archive query of points": ("archive", "query", "lander.core.status.uptime"),
    "archive query --json": ("archive", "query", "--kind", "frames", "--json"),
    "events": ("events", "--once"),
    "dict export": ("dict", "export", "--format", "xtce"),
}


@pytest.mark.parametrize("case", [*CASES, "capture decode"])
def test_a_reader_that_goes_away_costs_no_traceback_no_message_no_error(
    bench: Path, case: str
) -> None:
    args = CASES.get(case) or ("capture", "decode", _capture(bench))
    piped = head_1(*args, cwd=bench)
    assert (piped.returncode, piped.stderr) == (0, ""), piped.stderr
    assert piped.stdout.count("\n") == 1 and len(piped.stdout) > 1
    status, err = closed_early(*args, cwd=bench)
    assert (status, err) == (0, "")


def test_the_first_lines_in_a_pipe_are_whole(bench: Path) -> None:
    header = head_1("archive", "export", "--format", "csv", cwd=bench).stdout
    assert header == "sim_time,utc,parameter,node,packet,field,value,state,unit\n"
    first = json.loads(head_1("archive", "query", "--kind", "frames", "--json", cwd=bench).stdout)
    assert set(first) == {"sim_time", "utc", "wall_time", "node", "direction", "raw"}


def test_no_wrapping_in_a_pipe(bench: Path) -> None:
    env = {**os.environ, "COLUMNS": "80"}
    exported = subprocess.run([*MSR, "events", "--once"], cwd=bench, capture_output=True,
                              text=True, timeout=120, env=env)  # fmt: skip
    lines = exported.stdout.splitlines()  # an exported COLUMNS is a terminal's, not the pipe's
    assert max(len(line) for line in lines) > 80  # an event with a long detail is there
    assert all(UTC_STAMP.search(line) for line in lines), lines  # each event on its own line
    queried = msr("archive", "query", "--kind", "events", cwd=bench).stdout.splitlines()
    assert max(len(line) for line in queried) > 80
    assert all(UTC_STAMP.match(line) for line in queried)


def test_archive_query_honours_the_kind(bench: Path) -> None:
    events = msr("archive", "query", "--kind", "events", "--json", cwd=bench).stdout.splitlines()
    rows = [json.loads(line) for line in events]
    assert rows and {"event_id", "severity", "detail"} <= set(rows[0])
    assert "modes.changed" in {row["name"] for row in rows}
    commands = msr("archive", "query", "--kind", "commands", "--node", "lander",
                   cwd=bench).stdout  # fmt: skip
    assert "modes.set" in commands and "completed" in commands
    points = msr("archive", "query", "--kind", "points", cwd=bench).stdout.splitlines()
    assert "lander.core.status.mode" in points  # the parameters, as before
    refused = subprocess.run([*MSR, "archive", "query", "--kind", "events",
                              "lander.core.status.mode"], cwd=bench, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.startswith("msr archive: parameters ")


def test_a_mode_exports_its_code_and_its_name_with_utc_beside_seconds(bench: Path) -> None:
    out = msr("archive", "export", "lander.core.status.mode", "--format", "csv", cwd=bench)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {(row["value"], row["state"]) for row in rows} == {("1", "safe"), ("2", "nominal")}
    assert {row["unit"] for row in rows} == {"-"}
    run_dir = bench / "runs" / "latest"
    assert rows[0]["utc"].startswith("2035-03-04T05:06:")
    for row in rows[:5]:
        assert row["utc"] == mission_utc(run_dir, float(row["sim_time"]))
    lines = msr("archive", "query", "lander.core.status.mode", cwd=bench).stdout.splitlines()
    assert any(line.endswith("lander.core.status.mode  2 (nominal)") for line in lines), lines
    first = json.loads(
        msr("archive", "query", "lander.core.status.uptime", "--json", cwd=bench).stdout.split(
            "\n", 1
        )[0]
    )
    assert (first["unit"], first["state"]) == ("s", None)
    assert UTC_STAMP.fullmatch(first["utc"])


def test_utc_comes_from_the_bench_epoch_after_the_bench_is_down(bench: Path) -> None:
    """Last in the module: it takes the bench down (the run folder keeps its bench file)."""
    live = msr("archive", "query", "--kind", "events", cwd=bench).stdout.splitlines()
    assert live[0].startswith("2035-03-04T05:06:07.000Z")
    msr("bench", "down", cwd=bench)
    assert (bench / "runs" / "latest" / "bench.toml").is_file()
    down = msr("archive", "query", "--kind", "events", cwd=bench).stdout.splitlines()
    assert down[: len(live)] == live
