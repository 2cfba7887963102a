"""System test (issue 19, decision 0036): a telemetry value driven into red through the back
door, seen as an operator sees it.

A real bench comes up (``msr bench up``, as fast as it computes); the OS container's thermistor
gets a bias through the simulator's back door (``msr fault inject os_container.thermal bias
field=temperature offset=60``: -20 degC reads +40, above the red limit of 30 the dictionary
declares for ``lander.sta.status.os_temp``). Once the lander's housekeeping carries it, the
test sees the limit event in the archive and in ``msr events``, the point in ``msr limits``,
red in ``msr tlm --once`` (JSON level, and the colour rich writes when forced), the XTCE
export's alarm ranges for the point, and, with the bench down, the point still listed red by
``msr limits --archive``."""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ground_tools.archive import Archive, ArchiveError
from tests.system.operator import msr

POINT = "lander.sta.status.os_temp"
RED_HIGH = 30.0
YELLOW_HIGH = 25.0
WAIT = 180.0
"""Wall seconds the bench gets to send the biased reading (the thermistor is read every 60
simulated s and housekeeping is every 5: at full speed, a few wall seconds)."""
XTCE = "{http://www.omg.org/spec/XTCE/20180204}"


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _until(what: str, probe, deadline: float):
    """Call ``probe`` until it returns something true (polling, never a blind sleep for the
    result), or fail naming ``what``."""
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


def _archived_red(run_dir: Path) -> list:
    try:
        with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
            return [e for e in archive.limit_events(point=POINT) if e.new_level == "red"]
    except ArchiveError:
        return []


def _xtce_alarm(xml: str) -> dict[str, dict[str, str]]:
    """The alarm ranges of the point's parameter type in the XTCE export, by element name."""
    root = ET.fromstring(xml)
    parameter = next(
        p for p in root.iter(f"{XTCE}Parameter")
        if any(a.get("alias") == "sta.status.os_temp" for a in p.iter(f"{XTCE}Alias"))
    )  # fmt: skip
    ref = parameter.get("parameterTypeRef")
    ptype = next(t for t in root.iter() if t.get("name") == ref and t.tag.endswith("ParameterType"))
    return {
        element.tag.removeprefix(XTCE): element.attrib
        for element in ptype.iter()
        if element.tag.endswith("Range")
    }


def _first_refresh(where: tuple[str, ...], cwd: Path) -> str:
    """What a running ``msr tlm POINT | ...`` has written once its first table is whole."""
    watch = subprocess.Popen(
        [sys.executable, "-m", "ground_tools.cli", "tlm", POINT, "--interval", "0.2", *where],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
    )  # fmt: skip
    try:
        out = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b"os_temp" not in out:
            ready, _, _ = select.select([watch.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(watch.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        assert b"os_temp" in out, f"msr tlm wrote no table into a pipe: {out!r}"
        return out.decode()
    finally:
        watch.terminate()
        watch.communicate(timeout=30)


def test_a_value_driven_into_red_shows_in_events_limits_tlm_the_archive_and_xtce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as in an operator's pipe: no width set (under pytest the C environment holds COLUMNS=80,
    # which os.environ does not show; an empty value overrides it)
    monkeypatch.setenv("COLUMNS", "")
    runs = tmp_path / "runs"
    up = msr("bench", "up", "--runs-dir", str(runs), "--pace", "fast", cwd=tmp_path, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    run_dir = (runs / "latest").resolve()
    where = ("--run-dir", str(run_dir))
    # an operator's events window, open throughout: a client connected, so the bench keeps its
    # fast pace (an idle one slows to real time, decision 0039)
    follow = subprocess.Popen(
        [sys.executable, "-m", "ground_tools.cli", "events", "--json", *where],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT

        def os_temp() -> dict | None:
            result = msr("tlm", POINT, "--once", "--json", *where, cwd=tmp_path, timeout=60)
            assert result.returncode == 0, result.stderr
            (row,) = _json_lines(result.stdout)
            return row if row["value"] is not None else None

        before = _until("the first os_temp sample", os_temp, deadline)
        assert before["level"] == "green" and before["unit"] == "degC", before
        assert before["value"] < YELLOW_HIGH
        assert "red" in before["limits"] and "30" in before["limits"]

        inject = msr("fault", "inject", "os_container.thermal", "bias", "field=temperature",
                     "offset=60", *where, cwd=tmp_path, timeout=60)  # fmt: skip
        assert inject.returncode == 0, inject.stdout + inject.stderr

        def out_now() -> dict | None:
            result = msr("limits", "--json", *where, cwd=tmp_path, timeout=60)
            assert result.returncode == 0, result.stderr
            return next((r for r in _json_lines(result.stdout)
                         if r["point"] == POINT and r["level"] == "red"), None)  # fmt: skip

        row = _until("os_temp in red in msr limits", out_now, deadline)
        assert row["value"] > RED_HIGH and row["unit"] == "degC" and row["since"] is not None
        assert row["since_utc"].startswith("2031-") and "30" in row["limits"]
        listed = msr("limits", *where, cwd=tmp_path, timeout=60)
        assert listed.returncode == 0 and POINT in listed.stdout and "red" in listed.stdout

        # the archive has the transition, as msr events shows it (with the events by name)
        (event, *_) = _until("the limit event in the archive", lambda: _archived_red(run_dir),
                             deadline)  # fmt: skip
        assert event.old_level in ("green", "yellow") and event.value > RED_HIGH
        assert event.unit == "degC" and "30" in event.limit_set
        events = msr("events", "--once", "--json", *where, cwd=tmp_path, timeout=60)
        assert events.returncode == 0, events.stderr
        records = _json_lines(events.stdout)
        limits = [r for r in records if r["kind"] == "limit" and r["name"] == POINT]
        assert any(r["new"] == "red" and r["value"] > RED_HIGH for r in limits), limits
        named = [r for r in records if r["kind"] == "event"]
        assert named and all(r["name"] and not r["name"].startswith("event_") for r in named)
        text = msr("events", "--once", *where, cwd=tmp_path, timeout=60)
        assert f"LIMIT  {POINT}" in text.stdout and "-> red" in text.stdout

        # msr tlm: red as JSON, and in red when colour is forced
        hot = os_temp()
        assert hot["level"] == "red" and hot["value"] > RED_HIGH
        monkeypatch.setenv("FORCE_COLOR", "1")
        table = msr("tlm", POINT, "--once", *where, cwd=tmp_path, timeout=60)
        monkeypatch.delenv("FORCE_COLOR")
        assert table.returncode == 0, table.stderr
        row_line = next(line for line in table.stdout.splitlines() if "os_temp" in line)
        assert "\x1b[1;31m" in row_line  # bold red (rich's SGR for the red level)
        assert "\x1b[1;31mred" in row_line

        # msr tlm left running into a pipe prints each refresh as it comes (no live display)
        assert "red" in _first_refresh(where, tmp_path)
        # ... and its JSON lines go through jq and head, as an operator's shell pipes them (a
        # stream into head ends silently at the pipe's close; jq reads one refresh whole)
        msr_argv = shlex.join([sys.executable, "-m", "ground_tools.cli", "tlm", POINT, "--json",
                               *where])  # fmt: skip
        piped = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {msr_argv} | head -1 | jq -r .level; "
                           f"{msr_argv} --once | jq -r .level"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert (piped.returncode, piped.stdout, piped.stderr) == (0, "red\nred\n", "")
    finally:
        follow.terminate()
        followed, follow_err = follow.communicate(timeout=60)
        down = msr("bench", "down", *where, cwd=tmp_path, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    live = [r for r in _json_lines(followed) if r["kind"] == "limit" and r["name"] == POINT]
    assert any(r["new"] == "red" for r in live), followed[-2000:] + follow_err[-2000:]

    # the bench is down: the archive still says what was out of limits
    archived = msr("limits", "--archive", "--json", *where, cwd=tmp_path, timeout=60)
    assert archived.returncode == 0, archived.stderr
    assert any(r["point"] == POINT and r["level"] == "red" for r in _json_lines(archived.stdout))

    # the XTCE export carries the point's alarm ranges
    xtce = msr("dict", "export", "--format", "xtce", "--node", "lander", cwd=tmp_path)
    assert xtce.returncode == 0, xtce.stderr
    ranges = _xtce_alarm(xtce.stdout)
    assert float(ranges["CriticalRange"]["maxInclusive"]) == RED_HIGH, ranges
    assert float(ranges["WarningRange"]["maxInclusive"]) == YELLOW_HIGH, ranges
