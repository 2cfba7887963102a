"""Helpers of the links tests: a deterministic clock, link pairs, exact reads."""

from __future__ import annotations

import io
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from hal.links import Link


class FakeClock:
    """A deterministic timestamp source: each call returns the next quarter second."""

    def __init__(self, start: float = 1_700_000_000.0, step: float = 0.25) -> None:
        self.now = start
        self.step = step
        self.issued: list[float] = []

    def __call__(self) -> float:
        self.now += self.step
        self.issued.append(self.now)
        return self.now


@dataclass
class Pair:
    kind: str
    a: Link
    b: Link
    clock: FakeClock
    extra: list[Link] = field(default_factory=list)
    bulk_size: int = 256 * 1024

    @property
    def same(self) -> bool:
        return self.a is self.b

    def close(self) -> None:
        for link in {id(x): x for x in (self.a, self.b, *self.extra)}.values():
            link.close()


def wait_readable(link: Link, timeout: float) -> None:
    """Wait (without sleeping blindly) until the link's descriptor is readable, if it has one."""
    try:
        fd = link.fileno()
    except io.UnsupportedOperation:
        return
    select.select([fd], [], [], timeout)


def read_exactly(link: Link, n: int, timeout: float = 5.0) -> bytes:
    """Read exactly n bytes, failing the test if they do not come within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"only {len(buf)} of {n} bytes within {timeout} s")
        buf += link.read(n - len(buf), timeout=left)
    return bytes(buf)


PairFactory = Callable[..., Pair]


class MemoryLink(Link):
    """One end of an in-memory byte pipe: reads from ``inbox``, writes to ``outbox``.

    It never waits: use it with ``timeout=0`` from a test that steps time itself.
    """

    def __init__(self, inbox: bytearray, outbox: bytearray, **kwargs: object) -> None:
        super().__init__("memory://", **kwargs)  # type: ignore[arg-type]
        self.inbox = inbox
        self.outbox = outbox

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _read(self, size: int, timeout: float | None) -> bytes:
        data = bytes(self.inbox[:size])
        del self.inbox[:size]
        return data

    def _write(self, data: bytes) -> int | None:
        self.outbox += data
        return len(data)


def memory_pair(**kwargs: object) -> tuple[MemoryLink, MemoryLink]:
    """Two open links, each reading what the other writes."""
    ab, ba = bytearray(), bytearray()
    a, b = MemoryLink(ba, ab, **kwargs), MemoryLink(ab, ba, **kwargs)
    a.open()
    b.open()
    return a, b
