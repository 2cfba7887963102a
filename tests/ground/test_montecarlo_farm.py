"""``msr montecarlo``'s farm without a bench (decision 0049): bad input is one line and exit 2
before anything runs; a bundle from a worker is unpacked only inside its run's folder; a run's
failing check is read from its summary; every run index is stored once; the local pool's
results become the report as they come. The campaigns themselves: tests/system/test_montecarlo.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from ground_tools.campaign import DEFAULT_BENCH
from ground_tools.montecarlo import farm, runner
from ground_tools.montecarlo.model import Draw, RunResult, RunSpec

DISPERSIONS = """\
[igniter]
fault = "mav_pyro.srm1:igniter_no_fire"
probability = 0.5
window = [0.0, 600.0]
"""


def _msr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ground_tools.cli", "montecarlo", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


@pytest.fixture
def dispersions(tmp_path: Path) -> Path:
    path = tmp_path / "d.toml"
    path.write_text(DISPERSIONS, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--runs", "2", "--dispersions", "missing.toml", "-o", "out"], "no such file"),
        (["--runs", "2", "--dispersions", "bad.toml", "-o", "out"], "bad.toml"),
        (["--runs", "2", "--dispersions", "d.toml", "-o", "full"], "not an empty folder"),
        (["--runs", "2", "--dispersions", "d.toml", "-o", "out", "--workers", "0"], "--workers 0"),
        (["--runs", "0", "--dispersions", "d.toml", "-o", "out"], "--runs 0"),
        (["--dispersions", "d.toml", "-o", "out"], "give --runs N"),
        (["--runs", "2", "--dispersions", "d.toml", "-o", "out", "--scheduler", "host:1"],
         "tcp://HOST:PORT"),
        (["--runs", "2", "--dispersions", "d.toml", "-o", "out", "--timeout", "-1"], "--timeout"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2_with_nothing_run(
    tmp_path: Path, dispersions: Path, args: list[str], says: str
) -> None:
    (tmp_path / "bad.toml").write_text("[igniter]\nprobability = 1.5\n", encoding="utf-8")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("", encoding="utf-8")

    done = _msr(*args, cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (('keys = "generate"', 'keys = "flight_keys.json"'), "generates its own test keys"),
        (('clock = "sim"', 'clock = "wall"'), "on the simulated clock"),
    ],
)  # fmt: skip
def test_a_bench_no_farm_can_run_is_refused_in_one_line(
    tmp_path: Path, dispersions: Path, change: tuple[str, str], says: str
) -> None:
    """A key file or the wall clock (which a real board needs) is this machine's alone: a run on
    a cluster worker could not use it, so the farm refuses such a bench before anything runs."""
    text = DEFAULT_BENCH.read_text(encoding="utf-8")
    assert change[0] in text
    (tmp_path / "flight_keys.json").write_text('{"keys": {}}', encoding="utf-8")
    bench = tmp_path / "bench.toml"
    bench.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")

    done = _msr("--runs", "2", "--dispersions", "d.toml", "--bench", "bench.toml", "-o", "out",
                cwd=tmp_path)  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


def test_workers_and_scheduler_together_are_refused(tmp_path: Path, dispersions: Path) -> None:
    done = _msr("--runs", "2", "--dispersions", "d.toml", "-o", "out", "--workers", "2",
                "--scheduler", "tcp://127.0.0.1:8786", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_a_scheduler_without_dask_installed_is_one_clear_error(
    tmp_path: Path, dispersions: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from ground_tools.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    monkeypatch.setenv("COLUMNS", "80")  # main() sets it for a pipe: put back after the test
    status = main(["montecarlo", "--runs", "2", "--dispersions", str(dispersions), "-o",
                   str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:8786"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "pip install '.[cluster]'" in err, err
    assert not (tmp_path / "out").exists()


def test_a_scheduler_that_does_not_answer_is_one_line_and_no_folder(
    tmp_path: Path, dispersions: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    pytest.importorskip("distributed")
    import socket

    from ground_tools.cli import main

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(farm, "DASK_CONNECT_TIMEOUT", 2.0)
    monkeypatch.setenv("COLUMNS", "80")
    status = main(["montecarlo", "--runs", "2", "--dispersions", str(dispersions), "-o",
                   str(tmp_path / "out"), "--scheduler", f"tcp://127.0.0.1:{port}"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "no Dask scheduler answers" in err, err
    assert not (tmp_path / "out").exists()


def test_rerun_of_a_folder_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    done = _msr("rerun", str(tmp_path), "--run", "0", cwd=tmp_path)
    assert done.returncode == 2 and "not a Monte Carlo folder" in done.stderr, done.stderr


def _tar(members: dict[str, bytes], *, link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return buffer.getvalue()


def test_a_bundle_unpacks_inside_its_folder_only(tmp_path: Path) -> None:
    runner.unpack_bundle(_tar({"summary.json": b"{}", "logs/a.log": b"x"}), tmp_path / "ok")
    assert (tmp_path / "ok" / "logs" / "a.log").read_bytes() == b"x"
    for bad in (_tar({"../escape": b"x"}), _tar({"/abs": b"x"}), _tar({}, link="logs/l"),
                b"not a tar"):  # fmt: skip
        with pytest.raises(ValueError, match="bundle"):
            runner.unpack_bundle(bad, tmp_path / "bad")
    assert not (tmp_path / "escape").exists()


def test_the_bundle_holds_what_a_rerun_needs_and_captures_only_when_kept(tmp_path: Path) -> None:
    run = tmp_path / "run"
    names = ("summary.json", "bench.toml", "campaign.json", "keys.json", "nonce_seed.key",
             "logs/lander.log", "captures/a.pcap", "archive.sqlite", "control.token")  # fmt: skip
    for name in names:
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(name, encoding="utf-8")
    for keep, captures in ((False, False), (True, True)):
        out = tmp_path / f"out-{keep}"
        runner.unpack_bundle(runner.pack_bundle(run, None, keep=keep), out)
        names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
        assert {"keys.json", "nonce_seed.key", "bench.toml", "logs/lander.log"} <= names
        assert ("captures/a.pcap" in names) is captures and ("archive.sqlite" in names) is captures
        assert "control.token" not in names  # the bench's control secret stays on the worker


@pytest.mark.parametrize(
    ("summary", "check"),
    [
        ({"verdict": "FAIL: campaign.py:21: mav launch.launch: completion_failed "
                     "(792.3 s simulated, 1.7 s wall)"},
         "campaign.py:21: mav launch.launch: completion_failed"),
        ({"verdict": "FAIL: node lander (pid 5) died: killed by SIGKILL"},
         "node lander (pid 5) died: killed by SIGKILL"),
        ({"verdict": "PASS (1.0 s simulated, 1.0 s wall)", "ends_in": "ees",
          "tubes_detail": [{"serial": 7, "chain_ok": False, "final_location": "ees"}]},
         "campaign check: custody chain broken for tube 7"),
        ({"verdict": "PASS (1.0 s simulated, 1.0 s wall)", "ends_in": "ees",
          "tubes_detail": [{"serial": 7, "chain_ok": False, "final_location": "lost"}],
          "custody": {"differences": ["tube 7: MISSING: last reported in in_mav slot 0 "
                                      "(missing, mav at 900 s)", "tube 8: ..."]}},
         "campaign check: custody by the ground's ledger: tube 7: MISSING: last reported in "
         "in_mav slot 0 (missing, mav at 900 s) (and 1 more)"),
    ],
)  # fmt: skip
def test_the_failing_check_is_read_from_the_summary(summary: dict[str, Any], check: str) -> None:
    assert runner.failing_check(summary) == check


def _result(index: int, status: str = "pass", worker: str = "w") -> RunResult:
    bundle = _tar({"summary.json": b"{}"})
    return RunResult(index=index, seed=index + 100, status=status,  # type: ignore[arg-type]
                     verdict=status, worker=worker, bundle=bundle)  # fmt: skip


def test_every_run_index_is_stored_once(tmp_path: Path) -> None:
    lines: list[str] = []
    store = farm._Farm(tmp_path, 2, lines.append, farm._Progress(2, lines.append, enabled=False))
    store.store(_result(1, "fail", "first"))
    store.store(_result(1, "pass", "second"))  # a retry's late twin

    assert list(store.results) == [1] and store.results[1].worker == "first"
    saved = json.loads((tmp_path / "runs" / "0001" / "result.json").read_text())
    assert saved["status"] == "fail" and "bundle" not in saved
    assert (tmp_path / "runs" / "0001" / "summary.json").is_file()
    assert any("second result" in line and "dropped" in line for line in lines)


def test_the_local_pool_stores_each_run_and_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def fake_run_one(spec: RunSpec, *, cancelled: Any = None) -> RunResult:
        with lock:
            seen.append(spec.draw.index)
        return _result(spec.draw.index, "fail" if spec.draw.index == 2 else "pass")

    monkeypatch.setattr(farm, "run_one", fake_run_one)
    specs = [RunSpec(Draw(i, i + 100, {}), "") for i in range(5)]
    manifest = {"format": 1, "runs": 5, "seed": 1, "draws": [
        {"index": i, "seed": i + 100, "parameters": {}} for i in range(5)]}  # fmt: skip
    lines: list[str] = []

    summary = farm.run_specs(tmp_path, manifest, specs, workers=3, log=lines.append)

    assert sorted(seen) == list(range(5))
    assert summary["counts"]["pass"] == 4 and summary["counts"]["fail"] == 1
    assert sorted(p.parent.name for p in tmp_path.glob("runs/*/result.json")) == [
        f"{i:04d}" for i in range(5)
    ]
    assert (tmp_path / "junit.xml").is_file() and (tmp_path / "runs.csv").is_file()
    assert lines[-1].startswith("montecarlo: 5/5 done, 4/5 passed (80%)")
