"""System test: the guided hazardous flow, ``msr arm NODE COMMAND``, and the hazardous
confirmation wherever standard input is not a terminal (decision 0038).

Real ``msr`` processes against a bench brought up with ``msr bench up`` (real-time pace, as an
operator's console). A command that asks runs on a pseudo-terminal, where the test types as the
operator would; the others get standard input closed, ``/dev/null`` or a pipe, as a script or a
cron job gives it: each is refused in one line, exit status 2, never a traceback, nothing sent.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

MSR = [sys.executable, "-m", "ground_tools.cli"]


def msr(
    *args: str, cwd: Path, stdin: str = "devnull", typed: str = ""
) -> subprocess.CompletedProcess[str]:
    """``msr ARGS`` with standard input ``closed``, ``devnull``, a ``pipe`` carrying ``typed``,
    or a ``terminal`` (a pseudo-terminal) on which ``typed`` is typed."""
    if stdin == "closed":  # as `msr ... <&-` from a shell
        argv = ["sh", "-c", 'exec "$@" <&-', "sh", *MSR, *args]
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120,
                              check=False)  # fmt: skip
    if stdin in ("devnull", "pipe"):
        feed = {"input": typed} if stdin == "pipe" else {"stdin": subprocess.DEVNULL}
        return subprocess.run([*MSR, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=120, check=False, **feed)  # fmt: skip
    master, slave = pty.openpty()
    try:
        with subprocess.Popen([*MSR, *args], cwd=cwd, stdin=slave, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as process:  # fmt: skip
            os.write(master, typed.encode() + b"\n")
            out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(args, process.returncode, out, err)
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``msr bench up`` (real-time pace) in a scratch folder; ``msr bench down`` after."""
    where = tmp_path_factory.mktemp("arm_flow")
    up = msr("bench", "up", cwd=where)
    assert up.returncode == 0 and "bench up:" in up.stdout, up.stderr
    try:
        yield where
    finally:
        msr("bench", "down", cwd=where)


def history(bench: Path, *args: str) -> list[dict]:
    """``msr history --json`` as records."""
    done = msr("history", "--json", *args, cwd=bench)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


HAZARDOUS = [
    ("cmd", "mav", "gate.remove_inhibit", "inhibit=arm"),
    ("cmd", "lander", "modes.set", "mode=critical"),
    ("cmd", "mav", "launch.arm"),
    ("arm", "mav", "launch.arm"),
]


@pytest.mark.parametrize("stdin", ["closed", "devnull", "pipe"])
def test_without_a_terminal_a_hazardous_command_is_refused_in_one_line_and_nothing_is_sent(
    bench, stdin
):
    before = len(history(bench))
    for args in HAZARDOUS:
        done = msr(*args, cwd=bench, stdin=stdin, typed=f"{args[2]}\n")  # a pipe is no operator
        said = f"{args} with stdin {stdin}: {done.returncode} {done.stdout!r} {done.stderr!r}"
        assert done.returncode == 2 and "Traceback" not in done.stderr, said
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and "stdin is not a terminal" in lines[0], said
        assert "--reason" in lines[0] and "nothing sent" in lines[0], said
    assert len(history(bench)) == before  # not one of them went up


def test_the_guided_arm_shows_what_stands_asks_once_arms_and_keeps_the_reason(bench):
    done = msr("arm", "mav", "mav.launch.arm", cwd=bench, stdin="terminal",
               typed="bench check of the arm flow")  # fmt: skip
    out = done.stdout
    assert done.returncode == 0 and "Traceback" not in done.stderr, out + done.stderr
    before, _, after = out.partition("Reason for arming mav launch.arm")
    assert "inhibit arm" in before and "IN PLACE  (inhibits launch.arm)" in before, out
    assert "inhibit launch" in before and "mode safe (launch.arm runs only in critical)" in before
    assert out.count("Reason for arming") == 1  # asked once
    assert "gate.arm completed" in after and "ARMED: mav launch.arm until 2031-" in after, out
    assert "window 120 s" in after
    assert "inhibit arm is in place: msr cmd mav gate.remove_inhibit inhibit=arm" in after, out
    assert "mode is safe: msr cmd mav modes.set mode=critical" in after, out
    last = history(bench, "--node", "mav")[-1]
    assert (last["command"], last["args"], last["raw_args"]) == (
        "gate.arm", {"command": "launch.arm"}, {"command": 0xAA03}
    )  # fmt: skip
    assert (last["source"], last["confirmed"], last["result"]) == (
        "msr arm", "bench check of the arm flow", "completed"
    )  # fmt: skip
    assert last["utc"].startswith("2031-07-01T") and last["utc"].endswith("Z")

    again = msr("arm", "mav", "launch.arm", "--reason", "a second arm", cwd=bench)
    assert again.returncode == 1 and "NOT ARMED: mav launch.arm" in again.stdout, again.stdout
    assert "already_armed" in again.stdout

    disarm = msr("cmd", "mav", "gate.disarm", "command=launch.arm", cwd=bench)  # safing
    assert disarm.returncode == 0 and "completed" in disarm.stdout, disarm.stdout


def test_an_empty_reason_or_a_command_that_is_not_hazardous_arms_nothing(bench):
    before = len(history(bench))
    done = msr("arm", "mav", "launch.launch", cwd=bench, stdin="terminal", typed="")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == "msr arm: mav launch.launch: no reason given, not armed"
    done = msr("arm", "mav", "core.ping", "--yes", cwd=bench)
    assert done.returncode == 2 and done.stderr.strip() == (
        "msr arm: mav core.ping: not a hazardous command of mav (those: launch.arm, "
        "launch.launch)"
    )  # fmt: skip
    assert len(history(bench)) == before


def test_a_hazardous_command_typed_at_a_terminal_is_sent_and_a_wrong_name_is_not(bench):
    wrong = msr("cmd", "mav", "gate.remove_inhibit", "inhibit=launch", cwd=bench,
                stdin="terminal", typed="yes")  # fmt: skip
    assert wrong.returncode == 2 and "not confirmed, nothing sent" in wrong.stderr
    right = msr("cmd", "mav", "gate.remove_inhibit", "inhibit=launch", cwd=bench,
                stdin="terminal", typed="gate.remove_inhibit")  # fmt: skip
    assert right.returncode == 0 and "Type its name to send" in right.stdout, right.stderr
    assert "completed" in right.stdout
    view = msr("arm", "mav", "launch.launch", "--reason", "inhibit launch removed", cwd=bench)
    assert "inhibit launch       removed" in view.stdout, view.stdout
    last = history(bench, "--node", "mav")[-2]  # the removal, before the arm
    assert last["args"] == {"inhibit": "launch"} and last["confirmed"] == (
        "msr: gate.remove_inhibit confirmed by the operator"
    )  # fmt: skip
    restore = msr("cmd", "mav", "gate.restore_inhibit", "inhibit=launch", cwd=bench)
    assert restore.returncode == 0, restore.stderr
