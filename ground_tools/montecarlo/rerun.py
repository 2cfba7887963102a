"""``msr montecarlo rerun DIR --run I``: run I of a Monte Carlo folder again, here, and say
whether it came out the same (issue 21, decision 0049).

The run is rebuilt from ``DIR/manifest.json`` (its draw: seed, bench keys, faults, resets; the
scenario or ``DIR/procedure.py``; the tubes) and ``DIR/bench.toml``, with the secrets its
worker generated and brought back in its bundle (``DIR/runs/NNNN/keys.json`` and
``nonce_seed.key``: ``run_campaign(..., inherit=)`` as ``msr campaign --rerun`` does). It runs
as a farm's run does (a child process, its own runs folder), in ``DIR/reruns/NNNN-STAMP/``.

Then it is compared with the first run: always by the digests (``result.json``'s, against the
same digests of the new run folder: every capture's records and every archive table's compared
columns, :func:`ground_tools.montecarlo.runner.run_digests`), and record by record
(:func:`ground_tools.rerun.compare_runs`) when the run's captures and archive were kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ground_tools.api import GroundError
from ground_tools.montecarlo import runner
from ground_tools.montecarlo.farm import draw_from_json, load_manifest
from ground_tools.montecarlo.model import RunSpec
from ground_tools.rerun import RunComparison, compare_runs

__all__ = ["RerunOutcome", "rerun_run"]

SHOWN: Final = 20
"""Digest differences printed at most."""


@dataclass
class RerunOutcome:
    """A run of a Monte Carlo folder, run again.

    Attributes:
        index: the run.
        run_dir: the new run folder.
        summary: its campaign summary (empty when it left none).
        digests_compared: how many digests were compared.
        differences: the digests that differ (``captures/NAME.pcap: ...``).
        comparison: the record-by-record comparison, when the first run's captures were kept.
    """

    index: int
    run_dir: Path | None
    summary: dict[str, Any]
    digests_compared: int = 0
    differences: list[str] = field(default_factory=list)
    comparison: RunComparison | None = None

    @property
    def identical(self) -> bool:
        """Every digest (and, when compared, every record and row) is the same."""
        same = not self.differences and self.digests_compared > 0
        return same and (self.comparison is None or self.comparison.identical)

    def report(self) -> str:
        """What the operator reads: the verdict line, then the first differences."""
        lines: list[str] = []
        if self.identical:
            lines.append(f"identical: run {self.index}'s {self.digests_compared} digests "
                         f"(captures and archive tables) match, in {self.run_dir}")  # fmt: skip
        else:
            count = f"{len(self.differences)} of {self.digests_compared} digests differ"
            lines.append(f"DIFFERENT: run {self.index}: {count} (new run in {self.run_dir})")
            lines += [f"  {d}" for d in self.differences[:SHOWN]]
            if len(self.differences) > SHOWN:
                lines.append(f"  ... and {len(self.differences) - SHOWN} more")
        if self.comparison is not None:
            lines.append("record by record: " + self.comparison.report())
        return "\n".join(lines)


def rerun_run(
    folder: Path, index: int, *, timeout: float | None = None,
    log: Callable[[str], None] = print,
) -> RerunOutcome:  # fmt: skip
    """Run ``index`` of the Monte Carlo folder ``folder`` again and compare (module docstring).

    Raises:
        GroundError: not a Monte Carlo folder, no such run, a run whose secrets or result
            were not brought back, or a rerun that could not run (its reason).
    """
    folder = Path(folder).resolve()
    manifest = load_manifest(folder)
    draws = {int(d["index"]): d for d in manifest["draws"] if isinstance(d, dict)}
    if index not in draws:
        raise GroundError(f"--run {index}: {folder} has runs 0..{len(draws) - 1}")
    first = folder / "runs" / f"{index:04d}"
    needed = [first / name for name in ("result.json", "keys.json", "nonce_seed.key")]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise GroundError(f"run {index}: cannot rerun: {first} lacks {', '.join(missing)} "
                          "(the run never finished, or its bundle was not kept)")  # fmt: skip
    stored = json.loads((first / "result.json").read_text(encoding="utf-8"))
    procedure_text = None
    if manifest.get("procedure"):
        procedure_text = (folder / str(manifest["procedure"])).read_text(encoding="utf-8")
    spec = RunSpec(
        draw=draw_from_json(draws[index]),
        bench_text=(folder / str(manifest.get("bench", "bench.toml"))).read_text(encoding="utf-8"),
        scenario=manifest.get("scenario") or "nominal", procedure_text=procedure_text,
        tubes=int(manifest["tubes"]),
        timeout=float(timeout if timeout is not None else manifest.get("timeout", 1800.0)),
        keep="all",
    )  # fmt: skip
    private = folder / "reruns" / f"{index:04d}-{time.strftime('%Y%m%d-%H%M%S')}"
    private.mkdir(parents=True)
    log(f"montecarlo rerun: run {index} (seed {spec.draw.seed}) in {private}")
    request = runner.write_request(spec, private, inherit=first)
    outcome, reason = runner.run_child(private, request, spec.timeout, lambda: False)
    folders = runner.run_folders(private / "runs")
    if outcome != "done" and not folders:
        raise GroundError(f"run {index}: the rerun did not run: {reason or outcome}")
    run_dir = folders[-1] if folders else None
    summary: dict[str, Any] = {}
    new_digests: dict[str, str] = {}
    if run_dir is not None:
        runner.checkpoint(run_dir / "archive.sqlite")
        new_digests = runner.run_digests(run_dir)
        if (run_dir / "summary.json").is_file():
            summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    old_digests = {str(k): str(v) for k, v in dict(stored.get("digests", {})).items()}
    result = RerunOutcome(index, run_dir, summary)
    for where in sorted(set(old_digests) | set(new_digests)):
        result.digests_compared += 1
        old, new = old_digests.get(where), new_digests.get(where)
        if old is None or new is None:
            which = "first run" if old is None else "rerun"
            result.differences.append(f"{where}: missing in the {which}")
        elif old != new:
            result.differences.append(f"{where}: sha256 {old[:16]}... against {new[:16]}...")
    if run_dir is not None and (first / "captures").is_dir():
        result.comparison = compare_runs(first, run_dir)
    return result
