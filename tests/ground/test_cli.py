"""The ``msr`` command line end to end, as an operator uses it: each step a subprocess against a
SIL bench brought up with ``msr bench up`` (every board emulated, as fast as it computes), then
brought down. Bad input gets one line naming the problem and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROCEDURE = """\
# A procedure as an operator writes it: the lander to nominal and back to safe.
cmd("lander core.ping")
cmd("lander", "modes.set", mode=2)
wait_check("lander.core.status.mode == 2", timeout=5)
wait_event("lander", "modes.changed", timeout=5)
wait(2)
cmd("lander", "modes.set", mode=1)
wait_check("lander.core.status.mode == 1", timeout=5)
"""


def msr(
    *args: str, cwd: Path, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``msr`` as the operator would (the console script's module)."""
    done = subprocess.run(
        [sys.executable, "-m", "ground_tools.cli", *args], cwd=cwd, capture_output=True,
        text=True, timeout=120, input=stdin,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"msr {' '.join(args)} -> {done.returncode}: {done.stderr}")
    return done


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory):
    """``msr bench up`` in a scratch folder; ``msr bench down`` after the module."""
    where = tmp_path_factory.mktemp("operator")
    up = msr("bench", "up", "--pace", "fast", cwd=where)
    assert "bench up:" in up.stdout and "ground" in up.stdout
    yield where
    down = msr("bench", "down", cwd=where)
    assert down.stdout.count("stopped") == 5, down.stdout


def test_bench_status_shows_every_process_link_and_board(bench):
    status = json.loads(msr("bench", "status", "--json", cwd=bench).stdout)
    assert {p["state"] for p in status["processes"].values()} == {"running"}
    assert set(status["processes"]) == {"sim_hardware", "lander", "mav", "orbiter", "ground"}
    assert set(status["links"]) == {"lander", "mav", "orbiter"}
    assert len(status["boards"]) == 11
    table = msr("bench", "status", cwd=bench).stdout
    assert "space links" in table and "sta_arm" in table


def test_a_command_prints_its_verification_stages(bench):
    done = msr("cmd", "lander", "core.ping", cwd=bench)
    stages = [line.split()[1] for line in done.stdout.splitlines()]
    assert stages == ["accepted", "started", "completed"]


def test_a_command_refused_on_board_exits_non_zero_with_its_reason(bench):
    done = msr("cmd", "lander", "modes.set", "mode=3", cwd=bench, check=False)  # safe -> critical
    assert done.returncode == 1
    assert "completion_failed" in done.stdout and "precondition" in done.stdout


def test_one_refresh_of_the_telemetry_view(bench):
    msr("cmd", "mav", "core.ping", cwd=bench)
    view = msr("tlm", "mav.core.status", "lander.health.status.devices_ok", "--once", cwd=bench)
    assert "mav.core.status.uptime" in view.stdout
    assert "lander.health.status.devices_ok" in view.stdout


def test_events_are_listed(bench):
    done = msr("events", "--once", "--node", "lander", cwd=bench)
    assert "core.boot" in done.stdout


def test_a_procedure_runs_with_progress_and_a_pass_verdict(bench, tmp_path):
    procedure = tmp_path / "to_nominal.py"
    procedure.write_text(PROCEDURE)
    done = msr("run", str(procedure), cwd=bench)
    assert "lander modes.set: accepted, started, completed" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("to_nominal.py: PASS")


def test_a_procedure_that_fails_a_check_gets_a_fail_verdict_naming_it(bench, tmp_path):
    procedure = tmp_path / "wrong.py"
    procedure.write_text('wait_check("lander.core.status.mode == 3", timeout=1)\n')
    done = msr("run", str(procedure), cwd=bench, check=False)
    assert done.returncode == 1
    assert (
        "FAIL: wait_check failed: lander.core.status.mode == 3 not true within 1 s" in done.stdout
    )


def test_the_archive_exports_what_happened(bench, tmp_path):
    msr("cmd", "orbiter", "core.ping", cwd=bench)
    out = tmp_path / "uptime.csv"
    msr("archive", "export", "lander.core.status.uptime", "--format", "csv", "-o", str(out),
        cwd=bench)  # fmt: skip
    rows = out.read_text().splitlines()
    assert len(rows) > 3 and "lander.core.status.uptime" in rows[1]
    commands = msr("archive", "export", "--kind", "commands", "--format", "jsonl", cwd=bench)
    sent = [json.loads(line) for line in commands.stdout.splitlines()]
    assert any(c["name"] == "core.ping" and c["node"] == "orbiter" for c in sent)


def test_a_plot_is_a_real_png(bench, tmp_path):
    out = tmp_path / "uptime.png"
    msr("plot", "lander.core.status.uptime", "mav.core.status.cycles", "-o", str(out), cwd=bench)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_the_dictionary_exports_as_xtce_valid_against_the_schema(tmp_path):
    from ground_tools.exports.xtce import validate_xtce

    out = tmp_path / "msr.xml"
    msr("dict", "export", "--format", "xtce", "-o", str(out), cwd=tmp_path)
    assert validate_xtce(out.read_bytes()) == []
    markdown = msr("dict", "export", "--format", "md", cwd=tmp_path).stdout
    assert "sta_arm" in markdown and "core.ping" in markdown


def test_a_capture_of_the_run_decodes_to_readable_packets(bench):
    captures = sorted((bench / "runs" / "latest" / "captures").glob("ground-lander*.pcap"))
    assert captures
    done = msr("capture", "decode", str(captures[0]), cwd=bench)
    assert done.stdout.strip()


def test_a_fault_is_injected_listed_and_cleared_through_the_back_door(bench):
    injected = json.loads(msr("fault", "inject", "igloo", "blackout", cwd=bench).stdout)
    listed = json.loads(msr("fault", "list", cwd=bench).stdout)
    assert [f["id"] for f in listed["faults"]] == [injected["id"]]
    msr("fault", "clear", "--id", str(injected["id"]), cwd=bench)
    assert json.loads(msr("fault", "list", cwd=bench).stdout)["faults"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cmd", "pluto", "core.ping"], "unknown node 'pluto'"),
        (["cmd", "lander", "core.nosuch"], "lander has no command 'core.nosuch'"),
        (["cmd", "lander", "modes.set", "mode=9"], "mode = 9 is outside 1..3"),
        (["cmd", "lander", "modes.set", "mode"], "argument 'mode': write NAME=VALUE"),
        (["tlm", "lander.nosuch"], "lander has no such packet"),
        (["bench", "up", "--bench", "missing.toml"], "missing.toml: cannot read the bench file"),
        (["plot", "lander.core.status.nosuch", "-o", "x.png"], "nosuch"),
        (["dict", "export", "--format", "json", "--node", "pluto"], "pluto"),
        (["capture", "decode", "nothing.pcap"], "nothing.pcap"),
        (["fault", "inject", "no_board", "stall"], "no_board"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(bench, args, message):
    done = msr(*args, cwd=bench, check=False)
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert message in done.stderr


def test_a_malformed_procedure_is_refused_before_anything_is_sent(bench, tmp_path):
    procedure = tmp_path / "broken.py"
    procedure.write_text('cmd("lander core.ping"\nwait(1)\n')
    done = msr("run", str(procedure), cwd=bench, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{procedure}:" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_without_a_bench_the_commands_say_so(tmp_path):
    done = msr("cmd", "lander", "core.ping", cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert "no run folder there (bring a bench up with `msr bench up`)" in done.stderr


def test_a_procedure_that_raises_its_own_error_fails_naming_the_line(bench, tmp_path):
    procedure = tmp_path / "oops.py"
    procedure.write_text('cmd("lander core.ping")\nratio = 1 / 0\n')
    done = msr("run", str(procedure), cwd=bench, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "FAIL: oops.py:2: ZeroDivisionError: division by zero" in done.stdout
