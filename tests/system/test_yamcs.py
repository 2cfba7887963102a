"""System test (issue 20, decision 0046): Yamcs as mission control beside a real bench.

An operator's procedure, with real processes: a bench whose lander sends its TM frames to a UDP
port and takes its TC frames on another, commanded by external equipment (``tm_udp``,
``tc_udp``, ``uplink = "external"``: decision 0044), comes up at real time (``msr bench up``:
the station resynchronises the lander and hands the session over); ``msr yamcs init`` writes
the Yamcs instance and ``msr yamcs up`` starts Yamcs 5.12.8 (the ``yamcs`` extra) beside it.
Then:

* **telemetry**: over a minute of the bench (the lander's housekeeping, events and time
  reports), every TM packet the node sent (rebuilt from the downlink frames in the project's
  archive) is in Yamcs's packet archive, octet for octet, and every parameter value Yamcs
  decoded from it (its archive, through the REST API) equals the project's archive (same
  points, same times to the millisecond, same raw values);
* **commands**: ``core.ping`` and ``modes.set mode=nominal`` issued through Yamcs's REST API
  (as the web interface does) go over COP-1 with AES-256-GCM SDLS; each executes exactly once
  on the node (one acceptance and one completion report carrying its request id on the
  downlink; the node's accepted count up by exactly two; the mode nominal) and Yamcs's command
  history shows it acknowledged by COP-1 and its verification reports (acceptance, start,
  completion); then the whole phase, from the lander's safe housekeeping through its
  commissioning to nominal from Yamcs, is compared again: every packet in Yamcs's archive, every
  value equal to the project's;
* **a new session**: the lander power-cycled with its store wiped needs a resync (decision
  0023); after ``msr link resync lander`` (a new session key) ``msr yamcs sync`` hands the new
  session to the running Yamcs, and a ``core.ping`` through it completes;
* **wrong key**: Yamcs given a wrong key (its SDLS REST API) sends a ``core.ping`` the node
  refuses (``core.tc_rejected``: ``bad_mac``), and it never runs;
* **the web interface**: headless Chromium takes a screenshot of Yamcs's page of the lander's
  telemetry into the run folder (``yamcs-lander.png``).

Marked ``long`` (a minute of real time, a JVM): ``make test-long`` runs it, and CI runs that.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import stat
import struct
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

import pytest

from ground_tools.archive import Archive
from ground_tools.bench_ctl import bench_status
from ground_tools.yamcs import INSTANCE, YamcsServer, running
from hal.bench import default_bench_path, load_bench
from hal.protocol.tm_frame import TmReassembler
from tests.system.chromium import chromium, screenshot
from tests.system.operator import msr

NODE = "lander"
PHASE = 60.0
"""Simulated seconds of the lander's telemetry compared (at real time: a wall minute)."""
SETTLE = 5.0
"""Simulated seconds after Yamcs listens before the compared span starts (a frame in flight
when Yamcs bound its port, a packet that spans it), and after it ends (frames still queued)."""
WAIT = 240.0
"""Wall seconds any one step may take on a loaded machine (a bound on waiting, not a timing
assertion)."""
TIME_OFFSET = 13
"""Where a TM packet's CUC time starts (decision 0004)."""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bench(tmp_path: Path) -> Path:
    """The default bench with the lander's frames on UDP and its uplink external."""
    text = default_bench_path().read_text(encoding="utf-8")
    tm, tc = _free_udp_port(), _free_udp_port()
    keys = (f'tm_udp = "127.0.0.1:{tm}"\ntc_udp = "127.0.0.1:{tc}"\n'
            'uplink = "external"\n')  # fmt: skip
    text = text.replace("[nodes.lander]\n", "[nodes.lander]\n" + keys, 1)
    path = tmp_path / "bench.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _until(what: str, probe, timeout: float = WAIT, why=None):
    """Poll ``probe`` until it returns something true, or fail naming ``what`` (and what
    ``why()`` says about it)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f": {why()}" if why else ""))
        time.sleep(0.5)


def _completed(yamcs: YamcsServer, run: Path, issued: dict) -> None:
    """Wait for Yamcs's completion verifier of ``issued``; on a timeout, say where it stands
    (its history, COP-1, the lander's latest events)."""

    def why() -> str:
        entry = {k: v for k, v in _entry(yamcs, issued["id"]).items() if k.endswith("Status")}
        cop1 = yamcs.get(f"/api/cop1/{INSTANCE}/{NODE}-tc.vc0/status")
        with Archive.open_readonly(run / "archive.sqlite") as archive:
            events = [(e.sim_time, e.name, e.detail) for e in archive.events(node=NODE)][-8:]
        return f"history {entry}; COP-1 {cop1}; events {events}"

    _until(f"{issued['commandName']} completed in Yamcs", lambda: _entry(
        yamcs, issued["id"]).get("Verifier_Completion_Status") == "OK", why=why)  # fmt: skip


def _mission_time(run: Path) -> float:
    return float(bench_status(run)["time"])


def _utc(epoch: datetime, text: str) -> float:
    """Yamcs's ISO time as mission seconds (milliseconds at most)."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round((stamp - epoch).total_seconds(), 3)


def _ms(seconds: float) -> int:
    """A CUC time as Yamcs shows it: truncated to the millisecond (decision 0046)."""
    return int(seconds * 1000)


def _packet_time(packet: bytes) -> float:
    coarse, fine = struct.unpack_from(">IH", packet, TIME_OFFSET)
    return coarse + fine / 65536


def _node_packets(run: Path, start: float, end: float) -> list[bytes]:
    """The lander's TM packets of mission time ``start`` .. ``end``, rebuilt from the downlink
    frames the station archived (as the node sent them)."""
    bench = load_bench(run / "bench.toml")
    config = bench.nodes[NODE].space_link
    reassembler = TmReassembler(bench.nodes[NODE].scid, frame_length=config.tm_frame_length,
                                max_packet_length=config.max_packet_length)  # fmt: skip
    packets = []
    with Archive.open_readonly(run / "archive.sqlite") as archive:
        for frame in archive.frames(NODE, "down"):
            for packet in reassembler.feed(frame.raw[4:]):  # after the attached sync marker
                if (packet[0] >> 3) & 1 and start <= _packet_time(packet) <= end:
                    packets.append(packet)
    return packets


def _yamcs_packets(yamcs: YamcsServer, epoch: datetime, start: float, end: float) -> list[dict]:
    """Yamcs's archived packets of the lander, mission time ``start`` .. ``end``."""
    found, token = [], None
    while True:
        query = {"limit": 500, "order": "asc", "start": _iso(epoch, start),
                 "stop": _iso(epoch, end + 0.001)}  # fmt: skip
        if token:
            query["next"] = token
        page = yamcs.get(f"/api/archive/{INSTANCE}/packets", **query)
        found += [p for p in page.get("packet", []) if p.get("link", "").startswith(NODE)]
        token = page.get("continuationToken")
        if not token:
            return found


def _raw(value: dict):
    """A Yamcs raw value as the project's archive stores it."""
    kind = value["type"]
    if kind == "BOOLEAN":
        return int(value["booleanValue"])
    if kind in ("FLOAT", "DOUBLE"):
        return float(value["floatValue" if kind == "FLOAT" else "doubleValue"])
    if kind == "STRING":
        return value["stringValue"]
    if kind == "BINARY":
        return base64.b64decode(value["binaryValue"])
    return int(next(v for k, v in value.items() if k.endswith("Value")))


def _same(kind: str, mine, theirs) -> bool:
    if kind == "FLOAT" and isinstance(mine, float):  # both a float32 value
        return struct.pack(">f", mine) == struct.pack(">f", theirs)
    return mine == theirs


def _history(yamcs: YamcsServer, qualified: str, epoch: datetime, start: float, end: float):
    page = yamcs.get(
        f"/api/archive/{INSTANCE}/parameters{qualified}", limit=1000, order="asc",
        start=_iso(epoch, start), stop=_iso(epoch, end + 0.001),
    )  # fmt: skip
    return [
        (round(_utc(epoch, p["generationTime"]) * 1000), p["rawValue"])
        for p in page.get("parameter", [])
    ]


def _parameters(yamcs: YamcsServer) -> dict[str, str]:
    """The lander's parameters in Yamcs's MDB by the project's name (``lander.core.status.mode``
    to its qualified name), from their ``msr`` aliases."""
    mdb = yamcs.get(f"/api/mdb/{INSTANCE}/parameters", system=f"/MSR/{NODE}", limit=1000,
                    details=True)  # fmt: skip
    return {
        f"{NODE}.{a['name']}": p["qualifiedName"]
        for p in mdb["parameters"] for a in p.get("alias", []) if a.get("namespace") == "msr"
    }  # fmt: skip


def _compare_points(
    yamcs: YamcsServer, run: Path, by_alias: dict[str, str], epoch: datetime, start: float,
    end: float,
) -> int:  # fmt: skip
    """Every value of the lander's parameters in the project's archive, mission time ``start``
    .. ``end``, equals Yamcs's at the same millisecond (and Yamcs has no other); how many."""
    compared = 0

    def caught_up() -> bool:  # the station commits its archive a few times a wall second
        with Archive.open_readonly(run / "archive.sqlite") as archive:
            return max((archive.latest(n)[0] for n in archive.parameters(f"{NODE}.")),
                       default=0.0) > end  # fmt: skip

    _until(f"the project's archive past mission time {end:.0f} s", caught_up)
    with Archive.open_readonly(run / "archive.sqlite") as archive:
        for name in archive.parameters(f"{NODE}."):
            points = archive.points(name, start, end + 0.0005)  # Yamcs's span: to end + 1 ms
            if not points or name not in by_alias:
                continue
            values = _history(yamcs, by_alias[name], epoch, start, end)
            ours = [(_ms(t), v) for t, v in points]
            assert [t for t, _ in values] == [t for t, _ in ours], name
            for (t, value), (_, mine) in zip(values, ours, strict=True):
                assert _same(value["type"], mine, _raw(value)), (name, t, mine, value)
            compared += len(ours)
    return compared


def _iso(epoch: datetime, seconds: float) -> str:
    from datetime import timedelta

    return (epoch + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _command(yamcs: YamcsServer, name: str, args: dict) -> dict:
    """Issue ``/MSR/lander/<name>`` as the web interface does; its command history entry."""
    issued = yamcs.post(
        f"/api/processors/{INSTANCE}/realtime/commands/MSR/{NODE}/{name}",
        {"args": args, "comment": "tests/system/test_yamcs.py"},
    )
    return issued


def _entry(yamcs: YamcsServer, command_id: str) -> dict[str, object]:
    """The command's history attributes by name (values as Yamcs gives them)."""
    entry = yamcs.get(f"/api/archive/{INSTANCE}/commands/{urllib.parse.quote(command_id, '')}")
    attributes: dict[str, object] = {}
    for attr in entry.get("attr", []):
        value = attr["value"]
        attributes[attr["name"]] = next((v for k, v in value.items() if k.endswith("Value")), None)
    return attributes


def _verification(packets: list[bytes], request_id: bytes) -> list[int]:
    """The subtypes of the PUS-1 reports about ``request_id`` among ``packets``."""
    return [p[8] for p in packets if p[7] == 1 and p[19:23] == request_id]


def _status_after(run: Path, field: str, t: float) -> int:
    """The lander's ``core.status.<field>`` in its first report after mission time ``t``."""

    def probe():
        with Archive.open_readonly(run / "archive.sqlite") as archive:
            points = archive.points(f"{NODE}.core.status.{field}", t)
        return points[:1]

    return int(_until(f"a core.status after t = {t:.1f} s", probe)[0][1])


def _rejected_bad_mac(run: Path) -> int:
    with Archive.open_readonly(run / "archive.sqlite") as archive:
        return sum(
            1 for e in archive.events(node=NODE)
            if e.name == "core.tc_rejected" and "bad_mac" in e.detail
        )  # fmt: skip


@pytest.mark.long
def test_yamcs_is_mission_control_over_the_same_links(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    run = tmp_path / "runs" / "run"
    up = msr("bench", "up", "--bench", str(bench), "--run-dir", str(run), cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    try:
        _procedure(run, tmp_path)
    finally:
        msr("yamcs", "down", "--run-dir", str(run), cwd=tmp_path)
        msr("bench", "down", "--run-dir", str(run), cwd=tmp_path)


def _procedure(run: Path, cwd: Path) -> None:
    epoch = load_bench(run / "bench.toml").epoch
    # the station resynchronised the lander and handed the session over (decision 0044)
    assert (run / "ground" / f"{NODE}.session.json").is_file()

    init = msr("yamcs", "init", "--run-dir", str(run), cwd=cwd)
    assert init.returncode == 0, init.stderr
    folder = run / "yamcs"
    key = folder / "keys" / f"{NODE}.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    started = msr("yamcs", "up", "--run-dir", str(run), cwd=cwd, timeout=WAIT)
    assert started.returncode == 0, started.stderr
    url = re.search(r"http://127\.0\.0\.1:\d+", started.stdout)
    assert url, started.stdout
    yamcs = running(run)
    assert yamcs is not None and yamcs.url == url.group(0)

    # ---------------------------------------------------------------- telemetry
    links = {link["name"]: link for link in yamcs.get(f"/api/links/{INSTANCE}")["links"]}
    assert f"{NODE}-tm" in links and f"{NODE}-tc" in links, sorted(links)
    _until("Yamcs's first lander frame", lambda: int(
        yamcs.get(f"/api/links/{INSTANCE}/{NODE}-tm").get("dataInCount", 0)) > 0)  # fmt: skip
    start = _mission_time(run) + SETTLE
    end = start + PHASE
    _until(f"mission time {end + SETTLE:.0f} s", lambda: _mission_time(run) >= end + SETTLE,
           timeout=WAIT + PHASE)  # fmt: skip

    sent = _node_packets(run, start, end)
    archived = _yamcs_packets(yamcs, epoch, start, end)
    theirs = [base64.b64decode(p["packet"]) for p in archived]
    assert len(sent) > PHASE, f"only {len(sent)} lander packets in {PHASE:g} s"
    assert sorted(theirs) == sorted(sent), (
        f"{len(sent)} packets sent, {len(theirs)} in Yamcs; missing "
        f"{len(set(sent) - set(theirs))}, extra {len(set(theirs) - set(sent))}"
    )

    by_alias = _parameters(yamcs)
    assert _compare_points(yamcs, run, by_alias, epoch, start, end) > 100
    assert "lander.core.status.mode" in by_alias

    # ---------------------------------------------------------------- commands over COP-1
    accepted = _status_after(run, "accepted", _mission_time(run))
    ping = _command(yamcs, "core_ping", {})
    mode = _command(yamcs, "modes_set", {"mode": "nominal"})
    for issued in (ping, mode):
        _until(f"{issued['commandName']} acknowledged by COP-1", lambda i=issued: _entry(
            yamcs, i["id"]).get("Acknowledge_Sent_Status") == "OK")  # fmt: skip
        _completed(yamcs, run, issued)
    after = _mission_time(run) + SETTLE
    _until("the commands' reports archived", lambda: _mission_time(run) >= after)
    downlink = _node_packets(run, start, after)
    # the whole phase, from the lander's safe housekeeping through its commissioning to nominal
    # from Yamcs (the reports, the mode change and its events, nominal housekeeping): every
    # packet in Yamcs's archive, every value equal to the project's
    theirs = [base64.b64decode(p["packet"]) for p in _yamcs_packets(yamcs, epoch, start, after)]
    assert sorted(theirs) == sorted(downlink), (
        f"{len(downlink)} packets sent, {len(theirs)} in Yamcs; missing "
        f"{len(set(downlink) - set(theirs))}, extra {len(set(theirs) - set(downlink))}"
    )
    assert _compare_points(yamcs, run, by_alias, epoch, start, after) > 100
    for issued in (ping, mode):
        entry = _entry(yamcs, issued["id"])
        binary = entry["binary"]
        request_id = base64.b64decode(binary)[:4] if isinstance(binary, str) else b""
        assert len(request_id) == 4, entry
        assert _verification(downlink, request_id) == [1, 3, 7], issued["commandName"]
        for stage in ("Acceptance", "Start", "Completion"):
            assert entry.get(f"Verifier_{stage}_Status") == "OK", (stage, entry)
    done = _mission_time(run)
    assert _status_after(run, "accepted", done) - accepted == 2  # each exactly once
    assert _status_after(run, "mode", done) == 2  # nominal

    # ---------------------------------------------------------------- a new session
    # the lander loses its store (a power cycle with both copies wiped): it needs a resync
    # (decision 0023); the operator resynchronises it, the station hands the new session over,
    # and `msr yamcs sync` gives it to the running Yamcs (key, first IV, COP-1 from the CLCW)
    reset = msr("bench", "reset", NODE, "--wipe-nv", "--run-dir", str(run), cwd=cwd)
    assert reset.returncode == 0, reset.stderr
    resync = msr("link", "resync", NODE, "--run-dir", str(run), cwd=cwd)
    assert resync.returncode == 0, resync.stderr
    synced = msr("yamcs", "sync", "--run-dir", str(run), cwd=cwd)
    assert synced.returncode == 0 and f"new uplink session for {NODE}" in synced.stdout, synced
    _completed(yamcs, run, _command(yamcs, "core_ping", {}))

    # ---------------------------------------------------------------- a wrong key
    baseline = _status_after(run, "accepted", _mission_time(run))
    refused = _rejected_bad_mac(run)
    spi = load_bench(run / "bench.toml").nodes[NODE].spi
    yamcs.put(f"/api/sdls/{INSTANCE}/{NODE}-tc/{spi}/key", bytes(range(32)))
    forged = _command(yamcs, "core_ping", {})
    _until("the node refusing Yamcs's frame (bad_mac)", lambda: _rejected_bad_mac(run) > refused)
    later = _mission_time(run) + SETTLE
    _until("the wrong-key frame's fate archived", lambda: _mission_time(run) >= later)
    binary = _entry(yamcs, forged["id"]).get("binary")
    request_id = base64.b64decode(binary)[:4] if isinstance(binary, str) else b""
    assert _verification(_node_packets(run, start, later), request_id) == []
    assert _status_after(run, "accepted", later) == baseline  # the forged ping never ran

    # ---------------------------------------------------------------- the web interface
    _screenshot(yamcs, run / "yamcs-lander.png")


def _screenshot(yamcs: YamcsServer, out: Path) -> None:
    """The web interface's page of the lander's core status, as an operator opens it."""
    assert chromium(), "chromium is installed by make system-tools"
    page = (f"{yamcs.url}/telemetry/parameters?c={INSTANCE}__realtime&system=/MSR/{NODE}"
            "&filter=core_status")  # fmt: skip
    screenshot(page, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 30_000, "a blank page"  # the table of values (about 130 kB)


def test_yamcs_init_refuses_a_bench_without_udp(tmp_path: Path) -> None:
    """``msr yamcs init`` on a run folder whose bench names no ``tm_udp``: one line naming it."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(default_bench_path(), run / "bench.toml")
    (run / "keys.json").write_text(
        json.dumps({"keys": {str(s): "00" * 32 for s in (1, 2, 3)}}), encoding="utf-8"
    )
    result = msr("yamcs", "init", "--run-dir", str(run), cwd=tmp_path)
    assert result.returncode == 2
    assert "tm_udp" in result.stderr and "Traceback" not in result.stderr
