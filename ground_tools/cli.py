"""``msr``: the operator command line of the MSR bench.

``msr --help`` lists the subcommands and each has its own ``--help``. The commands that talk to
a running bench find it with ``--run-dir DIR`` or ``--bench FILE`` (its ``runs_dir/latest``),
and otherwise use ``runs/latest``. Every error is one line naming the problem, with a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hal.errors import HalError

EXIT_ERROR = 2
EXIT_FAILED = 1


class CliError(Exception):
    """A one-line error for the user."""


# ---------------------------------------------------------------------------- bench


def _target(args: argparse.Namespace) -> str | None:
    return args.run_dir or args.bench


def _cmd_bench(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ground_tools.bench_ctl import bench_down, bench_status, bench_up, reset_node
    from hal.bench import default_bench_path

    console = Console()
    if args.action == "up":
        bench = Path(args.bench) if args.bench else default_bench_path()
        runs = Path(args.runs_dir) if args.runs_dir else None
        own = Path(args.run_dir) if args.run_dir else None  # its own folder (decision 0039)
        up = bench_up(bench, runs_dir=runs, pace=args.pace, run_dir=own, alone=own is None)
        console.print(f"bench up: {up.run_dir}")
        for name, pid in up.pids.items():
            console.print(f"  {name:14} pid {pid}")
        return 0
    if args.action == "reset":
        if not args.node:
            raise CliError("bench reset: name the node to reset (lander, mav or orbiter)")
        pid = reset_node(_target(args), args.node, wipe_nv=args.wipe_nv)
        console.print(f"{args.node} reset: restarted as pid {pid}")
        return 0
    if args.action == "down":
        fates = bench_down(_target(args))
        for name, fate in fates.items():
            console.print(f"  {name:14} {fate}")
        return 0
    status = bench_status(_target(args))
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    console.print(f"run {status['run_dir']}  t = {status.get('time', '-')} s  "
                  f"pace {status.get('pace') or 'fast'}")  # fmt: skip
    table = Table(title="processes")
    for column in ("process", "pid", "state"):
        table.add_column(column)
    for name, proc in status["processes"].items():
        colour = "green" if proc["state"] == "running" else "red"
        table.add_row(name, str(proc["pid"]), f"[{colour}]{proc['state']}[/]")
    console.print(table)
    links = Table(title="space links")
    for column in ("node", "COP-1", "sync", "delivered", "retransmitted", "lockouts",
                   "packets in", "rejected (by reason)"):  # fmt: skip
        links.add_column(column)
    for name, link in status.get("links", {}).items():
        rejects = link.get("rejects") or {}
        rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(rejects.items())) or "0"
        links.add_row(name, link["fop"], link.get("sync", "-"), str(link["delivered"]),
                      str(link["retransmissions"]), str(link["lockouts"]),
                      str(link["packets_in"]), rejected)  # fmt: skip
    console.print(links if "links" in status else f"[red]{status.get('links_error')}[/]")
    boards = Table(title="boards")
    for column in ("board", "kind", "port", "state"):
        boards.add_column(column)
    for name, board in status["boards"].items():
        colour = "green" if board["state"] == "present" else "red"
        boards.add_row(name, board["kind"], board["path"], f"[{colour}]{board['state']}[/]")
    console.print(boards)
    return 0


# ---------------------------------------------------------------------------- commanding


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _arguments(pairs: list[str]) -> dict[str, Any]:
    args = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"argument {pair!r}: write NAME=VALUE")
        args[name] = _value(value)
    return args


def _terminal() -> bool:
    """Standard input is a terminal to ask the operator on (False too when there is no
    standard input at all, ``msr ... <&-``, or it is closed)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _ask(prompt: str) -> str:
    """One line typed by the operator (``""`` at end of input: nothing typed)."""
    try:
        return input(prompt).strip()
    except EOFError:
        print(file=sys.stderr)
        return ""


def _reason(text: str | None) -> str | None:
    """A ``--reason`` given on the command line, checked (CliError: empty, or not one line)."""
    if text is None:
        return None
    clean = text.strip()
    if not clean or any(ord(c) < 32 or ord(c) == 127 for c in clean):
        raise CliError("--reason: give the reason as one line of text")
    return clean


def _confirm(node: str, name: str, reasons: list[str], yes: bool, reason: str | None = None) -> Any:
    """The operator's hazardous confirmation (decision 0024): ``Confirm`` when ``reasons`` is
    not empty and the operator typed the command's name (or gave ``--yes`` or ``--reason``),
    None when nothing needs it. CliError when it is not given: refused, or no terminal on
    standard input to ask on (never a traceback, whatever standard input is)."""
    from ground_tools.api import Confirm

    if not reasons:
        return None
    why = _reason(reason)
    if why is not None:
        return Confirm(why)
    if not yes:
        hazard = "; ".join(reasons)
        if not _terminal():
            raise CliError(
                f"{node} {name} is HAZARDOUS ({hazard}): stdin is not a terminal to confirm "
                "on; pass --yes or --reason TEXT to confirm, nothing sent"
            )
        answer = _ask(f"{node} {name} is HAZARDOUS ({hazard}). Type its name to send: ")
        if answer != name:
            raise CliError(f"{node} {name}: not confirmed, nothing sent")
    return Confirm(f"msr: {name} confirmed by the operator")


def _cmd_cmd(args: argparse.Namespace) -> int:
    from ground_tools.api import FINAL_STAGES, command_arguments, connect, hazards, lookup_command
    from ground_tools.timefmt import mission_epoch, utc_text

    command = lookup_command(args.node, args.command)  # unknown node/command: before connecting
    arguments = command_arguments(args.node, command, _arguments(args.args))  # names to codes
    try:
        command.encode(**arguments)
    except (HalError, TypeError) as exc:
        raise CliError(f"{args.node} {args.command}: {str(exc).splitlines()[0]}") from None
    reasons = hazards(args.node, command, arguments)
    confirm = _confirm(args.node, args.command, reasons, args.yes, args.reason)
    with connect(_target(args), source="msr cmd") as session:
        epoch = mission_epoch(session.run_dir)
        result = session.cmd(args.node, args.command, confirm=confirm, timeout=args.timeout,
                             check=False, **arguments)  # fmt: skip
    for stage, when, reason in result.stages:  # simulated seconds, the stage, UTC
        print(f"{when:10.1f}  {stage:17}  {utc_text(epoch, when)}"
              + (f"  ({reason})" if reason else ""))  # fmt: skip
    if result.final not in FINAL_STAGES:  # timed out: say how far it got
        print(f"no final report within {args.timeout:g} s: last stage reached: {result.reached}")
    return 0 if result.ok else EXIT_FAILED


def _cmd_arm(args: argparse.Namespace) -> int:
    """``msr arm NODE COMMAND``: the guided hazardous flow (decision 0038). Shows the gate,
    the inhibits and the mode, asks once for the reason (the hazardous confirmation), arms
    the gate for COMMAND (``gate.arm``) and shows what still stands before it may run and
    when the arm expires."""
    from ground_tools.api import Confirm, command_key, connect, hazardous_command
    from ground_tools.timefmt import mission_epoch, stamp

    node = args.node
    command = hazardous_command(node, args.command)  # before connecting: named or listed
    reason = _reason(args.reason) or ("msr arm --yes" if args.yes else None)
    if reason is None and not _terminal():
        raise CliError(f"{node} {command.name}: stdin is not a terminal to ask the reason on; "
                       "pass --reason TEXT (or --yes) to arm, nothing sent")  # fmt: skip
    with connect(_target(args), source="msr arm") as session:
        epoch = mission_epoch(session.run_dir)
        view = session.gate_view(node)
        _show_gate(view, command, epoch)
        if reason is None:
            reason = _ask(f"Reason for arming {node} {command.name} (empty: nothing sent): ")
            if not reason:
                raise CliError(f"{node} {command.name}: no reason given, not armed")
            reason = _reason(reason) or reason
        key = command_key(node, command.name)
        result = session.cmd(node, "gate.arm", command=key, confirm=Confirm(reason),
                             timeout=args.timeout, check=False)  # fmt: skip
        for stage, when, why in result.stages:
            print(f"{stamp(epoch, when)}  gate.arm {stage}" + (f"  ({why})" if why else ""))
        if not result.ok:
            reached = result.final_reason or f"last stage reached: {result.reached}"
            print(f"NOT ARMED: {node} {command.name} ({reached})")
            return EXIT_FAILED
        expires = session.arm_expiry(node, command, result)
        view = session.gate_view(node)
    print(f"ARMED: {node} {command.name} until {stamp(epoch, expires)} "
          f"(window {command.window:g} s; the reason is in msr history)")  # fmt: skip
    standing = view.standing(command)
    if standing:
        print(f"before {command.name} may run:")
        for line in _remedies(node, command, view):
            print(f"  - {line}")
    print(f"then, before the arm expires: msr cmd {node} {command.name} (hazardous: confirm it)")
    return 0


def _show_gate(view: Any, command: Any, epoch: Any) -> None:
    """The gate, the inhibits and the mode of the node, as its telemetry last showed them."""
    from ground_tools.timefmt import stamp

    when = "no gate.status received yet" if view.time is None else f"at {stamp(epoch, view.time)}"
    armed = "unknown" if view.armed is None else str(view.armed)
    print(f"{view.node} gate ({when}): commands armed now {armed}")
    for name, placed in view.inhibits.items():
        state = {True: "IN PLACE", False: "removed", None: "unknown"}[placed]
        needed = f"  (inhibits {command.name})" if name in command.inhibits else ""
        print(f"  inhibit {name:12} {state}{needed}")
    allowed = " or ".join(command.modes or ("critical",))
    print(f"  mode {view.mode or 'unknown'} ({command.name} runs only in {allowed})")


def _remedies(node: str, command: Any, view: Any) -> list[str]:
    """Each thing that still stands before ``command`` may run, with the command that ends it."""
    lines = []
    for name in command.inhibits:
        if view.inhibits.get(name) is not False:
            lines.append(f"inhibit {name} is in place: msr cmd {node} gate.remove_inhibit "
                         f"inhibit={_inhibit_argument(node, name)}")  # fmt: skip
    allowed = command.modes or ("critical",)
    if view.mode not in allowed:
        lines.append(f"mode is {view.mode or 'unknown'}: msr cmd {node} modes.set "
                     f"mode={_mode_argument(node, allowed[0])}")  # fmt: skip
    return lines


def _inhibit_argument(node: str, name: str) -> str:
    """How to write inhibit ``name`` as ``gate.remove_inhibit``'s argument: by name when the
    dictionary names the inhibits, else its index."""
    from ground_tools.api import inhibits, lookup_command

    field = lookup_command(node, "gate.remove_inhibit").message.fields[0]
    return name if name in dict(field.enum).values() else str(inhibits(node).index(name))


def _mode_argument(node: str, mode: str) -> str:
    """How to write ``mode`` as ``modes.set``'s argument (its name, or its number)."""
    from fsw.dictionary.model import MODES
    from ground_tools.api import lookup_command

    field = lookup_command(node, "modes.set").message.fields[0]
    return mode if mode in dict(field.enum).values() else str(MODES.index(mode))


def _cmd_history(args: argparse.Namespace) -> int:
    """``msr history``: every command sent, from the archive's command history (decision
    0038): its source (and a confirmation's reason), its arguments by name, its time in UTC
    and mission time, and its verification result."""
    from ground_tools.api import FINAL_STAGES, argument_names, resolve_run_dir
    from ground_tools.archive import Archive
    from ground_tools.timefmt import mission_epoch, stamp, utc_text

    run_dir = resolve_run_dir(_target(args))
    epoch = mission_epoch(run_dir)
    since = _since(args.since, epoch)
    archive = Archive.open_readonly(run_dir / "archive.sqlite")
    try:
        records = archive.commands(node=args.node, start=since)
    finally:
        archive.close()
    for record in records:
        source, _, confirmed = record.source.partition("; confirmed: ")
        named = argument_names(record.node, record.name, record.args or {})
        final = [s for s in record.stages if s.stage in FINAL_STAGES]
        if final:
            result = final[-1].stage + (f" ({final[-1].reason})" if final[-1].reason else "")
        else:
            result = f"no final report (last: {record.stages[-1].stage})" if record.stages else (
                "no report")  # fmt: skip
        if args.json:
            print(json.dumps({
                "utc": utc_text(epoch, record.sim_time), "time": record.sim_time,
                "node": record.node, "command": record.name, "args": named,
                "raw_args": record.args, "source": source, "confirmed": confirmed or None,
                "request_id": record.request_id, "result": result,
                "stages": [{"stage": s.stage, "time": s.sim_time,
                            "utc": utc_text(epoch, s.sim_time), "reason": s.reason}
                           for s in record.stages],
            }))  # fmt: skip
            continue
        shown = " ".join(f"{k}={_shown_argument(v)}" for k, v in named.items())
        by = source + (f" (confirmed: {confirmed})" if confirmed else "")
        print(f"{stamp(epoch, record.sim_time)}  {record.node:8} {record.name}"
              + (f" {shown}" if shown else "") + f"  [{by}]  {result}")  # fmt: skip
    return 0


def _shown_argument(value: Any) -> str:
    """An archived argument as the history prints it (octets by their size)."""
    if isinstance(value, dict) and set(value) == {"hex"}:
        value = value["hex"]
    if isinstance(value, str) and len(value) > 24 and all(c in "0123456789abcdef" for c in value):
        return f"<{len(value) // 2} octets>"
    return str(value)


def _since(text: str | None, epoch: Any) -> float | None:
    """``--since``: mission seconds, or a UTC time (``2031-07-01T00:10:00Z``) (CliError)."""
    import math
    from datetime import UTC, datetime

    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise CliError(f"--since {text!r}: give mission seconds or a UTC time such as "
                           "2031-07-01T00:10:00Z") from None  # fmt: skip
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        seconds = (instant - epoch).total_seconds()
    if not math.isfinite(seconds):
        raise CliError(f"--since {text!r}: not a finite time")
    return seconds


def _cmd_link(args: argparse.Namespace) -> int:
    from ground_tools.api import connect

    with connect(_target(args), source="msr link") as session:
        reached = session.resync(args.node, timeout=args.timeout)
    print(f"{args.node}: uplink resynchronised at t = {reached:.1f} s (a new session)")
    return 0


def _sequence_file(path: Path) -> list[tuple[float, str, dict[str, Any]]]:
    """The steps of a sequence file (TOML: ``[[steps]]`` tables of ``delay`` seconds,
    ``command`` and an optional ``args`` table, nothing else), checked (CliError naming the
    step and the field)."""
    import math
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
        if len(text) > 1 << 20:
            raise CliError(f"{path}: larger than 1 MiB")
        document = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"{path}: {str(exc).splitlines()[0]}") from None
    rows = document.get("steps")
    if set(document) != {"steps"} or not isinstance(rows, list) or not 1 <= len(rows) <= 1024:
        raise CliError(f"{path}: expected only [[steps]] tables, 1..1024 of them")
    steps = []
    for index, row in enumerate(rows):
        where = f"{path}: step {index}"
        if not isinstance(row, dict) or set(row) - {"delay", "command", "args"}:
            raise CliError(f"{where}: only delay, command and args")
        delay, name, arguments = row.get("delay"), row.get("command"), row.get("args", {})
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not (
            math.isfinite(delay) and 0 <= delay <= 86400 * 365
        ):  # fmt: skip
            raise CliError(f"{where}: delay must be seconds >= 0, not {delay!r}")
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise CliError(f"{where}: command must be a name and args a table")
        steps.append((float(delay), name, arguments))
    return steps


def _cmd_seq(args: argparse.Namespace) -> int:
    from ground_tools.api import connect, hazards, lookup_command, sequence_load

    steps = _sequence_file(Path(args.file))
    data = sequence_load(args.node, args.name, steps)  # every step checked before connecting
    reasons = hazards(args.node, lookup_command(args.node, "seq.load"), {"data": data})
    confirm = _confirm(args.node, f"seq.load {args.name}", reasons, args.yes, args.reason)
    with connect(_target(args), source="msr seq") as session:
        result = session.load_sequence(args.node, args.name, steps, confirm=confirm,
                                       timeout=args.timeout)  # fmt: skip
    print(f"{args.node} sequence {args.name}: {len(steps)} steps loaded"
          + (" with the hazardous confirmation" if confirm else ""))  # fmt: skip
    return 0 if result.ok else EXIT_FAILED


def _cmd_param(args: argparse.Namespace) -> int:
    """``msr param set|get|rollback``: PUS-20 parameters through the station (decision 0026)."""
    from ground_tools.api import CommandFailed, connect, parameter, parameter_value

    names = args.names
    if args.action == "set":
        if len(names) != 2:
            raise CliError("param set: write NODE NAME VALUE")
        name, text = names
        value = _value(text)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CliError(f"param set {args.node} {name}: {text!r} is not a number")
        parameter_value(args.node, name, value)  # checked before connecting
    elif args.action == "rollback":
        if len(names) != 1:
            raise CliError("param rollback: write NODE NAME [--to previous|default]")
        parameter(args.node, names[0])
    else:
        if not names:
            raise CliError("param get: write NODE NAME [NAME ...]")
        for name in names:
            parameter(args.node, name)
    with connect(_target(args), source="msr param") as session:
        try:
            if args.action == "get":
                values = session.param_get(args.node, *names, timeout=args.timeout)
                for name, got in values.items():
                    unit = parameter(args.node, name).unit
                    print(f"{args.node} {name} = {got:g}" + ("" if unit == "-" else f" {unit}"))
                return 0
            if args.action == "set":
                result = session.param_set(args.node, names[0], value, timeout=args.timeout)
            else:
                result = session.param_rollback(args.node, names[0], to=args.to,
                                                timeout=args.timeout)  # fmt: skip
            now = session.param_get(args.node, names[0], timeout=args.timeout)[names[0]]
        except CommandFailed as exc:
            print(f"refused: {exc}")
            return EXIT_FAILED
    print(f"{args.node} {names[0]} = {now:g} ({result.final} at t = {result.stages[-1][1]:.1f} s)")
    return 0


def _refresh_interval(value: float) -> float:
    """A display's refresh interval, wall seconds (CliError unless finite and 0.05..3600)."""
    import math

    if not (math.isfinite(value) and 0.05 <= value <= 3600):
        raise CliError(f"--interval {value:g}: give wall seconds between 0.05 and 3600")
    return value


def _cmd_tlm(args: argparse.Namespace) -> int:
    """``msr tlm``: the live table (values coloured by their limits, states by name), or JSON
    lines (``--json``), decision 0036."""
    from ground_tools.api import connect
    from ground_tools.displays import expand_names, watch_telemetry
    from ground_tools.timefmt import mission_epoch

    interval = _refresh_interval(args.interval)
    expand_names(args.names)  # unknown names: before connecting
    with connect(_target(args), source="msr tlm") as session:
        epoch = mission_epoch(session.run_dir)
        watch_telemetry(session, args.names, interval=interval, once=args.once,
                        as_json=args.json, epoch=epoch)  # fmt: skip
    return 0


def _cmd_events(args: argparse.Namespace) -> int:
    """``msr events``: the nodes' events and the station's limit events, by name, in time
    order (within each batch read), as lines or JSON lines (``--json``), decision 0036."""
    import time

    from rich.console import Console

    from ground_tools.api import connect
    from ground_tools.displays import event_line, event_record, limit_line, limit_record
    from ground_tools.timefmt import mission_epoch

    if args.count is not None and args.count < 1:
        raise CliError(f"--count {args.count}: give at least 1")
    if args.since < 0:
        raise CliError(f"--since {args.since}: a packet number is 0 or more")
    console = Console()
    shown = 0
    with connect(_target(args), source="msr events") as session:
        epoch = mission_epoch(session.run_dir)
        cursor, limit_cursor = args.since, 0
        floor: float | None = None  # with --since: limit events from the first packet's time
        while True:
            packets, cursor = session.packets(cursor, 1000)
            reply = session.request(op="limits", since=limit_cursor, limit=1000)
            limit_cursor = reply["next"]
            if args.since and floor is None and packets:
                floor = packets[0].time
            rows: list[tuple[float, int, str]] = []
            for packet in packets:
                if packet.kind == "event" and args.node in (None, packet.node):
                    text = (json.dumps(event_record(packet, epoch)) if args.json
                            else event_line(packet, epoch))  # fmt: skip
                    rows.append((packet.time, 0, text))
            for event in reply["events"]:
                if args.node in (None, event["node"]) and (floor is None
                                                           or event["time"] >= floor):  # fmt: skip
                    text = (json.dumps(limit_record(event, epoch)) if args.json
                            else limit_line(event, epoch))  # fmt: skip
                    rows.append((event["time"], 1, text))
            for _, _, text in sorted(rows, key=lambda row: row[:2]):
                if args.json:
                    print(text, flush=True)
                else:
                    console.print(text)
                shown += 1
                if args.count and shown >= args.count:
                    return 0
            idle = not packets and not reply["events"]
            if args.once and idle:
                return 0
            if idle:
                time.sleep(0.2)


def _limit_rows(args: argparse.Namespace) -> tuple[list[dict[str, Any]], float | None, Path]:
    """What ``msr limits`` lists: from the live station, or (``--archive``) from the limit
    events archived in the run folder (a bench that is down), decision 0036."""
    from ground_tools.api import connect, resolve_run_dir

    if not args.archive:
        with connect(_target(args), source="msr limits") as session:
            reply = session.request(op="limits", since=0, limit=0, all=args.all)
            return reply["current"], reply["time"], session.run_dir
    from fsw.dictionary import dictionary
    from ground_tools.archive import Archive
    from ground_tools.limits import LimitMonitor, replay

    run_dir = resolve_run_dir(_target(args))
    with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
        monitor = LimitMonitor(dictionary())
        monitor.points = replay(archive.limit_events())
        rows = monitor.listing(every=args.all)
        known = set(archive.parameters())
        for row in rows:  # the latest value archived, not the one of the last transition
            if row["point"] in known:
                row["time"], row["value"] = archive.latest(row["point"])
                if row["level"] is None:
                    row["level"] = "green"  # received and never left its limits
        last = max((row["time"] for row in rows if row["time"] is not None), default=None)
    return rows, last, run_dir


def _cmd_limits(args: argparse.Namespace) -> int:
    """``msr limits``: the points out of limits now (``--all``: every limited point), with
    value, unit, level, the limit set and since when (decision 0036)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ground_tools.displays import LEVEL_STYLE
    from ground_tools.timefmt import mission_epoch, utc_text

    rows, now, run_dir = _limit_rows(args)
    rows = [row for row in rows if args.node in (None, row["node"])]
    epoch = mission_epoch(run_dir)
    for row in rows:
        row["since_utc"] = "-" if row["since"] is None else utc_text(epoch, row["since"])
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
        return 0
    source = "archive" if args.archive else "live"
    when = "-" if now is None else f"{now:.1f}"
    if not rows:
        print(f"nothing out of limits ({source}, t = {when} s)")
        return 0
    what = "limited points" if args.all else "out of limits"
    table = Table(title=f"{what} ({source}, t = {when} s)", expand=False)
    for column in ("point", "value", "level", "limits", "mode", "since", "since UTC"):
        table.add_column(column, justify="right" if column in ("value", "since") else "left")
    for row in rows:
        value = "-" if row["value"] is None else str(row["value"])
        if isinstance(row["value"], float):
            value = f"{row['value']:.4g}"
        if row.get("state"):
            value = f"{row['state']} ({value})"
        unit = "" if row["unit"] in ("-", "") or row["value"] is None else f" {row['unit']}"
        level = row["level"] or "-"
        style = LEVEL_STYLE.get(level, "dim")
        since = "-" if row["since"] is None else f"{row['since']:.1f}"
        table.add_row(escape(row["point"]), f"[{style}]{escape(value + unit)}[/]",
                      f"[{style}]{level}[/]", escape(row["limits"] or ""), row["mode"] or "-",
                      since, row["since_utc"])  # fmt: skip
    Console().print(table)
    return 0


def _file_records(args: argparse.Namespace, *, data: bool = False) -> tuple[list[Any], Path]:
    """The file transfers of the run folder's archive (decision 0056), a node's or a name's."""
    from ground_tools.api import resolve_run_dir
    from ground_tools.archive import Archive

    run_dir = resolve_run_dir(_target(args))
    with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
        records = archive.files(node=getattr(args, "node", None), data=data)
    return records, run_dir


def _cmd_files(args: argparse.Namespace) -> int:
    """``msr files``: every file that came down by CFDP (decision 0056), or failed to, from the
    run folder's archive: node, name, transaction, size, CRC-32, whole or not, NAKs, when."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    records, run_dir = _file_records(args)
    if args.json:
        for record in records:
            print(json.dumps(record.as_dict()), flush=True)
        return 0
    if not records:
        print(f"no file came down in {run_dir / 'archive.sqlite'}")
        return 0
    table = Table(title=f"files by CFDP ({run_dir.name})", expand=False)
    for column in ("node", "name", "transaction", "octets", "CRC-32", "whole", "NAKs",
                   "started (s)", "ended (s)"):  # fmt: skip
        table.add_column(column, justify="right" if column[0].isdigit() else "left")
    for r in records:
        whole = "yes" if r.ok else f"[red]no: {escape(r.condition)}[/]"
        table.add_row(r.node, escape(r.name or "?"), str(r.seq), str(r.size), f"{r.crc32:08x}",
                      whole, str(r.naks), f"{r.started:.1f}", f"{r.sim_time:.1f}")  # fmt: skip
    Console().print(table)
    return 0


def _cmd_image(args: argparse.Namespace) -> int:
    """``msr image NAME``: an image that came down by CFDP (decision 0056), drawn in text with
    what the ground reads on it (the OS's orientation); ``-o FILE.png`` writes it as a picture."""
    from ground_tools.api import GroundError
    from ground_tools.files import ImageError, estimate_orientation, parse_pgm, render_text

    records, run_dir = _file_records(args, data=True)
    whole = [r for r in records if r.ok and r.name == args.name]
    if not whole:
        names = sorted({r.name for r in records if r.ok and r.name.endswith(".pgm")})
        raise GroundError(f"no image {args.name!r} came down whole in {run_dir.name} (images: "
                          f"{', '.join(names) or 'none'})")  # fmt: skip
    record = whole[-1]
    try:
        image = parse_pgm(record.data)
    except ImageError as exc:
        raise GroundError(f"{args.name}: {exc}") from None
    estimate = estimate_orientation(image)
    if args.output:
        from ground_tools.plot import save_image

        save_image(image.pixels, image.width, image.height, args.output,
                   title=f"{record.node}/{record.name}")  # fmt: skip
    if args.json:
        print(json.dumps({**record.as_dict(), "width": image.width, "height": image.height,
                          "meta": image.meta(), "estimate": estimate.as_dict()}))  # fmt: skip
        return 0
    print(
        f"{record.node}/{record.name}: {image.width} x {image.height}, {record.size} octets, "
        f"CRC-32 {record.crc32:08x}, transaction {record.seq}, down at {record.sim_time:.1f} s"
    )
    for key, value in image.meta().items():
        print(f"  {key} = {value}")
    for line in render_text(image):
        print(f"  {line}")
    if estimate.orientation is None:
        print(f"orientation: not read ({estimate.reason})")
    else:
        print(
            f"orientation: {estimate.orientation:.1f} deg (the fiducial mark, "
            f"{estimate.mark_pixels} pixels; {estimate.glare_pixels} pixels of glare masked)"
        )
    if args.output:
        print(f"written: {args.output}")
    return 0


def _cmd_custody(args: argparse.Namespace) -> int:
    """``msr custody``: the ground's custody ledger (decision 0053), from the run folder's
    archive (the telemetry only): where each tube is by serial, which node said so and when;
    ``--serial N``: that tube's every record with its evidence; ``--json``: one object per
    tube a line."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ground_tools.api import GroundError, resolve_run_dir
    from ground_tools.custody import Ledger

    run_dir = resolve_run_dir(_target(args))
    ledger = Ledger.from_path(run_dir / "archive.sqlite")
    serials = ledger.serials()
    if args.serial is not None:
        if args.serial not in serials:
            raise GroundError(f"--serial {args.serial}: no custody report names this tube "
                              f"(the ledger has {len(serials)} tubes)")  # fmt: skip
        serials = [args.serial]
    if args.json:
        for serial in serials:
            last = ledger.last(serial)
            print(json.dumps({"serial": serial, "now": None if last is None else last.to_json(),
                              "places": list(ledger.places(serial)),
                              "transfers": ledger.transfers(serial)}), flush=True)  # fmt: skip
        return 0
    console = Console()
    if not serials:
        print(f"no custody report in {run_dir / 'archive.sqlite'}")
        return 0
    if args.serial is not None:
        table = Table(title=f"tube {args.serial}: every custody record", expand=False)
        for column in ("time (s)", "from", "to", "node", "evidence"):
            table.add_column(column, overflow="fold")
        for step in ledger.transfers(args.serial):
            style = "red" if step["to"].startswith("missing") else ""
            table.add_row(f"{step['time']:.0f}", step["from"] or "-",
                          f"[{style}]{escape(step['to'])}[/]" if style else step["to"],
                          step["node"], escape(step["evidence"]))  # fmt: skip
        console.print(table)
        return 0
    table = Table(title=f"custody ledger ({ledger.reports} reports)", expand=False)
    for column in ("serial", "where", "slot", "status", "since (s)", "reported by", "chain"):
        table.add_column(column, overflow="fold")
    for serial in serials:
        last = ledger.records(serial)[-1]  # a tube of the ledger has at least one record
        status = "[red]MISSING[/]" if last.status == "missing" else last.status
        table.add_row(str(serial), last.place, "-" if last.slot is None else str(last.slot),
                      status, f"{last.since:.0f}", last.node,
                      " > ".join(ledger.places(serial)))  # fmt: skip
    console.print(table)
    missing = ledger.missing()
    console.print(f"{len(serials)} tubes, {len(missing)} missing" + "".join(
        f"; tube {r.serial} missing from {r.place} slot {r.slot} ({r.node} at {r.since:.0f} s)"
        for r in missing), highlight=False)  # fmt: skip
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ground_tools.procedure import load_procedure, run_procedure

    path = Path(args.procedure)
    load_procedure(path)  # a bad file: refused before connecting
    verdict = run_procedure(path, _target(args), log=print)
    print(f"{path.name}: {verdict}")
    return 0 if verdict.passed else EXIT_FAILED


# ---------------------------------------------------------------------------- archive


def _archive(args: argparse.Namespace) -> Any:
    from ground_tools.api import resolve_run_dir
    from ground_tools.archive import Archive

    return Archive.open_readonly(resolve_run_dir(_target(args)) / "archive.sqlite")


def _epoch(args: argparse.Namespace) -> Any:
    """The mission epoch of the run folder the command is about (decision 0037)."""
    from ground_tools.api import resolve_run_dir
    from ground_tools.timefmt import mission_epoch

    return mission_epoch(resolve_run_dir(_target(args)))


def _query_line(kind: str, row: tuple[Any, ...]) -> str:
    """One archived record as a line: UTC, simulated seconds, then what it is."""
    if kind == "points":
        t, utc, name, _, _, _, value, state, unit = row
        shown = f"{value} ({state})" if state else f"{value}"
        if unit and unit != "-":
            shown += f" {unit}"
        return f"{utc}  {t:12.3f}  {name}  {shown}"
    if kind == "events":
        t, utc, node, _, name, severity, detail = row
        return f"{utc}  {t:12.3f}  {node:8} {severity:6} {name}  {detail}"
    if kind == "commands":
        _, t, utc, node, name, arguments, _, source, stages = row
        last = stages[-1]["stage"] if stages else "no verification report"
        return f"{utc}  {t:12.3f}  {node:8} {name} {json.dumps(arguments)}  [{source}]  {last}"
    t, utc, _, node, direction, raw = row
    return f"{utc}  {t:12.3f}  {node:8} {direction:4} {len(raw):5} octets  {raw.hex()}"


def _cmd_archive(args: argparse.Namespace) -> int:
    epoch = _epoch(args)
    archive = _archive(args)
    try:
        if args.action == "query" and args.kind == "points" and not args.parameters:
            for name in archive.parameters():
                print(json.dumps({"parameter": name}) if args.json else name)
            return 0
        options = {"parameters": args.parameters or None, "node": args.node,
                   "start": args.start, "end": args.end, "epoch": epoch}  # fmt: skip
        if args.action == "query":
            if args.json:
                archive.export(args.kind, "jsonl", sys.stdout, **options)
                return 0
            records = archive.records(args.kind, **options)
            try:
                for row in records:
                    print(_query_line(args.kind, row))
            finally:
                records.close()  # before the archive closes (a reader gone midway: | head)
            return 0
        fmt = "jsonl" if args.json else args.format
        if args.output in (None, "-"):
            archive.export(args.kind, fmt, sys.stdout, **options)
            return 0
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            archive.export(args.kind, fmt, out, **options)
        print(f"archive export: {args.output}", file=sys.stderr)
        return 0
    finally:
        archive.close()


def _cmd_plot(args: argparse.Namespace) -> int:
    from ground_tools.plot import plot

    archive = _archive(args)
    try:
        out = plot(archive, args.parameters, Path(args.output), start=args.start, end=args.end)
    finally:
        archive.close()
    print(f"plot: {out}")
    return 0


# ---------------------------------------------------------------------------- dictionary, captures


def _cmd_dict(args: argparse.Namespace) -> int:
    from ground_tools.exports import export

    epoch = None
    if args.bench:  # the bench's mission epoch: the XTCE packet time counts from it
        from hal.bench import load_bench

        epoch = load_bench(Path(args.bench)).epoch
    data = export(args.format, args.node or None, epoch=epoch)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(data)
    else:
        Path(args.output).write_bytes(data)
        print(f"dict export: {args.output}", file=sys.stderr)
    return 0


def _cmd_capture(args: argparse.Namespace) -> int:
    from ground_tools.capture import decode_capture, format_record, load_keys

    keys = load_keys(args.keys) if args.keys else None
    for record in decode_capture(Path(args.file), keys=keys):
        print(json.dumps(record.as_dict()) if args.json else format_record(record))
    return 0


# ---------------------------------------------------------------------------- yamcs


def _cmd_yamcs(args: argparse.Namespace) -> int:
    from ground_tools.api import resolve_run_dir
    from ground_tools.yamcs import (
        await_cop1,
        hand_over_sessions,
        running,
        write_instance,
        yamcs_down,
        yamcs_up,
    )

    run_dir = resolve_run_dir(_target(args))
    folder = Path(args.folder).resolve() if args.folder else None
    if args.action == "init":
        written = write_instance(run_dir, folder)
        nodes = json.loads((written / "msr.json").read_text(encoding="utf-8"))["nodes"]
        tc = [name for name, node in nodes.items() if node["tc"]]
        print(f"yamcs init: instance msr in {written} (start it with: msr yamcs up)")
        print(f"  TM frame links: {', '.join(nodes)}; TC frame links (COP-1, SDLS): "
              f"{', '.join(tc) or 'none (no node has uplink = external)'}")  # fmt: skip
    elif args.action == "up":
        server = yamcs_up(run_dir, folder, port=args.port)
        print(f"yamcs up: {server.url} (web interface and REST API; pid {server.pid}, "
              f"log {server.log})")  # fmt: skip
        for node in await_cop1(server, folder or run_dir / "yamcs"):
            print(f"  {node}: COP-1 not active yet (no CLCW from the node): a command sent "
                  "now waits in Yamcs's queue until the next one")  # fmt: skip
    elif args.action == "sync":
        server = running(run_dir)
        if server is None:
            raise CliError(f"no Yamcs is up for {run_dir} (msr yamcs up)")
        handed = hand_over_sessions(server, run_dir, folder)
        print(f"yamcs sync: new uplink session for {', '.join(handed) or 'no node'}")
    else:
        print(f"yamcs down: {yamcs_down(run_dir)}")
    return 0


# ---------------------------------------------------------------------------- faults


def _cmd_fault(args: argparse.Namespace) -> int:
    from ground_tools.api import GroundError, backdoor_request, resolve_run_dir

    run_dir = resolve_run_dir(_target(args))
    if args.action == "inject":
        message: dict[str, Any] = {"op": "inject", "target": args.target, "kind": args.kind,
                                   "params": _arguments(args.params)}  # fmt: skip
        if args.duration is not None:
            message["duration"] = args.duration
        if args.at is not None:
            message["at"] = args.at
    elif args.action == "clear":
        message = {"op": "clear", "id": args.id} if args.id is not None else {
            "op": "clear_all", "target": args.target}  # fmt: skip
    else:
        message = {"op": "faults"}
    try:
        reply = backdoor_request(run_dir, message, timeout=5.0)
    except GroundError as exc:
        raise CliError(f"fault {exc}") from None  # "fault inject: <the back door's reason>"
    reply.pop("ok", None)
    print(json.dumps(reply, indent=2 if args.action == "list" else None))
    return 0


def _cmd_campaign(args: argparse.Namespace) -> int:
    from ground_tools.campaign import DEFAULT_BENCH, print_summary, run_campaign

    if getattr(args, "list_scenarios", False):
        from ground_tools.campaign import SCENARIOS

        for scenario in SCENARIOS.values():
            print(f"{scenario.name:24} {scenario.summary}")
        return 0
    runs = Path(args.runs_dir) if args.runs_dir else None
    if getattr(args, "rerun", None):
        from ground_tools.rerun import rerun_campaign

        summary, comparison = rerun_campaign(Path(args.rerun), runs_dir=runs,
                                             quiet=not args.verbose)  # fmt: skip
        print_summary(summary)
        print(comparison.report())
        return 0 if summary["ok"] and comparison.identical else 1
    bench = Path(args.bench) if getattr(args, "bench", None) else DEFAULT_BENCH
    summary = run_campaign(bench, seed=args.seed, tubes=args.tubes,
                           faults=getattr(args, "fault", None) or (), runs_dir=runs,
                           scenario=getattr(args, "scenario", "nominal"),
                           quiet=not args.verbose)  # fmt: skip
    print_summary(summary)
    return 0 if summary["ok"] else 1


def _cmd_montecarlo(args: argparse.Namespace) -> int:
    """``msr montecarlo``: N dispersed campaigns and one report; ``rerun`` one of them."""
    if getattr(args, "mc_action", None) == "rerun":
        from ground_tools.montecarlo.rerun import rerun_run

        outcome = rerun_run(Path(args.folder), args.run, timeout=args.timeout,
                            log=lambda line: print(line, file=sys.stderr, flush=True))  # fmt: skip
        print(outcome.report())
        return 0 if outcome.identical else EXIT_FAILED
    from ground_tools.campaign import DEFAULT_BENCH
    from ground_tools.montecarlo.farm import DEFAULT_TIMEOUT, run_montecarlo

    missing = [flag for flag, value in (("--runs N", args.runs), ("--dispersions FILE",
               args.dispersions), ("-o DIR", args.out)) if value is None]  # fmt: skip
    if missing:
        raise CliError(f"give {', '.join(missing)} (msr montecarlo --help)")
    dispersions = Path(args.dispersions)
    if not dispersions.is_file():
        raise CliError(f"--dispersions {dispersions}: no such file")
    summary = run_montecarlo(
        Path(args.out), runs=args.runs, dispersions=dispersions,
        bench=Path(args.bench) if args.bench else DEFAULT_BENCH,
        scenario=args.scenario, procedure=Path(args.procedure) if args.procedure else None,
        tubes=args.tubes, seed=args.seed, workers=args.workers, scheduler=args.scheduler,
        timeout=args.timeout if args.timeout is not None else DEFAULT_TIMEOUT, keep=args.keep,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )  # fmt: skip
    counts = summary.get("counts", {}) if isinstance(summary, dict) else {}
    print(f"montecarlo: {args.runs} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items())
          + f"; report {Path(args.out) / 'report.html'}")  # fmt: skip
    return 0 if counts.get("pass", 0) == args.runs else EXIT_FAILED


# ---------------------------------------------------------------------------- parser


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="the run folder of the bench (default: runs/latest)")
    parser.add_argument("--bench", help="a bench file: its runs_dir/latest")


def _span(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=float, help="from this simulated time (s)")
    parser.add_argument("--end", type=float, help="up to this simulated time (s)")


def build_parser() -> argparse.ArgumentParser:
    """The ``msr`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="msr", description="Mars Sample Return bench: operator command line"
    )
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)

    bench = sub.add_parser("bench", help="bring a bench up or down, show its state, reset a node")
    bench.add_argument("action", choices=["up", "down", "status", "reset"])
    bench.add_argument("node", nargs="?", help="reset: the node to power-cycle")
    _where(bench)
    bench.add_argument(
        "--runs-dir",
        help="up: where the run folder goes (default: the bench's); refused while a bench is "
        "up there, unless given its own --run-dir DIR",
    )
    bench.add_argument("--pace", default="1", help="up: x real time, or 'fast' (default: 1)")
    bench.add_argument("--json", action="store_true", help="status: as JSON")
    bench.add_argument(
        "--wipe-nv", action="store_true", help="reset: delete both copies of its NV store too"
    )
    bench.set_defaults(func=_cmd_bench)

    link = sub.add_parser("link", help="the space link: resync a node's anti-replay (0023)")
    link.add_argument("action", choices=["resync"])
    link.add_argument("node", help="lander, mav or orbiter")
    link.add_argument("--timeout", type=float, default=30.0, help="simulated s (default 30)")
    _where(link)
    link.set_defaults(func=_cmd_link)

    cmd = sub.add_parser("cmd", help="send one command and print its verification stages")
    cmd.add_argument("node", help="lander, mav or orbiter")
    cmd.add_argument("command", help="the command's dictionary name, e.g. core.ping")
    cmd.add_argument("args", nargs="*", metavar="ARG=VALUE", help="the command's arguments")
    cmd.add_argument("--yes", action="store_true",
                     help="confirm a hazardous command without being asked")  # fmt: skip
    cmd.add_argument("--reason", help="confirm a hazardous command with this reason (scripts)")
    cmd.add_argument("--timeout", type=float, default=10.0, help="simulated s to wait (10)")
    _where(cmd)
    cmd.set_defaults(func=_cmd_cmd)

    arm = sub.add_parser("arm", help="guided arming of a hazardous command: gate, inhibits, "
                         "mode, the reason, then what remains")  # fmt: skip
    arm.add_argument("node", help="lander, mav or orbiter")
    arm.add_argument("command", help="the hazardous command to arm, e.g. launch.arm")
    arm.add_argument("--reason", help="the reason (the hazardous confirmation) without asking")
    arm.add_argument("--yes", action="store_true", help="confirm without a reason (scripts)")
    arm.add_argument("--timeout", type=float, default=10.0, help="simulated s to wait (10)")
    _where(arm)
    arm.set_defaults(func=_cmd_arm)

    history = sub.add_parser("history", help="every command sent: source, arguments, time, "
                             "verification")  # fmt: skip
    history.add_argument("--node", help="only this node's commands")
    history.add_argument("--since", help="from this time on: mission seconds or UTC")
    history.add_argument("--json", action="store_true", help="one JSON object per command")
    _where(history)
    history.set_defaults(func=_cmd_history)

    seq = sub.add_parser("seq", help="stored sequences: load or replace one (seq.load)")
    seq.add_argument("action", choices=["load"])
    seq.add_argument("node", help="lander, mav or orbiter")
    seq.add_argument("name", help="the sequence's name (1..32 of A-Z a-z 0-9 _ . -)")
    seq.add_argument("file", help="TOML: [[steps]] with delay (s), command, args")
    seq.add_argument("--yes", action="store_true",
                     help="confirm a hazardous step without being asked")  # fmt: skip
    seq.add_argument("--reason", help="confirm a hazardous step with this reason (scripts)")
    seq.add_argument("--timeout", type=float, default=10.0, help="simulated s to wait (10)")
    _where(seq)
    seq.set_defaults(func=_cmd_seq)

    param = sub.add_parser("param", help="onboard parameters (PUS 20): set, get, rollback")
    param.add_argument("action", choices=["set", "get", "rollback"])
    param.add_argument("node", help="lander, mav or orbiter")
    param.add_argument("names", nargs="*", metavar="NAME [VALUE]",
                       help="set: NAME VALUE; get: NAME...; rollback: NAME")  # fmt: skip
    param.add_argument("--to", choices=["previous", "default"], default="previous",
                       help="rollback: its previous active value, or its default")  # fmt: skip
    param.add_argument("--timeout", type=float, default=10.0, help="simulated s to wait (10)")
    _where(param)
    param.set_defaults(func=_cmd_param)

    tlm = sub.add_parser("tlm", help="live telemetry table, refreshed in place")
    tlm.add_argument("names", nargs="*", metavar="NODE.PACKET[.FIELD]",
                     help="what to show (default: every node's core.status)")  # fmt: skip
    tlm.add_argument("--once", action="store_true", help="print one refresh and exit")
    tlm.add_argument("--interval", type=float, default=0.5, help="wall seconds between refreshes")
    tlm.add_argument("--json", action="store_true",
                     help="JSON lines: one object per point and refresh (name, value, state, "
                          "unit, level, limits, mode, time, utc)")  # fmt: skip
    _where(tlm)
    tlm.set_defaults(func=_cmd_tlm)

    events = sub.add_parser("events", help="follow the events and limit events of every node")
    events.add_argument("--node", help="only this node's")
    events.add_argument("--since", type=int, default=0, help="from this packet number on")
    events.add_argument("--count", type=int, help="exit after this many events")
    events.add_argument("--once", action="store_true", help="print what is there and exit")
    events.add_argument("--json", action="store_true", help="one JSON object per event a line")
    _where(events)
    events.set_defaults(func=_cmd_events)

    custody = sub.add_parser("custody", help="the ground's custody ledger of every tube, "
                             "from telemetry only (decision 0053)")  # fmt: skip
    custody.add_argument("--serial", type=int, help="every record of this tube")
    custody.add_argument("--json", action="store_true", help="one JSON object per tube a line")
    _where(custody)
    custody.set_defaults(func=_cmd_custody)

    files = sub.add_parser("files", help="the files that came down by CFDP (decision 0056)")
    files.add_argument("--node", help="only this node's files")
    files.add_argument("--json", action="store_true", help="one JSON object per file a line")
    _where(files)
    files.set_defaults(func=_cmd_files)

    image = sub.add_parser("image", help="show an image that came down by CFDP, and what the "
                                         "ground reads on it (decision 0056)")  # fmt: skip
    image.add_argument("name", help="the image's file name (msr files lists them)")
    image.add_argument("--node", help="the node that sent it (default: any)")
    image.add_argument("-o", "--output", help="also write it as a picture (png, jpg, svg, pdf)")
    image.add_argument("--json", action="store_true", help="its record and reading as JSON")
    _where(image)
    image.set_defaults(func=_cmd_image)

    limits = sub.add_parser("limits", help="what is out of limits now (decision 0036)")
    limits.add_argument("--node", help="only this node's points")
    limits.add_argument("--all", action="store_true",
                        help="every limited point and its level, not only those out")  # fmt: skip
    limits.add_argument("--archive", action="store_true",
                        help="from the run folder's archive (a bench that is down), not the "
                             "live station")  # fmt: skip
    limits.add_argument("--json", action="store_true", help="one JSON object per point a line")
    _where(limits)
    limits.set_defaults(func=_cmd_limits)

    run = sub.add_parser("run", help="run an operator procedure: progress and a verdict")
    run.add_argument("procedure", help="a procedure file (Python)")
    _where(run)
    run.set_defaults(func=_cmd_run)

    archive = sub.add_parser("archive", help="query or export the run's archive")
    archive.add_argument("action", choices=["query", "export"])
    archive.add_argument("parameters", nargs="*", metavar="NODE.PACKET.FIELD")
    archive.add_argument("--kind", default="points",
                         choices=["points", "events", "commands", "frames"])  # fmt: skip
    archive.add_argument("--node", help="only this node's records")
    archive.add_argument("--format", default="csv", choices=["csv", "jsonl"],
                         help="export: CSV with a header row, or JSON lines")  # fmt: skip
    archive.add_argument(
        "--json", action="store_true", help="one JSON object per line (--format jsonl)"
    )
    archive.add_argument("-o", "--output", help="export: file (default: standard output)")
    _span(archive)
    _where(archive)
    archive.set_defaults(func=_cmd_archive)

    plot = sub.add_parser("plot", help="plot parameters of the archive (PNG, JPEG, SVG, PDF)")
    plot.add_argument("parameters", nargs="+", metavar="NODE.PACKET.FIELD")
    plot.add_argument(
        "-o", "--output", required=True, help="the file: .png, .jpg, .svg or .pdf (its format)"
    )
    _span(plot)
    _where(plot)
    plot.set_defaults(func=_cmd_plot)

    dictionary = sub.add_parser("dict", help="export the flight dictionary and the ICDs")
    dictionary.add_argument("action", choices=["export"])
    dictionary.add_argument("--format", required=True, choices=["json", "xtce", "md", "wireshark"])
    dictionary.add_argument("--node", action="append", help="only this node (repeatable)")
    dictionary.add_argument("-o", "--output", help="file (default: standard output)")
    dictionary.add_argument("--bench", help="a bench file: XTCE packet times count from its epoch")
    dictionary.set_defaults(func=_cmd_dict)

    capture = sub.add_parser("capture", help="decode a capture file to readable packets")
    capture.add_argument("action", choices=["decode"])
    capture.add_argument("file", help="a .pcap file of the bench")
    capture.add_argument("--keys", help="the run's keys.json, to check the uplink's MACs")
    capture.add_argument("--json", action="store_true", help="one JSON object per record")
    capture.set_defaults(func=_cmd_capture)

    yamcs = sub.add_parser("yamcs", help="Yamcs as mission control beside the bench (0046)")
    yamcs.add_argument(
        "action", choices=["init", "up", "sync", "down"],
        help="init: write the instance; up: start it (prints its web address); sync: hand it "
        "the uplink sessions after a resync; down: stop it",
    )  # fmt: skip
    yamcs.add_argument("--folder", help="the instance folder (default: RUN_DIR/yamcs)")
    yamcs.add_argument("--port", type=int, help="up: the HTTP port (default: a free one)")
    _where(yamcs)
    yamcs.set_defaults(func=_cmd_yamcs)

    fault = sub.add_parser("fault", help="inject, clear or list faults (the simulator's door)")
    fault.add_argument("action", choices=["inject", "clear", "list"])
    fault.add_argument("target", nargs="?", help="board, board.device, or a link name")
    fault.add_argument("kind", nargs="?", help="inject: the fault kind, e.g. stall")
    fault.add_argument("params", nargs="*", metavar="PARAM=VALUE")
    fault.add_argument("--duration", type=float, help="inject: simulated seconds it lasts")
    fault.add_argument("--at", type=float, help="inject: simulated time it starts")
    fault.add_argument("--id", type=int, help="clear: the fault's id (else every fault of target)")
    _where(fault)
    fault.set_defaults(func=_cmd_fault)

    sil = sub.add_parser(
        "sil", help="the nominal campaign on the default bench (every board emulated)"
    )
    campaign = sub.add_parser("campaign", help="run a campaign variant (seed, tubes, faults)")
    for parser_ in (sil, campaign):
        parser_.add_argument("--runs-dir", help="where run folders go (default: the bench's)")
        parser_.add_argument("--seed", type=int, help="random seed (default: the bench's)")
        parser_.add_argument("--tubes", type=int, default=30, help="tubes to load (default 30)")
        parser_.add_argument("--verbose", action="store_true", help="a line per operation")
        parser_.set_defaults(func=_cmd_campaign)
    campaign.add_argument("--bench", help="the bench file (default: the embedded default)")
    campaign.add_argument("--scenario", default="nominal",
                          help="a fault scenario's procedure instead of the nominal one "
                               "(msr campaign --list-scenarios)")  # fmt: skip
    campaign.add_argument("--list-scenarios", action="store_true",
                          help="list the scenarios and exit")  # fmt: skip
    campaign.add_argument(
        "--rerun", metavar="RUN_DIR",
        help="run a campaign again from its run folder (bench, seed, keys, scenario, tubes) and "
        "say whether every capture and the archive came out identical",
    )  # fmt: skip
    campaign.add_argument(
        "--fault", action="append",
        help="TARGET:KIND[@AT][+DURATION][,KEY=VALUE...], e.g. sta_arm.gripper:grasp_slip@421+30",
    )  # fmt: skip
    _montecarlo_parser(sub)
    return parser


def _montecarlo_parser(sub: Any) -> None:
    """``msr montecarlo`` and ``msr montecarlo rerun`` (decision 0049)."""
    about = ("many dispersed campaigns on a local pool or a Dask cluster, one report "
             "(msr montecarlo rerun: one of them again)")  # fmt: skip
    mc = sub.add_parser("montecarlo", help=about)
    mc.add_argument("--runs", type=int, help="how many runs")
    mc.add_argument("--dispersions", metavar="FILE", help="the dispersions file (TOML)")
    which = mc.add_mutually_exclusive_group()
    which.add_argument("--scenario", default="nominal", help="the scenario every run runs")
    which.add_argument("--procedure", metavar="FILE", help="an operator procedure instead")
    mc.add_argument("--bench", help="the base bench file (default: the embedded default)")
    mc.add_argument("--tubes", type=int, default=30, help="tubes per run (default 30)")
    mc.add_argument("--seed", type=int, default=1, help="the base seed (default 1)")
    where = mc.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local workers (default: the cores)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a Dask scheduler")
    mc.add_argument("--timeout", type=float, help="wall seconds per run (default 1800)")
    mc.add_argument("--keep", choices=("failed", "all", "none"), default="failed",
                    help="which runs bring back captures and archive (default failed)")  # fmt: skip
    mc.add_argument("-o", "--out", metavar="DIR", help="the new folder for the runs and report")
    mc.set_defaults(func=_cmd_montecarlo, mc_action=None)
    actions = mc.add_subparsers(dest="mc_action", metavar="rerun")
    rerun = actions.add_parser("rerun", help="run one run of DIR again and compare")
    rerun.add_argument("folder", metavar="DIR", help="the Monte Carlo folder")
    rerun.add_argument("--run", type=int, required=True, help="the run's index")
    rerun.add_argument("--timeout", type=float, help="wall seconds (default: the manifest's)")
    rerun.set_defaults(func=_cmd_montecarlo)


def _errors() -> tuple[type[BaseException], ...]:
    """Every error class the subcommands raise for bad input (imported lazily)."""
    from ground_tools.api import GroundError

    found: list[type[BaseException]] = [CliError, GroundError, HalError, OSError]
    modules = (
        ("ground_tools.archive", "ArchiveError"),
        ("ground_tools.plot", "PlotError"),
        ("ground_tools.exports", "ExportError"),
        ("ground_tools.capture", "CaptureError"),
        ("ground_tools.yamcs", "YamcsError"),
    )
    for module, name in modules:
        try:
            found.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


PIPE_COLUMNS = 100_000
"""The output width when standard output is not a terminal: wide enough that nothing wraps."""


def _unwrap_in_pipe() -> None:
    """No wrapping when standard output is not a terminal (decision 0037): rich takes its width
    from ``COLUMNS`` and would otherwise wrap a pipe or a file at 80 columns, or at the width
    of a terminal that is not the output's (an exported ``COLUMNS``, stderr's terminal)."""
    try:
        terminal = sys.stdout.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal:
        os.environ["COLUMNS"] = str(PIPE_COLUMNS)


def _raise_broken_pipe(console: Any) -> None:
    """rich's hook for a closed pipe, made to raise the error for :func:`main` to handle like
    every other closed pipe (rich's own exits with status 1)."""
    console.quiet = True
    raise BrokenPipeError


def _reader_gone() -> int:
    """The reader of standard output went away (``| head``): not an error of ours, so no
    message and exit 0. Standard output is pointed at /dev/null so that the interpreter's
    last flush, at exit, has nowhere to fail (Python's documented recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``msr`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and isinstance(getattr(args, "parameters", None), list):
        # `msr archive query --kind events lander.x.y`: argparse gives the names after an
        # option to no one (it took the list's zero names before it); they are the list's
        if any(word.startswith("-") for word in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.parameters += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _unwrap_in_pipe()  # after parsing: --help keeps its terminal width
    from rich.console import Console

    Console.on_broken_pipe = _raise_broken_pipe  # type: ignore[method-assign]  # rich's hook
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        status = int(func(args))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return status
    except BrokenPipeError:  # before the OSError of _errors(), which it is
        return _reader_gone()
    except _errors() as exc:
        message = str(exc).splitlines()[0] if str(exc) else repr(exc)
        print(f"msr {args.subcommand}: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"msr {args.subcommand}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
