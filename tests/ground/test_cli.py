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
    done = msr("cmd", "lander", "modes.set", "mode=3", "--yes", cwd=bench, check=False)  # safe
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
        "FAIL: wrong.py:1: wait_check failed: lander.core.status.mode == 3 not true within 1 s"
        in done.stdout
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


# ------------------------------------------------------------------ hazardous confirmation (0024)

ARM_LAUNCH = "command=43523"  # gate.arm of launch.arm: 170 << 8 | 3


def insert_data(node: str, name: str, **args: object) -> str:
    """``data=<bytes>`` of a schedule.insert carrying one command of ``node``."""
    from fsw.dictionary import node_dictionary
    from fsw.dictionary.loads import build_insert
    from hal.protocol.pus import PusTc

    d = node_dictionary(node)
    command = d.command(name)
    message = command.message
    packet = PusTc(d.apid, message.service, message.subtype, command.encode(**args))
    return f"data={build_insert([(1.0e6, packet)])!r}"


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["cmd", "mav", "gate.arm", ARM_LAUNCH], "gate.arm arms a hazardous command"),
        (["cmd", "mav", "gate.remove_inhibit", "inhibit=0"], "removes an onboard inhibit"),
        (["cmd", "mav", "modes.set", "mode=3"], "modes.set enters critical mode"),
        (["cmd", "mav", "launch.launch"], "launch.launch fires"),
        (["cmd", "mav", "schedule.insert", insert_data("mav", "gate.arm", command=43523)],
         "schedule.insert item 0: gate.arm arms"),
    ],
)  # fmt: skip
def test_a_hazardous_command_without_its_confirmation_is_refused_in_one_line(bench, args, why):
    done = msr(*args, cwd=bench, check=False, stdin="")  # stdin is a pipe, not a terminal
    assert done.returncode == 2 and "Traceback" not in done.stderr, done
    assert len(done.stderr.strip().splitlines()) == 1
    assert "is HAZARDOUS" in done.stderr and why in done.stderr
    assert "stdin is not a terminal" in done.stderr and "pass --yes" in done.stderr
    assert "nothing sent" in done.stderr
    wrong = msr(*args, cwd=bench, check=False, stdin="no\n")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


def test_a_confirmed_inhibit_removal_and_a_schedule_insert_wrapping_one_are_taken(bench):
    done = msr("cmd", "mav", "gate.remove_inhibit", "inhibit=1", "--yes", cwd=bench, check=False)
    assert done.stdout.split()[1::2][-1] == "completed", done.stdout
    assert msr("cmd", "mav", "gate.restore_inhibit", "inhibit=1", cwd=bench).returncode == 0
    wrapped = insert_data("mav", "gate.remove_inhibit", inhibit=1)
    done = msr("cmd", "mav", "schedule.insert", wrapped, "--yes", cwd=bench, check=False)
    assert "completed" in done.stdout, done.stdout + done.stderr
    msr("cmd", "mav", "schedule.reset", cwd=bench)


def test_a_sequence_is_loaded_from_a_file_with_its_confirmation_when_a_step_needs_one(
    bench, tmp_path
):
    plain = tmp_path / "status.toml"
    plain.write_text('[[steps]]\ndelay = 0.0\ncommand = "hk.report"\nargs = { sid = 1 }\n\n'
                     '[[steps]]\ndelay = 1.5\ncommand = "core.ping"\n')  # fmt: skip
    done = msr("seq", "load", "mav", "status2", str(plain), cwd=bench)
    assert "mav sequence status2: 2 steps loaded" in done.stdout
    hazardous = tmp_path / "arm.toml"
    hazardous.write_text('[[steps]]\ndelay = 1.0\ncommand = "gate.arm"\n'
                         "args = { command = 43523 }\n")  # fmt: skip
    load = ("seq", "load", "mav", "arm_it", str(hazardous))
    refused = msr(*load, cwd=bench, check=False, stdin="")
    assert refused.returncode == 2 and "seq.load item 0: gate.arm arms" in refused.stderr
    assert "stdin is not a terminal" in refused.stderr and "Traceback" not in refused.stderr
    done = msr("seq", "load", "mav", "arm_it", str(hazardous), "--yes", cwd=bench)
    assert "1 steps loaded with the hazardous confirmation" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[steps]]\ndelay = -1\ncommand = "core.ping"\n')
    refused = msr("seq", "load", "mav", "bad", str(bad), cwd=bench, check=False)
    assert refused.returncode == 2 and "step 0: delay must be seconds >= 0" in refused.stderr
