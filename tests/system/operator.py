"""How the system tests run ``msr``: as an operator would, one process per command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def msr(*args: str, cwd: Path, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run ``msr ARGS`` in ``cwd``; its exit status and output (``timeout`` only bounds a hang:
    a whole campaign fits in it)."""
    return subprocess.run(
        [sys.executable, "-m", "ground_tools.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
