"""``msr run PROCEDURE.py``: run an operator procedure against a running bench, with a progress
line for every operation and a pass/fail verdict.

A procedure is a plain Python file. It finds, ready to use, the session ``bench`` and its
operations as names (``cmd``, ``send`` and ``wait_command``, ``tlm``, ``wait``, ``wait_check``,
``wait_event``, ``check``, ``Confirm``, ``load_sequence``: a stored sequence, decision 0024),
the bench's own operations (``fault`` and ``clear_fault`` through the simulator's back door,
``reset_node(node, wipe_nv=False)``: a power cycle of a node's process, with its NV store lost
if asked; ``resync(node)``: the uplink's resync, decision 0023), the errors ``CommandFailed`` and
``CheckError``, ``command_key(node, name)`` (the argument of ``gate.arm``) and ``INHIBITS``
(each node's onboard inhibits by index), and any ``params`` the runner hands in, so it reads
like a COSMOS script::

    cmd("lander core.ping")
    cmd("lander", "modes.set", mode="nominal")      # an argument by its state name, or 2
    wait_check("lander.core.status.mode == nominal", timeout=5)
    wait_check("mav.launch.status.zone_min", ">", -40, tolerance=0.5, hold=30, timeout=600)

A file that also defines ``procedure(bench)`` has it called after the file ran. The verdict is
``PASS`` when it ran to the end, ``FAIL`` with one line naming the procedure file and line of
the failed check (with the expression and the values it saw), the refused or timed-out command
(with the last verification stage it reached), or the procedure's own error; a file that is
not valid Python is refused before anything is sent.
"""

from __future__ import annotations

import runpy
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any, Final

from fsw.dictionary import NODE_APIDS
from ground_tools.api import (
    CheckError,
    CommandFailed,
    Confirm,
    GroundError,
    Session,
    command_key,
    connect,
    inhibits,
)

__all__ = ["MAX_PROCEDURE_BYTES", "ProcedureError", "Verdict", "load_procedure", "run_procedure"]


class ProcedureError(GroundError):
    """A procedure file that cannot be read, is too large, is not UTF-8 text or is not valid
    Python (file and line named)."""


@dataclass(frozen=True)
class Verdict:
    """How a procedure ended.

    Attributes:
        passed: it ran to the end.
        reason: why it failed (``""`` when it passed).
        sim_seconds: simulated time it took.
        wall_seconds: wall time it took.
    """

    passed: bool
    reason: str
    sim_seconds: float
    wall_seconds: float

    def __str__(self) -> str:
        word = "PASS" if self.passed else f"FAIL: {self.reason}"
        return f"{word} ({self.sim_seconds:.1f} s simulated, {self.wall_seconds:.1f} s wall)"


MAX_PROCEDURE_BYTES: Final = 1 << 20
"""The largest procedure file read (1 MiB; the campaign's is about 10 KiB)."""


def load_procedure(path: Path) -> CodeType:
    """Read and compile a procedure file (a check only: :func:`run_procedure` runs it as a
    script, as ``python FILE`` would).

    A procedure is operator code, trusted to run once loaded, like a COSMOS script (decision
    0030); what the loader reads is still bounded and checked: at most
    :data:`MAX_PROCEDURE_BYTES` octets, UTF-8 text without a NUL, valid Python.

    Raises:
        ProcedureError: missing or unreadable file, larger than the bound, a NUL octet, not
            UTF-8, or not valid Python; one line naming the file and, where there is one, the
            line (``file:line: problem``; the compiler gives none for an expression nested
            thousands deep).
    """
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_PROCEDURE_BYTES + 1)  # never more, whatever the file is
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ProcedureError(f"{path}: cannot read the procedure: {why}") from None
    if len(data) > MAX_PROCEDURE_BYTES:
        raise ProcedureError(f"{path}: cannot read the procedure: larger than "
                             f"{MAX_PROCEDURE_BYTES} octets (1 MiB), not a procedure")  # fmt: skip
    nul = data.find(b"\0")
    if nul >= 0:
        raise ProcedureError(f"{path}:{_line_of(data, nul)}: a NUL octet (octet {nul}): "
                             "a procedure is Python text")  # fmt: skip
    try:
        source = data.decode("utf-8-sig")  # a byte-order mark is allowed, as Python allows it
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        raise ProcedureError(
            f"{path}:{_line_of(data, offset)}: not UTF-8 (octet {offset})"
        ) from None
    try:
        return compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:  # also "too many nested parentheses"
        raise ProcedureError(f"{path}:{exc.lineno or 1}: {exc.msg}") from None
    except (RecursionError, MemoryError):  # an expression nested too deep for the compiler
        raise ProcedureError(f"{path}: an expression nested too deep to compile") from None


def _line_of(data: bytes, offset: int) -> int:
    """The 1-based line of octet ``offset``."""
    return data.count(b"\n", 0, offset) + 1


def run_procedure(
    path: Path, target: str | Path | None = None, *, log: Callable[[str], None] = print,
    params: Mapping[str, Any] | None = None,
    schedule: Sequence[tuple[float, Callable[[Session], None]]] = (),
) -> Verdict:  # fmt: skip
    """Run the procedure at ``path`` on the bench of ``target`` (see
    :func:`ground_tools.api.connect`); ``log`` gets a line per operation; ``params`` are
    extra names the procedure finds defined (``TUBES``, ``phase``); ``schedule``: actions done
    with the session when simulated time reaches theirs, whatever the procedure waits for then
    (:meth:`Session.at`: a Monte Carlo run's node resets).

    Raises:
        ProcedureError: the file is not a procedure (nothing was sent).
        GroundError: no bench is running there.
    """
    load_procedure(path)  # refused before connecting: nothing is sent from a broken file
    session = connect(target, source=f"procedure {path.name}", log=log)
    for when, action in schedule:
        session.at(when, lambda action=action: action(session))
    start_wall, start_sim = time.monotonic(), session.now()
    names = {**_namespace(session), **(params or {})}
    reason = ""
    try:
        names = runpy.run_path(str(path), init_globals=names, run_name="__procedure__")
        body = names.get("procedure")
        if callable(body):
            body(session)
    except GroundError as exc:  # a failed check or command: where in the procedure it was
        where = _where(exc, path)
        reason = str(exc) if not where or str(exc).startswith(where) else f"{where}{exc}"
    except Exception as exc:
        reason = f"{_where(exc, path)}{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        end_sim = session.now()
    except (GroundError, OSError):  # the station is gone: the reason above says why
        end_sim = start_sim
    finally:
        try:
            session.close()
        except OSError:  # unsent bytes to a station that is gone (a broken pipe)
            pass
    return Verdict(not reason, reason, end_sim - start_sim, time.monotonic() - start_wall)


def _namespace(session: Session) -> dict[str, Any]:
    from ground_tools.bench_ctl import reset_node

    return {
        "bench": session,
        "cmd": session.cmd, "send": session.send, "wait_command": session.wait_command,
        "wait_progress": session.wait_progress,
        "fault": session.fault, "clear_fault": session.clear_fault,
        "lose_tube": session.lose_tube,
        "reset_node": lambda node, wipe_nv=False: reset_node(
            session.run_dir, node, wipe_nv=wipe_nv
        ),
        "resync": session.resync,
        "tlm": session.tlm, "wait": session.wait,
        "wait_check": session.wait_check, "wait_event": session.wait_event,
        "check": session.check, "Confirm": Confirm, "CommandFailed": CommandFailed,
        "load_sequence": session.load_sequence,
        "CheckError": CheckError, "command_key": command_key,
        "INHIBITS": {node: inhibits(node) for node in NODE_APIDS},
    }  # fmt: skip


def _where(exc: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return f"{path.name}:{frames[-1].lineno}: " if frames else ""
