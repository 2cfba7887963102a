"""Board emulators served on pseudo-terminals, and their HAL drivers connected to them.

``serve(emulator)`` starts the simulator's own host (:class:`sim_hardware.host.PtyHost`) in a
thread on a stable tty path; the test holds the simulated clock and moves it by hand, so physics
advance only when the procedure says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim_hardware.host import PtyHost


class SimTime:
    """The simulated clock the test controls."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Served:
    """One emulator on its tty, served by a host thread until ``stop``."""

    def __init__(self, emulator: object, clock: SimTime, path: str) -> None:
        self.emulator = emulator
        self.host = PtyHost([emulator], clock, symlinks={emulator.name: path})  # type: ignore[list-item]
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.host.serve_once(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.host.close()


@pytest.fixture
def sim_time() -> SimTime:
    return SimTime()


@pytest.fixture
def serve(tmp_path: Path, sim_time: SimTime) -> Iterator:
    """``serve(emulator) -> Served``; every board served is stopped after the test."""
    served: list[Served] = []

    def start(emulator: object, name: str | None = None) -> Served:
        path = str(tmp_path / "serial" / "by-id" / f"usb-MSR_{name or emulator.name}-if00")  # type: ignore[attr-defined]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        board = Served(emulator, sim_time, path)
        served.append(board)
        return board

    yield start
    for board in served:
        board.stop()


@pytest.fixture
def connect(serve) -> Iterator:
    """``connect(emulator, client_class, timeout=0.3) -> client``: the emulator served on a tty
    and its HAL driver connected (one retry). The client records its health events in
    ``client.events`` and knows its served board as ``client.board``; it is closed after the
    test."""
    clients: list = []

    def start(emulator: object, client_class: type, timeout: float = 0.3) -> object:
        board = serve(emulator)
        events: list[tuple[str, str]] = []
        client = client_class(board.path, timeout=timeout, retries=1,
                              on_event=lambda n, d: events.append((n, d)))  # fmt: skip
        client.events = events
        client.board = board
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
