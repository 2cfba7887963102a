"""The report of ``msr montecarlo`` (decision 0048): one HTML page, JUnit XML, CSV and a summary.

:func:`write_report` writes, in the Monte Carlo folder ``DIR``:

* ``report.html``: one self-contained file (inline CSS, plots as inline base64 PNG drawn by
  matplotlib's Agg renderer, no script, nothing fetched): the header (runs asked and reported,
  partial or not, base seed, scenario or procedure, tubes, executor, success rate with its
  Wilson interval, counts per status), a table of every run, **failures first** (index linking
  to ``runs/NNNN/``, seed, each drawn parameter, status, verdict, tubes in the EES, simulated
  and wall seconds, attempts, worker, failing check), then per parameter a histogram (pass and
  not pass stacked) for a drawn number and the success rate by parameter (a number: binned; a
  fault or a reset: occurred or not; a choice: per value);
* ``junit.xml``: ``<testsuites>`` holding one ``<testsuite name="msr-montecarlo">`` with one
  ``<testcase name="run-0017" classname=SCENARIO time=WALL>`` per run: ``<properties>`` with its
  seed and drawn parameters, ``<failure>`` for ``fail`` (the failing check), ``<error>`` for
  ``timeout`` and ``error``, ``<system-out>`` with the verdict (the Jenkins/Ant JUnit format,
  as CI dashboards read it; ``tests/data/junit.xsd`` is the schema its test validates against);
* ``runs.csv``: a row per run (failures first), a column per drawn parameter;
* ``summary.json``: counts per status, success rate and its Wilson interval, runs asked and
  reported, partial, base seed, wall seconds; :func:`write_report` returns it.

Verdicts, failing checks, workers and parameters are data from the runs, not markup: every
string is stripped of what XML 1.0 cannot carry and escaped (``html.escape`` in the page,
ElementTree in the XML); a CSV text cell that a spreadsheet would take for a formula (``=``,
``+``, ``-``, ``@``) is prefixed with ``'``.

A parameter's sort (number, choice, fault, reset) is read from the folder's dispersions file
when it loads (:func:`ground_tools.montecarlo.dispersions.load_dispersions`), else guessed from
the values: ``None`` among them is a fault or reset, numbers a number, anything else a choice.
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import io
import json
import math
import re
import socket
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ground_tools.montecarlo.model import STATUSES, RunResult

__all__ = ["CSV_FILE", "HTML_FILE", "JUNIT_FILE", "SUITE_NAME", "SUMMARY_FILE",
           "wilson_interval", "write_report"]  # fmt: skip

HTML_FILE: Final = "report.html"
JUNIT_FILE: Final = "junit.xml"
CSV_FILE: Final = "runs.csv"
SUMMARY_FILE: Final = "summary.json"
SUITE_NAME: Final = "msr-montecarlo"
CONFIDENCE: Final = 0.95
"""The confidence of the success rate's interval."""
SUMMARY_FORMAT: Final = 1
STATUS_ORDER: Final[Mapping[str, int]] = {"fail": 0, "timeout": 1, "error": 2, "pass": 3}
"""Failures first: a failed check, then a run past its time, a run that could not run, a pass."""
MAX_TEXT: Final = 4000
"""Characters of a verdict or failing check shown (the rest is cut, with ``...``)."""
MAX_BINS: Final = 10
"""Most bins of a number's histogram."""
MAX_LISTED: Final = 50
"""Runs listed by index beside one failing check (the rest counted)."""
MAX_VALUES: Final = 20
"""Most values of a choice plotted (the most frequent)."""
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r")
_PARAMETER_KINDS: Final = ("uniform", "normal", "choice", "fault", "reset")


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a success rate: ``successes`` of ``n`` at ``confidence``.

    ``(centre -+ half) / (1 + z^2/n)`` with ``centre = p + z^2/(2n)``, ``half = z sqrt(p(1-p)/n
    + z^2/(4n^2))`` and ``z`` the normal quantile of ``1 - (1 - confidence)/2`` (1.96 at 95 %).
    Unlike ``p -+ z sqrt(p(1-p)/n)`` it stays in 0..1 and is not empty at 0 or n successes.
    No run: (0, 1), nothing known.

    Raises:
        ValueError: ``n`` < 0, ``successes`` outside 0..n, or ``confidence`` outside (0, 1).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"{successes} successes of {n} runs")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence}: give a number in (0, 1)")
    if n == 0:
        return 0.0, 1.0
    z = statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    scale = 1 + z * z / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, (centre - half) / scale)
    high = 1.0 if successes == n else min(1.0, (centre + half) / scale)
    return low, high


def write_report(
    out: Path, manifest: dict[str, Any], results: Sequence[RunResult], *, partial: bool = False
) -> dict[str, Any]:
    """Write ``report.html``, ``junit.xml``, ``runs.csv`` and ``summary.json`` into ``out``
    (module docstring); return the summary.

    Args:
        out: the Monte Carlo folder (its ``runs/NNNN/`` are linked, its dispersions file read
            for the parameters' sorts).
        manifest: the folder's manifest (``runs``, ``seed``, ``scenario``, ``procedure``,
            ``tubes``, ``executor``, ``draws``, ``started``...).
        results: the runs that came back, in any order.
        partial: the campaign was interrupted before every run came back.

    Raises:
        OSError: a file cannot be written.
    """
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(results, key=lambda r: (STATUS_ORDER.get(r.status, 9), r.index))
    draws = _draws(manifest)
    names = _parameter_names(draws)
    kinds = _kinds(out, manifest, names, draws)
    summary = _summary(manifest, ordered, names, partial)
    rows = [(r, draws.get(r.index, {}).get("parameters", {})) for r in ordered]
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _write_csv(out / CSV_FILE, rows, names)
    _write_junit(out / JUNIT_FILE, manifest, summary, rows, names)
    page = _Page(manifest, summary, rows, names, kinds).html()
    (out / HTML_FILE).write_text(page, encoding="utf-8")
    return summary


# ------------------------------------------------------------------------------ the figures


def _draws(manifest: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    draws: dict[int, dict[str, Any]] = {}
    for entry in manifest.get("draws") or ():
        if isinstance(entry, dict) and isinstance(entry.get("index"), int):
            parameters = entry.get("parameters")
            draws[entry["index"]] = {**entry, "parameters": parameters
                                     if isinstance(parameters, dict) else {}}  # fmt: skip
    return draws


def _parameter_names(draws: Mapping[int, Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for index in sorted(draws):
        names.update(dict.fromkeys(str(k) for k in draws[index]["parameters"]))
    return list(names)


def _kinds(
    out: Path, manifest: Mapping[str, Any], names: Sequence[str], draws: Mapping[int, Any]
) -> dict[str, str]:
    """Each parameter's sort: from the dispersions file when it loads, else from its values."""
    kinds: dict[str, str] = {}
    file = manifest.get("dispersions")
    if isinstance(file, str) and file and "/" not in file and (out / file).is_file():
        from ground_tools.api import GroundError
        from ground_tools.montecarlo.dispersions import load_dispersions

        bench = manifest.get("bench")
        bench_path = out / bench if isinstance(bench, str) and "/" not in bench else None
        try:
            text = bench_path.read_text(encoding="utf-8") if bench_path else None
            kinds = dict(load_dispersions(out / file, bench_text=text).kinds)
        except (GroundError, OSError, ValueError):
            kinds = {}
    for name in names:
        if kinds.get(name) in _PARAMETER_KINDS:
            continue
        values = [d["parameters"].get(name) for d in draws.values() if name in d["parameters"]]
        if any(v is None for v in values):
            kinds[name] = "fault"
        elif values and all(_is_number(v) for v in values):
            kinds[name] = "uniform"
        else:
            kinds[name] = "choice"
    return kinds


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _summary(
    manifest: Mapping[str, Any], results: Sequence[RunResult], names: Sequence[str], partial: bool
) -> dict[str, Any]:
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    n = len(results)
    passed = counts.get("pass", 0)
    low, high = wilson_interval(passed, n)
    started = _started(manifest)
    elapsed = None
    if started is not None:
        now = datetime.datetime.now(datetime.UTC)
        elapsed = round(max(0.0, (now - started).total_seconds()), 3)
    return {
        "format": SUMMARY_FORMAT,
        "runs": manifest.get("runs"),
        "reported": n,
        "partial": bool(partial),
        "seed": manifest.get("seed"),
        "scenario": manifest.get("scenario"),
        "procedure": manifest.get("procedure"),
        "tubes": manifest.get("tubes"),
        "executor": manifest.get("executor"),
        "counts": counts,
        "success_rate": passed / n if n else None,
        "confidence": CONFIDENCE,
        "interval": [low, high],
        "started": manifest.get("started"),
        "wall_seconds": elapsed,
        "run_wall_seconds": round(math.fsum(r.wall_seconds for r in results), 3),
        "parameters": list(names),
        "failures": [
            {"index": r.index, "seed": r.seed, "status": r.status, "verdict": r.verdict,
             "failing_check": r.failing_check}
            for r in results if r.status != "pass"
        ],
    }  # fmt: skip


def _started(manifest: Mapping[str, Any]) -> datetime.datetime | None:
    text = manifest.get("started")
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)


# ------------------------------------------------------------------------------ plain text


def _clean(text: Any, limit: int = MAX_TEXT) -> str:
    """A string from the runs, fit for XML 1.0 and HTML: what they cannot carry replaced, and
    cut at ``limit`` characters."""
    text = _NOT_XML.sub("\ufffd", str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _value_text(value: Any, kind: str = "") -> str:
    """A drawn parameter as text: a number to 6 digits, a fault's or reset's start (``412.5 s``)
    or ``no``, anything else as compact JSON."""
    if kind in ("fault", "reset"):
        return "no" if value is None else (f"{value:.6g} s" if _is_number(value) else _json(value))
    if value is None:
        return ""
    if _is_number(value):
        return f"{value:.6g}" if isinstance(value, float) else str(value)
    return _json(value)


def _json(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"), default=str)
    except (ValueError, RecursionError):
        text = "?"
    return _clean(text, 200)


def _csv_value(value: Any) -> Any:
    if value is None or _is_number(value):
        return "" if value is None else value
    return _csv_text(value if isinstance(value, str) else _json(value))


def _csv_text(text: Any) -> str:
    text = _clean(text) if text is not None else ""
    return "'" + text if text.startswith(_FORMULA) else text


# ------------------------------------------------------------------------------ runs.csv

_CSV_HEAD: Final = (
    "index", "seed", "status", "verdict", "failing_check", "tubes_loaded", "tubes_in_ees",
    "sim_seconds", "wall_seconds", "attempts", "worker",
)  # fmt: skip


def _write_csv(
    path: Path, rows: Sequence[tuple[RunResult, Mapping[str, Any]]], names: Sequence[str]
) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*_CSV_HEAD, *(_csv_text(n) for n in names)])
        for r, parameters in rows:
            writer.writerow([
                r.index, str(r.seed), r.status, _csv_text(r.verdict),
                _csv_text(r.failing_check or ""), r.tubes_loaded, r.tubes_in_ees,
                r.sim_seconds, r.wall_seconds, r.attempts, _csv_text(r.worker),
                *(_csv_value(parameters.get(n)) for n in names),
            ])  # fmt: skip


# ------------------------------------------------------------------------------ junit.xml


def _write_junit(
    path: Path,
    manifest: Mapping[str, Any],
    summary: Mapping[str, Any],
    rows: Sequence[tuple[RunResult, Mapping[str, Any]]],
    names: Sequence[str],
) -> None:
    counts = summary["counts"]
    failures = str(counts.get("fail", 0))
    errors = str(counts.get("timeout", 0) + counts.get("error", 0))
    total = f"{math.fsum(r.wall_seconds for r, _ in rows):.3f}"
    tests = str(len(rows))
    root = ET.Element("testsuites", name=SUITE_NAME, tests=tests, failures=failures,
                      errors=errors, skipped="0", time=total)  # fmt: skip
    suite = ET.SubElement(root, "testsuite", name=SUITE_NAME, tests=tests, failures=failures,
                          errors=errors, skipped="0", time=total,
                          hostname=_clean(socket.gethostname(), 255))  # fmt: skip
    started = _started(manifest)
    if started is not None:
        naive = started.astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)
        suite.set("timestamp", naive.isoformat())
    properties = ET.SubElement(suite, "properties")
    for key in ("runs", "seed", "scenario", "procedure", "tubes", "executor", "partial"):
        value = summary.get(key)
        if value is not None:
            ET.SubElement(properties, "property", name=key, value=_clean(_value_text(value)))
    classname = _clean(manifest.get("scenario") or manifest.get("procedure") or SUITE_NAME, 200)
    for r, parameters in rows:
        case = ET.SubElement(suite, "testcase", name=f"run-{r.index:04d}", classname=classname,
                             time=f"{max(r.wall_seconds, 0.0):.3f}")  # fmt: skip
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="seed", value=str(r.seed))
        for name in names:
            ET.SubElement(props, "property", name=_clean(name, 200),
                          value=_value_text(parameters.get(name)))  # fmt: skip
        verdict = _clean(r.verdict)
        if r.status == "fail":
            check = _clean(r.failing_check) if r.failing_check else ""
            failure = ET.SubElement(case, "failure", message=check or verdict, type="fail")
            failure.text = f"{verdict}\n{check}" if check else verdict
        elif r.status in ("timeout", "error"):
            error = ET.SubElement(case, "error", message=verdict, type=r.status)
            error.text = verdict
        out = ET.SubElement(case, "system-out")
        out.text = verdict
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------------------ report.html

_CSS: Final = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.head td { border: none; padding: 0.1em 1em 0.1em 0; }
.pass { background: #e6f4e6; } .fail { background: #fbe3e3; }
.timeout { background: #fdf0d5; } .error { background: #eee0f5; }
.status { font-weight: bold; } .partial { color: #b00; font-weight: bold; }
.verdict { min-width: 16em; max-width: 36em; }
.check { min-width: 12em; max-width: 30em; font-family: monospace; font-size: 0.95em; }
.wide { overflow-x: auto; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5em 2em; }
.plot h3 { font-size: 1em; margin: 0.8em 0 0.2em 0; }
.plot img { display: block; max-width: 100%; }
.note { color: #555; font-size: 0.85em; }
"""


class _Page:
    """The HTML page; every string from the runs or the manifest goes through :func:`_h`."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        summary: Mapping[str, Any],
        rows: Sequence[tuple[RunResult, Mapping[str, Any]]],
        names: Sequence[str],
        kinds: Mapping[str, str],
    ) -> None:
        self.manifest, self.summary, self.rows = manifest, summary, rows
        self.names, self.kinds = names, kinds

    def html(self) -> str:
        parts = [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "img-src data:; style-src 'unsafe-inline'\">",
            f"<title>{_h(SUITE_NAME)}: {_h(self._rate_text())}</title>",
            f"<style>{_CSS}</style></head><body>",
            self._header(),
            self._failures(),
            self._table(),
            self._plots(),
            "</body></html>\n",
        ]
        return "\n".join(parts)

    def _rate_text(self) -> str:
        s = self.summary
        if not s["reported"]:
            return "no run reported"
        low, high = s["interval"]
        rate = 100 * s["success_rate"]
        passed = s["counts"].get("pass", 0)
        return (f"{passed}/{s['reported']} passed, {rate:.1f} % "
                f"(95 % CI {100 * low:.1f}-{100 * high:.1f} %)")  # fmt: skip

    def _header(self) -> str:
        s, m = self.summary, self.manifest
        what = (f"scenario {m.get('scenario')}" if m.get("scenario")
                else f"procedure {m.get('procedure')}")  # fmt: skip
        counts = ", ".join(f"{k} {v}" for k, v in s["counts"].items())
        partial = (' <span class="partial">partial: interrupted before every run came back'
                   "</span>" if s["partial"] else "")  # fmt: skip
        items = [
            ("runs", f"{s['reported']} reported of {s['runs']} asked"),
            ("success rate", self._rate_text()),
            ("by status", counts),
            ("base seed", s["seed"]),
            ("campaign", what),
            ("tubes", s["tubes"]),
            ("executor", s["executor"]),
            ("started", m.get("started")),
            ("wall time", "" if s["wall_seconds"] is None else f"{s['wall_seconds']:.0f} s "
             f"(runs together {s['run_wall_seconds']:.0f} s)"),
            ("dispersions", m.get("dispersions")),
        ]  # fmt: skip
        rows = "".join(f"<tr><td>{_h(k)}</td><td>{_h(v)}</td></tr>" for k, v in items)
        return (f'<h1>Monte Carlo campaign{partial}</h1>\n<table class="head">{rows}</table>\n'
                '<p class="note">Failures first. Rebuild one run with <code>msr montecarlo '
                "rerun DIR --run N</code>; each run's folder is linked from its index."
                "</p>")  # fmt: skip

    def _failures(self) -> str:
        """The failures grouped by what failed (the failing check, else the verdict)."""
        groups: dict[str, list[RunResult]] = {}
        for r, _ in self.rows:
            if r.status != "pass":
                reason = r.failing_check or r.verdict or r.status
                groups.setdefault(f"{r.status}: {_clean(reason, 300)}", []).append(r)
        if not groups:
            return ""
        out = [
            "<h2>Failures</h2>",
            '<table class="failures"><thead><tr><th>runs</th>'
            "<th>status and failing check (or verdict)</th><th>which</th></tr></thead><tbody>",
        ]
        for reason, runs in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
            status = runs[0].status if runs[0].status in STATUSES else "error"
            which = ", ".join(
                f'<a href="runs/{r.index:04d}/">{r.index:04d}</a>' for r in runs[:MAX_LISTED]
            )
            more = f" and {len(runs) - MAX_LISTED} more" if len(runs) > MAX_LISTED else ""
            out.append(
                f'<tr class="{status}"><td class="num">{len(runs)}</td>'
                f'<td class="check">{_h(reason)}</td><td>{which}{more}</td></tr>'
            )
        out.append("</tbody></table>")
        return "\n".join(out)  # fmt: skip

    def _table(self) -> str:
        head = ["run", "status", "seed", *self.names, "verdict", "failing check",
                "tubes in EES", "simulated s", "wall s", "attempts", "worker"]  # fmt: skip
        out = ["<h2>Runs</h2>", '<div class="wide"><table class="runs"><thead><tr>']
        out += [f"<th>{_h(h)}</th>" for h in head]
        out.append("</tr></thead><tbody>")
        for r, parameters in self.rows:
            status = r.status if r.status in STATUSES else "error"
            cells = [
                f'<td class="num"><a href="runs/{r.index:04d}/">{r.index:04d}</a></td>',
                f'<td class="status {status}">{_h(r.status)}</td>',
                f'<td class="num">{r.seed}</td>',
                *(f'<td class="num">{_h(_value_text(parameters.get(n), self.kinds.get(n, "")))}'
                  "</td>" for n in self.names),
                f'<td class="verdict">{_h(_clean(r.verdict))}</td>',
                f'<td class="check">{_h(_clean(r.failing_check or ""))}</td>',
                f'<td class="num">{r.tubes_in_ees}/{r.tubes_loaded}</td>',
                f'<td class="num">{r.sim_seconds:.1f}</td>',
                f'<td class="num">{r.wall_seconds:.1f}</td>',
                f'<td class="num">{r.attempts}</td>',
                f"<td>{_h(_clean(r.worker, 200))}</td>",
            ]  # fmt: skip
            out.append(f'<tr class="{status}">{"".join(cells)}</tr>')
        out.append("</tbody></table></div>")
        return "\n".join(out)

    def _plots(self) -> str:
        if not self.rows or not self.names:
            return ""
        out = ["<h2>Parameters</h2>",
               '<p class="note">A drawn number: its histogram (pass and not pass stacked) and '
               "the success rate of its bins; a fault or reset: the success rate with it and "
               "without; a choice: per value (n: runs).</p>", '<div class="plots">']  # fmt: skip
        for name in self.names:
            kind = self.kinds.get(name, "choice")
            points = [(parameters.get(name), r.status == "pass") for r, parameters in self.rows
                      if name in parameters]  # fmt: skip
            if not points:
                continue
            png = _figure(name, kind, points)
            out.append(f'<div class="plot"><h3>{_h(name)} <span class="note">({_h(kind)})'
                       f'</span></h3><img alt="{_h(name)}" src="data:image/png;base64,{png}">'
                       "</div>")  # fmt: skip
        out.append("</div>")
        return "\n".join(out)


def _h(value: Any) -> str:
    return html.escape(_clean("" if value is None else value), quote=True)


def _figure(name: str, kind: str, points: Sequence[tuple[Any, bool]]) -> str:
    """One parameter's plots as a base64 PNG: a number's histogram (pass and not pass
    stacked) above its success rate per bin, on one axis; a fault's or reset's, a choice's
    success rate per case."""
    from matplotlib.figure import Figure

    numeric = kind in ("uniform", "normal") and all(_is_number(v) for v, _ in points)
    figure = Figure(figsize=(5.2, 3.6) if numeric else (5.2, 2.6), dpi=80, layout="constrained")
    if numeric:
        histogram, rates = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        values = [float(v) for v, _ in points]
        ok = [good for _, good in points]
        edges = _edges(values)
        passed = [v for v, good in zip(values, ok, strict=True) if good]
        failed = [v for v, good in zip(values, ok, strict=True) if not good]
        histogram.hist([passed, failed], bins=edges, stacked=True, color=["#4a9a4a", "#c84a4a"],
                       label=["pass", "not pass"])  # fmt: skip
        histogram.set_ylabel("runs")
        histogram.legend(fontsize="small")
        centres, widths, shares, totals = _binned(values, ok, edges)
        rates.bar(centres, shares, width=[0.9 * w for w in widths], color="#4a7ac8")
        positions: Sequence[float] = centres
        rates.set_xlabel(name)
    else:
        rates = figure.subplots(1, 1)
        labels, shares, totals = _cases(kind, points)
        positions = list(range(len(labels)))
        rates.bar(positions, shares, color="#4a7ac8", width=0.6)
        tilt = len(labels) > 3 and max((len(x) for x in labels), default=0) > 8
        rates.set_xticks(positions, labels, fontsize="small", rotation=25 if tilt else 0)
    for x, share, total in zip(positions, shares, totals, strict=True):
        rates.annotate(f"{share:.0%}\nn={total}", (x, share), ha="center", va="bottom",
                       fontsize="x-small")  # fmt: skip
    rates.set_ylim(0, 1.35)
    rates.set_yticks([0, 0.5, 1])
    rates.set_ylabel("success rate")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _edges(values: Sequence[float]) -> list[float]:
    """At most :data:`MAX_BINS` equal bins over the values (one around a single value)."""
    low, high = min(values), max(values)
    if high <= low:
        half = abs(low) * 0.05 or 0.5
        return [low - half, low + half]
    bins = max(1, min(MAX_BINS, len(set(values))))
    return [low + (high - low) * i / bins for i in range(bins)] + [high]


def _binned(
    values: Sequence[float], ok: Sequence[bool], edges: Sequence[float]
) -> tuple[list[float], list[float], list[float], list[int]]:
    """Per non-empty bin: its centre, width, success rate and runs."""
    bins = len(edges) - 1
    passed, totals = [0] * bins, [0] * bins
    for value, good in zip(values, ok, strict=True):
        at = bins - 1  # the last bin holds its upper edge, as numpy's histogram
        for i in range(bins):
            if value < edges[i + 1]:
                at = i
                break
        totals[at] += 1
        passed[at] += good
    kept = [i for i in range(bins) if totals[i]]
    centres = [(edges[i] + edges[i + 1]) / 2 for i in kept]
    widths = [edges[i + 1] - edges[i] for i in kept]
    return centres, widths, [passed[i] / totals[i] for i in kept], [totals[i] for i in kept]


def _cases(
    kind: str, points: Sequence[tuple[Any, bool]]
) -> tuple[list[str], list[float], list[int]]:
    groups: dict[str, list[bool]] = {}
    for value, ok in points:
        if kind in ("fault", "reset"):
            key = "did not occur" if value is None else "occurred"
        else:
            key = _value_text(value)
        groups.setdefault(key, []).append(ok)
    if kind in ("fault", "reset"):
        order = [k for k in ("did not occur", "occurred") if k in groups]
    else:
        order = sorted(groups, key=lambda k: (-len(groups[k]), k))[:MAX_VALUES]
    labels = [k if len(k) <= 24 else k[:21] + "..." for k in order]
    return labels, [sum(groups[k]) / len(groups[k]) for k in order], [len(groups[k]) for k in order]
