"""Counters that survive a restart: the space link's anti-replay sequence numbers and FARM-1's
V(R), until the flight software's non-volatile store takes them over.

File format, UTF-8 JSON, rewritten whole at every change::

    {"counters": {"<name>": <non-negative int>, ...}, "crc32": <zlib.crc32 of the counters>}

where the CRC is over the canonical JSON of ``counters`` (sorted keys, no spaces). A write goes
to a temporary file in the same folder, is flushed to the disk (``fsync``) and renamed over the
old file, so a process killed at any instant leaves either the old or the new content, never a
mixture. A file that exists but does not parse or whose CRC does not match raises
:class:`~hal.errors.StoreError`: falling back to zero would reopen every old sequence number, so
the owner must decide (and say so in an event).

:func:`load_or_create_secret` keeps a run's secret in a file (the seed of the SIL challenge
nonces, decision 0023): made once, atomically, readable by its owner only.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from hal.errors import StoreError

__all__ = ["NONCE_SEED_FILE", "CounterStore", "load_or_create_secret"]

NONCE_SEED_FILE = "nonce_seed.key"
"""The run's secret from which a SIL node derives its challenge nonces, beside ``keys.json`` in
the run folder (decision 0023): kept, so a run stays reproducible from its folder; new for every
run folder, so a node started with an earlier run's key file never presents that run's nonces."""


def _canonical(counters: Mapping[str, int]) -> bytes:
    return json.dumps(dict(counters), sort_keys=True, separators=(",", ":")).encode()


class CounterStore:
    """Named non-negative integer counters in one file, written atomically.

    Args:
        path: the file; its folder must exist. A missing file is an empty store.
        durable: ``fsync`` each write and the folder after the rename (turn off only for tests
            that do not kill processes).

    Raises (from the constructor and :meth:`set`):
        StoreError: the file is corrupt, or cannot be read or written.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self._counters: dict[str, int] = self._load()
        self.writes = 0

    def _load(self) -> dict[str, int]:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read: {exc.strerror}") from exc
        try:
            document = json.loads(text)
            counters = document["counters"]
            crc = document["crc32"]
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"{self.path}: not a counter store ({exc})", reason="corrupt") from exc
        if not isinstance(counters, dict) or not all(
            isinstance(k, str) and type(v) is int and v >= 0 for k, v in counters.items()
        ):
            raise StoreError(f"{self.path}: counters must be names with non-negative integers",
                             reason="corrupt")  # fmt: skip
        if zlib.crc32(_canonical(counters)) != crc:
            raise StoreError(f"{self.path}: checksum does not match its counters", reason="corrupt")
        return counters

    def get(self, name: str, default: int | None = None) -> int | None:
        """The counter's stored value, or ``default`` when it was never set."""
        return self._counters.get(name, default)

    def items(self, prefix: str = "") -> dict[str, int]:
        """Every counter whose name starts with ``prefix``."""
        return {k: v for k, v in self._counters.items() if k.startswith(prefix)}

    def set(self, name: str, value: int) -> None:
        """Store one counter; the new value is on the disk when this returns."""
        self.update({name: value})

    def update(self, values: Mapping[str, int]) -> None:
        """Store several counters in one atomic write."""
        for name, value in values.items():
            if type(value) is not int or value < 0:
                raise StoreError(f"{self.path}: counter {name!r} = {value!r} is not a count",
                                 reason="bad_value")  # fmt: skip
        counters = {**self._counters, **values}
        body = _canonical(counters)
        text = json.dumps({"counters": counters, "crc32": zlib.crc32(body)}, sort_keys=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
                if self.durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            if self.durable:
                folder = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(folder)
                finally:
                    os.close(folder)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write: {exc.strerror}") from exc
        self._counters = counters
        self.writes += 1


def load_or_create_secret(
    path: str | os.PathLike[str], size: int = 32, token_bytes: Callable[[int], bytes] = os.urandom
) -> bytes:
    """The secret in ``path`` (hex text), made of ``token_bytes(size)`` if the file does not
    exist yet. Several processes may call this at once: the file is written whole under a
    temporary name (mode 0600) and linked into place, so every caller reads the same secret.

    Raises:
        StoreError: the file cannot be read or made, or does not hold ``size`` octets in hex.
    """
    target = Path(path)
    if not target.exists():
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(token_bytes(size).hex() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, target)  # fails if another process made it first: theirs stands
            except FileExistsError:
                pass
        except OSError as exc:
            raise StoreError(f"{target}: cannot make the secret: {exc.strerror}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    try:
        secret = bytes.fromhex(target.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{target}: not a secret of {size} octets in hex", reason="corrupt"
        ) from exc
    if len(secret) != size:
        raise StoreError(f"{target}: not a secret of {size} octets in hex", reason="corrupt")
    return secret
