"""``msr cmd`` arguments by name, a timed-out command's last stage, and ``msr history``, as an
operator uses them: each step a subprocess against a SIL bench brought up with ``msr bench up``
(decision 0038). Arguments by name are read in one place (``ground_tools.api.command_arguments``)
for the command line, the scripting API and procedures; their unit tests are here too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground_tools.api import GroundError, argument_names, command_arguments, lookup_command


def msr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``msr ARGS`` with no terminal on standard input."""
    return subprocess.run([sys.executable, "-m", "ground_tools.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``msr bench up --pace fast`` in a scratch folder; ``msr bench down`` after."""
    where = tmp_path_factory.mktemp("commanding")
    up = msr("bench", "up", "--pace", "fast", cwd=where)
    assert up.returncode == 0 and "bench up:" in up.stdout, up.stderr
    try:
        yield where
    finally:
        msr("bench", "down", cwd=where)


def stages(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The verification stages ``msr cmd`` printed, in order."""
    return [line.split()[1] for line in done.stdout.splitlines() if line[:10].strip()[:1].isdigit()]


def test_arguments_by_state_name_or_number_and_the_gate_by_command_name(bench):
    for mode in ("mode=nominal", "mode=1", "mode=2", "mode=safe"):
        done = msr("cmd", "lander", "modes.set", mode, cwd=bench)
        assert done.returncode == 0 and stages(done)[-1] == "completed", done.stdout + mode
    for name in ("command=mav.launch.arm", "command=launch.arm", "command=43523"):
        done = msr("cmd", "mav", "gate.arm", name, "--reason", f"test: {name}", cwd=bench)
        assert done.returncode == 0 and stages(done)[-1] == "completed", done.stdout + name
        done = msr("cmd", "mav", "gate.disarm", name, cwd=bench)
        assert done.returncode == 0 and stages(done)[-1] == "completed", done.stdout + name
    sent = [(r["command"], r["args"]) for r in history(bench)]
    assert ("modes.set", {"mode": "nominal"}) in sent and ("modes.set", {"mode": "safe"}) in sent
    assert sent.count(("gate.arm", {"command": "launch.arm"})) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lander", "modes.set", "mode=sideways"),
         "msr cmd: lander modes.set: mode: 'sideways' is not one of its states (safe, nominal, "
         "critical)"),
        (("mav", "gate.arm", "command=lander.sta.load_tube", "--yes"),
         "msr cmd: mav gate.arm: command: 'lander.sta.load_tube' is not one of its states "
         "(launch.arm, launch.launch)"),
        (("lander", "igloo.condition", "setpoint=warm"),
         "msr cmd: lander igloo.condition: setpoint='warm': setpoint takes a number (-40..40), "
         "it has no named states"),
        (("lander", "modes.set", "mode=critical", "--reason", ""),
         "msr cmd: --reason: give the reason as one line of text"),
    ],
)  # fmt: skip
def test_a_bad_name_is_one_line_naming_the_argument_and_the_known_states(bench, args, message):
    done = msr("cmd", *args, cwd=bench)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [message]


def test_a_command_that_times_out_says_the_last_stage_it_reached(bench):
    assert msr("cmd", "lander", "modes.set", "mode=nominal", cwd=bench).returncode == 0
    # a tube load takes minutes: 5 s see it accepted and started (a frame COP-1 has to send
    # again, after its 2 s timer, still makes it within them), never completed
    done = msr("cmd", "lander", "sta.load_tube", "source=depot", "--timeout", "5", cwd=bench)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert stages(done) == ["accepted", "started"]
    assert done.stdout.splitlines()[-1] == "no final report within 5 s: last stage reached: start"
    assert " 2031-07-01T" in done.stdout.splitlines()[0]  # UTC beside simulated seconds
    msr("cmd", "lander", "sta.stop", cwd=bench)


def history(bench: Path, *args: str) -> list[dict]:
    done = msr("history", "--json", *args, cwd=bench)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_history_lists_every_command_with_source_arguments_times_and_result(bench):
    msr("cmd", "orbiter", "core.ping", cwd=bench)
    msr("cmd", "orbiter", "modes.set", "mode=critical", "--reason", "history test", cwd=bench)
    records = history(bench)
    assert records and all(r["source"] for r in records)
    ping, critical = [r for r in records if r["node"] == "orbiter"][-2:]
    assert (ping["command"], ping["args"], ping["source"], ping["result"]) == (
        "core.ping", {}, "msr cmd", "completed"
    )  # fmt: skip
    assert critical["args"] == {"mode": "critical"} and critical["raw_args"] == {"mode": 3}
    assert critical["confirmed"] == "history test" and critical["result"].startswith(
        "completion_failed"
    )  # safe -> critical is refused on board: the history says how it ended
    assert [s["stage"] for s in critical["stages"]][:2] == ["accepted", "started"]
    assert critical["utc"].startswith("2031-") and critical["time"] >= ping["time"]
    assert {r["node"] for r in history(bench, "--node", "orbiter")} == {"orbiter"}
    later = history(bench, "--since", str(critical["time"]))
    assert later and all(r["time"] >= critical["time"] for r in later)
    assert history(bench, "--since", critical["utc"]) == later  # UTC or mission seconds
    text = msr("history", "--node", "orbiter", cwd=bench).stdout.splitlines()
    assert "completion_failed (precondition" in text[-1], text[-1]
    assert "modes.set mode=critical  [msr cmd (confirmed: history test)]" in text[-1]
    bad = msr("history", "--since", "yesterday", cwd=bench)
    assert bad.returncode == 2 and bad.stderr.startswith("msr history: --since 'yesterday'")


def test_state_names_become_codes_in_one_place_and_back_for_the_history():
    modes = lookup_command("lander", "modes.set")
    assert command_arguments("lander", modes, {"mode": "nominal"}) == {"mode": 2}
    assert command_arguments("lander", modes, {"mode": 2}) == {"mode": 2}  # numbers still
    arm = lookup_command("mav", "gate.arm")
    for name in ("mav.launch.arm", "launch.arm"):
        assert command_arguments("mav", arm, {"command": name}) == {"command": 0xAA03}
    with pytest.raises(GroundError, match="not one of its states"):
        command_arguments(
            "orbiter", lookup_command("orbiter", "gate.arm"), {"command": "launch.arm"}
        )
    inhibit = lookup_command("mav", "gate.remove_inhibit")
    assert command_arguments("mav", inhibit, {"inhibit": "launch"}) == {"inhibit": 1}
    assert argument_names("mav", "gate.remove_inhibit", {"inhibit": 1}) == {"inhibit": "launch"}
    assert argument_names("lander", "modes.set", {"mode": 9}) == {"mode": 9}  # no such state
    assert argument_names("lander", "no.such", {"x": 1}) == {"x": 1}
