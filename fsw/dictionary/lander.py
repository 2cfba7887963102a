"""The lander node's app declarations (filled in by its apps' issue)."""

from __future__ import annotations

from fsw.dictionary.model import AppDeclarations


def declare(apps: AppDeclarations) -> None:
    """Declare the lander's app commands, packets, events and parameters into ``apps``."""
