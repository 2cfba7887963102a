"""One node's flight software in the test process, on its emulated boards, in simulated time.

The simulator (every board of the default bench on its pseudo-terminal, the world, the
couplings) is served by a thread; the node runs in the test's thread with its real HAL clients
on those ttys, and the test moves simulated time: each step runs the node's cycle at the time
it asked for (``Node.next_due``), exactly as the lockstep would, jumping where nothing is due.
Commands go straight into the node's dispatcher (no space link: that has its own tests) and
every telemetry packet it sends is decoded with the flight dictionary::

    with MissionRig(tmp_path, "lander") as rig:
        rig.command("modes.set", mode=2)
        assert rig.command("sta.load_tube", source=1, timeout=600)[-1] == "completed"
        assert rig.sim.world.where(...)

Faults are injected with ``rig.inject(target, kind, **params)`` as the back door would.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fsw.core.config import load_config
from fsw.core.node import Node
from fsw.dictionary import EventDecoded, node_dictionary
from fsw.dictionary.model import CONFIRMED_SOURCE
from fsw.dictionary.verification import Verification
from hal.bench import load_bench
from hal.devices import client_class
from hal.protocol.pus import ACK_ALL, PusTc, PusTm, RequestId
from hal.protocol.timing import seconds_to_us
from sim_hardware.coupling import CouplingConfig
from sim_hardware.simulator import Simulator
from sim_hardware.world import WorldConfig

DEFAULT_BENCH = Path(__file__).resolve().parents[2] / "hal" / "benches" / "default.toml"
FINAL = ("acceptance_failed", "start_failed", "completed", "completion_failed")


class MissionRig:
    """A node on its emulated boards (module docstring).

    Args:
        tmp_path: where the run folder goes.
        node: ``lander``, ``mav`` or ``orbiter``.
        world_config, coupling_config: the simulator's world and couplings.
        nv_dir: reuse a node's NV store (a restart); default a fresh one under ``tmp_path``.
    """

    def __init__(
        self,
        tmp_path: Path,
        node: str,
        *,
        world_config: WorldConfig | None = None,
        coupling_config: CouplingConfig | None = None,
        sim: Simulator | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.node_name = node
        bench = load_bench(DEFAULT_BENCH)
        self.sim = sim or Simulator(
            bench, tmp_path / "run", participants=[], world_config=world_config,
            coupling_config=coupling_config,
        )  # fmt: skip
        self.bench = bench
        self.lock = threading.RLock()
        self._unanswered: set[tuple[str, bytes]] = set()  # (board, request id), decision 0034
        if self.sim.host is not None:
            self.sim.host.on_unanswered = self._declare_unanswered
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self.node: Node | None = None
        self.packets: list[tuple[float, PusTm]] = []
        self._seq = 0
        self.boot()

    # ------------------------------------------------------------------ the simulator thread

    def _serve(self) -> None:
        while not self._stop.is_set():
            fds = self.sim.fds
            ready, _, _ = select.select(fds, [], [], 0.01)
            if ready:
                with self.lock:
                    self.sim.serve_ready(set(ready))

    # ------------------------------------------------------------------ the node

    def boot(self, boot_cause: str = "power_on") -> Node:
        """Start (or restart, keeping its NV store) the node's flight software."""
        if self.node is not None:
            self._close_boards()
        ports = self.sim.port_map()["boards"]
        boards = {
            spec.name: client_class(spec.name)(
                ports[spec.name]["path"], timeout=0.5, timestamp=self.now,
                silence=self._silence(spec.name),
            )
            for spec in self.bench.boards_of(self.node_name)
        }  # fmt: skip
        (self.tmp_path / "nv").mkdir(exist_ok=True)
        self.node = Node(
            node_dictionary(self.node_name), load_config(self.node_name),
            self.tmp_path / "nv" / self.node_name, self.now, self._log, boards=boards,
            durable=False, boot_cause=boot_cause,
        )  # fmt: skip
        self.node.on_packet(lambda tm: self.packets.append((self.now(), tm)))
        self.node.cycle()
        return self.node

    def _declare_unanswered(self, board: str, request: Any) -> None:
        self._unanswered.add((board, RequestId.of(request).pack()))

    def _silence(self, board: str) -> Callable[[bytes], bool]:
        """Whether the simulator declared a request to ``board`` unanswered, as the timing link
        tells a node in lockstep (decision 0034): a driver waits for a reply until it comes or
        is declared lost, never for a wall-clock timeout, so a lost reply has the same outcome
        however loaded the machine (a status read after a lost reply once timed out on a
        loaded CI machine and the fire was taken for unconfirmed)."""

        def declared(request_id: bytes) -> bool:
            with self.lock:
                key = (board, request_id)
                if key in self._unanswered:
                    self._unanswered.discard(key)
                    return True
                return False

        return declared

    def now(self) -> float:
        """Simulated time (s)."""
        return self.sim.clock.now()

    def _log(self, severity: str, name: str, detail: str) -> None:
        pass

    def step(self, limit: float) -> None:
        """Run the node's next cycle (at its next due time, at most ``limit``)."""
        assert self.node is not None
        due = min(max(self.node.next_due(), self.now() + 0.001), limit)
        with self.lock:
            self._unanswered.clear()  # notices are about the cycle that ended, as on the link
            self.sim.clock.advance_to_us(seconds_to_us(due))
            self.sim.advance(due)
        self._answers()
        self.node.cycle()

    def _answers(self) -> None:
        """Serve what the node wrote to its boards (a heartbeat ping in flight) before it polls
        for the answers. On the bench a board answers within the lockstep tick; here the
        simulator thread serves in wall time, so a node whose time jumps ahead would count a
        ping answered a moment later as missed, and its fault protection would see a silent
        board (decision 0025). A board under a blackout still answers nothing."""
        with self.lock:
            for _ in range(4):  # bounded: what is already written, and what it leads to
                ready, _, _ = select.select(self.sim.fds, [], [], 0)
                if not ready:
                    return
                self.sim.serve_ready(set(ready))

    def run(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass."""
        until = self.now() + seconds
        while self.now() < until - 1e-9:
            self.step(until)

    def run_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Run until ``condition()`` holds (checked after each cycle) or ``timeout`` s pass."""
        until = self.now() + timeout
        while not condition():
            if self.now() >= until - 1e-9:
                return False
            self.step(until)
        return True

    # ------------------------------------------------------------------ operator's view

    def command(self, name: str, timeout: float = 60.0, **args: Any) -> list[str]:
        """Send command ``name`` and run until its final PUS-1 report; return the stages
        (``"completed"``, or ``"completion_failed <reason>"``)."""
        seen = len(self.packets)
        rid = self.send(name, **args)
        stages: list[str] = []

        def final() -> bool:
            nonlocal seen  # each packet is looked at once, however long the command runs
            for _, tm in self.packets[seen:]:
                if tm.service == 1:
                    v = Verification.decode(tm.subtype, tm.source_data)
                    if v.request_id == rid:
                        stages.append(v.stage + (f" {v.reason}" if v.reason else ""))
            seen = len(self.packets)
            return any(s.split()[0] in FINAL for s in stages)

        self.run_until(final, timeout)
        final()
        return stages

    def send(self, name: str, **args: Any) -> bytes:
        """Hand command ``name`` to the node without waiting; return its request id."""
        assert self.node is not None
        command = self.node.dictionary.command(name)
        self._seq = (self._seq + 1) & 0x3FFF
        confirmed = CONFIRMED_SOURCE if command.needs_confirmation(args) else 0  # as the ground
        packet = PusTc(self.node.dictionary.apid, command.message.service,
                       command.message.subtype, command.encode(**args),
                       seq_count=self._seq, ack_flags=ACK_ALL, source_id=confirmed)  # fmt: skip
        assert self.node.submit(packet)
        return RequestId.of(packet).pack()

    def events(self, since: int = 0) -> list[tuple[str, str]]:
        """The events the node reported (name, detail), from packet ``since``."""
        assert self.node is not None
        out = []
        for _, tm in self.packets[since:]:
            if tm.service == 5:
                event = EventDecoded.parse(tm.source_data)
                out.append((self.node.dictionary.event(event.event_id).name, event.detail))
        return out

    def reports(self, name: str, since: int = 0) -> list[dict[str, Any]]:
        """The values of every telemetry report ``name`` (``sta.custody``) the node sent, from
        packet ``since``, decoded with its dictionary declaration."""
        assert self.node is not None
        report = self.node.dictionary.report(name)
        return [report.decode(tm.source_data) for _, tm in self.packets[since:]
                if (tm.service, tm.subtype) == report.key]  # fmt: skip

    def hk(self, name: str) -> dict[str, Any]:
        """The node's housekeeping packet ``name`` (``sta.status``), sampled now."""
        assert self.node is not None
        packet = self.node.dictionary.hk_packet(name)
        values = self.node.components[packet.component].housekeeping(self.now())[packet.name]
        return dict(values)

    def inject(
        self, target: str, kind: str, duration: float | None = None, **params: Any
    ) -> dict[str, Any]:
        """Inject a fault now, as the back door does (``target``: board, board.device,
        link:...), for ``duration`` simulated seconds (None: until cleared)."""
        request = {"op": "inject", "target": target, "kind": kind, "params": params}
        if duration is not None:
            request["duration"] = duration
        with self.lock:
            reply = self.sim._request(request)
        assert reply.get("ok", True), reply
        return reply

    # ------------------------------------------------------------------ closing

    def _close_boards(self) -> None:
        assert self.node is not None
        for board in self.node.boards.values():
            board.close()

    def close(self) -> None:
        """Stop the node's boards and the simulator."""
        if self.node is not None:
            self._close_boards()
        self._stop.set()
        self._thread.join(5)
        self.sim.close()

    def __enter__(self) -> MissionRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
