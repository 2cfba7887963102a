"""Opening links by URL."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hal.errors import LinkOpenError
from hal.links import Link, backend_for, known_schemes, open_link, register_backend
from hal.links.pty_link import PtyLink
from hal.links.serial_link import SerialLink
from hal.links.tcp_listen import TcpListenLink


@pytest.mark.parametrize(
    ("url", "cls"),
    [
        ("loop://", SerialLink),
        ("socket://127.0.0.1:1", SerialLink),
        ("rfc2217://127.0.0.1:1", SerialLink),
        ("/dev/ttyUSB0", SerialLink),
        ("/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0", SerialLink),
        ("/dev/pts/7", SerialLink),
        ("pty://", PtyLink),
        ("PTY://?name=x", PtyLink),
        ("tcp-listen://127.0.0.1:0", TcpListenLink),
    ],
)
def test_backend_for(url, cls) -> None:
    assert backend_for(url) is cls


def test_open_link_returns_an_open_link() -> None:
    link = open_link("loop://", baudrate=9600)
    try:
        assert isinstance(link, SerialLink)
        assert link.is_open
        assert link.baudrate == 9600
    finally:
        link.close()


def test_unknown_scheme_names_it_and_the_known_ones() -> None:
    with pytest.raises(LinkOpenError) as info:
        open_link("carrier-pigeon://coop")
    message = str(info.value)
    assert "carrier-pigeon" in message
    for scheme in ("loop", "pty", "socket", "tcp-listen"):
        assert scheme in message
    assert info.value.reason == "unknown_scheme"


def test_missing_device_path_names_the_path(tmp_path) -> None:
    path = str(tmp_path / "serial" / "by-id" / "usb-not-plugged-in")
    with pytest.raises(LinkOpenError) as info:
        open_link(path)
    assert path in str(info.value)


def test_refused_socket_names_the_url() -> None:
    with TcpListenLink("tcp-listen://127.0.0.1:0") as server:
        port = server.address[1]
    with pytest.raises(LinkOpenError) as info:
        open_link(f"socket://127.0.0.1:{port}")
    assert f"socket://127.0.0.1:{port}" in str(info.value)


@pytest.mark.parametrize(
    "url", ["pty://x", "pty://?bogus=1", "tcp-listen://127.0.0.1", "tcp-listen://:99999"]
)
def test_malformed_urls(url) -> None:
    with pytest.raises(LinkOpenError) as info:
        open_link(url)
    assert url in str(info.value)


def test_register_backend() -> None:
    register_backend("loop2", "hal.links.serial_link:SerialLink")
    assert "loop2" in known_schemes()
    assert backend_for("loop2://") is SerialLink
    register_backend("nowhere", "hal.links.does_not_exist:Nope")
    with pytest.raises(LinkOpenError) as info:
        open_link("nowhere://")
    assert "hal.links.does_not_exist:Nope" in str(info.value)
    register_backend("notalink", "builtins:dict")
    with pytest.raises(LinkOpenError):
        backend_for("notalink://")
    with pytest.raises(ValueError):
        register_backend("bad scheme", "a:B")
    with pytest.raises(ValueError):
        register_backend("ok", "no_colon_here")
    assert issubclass(backend_for("loop://"), Link)


def test_importing_hal_links_imports_no_backend() -> None:
    code = (
        "import sys, hal.links\n"
        "bad = [m for m in ('serial', 'hal.links.serial_link', 'hal.links.pty_link',"
        " 'hal.links.tcp_listen', 'construct', 'crcmod') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
