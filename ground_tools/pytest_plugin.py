"""The pytest plugin of the ground tools (registered in ``pyproject.toml`` under ``pytest11``):
a fixture that brings up a bench for a test and hands it the scripting API, so that system tests
read like operator procedures::

    def test_the_lander_answers_a_ping(msr_bench):
        msr_bench.cmd("lander core.ping")
        msr_bench.wait_check("lander.core.status.accepted == 1", timeout=5)

The bench is the default one (every board emulated), or the file given with ``--msr-bench``; it
runs at full speed (``--pace fast``) in a run folder under the test's ``tmp_path``, and is brought
down after the test whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ground_tools.api import Session, connect
from ground_tools.bench_ctl import bench_down, bench_up
from hal.bench import default_bench_path

__all__ = ["msr_bench", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--msr-bench FILE``: the bench the ``msr_bench`` fixture brings up."""
    parser.addoption("--msr-bench", default=None, help="bench file for the msr_bench fixture")


@pytest.fixture
def msr_bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    """A bench brought up for this test, as a scripting-API session (its run folder is
    ``session.run_dir``)."""
    bench = request.config.getoption("--msr-bench") or default_bench_path()
    up = bench_up(Path(bench), runs_dir=tmp_path / "runs", pace="fast", run_id="run")
    try:
        session = connect(up.run_dir, source=request.node.name)
    except BaseException:
        bench_down(up.run_dir)
        raise
    try:
        yield session
    finally:
        session.close()
        bench_down(up.run_dir)
