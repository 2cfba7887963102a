"""The operator scripting API: what procedures and system tests are written with.

In the style operators know from OpenC3 COSMOS scripting and F Prime's integration-test API::

    from ground_tools.api import connect, Confirm

    bench = connect()                                   # the bench of runs/latest
    bench.cmd("lander core.ping")                       # waits for completion; raises if failed
    bench.cmd("lander", "modes.set", mode=2)
    bench.wait_check("lander.core.status.mode == 2", timeout=5)
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
import operator
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fsw.dictionary import NODE_APIDS, Command, node_dictionary
from fsw.dictionary.loads import LoadError, build_sequence_load, confirmations
from fsw.dictionary.model import Parameter
from fsw.dictionary.parameters import ROLLBACK_TO, build_load, build_report_request
from fsw.dictionary.parameters import refusal as parameter_refusal
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
    "GroundError",
    "HazardousCommandError",
    "Session",
    "backdoor_address",
    "backdoor_request",
    "command_key",
    "connect",
    "hazards",
    "inhibits",
    "lookup_command",
    "parameter",
    "parameter_value",
    "resolve_run_dir",
    "sequence_load",
]

FINAL_STAGES: Final = frozenset(
    {"acceptance_failed", "start_failed", "completed", "completion_failed"}
)
_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge,
    "<": operator.lt, ">": operator.gt,
}  # fmt: skip
_EXPRESSION = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")


class GroundError(Exception):
    """Anything a procedure did that the ground refused or could not do: one line."""


class CheckError(GroundError):
    """A ``check`` or ``wait_check`` that did not hold (the message says what was seen)."""


class CommandFailed(GroundError):
    """A command refused or failed on board (the message gives the stage and the reason)."""


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
            data = command.encode(**args)
        except (KeyError, EncodeError, TypeError) as exc:
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
        self._mark = self.request(op="status")["received"]

    # ------------------------------------------------------------------ plumbing

    def request(self, **message: Any) -> dict[str, Any]:
        """One request to the station and its reply.

        Raises:
            GroundError: the station refused the request (its message) or went away.
        """
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
        return dict(reply)

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
        while True:
            now, mark = self._clock()  # before the look: nothing that comes after is missed
            result = self._result(node, name, request_id)
            if result.final in FINAL_STAGES or now >= deadline:
                break
            self.request(op="step", until=deadline, wake=True, since=mark)
        self._say(str(result))
        if check and not result.ok:
            if not result.stages or result.final not in FINAL_STAGES:
                raise CommandFailed(f"{result}: no final report within {timeout:g} s")
            raise CommandFailed(str(result))
        return result

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
        reply = self.request(op="cmd", node=node, name=name, args=wire, source=self.source,
                             confirmed=isinstance(confirm, Confirm))  # fmt: skip
        return str(reply["request_id"]), node, name

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

    def clear_fault(self, fault_id: int) -> None:
        """Clear a fault injected with :meth:`fault` (GroundError: unknown number)."""
        self.request(op="hold")
        backdoor_request(self.run_dir, {"op": "clear", "id": fault_id})
        self._say(f"fault {fault_id} cleared")

    def _result(self, node: str, name: str, request_id: str) -> CommandResult:
        stages = self.request(op="stages", node=node, request_id=request_id)["stages"]
        items = tuple((s["stage"], float(s["time"]), s["reason"]) for s in stages)
        return CommandResult(node, name, request_id, items)

    def _seen(self) -> int:
        return self._clock()[1]

    def _clock(self) -> tuple[float, int]:
        """The simulated time and the count of packets received, from one status request."""
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

        Raises:
            CheckError: it does not hold (the message gives the value seen).
        """
        ok, seen = self._evaluate(expression)
        described = what or _describe(expression)
        if not ok:
            raise CheckError(f"check failed: {described} ({seen})")
        self._say(f"check {described}: ok ({seen})")

    def wait_check(self, expression: str | Callable[[], bool], timeout: float) -> float:
        """Wait at most ``timeout`` simulated seconds for ``expression`` to hold; return the
        simulated seconds it took.

        Raises:
            CheckError: it did not hold in time (the message gives the last value seen).
        """
        start = self.now()
        deadline = start + timeout
        while True:
            now, mark = self._clock()
            ok, seen = self._evaluate(expression)
            if ok:
                self._say(f"wait_check {_describe(expression)}: ok after {now - start:.1f} s")
                return now - start
            if now >= deadline:
                raise CheckError(
                    f"wait_check failed: {_describe(expression)} not true within "
                    f"{timeout:g} s ({seen})"
                )
            self.request(op="step", until=deadline, wake=True, since=mark)

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
        match = _EXPRESSION.match(expression)
        if match is None:
            raise GroundError(
                f"cannot read {expression!r}: write NODE.PACKET.FIELD OP VALUE, "
                "OP one of == != < <= > >="
            )
        name, op, literal = match.groups()
        try:
            expected = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            raise GroundError(f"{expression!r}: {literal!r} is not a value") from None
        try:
            value = self.tlm(name)
        except GroundError as exc:
            return False, str(exc)
        try:
            return bool(_COMPARE[op](value, expected)), f"{name} = {value!r}"
        except TypeError:
            return False, f"{name} = {value!r} cannot be compared with {expected!r}"


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


def _describe(expression: str | Callable[[], bool]) -> str:
    return expression if isinstance(expression, str) else getattr(expression, "__name__", "?")
