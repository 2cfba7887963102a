"""Bench files: what the three nodes run on, read from TOML into a typed, validated model.

A bench file says, for one run, which boards and radios are emulated and which are real, how
time advances, where the space-link keys are and which faults to inject when. The composition
roots (``msr``, ``python -m sim_hardware``, ``python -m fsw``) read it with :func:`load_bench`;
nothing else names a port. The default bench, :func:`default_bench_path`, ships with the package
and emulates everything. Format (every key below is known; any other key is an error)::

    seed = 1                     # int 0..2^63-1, required: same seed, same bench, same telemetry
    clock = "sim"                # "sim" (lockstep simulated time) or "wall" (paced, for HIL):
                                 # a bench with a real board or radio must say "wall"
    tick = 0.1                   # seconds per cycle, 0.001..60 (10 Hz)
    duration_limit = 3600.0      # optional: simulated seconds (0, 1e9] after which the run stops
    keys = "generate"            # required: "generate", or the path of a key file
    runs_dir = "runs"            # run folders go here (relative to the working directory)
    archive = "sqlite"           # the ground archive

    [nodes.lander]               # one table per node: lander, mav, orbiter (at least one)
    radio = "sim"                # "sim" (the space-link emulator) or a serial port / URL
    radio_baud = 115200          # a real radio's rate (both ends), a standard baud rate
    ground = "/dev/ttyUSB9"      # a real radio only: the ground station's end (port / URL)
    scid = 0x2A1                 # spacecraft id, 0..1023, distinct per node
    spi = 1                      # key id of this node's uplink, 0..65535, distinct per node
    light_time = 0.0             # one-way light time, seconds, 0..3600 (space-link emulator)
    bit_error_rate = 0.0         # probability per bit, 0..1 (space-link emulator)
    blackouts = [[600.0, 900.0]] # [start, end] simulated seconds without a link (at most 1000)
    [nodes.lander.space_link]    # optional: SpaceLinkConfig fields other than scid
    t1 = 2.0

    [boards.sta_arm]             # one table per board present on the bench
    node = "lander"              # the node that owns it (must agree with BOARD_NODES)
    port = "sim"                 # "sim" (a pty served by the simulator) or a real port
    baud = 115200                # a standard rate, 9600..4000000
    usb_serial = "A50285BI"      # optional: the USB serial number that finds the board again

    [[faults]]                   # the fault schedule, in any order (at most 1000 entries)
    at = 120.0                   # simulated seconds, 0..1e9
    target = "sta_arm"           # a board, "board.device", or "link:<node>"
    kind = "stall"               # one of FAULT_KINDS
    duration = 5.0               # optional, (0, 1e9]; absent: until cleared
    params = { index = 2 }       # optional: at most 16 name = boolean, integer, number or
                                 # short string; their meaning is checked by the board

Keys: a bench file names a key file and never holds a key. ``keys = "generate"`` (the default
bench) means the tools write a fresh random key file, :data:`KEY_FILE_NAME` in the run folder,
at the start of each run (:func:`new_key_file_text`), with one key per node's SPI; the file lives
only as long as the run folder. Any other value is a path, relative to the bench file's folder,
of a file ``{"keys": {"<spi>": "<hex>"}}`` (:func:`hal.protocol.sdls.parse_key_file`); it is read
by :meth:`Bench.read_keys`, not when the bench is loaded.

Every error is a :class:`BenchError` whose message is one line naming the file and the field
(``bench.toml: boards.sta_arm.baud: 12345 is not a standard baud rate (9600, ...)``). This module
reads the bench file and the key file, and does nothing else: no clock, no port, no process.

A bench file is hostile input (decision 0030): a file larger than :data:`MAX_BENCH_BYTES` is
refused before it is parsed, and every value is bounded, so that nothing a bench file says can
overflow the lockstep's time conversion or make a process allocate or loop without end. Times
and spans are at most :data:`MAX_SECONDS` (as on the control ports, :mod:`hal.schema`); strings
at most :data:`MAX_NAME` characters (names, targets) or :data:`MAX_PATH` (ports and paths);
lists at most :data:`MAX_BLACKOUTS` and :data:`MAX_FAULTS` entries; a fault at most
:data:`MAX_PARAMS` parameters of the back door's own kinds and bounds (decision 0028).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

from hal.errors import HalError
from hal.links.space_link import SpaceLinkConfig
from hal.protocol.sdls import KeyFileError, parse_key_file

__all__ = [
    "ARCHIVES",
    "BAUD_RATES",
    "BOARD_NODES",
    "CLOCKS",
    "DEVICE_FAULTS",
    "EMULATED",
    "FAULT_KINDS",
    "GENERATE_KEYS",
    "KEY_FILE_NAME",
    "KEY_SIZE",
    "LINK_FAULTS",
    "MAX_BENCH_BYTES",
    "MAX_BLACKOUTS",
    "MAX_FAULTS",
    "MAX_LIGHT_TIME",
    "MAX_NAME",
    "MAX_PARAMS",
    "MAX_PARAM_NUMBER",
    "MAX_PARAM_TEXT",
    "MAX_PATH",
    "MAX_SECONDS",
    "MAX_SEED",
    "MAX_TICK",
    "MIN_TICK",
    "NODES",
    "PORT_SCHEMES",
    "Bench",
    "BenchError",
    "BoardSpec",
    "FaultSpec",
    "NodeSpec",
    "default_bench_path",
    "load_bench",
    "new_key_file_text",
    "parse_bench",
]

NODES: Final = ("lander", "mav", "orbiter")
"""The nodes of the mission, in the order they are listed."""

BOARD_NODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sta_arm": "lander",
        "sta_vision": "lander",
        "os_container": "lander",
        "igloo": "lander",
        "mav_avionics": "mav",
        "mav_pyro": "mav",
        "nac_camera": "orbiter",
        "capture": "orbiter",
        "orient": "orbiter",
        "braze": "orbiter",
        "ees_gantry": "orbiter",
    }
)
"""Every board of the mission and the node that owns it."""

EMULATED: Final = "sim"
"""The ``port`` of an emulated board and the ``radio`` of an emulated space link."""

CLOCKS: Final = ("sim", "wall")
ARCHIVES: Final = ("sqlite",)
GENERATE_KEYS: Final = "generate"
"""``keys`` value: the tools write a fresh key file into the run folder at start."""
KEY_FILE_NAME: Final = "keys.json"
"""The name of the generated key file in the run folder."""
KEY_SIZE: Final = 32
"""Octets of each generated key (HMAC-SHA-256 takes a 32-octet key at full strength)."""

BAUD_RATES: Final = (
    9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
    1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000,
)  # fmt: skip
"""The standard (termios) rates a board may run at."""
DEFAULT_BAUD: Final = 115200
DEFAULT_TICK: Final = 0.1
PORT_SCHEMES: Final = ("socket", "rfc2217")
"""URL schemes of a real port; anything else must be a device path or ``"sim"``."""

DEVICE_FAULTS: Final = frozenset(
    {
        "stall", "stuck", "bias", "noise", "no_reply", "late_reply", "garbage", "reply_lost",
        "request_lost",
        "grasp_slip", "not_seated", "heater_zone_failure", "igniter_no_fire", "trigger_miss",
        "braze_under_temperature", "seal_leak", "lid_not_latched", "serial_unreadable",
        "ambiguous_orientation", "open_circuit", "imu_rate_spike", "partial_capture",
    }
)  # fmt: skip
"""Faults of a board or of one device: target ``board`` or ``board.device``."""
LINK_FAULTS: Final = frozenset(
    {"drop", "bit_flips", "duplicate", "delay", "blackout", "baud_throttle"}
)
"""Faults of a link: target a board (its serial link) or ``link:<node>`` (a space link)."""
FAULT_KINDS: Final = DEVICE_FAULTS | LINK_FAULTS

MAX_BENCH_BYTES: Final = 1 << 20
"""The largest bench file read (1 MiB; the default bench is about 3 KiB): a larger one is
refused before it is parsed."""
MAX_SECONDS: Final = 1e9
"""The latest simulated time and the longest span a bench file may name (about 31 years): the
same bound as the control ports' (:data:`hal.schema.MAX_SECONDS`, kept equal by a test), so a
fault's start plus its duration stays far inside the timing ICD's
:data:`~hal.protocol.timing.MAX_TIME_US`."""
MIN_TICK: Final = 0.001
"""The shortest cycle: 1 ms (a 1 kHz rate group)."""
MAX_TICK: Final = 60.0
"""The longest cycle: one minute."""
MAX_SEED: Final = (1 << 63) - 1
"""The largest seed (a signed 64-bit integer, as TOML's own integers)."""
MAX_LIGHT_TIME: Final = 3600.0
"""The longest one-way light time: an hour, three times Mars's longest (the simulator's
longest link delay, ``sim_hardware.faults.MAX_LINK_DELAY``)."""
MAX_NAME: Final = 128
"""The longest name, target or USB serial number."""
MAX_PATH: Final = 4096
"""The longest port, URL or path (Linux's PATH_MAX)."""
MAX_BLACKOUTS: Final = 1000
"""Most blackouts of one node (the emulator checks every frame against each)."""
MAX_FAULTS: Final = 1000
"""Most entries of the fault schedule."""
MAX_PARAMS: Final = 16
"""Most parameters of one fault (as the back door's ``inject``, decision 0028)."""
MAX_PARAM_TEXT: Final = 64
"""The longest string parameter of a fault (as the back door's)."""
MAX_PARAM_NUMBER: Final = 1e12
"""The largest magnitude of a number parameter of a fault (as the back door's)."""
MAX_PARAM_INT: Final = (1 << 63) - 1
"""The largest magnitude of an integer parameter of a fault (as the back door's)."""
_MAX_LINK_INT: Final = 0xFFFF_FFFF
"""The largest integer of a node's ``space_link`` table (windows, limits, queue sizes)."""

_TOP_KEYS: Final = ("seed", "clock", "tick", "duration_limit", "keys", "runs_dir", "archive",
                    "nodes", "boards", "faults")  # fmt: skip
_NODE_KEYS: Final = ("radio", "radio_baud", "ground", "scid", "spi", "light_time",
                     "bit_error_rate", "blackouts", "space_link")  # fmt: skip
_BOARD_KEYS: Final = ("node", "port", "baud", "usb_serial")
_FAULT_KEYS: Final = ("at", "target", "kind", "duration", "params")
_LINK_PREFIX: Final = "link:"
_IDENTIFIER: Final = re.compile(r"^[a-z_][a-z0-9_]*$")
_PARAM_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_LOOKS_LIKE_KEY: Final = re.compile(r"^(0x)?[0-9a-fA-F]{32,}$")
_SHOW_MAX: Final = 60

ParamValue = int | float | str | bool


class BenchError(HalError):
    """A bench file that cannot be used; the one-line message names the file and the field."""

    default_reason = "bad_bench"


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """One node: its radio and its space link.

    Attributes:
        name: ``lander``, ``mav`` or ``orbiter``.
        radio: ``"sim"`` (served by the simulator's space-link emulator), or the device path or
            URL of a real radio.
        radio_baud: the line rate of a real radio's two ends (one of :data:`BAUD_RATES`).
        ground: the ground station's end of a real radio (the port of the ground-support
            equipment, or a ``socket://`` URL), or None: the station then leaves the node out.
        scid: spacecraft id, 0..1023, distinct per node.
        spi: key id (SPI) of this node's uplink, 0..65535, distinct per node.
        space_link: the space-link parameters, ``scid`` included.
        light_time: one-way light time, seconds, added by the space-link emulator.
        bit_error_rate: probability that the emulator inverts each bit, 0..1.
        blackouts: ``(start, end)`` simulated seconds in which the emulator passes nothing.
    """

    name: str
    radio: str
    scid: int
    spi: int
    space_link: SpaceLinkConfig
    radio_baud: int = DEFAULT_BAUD
    ground: str | None = None
    light_time: float = 0.0
    bit_error_rate: float = 0.0
    blackouts: tuple[tuple[float, float], ...] = ()

    @property
    def emulated_radio(self) -> bool:
        """True when the simulator's space-link emulator serves this node's radio."""
        return self.radio == EMULATED


@dataclass(frozen=True, kw_only=True)
class BoardSpec:
    """One board: which node owns it and where it is.

    Attributes:
        name: the board's name (a key of :data:`BOARD_NODES`).
        node: the node that owns it.
        port: ``"sim"`` (a pty served by the simulator), a device path (``/dev/ttyUSB0``,
            ``/dev/serial/by-id/...``) or a ``socket://`` / ``rfc2217://`` URL.
        baud: one of :data:`BAUD_RATES`.
        usb_serial: the USB serial number that identifies the real board when it comes back
            under another device path, or None.
    """

    name: str
    node: str
    port: str
    baud: int = DEFAULT_BAUD
    usb_serial: str | None = None

    @property
    def emulated(self) -> bool:
        """True when the simulator emulates this board."""
        return self.port == EMULATED


@dataclass(frozen=True, kw_only=True)
class FaultSpec:
    """One entry of the fault schedule.

    Attributes:
        at: simulated seconds from the start of the run, >= 0.
        target: a board (``sta_arm``), one device of a board (``sta_arm.wrist``), or a node's
            space link (``link:mav``).
        kind: one of :data:`FAULT_KINDS`.
        duration: seconds the fault lasts, > 0; None until cleared.
        params: kind-specific parameters (numbers, strings, booleans), passed through.
    """

    at: float
    target: str
    kind: str
    duration: float | None = None
    params: Mapping[str, ParamValue] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    @property
    def board(self) -> str | None:
        """The board targeted (also for a device target), or None for a space link."""
        return None if self.target.startswith(_LINK_PREFIX) else self.target.partition(".")[0]

    @property
    def device(self) -> str | None:
        """The device of a ``board.device`` target, else None."""
        if self.board is None:
            return None
        return self.target.partition(".")[2] or None

    @property
    def link_node(self) -> str | None:
        """The node of a ``link:<node>`` target, else None."""
        return self.target.removeprefix(_LINK_PREFIX) if self.board is None else None

    @property
    def end(self) -> float | None:
        """When the fault clears by itself, or None."""
        return None if self.duration is None else self.at + self.duration


@dataclass(frozen=True, kw_only=True)
class Bench:
    """One bench, validated: everything the composition roots need to start a run.

    Built by :func:`parse_bench` (which checks every field); constructing one by hand skips the
    checks. Mappings keep the order of the file.

    Attributes:
        source: the file it was read from, as named in error messages.
        seed: seed of every random generator of the run.
        clock: ``"sim"`` (lockstep simulated time) or ``"wall"`` (paced to real time).
        tick: seconds per cycle.
        duration_limit: simulated seconds after which the run stops, or None.
        keys: the key file (absolute when the bench was loaded from a file), or None when the
            tools generate one per run (``keys = "generate"``).
        runs_dir: where run folders go, as written (relative to the working directory).
        archive: the ground archive backend.
        nodes: node name -> :class:`NodeSpec`.
        boards: board name -> :class:`BoardSpec`.
        faults: the fault schedule, in file order.
    """

    source: str
    seed: int
    keys: Path | None
    nodes: Mapping[str, NodeSpec] = field(hash=False)
    boards: Mapping[str, BoardSpec] = field(hash=False)
    faults: tuple[FaultSpec, ...] = ()
    clock: str = "sim"
    tick: float = DEFAULT_TICK
    duration_limit: float | None = None
    runs_dir: Path = Path("runs")
    archive: str = "sqlite"

    def boards_of(self, node: str) -> tuple[BoardSpec, ...]:
        """The boards of ``node`` on this bench, in file order."""
        return tuple(b for b in self.boards.values() if b.node == node)

    @property
    def emulated_boards(self) -> tuple[BoardSpec, ...]:
        """The boards the simulator emulates."""
        return tuple(b for b in self.boards.values() if b.emulated)

    @property
    def real_boards(self) -> tuple[BoardSpec, ...]:
        """The boards on real ports."""
        return tuple(b for b in self.boards.values() if not b.emulated)

    @property
    def hardware_in_the_loop(self) -> bool:
        """True when any board or radio is real."""
        return bool(self.real_boards) or not all(n.emulated_radio for n in self.nodes.values())

    @property
    def generates_keys(self) -> bool:
        """True when the tools write a fresh key file into each run folder."""
        return self.keys is None

    def key_file(self, run_dir: str | os.PathLike[str]) -> Path:
        """The key file of a run in ``run_dir``: the bench's, or the generated one."""
        return Path(run_dir) / KEY_FILE_NAME if self.keys is None else self.keys

    def read_keys(self, run_dir: str | os.PathLike[str] | None = None) -> dict[int, bytes]:
        """Read the key file (the generated one needs ``run_dir``) and check it holds the key
        of every node's SPI.

        Raises:
            BenchError: no ``run_dir`` for a generated key file, the file cannot be read, is
                larger than :data:`MAX_BENCH_BYTES` or cannot be parsed, or a node's key is
                missing; the message names the file.
        """
        if self.keys is None and run_dir is None:
            raise BenchError(
                f"{self.source}: keys: the key file is generated into the run folder; "
                "give the run folder to read it"
            )
        path = self.key_file(run_dir or ".")
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_BENCH_BYTES + 1)  # a key file is a few hundred octets
            if len(data) > MAX_BENCH_BYTES:
                raise ValueError(f"larger than {MAX_BENCH_BYTES} octets (1 MiB), not a key file")
            text = data.decode("utf-8")
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            raise BenchError(f"{path}: cannot read the key file: {_why(exc)}") from None
        try:
            keys = parse_key_file(text, source=str(path))
        except KeyFileError as exc:
            raise BenchError(str(exc)) from None
        for node in self.nodes.values():
            if node.spi not in keys:
                raise BenchError(f"{path}: no key for SPI {node.spi} (nodes.{node.name}.spi)")
        return keys


def new_key_file_text(
    spis: Iterable[int], token_bytes: Callable[[int], bytes] = secrets.token_bytes
) -> str:
    """The text of a fresh key file with one random key per SPI (``keys = "generate"``).

    The caller writes it into the run folder as :data:`KEY_FILE_NAME`, readable by its owner
    only (mode 0600).
    """
    keys = {str(spi): token_bytes(KEY_SIZE).hex() for spi in sorted(set(spis))}
    return json.dumps({"keys": keys}, indent=2) + "\n"


def default_bench_path() -> Path:
    """The default bench shipped with the package: every board and radio emulated."""
    return Path(str(resources.files("hal") / "benches" / "default.toml"))


def load_bench(path: str | os.PathLike[str]) -> Bench:
    """Read and validate the bench file at ``path``; a relative key path is resolved against
    the file's folder.

    Raises:
        BenchError: the file cannot be read, is larger than :data:`MAX_BENCH_BYTES`, is not
            UTF-8 or not TOML, or a field is missing, unknown or invalid; the one-line message
            names the file and the field.
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BENCH_BYTES + 1)  # never more, whatever the file claims
    except OSError as exc:
        raise BenchError(f"{source}: cannot read the bench file: {_why(exc)}") from None
    if len(data) > MAX_BENCH_BYTES:
        raise BenchError(f"{source}: cannot read the bench file: larger than "
                         f"{MAX_BENCH_BYTES} octets (1 MiB), not a bench file")  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BenchError(
            f"{source}: cannot read the bench file: not UTF-8 (line {line}, octet {exc.start})"
        ) from None
    return parse_bench(text, source, base=Path(path).absolute().parent)


def parse_bench(text: str, source: str = "bench file", *, base: Path | None = None) -> Bench:
    """Validate bench-file ``text``; ``source`` names it in errors.

    Args:
        text: the TOML text.
        source: the file name used in error messages and kept as :attr:`Bench.source`.
        base: the folder a relative key path is resolved against; None keeps it as written.

    Raises:
        BenchError: longer than :data:`MAX_BENCH_BYTES` characters, not TOML, or a field
            missing, unknown or invalid (see :func:`load_bench`).
    """
    if len(text) > MAX_BENCH_BYTES:
        raise BenchError(f"{source}: longer than {MAX_BENCH_BYTES} characters (1 MiB), "
                         "not a bench file")  # fmt: skip
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{source}: not valid TOML: {exc}") from None
    except ValueError:  # an integer literal beyond Python's conversion limit (4300 digits)
        raise BenchError(f"{source}: not valid TOML: an integer too long to read") from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise BenchError(f"{source}: not valid TOML: arrays or tables nested too deep") from None
    return _Parser(source, base).bench(document)


# ---------------------------------------------------------------------------------- parsing


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _show(value: object) -> str:
    """A value as the bench file would write it, on one line and not too long (whatever its
    size: a huge integer, a long string or a deep array is shown by its start)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, int) and value.bit_length() > 64:
        text = f"a {value.bit_length()}-bit integer"
    elif isinstance(value, str):
        text = json.dumps(value[: _SHOW_MAX + 1])
    elif isinstance(value, list):
        try:
            text = json.dumps(value, default=str)
        except (ValueError, RecursionError):  # a huge integer, or nesting deep inside it
            text = "an array"
    else:
        text = str(value)
    return text if len(text) <= _SHOW_MAX else text[: _SHOW_MAX - 3] + "..."


def _key(name: str) -> str:
    """A key of the file as a part of a field path: bare when TOML writes it bare, else quoted
    (and cut), so a key cannot make a message long or split it over lines."""
    return name if _BARE_KEY.match(name) else _show(name)


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"


class _Parser:
    """Reads one document; every check raises a :class:`BenchError` naming the field path."""

    def __init__(self, source: str, base: Path | None) -> None:
        self.source = source
        self.base = base

    def fail(self, where: str, message: str) -> NoReturn:
        raise BenchError(
            f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}"
        )

    # ------------------------------------------------------------------ shapes

    def table(self, value: object, where: str, what: str = "a table") -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be {what}, not {_show(value)}")
        return value

    def known(self, table: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
        keys = tuple(keys)
        for key in table:
            if key not in keys:
                place = f"in {where}" if where else "at top level"
                close = difflib.get_close_matches(key[:_SHOW_MAX], keys, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                shown = repr(key) if len(key) <= _SHOW_MAX else repr(key[:_SHOW_MAX]) + "..."
                raise BenchError(
                    f"{self.source}: unknown key {shown} {place} ({hint}known: {', '.join(keys)})"
                )

    def required(self, table: Mapping[str, Any], key: str, where: str, what: str) -> Any:
        if key not in table:
            self.fail(f"{where}.{key}" if where else key, f"is required: {what}")
        return table[key]

    # ------------------------------------------------------------------ values

    def integer(self, value: object, where: str, lo: int, hi: int | None = None) -> int:
        what = f"an integer in {lo}..{hi}" if hi is not None else f"an integer >= {lo}"
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(where, f"must be {what}, not {_show(value)}")
        if value < lo or (hi is not None and value > hi):
            self.fail(where, f"must be {what}, not {_show(value)}")
        return value

    def number(
        self,
        value: object,
        where: str,
        *,
        lo: float = 0.0,
        above: bool = False,
        hi: float | None = None,
        what: str = "a number of seconds",
    ) -> float:
        if hi is None:
            bound = f"{'>' if above else '>='} {_number_text(lo)}"
        elif above:
            bound = f"> {_number_text(lo)} and at most {_number_text(hi)}"
        else:
            bound = f"in {_number_text(lo)}..{_number_text(hi)}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond any float
                self.fail(where, f"must be {what} {bound}, not {_show(value)}")
            low_ok = number > lo if above else number >= lo
            if math.isfinite(number) and low_ok and (hi is None or number <= hi):
                return number
        self.fail(where, f"must be {what} {bound}, not {_show(value)}")

    def choice(self, value: object, where: str, choices: Iterable[str]) -> str:
        choices = tuple(choices)
        if value not in choices or not isinstance(value, str):
            listed = " or ".join(json.dumps(c) for c in choices)
            self.fail(where, f"must be {listed}, not {_show(value)}")
        return value

    def text(self, value: object, where: str, what: str, limit: int = MAX_NAME) -> str:
        if not isinstance(value, str) or not value.strip() or not value.isprintable():
            self.fail(where, f"must be {what}, not {_show(value)}")
        if len(value) > limit:
            self.fail(where, f"must be {what} of at most {limit} characters, not "
                             f"{len(value)} ({_show(value)})")  # fmt: skip
        return value

    def baud(self, value: object, where: str) -> int:
        if value not in BAUD_RATES or not isinstance(value, int) or isinstance(value, bool):
            rates = ", ".join(map(str, BAUD_RATES))
            self.fail(where, f"{_show(value)} is not a standard baud rate ({rates})")
        return value

    def port(self, value: object, where: str) -> str:
        what = (
            '"sim", a device path (/dev/ttyUSB0, /dev/serial/by-id/...) '
            "or a socket:// or rfc2217:// URL"
        )
        port = self.text(value, where, what, MAX_PATH)
        if port == EMULATED:
            return port
        if "://" in port:
            scheme = port.partition("://")[0].lower()
            if scheme not in PORT_SCHEMES:
                self.fail(where, f"must be {what}, not {_show(port)}")
            try:
                parts = urlsplit(port)
                if not parts.hostname or parts.port is None:
                    raise ValueError("no host:port")
            except ValueError:
                self.fail(where, f"{_show(port)} needs a host and a port ({scheme}://host:port)")
            return port
        if not port.startswith("/") or any(c.isspace() for c in port):
            self.fail(where, f"must be {what}, not {_show(port)}")
        return port

    # ------------------------------------------------------------------ document

    def bench(self, doc: dict[str, Any]) -> Bench:
        self.known(doc, _TOP_KEYS, "")
        seed = self.required(doc, "seed", "", f"an integer in 0..{MAX_SEED}")
        seed = self.integer(seed, "seed", 0, MAX_SEED)
        clock = self.choice(doc.get("clock", "sim"), "clock", CLOCKS)
        tick = self.number(doc.get("tick", DEFAULT_TICK), "tick", lo=MIN_TICK, hi=MAX_TICK)
        limit = doc.get("duration_limit")
        duration_limit = (
            None if limit is None
            else self.number(limit, "duration_limit", above=True, hi=MAX_SECONDS)
        )  # fmt: skip
        keys = self.keys(self.required(doc, "keys", "", f'"{GENERATE_KEYS}" or a key file path'))
        runs_dir = doc.get("runs_dir", "runs")
        runs_dir = Path(self.text(runs_dir, "runs_dir", "a folder path", MAX_PATH))
        archive = self.choice(doc.get("archive", "sqlite"), "archive", ARCHIVES)
        nodes = self.nodes(self.required(doc, "nodes", "", "a table per node"))
        boards = self.boards(doc.get("boards", {}), nodes)
        self.unique_ports(nodes, boards)
        faults = self.faults(doc.get("faults", []), nodes, boards)
        if clock == "sim":
            self.pausable(nodes, boards)
        return Bench(
            source=self.source, seed=seed, clock=clock, tick=tick,
            duration_limit=duration_limit, keys=keys, runs_dir=runs_dir, archive=archive,
            nodes=MappingProxyType(nodes), boards=MappingProxyType(boards), faults=faults,
        )  # fmt: skip

    def keys(self, value: object) -> Path | None:
        what = f'"{GENERATE_KEYS}" or the path of a key file'
        text = self.text(value, "keys", what, MAX_PATH)
        if text == GENERATE_KEYS:
            return None
        if _LOOKS_LIKE_KEY.match(text):
            self.fail("keys", "looks like a key: a bench file names a key file, never a key")
        path = Path(text)
        return self.base / path if self.base is not None and not path.is_absolute() else path

    def nodes(self, value: object) -> dict[str, NodeSpec]:
        table = self.table(value, "nodes", f"a table with a table per node ({', '.join(NODES)})")
        if not table:
            self.fail("nodes", f"needs at least one node ({', '.join(NODES)})")
        nodes: dict[str, NodeSpec] = {}
        scids: dict[int, str] = {}
        spis: dict[int, str] = {}
        for name, body in table.items():
            where = f"nodes.{_key(name)}"
            if name not in NODES:
                self.fail(where, f"unknown node (known: {', '.join(NODES)})")
            node = self.node(name, self.table(body, where))
            if node.scid in scids:
                self.fail(f"{where}.scid", f"{node.scid} is already used by {scids[node.scid]}")
            if node.spi in spis:
                self.fail(f"{where}.spi", f"{node.spi} is already used by {spis[node.spi]}")
            scids[node.scid] = spis[node.spi] = where
            nodes[name] = node
        return nodes

    def node(self, name: str, body: dict[str, Any]) -> NodeSpec:
        where = f"nodes.{name}"
        self.known(body, _NODE_KEYS, where)
        radio = self.port(self.required(body, "radio", where, '"sim" or a port'), f"{where}.radio")
        radio_baud = self.baud(body.get("radio_baud", DEFAULT_BAUD), f"{where}.radio_baud")
        ground = body.get("ground")
        if ground is not None:
            if radio == EMULATED:
                self.fail(f"{where}.ground", "only a real radio takes a ground end (the "
                          "simulator gives an emulated radio's)")  # fmt: skip
            ground = self.port(ground, f"{where}.ground")
            if ground == EMULATED:
                self.fail(f"{where}.ground", 'must be the ground equipment\'s port, not "sim"')
        scid = self.required(body, "scid", where, "an integer in 0..1023")
        scid = self.integer(scid, f"{where}.scid", 0, 1023)
        spi = self.required(body, "spi", where, "an integer in 0..65535")
        spi = self.integer(spi, f"{where}.spi", 0, 0xFFFF)
        light_time = self.number(
            body.get("light_time", 0.0), f"{where}.light_time", hi=MAX_LIGHT_TIME
        )
        ber = self.number(
            body.get("bit_error_rate", 0.0), f"{where}.bit_error_rate", hi=1.0, what="a probability"
        )
        blackouts = self.blackouts(body.get("blackouts", []), f"{where}.blackouts")
        link = self.space_link(body.get("space_link", {}), f"{where}.space_link")
        if "scid" in link:
            self.fail(f"{where}.space_link.scid", f"set the spacecraft id as {where}.scid")
        try:
            config = SpaceLinkConfig.from_mapping(
                {**link, "scid": scid}, source=f"{self.source}: {where}.space_link"
            )
        except ValueError as exc:
            raise BenchError(str(exc)) from None
        return NodeSpec(
            name=name, radio=radio, radio_baud=radio_baud, ground=ground, scid=scid, spi=spi,
            space_link=config,
            light_time=light_time, bit_error_rate=ber, blackouts=blackouts,
        )  # fmt: skip

    def space_link(self, value: object, where: str) -> dict[str, Any]:
        """The table's keys known and its values typed and bounded; the rules between them
        are :class:`SpaceLinkConfig`'s own."""
        table = self.table(value, where)
        known = {f.name: f.type for f in dataclasses.fields(SpaceLinkConfig)}
        self.known(table, known, where)
        for key, item in table.items():
            if known[key] in ("float", float):
                self.number(item, f"{where}.{key}", hi=MAX_SECONDS)
            else:
                self.integer(item, f"{where}.{key}", 0, _MAX_LINK_INT)
        return table

    def blackouts(self, value: object, where: str) -> tuple[tuple[float, float], ...]:
        if not isinstance(value, list):
            self.fail(where, f"must be an array of [start, end] seconds, not {_show(value)}")
        if len(value) > MAX_BLACKOUTS:
            self.fail(where, f"has {len(value)} blackouts: at most {MAX_BLACKOUTS}")
        spans = []
        for i, span in enumerate(value):
            here = f"{where}[{i}]"
            if not isinstance(span, list) or len(span) != 2:
                self.fail(here, f"must be [start, end] seconds, not {_show(span)}")
            start = self.number(span[0], f"{here}[0]", hi=MAX_SECONDS)
            end = self.number(span[1], f"{here}[1]", hi=MAX_SECONDS)
            if end <= start:
                self.fail(here, f"ends at {end:g} s, not after its start at {start:g} s")
            spans.append((start, end))
        return tuple(spans)

    def boards(self, value: object, nodes: Mapping[str, NodeSpec]) -> dict[str, BoardSpec]:
        table = self.table(value, "boards", "a table with a table per board")
        boards: dict[str, BoardSpec] = {}
        for name, body in table.items():
            where = f"boards.{_key(name)}"
            if name not in BOARD_NODES:
                close = difflib.get_close_matches(name[:_SHOW_MAX], BOARD_NODES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.fail(where, f"unknown board ({hint}known: {', '.join(BOARD_NODES)})")
            boards[name] = self.board(name, self.table(body, where), nodes)
        return boards

    def board(self, name: str, body: dict[str, Any], nodes: Mapping[str, NodeSpec]) -> BoardSpec:
        where = f"boards.{name}"
        self.known(body, _BOARD_KEYS, where)
        owner = BOARD_NODES[name]
        node = self.required(body, "node", where, f'"{owner}"')
        node = self.text(node, f"{where}.node", f'"{owner}"')
        if node != owner:
            self.fail(f"{where}.node", f"{name} belongs to the {owner}, not {_show(node)}")
        if node not in nodes:
            self.fail(f"{where}.node", f"node {node!r} is not on this bench (no nodes.{node})")
        port = self.port(self.required(body, "port", where, '"sim" or a port'), f"{where}.port")
        baud = self.baud(body.get("baud", DEFAULT_BAUD), f"{where}.baud")
        usb_serial = body.get("usb_serial")
        if usb_serial is not None:
            usb_serial = self.text(usb_serial, f"{where}.usb_serial", "a USB serial number")
        return BoardSpec(name=name, node=node, port=port, baud=baud, usb_serial=usb_serial)

    def unique_ports(self, nodes: Mapping[str, NodeSpec], boards: Mapping[str, BoardSpec]) -> None:
        """Two endpoints on one real port, or one USB serial number twice, is a copy slip."""
        ports: dict[str, str] = {}
        serials: dict[str, str] = {}
        endpoints: list[tuple[str, str, str | None]] = []
        for n in nodes.values():
            endpoints.append((f"nodes.{n.name}.radio", n.radio, None))
            if n.ground is not None:
                endpoints.append((f"nodes.{n.name}.ground", n.ground, None))
        endpoints += [(f"boards.{b.name}.port", b.port, b.usb_serial) for b in boards.values()]
        for field_path, port, serial in endpoints:
            where = field_path.rpartition(".")[0]
            if port != EMULATED:
                if port in ports:
                    self.fail(field_path, f"{_show(port)} is already used by {ports[port]}")
                ports[port] = field_path
            if serial is not None:
                if serial in serials:
                    used = serials[serial]
                    self.fail(f"{where}.usb_serial", f"{_show(serial)} is already used by {used}")
                serials[serial] = f"{where}.usb_serial"

    def pausable(self, nodes: Mapping[str, NodeSpec], boards: Mapping[str, BoardSpec]) -> None:
        """On the simulated clock every participant waits for the lockstep; a real board or
        radio does not, so a bench with one must run on the wall clock (issue 18)."""
        use = 'a real one cannot be paused, so use clock = "wall" (not "sim")'
        for board in boards.values():
            if not board.emulated:
                self.fail(f"boards.{board.name}.port", f"{board.name} is a real board on "
                          f"{_show(board.port)}, and {use}")  # fmt: skip
        for node in nodes.values():
            if not node.emulated_radio:
                self.fail(f"nodes.{node.name}.radio", f"the {node.name}'s radio is real, on "
                          f"{_show(node.radio)}, and {use}")  # fmt: skip

    def faults(
        self, value: object, nodes: Mapping[str, NodeSpec], boards: Mapping[str, BoardSpec]
    ) -> tuple[FaultSpec, ...]:
        if not isinstance(value, list):
            self.fail("faults", f"must be an array of tables ([[faults]]), not {_show(value)}")
        if len(value) > MAX_FAULTS:
            self.fail("faults", f"has {len(value)} entries: at most {MAX_FAULTS}")
        return tuple(
            self.fault(self.table(body, f"faults[{i}]"), f"faults[{i}]", nodes, boards)
            for i, body in enumerate(value)
        )

    def fault(
        self,
        body: dict[str, Any],
        where: str,
        nodes: Mapping[str, NodeSpec],
        boards: Mapping[str, BoardSpec],
    ) -> FaultSpec:
        self.known(body, _FAULT_KEYS, where)
        at = self.required(body, "at", where, "seconds >= 0")
        at = self.number(at, f"{where}.at", hi=MAX_SECONDS)
        kind = self.required(body, "kind", where, "a fault kind")
        kind = self.text(kind, f"{where}.kind", "a fault kind")
        if kind not in FAULT_KINDS:
            known = sorted(FAULT_KINDS)
            close = difflib.get_close_matches(kind, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            message = f"unknown fault kind {_show(kind)} ({hint}known: {', '.join(known)})"
            self.fail(f"{where}.kind", message)
        what = 'a board, "board.device" or "link:<node>"'
        target = self.text(self.required(body, "target", where, what), f"{where}.target", what)
        self.target(target, kind, f"{where}.target", nodes, boards)
        duration = body.get("duration")
        if duration is not None:
            duration = self.number(duration, f"{where}.duration", above=True, hi=MAX_SECONDS)
        params = self.params(body.get("params", {}), f"{where}.params")
        return FaultSpec(
            at=at, target=target, kind=kind, duration=duration, params=MappingProxyType(params)
        )

    def params(self, value: object, where: str) -> dict[str, ParamValue]:
        """A fault's parameters, as the back door's ``inject`` takes them (decision 0028)."""
        params = self.table(value, where)
        if len(params) > MAX_PARAMS:
            self.fail(where, f"has {len(params)} parameters: at most {MAX_PARAMS}")
        for key, item in params.items():
            here = f"{where}.{_key(key)}"
            if len(key) > MAX_NAME or not _PARAM_NAME.match(key):
                self.fail(here, "a parameter's name must be a lower-case name like index or "
                                f"seconds, of at most {MAX_NAME} characters")  # fmt: skip
            if isinstance(item, bool):
                continue
            if isinstance(item, int):
                if abs(item) > MAX_PARAM_INT:
                    self.fail(here, f"must be an integer within +-{MAX_PARAM_INT}, "
                                    f"not {_show(item)}")  # fmt: skip
            elif isinstance(item, float):
                if not math.isfinite(item) or abs(item) > MAX_PARAM_NUMBER:
                    self.fail(here, f"must be a finite number within +-{MAX_PARAM_NUMBER:g}, "
                                    f"not {_show(item)}")  # fmt: skip
            elif isinstance(item, str):
                if len(item) > MAX_PARAM_TEXT or not item.isprintable():
                    self.fail(here, f"must be a printable string of at most {MAX_PARAM_TEXT} "
                                    f"characters, not {_show(item)}")  # fmt: skip
            else:
                self.fail(here, f"must be a number, string or boolean, not {_show(item)}")
        return params

    def target(
        self,
        target: str,
        kind: str,
        where: str,
        nodes: Mapping[str, NodeSpec],
        boards: Mapping[str, BoardSpec],
    ) -> None:
        if target.startswith(_LINK_PREFIX):
            node = target.removeprefix(_LINK_PREFIX)
            if node not in nodes:
                listed = ", ".join(nodes)
                self.fail(where, f"{_show(target)} names no node of this bench (nodes: {listed})")
            if kind not in LINK_FAULTS:
                message = f"{kind} is a device fault: it targets a board or a device, not {target}"
                self.fail(where, message)
            return
        board, dot, device = target.partition(".")
        if board not in boards:
            listed = ", ".join(boards) or "none"
            message = f"{_show(target)} names no board of this bench (boards: {listed})"
            self.fail(where, f'{message}; or "link:<node>"')
        if dot and not _IDENTIFIER.match(device):
            self.fail(where, f"{_show(target)}: the device must be a name like sta_arm.wrist")
        if dot and kind in LINK_FAULTS:
            message = f"{kind} is a link fault: it targets a board or link:<node>, not {target}"
            self.fail(where, message)
