"""Anti-replay survives the loss of a node's store (issue 16, decision 0023), with real processes.

Each test records the uplink a run sent to the lander (the station's capture, ASM and frame as
they crossed the wire), gives the lander a store that knows nothing (both NV copies deleted and
the node restarted; or a new run whose key file an earlier run used), writes every captured
frame onto the lander's radio link (the ground end of the simulator's space link, where the
station writes), and checks that none was accepted (no anti-replay number consumed in the NV
store, no command accepted by the dispatcher, no verification report) and none executed. Then
``msr link resync lander`` resynchronises it, and the next command executes exactly once; the
capture, replayed again, is still refused (it was signed in another session).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fsw.core.config import load_config
from fsw.core.node import nv_defaults
from fsw.core.nvstore import NvStore
from ground_tools import cli
from ground_tools.api import Session, connect
from ground_tools.bench_ctl import bench_down, bench_up, reset_node
from ground_tools.control_messages import MAX_LIMIT
from ground_tools.procedure import run_procedure
from ground_tools.procedures.steps import Campaign
from hal.bench import default_bench_path, load_bench, new_key_file_text
from hal.links import open_link
from hal.links.pcap import PcapReader

NODE = "lander"
COMMANDS = 30
"""Commands the first run of the key-file test sends: its captured sequence numbers then reach
above the base the second run's ground resyncs to, so only the session key (not the numbers)
can refuse them."""


def _uplink(run_dir: Path, node: str = NODE) -> list[bytes]:
    """Every frame the station wrote to ``node`` (ASM + TC frame), from its capture."""
    reader = PcapReader(run_dir / "captures" / f"ground-{node}.tx.pcap")
    try:
        return [bytes(frame) for _, frame in reader]
    finally:
        reader.close()


def _replay(run_dir: Path, frames: list[bytes], node: str = NODE) -> None:
    """Write ``frames`` onto ``node``'s radio link, where the station writes: the simulator
    carries them to the node like the ground's own."""
    ports = json.loads((run_dir / "ports.json").read_text(encoding="utf-8"))
    link = open_link(ports["space_links"][node]["ground"])
    try:
        for frame in frames:
            link.write(frame)
    finally:
        link.close()


def _counters(run_dir: Path, node: str = NODE) -> dict[str, int]:
    """The anti-replay counters in ``node``'s NV store on the disk now (read only)."""
    store = NvStore(run_dir / "nv" / node, nv_defaults(load_config(node)), durable=False)
    return {k: v for k, v in store.get("counters").items() if k.startswith(("sn:", "session:"))}


def _since(bench: Session, mark: int) -> list[Any]:
    packets, _ = bench.packets(mark, limit=MAX_LIMIT)  # all the station keeps (its HISTORY)
    return [p for p in packets if p.node == NODE]


def _accepted(bench: Session) -> int:
    """The lander dispatcher's accepted count, from a core status report received after now."""
    mark = bench.status()["received"]
    bench.wait_check(lambda: any(p.name == "core.status" for p in _since(bench, mark)), timeout=10)
    return int(bench.tlm(f"{NODE}.core.status.accepted"))


def _resync_with_the_cli(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["link", "resync", NODE, "--run-dir", str(run_dir)]) == 0
    assert f"{NODE}: uplink resynchronised" in capsys.readouterr().out


def _refuses_every_frame(bench: Session, run_dir: Path, frames: list[bytes]) -> None:
    """Replay ``frames`` into the lander that needs a resync: nothing accepted, nothing run."""
    assert bench.status()["nodes"][NODE]["sync"] == "needed"
    mark = bench.status()["received"]
    _replay(run_dir, frames)
    bench.wait(10.0)
    after = _since(bench, mark)
    assert not [p for p in after if p.kind == "verification"], "a replayed command was seen"
    rejected = [p.values["detail"] for p in after if p.name == "core.tc_rejected"]
    assert any("resync_needed" in detail for detail in rejected), rejected
    # the captured resync frame reached the node too, and named a dead challenge
    assert any("stale_challenge" in detail for detail in rejected), rejected
    assert not [p for p in after if p.name == "core.resynced"]
    assert not any(k.startswith("sn:") for k in _counters(run_dir)), "a frame consumed a number"
    assert _accepted(bench) == 0
    assert bench.status()["nodes"][NODE]["sync"] == "needed"


def _executes_once_then_refuses_the_capture(
    bench: Session, run_dir: Path, frames: list[bytes]
) -> None:
    result = bench.cmd(f"{NODE} core.ping")
    stages = [stage for stage, _, _ in result.stages]
    assert stages.count("completed") == 1 and "completion_failed" not in stages, stages
    assert _accepted(bench) == 1
    numbers = _counters(run_dir)
    mark = bench.status()["received"]
    _replay(run_dir, frames)  # signed in a session that no longer exists
    bench.wait(10.0)
    after = _since(bench, mark)
    assert not [p for p in after if p.kind == "verification"]
    rejected = [p.values["detail"] for p in after if p.name == "core.tc_rejected"]
    assert any("bad_mac" in detail for detail in rejected), rejected  # another session's key
    assert any("stale_challenge" in detail for detail in rejected), rejected
    assert _counters(run_dir) == numbers
    assert _accepted(bench) == 1


def test_a_node_whose_store_was_wiped_accepts_no_captured_frame_until_the_ground_resyncs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    up = bench_up(default_bench_path(), runs_dir=tmp_path / "runs", pace="fast", run_id="run")
    try:
        with connect(up.run_dir, source="test") as bench:
            assert bench.status()["nodes"][NODE]["sync"] == "synced"  # bench up resynced it
            bench.cmd(f"{NODE} core.ping")
            bench.cmd(NODE, "hk.report", sid=1)
            frames = _uplink(up.run_dir)
            assert len(frames) >= 4  # the resync, the Unlock and the two commands at least
            assert any(k.startswith("sn:") for k in _counters(up.run_dir))
            reset_node(up.run_dir, NODE, wipe_nv=True)
            bench.wait_check(lambda: bench.status()["nodes"][NODE]["sync"] == "needed", 30)
            _refuses_every_frame(bench, up.run_dir, frames)
            _resync_with_the_cli(up.run_dir, capsys)
            _executes_once_then_refuses_the_capture(bench, up.run_dir, frames)
    finally:
        bench_down(up.run_dir)


def test_a_new_node_with_an_earlier_runs_key_file_accepts_none_of_that_runs_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = default_bench_path().read_text(encoding="utf-8")
    spis = [spec.spi for spec in load_bench(default_bench_path()).nodes.values()]
    keys = tmp_path / "keys.json"
    keys.write_text(new_key_file_text(spis), encoding="utf-8")
    bench_file = tmp_path / "bench.toml"
    assert 'keys = "generate"' in default
    bench_file.write_text(default.replace('keys = "generate"', f'keys = "{keys}"'), "utf-8")
    runs = tmp_path / "runs"
    first = bench_up(bench_file, runs_dir=runs, pace="fast", run_id="first")
    try:
        with connect(first.run_dir, source="test") as bench:
            for _ in range(COMMANDS):  # numbers far above where the second run's ground starts
                bench.cmd(f"{NODE} core.ping")
            bench.cmd(NODE, "hk.report", sid=1)
    finally:
        bench_down(first.run_dir)
    frames = _uplink(first.run_dir)
    assert len(frames) >= COMMANDS + 3
    second = bench_up(bench_file, runs_dir=runs, pace="fast", run_id="second", resync=False)
    try:
        with connect(second.run_dir, source="test") as bench:
            bench.wait_check(lambda: bench.status()["nodes"][NODE]["sync"] == "needed", 30)
            _refuses_every_frame(bench, second.run_dir, frames)
            _resync_with_the_cli(second.run_dir, capsys)
            _executes_once_then_refuses_the_capture(bench, second.run_dir, frames)
    finally:
        bench_down(second.run_dir)


def test_the_campaign_resyncs_a_node_that_reports_it_needs_it(tmp_path: Path) -> None:
    up = bench_up(default_bench_path(), runs_dir=tmp_path / "runs", pace="fast", run_id="run")
    try:
        with connect(up.run_dir, source="test") as bench:
            phases: list[str] = []
            campaign = Campaign(bench, phase=phases.append)
            assert campaign.resync_if_needed() == [] and phases == []
            reset_node(up.run_dir, NODE, wipe_nv=True)
            bench.wait_check(lambda: bench.resync_needed() == [NODE], 30)
            assert campaign.cmd(NODE, "core.ping").ok
            assert phases == [f"{NODE}: uplink resync (anti-replay store lost)"]
            assert bench.status()["nodes"][NODE]["sync"] == "synced"
    finally:
        bench_down(up.run_dir)


def test_a_procedure_loses_a_nodes_store_and_resyncs_it(tmp_path: Path) -> None:
    procedure = tmp_path / "lose_the_store.py"
    procedure.write_text(
        'reset_node("lander", wipe_nv=True)\n'
        'wait_check(lambda: bench.status()["nodes"]["lander"]["sync"] == "needed", 30)\n'
        'resync("lander")\n'
        'cmd("lander core.ping")\n',
        encoding="utf-8",
    )
    up = bench_up(default_bench_path(), runs_dir=tmp_path / "runs", pace="fast", run_id="run")
    try:
        lines: list[str] = []
        verdict = run_procedure(procedure, up.run_dir, log=lines.append)
        assert verdict.passed, verdict.reason
        assert any("resync lander" in line for line in lines), lines
    finally:
        bench_down(up.run_dir)
