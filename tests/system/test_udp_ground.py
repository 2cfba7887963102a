"""System test: external ground equipment on UDP (issue 20, decision 0044).

As a mission-control engineer putting their own ground equipment (Yamcs's UDP frame links) on a
bench: the bench file names, for the lander, the UDP port its TM frames go to (``tm_udp``), the
port its TC frames are taken from (``tc_udp``) and ``uplink = "external"``; the mav's TM goes to
the same port; the orbiter's is left to the station alone. The test plays the equipment with
plain sockets and the project's own frame builders: it reads every TM frame as a datagram, takes
over the session the station opened with ``msr bench up``'s resync (``ground/lander.session.json``),
sends a ``core.ping`` in a type-BD frame secured with the node's suite (AES-256-GCM), and sees it
executed, in its own datagrams and in the station's archive. Garbage datagrams are refused by the
station, counted by reason, never forwarded, and the link goes on. At the held pace a datagram
waits while the procedure holds time and goes up at the next tick; ``--pace fast`` is refused.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fsw.dictionary import node_dictionary
from ground_tools.api import GroundError, connect
from ground_tools.bench_ctl import bench_down, bench_up
from ground_tools.telemetry import Received, decode_tm
from hal.bench import default_bench_path, load_bench
from hal.errors import ProtocolError
from hal.protocol import sdls
from hal.protocol.framing import ASM
from hal.protocol.pus import PusPacket, PusTc, PusTm, RequestId
from hal.protocol.tc_frame import TcFrame
from hal.protocol.tm_frame import TmFrame, TmReassembler
from tests.system.operator import msr

WAIT = 90.0
"""Wall seconds the test waits for what the bench does at real time (a bound, not a measure)."""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TmListener:
    """The equipment's TM frame link: one socket, one datagram per frame, every node's frames
    reassembled into packets by spacecraft id and decoded with the node's dictionary."""

    def __init__(self, nodes: dict[int, str]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.nodes = nodes
        self.frames: dict[int, list[TmFrame]] = defaultdict(list)
        self.foreign: list[bytes] = []
        self.packets: list[Received] = []
        self._reassemblers = {scid: TmReassembler(scid) for scid in nodes}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self._take(datagram)

    def _take(self, datagram: bytes) -> None:
        try:
            frame = TmFrame.from_raw(datagram)
        except ProtocolError:
            with self._lock:
                self.foreign.append(datagram)
            return
        reassembler = self._reassemblers.get(frame.scid)
        with self._lock:
            self.frames[frame.scid].append(frame)
            if reassembler is None:
                return
            node = self.nodes[frame.scid]
            for raw in reassembler.feed(datagram):
                packet = PusPacket.from_raw(raw)
                if isinstance(packet, PusTm):
                    item = decode_tm(node_dictionary(node), packet, len(self.packets) + 1, 0.0)
                    self.packets.append(item)

    def wait_for(self, what: str, found: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self._lock:
                result = found()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"no {what} in the TM datagrams within {WAIT:g} s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[TmListener]:
    bench = load_bench(default_bench_path())
    tm = TmListener({spec.scid: name for name, spec in bench.nodes.items()})
    yield tm
    tm.close()


def bench_with_external_equipment(tmp_path: Path, tm_port: int, tc_port: int) -> Path:
    text = default_bench_path().read_text(encoding="utf-8")
    for node, extra in {
        "lander": f'tm_udp = "127.0.0.1:{tm_port}"\ntc_udp = "127.0.0.1:{tc_port}"\n'
                  'uplink = "external"\n',
        "mav": f'tm_udp = "127.0.0.1:{tm_port}"\n',
    }.items():  # fmt: skip
        table = f'[nodes.{node}]\nradio = "sim"\n'
        assert table in text
        text = text.replace(table, table + extra, 1)
    path = tmp_path / "bench.toml"
    path.write_text(text, encoding="utf-8")
    return path


def session_of(run_dir: Path, node: str) -> dict[str, Any]:
    """The session the station handed over after the resync of ``msr bench up``."""
    return json.loads((run_dir / "ground" / f"{node}.session.json").read_text(encoding="utf-8"))


def test_external_equipment_takes_the_tm_and_commands_the_lander_over_udp(
    tmp_path: Path, listener: TmListener
) -> None:
    tc_port = free_udp_port()
    bench_path = bench_with_external_equipment(tmp_path, listener.port, tc_port)
    bench = load_bench(bench_path)
    lander, mav, orbiter = (bench.nodes[n] for n in ("lander", "mav", "orbiter"))
    config = lander.space_link
    apid = node_dictionary("lander").apid
    target = ("127.0.0.1", tc_port)
    tc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    up = bench_up(bench_path, runs_dir=tmp_path / "runs")  # at real time; resyncs every node
    try:
        # the TM of every node that names tm_udp comes as datagrams, each one TM frame
        listener.wait_for(
            "lander and mav frames",
            lambda: listener.frames[lander.scid] and listener.frames[mav.scid],
        )
        assert orbiter.scid not in listener.frames and not listener.foreign
        with connect(up.run_dir, source="test") as session:
            links = session.status()["nodes"]
            assert links["lander"]["uplink"] == "external" and links["mav"]["uplink"] == "station"
            assert links["lander"]["sync"] == "synced"  # the station answered the challenge
            assert "udp" not in links["orbiter"]
            with pytest.raises(GroundError, match='lander: uplink = "external" on this bench'):
                session.cmd("lander", "core.ping")

        # the equipment takes the session over and sends a core.ping in a type-BD frame
        handed = session_of(up.run_dir, "lander")
        assert handed["spi"] == lander.spi and handed["suite"] == lander.sdls == "aes-gcm"
        sa = sdls.SecurityAssociation(lander.spi, bytes.fromhex(handed["key"]))
        sn = handed["next_sn"]

        def ping(seq: int) -> tuple[bytes, str]:
            nonlocal sn
            packet = PusTc(apid, 17, 1, seq_count=seq)
            frame = TcFrame(config.scid, config.vcid, packet.pack(), bypass=1,
                            map_id=config.map_id)  # fmt: skip
            raw = sdls.authenticate(frame, sa, sn, lander.sdls)
            sn += 1
            return raw, RequestId.of(packet).pack().hex()

        def executed(request_id: str) -> Callable[[], Any]:
            def found() -> Any:
                stages = [p.values["stage"] for p in listener.packets
                          if p.node == "lander" and p.kind == "verification"
                          and p.values["request_id"] == request_id]  # fmt: skip
                return "completed" in stages and stages

            return found

        first, first_id = ping(1)
        tc.sendto(first, target)
        stages = listener.wait_for("the ping's completion", executed(first_id))
        assert stages[0] == "accepted" and stages.count("completed") == 1
        assert any(p.node == "lander" and p.name == "core.alive" for p in listener.packets)

        # garbage: refused by the station, counted by reason, never forwarded
        good = TcFrame(config.scid, config.vcid, bytes(30), bypass=1).pack()
        garbage = {
            "too_short": b"\x00\x01\x02",
            "too_long": first + bytes(1100),
            "bad_version": bytes([good[0] | 0x80]) + good[1:],
            "bad_length": first + b"\x00",
            "bad_fecf": first[:-1] + bytes([first[-1] ^ 0xFF]),
            "type_ac": TcFrame(config.scid, config.vcid, b"\x00", control=1).pack(),
            "wrong_scid": TcFrame(mav.scid, config.vcid, bytes(30), bypass=1).pack(),
            "wrong_vcid": TcFrame(config.scid, config.vcid + 1, bytes(30), bypass=1).pack(),
        }
        for datagram in garbage.values():
            tc.sendto(datagram, target)
        # and after it the link goes on: the next ping executes
        second, second_id = ping(2)
        tc.sendto(second, target)
        stages = listener.wait_for("the second ping's completion", executed(second_id))
        assert stages.count("completed") == 1
        with connect(up.run_dir, source="test") as session:
            udp = session.status()["nodes"]["lander"]["udp"]
        assert udp["tc_refused"] == dict.fromkeys(garbage, 1)
        assert udp["tc_forwarded"] == 2 and udp["tm_sent"] > 0
        assert udp["tc_udp"] == f"127.0.0.1:{tc_port}"
    finally:
        tc.close()
        bench_down(up.run_dir)

    # the station archived the lander's telemetry as ever, and the two frames it sent up for
    # the equipment, and nothing of the garbage
    with sqlite3.connect(up.run_dir / "archive.sqlite") as db:
        up_frames = [
            bytes(raw)
            for (raw,) in db.execute(
                "SELECT raw FROM frames WHERE node = 'lander' AND direction = 'up' ORDER BY id"
            )
        ]
        stages = {rid: [s for (s,) in db.execute(
            "SELECT stage FROM stages WHERE node = 'lander' AND request_id = ? ORDER BY id",
            (rid,))] for rid in (first_id, second_id)}  # fmt: skip
        rejected = db.execute("SELECT count(*) FROM events WHERE node = 'lander' AND name = ?",
                              ("core.tc_rejected",)).fetchone()[0]  # fmt: skip
    resync = up_frames[0]  # the one frame the station itself sent: its answer to the challenge
    assert TcFrame.from_raw(resync[4:]).control and up_frames[1:] == [ASM + first, ASM + second]
    for rid in (first_id, second_id):
        assert stages[rid][0] == "accepted" and stages[rid].count("completed") == 1
    assert rejected == 0


def test_at_the_held_pace_a_datagram_goes_up_at_the_next_tick(
    tmp_path: Path, listener: TmListener
) -> None:
    """The procedure is a lockstep participant (decision 0034): while it holds time, a frame the
    equipment sends waits, whatever the wall clock does, and goes up in the cycle of the next
    tick, when the procedure lets time move."""
    tc_port = free_udp_port()
    bench_path = bench_with_external_equipment(tmp_path, listener.port, tc_port)
    lander = load_bench(bench_path).nodes["lander"]
    config = lander.space_link
    tc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up = bench_up(bench_path, runs_dir=tmp_path / "runs", pace="held")
    try:
        handed = session_of(up.run_dir, "lander")
        sa = sdls.SecurityAssociation(lander.spi, bytes.fromhex(handed["key"]))
        packet = PusTc(node_dictionary("lander").apid, 17, 1, seq_count=1)
        frame = TcFrame(config.scid, config.vcid, packet.pack(), bypass=1, map_id=config.map_id)
        raw = sdls.authenticate(frame, sa, handed["next_sn"], lander.sdls)
        request_id = RequestId.of(packet).pack().hex()
        with connect(up.run_dir, source="test") as session:
            held = session.now()
            tc.sendto(raw, ("127.0.0.1", tc_port))
            time.sleep(1.0)  # wall time passes; simulated time does not
            lander_link = session.status()["nodes"]["lander"]
            assert session.now() == held and lander_link["udp"]["tc_forwarded"] == 0
            session.wait(1.0)
            assert session.status()["nodes"]["lander"]["udp"]["tc_forwarded"] == 1
            session.wait_check(lambda: any(
                s["stage"] == "completed"
                for s in session.request(op="stages", node="lander",
                                         request_id=request_id)["stages"]
            ), timeout=10.0)  # fmt: skip
    finally:
        tc.close()
        bench_down(up.run_dir)
    with sqlite3.connect(up.run_dir / "archive.sqlite") as db:
        (sent_at,) = db.execute(
            "SELECT sim_time FROM frames WHERE node = 'lander' AND direction = 'up' AND raw = ?",
            (ASM + raw,),
        ).fetchone()
    tick = load_bench(bench_path).tick
    assert sent_at == pytest.approx(held + tick, abs=1e-6)


def test_external_equipment_runs_on_the_wall_clock_so_fast_is_refused(
    tmp_path: Path, listener: TmListener
) -> None:
    bench_path = bench_with_external_equipment(tmp_path, listener.port, free_udp_port())
    done = msr("bench", "up", "--bench", str(bench_path), "--pace", "fast",
               "--run-dir", str(tmp_path / "run"), cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0
    assert (
        "nodes.lander.tm_udp: external ground equipment runs on the wall clock; pace the "
        "bench (a number, or held)" in done.stdout + done.stderr
    )
