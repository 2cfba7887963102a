"""A SIL bench for flight-software tests: the simulator and one or more nodes as processes, and
the test as the ground participant of the lockstep, with a ground space link per node.

    with BenchRun(tmp_path, ["lander"]) as run:
        run.cycles(1.0)                                  # one simulated second
        verdicts = run.command("lander", "core.ping")    # PUS-1 stages, as the ground saw them

A node of a new run folder accepts no authenticated frame until the ground resynchronises it
(decision 0023): the bench answers every node's challenge report (``auto_resync``, on by
default) and waits at the start until every node is resynchronised.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fsw.core.config import load_config
from fsw.core.node import nv_defaults
from fsw.core.nvstore import NvStore
from fsw.dictionary import node_dictionary
from fsw.dictionary.core import RESYNC_REPORT
from fsw.dictionary.model import CONFIRMED_SOURCE, EventDecoded
from fsw.dictionary.verification import Verification
from hal.bench import KEY_FILE_NAME, default_bench_path, load_bench, new_key_file_text
from hal.links import Link, open_link
from hal.links.space_link import GroundSpaceLink
from hal.links.timing import TimingClient, timing_channel
from hal.protocol.pus import PusTc, PusTm, RequestId
from hal.protocol.sdls import SecurityAssociation


class BenchRun:
    """The simulator, the nodes, and the ground (this test) in lockstep."""

    def __init__(
        self, tmp: Path, nodes: list[str], *, bench_text: str | None = None,
        auto_resync: bool = True,
    ) -> None:  # fmt: skip
        self.tmp = tmp
        self.auto_resync = auto_resync
        self.nodes = nodes
        self.run_dir = tmp / "run"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.bench_path = tmp / "bench.toml"
        self.bench_path.write_text(
            bench_text or default_bench_path().read_text(encoding="utf-8"), encoding="utf-8"
        )
        self.bench = load_bench(self.bench_path)
        spis = [spec.spi for spec in self.bench.nodes.values()]
        key_file = self.run_dir / KEY_FILE_NAME
        key_file.write_text(new_key_file_text(spis), encoding="utf-8")
        self.keys = self.bench.read_keys(self.run_dir)
        self.links: list[Link] = []
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.received: dict[str, list[PusTm]] = {n: [] for n in nodes}
        self._reports: dict[str, dict[bytes, list[Verification]]] = {n: {} for n in nodes}
        self.ground: dict[str, GroundSpaceLink] = {}
        self.timing: TimingClient | None = None
        self.sim_stats: dict[str, Any] = {}
        """The simulator's statistics (lockstep, links), once the run is over."""

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> BenchRun:
        args = [sys.executable, "-m", "sim_hardware", "--bench", str(self.bench_path),
                "--run-dir", str(self.run_dir), "--register-timeout", "30",
                "--participant", "ground"]  # fmt: skip
        for node in self.nodes:
            args += ["--participant", node]
        sim = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs["sim"] = sim
        assert sim.stdout is not None
        assert "ports" in json.loads(sim.stdout.readline())
        assert json.loads(sim.stdout.readline()) == {"ready": True}
        self.ports = json.loads((self.run_dir / "ports.json").read_text(encoding="utf-8"))
        for node in self.nodes:
            self.start_node(node)
        link = open_link(self.ports["timing"]["ground"])
        self.links.append(link)
        self.timing = TimingClient(timing_channel(link), "ground")
        for node in self.nodes:
            spec = self.bench.nodes[node]
            end = open_link(self.ports["space_links"][node]["ground"])
            self.links.append(end)
            sa = SecurityAssociation(spec.spi, self.keys[spec.spi])
            ground = GroundSpaceLink(
                end, sa, spec.space_link, monotonic=self.timing.now, suite=spec.sdls
            )
            self.ground[node] = ground
            self.timing.watch(end)
        self.timing.register()
        self.tick = self.timing.wait_tick(30.0)
        for ground in self.ground.values():
            ground.start()
        if self.auto_resync:
            self.cycles(60.0, until=lambda: all(self.resynced(n) for n in self.nodes))
            assert all(self.resynced(n) for n in self.nodes), "a node was not resynchronised"
        return self

    def challenges(self, node: str, since: int = 0) -> list[tuple[bytes, int]]:
        """Every resync challenge ``node`` reported (from its ``since``-th TM packet on):
        (nonce, last sequence number)."""
        report = node_dictionary(node).report(RESYNC_REPORT)
        out = []
        for tm in self.received[node][since:]:
            if (tm.service, tm.subtype) == report.key:
                values = report.decode(tm.source_data)
                nonce = b"".join(int(w).to_bytes(4, "big") for w in values["nonce"])
                out.append((nonce, int(values["last_sn"])))
        return out

    def resynced(self, node: str, since: int = 0) -> bool:
        """True when ``node`` reported ``core.resynced`` (from its ``since``-th TM packet on)
        after its last challenge."""
        d = node_dictionary(node)
        key = d.report(RESYNC_REPORT).key
        state = False
        for tm in self.received[node][since:]:
            if (tm.service, tm.subtype) == key:
                state = False
            elif tm.service == 5:
                name = d.event(EventDecoded.parse(tm.source_data).event_id).name
                state = state or name == "core.resynced"
        return state

    def start_node(self, node: str, boot_cause: str = "power_on") -> subprocess.Popen[str]:
        """Start (or restart) a node process. A restarted node rejoins the lockstep in the round
        its predecessor left: the simulator sends it that round's tick again."""
        args = [sys.executable, "-m", "fsw", "--node", node, "--bench", str(self.bench_path),
                "--run-dir", str(self.run_dir), "--boot-cause", boot_cause]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs[node] = proc
        return proc

    def kill_node(self, node: str) -> None:
        """SIGKILL a node process (as a power cut)."""
        proc = self.procs[node]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def nv_store(self, node: str) -> NvStore:
        """The node's non-volatile store as it is on the disk now (read only: never write
        through it while the node runs). Its ``boot_events`` tell how it loaded."""
        defaults = nv_defaults(load_config(node))
        return NvStore(self.run_dir / "nv" / node, defaults, durable=False)

    def rss(self, node: str, *, peak: bool = False) -> int:
        """The node process's resident set size in bytes: now (VmRSS) or its peak (VmHWM)."""
        key = "VmHWM:" if peak else "VmRSS:"
        status = Path(f"/proc/{self.procs[node].pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {key} in /proc/{self.procs[node].pid}/status")

    def record_uplink(self, node: str) -> list[bytes]:
        """From now on, keep every frame the ground writes to ``node`` (ASM + TC frame, as on
        the wire); the list returned grows as frames go."""
        link = self.ground[node].link
        frames: list[bytes] = []
        write_frames = link.write_frames

        def recording(batch: Iterable[bytes]) -> None:
            batch = [bytes(frame) for frame in batch]
            frames.extend(batch)
            write_frames(batch)

        link.write_frames = recording  # type: ignore[method-assign]
        return frames

    def __exit__(self, *exc: object) -> None:
        sim = self.procs.get("sim")
        if sim is not None and sim.stdin is not None:
            sim.stdin.close()  # the parent goes: the simulator stops everyone
        if self.timing is not None and not self.timing.stopped and exc[0] is None:
            try:  # answer the tick held, then every tick until the stop
                with contextlib.suppress(RuntimeError):
                    self.timing.done()
                while self.timing.wait_tick(10.0) is not None:
                    self.timing.done()
            except Exception:
                pass
        if sim is not None and sim.stdout is not None:
            for line in sim.stdout.read().splitlines():  # to its end: the simulator exits
                if line.startswith('{"stats"'):
                    self.sim_stats = json.loads(line)["stats"]
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
        for link in self.links:
            link.close()

    # ------------------------------------------------------------------ stepping

    @property
    def now(self) -> float:
        """Simulated time of the current tick."""
        assert self.timing is not None
        return self.timing.now()

    def cycle(self, each: Callable[[], None] | None = None) -> None:
        """Finish this tick (serving the ground links) and take the next one."""
        assert self.timing is not None
        for node, ground in self.ground.items():
            ground.poll(0)
            packets = [p for p in ground.receive_all(0) if isinstance(p, PusTm)]
            self.received[node] += packets
            reports = self._reports[node]
            for tm in packets:
                if tm.service == 1:
                    report = Verification.decode(tm.subtype, tm.source_data)
                    reports.setdefault(report.request_id, []).append(report)
            if self.auto_resync:
                seen = len(self.received[node]) - len(packets)
                for nonce, last_sn in self.challenges(node, seen):
                    ground.resync(nonce, last_sn)  # the ground holds the key: answer
        if each is not None:
            each()
        self.timing.done()
        self.tick = self.timing.wait_tick(30.0)
        assert self.tick is not None, "the simulator stopped"

    def cycles(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Run ``seconds`` of simulated time (or until ``until()``)."""
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.cycle()
            if until is not None and until():
                return

    # ------------------------------------------------------------------ ground operations

    def packet(self, node: str, name: str, ack: int = 0b1111, **args: Any) -> PusTc:
        """A command by name (arguments checked by the dictionary), with the next sequence
        count, not sent."""
        d = node_dictionary(node)
        command = d.command(name)
        self._seq = getattr(self, "_seq", 0) + 1
        message = command.message
        data = command.encode(**args)
        confirmed = CONFIRMED_SOURCE if command.needs_confirmation(args) else 0  # as the ground
        return PusTc(d.apid, message.service, message.subtype, data, seq_count=self._seq & 0x3FFF,
                     ack_flags=ack, source_id=confirmed)  # fmt: skip

    def send(self, node: str, name: str, ack: int = 0b1111, **args: Any) -> PusTc:
        """Send a command by name (arguments checked by the dictionary)."""
        packet = self.packet(node, name, ack, **args)
        self.ground[node].send(packet)
        return packet

    def verifications(self, node: str, packet: PusTc) -> list[Verification]:
        """The PUS-1 reports received about ``packet`` (by request id: the sequence count wraps
        after 16384 commands)."""
        rid = RequestId.of(packet).pack()
        return list(self._reports[node].get(rid, []))

    def command(self, node: str, name: str, timeout: float = 10.0, **args: Any) -> list[str]:
        """Send a command and run until it completes or fails; its stages."""
        packet = self.send(node, name, **args)

        def finished() -> bool:
            return any(v.subtype in (2, 4, 7, 8) for v in self.verifications(node, packet))

        self.cycles(timeout, finished)
        return [
            v.stage + (f" ({v.reason})" if v.reason else "")
            for v in self.verifications(node, packet)
        ]

    def housekeeping(self, node: str, name: str) -> list[tuple[float, dict[str, Any]]]:
        """Every report of housekeeping packet ``name`` received: (on-board time, values)."""
        packet = node_dictionary(node).hk_packet(name)
        sid = packet.sid.to_bytes(2, "big")
        out = []
        for tm in self.received[node]:
            if (tm.service, tm.subtype) == (3, 25) and tm.source_data[:2] == sid:
                out.append((tm.time.seconds, packet.decode(tm.source_data)))
        return out

    def events(self, node: str, since: int = 0) -> list[tuple[str, str]]:
        """Every event received from ``node`` (from its ``since``-th TM packet on): (name,
        detail)."""
        d = node_dictionary(node)
        out = []
        for tm in self.received[node][since:]:
            if tm.service == 5:
                event = EventDecoded.parse(tm.source_data)
                out.append((d.event(event.event_id).name, event.detail))
        return out
