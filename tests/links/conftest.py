"""Link pair factories for the conformance suite, and helpers shared by the links tests.

A *pair* is ``(a, b)``: bytes written to ``a`` are read from ``b`` and the other way round. For
``loop`` and ``hil`` (a real port with a TX-RX jumper) one link is both ends: ``a is b``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hal.links.pty_link import PtyLink
from hal.links.serial_link import SerialLink
from hal.links.tcp_listen import TcpListenLink

from .link_helpers import FakeClock, Pair, PairFactory


def _make_pair(
    kind: str, request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> PairFactory:
    clock = FakeClock()

    def opts(name: str, capture: bool) -> dict[str, object]:
        o: dict[str, object] = {"timestamp": clock}
        if capture:
            o.update(capture_dir=os.path.join(os.fspath(tmp_path), "captures"), capture_name=name)
        return o

    def factory(capture: bool = False) -> Pair:
        if kind == "loop":
            link = SerialLink("loop://", **opts("a", capture))
            link.open()
            return Pair(kind, link, link, clock)
        if kind == "hil":
            port = request.getfixturevalue("hil_port")
            baud = request.getfixturevalue("hil_baud")
            link = SerialLink(port, baudrate=baud, **opts("a", capture))
            link.open()
            link.serial.reset_input_buffer()
            return Pair(kind, link, link, clock, bulk_size=32 * 1024)
        if kind in ("pty", "pty-by-id"):
            symlink = None
            if kind == "pty-by-id":
                symlink = os.path.join(
                    os.fspath(tmp_path), "serial", "by-id", "usb-MSR_Emulated_STA-if00-port0"
                )
            a = PtyLink("pty://?name=sta", symlink=symlink, **opts("a", capture))
            a.open()
            b = SerialLink(symlink or a.peer_path, **opts("b", capture))
            try:
                b.open()
            except BaseException:
                a.close()
                raise
            return Pair(kind, a, b, clock)
        if kind == "socket":
            a = TcpListenLink("tcp-listen://127.0.0.1:0", **opts("a", capture))
            a.open()
            host, port = a.address
            b = SerialLink(f"socket://{host}:{port}", **opts("b", capture))
            try:
                b.open()
                a.accept(timeout=5)
            except BaseException:
                a.close()
                b.close()
                raise
            return Pair(kind, a, b, clock)
        raise AssertionError(kind)

    return factory


PAIR_KINDS = ["loop", "pty", "pty-by-id", "socket", "hil"]


@pytest.fixture(params=PAIR_KINDS)
def make_pair(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[PairFactory]:
    """A factory of opened link pairs of one kind; everything it made is closed afterwards."""
    made: list[Pair] = []
    inner = _make_pair(request.param, request, tmp_path)

    def factory(capture: bool = False) -> Pair:
        pair = inner(capture)
        made.append(pair)
        return pair

    yield factory
    for pair in made:
        pair.close()


@pytest.fixture
def pair(make_pair: PairFactory) -> Pair:
    """An opened link pair of each kind, without capture."""
    return make_pair()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
