"""``msr campaign`` and ``msr sil``: the whole Mars Sample Return campaign on a bench, end to end.

A campaign variant is the bench file plus a seed, a tube count and fault injections. The runner
writes the variant's bench file (``bench.toml`` in the run folder, faults as the bench's own
``[[faults]]`` schedule), brings the bench up (at :data:`PACE`), runs the operator procedure
:file:`ground_tools/procedures/campaign.py` (or a scenario's) with a progress line per phase, asks
the simulator's back door for the world's truth, and writes ``summary.json``::

    {"ok": true, "scenario": "nominal", "ends_in": "ees", "seed": 1, "tubes": 30,
     "tubes_loaded": 30, "sim_seconds": ..., "wall_seconds": ...,
     "verdict": "PASS ...", "phases": [{"name": ..., "wall": ...}, ...],
     "faults": [...], "os": {...}, "ees_released": true,
     "device_actions": {"mav_pyro": {"acted": {"srm1.fire": 1, ...}, "repeats": 0}, ...},
     "tubes_detail": [{"serial": 266, "sample_id": "M2020-...", "final_location": "ees",
                       "slot": 0, "custody_chain": [{"location": ..., "time": ..., ...}],
                       "ledger": {"ledger": [...], "truth": [...], "agree": true, ...},
                       "chain_ok": true}, ...],
     "chain_ok": true, "custody": {"chain_ok": true, "tubes": [...], "differences": [],
                                   "reports": 312, "error": ""}}

``faults`` lists every fault the run had (decision 0040), whoever put it in: ``by`` is
``--fault``, ``bench file`` (the bench's own ``[[faults]]``), ``scenario`` (the scenario's
procedure, through the back door) or ``back door`` (another client of it, e.g. ``msr fault``
during a nominal run); with ``at``/``duration`` as asked, ``started``/``ended`` as it happened,
``took_effect`` (True when the simulator saw it change what a device did, at
``first_effect``; None for a link fault, whose effect the simulator does not observe), and
``response``: the events of the faulted node from the fault's first effect (its start, for a
link fault) to :data:`RESPONSE_AFTER` simulated seconds after its end (at most
:data:`MAX_RESPONSE`; none for a fault that never took effect). A fault that never started or
never took effect is a line of ``warnings``.

When a process of the bench dies during the run, ``died`` names it (simulator, node or station),
how (``killed by SIGKILL``) and when (wall seconds, last archived simulated time), ``verdict``
says so, and the tubes are counted from the archive (``tubes_source``) if the world's truth is
gone with the simulator (decision 0029).

``ok`` holds when the procedure passed, the tubes asked for (at most the OS's usable slots) are
loaded, every one is in the released Earth Entry System (or where its scenario ends), and every
tube's custody chain is intact: it runs from its source through the gripper into an OS
slot and then, with the OS, through the MAV, orbit, capture and the primary containment vessel
into the EES, with no step missing or out of order (detours through the gripper and the ground
near the lander, as after a slip or a rejected seat, are allowed before the slot).

``chain_ok`` comes from the ground's custody ledger, built from the nodes' custody reports in
the archive alone (:mod:`ground_tools.custody`, decision 0053): it holds when every tube's ledger
chain runs from its source to where the scenario ends, reports the tube present, and equals the
world's chain (``custody.tubes``, and ``custody.differences`` in words for each tube that does
not: which tube, where it was last reported and by whom); None when the archive or the world
cannot be read. A tube's ``chain_ok`` in ``tubes_detail`` is its world chain's shape and its
ledger's agreement together.

A fault is given as ``TARGET:KIND[@AT][+DURATION][,KEY=VALUE...]``, e.g.
``sta_arm.gripper:grasp_slip@421+30`` (the grip fails from 421 s to 451 s: the tube held then,
or grasped then, slips) or ``os_container.slots:not_seated@300+60,index=0``.

**Scenarios.** ``--scenario NAME`` runs one of :data:`SCENARIOS` instead of the nominal
procedure: each is an operator procedure in :file:`procedures/scenarios/` that puts its fault in
at the moment the telemetry shows (through the simulator's back door, or a node's power cycle),
checks the flight software's answer, and carries the campaign on as far as the fault lets it.
A scenario names where the tubes end (:attr:`Scenario.ends_in`): the released EES for every
fault the mission survives, still in the MAV for an igniter that does not fire (the vehicle
aborted and safe). Custody chains are checked up to that place.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import tomli_w

from fsw.dictionary.lander import SOURCES
from ground_tools.api import GroundError, backdoor_request
from ground_tools.archive import Archive, ArchiveError
from ground_tools.bench_ctl import bench_down, bench_up, reset_node
from ground_tools.custody import Ledger, ledger_or_error
from ground_tools.procedure import Verdict, load_procedure, run_procedure
from ground_tools.process_watch import Death, ProcessWatch
from ground_tools.rerun import CAMPAIGN_FILE, PROCEDURE_COPY
from hal.bench import MAX_SECONDS, BenchError, load_bench

__all__ = ["CAMPAIGN_PROCEDURE", "SCENARIOS", "Scenario", "ascent_line", "chain_ok", "parse_fault",
           "run_campaign"]  # fmt: skip

PROCEDURES: Final = Path(__file__).parent / "procedures"
CAMPAIGN_PROCEDURE: Final = PROCEDURES / "campaign.py"
DEFAULT_BENCH: Final = Path(__file__).resolve().parents[1] / "hal" / "benches" / "default.toml"
SUMMARY_FILE: Final = "summary.json"
AFTER_SLOT: Final = ("in_mav", "in_orbit", "captured", "primary_containment_vessel", "ees")
"""Where a tube goes with the OS, in order, once it is seated."""
PACE: Final = "held"
"""The station's pace: simulated time moves only while the procedure waits (decision 0034), so
a campaign repeats byte for byte from its run folder (``msr campaign --rerun``). A fault the
procedure puts in when the telemetry shows the moment lands while time is held, before the
round the procedure's next wait lets run."""
RESPONSE_AFTER: Final = 300.0
"""Simulated seconds after a fault's end in which the faulted node's events count as its
response (a slip is seen at the next posture check, a lost board after its heartbeats)."""
MAX_RESPONSE: Final = 20
"""Response events listed per fault (the first, in time order)."""


@dataclass(frozen=True)
class Scenario:
    """A campaign procedure and what it ends with.

    Attributes:
        name: as ``msr campaign --scenario`` takes it.
        procedure: the operator procedure.
        summary: what goes wrong and what the flight software does about it.
        ends_in: where every loaded tube is at the end (a place of :data:`AFTER_SLOT`).
        slots_lost: OS slots the fault takes out of use (the tubes carried are at most the
            OS's capacity less these).
    """

    name: str
    procedure: Path
    summary: str
    ends_in: str = "ees"
    slots_lost: int = 0


def _scenario(name: str, summary: str, ends_in: str = "ees", slots_lost: int = 0) -> Scenario:
    return Scenario(name, PROCEDURES / "scenarios" / f"{name}.py", summary, ends_in, slots_lost)


SCENARIOS: Final = {
    s.name: s
    for s in (
        Scenario("nominal", CAMPAIGN_PROCEDURE, "the nominal campaign"),
        _scenario("grasp_slip", "a tube slips from the gripper; it is loaded from the ground"),
        _scenario(
            "tube_not_seated",
            "a slot will not seat a tube: reseated, rejected, loaded into another slot",
            slots_lost=1,
        ),
        _scenario(
            "heater_zone_failure",
            "an igloo heater fails; the zone goes over to its "
            "redundant element and the MAV launches",
        ),
        _scenario(
            "igniter_failure",
            "SRM1 does not ignite after the toss: the MAV aborts and is left safe",
            ends_in="in_mav",
        ),
        _scenario(
            "missed_capture_trigger",
            "the capture trigger misses: the orbiter re-approaches and captures",
        ),
        _scenario(
            "braze_under_temperature",
            "the seam stays under 500 degC: re-heated at a higher power within limits",
        ),
        _scenario(
            "lander_reset",
            "the lander resets with a tube in the gripper: custody intact after the restart",
        ),
        _scenario(
            "space_link_errors",
            "bit errors on the uplink and a blackout: COP-1 "
            "retransmits and recovers, nothing runs twice",
        ),
        _scenario(
            "pyro_reply_lost",
            "the reply to SRM1's fire is lost: the channel's status confirms it, SRM1 fires once",
        ),
        _scenario(
            "os_release_reply_lost",
            "the reply to the OS release is lost: the latch's status confirms it, released once",
        ),
        _scenario(
            "braze_power_reply_lost",
            "the replies to two heater power-ons are lost: the drive's status confirms each",
        ),
        _scenario(
            "joint_stall",
            "the arm's shoulder stalls: the arm stops, the lander goes safe; the ground "
            "clears the joint and loading goes on",
        ),
        _scenario(
            "encoder_glitch",
            "an arm encoder reads 45 deg off for seconds: the readings are not used, the move "
            "finishes on good ones",
        ),
        _scenario(
            "tube_dropped",
            "a tube falls from the fingers on the way to its slot: recorded near the lander, "
            "loaded again from there",
        ),
        _scenario(
            "lid_not_latched",
            "the OS lid does not latch: the close fails and the hand-over is refused until "
            "the ground closes it again",
        ),
        _scenario(
            "igloo_temperature",
            "a heater zone's thermistor opens while the MAV conditions: abort (temperature); "
            "conditioned again, the MAV flies",
        ),
        _scenario(
            "inhibit_mismatch",
            "a pyro inhibit keeps reading in place when armed: abort (inhibit_mismatch); "
            "armed again, the MAV flies",
        ),
        _scenario(
            "attitude_rate",
            "the MAV tumbles in the SRM1 burn: abort (attitude_rate), nothing more fires",
            ends_in="in_mav",
        ),
        _scenario(
            "partial_capture",
            "only one capture switch sees the OS: the lid lets it go, re-approach, captured",
        ),
        _scenario(
            "ambiguous_orientation",
            "every image of the OS is ambiguous: the ground decides from the downlinked "
            "image, the OS is turned and imaged again",
        ),
        _scenario(
            "seal_leak",
            "the brazed seal leaks: the CCRS holds, the transfer is refused; the ground "
            "brazes again and it seals",
        ),
    )
}
"""Every campaign procedure ``msr campaign --scenario`` runs, by name."""


def parse_fault(spec: str) -> dict[str, Any]:
    """A bench ``[[faults]]`` entry from ``TARGET:KIND[@AT][+DURATION][,KEY=VALUE...]``.

    Raises:
        GroundError: a spec that does not read (the message shows the expected form).
    """
    form = "TARGET:KIND[@AT][+DURATION][,KEY=VALUE...]"
    shown = repr(spec) if len(spec) <= 80 else repr(spec[:77]) + "..."  # one short line
    head, *pairs = spec.split(",")
    target, sep, rest = head.rpartition(":")  # a link's target has one itself: link:NODE
    if not sep or not target or not rest:
        raise GroundError(f"fault {shown}: write {form}")
    duration = None
    if "+" in rest:
        rest, _, text = rest.partition("+")
        duration = _number(text, shown, "duration", positive=True)
    at = 0.0
    if "@" in rest:
        rest, _, text = rest.partition("@")
        at = _number(text, shown, "time")
    entry: dict[str, Any] = {"at": at, "target": target, "kind": rest}
    if duration is not None:
        entry["duration"] = duration
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GroundError(f"fault {shown}: {pair[:40]!r} is not KEY=VALUE")
        params[key] = _value(value)
    if params:
        entry["params"] = params
    return entry


def _number(text: str, shown: str, what: str, *, positive: bool = False) -> float:
    """A time or a duration of seconds, finite, within the bench file's bounds (decision 0030:
    NaN, the infinities and 1e308 are refused here, in one line)."""
    cut = repr(text) if len(text) <= 24 else repr(text[:21]) + "..."
    try:
        value = float(text)
    except ValueError:
        raise GroundError(f"fault {shown}: {what} {cut} is not a number of seconds") from None
    low_ok = value > 0 if positive else value >= 0
    if not (math.isfinite(value) and low_ok and value <= MAX_SECONDS):
        bound = "> 0 and at most " if positive else "in 0.."
        raise GroundError(f"fault {shown}: {what} {cut} must be a number of seconds "
                          f"{bound}{MAX_SECONDS:.0f}")  # fmt: skip
    return value


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _variant(bench: Path, seed: int | None, faults: Sequence[dict[str, Any]], out: Path) -> Path:
    """Write the variant of the (already validated) bench file ``bench`` at ``out``, validated
    as any bench file."""
    try:
        doc = tomllib.loads(bench.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GroundError(str(exc).splitlines()[0]) from None
    if seed is not None:
        doc["seed"] = seed
    keys = doc.get("keys", "generate")
    if keys != "generate":
        doc["keys"] = str((bench.parent / keys).resolve())
    doc["faults"] = [*doc.get("faults", []), *faults]
    out.write_text(tomli_w.dumps(doc), encoding="utf-8")
    try:
        load_bench(out)
    except BenchError as exc:
        raise GroundError(str(exc).splitlines()[0]) from None
    return out


def chain_ok(chain: Sequence[dict[str, Any]], ends_in: str = "ees") -> bool:
    """The custody chain runs source -> (gripper/ground detours) -> OS slot -> with the OS
    through the MAV, orbit, capture, the vessel, into the EES, or as far as ``ends_in`` (module
    docstring)."""
    places = [entry.get("location") for entry in chain]
    if not places or places[0] not in SOURCES or "os_slot" not in places:
        return False
    seated = len(places) - 1 - places[::-1].index("os_slot")
    before, after = places[:seated], places[seated + 1 :]
    if any(p not in (*SOURCES, "gripper", "os_slot") for p in before):
        return False
    if ends_in not in AFTER_SLOT:
        return False
    return tuple(after) == AFTER_SLOT[: AFTER_SLOT.index(ends_in) + 1]


def run_campaign(
    bench: Path = DEFAULT_BENCH,
    *,
    seed: int | None = None,
    tubes: int = 30,
    faults: Sequence[str] = (),
    runs_dir: Path | None = None,
    scenario: str = "nominal",
    log: Callable[[str], None] = print,
    quiet: bool = True,
    inherit: Path | None = None,
    resets: Sequence[tuple[str, float]] = (),
    procedure: Path | None = None,
) -> dict[str, Any]:
    """Run one campaign variant (module docstring); return the summary (also written to
    ``summary.json`` in the run folder). ``inherit``: the run folder of an earlier run whose
    secrets (key file, nonce seed) this one takes (``msr campaign --rerun``, decision 0034).
    ``resets``: ``(node, simulated time)`` of each node reset the run has, done by the
    procedure's session when time reaches it (a power cycle, as ``reset_node``: a Monte Carlo
    run's dispersion, issue 21); the summary's ``resets`` says which were done and when.
    ``procedure``: an operator procedure run in place of the scenario's, judged as the nominal
    campaign (its tubes end in the EES); a copy goes in the run folder for a rerun.

    Raises:
        GroundError: a bad bench file, tube count, scenario, procedure, fault spec or reset
            (nothing started), or a bench that would not come up.
    """
    if not 1 <= tubes <= 255:
        raise GroundError(f"--tubes {tubes}: give 1..255 tubes")
    if scenario not in SCENARIOS:
        raise GroundError(f"--scenario {scenario!r}: not a scenario (known: "
                          f"{', '.join(SCENARIOS)})")  # fmt: skip
    chosen = SCENARIOS[scenario]
    if procedure is not None:
        load_procedure(procedure)  # a file that is not a procedure: refused before anything starts
        chosen = Scenario(f"procedure {procedure.name}", procedure, f"the procedure {procedure}")
    entries = [parse_fault(spec) for spec in faults]
    base = load_bench_or_fail(bench)
    planned = _resets(resets, base)
    runs = runs_dir if runs_dir is not None else base.runs_dir
    runs.mkdir(parents=True, exist_ok=True)
    staging = runs / f".variant-{time.strftime('%Y%m%d-%H%M%S')}-{id(entries)}.toml"
    variant = _variant(bench, seed, entries, staging)
    wall0 = time.monotonic()
    up = bench_up(variant, runs_dir=runs, pace=PACE, inherit=inherit)
    run_dir = up.run_dir
    (run_dir / "bench.toml").write_text(variant.read_text(encoding="utf-8"), encoding="utf-8")
    asked: dict[str, Any] = {"scenario": scenario, "tubes": tubes,
                             "seed": load_bench(variant).seed}  # fmt: skip
    if procedure is not None:
        (run_dir / PROCEDURE_COPY).mkdir(exist_ok=True)
        (run_dir / PROCEDURE_COPY / procedure.name).write_bytes(procedure.read_bytes())
        asked["procedure"] = f"{PROCEDURE_COPY}/{procedure.name}"
    if planned:
        asked["resets"] = [[r["node"], r["at"]] for r in planned]
    (run_dir / CAMPAIGN_FILE).write_text(json.dumps(asked), encoding="utf-8")  # for a rerun
    phases: list[dict[str, Any]] = []
    started = {"wall": time.monotonic()}

    def phase(name: str) -> None:
        wall = time.monotonic() - started["wall"]
        phases.append({"name": name, "wall": round(wall, 3)})
        log(f"[{wall:7.1f} s] {name}")

    operations = (lambda line: None) if quiet else log
    watch = ProcessWatch(run_dir).start()  # which process dies, and when (decision 0029)
    try:
        try:
            verdict = run_procedure(chosen.procedure, run_dir, log=operations,
                                    params={"TUBES": tubes, "phase": phase},
                                    schedule=_reset_actions(planned, log))  # fmt: skip
        except (GroundError, OSError) as exc:  # the station was gone before it began
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            verdict = Verdict(False, reason, 0.0, time.monotonic() - started["wall"])
        world = _world(run_dir)
        world["device_actions"] = _device_actions(run_dir)
        world["fault_report"] = _fault_report(run_dir)
    finally:
        watch.stop()
        bench_down(run_dir)
        variant.unlink(missing_ok=True)  # the processes read it as they start: kept till now
    seed_used = base.seed if seed is None else seed
    summary = _summary(run_dir, seed_used, tubes, chosen, verdict, world, phases, entries,
                       time.monotonic() - wall0)  # fmt: skip
    if planned:
        summary["resets"] = planned
    _add_deaths(summary, watch, _archived(run_dir), log)
    _add_faults(summary, run_dir, world.get("fault_report"), len(entries), chosen)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _archived(run_dir: Path) -> dict[str, Any]:
    """What the archive shows: the tubes seated (``sta.tube_loaded`` events and the last
    custody report of each tube, when one was asked for) and each node's last telemetry time."""
    try:
        archive = Archive.open_readonly(run_dir / "archive.sqlite")
    except ArchiveError as exc:
        return {"error": str(exc), "tubes_loaded": [], "last_sim_time": {}}
    loaded: set[int] = set()
    last: dict[str, float] = {}
    try:
        with archive:
            for event in archive.events("lander", name="sta.tube_loaded"):
                words = event.detail.split()  # "tube 266 seated in slot 0"
                if len(words) > 1 and words[1].isdigit():
                    loaded.add(int(words[1]))
            ledger = Ledger.from_archive(archive)  # the custody reports of every node
            loaded |= {s for s in ledger.serials() if "os_slot" in ledger.places(s)}
            for name in archive.parameters():
                node = name.split(".", 1)[0]
                last[node] = max(last.get(node, 0.0), archive.latest(name)[0])
            for event in archive.events():
                last[event.node] = max(last.get(event.node, 0.0), event.sim_time)
    except ArchiveError as exc:
        return {"error": str(exc), "tubes_loaded": sorted(loaded), "last_sim_time": last}
    return {"tubes_loaded": sorted(loaded), "last_sim_time": last}


def _add_deaths(
    summary: dict[str, Any], watch: ProcessWatch, archived: dict[str, Any],
    log: Callable[[str], None],
) -> None:  # fmt: skip
    """Name the process whose death ended the run, and when; count the tubes from the archive
    when the world's truth could not be read (decision 0029)."""
    cause = watch.cause()
    summary["deaths"] = [d.as_dict() for d in watch.deaths()]
    summary["tubes_loaded_archive"] = len(archived["tubes_loaded"])
    summary["tubes_source"] = "world"
    if archived.get("error"):
        summary["archive_error"] = archived["error"]
    if summary["world_error"]:
        summary["tubes_loaded"] = len(archived["tubes_loaded"])
        summary["tubes_source"] = "archive"
        summary["tubes_detail"] = [
            {"serial": serial, "sample_id": None, "final_location": None, "slot": None,
             "custody_chain": [], "chain_ok": None}  # None: not known from the archive
            for serial in archived["tubes_loaded"]
        ]  # fmt: skip
    summary["died"] = None if cause is None else _died(cause, archived)
    if cause is not None:
        # The procedure's own clock stopped with the process (0 s when the station went away):
        # the run lasted at least as long as the archive shows (decision 0030).
        last = max(archived["last_sim_time"].values(), default=0.0)
        summary["sim_seconds"] = round(max(summary["sim_seconds"], last), 3)
        summary["ok"] = False
        summary["procedure_verdict"] = summary["verdict"]
        summary["verdict"] = f"FAIL: {summary['died']['text']}"
        log(f"campaign: {summary['died']['text']}")


def _died(cause: Death, archived: dict[str, Any]) -> dict[str, Any]:
    last = archived["last_sim_time"]
    sim_time = last.get(cause.process) if cause.role == "node" else max(last.values(), default=None)
    what = {"simulator": "the simulator", "station": "the ground station"}.get(
        cause.role, f"node {cause.process}"
    )
    when = f"{cause.wall_seconds:.1f} s of wall time into the campaign"
    if sim_time is not None:
        when += f", after its last archived telemetry at {sim_time:.1f} s simulated"
    name = f"pid {cause.pid}" if cause.role == "node" else f"{cause.process}, pid {cause.pid}"
    text = f"{what} ({name}) died: {cause.how}, {when}"
    return {**cause.as_dict(), "last_sim_time": sim_time, "text": text}


def _resets(resets: Sequence[tuple[str, float]], bench: Any) -> list[dict[str, Any]]:
    """The resets asked, checked (a node of the bench, a time in the bench file's bounds), in
    time order, each ``{"node", "at", "done_at": None}``."""
    planned = []
    for node, at in resets:
        if node not in bench.nodes:
            raise GroundError(f"reset {node!r}: no such node on this bench (nodes: "
                              f"{', '.join(bench.nodes)})")  # fmt: skip
        if not (isinstance(at, int | float) and math.isfinite(at) and 0 <= at <= MAX_SECONDS):
            raise GroundError(f"reset {node} at {at!r}: give a time in 0..{MAX_SECONDS:.0f} s")
        planned.append({"node": node, "at": float(at), "done_at": None})
    return sorted(planned, key=lambda r: r["at"])


def _reset_actions(
    planned: list[dict[str, Any]], log: Callable[[str], None]
) -> list[tuple[float, Callable[[Any], None]]]:
    """The session actions that reset each planned node (and record when it was done)."""

    def action(reset: dict[str, Any]) -> Callable[[Any], None]:
        def do(session: Any) -> None:
            reset["done_at"] = session.now()  # the round the station holds: time stands still
            reset_node(session.run_dir, reset["node"])
            log(f"[t={reset['done_at']:9.1f}] reset {reset['node']} (a power cycle)")

        return do

    return [(reset["at"], action(reset)) for reset in planned]


def load_bench_or_fail(bench: Path) -> Any:
    """The bench at ``bench`` (GroundError with the bench's one-line message)."""
    try:
        return load_bench(bench)
    except BenchError as exc:
        raise GroundError(str(exc).splitlines()[0]) from None


def _world(run_dir: Path) -> dict[str, Any]:
    try:
        return dict(backdoor_request(run_dir, {"op": "world"}).get("world", {}))
    except GroundError as exc:
        return {"error": f"the simulator's world could not be read: {exc}"}


def _device_actions(run_dir: Path) -> dict[str, Any]:
    """Per emulated board, what its devices did (``acted``: command handler runs by
    ``device.command``; ``repeats``: requests answered from memory), from the simulator."""
    try:
        boards = backdoor_request(run_dir, {"op": "status"}).get("boards", {})
    except GroundError:
        return {}
    return {
        name: {"acted": dict(stats.get("acted", {})), "repeats": stats.get("repeats", 0)}
        for name, stats in boards.items()
        if isinstance(stats, dict)
    }


def _fault_report(run_dir: Path) -> list[dict[str, Any]] | None:
    """Every fault of the run as the simulator's fault manager saw it, or None when it
    cannot be asked."""
    try:
        report = backdoor_request(run_dir, {"op": "faults"}).get("report")
    except GroundError:
        return None
    return [f for f in report if isinstance(f, dict)] if isinstance(report, list) else None


def _fault_node(target: str, bench: Any) -> str | None:
    """The node a fault's target belongs to (``link:mav``: mav; ``sta_arm.gripper``: the
    node of board ``sta_arm``), or None."""
    if target.startswith("link:"):
        return target.removeprefix("link:")
    spec = bench.boards.get(target.split(".", 1)[0]) if bench is not None else None
    return None if spec is None else str(spec.node)


def _add_faults(
    summary: dict[str, Any], run_dir: Path, report: list[dict[str, Any]] | None,
    asked: int, scenario: Scenario,
) -> None:  # fmt: skip
    """Replace the summary's ``faults`` (as asked) with every fault of the run, what became of
    it and the flight software's response (module docstring); add ``warnings``."""
    warnings: list[str] = list(summary.get("warnings", []))
    asked_faults = summary["faults"]
    if report is None:
        warnings.append("the simulator's fault report could not be read: faults are listed as "
                        "asked, not as they happened")  # fmt: skip
        summary["faults"] = [{**f, "by": "--fault", "took_effect": None, "response": []}
                             for f in asked_faults]  # fmt: skip
        summary["warnings"] = warnings
        return
    try:
        bench = load_bench(run_dir / "bench.toml")
    except BenchError:
        bench = None
    scheduled = sum(1 for f in report if f.get("origin") == "schedule")
    from_bench = scheduled - asked  # the bench's own [[faults]] come first, then --fault's
    try:
        archive: Archive | None = Archive.open_readonly(run_dir / "archive.sqlite")
    except ArchiveError:
        archive = None
    faults = []
    seen_scheduled = 0
    try:
        for entry in report:
            if entry.get("origin") == "schedule":
                seen_scheduled += 1
                by = "bench file" if seen_scheduled <= from_bench else "--fault"
            else:
                by = "scenario" if scenario.name != "nominal" else "back door"
            faults.append(_fault_entry(entry, by, bench, archive, summary["sim_seconds"]))
    finally:
        if archive is not None:
            archive.close()
    for fault in faults:
        if fault.get("warning"):
            warnings.append(fault["warning"])
    summary["faults"] = faults
    summary["warnings"] = warnings


def _fault_entry(
    entry: dict[str, Any], by: str, bench: Any, archive: Archive | None, run_end: float
) -> dict[str, Any]:
    """One fault of the summary (module docstring)."""
    target, kind = str(entry.get("target")), str(entry.get("kind"))
    at, duration = entry.get("at"), entry.get("duration")
    started, ended = entry.get("started"), entry.get("ended")
    effects = entry.get("effects")
    took = None if effects is None else bool(effects)
    node = _fault_node(target, bench)
    when = f"@{at:g} s" if isinstance(at, int | float) else ""
    if isinstance(duration, int | float):
        when += f" +{duration:g} s"
    name = f"fault {entry.get('id')} {target}:{kind} {when} ({by})"
    warning = None
    if started is None:
        warning = f"{name} never started (the run ended at {run_end:g} s simulated)"
    elif took is False:
        until = "the end" if ended is None else f"{ended:g} s"
        warning = (f"{name} never took effect: the device never met it while it lasted "
                   f"({started:g} s to {until})")  # fmt: skip
    response: list[dict[str, Any]] = []
    more = 0
    first = entry.get("first_effect") if took else started  # nothing to answer before it
    if first is not None and took is not False and node is not None and archive is not None:
        last = (ended if ended is not None else run_end) + RESPONSE_AFTER
        try:
            events = archive.events(node, start=float(first), end=float(last))
        except ArchiveError:
            events = []
        response = [
            {"time": round(e.sim_time, 3), "node": e.node, "name": e.name,
             "severity": e.severity, "detail": e.detail}
            for e in events[:MAX_RESPONSE]
        ]  # fmt: skip
        more = max(0, len(events) - MAX_RESPONSE)
    return {
        "id": entry.get("id"), "target": target, "kind": kind, "node": node, "by": by,
        "at": at, "duration": duration, "params": entry.get("params", {}),
        "started": started, "ended": ended, "ended_how": entry.get("ended_how"),
        "took_effect": took, "effects": effects, "first_effect": entry.get("first_effect"),
        "response": response, "response_more": more, "warning": warning,
    }  # fmt: skip


def _summary(
    run_dir: Path, seed: int, tubes: int, scenario: Scenario, verdict: Any,
    world: dict[str, Any], phases: list[dict[str, Any]], faults: list[dict[str, Any]],
    wall: float,
) -> dict[str, Any]:  # fmt: skip
    loaded = [t for t in world.get("tubes", [])
              if any(e.get("location") == "os_slot" for e in t.get("custody", []))]  # fmt: skip
    ends_in = scenario.ends_in
    custody = _custody(run_dir, world, ends_in)
    ledger = {c["serial"]: c for c in custody["tubes"]}
    detail = []
    for tube in loaded:
        chain = tube.get("custody", [])
        compared = ledger.get(tube.get("serial"))
        detail.append({
            "serial": tube.get("serial"), "sample_id": tube.get("sample_id"),
            "final_location": tube.get("location"), "slot": tube.get("slot"),
            "custody_chain": chain, "ledger": compared,
            "chain_ok": chain_ok(chain, ends_in) and bool(compared and compared["ok"]),
        })  # fmt: skip
    released = bool(world.get("ees", {}).get("released"))
    capacity = len(world.get("os", {}).get("slots", ())) - scenario.slots_lost
    expected = min(tubes, capacity)
    ok = (
        verdict.passed and released == (ends_in == "ees") and len(detail) == expected
        and all(t["chain_ok"] and t["final_location"] == ends_in for t in detail)
        and custody["chain_ok"] is True
    )  # fmt: skip
    return {
        "ok": ok, "scenario": scenario.name, "ends_in": ends_in, "seed": seed, "tubes": tubes,
        "tubes_loaded": len(detail),
        "sim_seconds": round(verdict.sim_seconds, 3), "wall_seconds": round(wall, 3),
        "procedure_wall_seconds": round(verdict.wall_seconds, 3),
        "verdict": str(verdict), "run_dir": str(run_dir), "phases": phases, "faults": faults,
        "os": world.get("os", {}), "ees_released": released,
        "world_error": world.get("error", ""), "tubes_detail": detail,
        "chain_ok": custody["chain_ok"], "custody": custody,
        "device_actions": world.get("device_actions", {}),
        "files": _files(run_dir), "ascent": world.get("ascent") or {},
    }  # fmt: skip


def _files(run_dir: Path) -> list[dict[str, Any]]:
    """Every file transfer by CFDP that ended, from the archive (decision 0056): node, name,
    transaction, size, CRC-32, whole or not, condition, NAKs."""
    try:
        with Archive.open_readonly(run_dir / "archive.sqlite") as archive:
            return [record.as_dict() for record in archive.files()]
    except ArchiveError as exc:
        return [{"error": str(exc).splitlines()[0]}]


def _custody(run_dir: Path, world: dict[str, Any], ends_in: str) -> dict[str, Any]:
    """The ground's custody ledger (from the archive's telemetry only) beside the world's
    truth: ``{"chain_ok", "tubes": [per tube: ledger, truth, agree, complete, ok, text],
    "differences": [text of each tube not ok], "reports", "error"}``. ``chain_ok`` is None
    when either side cannot be read (decision 0053)."""
    ledger, error = ledger_or_error(run_dir / "archive.sqlite")
    if world.get("error"):
        error = error or "the world's truth could not be read"
    truth = {
        int(t["serial"]): [str(e.get("location")) for e in t.get("custody", [])]
        for t in world.get("tubes", []) if isinstance(t.get("serial"), int)
    }  # fmt: skip
    if ledger is None or error:
        tubes = [] if ledger is None else [c.to_json() for c in ledger.compare(truth, ends_in)]
        return {"chain_ok": None, "tubes": tubes, "differences": [], "reports": 0,
                "error": error}  # fmt: skip
    compared = ledger.compare(truth, ends_in)
    return {
        "chain_ok": bool(compared) and all(c.ok for c in compared),
        "tubes": [c.to_json() for c in compared],
        "differences": [f"tube {c.serial}: {c.text}" for c in compared if not c.ok],
        "reports": ledger.reports, "error": "",
    }  # fmt: skip


def ascent_line(ascent: dict[str, Any]) -> str:
    """The orbit the OS was released into beside the bench's target, in one line (0057)."""
    reached, target = ascent["reached"], ascent["target"]
    tol = target["tolerance"]

    def km(value: float | None) -> str:
        return "unbound" if value is None else f"{value:.1f}"

    verdict = "within the target" if ascent["within"] else f"MISSED ({', '.join(ascent['misses'])})"
    return (f"ascent: OS released into {km(reached['periapsis_km'])} x "
            f"{km(reached['apoapsis_km'])} km, {reached['inclination_deg']:.2f} deg; target "
            f"{target['periapsis_km']:g} +-{tol['periapsis_km']:g} x {target['apoapsis_km']:g} "
            f"+-{tol['apoapsis_km']:g} km, {target['inclination_deg']:g} "
            f"+-{tol['inclination_deg']:g} deg: {verdict}")  # fmt: skip


def print_summary(summary: dict[str, Any]) -> None:
    """The summary as a table (rich) and a verdict line."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"campaign ({summary['scenario']}): {summary['tubes_loaded']} tubes, "
                        f"seed {summary['seed']}")  # fmt: skip
    for column in ("serial", "sample", "slot", "final location", "custody steps",
                   "ground's ledger", "chain"):  # fmt: skip
        table.add_column(column)
    for tube in summary["tubes_detail"]:
        ledger = tube.get("ledger") or {}
        table.add_row(
            str(tube["serial"]), str(tube["sample_id"]), str(tube["slot"]),
            str(tube["final_location"]), str(len(tube["custody_chain"])),
            str(ledger.get("text", "no record")),
            {True: "intact", False: "BROKEN"}.get(tube["chain_ok"], "unknown"),
        )  # fmt: skip
    console = Console()
    console.print(table)
    custody = summary.get("custody") or {}
    word = {True: "intact", False: "BROKEN", None: "not known"}[summary.get("chain_ok")]
    console.print(f"custody by the ground's ledger: {word} ({custody.get('reports', 0)} "
                  "custody reports)" + (f"; {custody['error']}" if custody.get("error") else ""),
                  highlight=False)  # fmt: skip
    for difference in custody.get("differences", []):
        console.print(f"[red]CUSTODY[/]: {difference}", highlight=False)
    ascent = summary.get("ascent") or {}
    if ascent:
        console.print(ascent_line(ascent), highlight=False)
    _print_faults(console, summary)
    if summary.get("died"):
        source = summary.get("tubes_source", "world")
        console.print(f"DIED: {summary['died']['text']}; tubes loaded per the {source}: "
                      f"{summary['tubes_loaded']}")  # fmt: skip
    word = "OK" if summary["ok"] else "NOT OK"
    console.print(
        f"{word}: {summary['verdict']}; {summary['sim_seconds']:.0f} s simulated in "
        f"{summary['wall_seconds']:.1f} s wall; tubes end in {summary['ends_in']}; "
        f"EES released: {summary['ees_released']}; "
        f"run folder {summary['run_dir']}"
    )


def _print_faults(console: Any, summary: dict[str, Any]) -> None:
    """The faults of the run (what was injected, whether it took effect, the response) and the
    warnings."""
    from rich.table import Table

    faults = summary.get("faults") or []
    if faults:
        table = Table(title="faults")
        for column in ("fault", "by", "when", "took effect", "response (faulted node's events)"):
            table.add_column(column, overflow="fold")  # a narrow terminal folds, never cuts
        for f in faults:
            when = "-" if f.get("started") is None else f"{f['started']:g} s"
            if f.get("ended") is not None:
                when += f" to {f['ended']:g} s"
            took = {True: f"yes, at {f.get('first_effect') or 0:g} s", False: "[red]NO[/]",
                    None: "not observed"}[f.get("took_effect")]  # fmt: skip
            names = [f"{e['name']} ({e['time']:g} s)" for e in f.get("response", [])[:6]]
            hidden = len(f.get("response", [])) - len(names) + f.get("response_more", 0)
            if hidden:
                names.append(f"... {hidden} more")
            table.add_row(f"{f['target']}:{f['kind']}", str(f.get("by")), when, took,
                          ", ".join(names) or "none")  # fmt: skip
        console.print(table)
    for warning in summary.get("warnings", []):
        console.print(f"[yellow]WARNING[/]: {warning}", highlight=False)
