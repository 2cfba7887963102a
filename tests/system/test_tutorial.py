"""System test: the README's tutorial, run as a new operator runs it.

The commands are read from the README's "Tutorial" section itself (every line of its ``sh``
blocks), so the test runs exactly what the reader is told to type, in order, each as its own
``msr`` process against a real bench (the simulator, three nodes and the ground station brought
up by the tutorial's own ``msr bench up``). A command that asks (a hazardous confirmation, the
guided arm's reason) runs on a pseudo-terminal and gets typed what the tutorial says to type.
Each step's outcome is checked: exit status, no traceback, and what the step is for.
"""

from __future__ import annotations

import os
import pty
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Tutorial: a first launch by hand"


def tutorial_commands() -> list[list[str]]:
    """The ``msr`` command lines of the README's tutorial, in order (comments dropped)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end > 0 else len(text)]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                assert words[0] == "msr", f"a tutorial line that is not an msr command: {line}"
                commands.append(words[1:])
    return commands


def run(words: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``msr WORDS`` as the operator runs it. ``msr cmd`` and ``msr arm`` run on a terminal
    (a pseudo-terminal) where the operator types, before being asked, what the tutorial says:
    the command's name to confirm a hazardous one, a reason for ``msr arm``."""
    argv = [sys.executable, "-m", "ground_tools.cli", *words]
    if words[0] not in ("cmd", "arm"):
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    typed = f"tutorial: {words[2]}" if words[0] == "arm" else words[2]
    master, slave = pty.openpty()
    try:
        with subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as process:  # fmt: skip
            os.close(slave)
            slave = -1
            os.write(master, typed.encode() + b"\n")  # the terminal holds it until asked
            out, err = process.communicate(timeout=600)
        return subprocess.CompletedProcess(argv, process.returncode, out, err)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def final_stage(stdout: str) -> str:
    """The last verification stage ``msr cmd`` printed (lines ``TIME  STAGE  UTC``)."""
    stages = [line.split()[1] for line in stdout.splitlines() if re.match(r"\s*[\d.]+\s+\w", line)]
    return stages[-1] if stages else ""


def test_the_readme_tutorial_takes_a_new_operator_from_bench_up_to_a_launched_mav(tmp_path):
    commands = tutorial_commands()
    assert commands[0][:2] == ["bench", "up"] and commands[-1][:2] == ["bench", "down"]
    assert ["cmd", "lander", "modes.set", "mode=nominal"] in commands
    assert ["arm", "mav", "launch.arm"] in commands and ["arm", "mav", "launch.launch"] in commands
    up = False
    try:
        for words in commands:
            done = run(words, tmp_path)
            said = f"msr {' '.join(words)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
            assert done.returncode == 0, said
            assert "Traceback" not in done.stderr, said
            up = up or words[:2] == ["bench", "up"]
            check_step(words, done.stdout, said)
            up = up and words[:2] != ["bench", "down"]
    finally:
        if up:
            run(["bench", "down"], tmp_path)


def check_step(words: list[str], out: str, said: str) -> None:
    """What each kind of tutorial step is for, seen in its output."""
    line = " ".join(words)
    flat = " ".join(out.split())  # what a line says, however a terminal wraps it
    if words[:2] == ["bench", "up"]:
        assert "bench up:" in out, said
    elif words[:2] == ["bench", "status"]:
        assert "running" in out and "space links" in out and "sta_arm" in out, said
    elif line == "tlm mav.core.status --once":
        assert "safe (1)" in out, said  # the mode, by name beside its code
    elif line == "tlm mav.launch.status.state --once":
        assert "released" in out, said
    elif words[0] == "cmd":
        assert final_stage(out) == "completed", said
        hazardous = words[2] in ("gate.remove_inhibit", "launch.arm", "launch.launch") or (
            words[2] == "modes.set" and "mode=critical" in words
        )  # fmt: skip
        assert ("Type its name to send" in out) == hazardous, said
    elif words[0] == "arm":
        assert f"Reason for arming mav {words[2]}" in out, said
        assert re.search(rf"ARMED: mav {re.escape(words[2])} until 20\d\d-", out), said
        after = out.split("ARMED:")[1].splitlines()[1]  # nothing else stands: only the command
        assert after.startswith(f"then, before the arm expires: msr cmd mav {words[2]}"), said
    elif words[0] == "events":
        assert "launch.released" in flat and "srm2_burn -> os_release" in flat, said
    elif words[0] == "history":
        assert re.search(r"gate\.arm command=launch\.arm \[msr arm \(confirmed: tutorial: "
                         r"launch\.arm\)\] completed", flat), said  # fmt: skip
        assert re.search(r"launch\.launch \[msr cmd \(confirmed: msr: launch\.launch confirmed "
                         r"by the operator\)\] completed", flat), said  # fmt: skip
        assert "modes.set mode=critical" in flat and "lander" not in flat, said
    elif words[:2] == ["bench", "down"]:
        assert out.count("stopped") == 5, said
