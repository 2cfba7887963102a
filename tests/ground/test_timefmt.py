"""The shared UTC formatting (ground_tools.timefmt, decision 0037)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ground_tools.api import GroundError
from ground_tools.timefmt import mission_epoch, mission_utc, stamp, utc_text
from hal.bench import DEFAULT_EPOCH, default_bench_path

EPOCH = datetime(2031, 7, 1, tzinfo=UTC)


def _bench_text(epoch: str) -> str:
    """The default bench with its epoch line replaced."""
    text = default_bench_path().read_text(encoding="utf-8")
    return re.sub(r"(?m)^epoch = .*$", f"epoch = {epoch}", text)


def test_utc_text_is_iso_with_milliseconds_and_z() -> None:
    assert utc_text(EPOCH, 100.0) == "2031-07-01T00:01:40.000Z"
    assert utc_text(EPOCH, 0.0004) == "2031-07-01T00:00:00.000Z"
    assert utc_text(EPOCH, 86400 + 0.25) == "2031-07-02T00:00:00.250Z"


def test_a_bad_time_is_a_dash_never_an_error() -> None:
    for bad in (float("nan"), float("inf"), 1e300):
        assert utc_text(EPOCH, bad) == "-"
    assert stamp(EPOCH, float("nan")) == "-  t=-"
    assert stamp(EPOCH, 1.5) == "2031-07-01T00:00:01.500Z  t=1.500"


def test_the_run_folder_epoch_comes_from_its_bench_file(tmp_path: Path) -> None:
    (tmp_path / "bench.toml").write_text(_bench_text("2040-01-02T03:04:05Z"), encoding="utf-8")
    assert mission_epoch(tmp_path) == datetime(2040, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert mission_utc(tmp_path, 1.0) == "2040-01-02T03:04:06.000Z"


def test_a_live_bench_record_names_the_bench_file(tmp_path: Path) -> None:
    bench = tmp_path / "my.toml"
    bench.write_text(_bench_text('"2035-05-05T00:00:00+02:00"'), encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    (run / "bench.json").write_text(json.dumps({"bench": str(bench)}), encoding="utf-8")
    assert mission_utc(run, 0) == "2035-05-04T22:00:00.000Z"


def test_no_bench_file_means_the_default_epoch(tmp_path: Path) -> None:
    assert mission_epoch(tmp_path) == DEFAULT_EPOCH
    (tmp_path / "bench.json").write_text("not json", encoding="utf-8")
    assert mission_epoch(tmp_path) == DEFAULT_EPOCH


def test_a_bad_bench_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bench.toml").write_text(_bench_text('"yesterday"'), encoding="utf-8")
    with pytest.raises(GroundError) as caught:
        mission_epoch(tmp_path)
    assert "epoch" in str(caught.value) and "\n" not in str(caught.value)
