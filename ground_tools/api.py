"""The operator scripting API: what procedures and system tests are written with.

In the style operators know from OpenC3 COSMOS scripting and F Prime's integration-test API::

    from ground_tools.api import connect, Confirm

    bench = connect()                                   # the bench of runs/latest
    bench.cmd("lander core.ping")                       # waits for completion; raises if failed
    bench.cmd("lander", "modes.set", mode="nominal")    # by state name, or mode=2
    bench.wait_check("lander.core.status.mode == nominal", timeout=5)
    bench.wait_check("mav.launch.status.zone_min", ">", -40, tolerance=0.5, hold=30, timeout=600)
    bench.wait_event("lander", "modes.changed", timeout=5)
    bench.cmd("mav", "pyro.fire_srm1", confirm=Confirm("launch window open"))  # hazardous
    sent = bench.send("lander", "sta.load_tube", source=1)  # without waiting for it...
    bench.wait_check("lander.sta.status.holding != 0", timeout=600)
    bench.fault("sta_arm.gripper", "grasp_slip", duration=2.0)  # ...the simulator's back door
    bench.wait_command(sent, timeout=1800, check=False)

Every wait is in **simulated seconds**: the ground station lets the simulation run as fast as it
can until the condition holds or the time is up, so ``wait(600)`` costs the wall time the bench
needs to compute ten minutes, not ten minutes. Command arguments are checked against the flight
dictionary before anything is sent; a hazardous command (one that arms, removes an inhibit,
enters critical mode or fires, or a schedule insert or sequence load that carries one) is refused
unless it carries an explicit :class:`Confirm` (and the station refuses it too).

The API talks to the run's ground station (:mod:`ground_tools.station`) over its control port;
``connect`` finds it from a run folder, a bench file, or ``runs/latest``.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fsw.dictionary import NODE_APIDS, Command, node_dictionary
from fsw.dictionary.loads import LoadError, build_sequence_load, confirmations
from fsw.dictionary.model import MODES, Parameter
from fsw.dictionary.parameters import ROLLBACK_TO, build_load, build_report_request
from fsw.dictionary.parameters import refusal as parameter_refusal
from fsw.dictionary.verification import FINAL_STAGES
from ground_tools.station import STATION_FILE
from ground_tools.telemetry import Received
from hal.backdoor import BackdoorError, request
from hal.control import ControlError, hello, read_token
from hal.errors import EncodeError
from hal.protocol.pus import PusTc

__all__ = [
    "CheckError",
    "CommandFailed",
    "CommandResult",
    "Confirm",
    "GateView",
    "GroundError",
    "HazardousCommandError",
    "Session",
    "argument_names",
    "backdoor_address",
    "backdoor_request",
    "command_arguments",
    "command_key",
    "confirmed_source",
    "connect",
    "hazardous_command",
    "hazards",
    "inhibits",
    "lookup_command",
    "parameter",
    "parameter_value",
    "resolve_run_dir",
    "sequence_load",
]

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge,
    "<": operator.lt, ">": operator.gt,
}  # fmt: skip
GATE_FRESH: Final = 12.0
"""Simulated seconds :meth:`Session.gate_view` waits for a gate and mode report no older than
the call (their default period is 1 s; a campaign sets 10 s)."""
STAGE_WORDS: Final = {
    "accepted": "acceptance", "acceptance_failed": "acceptance failed",
    "started": "start", "start_failed": "start failed",
    "progress": "progress", "progress_failed": "progress failed",
    "completed": "completion", "completion_failed": "completion failed",
}  # fmt: skip
"""The PUS-1 stages as the operator names the stage reached (``CommandFailed.stage``)."""
_EXPRESSION = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")


class GroundError(Exception):
    """Anything a procedure did that the ground refused or could not do: one line."""


class CheckError(GroundError):
    """A ``check`` or ``wait_check`` that did not hold (the message says what was seen)."""


class CommandFailed(GroundError):
    """A command refused or failed on board, or with no final report in time (the message
    gives the stage and the reason, or the last stage reached).

    Attributes:
        result: what became of it (None: no result to give).
    """

    def __init__(self, message: str, result: CommandResult | None = None) -> None:
        super().__init__(message)
        self.result = result

    @property
    def stage(self) -> str:
        """The last verification stage reached: ``acceptance``, ``start``, ``progress``,
        ``completion`` (or their failures), ``none`` when no report came."""
        return self.result.reached if self.result is not None else "none"


class HazardousCommandError(GroundError):
    """A hazardous command sent without an explicit :class:`Confirm`."""


@dataclass(frozen=True)
class Confirm:
    """The explicit confirmation a hazardous command needs (why it is being sent)."""

    reason: str = ""


@dataclass(frozen=True)
class CommandResult:
    """What became of a command: its request id and the PUS-1 stages received.

    Attributes:
        node, name: the command.
        request_id: its PUS-1 request id (hex).
        stages: ``(stage, simulated time, reason)`` in the order they came.
    """

    node: str
    name: str
    request_id: str
    stages: tuple[tuple[str, float, str], ...]

    @property
    def ok(self) -> bool:
        """Completed (or accepted and started, for a command whose completion is not asked)."""
        final = [s for s, _, _ in self.stages if s in FINAL_STAGES]
        return bool(final) and final[-1] == "completed"

    @property
    def final(self) -> str:
        """The last stage received (``""``: none)."""
        return self.stages[-1][0] if self.stages else ""

    @property
    def final_reason(self) -> str:
        """The reason of the last stage (a failure's named reason; ``""`` otherwise)."""
        return self.stages[-1][2] if self.stages else ""

    @property
    def reached(self) -> str:
        """The last verification stage reached, as the operator names it: ``acceptance``,
        ``start``, ``progress`` or ``completion`` (``acceptance failed``... for a failure),
        ``none`` when no report came."""
        if not self.stages:
            return "none"
        return STAGE_WORDS.get(self.final, self.final)

    def timed_out(self, timeout: float) -> str:
        """One line for a command with no final report within ``timeout`` simulated s, naming
        the last stage reached."""
        return (f"{self}: no final report within {timeout:g} s (last stage reached: "
                f"{self.reached})")  # fmt: skip

    def __str__(self) -> str:
        parts = [s + (f" ({r})" if r else "") for s, _, r in self.stages]
        return f"{self.node} {self.name}: " + (", ".join(parts) or "no report")


def hazards(node: str, command: Command, args: dict[str, Any]) -> list[str]:
    """Why a command needs the operator's hazardous confirmation (decision 0024): the command
    itself (it arms, removes an inhibit, enters critical mode or fires) and every command it
    carries (``schedule.insert``, ``seq.load``); ``[]``: it needs none.

    Raises:
        GroundError: a schedule insert or a sequence load whose data does not decode.
    """
    try:
        return confirmations(node_dictionary(node), command, args)
    except LoadError as exc:
        raise GroundError(f"{node} {command.name}: {exc}") from None


def sequence_load(node: str, name: str, steps: list[tuple[float, str, dict[str, Any]]]) -> bytes:
    """The data of ``seq.load`` for a sequence of ``(delay s, command name, arguments)`` steps,
    each command checked against ``node``'s dictionary (GroundError naming the step)."""
    d = node_dictionary(node)
    packets = []
    for index, (delay, command_name, args) in enumerate(steps):
        try:
            command = d.command(command_name)
            data = command.encode(**command_arguments(node, command, args))
        except (KeyError, EncodeError, TypeError, GroundError) as exc:
            raise GroundError(f"sequence {name} step {index}: {str(exc).splitlines()[0]}") from None
        message = command.message
        packets.append((delay, PusTc(d.apid, message.service, message.subtype, data)))
    try:
        return build_sequence_load(name, packets)
    except LoadError as exc:
        raise GroundError(f"sequence {name}: {exc}") from None


def parameter(node: str, name: str) -> Parameter:
    """``node``'s parameter ``name`` (GroundError naming some known ones)."""
    try:
        return node_dictionary(node).parameter(name)
    except KeyError as exc:
        raise GroundError(str(exc).strip("\"'")) from None


def parameter_value(node: str, name: str, value: float) -> float:
    """``value`` checked as ``node``'s parameter ``name`` would check it (decision 0026), before
    anything is sent: GroundError saying why not (its kind, its range)."""
    declared = parameter(node, name)
    why = parameter_refusal(declared, value)
    if why is not None:
        raise GroundError(f"{node} {why}")
    return float(value)


def resolve_run_dir(target: str | Path | None = None) -> Path:
    """The run folder of ``target``: a run folder, a bench file (its ``runs_dir/latest``), or
    ``runs/latest`` when ``None``.

    Raises:
        GroundError: there is no such run folder.
    """
    if target is None:
        path = Path("runs") / "latest"
    else:
        path = Path(target)
        if path.is_file() and path.suffix == ".toml":
            from hal.bench import BenchError, load_bench

            try:
                path = load_bench(path).runs_dir / "latest"
            except BenchError as exc:
                raise GroundError(str(exc).splitlines()[0]) from None
    if not path.is_dir():
        raise GroundError(f"{path}: no run folder there (bring a bench up with `msr bench up`)")
    return path.resolve()


def connect(target: str | Path | None = None, *, source: str = "procedure",
            log: Callable[[str], None] | None = None) -> Session:  # fmt: skip
    """Connect to the ground station of a running bench (see :func:`resolve_run_dir`).

    Args:
        target: a run folder, a bench file, or ``None`` for ``runs/latest``.
        source: how this session's commands are named in the command history.
        log: called with one line for every operation (a procedure's progress).

    Raises:
        GroundError: no bench is running there.
    """
    run_dir = resolve_run_dir(target)
    try:
        info = json.loads((run_dir / STATION_FILE).read_text(encoding="utf-8"))
        address = (str(info["host"]), int(info["port"]))
    except (OSError, ValueError, KeyError):
        raise GroundError(
            f"{run_dir}: no ground station is running (bring the bench up with `msr bench up`)"
        ) from None
    return Session(address, run_dir, source=source, log=log)


class Session:
    """A connection to a bench's ground station (see the module docstring).

    Args:
        address: the station's control port.
        run_dir: the run folder.
        source: how this session's commands are named in the command history.
        log: called with one line for every operation.

    Raises:
        GroundError: the station cannot be reached.
    """

    _held: bool = False  # the station's pace is held (decision 0034)
    _still: tuple[float, int] | None = None  # (time, received) while time is held (_remember)

    def __init__(
        self,
        address: tuple[str, int],
        run_dir: Path,
        *,
        source: str = "procedure",
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.source = source
        self.log = log
        try:
            token = read_token(run_dir)
            self._sock = socket.create_connection(address, timeout=30.0)
        except ControlError as exc:
            raise GroundError(str(exc)) from None
        except OSError as exc:
            raise GroundError(f"cannot reach the ground station at {address}: {exc}") from None
        try:
            hello(self._sock, token)  # the run's secret first (decision 0027)
        except (ControlError, OSError) as exc:
            self._sock.close()
            raise GroundError(f"ground station at {address}: {exc}") from None
        self._file = self._sock.makefile("rwb")
        self._schedule: list[tuple[float, int, Callable[[], None]]] = []  # (time, order, action)
        self._scheduled = 0
        self._mark = self.request(op="status")["received"]

    # ------------------------------------------------------------------ plumbing

    def request(self, **message: Any) -> dict[str, Any]:
        """One request to the station and its reply. A step past the time of an action this
        session scheduled (:meth:`at`) stops there first: the action is done with simulated
        time held, and the step's reply is that time (every wait steps again until its own).

        Raises:
            GroundError: the station refused the request (its message) or went away.
        """
        if message.get("op") == "step" and self._schedule:
            when, _, action = self._schedule[0]
            if when < float(message["until"]) - 1e-9:
                reply = self._exchange({**message, "until": when})
                if float(reply["time"]) >= when - 1e-9:
                    self._schedule.pop(0)
                    self._still = None  # the action may ask the station anything
                    self._cycles_done()
                    action()
                return reply
        return self._exchange(message)

    def _cycles_done(self) -> None:
        """Wait (at most :data:`CYCLES_DONE_LIMIT` wall seconds) until every lockstep
        participant but the ground has reported the cycle of the held tick done, so an action
        such as a node reset meets every node between two cycles, never in one: whether a
        node killed now had finished its cycle would otherwise be the wall clock's choice, and
        the rerun would differ (decision 0050). A bench without a back door: at once."""
        deadline = time.monotonic() + CYCLES_DONE_LIMIT
        while time.monotonic() < deadline:
            try:
                pending = backdoor_request(self.run_dir, {"op": "status"}).get("pending", [])
            except GroundError:
                return
            if not [name for name in pending if name != "ground"]:
                return
            time.sleep(0.005)

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Do ``action`` when simulated time reaches ``when`` s, during whatever the session is
        waiting for then (at the held pace, in the same round of every run: a Monte Carlo run's
        node reset, issue 21); actions due at the same time run in the order given."""
        self._scheduled += 1
        self._schedule.append((float(when), self._scheduled, action))
        self._schedule.sort(key=lambda item: item[:2])

    def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            self._file.write(json.dumps(message).encode() + b"\n")
            self._file.flush()
            line = self._file.readline()
        except OSError as exc:
            raise GroundError(f"ground station: {exc}") from None
        if not line:
            raise GroundError("the ground station went away (the bench is down)")
        reply = json.loads(line)
        if "error" in reply:
            raise GroundError(reply["error"])
        self._remember(message, reply)
        return dict(reply)

    def _remember(self, message: dict[str, Any], reply: dict[str, Any]) -> None:
        """Keep the station's time and packet count while they stand still, so that
        :meth:`now` and the waits' looks need no ``status`` request of their own (decision
        0050). At the held pace a step the simulation answered (its time reached, or a packet
        after ``since`` for a ``wake``) leaves the client in the tick that woke it, held for it
        until it steps again, whatever other clients do: nothing moves the time or the count
        meanwhile. A step answered on the wall clock does not hold the tick, nor does any
        other pace."""
        op = message.get("op")
        if op == "status":  # the pace; a status alone does not hold the tick for this client
            self._held = reply.get("pace") == "held"
            if not self._held:
                self._still = None
        elif op == "step":
            until, since = float(message["until"]), message.get("since")
            time_, count = float(reply["time"]), int(reply["next"])
            simulated = time_ >= until - 1e-9 or (
                bool(message.get("wake")) and since is not None and count > int(since)
            )  # fmt: skip
            self._still = (time_, count) if self._held and simulated else None
        elif op == "pace":
            self._held, self._still = False, None

    def close(self) -> None:
        """Close the connection (the bench keeps running)."""
        self._file.close()
        self._sock.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(f"[t={self.now():9.1f}] {text}")

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        """The simulated time (s)."""
        if self._still is not None:
            return self._still[0]
        return float(self.request(op="status")["time"])

    def status(self) -> dict[str, Any]:
        """The station's status: time, pace, each node's link."""
        return self.request(op="status")

    def wait(self, seconds: float) -> float:
        """Let ``seconds`` of simulated time pass; return the time reached."""
        if seconds < 0:
            raise GroundError(f"wait: {seconds} s is negative")
        until = self.now() + seconds
        self._say(f"wait {seconds:g} s")
        reached = self.now()
        while reached < until - 1e-9:  # the station answers at least every few wall seconds
            reached = float(self.request(op="step", until=until, wake=False)["time"])
        return reached

    # ------------------------------------------------------------------ commands

    def cmd(
        self,
        target: str,
        name: str | None = None,
        *,
        confirm: Confirm | None = None,
        timeout: float = 10.0,
        check: bool = True,
        **args: Any,
    ) -> CommandResult:
        """Send a command and wait (at most ``timeout`` simulated s) for its final stage.

        ``cmd("lander core.ping")`` or ``cmd("lander", "modes.set", mode=2)``.

        Raises:
            GroundError: unknown node or command, or an argument out of its range (nothing
                is sent).
            HazardousCommandError: a hazardous command without ``confirm``.
            CommandFailed: (``check``) it was refused or failed, or no final stage came.
        """
        sent = self.send(target, name, confirm=confirm, **args)
        return self.wait_command(sent, timeout, check=check)

    def wait_command(
        self, sent: tuple[str, str, str], timeout: float, *, check: bool = True
    ) -> CommandResult:
        """Wait (at most ``timeout`` simulated s) for the final stage of a command sent with
        :meth:`send` (its return value), while the procedure did other things meanwhile.

        Raises:
            CommandFailed: (``check``) it was refused or failed, or no final stage came.
        """
        request_id, node, name = sent
        deadline = self.now() + timeout
        carried: list[dict[str, Any]] | None = None  # its stages, as the step's reply gave them
        while True:
            now, mark = self._clock()  # before the look: nothing that comes after is missed
            if carried is not None and self._still is not None:
                result = _command_result(node, name, request_id, carried)
            else:
                result = self._result(node, name, request_id)
            if result.final in FINAL_STAGES or now >= deadline:
                break
            reply = self.request(op="step", until=deadline, wake=True, since=mark)
            command = reply.get("command") or {}
            same = (command.get("node"), command.get("request_id")) == (node, request_id)
            carried = command.get("stages") if same else None
        self._say(str(result))
        if check and not result.ok:
            if not result.stages or result.final not in FINAL_STAGES:
                raise CommandFailed(result.timed_out(timeout), result)
            raise CommandFailed(str(result), result)
        return result

    def wait_progress(self, sent: tuple[str, str, str], step: int, timeout: float) -> float:
        """Wait (at most ``timeout`` simulated s) until a command sent with :meth:`send`
        reports progress ``step`` or a later one: the moment to act in the middle of a long
        command (a fault put in while the arm carries a tube). Returns the time reached.

        Raises:
            CheckError: the command ended first, or the step did not come in time.
        """
        request_id, node, name = sent
        deadline = self.now() + timeout
        while True:
            now, mark = self._clock()
            stages = self.request(op="stages", node=node, request_id=request_id)["stages"]
            if any(s["stage"] == "progress" and s.get("step", 0) >= step for s in stages):
                self._say(f"{node} {name}: progress {step} at t={now:.1f}")
                return now
            ended = [s["stage"] for s in stages if s["stage"] in FINAL_STAGES]
            if ended or now >= deadline:
                why = f"it ended {ended[-1]}" if ended else f"not within {timeout:g} s"
                raise CheckError(f"wait_progress: {node} {name} never reported progress "
                                 f"{step}: {why}")  # fmt: skip
            self.request(op="step", until=deadline, wake=True, since=mark)

    def resync(self, *nodes: str, timeout: float = 30.0) -> float:
        """Resynchronise the uplink of each node (decision 0023): the station answers the
        node's challenge with a resync frame signed with the key; wait (at most ``timeout``
        simulated s) until every node reports it resynced. Return the time reached.

        Raises:
            GroundError: an unknown node, or one not resynchronised within ``timeout`` (a node
                that needs no resync presents no challenge).
        """
        self._say(f"resync {' '.join(nodes)}")
        asked = {node: self.request(op="resync", node=node)["resyncs"] for node in nodes}
        deadline = self.now() + timeout
        while True:
            now, mark = self._clock()
            links = self.status()["nodes"]
            waiting = [
                node for node in nodes
                if not (links[node]["sync"] == "synced" and links[node]["resyncs"] > asked[node])
            ]  # fmt: skip
            if not waiting:
                return now
            if now >= deadline:
                states = ", ".join(f"{node} {links[node]['sync']}" for node in waiting)
                raise GroundError(
                    f"resync: not resynchronised within {timeout:g} s ({states}; a node that "
                    "needs no resync presents no challenge)"
                )
            self.request(op="step", until=deadline, wake=True, since=mark)

    def resync_needed(self) -> list[str]:
        """The nodes that report a pending resync challenge nobody asked to answer."""
        nodes = self.status()["nodes"]
        return [name for name, link in nodes.items() if link.get("sync") == "needed"]

    def load_sequence(
        self, node: str, name: str, steps: list[tuple[float, str, dict[str, Any]]], *,
        confirm: Confirm | None = None, timeout: float = 10.0,
    ) -> CommandResult:  # fmt: skip
        """Load (or replace, when it is not running) the stored sequence ``name`` on ``node``:
        ``seq.load`` with steps of ``(delay s, command name, arguments)``. A step that needs
        the hazardous confirmation needs ``confirm`` (the node lets it run only then).

        Raises:
            GroundError, HazardousCommandError, CommandFailed: as :meth:`cmd`.
        """
        data = sequence_load(node, name, steps)
        return self.cmd(node, "seq.load", confirm=confirm, timeout=timeout, data=data)

    def param_set(
        self, node: str, name: str, value: float, *, timeout: float = 10.0
    ) -> CommandResult:
        """Set ``node``'s parameter ``name`` to ``value``: ``params.load`` then
        ``params.activate`` (the node checks the value and every bound between parameters,
        decision 0026). Returns the activation's result.

        Raises:
            GroundError: an unknown node or parameter, or a value it would refuse (its kind,
                its range), before anything is sent.
            CommandFailed: the node refused the load or the activation (its reason).
        """
        checked = parameter_value(node, name, value)
        data = build_load({parameter(node, name).id: checked})
        self.cmd(node, "params.load", timeout=timeout, data=data)
        try:
            return self.cmd(node, "params.activate", timeout=timeout)
        except CommandFailed:
            self.cmd(node, "params.discard", timeout=timeout, check=False)
            raise

    def param_get(self, node: str, *names: str, timeout: float = 10.0) -> dict[str, float]:
        """The active values of ``node``'s parameters ``names`` (``params.report``).

        Raises:
            GroundError: an unknown node or parameter (nothing is sent), or no report came.
            CommandFailed: the node refused the request.
        """
        ids = [parameter(node, name).id for name in names]
        mark = self._seen()
        self.cmd(node, "params.report", timeout=timeout, data=build_report_request(ids))
        values: dict[str, float] = {}
        packets, _ = self.packets(since=mark)
        for packet in packets:
            if packet.node == node and packet.kind == "params":
                values.update(packet.values)
        missing = [name for name in names if name not in values]
        if missing:
            raise GroundError(f"{node} params.report: no value of {', '.join(missing)} came")
        return {name: float(values[name]) for name in names}

    def param_rollback(
        self, node: str, name: str, *, to: str = "previous", timeout: float = 10.0
    ) -> CommandResult:
        """Return ``node``'s parameter ``name`` to its previous active value (``to``
        ``"previous"``) or its power-on default (``"default"``): ``params.rollback``.

        Raises:
            GroundError: an unknown node, parameter or ``to`` (nothing is sent).
            CommandFailed: the node refused it (no previous value, a bound it would break).
        """
        if to not in ROLLBACK_TO:
            raise GroundError(f"rollback to {to!r}: expected {' or '.join(ROLLBACK_TO)}")
        pid = parameter(node, name).id
        return self.cmd(node, "params.rollback", timeout=timeout, parameter=pid,
                        to=ROLLBACK_TO.index(to))  # fmt: skip

    def send(
        self, target: str, name: str | None = None, *, confirm: Confirm | None = None,
        **args: Any,
    ) -> tuple[str, str, str]:  # fmt: skip
        """Send a command without waiting; return ``(request id, node, name)``.

        Raises:
            GroundError, HazardousCommandError: as :meth:`cmd`, before anything is sent.
        """
        node, name = _split_command(target, name)
        command = lookup_command(node, name)
        args = command_arguments(node, command, args)  # state names to their codes
        try:
            command.encode(**args)
        except (EncodeError, TypeError) as exc:
            raise GroundError(f"{node} {name}: {str(exc).splitlines()[0]}") from None
        reasons = hazards(node, command, args)
        if reasons and not isinstance(confirm, Confirm):
            raise HazardousCommandError(
                f"{node} {name} is hazardous ({'; '.join(reasons)}): pass confirm=Confirm('why')"
                " to send it"
            )
        self._mark = self._seen()
        wire = {k: {"hex": bytes(v).hex()} if isinstance(v, bytes | bytearray) else v
                for k, v in args.items()}  # octets travel as hex (JSON has none)  # fmt: skip
        source = self.source
        if isinstance(confirm, Confirm) and reasons:  # the command history keeps the reason
            source = confirmed_source(self.source, confirm.reason)
        reply = self.request(op="cmd", node=node, name=name, args=wire, source=source,
                             confirmed=isinstance(confirm, Confirm))  # fmt: skip
        return str(reply["request_id"]), node, name

    def gate_view(self, node: str, *, fresh: float = GATE_FRESH) -> GateView:
        """What ``node``'s telemetry says of its hazardous-command gate: the commands armed,
        each onboard inhibit in place or removed (``gate.status``) and the node's mode
        (``core.status``); a value not received yet is None.

        Both packets are waited for (at most ``fresh`` simulated seconds) until one of each is
        received after the call, so a command sent just before (an inhibit removed, a mode
        set) shows; one that does not come in time is taken as the latest received, whatever
        its age (``GateView.time`` says it).

        Raises:
            GroundError: an unknown node.
        """
        names = inhibits(node)
        now, cursor = self._clock()
        deadline = now + fresh
        fresh_ones: dict[str, dict[str, Any]] = {}  # received after the call, by packet name
        while True:
            while True:  # the packets received since: whatever the node's clock says
                packets, after = self.packets(cursor, 5000)
                for packet in packets:
                    if packet.node == node and packet.name in ("gate.status", "core.status"):
                        fresh_ones[packet.name] = {"time": packet.time, "value": packet.values}
                if after == cursor:
                    break
                cursor = after
            if len(fresh_ones) == 2 or now >= deadline:
                break
            now = float(self.request(op="step", until=deadline, wake=True,
                                     since=cursor)["time"])  # fmt: skip
        wanted = [f"{node}.{name}" for name in ("gate.status", "core.status") if name not in
                  fresh_ones]  # fmt: skip
        if wanted:  # none came in time: the latest, whatever its age
            for name, found in self.request(op="latest", names=wanted)["values"].items():
                fresh_ones[name.split(".", 1)[1]] = found
        gate, core = fresh_ones["gate.status"], fresh_ones["core.status"]
        values = gate.get("value") if isinstance(gate.get("value"), dict) else {}
        bits = values.get("inhibits")
        placed = {
            name: None if not isinstance(bits, int) else bool(bits >> index & 1)
            for index, name in enumerate(names)
        }  # fmt: skip
        status = core.get("value") if isinstance(core.get("value"), dict) else {}
        mode = status.get("mode")
        if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode < len(MODES):
            mode = MODES[mode]
        armed = values.get("armed")
        return GateView(node, gate.get("time"), armed if isinstance(armed, int) else None,
                        placed, mode if isinstance(mode, str) else None)  # fmt: skip

    def arm_expiry(self, node: str, command: Command, armed: CommandResult) -> float:
        """When the arm of ``command`` that ``armed`` (a completed ``gate.arm``) gave expires
        (simulated s): as the node's ``gate.hazard_armed`` event says it (``until t=...``),
        else the arm's completion time plus the command's window."""
        try:
            event = self.wait_event(node, "gate.hazard_armed", timeout=5.0,
                                    contains=f"{command.name} armed")  # fmt: skip
            match = re.search(r"until t=([-+0-9.eE]+)", str(event.values.get("detail", "")))
            if match:
                return float(match.group(1))
        except (CheckError, ValueError):
            pass
        done = [when for stage, when, _ in armed.stages if stage == "completed"]
        return (done[-1] if done else self.now()) + command.window

    # ------------------------------------------------------------------ the bench's faults

    def fault(self, target: str, kind: str, *, duration: float | None = None, **params: Any) -> int:
        """Inject a fault now through the simulator's back door, as ``msr fault inject``
        (``target``: a board, ``board.device`` or ``link:<node>``; ``kind`` and ``params`` as
        :mod:`sim_hardware.faults` lists them), for ``duration`` simulated seconds (``None``:
        until cleared). Returns the fault's number (for :meth:`clear_fault`).

        Raises:
            GroundError: the back door refused it (its one-line reason) or does not answer.
        """
        message: dict[str, Any] = {"op": "inject", "target": target, "kind": kind,
                                   "params": params}  # fmt: skip
        if duration is not None:
            message["duration"] = duration
        self.request(op="hold")  # in a held round: it starts before the next (decision 0034)
        reply = backdoor_request(self.run_dir, message)
        self._say(f"fault {target} {kind}" + (f" for {duration:g} s" if duration else "")
                  + f" (fault {reply['id']})")  # fmt: skip
        return int(reply["id"])

    def lose_tube(self, serial: int) -> dict[str, Any]:
        """Fault: tube ``serial`` falls out of the OS now, wherever the OS is (through the
        simulator's back door, in a held round as :meth:`fault`): the truth the ground's
        custody ledger is judged against (decision 0053). Returns the back door's reply
        (``from``: where the OS was, ``slot``).

        Raises:
            GroundError: the back door refused it (no such tube, not in the OS) or does not
                answer.
        """
        self.request(op="hold")
        reply = backdoor_request(self.run_dir, {"op": "lose_tube", "serial": int(serial)})
        self._say(f"tube {serial} lost from slot {reply.get('slot')} ({reply.get('from')})")
        return reply

    def files(self, node: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """The file transfers by CFDP that ended (decision 0056), oldest first: each file's
        node, name, transaction, size, CRC-32, ``ok`` (whole), CFDP condition and NAKs."""
        message: dict[str, Any] = {"op": "files"}
        if node is not None:
            message["node"] = node
        if name is not None:
            message["name"] = name
        return list(self.request(**message)["files"])

    def file(self, node: str, name: str, timeout: float = 600.0, *, poll: float = 1.0) -> bytes:
        """The octets of file ``name`` from ``node``, waiting up to ``timeout`` simulated
        seconds for it to come down whole by CFDP (looking every ``poll`` seconds).

        Raises:
            GroundError: it did not (the message says what transfers of it ended, if any).
        """
        deadline = self.now() + timeout
        self._say(f"wait for file {node}/{name} (up to {timeout:g} s)")
        while True:
            reply = self.request(op="files", node=node, name=name, data=True)
            if "data" in reply:
                return bytes.fromhex(reply["data"])
            now = self.now()
            if now >= deadline - 1e-9:
                ended = [f"{f['condition']} at {f['time']:.1f} s" for f in reply["files"]]
                raise GroundError(
                    f"file {node}/{name}: not received whole within {timeout:g} s"
                    + (f" (transfers ended: {', '.join(ended)})" if ended else "")
                )
            self.request(op="step", until=min(deadline, now + poll), wake=False)

    def clear_fault(self, fault_id: int) -> None:
        """Clear a fault injected with :meth:`fault` (GroundError: unknown number)."""
        self.request(op="hold")
        backdoor_request(self.run_dir, {"op": "clear", "id": fault_id})
        self._say(f"fault {fault_id} cleared")

    def _result(self, node: str, name: str, request_id: str) -> CommandResult:
        stages = self.request(op="stages", node=node, request_id=request_id)["stages"]
        return _command_result(node, name, request_id, stages)

    def _seen(self) -> int:
        return self._clock()[1]

    def _clock(self) -> tuple[float, int]:
        """The simulated time and the count of packets received, from one status request (or
        from the step that left time held: :meth:`_remember`)."""
        if self._still is not None:
            return self._still
        status = self.request(op="status")
        return float(status["time"]), int(status["received"])

    # ------------------------------------------------------------------ telemetry

    def tlm(self, name: str) -> Any:
        """The latest value of ``NODE.PACKET.FIELD`` (or every field of ``NODE.PACKET``).

        Raises:
            GroundError: no such parameter, or nothing received for it yet.
        """
        found = self.request(op="latest", names=[name])["values"][name]
        if "error" in found:
            raise GroundError(found["error"])
        return found["value"]

    def check(self, expression: str | Callable[[], bool], what: str | None = None) -> None:
        """Check ``NODE.PACKET.FIELD OP VALUE`` (or a callable) now; ``what`` says what is
        checked in the log and the error (default: the expression, or the callable's name).
        VALUE may be a state name (``lander.core.status.mode == nominal``).

        Raises:
            CheckError: it does not hold (the message names the file and line of the check,
                the expression and the value seen).
        """
        ok, seen = self._evaluate(expression)
        described = what or _describe(expression)
        if not ok:
            raise CheckError(f"{_caller()}check failed: {described} ({seen})")
        self._say(f"check {described}: ok ({seen})")

    def wait_check(
        self, expression: str | Callable[[], bool], *args: Any, timeout: float | None = None,
        tolerance: float = 0.0, hold: float = 0.0,
    ) -> float:  # fmt: skip
        """Wait at most ``timeout`` simulated seconds for a condition to hold; return the
        simulated seconds it took.

        The condition is ``"NODE.PACKET.FIELD OP VALUE"`` (OP one of ``== != < <= > >=``,
        VALUE a number, a string or a state name), or the name, OP and VALUE apart, or a
        callable::

            wait_check("lander.core.status.mode == 2", timeout=5)
            wait_check("lander.core.status.mode == nominal", timeout=5)
            wait_check("mav.launch.status.zone_min", ">", -40, tolerance=0.5, hold=30,
                       timeout=600)
            wait_check(lambda: bench.resync_needed() == [], 30)

        A named value is judged on **every sample** the station receives from the call on (and
        the latest one before it), not only the latest when the procedure looks: a value that
        holds for one sample between two looks is seen. ``tolerance`` widens the comparison by
        that much (``==`` within it, ``>`` down to VALUE - tolerance...). ``hold`` asks the
        condition to stay true for that many simulated seconds: from the first sample that
        holds, every later sample holds until one at least ``hold`` s later does (a callable:
        on the station's clock).

        Raises:
            GroundError: an expression that does not read, a bad ``timeout``, ``tolerance`` or
                ``hold``.
            CheckError: it did not hold (for ``hold`` s) in time; the message names the file
                and line of the check, the condition and the values seen (how many samples,
                their range, the last one, how long it held).
        """
        condition = self._condition(expression, args, timeout, tolerance, hold)
        if condition.name is None:
            return self._wait_callable(condition)
        return self._wait_samples(condition)

    def _condition(
        self, expression: str | Callable[[], bool], args: tuple[Any, ...],
        timeout: float | None, tolerance: float, hold: float,
    ) -> _Condition:  # fmt: skip
        """The checked form of :meth:`wait_check`'s arguments."""
        if len(args) in (1, 3):  # wait_check(expr, 30) or (name, op, value, 30)
            if timeout is not None:
                raise GroundError("wait_check: the timeout given twice")
            timeout, args = args[-1], args[:-1]
        if timeout is None:
            raise GroundError("wait_check: give timeout= (simulated seconds)")
        for what, number in (("timeout", timeout), ("tolerance", tolerance), ("hold", hold)):
            if isinstance(number, bool) or not isinstance(number, int | float) or not (
                math.isfinite(number) and number >= 0
            ):  # fmt: skip
                raise GroundError(f"wait_check: {what} must be seconds >= 0, not {number!r}")
        if callable(expression):
            if args or tolerance:
                raise GroundError("wait_check: a callable takes no comparison nor tolerance")
            return _Condition(None, "", None, 0.0, float(hold), float(timeout),
                              _describe(expression), expression)  # fmt: skip
        if len(args) == 2:
            op, expected = args
            if not isinstance(expression, str) or op not in _COMPARE:
                raise GroundError(f"wait_check: {op!r} is not one of == != < <= > >=")
            name = expression.strip()
        elif not args and isinstance(expression, str):
            name, op, expected = _parse(expression)
        else:
            raise GroundError(
                "wait_check: write wait_check('NODE.PACKET.FIELD OP VALUE', timeout=...) or "
                "wait_check(NAME, OP, VALUE, timeout=...)"
            )
        text = f"{name} {op} {expected if isinstance(expected, str) else repr(expected)}"
        text += f" within {tolerance:g}" if tolerance else ""
        expected = _state_code(name, expected)
        text += f" for {hold:g} s" if hold else ""
        return _Condition(name, op, expected, float(tolerance), float(hold), float(timeout),
                          text, None)  # fmt: skip

    def _wait_samples(self, condition: _Condition) -> float:
        """:meth:`wait_check` of a named value, sample by sample."""
        name = condition.name or ""
        start, cursor = self._clock()
        deadline = start + condition.timeout
        seen = _Samples(condition)
        latest = self.request(op="latest", names=[name])["values"][name]
        if "value" in latest:
            seen.add(float(latest["time"]), latest["value"])
        else:
            seen.note = str(latest.get("error", ""))
        now = start
        while True:
            while not seen.done:  # every sample received so far, in order
                reply = self.request(op="packets", since=cursor, limit=5000)
                for item in reply["packets"]:
                    packet = Received.from_dict(item)
                    value = seen.value_of(packet)
                    if value is not _NONE:
                        seen.add(packet.time, value)
                        if seen.done:
                            break
                if int(reply["next"]) == cursor:
                    break
                cursor = int(reply["next"])
            if seen.done:
                self._say(f"wait_check {condition.text}: ok after {now - start:.1f} s")
                return now - start
            if now >= deadline:
                raise CheckError(f"{_caller()}wait_check failed: {condition.text} not true "
                                 f"within {condition.timeout:g} s ({seen})")  # fmt: skip
            reply = self.request(op="step", until=deadline, wake=True, since=cursor)
            now = float(reply["time"])

    def _wait_callable(self, condition: _Condition) -> float:
        """:meth:`wait_check` of a callable, judged at each look on the station's clock."""
        call: Callable[[], bool] = condition.call or (lambda: False)
        start = self.now()
        deadline = start + condition.timeout
        since: float | None = None
        longest = 0.0
        while True:
            now, mark = self._clock()
            ok, seen = self._evaluate(call)
            since = (now if since is None else since) if ok else None
            longest = max(longest, now - since) if since is not None else longest
            if since is not None and now - since >= condition.hold:
                self._say(f"wait_check {condition.text}: ok after {now - start:.1f} s")
                return now - start
            if now >= deadline:
                held = f"; held {longest:.1f} s of {condition.hold:g}" if condition.hold else ""
                raise CheckError(f"{_caller()}wait_check failed: {condition.text} not true "
                                 f"within {condition.timeout:g} s ({seen}{held})")  # fmt: skip
            until = deadline if since is None else min(deadline, since + condition.hold)
            self.request(op="step", until=until, wake=True, since=mark)

    def wait_event(
        self, node: str, name: str, timeout: float, *, contains: str | None = None,
        since: int | None = None,
    ) -> Received:  # fmt: skip
        """Wait at most ``timeout`` simulated seconds for event ``name`` from ``node`` (with
        ``contains`` in its detail), looking from the last command sent (or ``since``).

        Raises:
            GroundError: unknown node or event.
            CheckError: it did not come in time.
        """
        try:
            node_dictionary(node).event(name)
        except KeyError:
            raise GroundError(f"{node} has no event {name!r}") from None
        cursor = self._mark if since is None else since
        deadline = self.now() + timeout
        while True:
            reply = self.request(op="packets", since=cursor, limit=5000)
            for item in reply["packets"]:
                packet = Received.from_dict(item)
                if (packet.node, packet.kind, packet.name) == (node, "event", name) and (
                    contains is None or contains in packet.values.get("detail", "")
                ):
                    self._say(f"event {node} {name}: {packet.values.get('detail', '')}")
                    return packet
            cursor = int(reply["next"])
            if self.now() >= deadline:
                raise CheckError(f"wait_event: no {node} {name} within {timeout:g} s")
            self.request(op="step", until=deadline, wake=True, since=cursor)

    def packets(self, since: int = 0, limit: int = 1000) -> tuple[list[Received], int]:
        """The decoded packets received after ``since``, and the cursor to go on from."""
        reply = self.request(op="packets", since=since, limit=limit)
        return [Received.from_dict(p) for p in reply["packets"]], int(reply["next"])

    def _evaluate(self, expression: str | Callable[[], bool]) -> tuple[bool, str]:
        if callable(expression):
            held = bool(expression())
            return held, f"the check returned {held}"
        name, op, expected = _parse(expression)
        expected = _state_code(name, expected)
        try:
            value = self.tlm(name)
        except GroundError as exc:
            return False, str(exc)
        try:
            return bool(_COMPARE[op](value, expected)), f"{name} = {_shown(name, value)}"
        except TypeError:
            return False, f"{name} = {value!r} cannot be compared with {expected!r}"


def _command_result(
    node: str, name: str, request_id: str, stages: list[dict[str, Any]]
) -> CommandResult:
    items = tuple((s["stage"], float(s["time"]), s["reason"]) for s in stages)
    return CommandResult(node, name, request_id, items)


CYCLES_DONE_LIMIT: Final = 10.0
"""Wall seconds a scheduled action waits for the nodes to finish the held tick's cycle."""


def backdoor_address(run_dir: Path) -> tuple[str, int]:
    """The simulator's back door of the bench in ``run_dir`` (from its port map).

    Raises:
        GroundError: no simulator port map there.
    """
    try:
        door = json.loads((run_dir / "ports.json").read_text(encoding="utf-8"))["backdoor"]
        return str(door["host"]), int(door["port"])
    except (OSError, ValueError, KeyError, TypeError):
        raise GroundError(f"{run_dir}: no simulator back door in ports.json") from None


def backdoor_request(
    run_dir: Path, message: dict[str, Any], timeout: float = 30.0
) -> dict[str, Any]:
    """One request to the back door of the bench in ``run_dir`` and its reply.

    Raises:
        GroundError: refused (the back door's one-line reason), or no answer.
    """
    try:
        token = read_token(run_dir)
        return request(backdoor_address(run_dir), message, timeout=timeout, token=token)
    except ControlError as exc:
        raise GroundError(str(exc)) from None
    except BackdoorError as exc:
        raise GroundError(f"{message.get('op')}: {exc}") from None
    except OSError as exc:
        raise GroundError(f"the simulator's back door does not answer: {exc}") from None


def _split_command(target: str, name: str | None) -> tuple[str, str]:
    if name is None:
        parts = target.split()
        if len(parts) != 2:
            raise GroundError(f"{target!r}: give 'NODE COMMAND' (e.g. 'lander core.ping')")
        return parts[0], parts[1]
    return target, name


def command_key(node: str, name: str) -> int:
    """``service << 8 | subtype`` of a node's command: the argument of ``gate.arm``.

    Raises:
        GroundError: unknown node or command.
    """
    message = lookup_command(node, name).message
    return int(message.service) << 8 | int(message.subtype)


MAX_REASON: Final = 160
"""The longest confirmation reason kept in the command history (characters)."""
CONFIRMED: Final = "; confirmed: "
"""How the command history's source carries a confirmation's reason: ``msr arm; confirmed:
launch window open``."""


def confirmed_source(source: str, reason: str) -> str:
    """The command history's source of a command confirmed for ``reason``: one line, control
    characters replaced, the reason cut to :data:`MAX_REASON`."""
    clean = re.sub(r"[\x00-\x1f\x7f]+", " ", reason).strip()[:MAX_REASON] or "confirmed"
    return f"{source[: 255 - len(CONFIRMED) - len(clean)]}{CONFIRMED}{clean}"


@dataclass(frozen=True)
class GateView:
    """A node's hazardous-command gate as its latest telemetry shows it (:meth:`Session.gate_view`).

    Attributes:
        node: the node.
        time: the time of its latest ``gate.status`` (None: none received yet).
        armed: how many commands are armed now (None: unknown).
        inhibits: each onboard inhibit by name: True in place, False removed, None unknown.
        mode: the node's mode by name (None: unknown).
    """

    node: str
    time: float | None
    armed: int | None
    inhibits: dict[str, bool | None]
    mode: str | None

    def standing(self, command: Command) -> list[str]:
        """What still stands before the hazardous ``command`` may run, as far as the gate's
        telemetry tells (the flight software checks its own preconditions too): each of its
        inhibits in place (or unknown), and a mode it may not run in."""
        left = []
        for name in command.inhibits:
            placed = self.inhibits.get(name)
            if placed is not False:
                left.append(f"inhibit {name} " + ("in place" if placed else "state unknown"))
        allowed = command.modes or ("critical",)
        if self.mode not in allowed:
            left.append(f"mode {self.mode or 'unknown'} (it runs only in {' or '.join(allowed)})")
        return left


def hazardous_command(node: str, name: str) -> Command:
    """``node``'s hazardous (gated) command ``name`` (``launch.arm`` or ``mav.launch.arm``).

    Raises:
        GroundError: an unknown node, or not one of its hazardous commands (they are listed).
    """
    lookup_command(node, "core.ping")  # an unknown node: named with the known ones
    gated = {c.name: c for c in node_dictionary(node).hazardous}
    bare = name.removeprefix(f"{node}.")
    if bare not in gated:
        known = ", ".join(gated) or "none"
        raise GroundError(f"{node} {name}: not a hazardous command of {node} (those: {known})")
    return gated[bare]


def command_arguments(node: str, command: Command, args: Mapping[str, Any]) -> dict[str, Any]:
    """``node``'s ``command`` arguments with every state name turned into its code: the one
    place where ``msr cmd``, ``msr seq load``, the scripting API and procedures read an
    argument given by name (``mode="nominal"`` is 2; ``command="mav.launch.arm"`` or
    ``"launch.arm"`` is that hazardous command's code; ``inhibit="arm"`` its index). A number
    passes unchanged, and the dictionary checks it when the command is encoded.

    Raises:
        GroundError: a name that is not one of the argument's states (the known ones listed),
            or a name given for an argument that has none (it takes a number).
    """
    fields = {} if command.variable else {f.name: f for f in command.message.fields}
    resolved = dict(args)
    for key, value in args.items():
        declared = fields.get(key)
        if declared is None or not isinstance(value, str):
            continue  # an unknown argument or a number: the encoder names what is wrong
        if not declared.enum:
            raise GroundError(
                f"{node} {command.name}: {key}={value!r}: {key} takes a number "
                f"({declared.lo:g}..{declared.hi:g}), it has no named states"
            )
        bare = value.removeprefix(f"{node}.")  # mav.launch.arm on node mav: launch.arm
        names = dict((name, code) for code, name in declared.enum)
        try:
            resolved[key] = names[bare] if bare in names else declared.code(value)
        except EncodeError as exc:
            raise GroundError(f"{node} {command.name}: {str(exc).splitlines()[0]}") from None
    return resolved


def argument_names(node: str, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` of ``node``'s command ``name`` with each coded argument shown by its state name
    (``{"mode": 2}`` -> ``{"mode": "nominal"}``); an unknown command or a code with no name
    stays as it is (for the command history)."""
    try:
        command = node_dictionary(node).command(name)
    except KeyError:
        return dict(args)
    fields = {} if command.variable else {f.name: f for f in command.message.fields}
    shown = dict(args)
    for key, value in args.items():
        declared = fields.get(key)
        state = declared.state(value) if declared is not None and declared.enum else None
        if state is not None and not isinstance(value, bool):
            shown[key] = state
    return shown


def inhibits(node: str) -> tuple[str, ...]:
    """A node's onboard inhibits, by index (the argument of ``gate.remove_inhibit``)."""
    try:
        return node_dictionary(node).inhibits
    except KeyError as exc:
        raise GroundError(str(exc).strip("'\"")) from None


def lookup_command(node: str, name: str) -> Any:
    """The dictionary record of ``node``'s command ``name`` (GroundError naming what is unknown)."""
    if node not in NODE_APIDS:
        raise GroundError(f"unknown node {node!r} (known: {', '.join(NODE_APIDS)})")
    try:
        return node_dictionary(node).command(name)
    except KeyError as exc:
        raise GroundError(str(exc.args[0]) if exc.args else f"{node} has no {name}") from None


_NONE: Final = object()
"""No value of the named field in a packet."""


@dataclass(frozen=True)
class _Condition:
    """What :meth:`Session.wait_check` waits for: a named value compared (``name`` set) or a
    callable (``call`` set)."""

    name: str | None
    op: str
    expected: Any
    tolerance: float
    hold: float
    timeout: float
    text: str
    call: Callable[[], bool] | None

    def holds(self, value: Any) -> bool:
        """The comparison for one sample, widened by the tolerance (a value that cannot be
        compared does not hold)."""
        try:
            if not self.tolerance:
                return bool(_COMPARE[self.op](value, self.expected))
            gap, tol = float(value) - float(self.expected), self.tolerance
        except (TypeError, ValueError):
            return False
        return {"==": abs(gap) <= tol, "!=": abs(gap) > tol, "<": gap < tol, "<=": gap <= tol,
                ">": gap > -tol, ">=": gap >= -tol}[self.op]  # fmt: skip


class _Samples:
    """The samples :meth:`Session.wait_check` saw of one named value, and whether the
    condition held (for its ``hold``)."""

    def __init__(self, condition: _Condition) -> None:
        self.condition = condition
        self.node, _, self.rest = (condition.name or "").partition(".")
        self.count = 0
        self.first: tuple[float, Any] | None = None
        self.last: tuple[float, Any] | None = None
        self.low: Any = None
        self.high: Any = None
        self.since: float | None = None  # the first sample of the run that holds
        self.longest = 0.0  # the longest it held
        self.done = False
        self.note = ""

    def value_of(self, packet: Received) -> Any:
        """The named field in ``packet``, or :data:`_NONE`."""
        if packet.node != self.node or packet.kind not in ("hk", "report", "time", "params"):
            return _NONE
        prefix = packet.name + "."
        if not self.rest.startswith(prefix):
            return _NONE
        return packet.values.get(self.rest[len(prefix) :], _NONE)

    def add(self, time: float, value: Any) -> None:
        """One more sample, in time order."""
        self.count += 1
        self.first = self.first or (time, value)
        self.last = (time, value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        if not self.condition.holds(value):
            self.since = None
            return
        self.since = time if self.since is None else self.since
        self.longest = max(self.longest, time - self.since)
        self.done = time - self.since >= self.condition.hold

    def __str__(self) -> str:
        name = self.condition.name
        if self.last is None or self.first is None:
            return f"no sample of {name}" + (f": {self.note}" if self.note else "")
        text = f"{self.count} sample{'s' if self.count != 1 else ''} of {name}"
        text += f" from t={self.first[0]:.1f} to t={self.last[0]:.1f}"
        if self.low is not None and self.low != self.high:
            text += f", between {self.low:g} and {self.high:g}"
        text += f", last {_shown(str(name), self.last[1])}"
        if self.condition.hold:
            text += f"; held at most {self.longest:.1f} s of {self.condition.hold:g}"
        return text


def _parse(expression: str) -> tuple[str, str, Any]:
    """``NODE.PACKET.FIELD OP VALUE`` read: the name, the comparison and the value (a Python
    literal, or a bare word: a state name)."""
    match = _EXPRESSION.match(expression) if isinstance(expression, str) else None
    if match is None:
        raise GroundError(
            f"cannot read {expression!r}: write NODE.PACKET.FIELD OP VALUE, "
            "OP one of == != < <= > >="
        )
    name, op, literal = match.groups()
    try:
        return name, op, ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        if re.fullmatch(r"[A-Za-z_][\w.]*", literal):
            return name, op, literal  # a state name
        raise GroundError(f"{expression!r}: {literal!r} is not a value") from None


def _field(name: str) -> Any:
    """The dictionary field of telemetry ``NODE.PACKET.FIELD`` (None: not a known one)."""
    node, _, rest = name.partition(".")
    if node not in NODE_APIDS:
        return None
    d = node_dictionary(node)
    for packet in [*d.hk, *d.reports]:
        if rest.startswith(packet.name + "."):
            key = rest[len(packet.name) + 1 :]
            return next((f for f in packet.message.fields if f.name == key), None)
    return None


def _state_code(name: str, expected: Any) -> Any:
    """``expected`` as compared with telemetry ``name``: a state name of an enumerated field
    becomes its code (GroundError listing the states when it is none of them)."""
    if not isinstance(expected, str):
        return expected
    declared = _field(name)
    if declared is None or not getattr(declared, "enum", ()):
        return expected
    try:
        return declared.code(expected)
    except EncodeError as exc:
        raise GroundError(f"{name}: {str(exc).splitlines()[0]}") from None


def _shown(name: str, value: Any) -> str:
    """A telemetry value as a check reports it: its state name beside an enumerated code."""
    declared = _field(name)
    state = declared.state(value) if declared is not None and declared.enum else None
    return f"{value!r} ({state})" if state is not None else repr(value)


def _caller() -> str:
    """``FILE:LINE: ``, where the procedure, script or test called the API (the first frame
    outside this module), as Python names a place in a file."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:
        return ""
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}: "


def _describe(expression: str | Callable[[], bool]) -> str:
    return expression if isinstance(expression, str) else getattr(expression, "__name__", "?")
