"""A node's configuration: its app set, its schedule, its stored sequences and its fault tables.

Read from TOML (``fsw/config/<node>.toml`` by default), never edited into code. Format::

    [[rate_groups]]                    # in run order when due together
    name = "fast"
    period = 0.1                       # seconds
    idle_period = 1.0                  # optional: seconds between runs while no member is busy
    components = ["modes", "gate", "schedule", "seq", "events"]

    [apps]                             # extra components: name -> "module:Class"
    # sta = "fsw.apps.sta:SampleTransferArm"

    [[sequences]]                      # stored relative sequences, by index (seq.start N)
    name = "status_burst"
    steps = [{ delay = 0.0, command = "hk.report", args = { sid = 1 } }]

    [fdir]                             # fault protection tables (fsw.core.fdir)
    monitors = [ ... ]
    responses = [ ... ]

Every error is a :class:`ConfigError` with a one-line message naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "GroupConfig", "NodeConfig", "SequenceStep", "load_config"]


class ConfigError(Exception):
    """A node configuration that cannot be used (one line naming file and key)."""


@dataclass(frozen=True)
class GroupConfig:
    """One rate group: name, period (s), component names in run order, and the period while
    none of them is busy (None: always ``period``)."""

    name: str
    period: float
    components: tuple[str, ...]
    idle_period: float | None = None


@dataclass(frozen=True)
class SequenceStep:
    """One step of a stored sequence: delay after the previous step, command name, arguments."""

    delay: float
    command: str
    args: dict[str, Any]


@dataclass(frozen=True)
class NodeConfig:
    """A node's configuration (see the module docstring)."""

    node: str
    groups: tuple[GroupConfig, ...]
    apps: dict[str, str] = field(default_factory=dict)
    sequences: tuple[tuple[str, tuple[SequenceStep, ...]], ...] = ()
    fdir: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def default_config_path(node: str) -> Path:
    """The configuration shipped for ``node``."""
    return Path(str(resources.files("fsw") / "config" / f"{node}.toml"))


def load_config(node: str, path: str | Path | None = None) -> NodeConfig:
    """Read and check a node configuration.

    Raises:
        ConfigError: unreadable, not TOML, or a key missing, unknown or of the wrong type.
    """
    file = Path(path) if path is not None else default_config_path(node)
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not TOML: {exc}") from None
    return parse_config(node, doc, str(file))


def parse_config(node: str, doc: dict[str, Any], source: str = "config") -> NodeConfig:
    """Check a configuration document (see :func:`load_config`)."""

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {why}")

    unknown = set(doc) - {"rate_groups", "apps", "sequences", "fdir"}
    if unknown:
        raise fail(sorted(unknown)[0], "unknown key")
    groups = []
    for i, row in enumerate(_table_list(doc, "rate_groups", fail, required=True)):
        key = f"rate_groups[{i}]"
        extra = set(row) - {"name", "period", "components", "idle_period"}
        if extra:
            raise fail(key, f"unknown key {sorted(extra)}")
        name, period, members = row.get("name"), row.get("period"), row.get("components")
        idle = row.get("idle_period")
        if not isinstance(name, str) or not name:
            raise fail(f"{key}.name", "must be a non-empty string")
        if not isinstance(period, int | float) or isinstance(period, bool) or not period > 0:
            raise fail(f"{key}.period", f"must be a number of seconds > 0, not {period!r}")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise fail(f"{key}.components", "must be a list of component names")
        if idle is not None and (
            not isinstance(idle, int | float) or isinstance(idle, bool) or not idle >= period
        ):
            raise fail(f"{key}.idle_period", f"must be seconds >= the period, not {idle!r}")
        groups.append(
            GroupConfig(name, float(period), tuple(members), None if idle is None else float(idle))
        )
    apps = doc.get("apps", {})
    if not isinstance(apps, dict) or not all(
        isinstance(v, str) and ":" in v for v in apps.values()
    ):
        raise fail("apps", 'must map names to "module:Class"')
    sequences = []
    for i, row in enumerate(_table_list(doc, "sequences", fail)):
        key = f"sequences[{i}]"
        name, steps = row.get("name"), row.get("steps")
        if not isinstance(name, str) or not name or not isinstance(steps, list) or not steps:
            raise fail(key, "needs a name and a non-empty list of steps")
        parsed = []
        for j, step in enumerate(steps):
            delay, command, args = step.get("delay", 0.0), step.get("command"), step.get("args", {})
            if not isinstance(delay, int | float) or delay < 0:
                raise fail(f"{key}.steps[{j}].delay", "must be seconds >= 0")
            if not isinstance(command, str) or not isinstance(args, dict):
                raise fail(f"{key}.steps[{j}]", "needs a command name and an args table")
            parsed.append(SequenceStep(float(delay), command, dict(args)))
        sequences.append((name, tuple(parsed)))
    fdir = doc.get("fdir", {})
    if not isinstance(fdir, dict):
        raise fail("fdir", "must be a table of monitors and responses")
    return NodeConfig(node, tuple(groups), dict(apps), tuple(sequences), dict(fdir), source)


def _table_list(doc: dict[str, Any], key: str, fail: Any, required: bool = False) -> list[Any]:
    rows = doc.get(key, [])
    if (required and not rows) or not isinstance(rows, list):
        raise fail(key, "must be a non-empty array of tables" if required else "must be an array")
    if not all(isinstance(r, dict) for r in rows):
        raise fail(key, "must be an array of tables")
    return rows
