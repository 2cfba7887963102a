"""Hostile downlink frames against a live bench (issue 17, decision 0029).

Frames with a correct frame error control but an unexpected value in every header field and
every CLCW field are written on a node's radio (the flight end of its space link, a tty the
simulator relays down to the ground station, exactly where the node's own frames go). The
station must count each under its named reason, show the counts in ``msr bench status``, and
go on: every node still answers ``core.ping`` afterwards. (A frame whose version number is not
TM's never reaches the station here: the simulator's relay, as a radio's frame synchroniser,
takes only TM frames; ``tests/links/test_downlink_frame_classes.py`` feeds those to the ground
end directly.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ground_tools.api import Session
from ground_tools.bench_ctl import bench_status
from hal.bench import default_bench_path, load_bench
from hal.protocol.framing import ASM
from hal.protocol.tm_frame import FHP_IDLE_ONLY
from tests.links.tm_frames import clcw, data_size, tm_frame

IDLE_VC = 7


def hostile_frames(frame_length: int, scid: int) -> dict[str, list[bytes]]:
    """Expected reason -> frames with a valid FECF and one unexpected field value class each."""

    def frame(**fields: Any) -> bytes:
        return tm_frame(
            frame_length, **{"scid": scid, "vcid": IDLE_VC, "fhp": FHP_IDLE_ONLY, **fields}
        )

    return {
        "bad_version": [frame(version=v) for v in (1, 2, 3)],  # the deframer's reason
        "wrong_scid": [frame(scid=(scid + 1) % 1024), frame(scid=0 if scid else 1023)],
        "ocf_flag": [frame(ocf_flag=0)],
        "secondary_header": [frame(shf=1)],
        "packet_order_flag": [frame(pof=1)],
        "segment_length_id": [frame(slid=s) for s in (0, 1, 2)],
        "first_header_pointer": [frame(fhp=data_size(frame_length)), frame(fhp=0x7FD)],
        "sync_flag": [frame(sync=1)],
        "clcw_bad_type": [frame(ocf=clcw(type=1)), frame(ocf=0xFFFFFFFF)],
        "clcw_bad_version": [frame(ocf=clcw(version=v)) for v in (1, 2, 3)],
        "clcw_bad_spare0": [frame(ocf=clcw(spare0=s)) for s in (1, 2, 3)],
        "clcw_bad_spare1": [frame(ocf=clcw(spare1=1))],
        "clcw_not_cop1": [frame(ocf=clcw(cop=c)) for c in (0, 2, 3)],
        "clcw_wrong_vcid": [frame(ocf=clcw(vcid=v)) for v in (1, 63)],
        # COP-1 CLCWs that are legal but false: a lockout, a retransmit with wait, an N(R) far
        # ahead, every flag at once. FOP-1 may raise an alert; the station recovers by itself.
        "": [
            frame(ocf=clcw(lockout=1)),
            frame(ocf=clcw(retransmit=1, wait=1)),
            frame(ocf=clcw(report=200)),
            frame(
                ocf=clcw(
                    no_rf=1,
                    no_bit_lock=1,
                    lockout=1,
                    wait=1,
                    retransmit=1,
                    farm_b=3,
                    status=7,
                    report=255,
                )
            ),
        ],
    }


def rejects(run_dir: Path) -> dict[str, dict[str, int]]:
    """Each node's link rejects by reason, as ``msr bench status`` shows them."""
    links = bench_status(run_dir)["links"]
    return {node: dict(link["rejects"]) for node, link in links.items()}


def test_frames_with_every_bad_field_value_are_counted_and_the_bench_goes_on(
    msr_bench: Session,
) -> None:
    run_dir = msr_bench.run_dir
    bench = load_bench(default_bench_path())
    ports = json.loads((run_dir / "ports.json").read_text(encoding="utf-8"))
    before = rejects(run_dir)
    expected: dict[str, dict[str, int]] = {}
    for name, node in bench.nodes.items():
        radio = ports["space_links"][name]["radio"]
        classes = hostile_frames(node.space_link.tm_frame_length, node.space_link.scid)
        fd = os.open(radio, os.O_WRONLY | os.O_NOCTTY)
        try:
            for frames in classes.values():
                for raw in frames:
                    os.write(fd, ASM + raw)  # one whole frame per write, as the node writes
        finally:
            os.close(fd)
        # A frame whose version is not TM's is dropped by the simulated radio's frame sync
        # before it reaches the station (the unit tests feed it to the ground end directly).
        expected[name] = {
            r: len(frames) for r, frames in classes.items() if r not in ("bad_version", "")
        }

    deadline = time.monotonic() + 60.0
    while True:
        now = rejects(run_dir)
        missing = {
            node: {r: n for r, n in want.items()
                   if now[node].get(r, 0) - before[node].get(r, 0) < n}
            for node, want in expected.items()
        }  # fmt: skip
        if not any(missing.values()):
            break
        assert time.monotonic() < deadline, f"not counted in msr bench status: {missing}; {now}"
        time.sleep(0.2)

    status = bench_status(run_dir)
    assert all(p["state"] == "running" for p in status["processes"].values()), status
    table = subprocess.run(
        [sys.executable, "-m", "ground_tools.cli", "bench", "status", "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "1000"},
    ).stdout  # fmt: skip
    assert "clcw_bad_type 2" in table and "wrong_scid 2" in table, table
    for node in expected:
        assert msr_bench.cmd(f"{node} core.ping", timeout=60).ok, node
