"""The rules of docs/architecture.md that import-linter cannot see, checked on the source itself.

* ``hal.protocol`` is pure: no I/O, no threads, no clocks.
* Flight code (and the HAL it runs on) never calls ``time.sleep`` or ``time.time``: it asks its
  injected clock. (Referring to ``time.time`` as a default clock is allowed; calling it is not.)
* No input check is written as ``assert`` (stripped under ``python -O``), and nothing that came
  over a link or from a file is fed to ``eval``, ``exec`` on data, ``pickle`` or unsafe YAML.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ["hal", "fsw", "sim_hardware", "ground_tools"]
IMPURE = {"os", "io", "socket", "select", "selectors", "threading", "time", "subprocess",
          "asyncio", "serial", "signal", "multiprocessing", "pty", "termios", "tty"}  # fmt: skip


def sources(*packages: str) -> list[Path]:
    """The Python files of packages, folders or single files."""
    paths = [ROOT / pkg for pkg in packages]
    return sorted(q for p in paths for q in ([p] if p.is_file() else p.rglob("*.py")))


def trees(*packages: str):
    for path in sources(*packages):
        yield path.relative_to(ROOT), ast.parse(path.read_text(), filename=str(path))


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def calls(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                found.add(f"{func.value.id}.{func.attr}")
            elif isinstance(func, ast.Name):
                found.add(func.id)
    return found


def test_the_packages_exist_with_a_docstring_saying_what_they_are_for():
    for package in LIBRARY:
        tree = ast.parse((ROOT / package / "__init__.py").read_text())
        assert ast.get_docstring(tree), package


@pytest.mark.parametrize("path,tree", list(trees("hal/protocol")), ids=str)
def test_hal_protocol_is_pure(path, tree):
    assert not imported_roots(tree) & IMPURE, path


@pytest.mark.parametrize("path,tree", list(trees("hal", "fsw")), ids=str)
def test_flight_code_never_sleeps_or_reads_the_wall_clock_itself(path, tree):
    assert not calls(tree) & {"time.sleep", "time.time", "sleep"}, path


WALL_CLOCKS = {"time.monotonic", "time.perf_counter", "time.time", "monotonic", "perf_counter"}
IO_LAYER = ("hal/links/", "hal/clock.py")
"""Where ``hal`` may read the host's monotonic clock: a byte stream's read timeout and the
timing link's wait for a tick (I/O, not behaviour), and the wall clock itself."""
MODELS = ["sim_hardware/devices", "sim_hardware/world.py", "sim_hardware/coupling.py",
          "sim_hardware/emulator.py", "sim_hardware/faults.py"]  # fmt: skip


@pytest.mark.parametrize(
    "path,tree",
    [(p, t) for p, t in trees("hal", "fsw") if not str(p).startswith(IO_LAYER)],
    ids=str,
)
def test_flight_code_measures_time_only_on_its_injected_clock(path, tree):
    """architecture.md §4: every timeout in flight software is measured on the injected clock
    (the simulation clock in SIL), so no wall clock is called outside the I/O layer; a driver
    or a service may name ``time.monotonic`` as the default of a clock parameter."""
    assert not calls(tree) & WALL_CLOCKS, path


@pytest.mark.parametrize("path,tree", list(trees(*MODELS)), ids=str)
def test_the_world_and_the_emulators_compute_at_the_time_they_are_given(path, tree):
    assert not calls(tree) & WALL_CLOCKS and "time" not in imported_roots(tree), path


@pytest.mark.parametrize("path,tree", list(trees(*LIBRARY)), ids=str)
def test_no_assert_for_checks_and_no_unsafe_deserialisation(path, tree):
    assert not any(isinstance(node, ast.Assert) for node in ast.walk(tree)), path
    assert not calls(tree) & {"eval", "pickle.loads", "pickle.load", "yaml.load"}, path
    assert "pickle" not in imported_roots(tree), path
