"""Project-wide pytest options and fixtures.

``--hil-port`` names a real serial port: with a TX-RX loopback jumper for the link conformance
suite, or with ``--hil-board NAME`` a real mission board, which the board conformance suite
(``tests/devices/test_board_conformance.py``) then checks instead of that board's emulator.
Hardware-in-the-loop tests are skipped without it.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Shared, noisy machines: no per-example deadline (timing belongs to `make bench`), and print the
# reproduction blob of any failure so CI findings can be replayed.
settings.register_profile(
    "bench", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("bench")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware in the loop")
    group.addoption(
        "--hil-port",
        default=None,
        help="serial port of a real board or loopback jumper (e.g. /dev/serial/by-id/...)",
    )
    group.addoption(
        "--hil-baud", type=int, default=115200, help="baud rate for --hil-port (115200)"
    )
    group.addoption(
        "--hil-board",
        default=None,
        help="the mission board on --hil-port (e.g. sta_arm): its conformance suite runs on it",
    )


@pytest.fixture
def hil_port(request: pytest.FixtureRequest) -> str:
    """The port given with --hil-port; skips the test when none was given."""
    port = request.config.getoption("--hil-port")
    if not port:
        pytest.skip("needs a real serial port: run with --hil-port=/dev/...")
    return port


@pytest.fixture
def hil_baud(request: pytest.FixtureRequest) -> int:
    """The baud rate given with --hil-baud (default 115200)."""
    return request.config.getoption("--hil-baud")
