"""Fault protection and stored sequences on a whole node (decision 0025): a monitor whose
housekeeping is disabled goes stale and takes its response; a stored sequence running when its
node resets resumes at the step it reached, once per step, in process on a real NV store and as a
process killed with SIGKILL on the SIL bench."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fsw.core.config import NodeConfig, default_config_path, load_config, parse_config
from fsw.core.node import Node
from fsw.dictionary import build_node
from fsw.dictionary.model import EventDecoded
from fsw.dictionary.verification import Verification
from hal.clock import ManualClock
from hal.protocol.pus import ACK_ALL, PusTc, PusTm, RequestId
from tests.fsw.bench_run import BenchRun
from tests.fsw.mission_rig import MissionRig

APID = 0x200
DICTIONARY = build_node("lander", APID)
"""The core alone: the lander's core monitors judge its own housekeeping."""
PING_EVERY = 10.0
PINGS = 6
SEQUENCE = {
    "name": "pings",
    "steps": [
        {"delay": 0.0 if i == 0 else PING_EVERY, "command": "core.ping"} for i in range(PINGS)
    ],
}
"""A stored sequence of six pings, ten seconds apart (index 1, after the shipped status_burst)."""


def lander_config(extra_monitors: list[dict[str, Any]] | None = None) -> NodeConfig:
    """The shipped lander configuration with the ``pings`` sequence, and only the monitors of
    the core's housekeeping (the test dictionary has no apps or boards), plus ``extra``."""
    doc = tomllib.loads(default_config_path("lander").read_text(encoding="utf-8"))
    doc["sequences"] = [*doc["sequences"], SEQUENCE]
    doc["apps"] = {}
    for group in doc["rate_groups"]:
        group["components"] = [c for c in group["components"] if c not in ("sta", "igloo")]
    points = {f"{p.name}.{f.name}" for p in DICTIONARY.hk for f in p.fields}
    doc["fdir"]["monitors"] = [m for m in doc["fdir"]["monitors"] if m["point"] in points]
    if extra_monitors is not None:
        doc["fdir"]["monitors"] += extra_monitors
        for group in doc["rate_groups"]:
            group.pop("idle_period", None)  # fault protection at its full 10 Hz
    return parse_config("lander", doc, "test")


class Craft:
    """A node on a manual clock (starting at ``start``: a reset may start the clock again), with
    the telemetry it sent."""

    def __init__(
        self, nv: Path, start: float = 0.0, monitors: list[dict[str, Any]] | None = None
    ) -> None:
        self.clock = ManualClock(start)
        config = lander_config(monitors)
        self.node = Node(DICTIONARY, config, nv, self.clock.now, lambda *a: None)
        self.tm: list[PusTm] = []
        self.node.on_packet(self.tm.append)
        self.seq = 0
        self.node.cycle()

    def command(self, name: str, **args: Any) -> list[str]:
        command = DICTIONARY.command(name)
        self.seq += 1
        packet = PusTc(APID, command.message.service, command.message.subtype,
                       command.encode(**args), seq_count=self.seq, ack_flags=ACK_ALL)  # fmt: skip
        self.node.submit(packet)
        self.run(0.2)
        rid = RequestId.of(packet).pack()
        stages = []
        for tm in self.tm:
            if tm.service == 1:
                report = Verification.decode(tm.subtype, tm.source_data)
                if report.request_id == rid:
                    stages.append(report.stage + (f" {report.reason}" if report.reason else ""))
        return stages

    def run(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end - 1e-9:
            self.clock.advance(0.1)
            self.node.cycle()

    def events(self) -> list[tuple[float, str, str]]:
        out = []
        for tm in self.tm:
            if tm.service == 5:
                event = EventDecoded.parse(tm.source_data)
                out.append((tm.time.seconds, DICTIONARY.event(event.event_id).name, event.detail))
        return out

    def named(self, name: str) -> list[tuple[float, str]]:
        return [(t, detail) for t, n, detail in self.events() if n == name]

    def pongs(self) -> list[float]:
        """When the node answered a ping (TM[17,2])."""
        return [tm.time.seconds for tm in self.tm if (tm.service, tm.subtype) == (17, 2)]


# ----------------------------------------------------------------------- persistence by samples


def test_a_1_hz_point_under_the_10_hz_monitors_trips_after_three_samples_not_three_checks(
    tmp_path: Path,
) -> None:
    uptime = {"id": "long_up", "point": "core.status.uptime", "kind": "limit", "high": 3.5,
              "max_age": 5.0, "persistence": 3, "response": "safe"}  # fmt: skip
    craft = Craft(tmp_path / "nv", monitors=[uptime])
    assert craft.command("modes.set", mode=2)[-1] == "completed"
    craft.run(5.5)  # core.status every 1 s: uptime 4 and 5 are two bad samples, 15 checks
    assert craft.named("fdir.monitor_tripped") == []
    assert craft.node.protection.status()["long_up"]["count"] == 2
    craft.run(1.0)  # the third bad sample, at 6 s
    tripped = craft.named("fdir.monitor_tripped")
    assert len(tripped) == 1 and "value=6 bound=high:3.5 count=3" in tripped[0][1], tripped
    # judged at the first check after it was sent (fdir runs before hk in the fast group)
    assert tripped[0][0] == pytest.approx(6.1, abs=1e-3) and craft.node.modes.mode == "safe"


# --------------------------------------------------------------------------- stale housekeeping


def test_with_its_housekeeping_disabled_the_watchdog_monitor_goes_stale_and_the_node_safe(
    tmp_path: Path,
) -> None:
    craft = Craft(tmp_path / "nv")
    assert craft.command("modes.set", mode=2)[-1] == "completed"
    craft.run(5.0)
    assert craft.named("fdir.monitor_stale") == []
    assert craft.node.modes.mode == "nominal"
    sid = DICTIONARY.hk_packet("health.status").sid
    assert craft.command("hk.disable", sid=sid)[-1] == "completed"
    disabled_at = craft.clock.now()
    last_sample = max(tm.time.seconds for tm in craft.tm if tm.service == 3
                      and tm.source_data[:2] == sid.to_bytes(2, "big"))  # fmt: skip
    craft.run(30.0)  # max_age of the watchdog monitor is 35 s: still fresh
    assert craft.named("fdir.monitor_stale") == [] and craft.node.modes.mode == "nominal"
    craft.run(10.0)
    stale = craft.named("fdir.monitor_stale")
    assert len(stale) == 1, stale
    at, detail = stale[0]
    assert "monitor=watchdog" in detail and "point=health.status.watchdog" in detail
    assert "bound=max_age:35" in detail and "response=safe" in detail
    assert 35.0 < at - last_sample <= 35.0 + 0.2 and at > disabled_at
    assert craft.node.modes.mode == "safe", "the monitor's response: safe mode"
    responses = craft.named("fdir.fault_response")
    assert responses and "monitor watchdog stale" in responses[-1][1]
    assert any("-> safe" in d for _, d in craft.named("modes.changed"))
    # the other core monitor (slips, on core.status, still sent) stays quiet
    assert craft.node.protection.status()["slips"]["state"] == "ok"

    assert craft.command("hk.enable", sid=sid)[-1] == "completed"
    craft.run(2.0)
    assert next(d for _, d in craft.named("fdir.monitor_fresh")).startswith("monitor=watchdog")
    assert craft.node.protection.status()["watchdog"]["state"] == "ok"


# ------------------------------------------------------- on its boards: stale data, silent board


def fdir_events(rig: MissionRig, since: int = 0) -> list[tuple[str, str]]:
    return [(n, d) for n, d in rig.events(since) if n.startswith("fdir.monitor_")]


def test_with_the_igloo_housekeeping_disabled_the_propellant_monitor_goes_stale(tmp_path):
    with MissionRig(tmp_path, "lander") as rig:
        assert rig.command("modes.set", mode=2)[-1] == "completed"
        rig.run(100.0)  # the igloo app reads the board every 60 s, housekeeping every 10 s
        assert fdir_events(rig) == []
        mark = len(rig.packets)
        sid = rig.node.dictionary.hk_packet("igloo.status").sid
        assert rig.command("hk.disable", sid=sid)[-1] == "completed"
        rig.run(100.0)  # the last reading sent (at 60 s) is not yet 180 s old
        assert fdir_events(rig, mark) == [] and rig.node.modes.mode == "nominal"
        rig.run(100.0)
        stale = [d for n, d in fdir_events(rig, mark) if n == "fdir.monitor_stale"]
        assert [d.split()[0] for d in stale] == [
            "monitor=propellant_cold", "monitor=igloo_zone_cold"
        ], stale  # fmt: skip
        assert rig.node.modes.mode == "safe", "their response: safe mode"
        assert "value=age:18" in stale[0] and "bound=max_age:180" in stale[0]
        status = rig.node.protection.status()
        assert status["board_igloo"]["state"] == "ok", "the board itself still answers"


def test_a_silent_igloo_board_trips_its_monitor_and_its_temperatures_go_stale(tmp_path):
    with MissionRig(tmp_path, "lander") as rig:
        assert rig.command("modes.set", mode=2)[-1] == "completed"
        rig.run(70.0)
        assert fdir_events(rig) == []
        mark = len(rig.packets)
        rig.inject("igloo", "blackout")
        rig.run(60.0)  # heartbeats every 5 s: three missed and the HAL calls the board silent
        tripped = [d for n, d in fdir_events(rig, mark) if n == "fdir.monitor_tripped"]
        assert len(tripped) == 1 and tripped[0].startswith("monitor=board_igloo"), tripped
        assert rig.node.modes.mode == "safe"
        rig.run(200.0)  # no reading since 60 s: the propellant is not judged on an old value
        stale = [d.split()[0] for n, d in fdir_events(rig, mark) if n == "fdir.monitor_stale"]
        assert stale == ["monitor=propellant_cold", "monitor=igloo_zone_cold"], stale
        assert rig.node.protection.status()["os_warm"]["state"] == "ok", "other boards: fresh"


# ----------------------------------------------------------------------- a sequence after a reset


def test_a_sequence_running_at_a_reset_resumes_at_its_step_on_the_real_nv_store(
    tmp_path: Path,
) -> None:
    first = Craft(tmp_path / "nv")
    assert first.command("seq.start", sequence=1)[-1] == "completed"
    first.run(15.0)  # steps 0 and 1 released (at +0 and +10 s): the reset comes at +15 s
    assert len(first.pongs()) == 2
    stored = first.node.nv.get("sequences")
    pings = next(s for s in stored["sequences"] if s["name"] == "pings")
    assert (pings["step"], pings["state"]) == (2, "running")

    second = Craft(tmp_path / "nv", start=0.0)  # the node restarts, its clock from 0
    resumed = second.named("seq.sequence_resumed")
    assert len(resumed) == 1 and "pings at step 2 of 6 due 10.000" in resumed[0][1], resumed
    assert second.node.modes.mode == "safe", "the node boots safe; the sequence carries on"
    second.run(60.0)
    released = [d for _, d in second.named("seq.sequence_step_released")]
    assert [d.split(" due ")[0] for d in released] == [
        f"pings step {i} of 6 TC[17,1] apid=0x200" for i in range(2, 6)
    ], released
    assert [float(d.split(" due ")[1].split(" ")[0]) for d in released] == [10, 20, 30, 40]
    assert [round(t) for t in second.pongs()] == [10, 20, 30, 40], "each step once, answered"
    assert second.node.sequences.engine.progress("pings") == (6, 6, "completed")
    assert len(first.pongs()) + len(second.pongs()) == PINGS


def test_a_sequence_is_not_resumed_while_the_reset_loop_guard_holds_the_node(
    tmp_path: Path,
) -> None:
    first = Craft(tmp_path / "nv")
    assert first.command("seq.start", sequence=1)[-1] == "completed"
    first.run(15.0)
    for _ in range(4):  # quick resets in a row: the guard trips (limit 3)
        craft = Craft(tmp_path / "nv")
    assert craft.node.protection.autonomy is False
    assert craft.node.sequences.engine.progress("pings") == (2, 6, "stopped")
    craft.run(30.0)
    assert craft.pongs() == []


# --------------------------------------------------------------- the node process, killed -9


def pings_config(tmp_path: Path) -> Path:
    """The shipped lander configuration file with the ``pings`` sequence appended."""
    text = default_config_path("lander").read_text(encoding="utf-8")
    steps = ", ".join(
        f'{{ delay = {step["delay"]}, command = "core.ping" }}' for step in SEQUENCE["steps"]
    )
    path = tmp_path / "lander.toml"
    path.write_text(
        text.replace("[fdir]", f'[[sequences]]\nname = "pings"\nsteps = [{steps}]\n\n[fdir]', 1),
        encoding="utf-8",
    )
    assert [name for name, _ in load_config("lander", path).sequences] == ["status_burst", "pings"]
    return path


class ConfiguredBenchRun(BenchRun):
    """A bench run whose nodes start with a given configuration file."""

    config: Path

    def start_node(self, node: str, boot_cause: str = "power_on") -> subprocess.Popen[str]:
        args = [sys.executable, "-m", "fsw", "--node", node, "--bench", str(self.bench_path),
                "--run-dir", str(self.run_dir), "--boot-cause", boot_cause,
                "--config", str(self.config)]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs[node] = proc
        return proc


def test_a_node_killed_mid_sequence_resumes_it_at_its_step_after_the_restart(
    tmp_path: Path,
) -> None:
    run = ConfiguredBenchRun(tmp_path, ["lander"])
    run.config = pings_config(tmp_path)
    with run:
        run.cycles(1.0)
        assert run.command("lander", "seq.start", sequence=1)[-1] == "completed"

        def released() -> list[str]:
            return [d for n, d in run.events("lander") if n == "seq.sequence_step_released"]

        run.cycles(15.0, lambda: len(released()) >= 2)
        run.cycles(5.0)  # between step 1 (released) and step 2 (due 10 s after it)
        assert len(released()) == 2
        killed_at = run.now
        mark = len(run.received["lander"])
        run.kill_node("lander")
        run.start_node("lander", boot_cause="restart")

        def resumed() -> list[str]:
            return [d for n, d in run.events("lander", mark) if n == "seq.sequence_resumed"]

        run.cycles(5.0, lambda: bool(resumed()))
        assert resumed() and "pings at step 2 of 6" in resumed()[0], resumed()
        run.cycles(6 * PING_EVERY, lambda: len(released()) >= PINGS)
        run.cycles(2.0)
        steps = released()
        assert len(steps) == PINGS, steps
        assert [s.split(" step ")[1].split(" ")[0] for s in steps] == [str(i) for i in range(6)]
        after = [d for n, d in run.events("lander", mark) if n == "seq.sequence_step_released"]
        assert len(after) == 4 and run.now > killed_at
        completed = [d for n, d in run.events("lander", mark) if n == "seq.sequence_completed"]
        assert completed and completed[0].startswith("pings: 6 steps")
