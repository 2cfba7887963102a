"""The one exception tree of ``hal``.

Every failure that untrusted bytes or a misbehaving link can cause is raised as a subclass of
:class:`HalError`, carrying a short machine-readable ``reason`` (the same string the statistics
count under), so callers can catch one type and still tell failures apart::

    HalError
    +-- ProtocolError            bytes that do not decode
    |   +-- TruncatedError       fewer bytes than the layout needs
    |   +-- HeaderError          a header field outside what the standard allows
    |   +-- LengthError          a length field that disagrees with the bytes or exceeds a maximum
    |   +-- CrcError             packet error control does not match
    |   +-- EncodeError          a value that cannot be encoded (out of range, too long)
    |   +-- SecurityError        a frame fails authentication (unknown key, MAC, replay)
    +-- LinkError                a byte link failed
        +-- LinkOpenError        the link could not be opened (bad URL, missing device, ...)
        +-- LinkClosed           the link is closed, or its device disappeared
        +-- LinkTimeout          nothing arrived within the timeout
"""

from __future__ import annotations


class HalError(Exception):
    """Base of every error raised by ``hal``.

    Attributes:
        reason: a short snake_case name of what went wrong, used as a statistics key.
    """

    default_reason = "hal_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason: str = reason or self.default_reason


class ProtocolError(HalError):
    """Bytes that do not decode under the declared wire format."""

    default_reason = "protocol_error"


class TruncatedError(ProtocolError):
    """Fewer bytes than the layout needs."""

    default_reason = "truncated"


class HeaderError(ProtocolError):
    """A header field holds a value the standard or the mission does not allow."""

    default_reason = "bad_header"


class LengthError(ProtocolError):
    """A length field disagrees with the bytes received, or exceeds the allowed maximum."""

    default_reason = "bad_length"


class CrcError(ProtocolError):
    """The packet error control field does not match the bytes received."""

    default_reason = "crc"


class EncodeError(ProtocolError):
    """A value cannot be encoded: out of its field's range, or data too long."""

    default_reason = "encode"


class SecurityError(ProtocolError):
    """A frame fails the space-link security checks: unknown key id, bad MAC, or a replay."""

    default_reason = "security"


class LinkError(HalError):
    """A byte link failed."""

    default_reason = "link_error"


class LinkOpenError(LinkError):
    """The link could not be opened: unknown URL scheme, missing device, refused connection."""

    default_reason = "open_failed"


class LinkClosed(LinkError):
    """The link is closed, or the device behind it disappeared (unplugged, pty closed, EOF)."""

    default_reason = "closed"


class LinkTimeout(LinkError):
    """Nothing (or not the awaited reply) arrived within the timeout."""

    default_reason = "timeout"


class StoreError(HalError):
    """A persisted store that cannot be read or written; the message names the file."""

    default_reason = "store"
