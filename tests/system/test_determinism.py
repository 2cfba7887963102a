"""System test: a SIL run repeats byte for byte from its run folder (issue 18, decision 0034).

As a CI engineer replays yesterday's failure: run a 6-tube campaign with one seed, then
``msr campaign --rerun`` on its run folder (same bench file, seed, key file, nonce seed,
scenario and tubes), and read the comparison of every capture record and every archive row.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from ground_tools.api import connect
from ground_tools.bench_ctl import bench_down, bench_up
from ground_tools.campaign import DEFAULT_BENCH
from ground_tools.rerun import compare_runs
from hal.links.pcap import PcapReader, PcapWriter
from tests.system.operator import msr


@pytest.mark.long  # make test-long (CI): moved there to keep make test under 15 minutes
def test_a_campaign_run_again_from_its_run_folder_comes_out_identical(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = msr("campaign", "--tubes", "6", "--seed", "4242", "--runs-dir", str(runs),
                cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    run_a = (runs / "latest").resolve()
    summary_a = json.loads((run_a / "summary.json").read_text())
    assert summary_a["ok"] and summary_a["seed"] == 4242 and summary_a["tubes_loaded"] == 6
    for tube in summary_a["tubes_detail"]:
        assert tube["final_location"] == "ees" and tube["chain_ok"]
    assert {p.name for p in (run_a / "logs").iterdir()} >= {"lander.log", "mav.log",
                                                          "orbiter.log"}  # fmt: skip

    again = msr("campaign", "--rerun", str(run_a), cwd=tmp_path)

    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "identical: 84 captures" in again.stdout, again.stdout[-3000:]
    run_b = (runs / "latest").resolve()
    assert run_b != run_a
    summary_b = json.loads((run_b / "summary.json").read_text())
    assert summary_b["sim_seconds"] == summary_a["sim_seconds"]  # to the microsecond
    assert (run_b / "keys.json").read_bytes() == (run_a / "keys.json").read_bytes()
    assert (run_b / "bench.toml").read_text() == (run_a / "bench.toml").read_text()

    # the comparison is no formality: one octet changed in one record of a copy is named
    copy = tmp_path / "copy"
    shutil.copytree(run_b, copy, ignore=shutil.ignore_patterns("ports"))
    capture = copy / "captures" / "fsw-lander-radio.rx.pcap"
    with PcapReader(capture) as reader:
        records = list(reader)
    n = len(records) // 2
    when, frame = records[n]
    records[n] = (when, frame[:-1] + bytes([frame[-1] ^ 0x01]))
    capture.unlink()
    with PcapWriter(capture) as writer:
        for ts, raw in records:
            writer.write(raw, ts)
    comparison = compare_runs(run_a, copy)
    assert not comparison.identical
    assert [str(d) for d in comparison.differences] == [
        f"captures/fsw-lander-radio.rx.pcap: record {n + 1}: octet {len(frame) - 1} of "
        f"{len(frame)}: {frame[-1]:#04x} against {frame[-1] ^ 1:#04x}"
    ]


def test_at_the_held_pace_time_stands_still_while_the_procedure_computes(tmp_path: Path) -> None:
    """The procedure is a lockstep participant (decision 0034): simulated time moves only while
    it waits, by exactly what it asked for, however long it thinks in between."""
    up = bench_up(DEFAULT_BENCH, runs_dir=tmp_path / "runs", pace="held")
    try:
        with connect(up.run_dir) as bench:
            start = bench.now()
            time.sleep(1.5)  # the procedure thinks for 1.5 s of wall time: no tick moves
            assert bench.now() == start
            reached = bench.wait(5.0)  # the tick that woke it
            assert start + 5.0 <= reached < start + 5.2
            acting = bench.now()  # that same tick, held while the procedure acts
            assert acting == reached
            time.sleep(1.5)
            assert bench.now() == acting
            sent = bench.send("lander", "core.ping")  # goes up with the next tick
            result = bench.wait_command(sent, timeout=10.0)
            assert result.ok
            assert result.stages[0][1] > acting  # reported after time moved on
            assert bench.status()["pace"] == "held"
    finally:
        bench_down(up.run_dir)
