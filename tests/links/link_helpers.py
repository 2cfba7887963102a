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
