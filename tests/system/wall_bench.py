"""What the wall-clock system tests share: the shipped bench turned to the wall clock with some
boards on real ports, and whether a process of it still runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BENCH = ROOT / "hal" / "benches" / "default.toml"


def wall_bench(tmp_path: Path, name: str = "wall.toml", **ports: str) -> Path:
    """The shipped bench on the wall clock: every board and radio emulated, but for the boards
    given a real ``port`` (board name -> path); written as ``tmp_path / name``."""
    text = DEFAULT_BENCH.read_text(encoding="utf-8")
    text, changed = re.subn(r'(?m)^clock = "sim"', 'clock = "wall"', text)
    assert changed == 1, "the shipped bench names its clock once"
    for board, port in ports.items():
        text, changed = re.subn(
            rf'(?m)^(\[boards\.{board}\]\nnode = "\w+"\n)port = "sim"', rf'\1port = "{port}"', text
        )
        assert changed == 1, board
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def alive(pid: int) -> bool:
    """The process runs (a zombie, never ours to reap, has ended its work)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
