"""The report of ``msr montecarlo`` (decision 0048) from results made here: failures first, the
figures of ``runs.csv`` and ``summary.json`` right, ``junit.xml`` valid against the JUnit schema
(tests/data/junit.xsd) and read by a real consumer (junitparser), a hostile verdict shown as text
in the page and carried as text in the XML, the Wilson interval against published values."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import junitparser
import pytest
from lxml import etree

from ground_tools.montecarlo.dispersions import draw, example_path, load_dispersions
from ground_tools.montecarlo.model import RunResult
from ground_tools.montecarlo.report import wilson_interval, write_report

XSD = Path(__file__).resolve().parents[1] / "data" / "junit.xsd"
HOSTILE = (
    "</td><script>alert('x')</script>&amp; \"quoted\" \x00\x1b[31m\ud800 ]]> =cmd|' /C calc'!A0"
)
"""A verdict no run should write: markup, an entity, quotes, NUL, an escape sequence, a lone
surrogate, a CDATA end and a spreadsheet formula."""


def _manifest(draws: list[dict[str, Any]], runs: int = 6) -> dict[str, Any]:
    return {
        "format": 1, "runs": runs, "seed": 42, "scenario": "nominal", "procedure": None,
        "tubes": 2, "timeout": 600.0, "keep": "failed", "dispersions": "dispersions.toml",
        "bench": "bench.toml", "executor": "local:2", "draws": draws,
        "started": "2026-12-07T11:00:00+00:00",
    }  # fmt: skip


def _draw(index: int, light: float, slip: float | None, blackout: list[Any]) -> dict[str, Any]:
    return {"index": index, "seed": 1000 + index,
            "parameters": {"light_time": light, "gripper_slip": slip, "blackout": blackout},
            "bench": {}, "faults": [], "resets": []}  # fmt: skip


def _results() -> list[RunResult]:
    return [
        RunResult(0, 1000, "pass", "PASS: 2 tubes in the EES", tubes_loaded=2, tubes_in_ees=2,
                  sim_seconds=8228.0, wall_seconds=20.5, worker="host:1"),
        RunResult(1, 1001, "fail", "FAIL: the load ended grasp_slip",
                  failing_check="campaign.py:40: check lander.sta.status.tubes_loaded == 2",
                  tubes_loaded=1, sim_seconds=900.0, wall_seconds=7.25, worker="host:2"),
        RunResult(2, 1002, "timeout", "timeout after 600 s", wall_seconds=600.0, attempts=2,
                  worker="tcp://10.0.0.2:4321"),
        RunResult(3, 1003, "pass", "PASS: 2 tubes in the EES", tubes_loaded=2, tubes_in_ees=2,
                  sim_seconds=8230.0, wall_seconds=21.0, worker="host:1"),
        RunResult(4, 1004, "error", HOSTILE, failing_check=HOSTILE, worker="<b>worker</b>"),
        RunResult(5, 1005, "fail", "-2+3", failing_check="@SUM(A1)", tubes_loaded=2,
                  tubes_in_ees=1, sim_seconds=7000.0, wall_seconds=19.0, worker="host:2"),
    ]  # fmt: skip


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    draws = [_draw(0, 0.1, None, []), _draw(1, 1.2, 450.5, [[900.0, 960.0]]),
             _draw(2, 0.7, None, []), _draw(3, 0.2, None, [[900.0, 960.0]]),
             _draw(4, 0.9, 1200.0, []), _draw(5, 1.0, None, [])]  # fmt: skip
    results = _results()
    summary = write_report(tmp_path, _manifest(draws), list(reversed(results)))
    return tmp_path, summary


ORDER = [1, 5, 2, 4, 0, 3]
"""Failures first: fail (by index), timeout, error, then the passes."""


def test_summary_counts_rate_and_interval(report: tuple[Path, dict[str, Any]]):
    out, summary = report
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == summary
    assert summary["counts"] == {"pass": 2, "fail": 2, "timeout": 1, "error": 1}
    assert summary["runs"] == 6 and summary["reported"] == 6 and summary["partial"] is False
    assert summary["seed"] == 42 and summary["executor"] == "local:2"
    assert summary["success_rate"] == pytest.approx(2 / 6)
    assert summary["interval"] == pytest.approx(list(wilson_interval(2, 6)))
    assert summary["interval"] == pytest.approx([0.0968, 0.7000], abs=1e-4)
    assert summary["run_wall_seconds"] == pytest.approx(20.5 + 7.25 + 600.0 + 21.0 + 19.0)
    assert summary["wall_seconds"] > 0  # since the manifest's start
    assert [f["index"] for f in summary["failures"]] == [1, 5, 2, 4]
    assert summary["parameters"] == ["light_time", "gripper_slip", "blackout"]


def test_csv_rows_failures_first_a_column_per_parameter(report: tuple[Path, dict[str, Any]]):
    out, _ = report
    with open(out / "runs.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["index"]) for r in rows] == ORDER
    first = rows[0]
    assert first["seed"] == "1001" and first["status"] == "fail"
    assert first["light_time"] == "1.2" and first["gripper_slip"] == "450.5"
    assert first["blackout"] == "[[900.0,960.0]]" and first["tubes_loaded"] == "1"
    assert first["failing_check"].startswith("campaign.py:40: check")
    assert float(first["wall_seconds"]) == 7.25
    passed = rows[4]
    assert passed["gripper_slip"] == "" and passed["blackout"] == "[]"
    assert passed["sim_seconds"] == "8228.0" and passed["tubes_in_ees"] == "2"
    formula = rows[1]  # run 5: text cells a spreadsheet would compute are quoted
    assert formula["verdict"] == "'-2+3" and formula["failing_check"] == "'@SUM(A1)"
    hostile = rows[3]
    assert hostile["verdict"].startswith("</td><script>") and "\x00" not in hostile["verdict"]
    assert "\ud800" not in hostile["verdict"] and "\ufffd" in hostile["verdict"]


def test_junit_is_valid_and_read_by_a_junit_consumer(report: tuple[Path, dict[str, Any]]):
    out, _ = report
    path = out / "junit.xml"
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    assert len(suites) == 1
    suite = suites[0]
    assert suite.name == "msr-montecarlo"
    assert (suite.tests, suite.failures, suite.errors) == (6, 2, 2)
    cases = list(suite)
    assert [c.name for c in cases] == [f"run-{i:04d}" for i in ORDER]
    by_name = {c.name: c for c in cases}
    assert all(c.classname == "nominal" for c in cases)
    assert by_name["run-0001"].time == pytest.approx(7.25)
    (failure,) = by_name["run-0001"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "campaign.py:40: check lander.sta.status.tubes_loaded == 2"
    assert by_name["run-0001"].system_out == "FAIL: the load ended grasp_slip"
    (timeout,) = by_name["run-0002"].result
    assert isinstance(timeout, junitparser.Error) and timeout.type == "timeout"
    (error,) = by_name["run-0004"].result
    assert isinstance(error, junitparser.Error) and error.type == "error"
    assert error.message.startswith("</td><script>alert('x')</script>&amp; \"quoted\"")
    assert by_name["run-0000"].is_passed and by_name["run-0000"].result == []
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in document.iter("testcase")
    }
    assert properties["run-0001"] == {"seed": "1001", "light_time": "1.2",
                                      "gripper_slip": "450.5",
                                      "blackout": "[[900.0,960.0]]"}  # fmt: skip
    assert properties["run-0000"]["gripper_slip"] == ""


def _tags(page: str) -> tuple[set[str], list[tuple[str, dict[str, str | None]]]]:
    found: list[tuple[str, dict[str, str | None]]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, dict(attrs)))

    Parser().feed(page)
    return {tag for tag, _ in found}, found


def test_html_failures_first_escaped_self_contained(report: tuple[Path, dict[str, Any]]):
    out, _ = report
    page = (out / "report.html").read_text(encoding="utf-8")
    tags, found = _tags(page)
    assert tags <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "a",
        "span",
        "p",
        "code",
        "div",
        "img",
    }
    assert "script" not in tags and "b" not in tags  # the hostile verdict and worker are text
    assert "&lt;/td&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;amp;" in page
    assert "&lt;b&gt;worker&lt;/b&gt;" in page and "\x00" not in page and "\x1b" not in page
    _, in_table = _tags(page.split('<table class="runs">')[1])
    links = [a["href"] for tag, a in in_table if tag == "a"]
    assert links == [f"runs/{i:04d}/" for i in ORDER]  # every run, failures first
    failures = page.split("<h2>Failures</h2>")[1].split("<h2>")[0]  # grouped by failing check
    assert failures.count("<tr class=") == 4 and ">fail: -2+3<" not in failures
    assert "fail: @SUM(A1)" in failures and "timeout: timeout after 600 s" in failures
    images = [a["src"] for tag, a in found if tag == "img"]
    assert len(images) == 3 and all(s.startswith("data:image/png;base64,iVBOR") for s in images)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", text.replace("tcp://10.0.0.2:4321", ""))
    assert not re.search(r"(?i)\b(src|href)=\"(?!data:image/png;base64,|runs/\d{4}/\")", page)
    for text in ("2/6 passed, 33.3 % (95 % CI 9.7-70.0 %)", "6 reported of 6 asked",
                 "scenario nominal", "local:2", "450.5", "[[900.0,960.0]]",
                 "campaign.py:40: check lander.sta.status.tubes_loaded == 2"):  # fmt: skip
        assert text in page, text
    assert "partial" not in page.split("<body>")[1].split("</h1>")[0]


def test_a_partial_report_and_an_empty_one(tmp_path: Path):
    manifest = _manifest([_draw(0, 0.5, None, [])], runs=1000)
    summary = write_report(tmp_path, manifest, _results()[:1], partial=True)
    assert summary["partial"] is True and summary["reported"] == 1 and summary["runs"] == 1000
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "partial: interrupted" in page and "1 reported of 1000 asked" in page
    empty = tmp_path / "empty"
    summary = write_report(empty, _manifest([], runs=3), [], partial=True)
    assert summary["reported"] == 0 and summary["success_rate"] is None
    assert summary["interval"] == [0.0, 1.0]
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(empty / "junit.xml"))), schema.error_log
    assert "no run reported" in (empty / "report.html").read_text(encoding="utf-8")


def test_parameter_sorts_come_from_the_folders_dispersions_file(tmp_path: Path):
    """With the example dispersions file beside the manifest, a fault that occurred in every run
    is still plotted as occurred / not (not as a number), and a choice per value."""
    (tmp_path / "dispersions.toml").write_text(example_path().read_text(encoding="utf-8"))
    example = load_dispersions(example_path())
    draws = [draw(example, 3, i) for i in range(8)]
    manifest = _manifest([{"index": d.index, "seed": d.seed, "parameters": d.parameters}
                          for d in draws], runs=8)  # fmt: skip
    manifest["bench"] = None
    results = [RunResult(d.index, d.seed, "pass" if d.index % 3 else "fail", "v",
                         wall_seconds=1.0) for d in draws]  # fmt: skip
    write_report(tmp_path, manifest, results)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'gripper_slip <span class="note">(fault)</span>' in page
    assert 'lander_reset <span class="note">(reset)</span>' in page
    assert 'lander_blackout <span class="note">(choice)</span>' in page
    assert 'orbiter_bit_error_rate <span class="note">(normal)</span>' in page
    images = page.count("data:image/png;base64,")
    assert images == len(example.names)


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in
# Medicine 17: 857-872, Table I, method 3 (the Wilson score interval without correction).
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
]


@pytest.mark.parametrize(("successes", "n", "low", "high"), NEWCOMBE)
def test_wilson_interval_matches_published_values(successes: int, n: int, low: float,
                                                  high: float):  # fmt: skip
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=5e-5)
    narrow, wide = wilson_interval(50, 100, 0.90), wilson_interval(50, 100, 0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    for bad in [(-1, 10), (11, 10), (0, -1)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, 1.0)
