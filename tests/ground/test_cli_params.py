"""``msr param set|get|rollback`` end to end (decision 0026): each step a subprocess, through the
station of a SIL bench brought up with ``msr bench up``, as an operator types them. A value the
node refuses fails with the node's reason; a value no node would take is refused before
anything is sent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def msr(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``msr`` as the operator would (the console script's module)."""
    done = subprocess.run(
        [sys.executable, "-m", "ground_tools.cli", *args], cwd=cwd, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"msr {' '.join(args)} -> {done.returncode}: {done.stderr}")
    return done


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory):
    """``msr bench up`` in a scratch folder; ``msr bench down`` after the module."""
    where = tmp_path_factory.mktemp("operator")
    up = msr("bench", "up", "--pace", "fast", cwd=where)
    assert "bench up:" in up.stdout
    yield where
    msr("bench", "down", cwd=where)


def values(bench: Path, *names: str) -> dict[str, str]:
    """``msr param get mav NAMES``: ``{name: value as printed}``."""
    out = msr("param", "get", "mav", *names, cwd=bench).stdout.splitlines()
    got = {line.split()[1]: line.split()[3] for line in out}
    assert list(got) == list(names), out
    return got


def test_set_get_and_rollback_through_the_station(bench):
    assert values(bench, "launch.srm1_delay", "launch.srm1_window") == {
        "launch.srm1_delay": "0.5", "launch.srm1_window": "2",
    }  # fmt: skip

    # a delay longer than its window: the node refuses the table, and says why
    done = msr("param", "set", "mav", "launch.srm1_delay", "3", cwd=bench, check=False)
    assert done.returncode == 1
    assert "completion_failed (bad_data: launch.srm1_delay = 3 must be < launch.srm1_window" in (
        done.stdout
    )
    assert values(bench, "launch.srm1_delay")["launch.srm1_delay"] == "0.5"

    done = msr("param", "set", "mav", "launch.srm1_window", "4", cwd=bench)
    assert done.stdout.startswith("mav launch.srm1_window = 4 (completed at t = ")
    msr("param", "set", "mav", "launch.srm1_delay", "3", cwd=bench)
    assert values(bench, "launch.srm1_delay", "launch.srm1_window") == {
        "launch.srm1_delay": "3", "launch.srm1_window": "4",
    }  # fmt: skip

    # the window back to its default would break the bound: refused, with why
    done = msr("param", "rollback", "mav", "launch.srm1_window", "--to", "default", cwd=bench,
               check=False)  # fmt: skip
    assert done.returncode == 1
    assert "launch.srm1_window back to its default 2" in done.stdout
    # the delay back to its previous value, then the window to its default
    done = msr("param", "rollback", "mav", "launch.srm1_delay", cwd=bench)
    assert done.stdout.startswith("mav launch.srm1_delay = 0.5 (completed")
    msr("param", "rollback", "mav", "launch.srm1_window", "--to", "default", cwd=bench)
    assert values(bench, "launch.srm1_delay", "launch.srm1_window") == {
        "launch.srm1_delay": "0.5", "launch.srm1_window": "2",
    }  # fmt: skip
    events = msr("events", "--once", "--node", "mav", cwd=bench).stdout
    assert "params.reverted" in events


@pytest.mark.parametrize(
    "args,message",
    [
        (("set", "mav", "launch.srm1_delay", "9"), "mav launch.srm1_delay: 9 is outside 0.3..5 s"),
        (("set", "mav", "launch.rate_count", "2.5"), "2.5 is not a whole number (an int)"),
        (("set", "mav", "launch.srm1_delay", "fast"), "'fast' is not a number"),
        (("get", "mav", "launch.nope"), "mav has no parameter 'launch.nope'"),
        (("rollback", "mav"), "param rollback: write NODE NAME"),
        (("set", "venus", "x", "1"), "venus"),
    ],
)
def test_a_value_no_node_would_take_is_refused_before_anything_is_sent(bench, args, message):
    done = msr("param", *args, cwd=bench, check=False)
    assert done.returncode == 2, done
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
