"""Device disappearance, timeouts and the things only some backends do (pty, tcp-listen)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from hal.errors import LinkClosed, LinkTimeout
from hal.links import Link
from hal.links.pty_link import PtyLink
from hal.links.serial_link import SerialLink
from hal.links.tcp_listen import TcpListenLink

from .link_helpers import read_exactly


def count_backend_reads(link: Link) -> list[int]:
    """Wrap the backend's raw read so a test can see how often the base calls it."""
    calls = [0]
    inner = link._read

    def counting(size, timeout):
        calls[0] += 1
        return inner(size, timeout)

    link._read = counting
    return calls


@pytest.fixture
def pty_pair():
    master = PtyLink("pty://")
    master.open()
    peer = SerialLink(master.peer_path)
    peer.open()
    yield master, peer
    peer.close()
    master.close()


def test_pty_master_closed_peer_read_raises_and_stays_broken(pty_pair) -> None:
    master, peer = pty_pair
    calls = count_backend_reads(peer)
    master.close()
    start = time.monotonic()
    with pytest.raises(LinkClosed) as info:
        peer.read(timeout=1)
    assert info.value.reason == "device_lost"
    assert time.monotonic() - start < 2
    assert not peer.is_open
    assert peer.broken is not None
    used = calls[0]
    assert used >= 1

    start = time.monotonic()
    for _ in range(3):
        with pytest.raises(LinkClosed) as again:
            peer.read(timeout=None)  # must not block: the device is known lost
        assert again.value.reason == "device_lost"
        with pytest.raises(LinkClosed):
            peer.write(b"x")
    assert time.monotonic() - start < 1
    assert calls[0] == used  # broken: the device is not touched again, so nothing can spin
    assert peer.stats.errors["device_lost"] == 1
    peer.close()
    peer.close()
    assert peer.broken is None


def test_pty_peer_closes_and_reopens_the_port(pty_pair) -> None:
    master, peer = pty_pair
    peer.write(b"one")
    assert read_exactly(master, 3) == b"one"
    peer.close()
    # no peer attached: the master neither fails nor spins, it just times out
    assert master.read(timeout=0.05) == b""
    assert master.is_open
    again = SerialLink(master.peer_path)
    with again:
        again.write(b"two")
        assert read_exactly(master, 3) == b"two"
        master.write(b"three")
        assert read_exactly(again, 5) == b"three"


def test_pty_slave_is_raw(pty_pair) -> None:
    master, peer = pty_pair
    data = bytes(range(256))
    master.write(data)
    assert read_exactly(peer, 256) == data  # no CR/LF translation, no special characters
    assert master.read(timeout=0.05) == b""  # and no echo


def test_pty_write_without_reader_times_out_instead_of_blocking() -> None:
    with PtyLink("pty://", write_timeout=0.2) as master:
        start = time.monotonic()
        with pytest.raises(LinkTimeout) as info:
            master.write(b"\x55" * (1 << 20))
        assert info.value.reason == "write_timeout"
        assert time.monotonic() - start < 3
        assert master.stats.errors["write_timeout"] == 1
        assert 0 < master.stats.bytes_out < 1 << 20
        assert master.is_open  # a stall is not a loss


def test_pty_symlink_made_and_removed(tmp_path) -> None:
    link_path = tmp_path / "by-id" / "usb-MSR_board-if00"
    master = PtyLink("pty://?name=board", symlink=str(link_path))
    with master:
        assert os.path.islink(link_path)
        assert os.path.realpath(link_path) == os.path.realpath(master.peer_path)
        with SerialLink(str(link_path)) as peer:
            peer.write(b"hi")
            assert read_exactly(master, 2) == b"hi"
    assert not os.path.lexists(link_path)


def test_pty_name_option_sets_capture_name(tmp_path) -> None:
    link = PtyLink("pty://?name=sta_arm", capture_dir=tmp_path)
    assert link.capture_paths == (
        str(tmp_path / "sta_arm.tx.pcap"),
        str(tmp_path / "sta_arm.rx.pcap"),
    )


def test_close_from_another_thread_wakes_a_blocked_read() -> None:
    master = PtyLink("pty://")
    master.open()
    outcome: list[BaseException | bytes] = []

    def reader() -> None:
        try:
            outcome.append(master.read(timeout=None))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    # the reader may or may not have entered select yet: either way it must end
    master.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], LinkClosed)
    assert outcome[0].reason == "closed"


@pytest.fixture
def socket_pair():
    server = TcpListenLink("tcp-listen://127.0.0.1:0")
    server.open()
    host, port = server.address
    client = SerialLink(f"socket://{host}:{port}")
    client.open()
    server.accept(timeout=5)
    yield server, client
    client.close()
    server.close()


def test_socket_server_closes_client_read_raises(socket_pair) -> None:
    server, client = socket_pair
    server.close()
    start = time.monotonic()
    with pytest.raises(LinkClosed):
        client.read(timeout=1)
    assert time.monotonic() - start < 2
    start = time.monotonic()
    with pytest.raises(LinkClosed):
        client.read(timeout=None)
    assert time.monotonic() - start < 1


def test_socket_client_closes_server_read_raises(socket_pair) -> None:
    server, client = socket_pair
    client.write(b"last words")
    client.close()
    assert read_exactly(server, 10) == b"last words"  # data before EOF is delivered
    with pytest.raises(LinkClosed) as info:
        server.read(timeout=1)
    assert info.value.reason == "peer_closed"
    with pytest.raises(LinkClosed):
        server.write(b"x")
    assert server.stats.errors["peer_closed"] == 1


def test_tcp_listen_accept_timeout_and_lazy_accept() -> None:
    with TcpListenLink("tcp-listen://127.0.0.1:0") as server:
        host, port = server.address
        assert port != 0
        with pytest.raises(LinkTimeout):
            server.accept(timeout=0.05)
        assert server.read(timeout=0.05) == b""  # nobody connected: an ordinary timeout
        with SerialLink(f"socket://{host}:{port}") as client:
            client.write(b"hello")
            assert read_exactly(server, 5) == b"hello"  # accepted by the read itself
            assert server.connected
            server.accept(timeout=0)  # already connected: returns at once
            server.write(b"back")
            assert read_exactly(client, 4) == b"back"


def test_tcp_listen_write_without_peer_times_out() -> None:
    with TcpListenLink("tcp-listen://127.0.0.1:0", write_timeout=0.05) as server:
        with pytest.raises(LinkTimeout):
            server.write(b"nobody there")


class InstantEmptyLink(Link):
    """A broken backend that returns nothing at once, forever."""

    def __init__(self) -> None:
        super().__init__("instant://")
        self.calls = 0

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _read(self, size, timeout):
        self.calls += 1
        return b""

    def _write(self, data):
        return 0


def test_base_does_not_spin_on_a_backend_that_never_waits() -> None:
    link = InstantEmptyLink()
    link.open()
    start = time.monotonic()
    with pytest.raises(LinkClosed) as info:
        link.read(timeout=None)
    assert info.value.reason == "device_lost"
    assert time.monotonic() - start < 2
    calls = link.calls
    with pytest.raises(LinkClosed):
        link.read(timeout=None)
    assert link.calls == calls


def test_base_write_that_makes_no_progress_times_out() -> None:
    link = InstantEmptyLink()
    link.write_timeout = 0.05
    with link:
        with pytest.raises(LinkTimeout):
            link.write(b"x")
    # (this backend spins on purpose; the base still ends the write at the stall timeout)


def test_argument_checks() -> None:
    with SerialLink("loop://") as link:
        with pytest.raises(ValueError):
            link.read(0)
        with pytest.raises(ValueError):
            link.read(1, timeout=-1)
    with pytest.raises(ValueError):
        SerialLink("loop://", write_timeout=-1)


def test_reopen_after_close_appends_to_captures(tmp_path) -> None:
    from hal.links import PcapReader

    link = SerialLink("loop://", capture_dir=tmp_path, capture_name="re")
    for n in range(2):
        with link:
            link.write_frame(b"frame%d" % n)
            assert read_exactly(link, 6) == b"frame%d" % n
    with PcapReader(tmp_path / "re.tx.pcap") as reader:
        assert [f for _, f in reader] == [b"frame0", b"frame1"]
    assert link.stats.frames_out == 2
