"""Open a link from its URL: the scheme picks the backend from a table of names.

The table maps a URL scheme to a ``"module:Class"`` string, imported only when a URL of that
scheme is opened, so importing ``hal.links`` never imports a backend (nor pyserial)::

    loop://                    SerialLink   (pyserial loopback, both ends in one object)
    socket://host:port         SerialLink   (pyserial raw TCP client)
    rfc2217://host:port        SerialLink   (pyserial RFC 2217 client)
    /dev/ttyUSB0, /dev/serial/by-id/..., /dev/pts/7   (no scheme)   SerialLink
    pty://[?name=foo]          PtyLink      (new pseudo-terminal pair; peer_path = other side)
    tcp-listen://host:port     TcpListenLink

More backends are added with :func:`register_backend`.
"""

from __future__ import annotations

import importlib
import re
import threading
from typing import Any, Final

from hal.errors import LinkOpenError
from hal.links.base import Link

__all__ = ["DEVICE_PATH_BACKEND", "backend_for", "known_schemes", "open_link", "register_backend"]

_SERIAL: Final = "hal.links.serial_link:SerialLink"
#: The backend of URLs without a scheme (device paths).
DEVICE_PATH_BACKEND: Final = _SERIAL

_BACKENDS: dict[str, str] = {
    "loop": _SERIAL,
    "socket": _SERIAL,
    "rfc2217": _SERIAL,
    "pty": "hal.links.pty_link:PtyLink",
    "tcp-listen": "hal.links.tcp_listen:TcpListenLink",
}
_LOCK = threading.Lock()
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def register_backend(scheme: str, target: str) -> None:
    """Make ``scheme://...`` URLs open with the class named by ``target``.

    Args:
        scheme: a URL scheme (letters, digits, ``+ . -``), case-insensitive; replaces any
            existing entry.
        target: ``"package.module:ClassName"`` of a :class:`~hal.links.base.Link` subclass whose
            constructor takes ``(url, **kwargs)``. Nothing is imported until a URL uses it.

    Raises:
        ValueError: malformed scheme or target.
    """
    if not _SCHEME.match(scheme):
        raise ValueError(f"not a URL scheme: {scheme!r}")
    if not _TARGET.match(target):
        raise ValueError(f"backend must be given as 'module:Class', not {target!r}")
    with _LOCK:
        _BACKENDS[scheme.lower()] = target


def known_schemes() -> list[str]:
    """The registered schemes, sorted."""
    with _LOCK:
        return sorted(_BACKENDS)


def _scheme_of(url: str) -> str | None:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else None


def backend_for(url: str) -> type[Link]:
    """Import and return the Link class that opens ``url``.

    Raises:
        LinkOpenError: unknown scheme (the message lists the known ones), or the backend cannot
            be imported or is not a Link.
    """
    scheme = _scheme_of(url)
    with _LOCK:
        target = DEVICE_PATH_BACKEND if scheme is None else _BACKENDS.get(scheme)
    if target is None:
        raise LinkOpenError(
            f"cannot open link {url!r}: unknown scheme {scheme!r}; known schemes: "
            f"{', '.join(known_schemes())}, or a device path",
            reason="unknown_scheme",
        )
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise LinkOpenError(
            f"cannot open link {url!r}: backend {target!r} is not available: {exc}",
            reason="backend_missing",
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Link)):
        raise LinkOpenError(f"cannot open link {url!r}: backend {target!r} is not a Link")
    return cls


def open_link(url: str, **kwargs: Any) -> Link:
    """Create the link for ``url`` and open it.

    Args:
        url: a device path or ``scheme://...`` (see the module docstring).
        **kwargs: passed to the backend's constructor: the :class:`~hal.links.base.Link` options
            (``capture_dir``, ``capture_name``, ``timestamp``, ``write_timeout``) and the
            backend's own (``baudrate`` for serial, ``symlink`` for pty...).

    Returns:
        The opened link; close it (or use it as a context manager).

    Raises:
        LinkOpenError: unknown scheme, missing backend, or the device cannot be opened; the
            message names the URL and the cause.
        TypeError: an option the backend does not take.
    """
    link = backend_for(url)(url, **kwargs)
    link.open()
    return link
