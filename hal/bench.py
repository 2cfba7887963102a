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
    epoch = 2031-07-01T00:00:00Z # optional: the UTC instant of mission time 0 (a TOML date-time
                                 # with its offset, or the same as a string); shown beside
                                 # simulated seconds by the ground tools and in captures
    keys = "generate"            # required: "generate", or the path of a key file
    runs_dir = "runs"            # run folders go here (relative to the working directory)
    archive = "sqlite"           # the ground archive

    [nodes.lander]               # one table per node: lander, mav, orbiter (at least one)
    radio = "sim"                # "sim" (the space-link emulator) or a serial port / URL
    radio_baud = 115200          # a real radio's rate (both ends), a standard baud rate
    ground = "/dev/ttyUSB9"      # a real radio only: the ground station's end (port / URL)
    scid = 0x2A1                 # spacecraft id, 0..1023, distinct per node
    spi = 1                      # key id of this node's uplink, 0..65535, distinct per node
    sdls = "aes-gcm"             # the uplink's SDLS suite: "aes-gcm" (AES-256-GCM authenticated
                                 # encryption, the default; Yamcs's), "aes-gcm-auth" (GCM
                                 # authentication only), "hmac" (HMAC-SHA-256) or "clear" (none:
                                 # only a bench that says so takes clear frames)
    light_time = 0.0             # one-way light time, seconds, 0..3600 (space-link emulator)
    bit_error_rate = 0.0         # probability per bit, 0..1 (space-link emulator)
    blackouts = [[600.0, 900.0]] # [start, end] simulated seconds without a link (at most 1000)
    tm_udp = "127.0.0.1:10015"   # external ground equipment (decision 0044): the station sends
                                 # each TM frame of the node there, one UDP datagram per frame
                                 # ("host:port": an IP address or localhost, a port 1..65535)
    tc_udp = "127.0.0.1:10025"   # the station takes TC frames for the node there (binds it),
                                 # one a datagram; only with uplink = "external"
    uplink = "station"           # who commands the node: "station" or "external" (the equipment
                                 # on tc_udp; the station then sends no telecommand to it)
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
by :meth:`Bench.read_keys`, not when the bench is loaded. A node whose ``sdls`` is a GCM suite
needs a key of exactly 32 octets (AES-256; the generated ones are).

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

The TOML document is parsed into a pydantic schema (the private models at the end of this
module, on :class:`hal.schema.StrictModel`): strict types (``"1"`` is not 1, ``true`` is not 1,
``115200.0`` is not a baud rate), finite and bounded numbers, bounded strings, arrays and
tables, and unknown keys refused at every level. Each type words its own refusal, so the message
reads like the format above (``must be an integer in 0..1023, not 1024``). The rules between
fields (distinct scid and spi, a board's owner, a fault's target, a ground end only with a real
radio, one real port per endpoint, real hardware only on the wall clock) are checked after the
schema, on the validated document; then the public dataclasses below are built from it.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Final, Literal, NoReturn, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)
from pydantic_core import PydanticCustomError

from hal.errors import HalError
from hal.links.space_link import SpaceLinkConfig
from hal.protocol.sdls import DEFAULT_SUITE, GCM_KEY_SIZE, SUITES, KeyFileError, parse_key_file
from hal.schema import StrictModel, parse_toml

__all__ = [
    "ARCHIVES",
    "BAUD_RATES",
    "BOARD_NODES",
    "CLOCKS",
    "DEFAULT_EPOCH",
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
    "UPLINKS",
    "Bench",
    "BenchError",
    "BoardSpec",
    "FaultSpec",
    "NodeSpec",
    "default_bench_path",
    "load_bench",
    "new_key_file_text",
    "parse_bench",
    "utc_of",
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
"""Octets of each generated key (AES-256 takes exactly 32; HMAC-SHA-256 is at full strength)."""

BAUD_RATES: Final = (
    9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
    1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000,
)  # fmt: skip
"""The standard (termios) rates a board may run at."""
DEFAULT_BAUD: Final = 115200
DEFAULT_TICK: Final = 0.1
DEFAULT_EPOCH: Final = datetime(2031, 7, 1, tzinfo=UTC)
"""Mission time 0 when a bench file gives no ``epoch``: a date of the campaign's surface
phase (a configuration default, not a mission figure)."""
PORT_SCHEMES: Final = ("socket", "rfc2217")
"""URL schemes of a real port; anything else must be a device path or ``"sim"``."""
UPLINKS: Final = ("station", "external")
"""Who commands a node (``uplink``): the station, or external ground equipment on ``tc_udp``
(decision 0044: the node has one FARM-1, so not both)."""

DEVICE_FAULTS: Final = frozenset(
    {
        "stall", "stuck", "bias", "noise", "no_reply", "late_reply", "garbage", "reply_lost",
        "request_lost",
        "grasp_slip", "not_seated", "heater_zone_failure", "igniter_no_fire", "trigger_miss",
        "braze_under_temperature", "seal_leak", "lid_not_latched", "serial_unreadable",
        "ambiguous_orientation", "open_circuit", "imu_rate_spike", "partial_capture",
        "jam", "switch_stuck",
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
        sdls: the uplink's SDLS cipher suite, one of :data:`hal.protocol.sdls.SUITES`
            (``aes-gcm`` unless the bench says otherwise; ``clear`` only when it says so).
        space_link: the space-link parameters, ``scid`` included.
        light_time: one-way light time, seconds, added by the space-link emulator.
        bit_error_rate: probability that the emulator inverts each bit, 0..1.
        blackouts: ``(start, end)`` simulated seconds in which the emulator passes nothing.
        tm_udp: where the station sends the node's TM frames, one UDP datagram each, as
            ``(IP address, port)``, or None (external ground equipment, decision 0044).
        tc_udp: the UDP address where the station takes TC frames for the node, or None.
        uplink: who commands the node, one of :data:`UPLINKS`: ``external`` (the equipment on
            ``tc_udp``; the station sends it no telecommand) or ``station``.
    """

    name: str
    radio: str
    scid: int
    spi: int
    space_link: SpaceLinkConfig
    radio_baud: int = DEFAULT_BAUD
    ground: str | None = None
    tm_udp: tuple[str, int] | None = None
    tc_udp: tuple[str, int] | None = None
    uplink: str = "station"
    light_time: float = 0.0
    bit_error_rate: float = 0.0
    blackouts: tuple[tuple[float, float], ...] = ()
    sdls: str = DEFAULT_SUITE

    @property
    def emulated_radio(self) -> bool:
        """True when the simulator's space-link emulator serves this node's radio."""
        return self.radio == EMULATED

    @property
    def external_uplink(self) -> bool:
        """True when external ground equipment on ``tc_udp`` commands this node."""
        return self.uplink == "external"


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

    Built by :func:`parse_bench` (from the document its schema validated, and after the rules
    between fields); constructing one by hand skips the checks. Mappings keep the order of the file.

    Attributes:
        source: the file it was read from, as named in error messages.
        seed: seed of every random generator of the run.
        clock: ``"sim"`` (lockstep simulated time) or ``"wall"`` (paced to real time).
        tick: seconds per cycle.
        duration_limit: simulated seconds after which the run stops, or None.
        epoch: the UTC instant of mission time 0 (:meth:`utc` turns a mission time into one).
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
    epoch: datetime = DEFAULT_EPOCH
    runs_dir: Path = Path("runs")
    archive: str = "sqlite"

    def utc(self, mission_time: float) -> datetime:
        """The UTC instant of ``mission_time`` (seconds since :attr:`epoch`)."""
        return utc_of(self.epoch, mission_time)

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
            size = len(keys[node.spi])
            if node.sdls.startswith("aes-gcm") and size != GCM_KEY_SIZE:
                raise BenchError(
                    f"{path}: key of SPI {node.spi} has {size} octets; nodes.{node.name}.sdls = "
                    f'"{node.sdls}" (AES-256) takes {GCM_KEY_SIZE}'
                )
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
    document = parse_toml(text, source, limit=MAX_BENCH_BYTES, what="bench file", error=BenchError)
    try:
        validated = _BenchDocument.model_validate(document)
    except ValidationError as exc:
        raise _schema_error(source, exc) from None
    return _Rules(source, base).bench(validated)


# ---------------------------------------------------------------------------------- the schema
#
# The bench document as pydantic models (issue 17, decision 0030). The types are strict (no
# "1" for 1, no true for 1, no 1.0 for a baud rate), every number is finite and bounded, every
# string and list is bounded, and every table refuses keys it does not know. Each type carries
# its own wording (_worded), so a refusal reads like the format's documentation
# ("must be an integer in 0..1023, not 1024"). What one value cannot say by itself (two nodes
# on one scid, a board's owner, a fault's target, real hardware on the simulated clock) is
# checked after the schema, by _Rules.


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
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"


def _hint(name: str, known: Iterable[str]) -> str:
    """``did you mean 'x'? `` for a near miss of a known name, else ``""``."""
    close = difflib.get_close_matches(name[:_SHOW_MAX], list(known), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


_REFUSED: Final = "bench_refused"
"""The pydantic error type of a refusal worded for the bench file (its message is final)."""
_KEY_STEP: Final = "[key]"
"""The last step of pydantic's location of a refused table key."""


def _refusal(problem: str) -> PydanticCustomError:
    """A refusal in the bench file's words, raised by a validator of the schema."""
    return PydanticCustomError(_REFUSED, "{problem}", {"problem": problem})


def _worded(
    what: str = "",
    *,
    items: str = "",
    problem: Callable[[Any], str] | None = None,
    depth: int = 0,
) -> WrapValidator:
    """Words the schema's refusal of a value: ``must be WHAT, not VALUE``, ``must be WHAT of
    at most N characters, not LENGTH (VALUE)``, ``has LENGTH ITEMS: at most N``, or
    ``problem(value)`` when given.

    Only a refusal of the value itself is worded (its location has at most ``depth`` steps:
    1 for a union's tag); one of a value inside it (a table's field, an array's item) already
    has its own words and passes through, as does a refusal already worded.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            here = [e for e in errors if len(e["loc"]) <= depth and e["type"] != _REFUSED]
            if not here:
                raise
            kind, limit = here[0]["type"], here[0].get("ctx", {}).get("max_length")
            if problem is not None:
                text = problem(value)
            elif kind == "string_too_long":
                text = (f"must be {what} of at most {limit} characters, not {len(value)} "
                        f"({_show(value)})")  # fmt: skip
            elif kind == "too_long":
                text = f"has {len(value)} {items}: at most {limit}"
            else:
                text = f"must be {what}, not {_show(value)}"
            raise _refusal(text) from None

    return WrapValidator(validate)


def _bounds(lo: float, hi: float, *, above: bool = False) -> str:
    low = _number_text(lo)
    return f"> {low} and at most {_number_text(hi)}" if above else f"in {low}..{_number_text(hi)}"


_PRINTABLE: Final = r"^ *[^\p{C}\p{Z}](?: |[^\p{C}\p{Z}])*$"
"""Printable (as :meth:`str.isprintable`: no control, format or separator character but the
space) and not blank."""
_PRINTABLE_OR_EMPTY: Final = r"^(?: |[^\p{C}\p{Z}])*$"
_SECONDS_WHAT: Final = "a number of seconds"
_PORT_WHAT: Final = (
    '"sim", a device path (/dev/ttyUSB0, /dev/serial/by-id/...) or a socket:// or rfc2217:// URL'
)

_Seconds = Annotated[
    float,
    Field(ge=0.0, le=MAX_SECONDS, allow_inf_nan=False),
    _worded(f"{_SECONDS_WHAT} {_bounds(0, MAX_SECONDS)}"),
]
"""A simulated time or span, 0..:data:`MAX_SECONDS` (an integer is taken as a number)."""
_Span = Annotated[
    float,
    Field(gt=0.0, le=MAX_SECONDS, allow_inf_nan=False),
    _worded(f"{_SECONDS_WHAT} {_bounds(0, MAX_SECONDS, above=True)}"),
]
"""A duration: > 0 and at most :data:`MAX_SECONDS`."""
_Tick = Annotated[
    float,
    Field(ge=MIN_TICK, le=MAX_TICK, allow_inf_nan=False),
    _worded(f"{_SECONDS_WHAT} {_bounds(MIN_TICK, MAX_TICK)}"),
]
_LightTime = Annotated[
    float,
    Field(ge=0.0, le=MAX_LIGHT_TIME, allow_inf_nan=False),
    _worded(f"{_SECONDS_WHAT} {_bounds(0, MAX_LIGHT_TIME)}"),
]
_Probability = Annotated[
    float, Field(ge=0.0, le=1.0, allow_inf_nan=False), _worded(f"a probability {_bounds(0, 1)}")
]
_Seed = Annotated[int, Field(ge=0, le=MAX_SEED), _worded(f"an integer in 0..{MAX_SEED}")]
_Scid = Annotated[int, Field(ge=0, le=1023), _worded("an integer in 0..1023")]
_Spi = Annotated[int, Field(ge=0, le=0xFFFF), _worded("an integer in 0..65535")]
_LinkInt = Annotated[
    int, Field(ge=0, le=_MAX_LINK_INT), _worded(f"an integer in 0..{_MAX_LINK_INT}")
]


def _utc_instant(value: Any) -> datetime:
    """An epoch: a TOML offset date-time, or the same written as an ISO 8601 string."""
    instant = value
    if isinstance(value, str) and len(value) <= MAX_NAME:
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            instant = None
    if not isinstance(instant, datetime) or instant.tzinfo is None:
        raise _refusal("must be a date-time with its UTC offset (2031-07-01T00:00:00Z), "
                       f"not {_show(value)}")  # fmt: skip
    if not datetime(1958, 1, 1, tzinfo=UTC) <= instant <= datetime(2200, 1, 1, tzinfo=UTC):
        raise _refusal(f"must be a date-time in 1958..2200, not {_show(value)}")
    return instant.astimezone(UTC)


_Epoch = Annotated[Any, AfterValidator(_utc_instant)]
_Clock = Annotated[Literal[CLOCKS], _worded(" or ".join(json.dumps(c) for c in CLOCKS))]
_Archive = Annotated[Literal[ARCHIVES], _worded(" or ".join(json.dumps(a) for a in ARCHIVES))]
_Sdls = Annotated[
    Literal[SUITES],
    _worded(", ".join(json.dumps(s) for s in SUITES[:-1]) + f' or "{SUITES[-1]}"'),
]
_Name = Annotated[str, StringConstraints(max_length=MAX_NAME, pattern=_PRINTABLE)]
_NodeRef = Annotated[_Name, _worded("the name of the node that owns the board")]
_UsbSerial = Annotated[_Name, _worded("a USB serial number")]
_Target = Annotated[_Name, _worded('a board, "board.device" or "link:<node>"')]
_FolderPath = Annotated[
    str, StringConstraints(max_length=MAX_PATH, pattern=_PRINTABLE), _worded("a folder path")
]


def _not_a_key(text: str) -> str:
    if _LOOKS_LIKE_KEY.match(text):
        raise _refusal("looks like a key: a bench file names a key file, never a key")
    return text


_Keys = Annotated[
    str,
    StringConstraints(max_length=MAX_PATH, pattern=_PRINTABLE),
    _worded(f'"{GENERATE_KEYS}" or the path of a key file'),
    AfterValidator(_not_a_key),
]


def _port_shape(port: str) -> str:
    """``"sim"``, an absolute device path without spaces, or a ``socket://`` or ``rfc2217://``
    URL with a host and a port."""
    if port == EMULATED:
        return port
    if "://" in port:
        scheme = port.partition("://")[0].lower()
        if scheme not in PORT_SCHEMES:
            raise _refusal(f"must be {_PORT_WHAT}, not {_show(port)}")
        try:
            parts = urlsplit(port)
            if not parts.hostname or parts.port is None:
                raise ValueError("no host:port")
        except ValueError:
            problem = f"{_show(port)} needs a host and a port ({scheme}://host:port)"
            raise _refusal(problem) from None
        return port
    if not port.startswith("/") or any(c.isspace() for c in port):
        raise _refusal(f"must be {_PORT_WHAT}, not {_show(port)}")
    return port


_Port = Annotated[
    str,
    StringConstraints(max_length=MAX_PATH, pattern=_PRINTABLE),
    _worded(_PORT_WHAT),
    AfterValidator(_port_shape),
]

_UDP_WHAT: Final = (
    '"host:port", an IP address (or localhost) and a UDP port 1..65535 ("127.0.0.1:10015")'
)


def _udp_pair(text: str) -> tuple[str, int] | None:
    """``host:port`` (``[v6]:port`` for an IPv6 address) as ``(address, port)``: an IP address
    or ``localhost`` (no name to look up) and a port 1..65535; None for anything else."""
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None  # an IPv6 address needs its brackets, or its port cannot be told apart
    try:
        address = str(ipaddress.ip_address("127.0.0.1" if host == "localhost" else host))
    except ValueError:
        return None
    if not (colon and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 0xFFFF):
        return None
    return address, int(port)


def _udp_text(pair: tuple[str, int]) -> str:
    host, port = pair
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _udp_address(text: str) -> str:
    if _udp_pair(text) is None:
        raise _refusal(f"must be {_UDP_WHAT}, not {_show(text)}")
    return text


_UdpAddress = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME, pattern=_PRINTABLE),
    _worded(_UDP_WHAT),
    AfterValidator(_udp_address),
]
"""A UDP address of external ground equipment (decision 0044): ``host:port``."""
_Uplink = Annotated[Literal[UPLINKS], _worded(" or ".join(json.dumps(u) for u in UPLINKS))]


def _not_a_baud_rate(value: object) -> str:
    return f"{_show(value)} is not a standard baud rate ({', '.join(map(str, BAUD_RATES))})"


def _standard_baud(rate: int) -> int:
    if rate not in BAUD_RATES:
        raise _refusal(_not_a_baud_rate(rate))
    return rate


_Baud = Annotated[int, _worded(problem=_not_a_baud_rate), AfterValidator(_standard_baud)]
"""One of :data:`BAUD_RATES`, an integer (``115200.0`` is not a rate)."""


def _ordered(span: list[float]) -> tuple[float, float]:
    start, end = span
    if end <= start:
        raise _refusal(f"ends at {end:g} s, not after its start at {start:g} s")
    return start, end


_Blackout = Annotated[
    list[_Seconds],
    Field(min_length=2, max_length=2),
    _worded("[start, end] seconds"),
    AfterValidator(_ordered),
]
_Blackouts = Annotated[
    list[_Blackout],
    Field(max_length=MAX_BLACKOUTS),
    _worded("an array of [start, end] seconds", items="blackouts"),
]


def _unknown_node(name: str) -> str:
    return f"unknown node (known: {', '.join(NODES)})"


def _unknown_board(name: str) -> str:
    return f"unknown board ({_hint(name, BOARD_NODES)}known: {', '.join(BOARD_NODES)})"


_NodeName = Annotated[Literal[NODES], _worded(problem=_unknown_node)]
_BoardName = Annotated[Literal[tuple(BOARD_NODES)], _worded(problem=_unknown_board)]
_KINDS: Final = tuple(sorted(FAULT_KINDS))


def _unknown_kind(kind: object) -> str:
    if not isinstance(kind, str):
        return f"must be a fault kind, not {_show(kind)}"
    return f"unknown fault kind {_show(kind)} ({_hint(kind, _KINDS)}known: {', '.join(_KINDS)})"


_Kind = Annotated[Literal[_KINDS], _worded(problem=_unknown_kind)]


def _bad_param_name(name: str) -> str:
    return ("a parameter's name must be a lower-case name like index or seconds, of at most "
            f"{MAX_NAME} characters")  # fmt: skip


_ParamName = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME, pattern=_PARAM_NAME.pattern),
    _worded(problem=_bad_param_name),
]
_PARAM_WHAT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "integer": f"an integer within +-{MAX_PARAM_INT}",
        "number": f"a finite number within +-{MAX_PARAM_NUMBER:g}",
        "string": f"a printable string of at most {MAX_PARAM_TEXT} characters",
    }
)
_PARAM_TYPES: Final[Mapping[type, str]] = MappingProxyType(
    {bool: "boolean", int: "integer", float: "number", str: "string"}
)


def _param_type(value: object) -> str | None:
    """The branch of a parameter's value: its TOML type (None: no parameter's type)."""
    return _PARAM_TYPES.get(type(value))


def _bad_param(value: object) -> str:
    what = _PARAM_WHAT.get(_param_type(value) or "", "a number, string or boolean")
    return f"must be {what}, not {_show(value)}"


_ParamValue = Annotated[
    Annotated[bool, Tag("boolean")]
    | Annotated[int, Field(ge=-MAX_PARAM_INT, le=MAX_PARAM_INT), Tag("integer")]
    | Annotated[
        float,
        Field(ge=-MAX_PARAM_NUMBER, le=MAX_PARAM_NUMBER, allow_inf_nan=False),
        Tag("number"),
    ]
    | Annotated[
        str,
        StringConstraints(max_length=MAX_PARAM_TEXT, pattern=_PRINTABLE_OR_EMPTY),
        Tag("string"),
    ],
    Discriminator(_param_type),
    _worded(problem=_bad_param, depth=1),
]
"""A fault parameter, as the back door's ``inject`` takes it (decision 0028)."""


_SpaceLinkTable = create_model(
    "_SpaceLinkTable",
    __base__=StrictModel,
    __doc__="""``[nodes.X.space_link]``: :class:`SpaceLinkConfig`'s fields, each typed and
    bounded (a time 0..:data:`MAX_SECONDS`, an integer 0..2^32-1); the rules between them are
    the config's own. ``scid`` is known only to be refused: it is ``nodes.X.scid``.""",
    **{
        f.name: (_Seconds | None if f.type in ("float", float) else _LinkInt | None, None)
        for f in dataclasses.fields(SpaceLinkConfig)
    },
)


class _NodeTable(StrictModel):
    """``[nodes.X]``: one node's radio and space link."""

    radio: _Port = Field(description='"sim" or a port')
    radio_baud: _Baud = DEFAULT_BAUD
    ground: _Port | None = None
    scid: _Scid = Field(description="an integer in 0..1023")
    spi: _Spi = Field(description="an integer in 0..65535")
    sdls: _Sdls = DEFAULT_SUITE
    light_time: _LightTime = 0.0
    bit_error_rate: _Probability = 0.0
    blackouts: _Blackouts = Field(default_factory=list)
    space_link: Annotated[_SpaceLinkTable, _worded("a table")] = Field(
        default_factory=_SpaceLinkTable
    )
    tm_udp: _UdpAddress | None = None
    tc_udp: _UdpAddress | None = None
    uplink: _Uplink = "station"


class _BoardTable(StrictModel):
    """``[boards.X]``: where one board is."""

    node: _NodeRef = Field(description="the node that owns the board")
    port: _Port = Field(description='"sim" or a port')
    baud: _Baud = DEFAULT_BAUD
    usb_serial: _UsbSerial | None = None


class _FaultTable(StrictModel):
    """``[[faults]]``: one entry of the fault schedule."""

    at: _Seconds = Field(description="seconds >= 0")
    target: _Target = Field(description='a board, "board.device" or "link:<node>"')
    kind: _Kind = Field(description="a fault kind")
    duration: _Span | None = None
    params: Annotated[
        dict[_ParamName, _ParamValue],
        Field(max_length=MAX_PARAMS),
        _worded("a table", items="parameters"),
    ] = Field(default_factory=dict)


def _some_node(nodes: dict[str, _NodeTable]) -> dict[str, _NodeTable]:
    if not nodes:
        raise _refusal(f"needs at least one node ({', '.join(NODES)})")
    return nodes


class _BenchDocument(StrictModel):
    """A whole bench file, as the module's docstring writes it."""

    seed: _Seed = Field(description=f"an integer in 0..{MAX_SEED}")
    clock: _Clock = "sim"
    tick: _Tick = DEFAULT_TICK
    duration_limit: _Span | None = None
    epoch: _Epoch = DEFAULT_EPOCH
    keys: _Keys = Field(description=f'"{GENERATE_KEYS}" or a key file path')
    runs_dir: _FolderPath = "runs"
    archive: _Archive = "sqlite"
    nodes: Annotated[
        dict[_NodeName, Annotated[_NodeTable, _worded("a table")]],
        _worded(f"a table with a table per node ({', '.join(NODES)})"),
        AfterValidator(_some_node),
    ] = Field(description="a table per node")
    boards: Annotated[
        dict[_BoardName, Annotated[_BoardTable, _worded("a table")]],
        _worded("a table with a table per board"),
    ] = Field(default_factory=dict)
    faults: Annotated[
        list[Annotated[_FaultTable, _worded("a table")]],
        Field(max_length=MAX_FAULTS),
        _worded("an array of tables ([[faults]])", items="entries"),
    ] = Field(default_factory=list)


def _table_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The table model at ``loc`` (pydantic's location) of the document, or None."""
    kind: Any = _BenchDocument
    for step in loc:
        kind = _bare(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field_info = kind.model_fields.get(str(step))
            if field_info is None:
                return None
            kind = field_info.annotation
        elif get_origin(kind) in (dict, list):
            kind = get_args(kind)[-1]
        else:
            return None
    kind = _bare(kind)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _bare(kind: Any) -> Any:
    """``kind`` without its ``Annotated`` metadata, and without ``None`` when optional."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, UnionType):
            kind = next(a for a in get_args(kind) if a is not type(None))
        else:
            return kind


def _path(loc: Sequence[str | int]) -> str:
    """A location as the bench file names a field: ``faults[0].params.amount``."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{_key(step)}" if text else _key(step)
    return text


def _schema_error(source: str, exc: ValidationError) -> BenchError:
    """The schema's first refusal (an unknown key first, as the file is read table by table)
    as one line: ``FILE: FIELD.PATH: problem``."""
    errors = exc.errors(include_url=False)
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = list(error["loc"])
    if error["type"] == _REFUSED and loc and loc[-1] == _KEY_STEP:
        loc.pop()  # a refused key: the field is the key itself
    if error["type"] == "extra_forbidden":
        key, where = str(loc[-1]), _path(loc[:-1])
        known = list(getattr(_table_at(loc[:-1]), "model_fields", ()))
        shown = repr(key) if len(key) <= _SHOW_MAX else repr(key[:_SHOW_MAX]) + "..."
        place = f"in {where}" if where else "at top level"
        return BenchError(f"{source}: unknown key {shown} {place} "
                          f"({_hint(key, known)}known: {', '.join(known)})")  # fmt: skip
    if error["type"] == "missing":
        problem = f"is required: {_required(loc)}"
    elif error["type"] == _REFUSED:
        problem = error["msg"]
    else:  # pydantic's own words (every type above words its refusals: not expected)
        problem = f"{error['msg']}, not {_show(error['input'])}"
    where = _path(loc)
    return BenchError(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


def _required(loc: Sequence[str | int]) -> str:
    """What a missing field takes, from its description in the schema."""
    table = _table_at(loc[:-1])
    owner = BOARD_NODES.get(str(loc[-2])) if len(loc) > 1 else None
    if table is _BoardTable and loc[-1] == "node" and owner is not None:
        return json.dumps(owner)  # the board's own node, by name
    field_info = table.model_fields.get(str(loc[-1])) if table is not None else None
    return (field_info.description if field_info is not None else None) or "a value"


# ---------------------------------------------------------------------------------- the rules


class _Rules:
    """The rules between fields, checked on the validated document (after the schema); each
    raises a :class:`BenchError` naming the field path."""

    def __init__(self, source: str, base: Path | None) -> None:
        self.source = source
        self.base = base

    def fail(self, where: str, message: str) -> NoReturn:
        raise BenchError(
            f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}"
        )

    def bench(self, doc: _BenchDocument) -> Bench:
        nodes = self.nodes(doc.nodes)
        boards = self.boards(doc.boards, nodes)
        self.unique_ports(nodes, boards)
        faults = self.faults(doc.faults, nodes, boards)
        if doc.clock == "sim":
            self.pausable(nodes, boards)
        return Bench(
            source=self.source, seed=doc.seed, clock=doc.clock, tick=doc.tick,
            duration_limit=doc.duration_limit, epoch=doc.epoch, keys=self.keys(doc.keys),
            runs_dir=Path(doc.runs_dir), archive=doc.archive, nodes=MappingProxyType(nodes),
            boards=MappingProxyType(boards), faults=faults,
        )  # fmt: skip

    def keys(self, text: str) -> Path | None:
        if text == GENERATE_KEYS:
            return None
        path = Path(text)
        return self.base / path if self.base is not None and not path.is_absolute() else path

    def nodes(self, tables: Mapping[str, _NodeTable]) -> dict[str, NodeSpec]:
        nodes: dict[str, NodeSpec] = {}
        scids: dict[int, str] = {}
        spis: dict[int, str] = {}
        for name, table in tables.items():
            where = f"nodes.{name}"
            node = self.node(name, table)
            if node.scid in scids:
                self.fail(f"{where}.scid", f"{node.scid} is already used by {scids[node.scid]}")
            if node.spi in spis:
                self.fail(f"{where}.spi", f"{node.spi} is already used by {spis[node.spi]}")
            scids[node.scid] = spis[node.spi] = where
            nodes[name] = node
        self.udp_ports(nodes)
        return nodes

    def udp(self, name: str, table: _NodeTable) -> dict[str, Any]:
        """A node's external ground equipment (decision 0044): its UDP ports and its uplink."""
        where = f"nodes.{name}"
        if table.uplink == "external" and table.tc_udp is None:
            self.fail(f"{where}.uplink", f'"external" needs {where}.tc_udp, the UDP port where '
                      "the station takes the external equipment's TC frames")  # fmt: skip
        if table.tc_udp is not None and table.uplink != "external":
            self.fail(f"{where}.tc_udp", 'TC frames from external equipment need uplink = '
                      '"external": the node has one FARM-1, and the station and the equipment '
                      "cannot both command it")  # fmt: skip
        for key in ("tm_udp", "tc_udp"):
            if getattr(table, key) is not None and table.radio != EMULATED and table.ground is None:
                self.fail(f"{where}.{key}", "the station holds no ground end of this real radio "
                          f"to serve it from (set {where}.ground)")  # fmt: skip
        return {
            "tm_udp": None if table.tm_udp is None else _udp_pair(table.tm_udp),
            "tc_udp": None if table.tc_udp is None else _udp_pair(table.tc_udp),
            "uplink": table.uplink,
        }

    def udp_ports(self, nodes: Mapping[str, NodeSpec]) -> None:
        """The station binds each ``tc_udp``, so two nodes cannot share one, and it must not
        send TM frames to one (several nodes may share a ``tm_udp``: the spacecraft id tells
        their frames apart)."""
        bound: dict[tuple[str, int], str] = {}
        for node in nodes.values():
            if node.tc_udp is not None:
                field_path = f"nodes.{node.name}.tc_udp"
                if node.tc_udp in bound:
                    self.fail(field_path, f"{_show(_udp_text(node.tc_udp))} is already used by "
                              f"{bound[node.tc_udp]}")  # fmt: skip
                bound[node.tc_udp] = field_path
        for node in nodes.values():
            if node.tm_udp is not None and node.tm_udp in bound:
                self.fail(f"nodes.{node.name}.tm_udp", f"{_show(_udp_text(node.tm_udp))} is "
                          f"{bound[node.tm_udp]}, where the station takes TC frames")  # fmt: skip

    def node(self, name: str, table: _NodeTable) -> NodeSpec:
        where = f"nodes.{name}"
        if table.ground is not None:
            if table.radio == EMULATED:
                self.fail(f"{where}.ground", "only a real radio takes a ground end (the "
                          "simulator gives an emulated radio's)")  # fmt: skip
            if table.ground == EMULATED:
                self.fail(f"{where}.ground", 'must be the ground equipment\'s port, not "sim"')
        link = table.space_link.model_dump(exclude_unset=True)
        if "scid" in link:
            self.fail(f"{where}.space_link.scid", f"set the spacecraft id as {where}.scid")
        try:
            config = SpaceLinkConfig.from_mapping(
                {**link, "scid": table.scid}, source=f"{self.source}: {where}.space_link"
            )
        except ValueError as exc:
            raise BenchError(str(exc)) from None
        udp = self.udp(name, table)
        return NodeSpec(
            **udp,
            name=name, radio=table.radio, radio_baud=table.radio_baud, ground=table.ground,
            scid=table.scid, spi=table.spi, space_link=config, light_time=table.light_time,
            bit_error_rate=table.bit_error_rate,
            blackouts=tuple((start, end) for start, end in table.blackouts), sdls=table.sdls,
        )  # fmt: skip

    def boards(
        self, tables: Mapping[str, _BoardTable], nodes: Mapping[str, NodeSpec]
    ) -> dict[str, BoardSpec]:
        boards: dict[str, BoardSpec] = {}
        for name, table in tables.items():
            where = f"boards.{name}"
            owner = BOARD_NODES[name]
            node = table.node
            if node != owner:
                self.fail(f"{where}.node", f"{name} belongs to the {owner}, not {_show(node)}")
            if node not in nodes:
                self.fail(f"{where}.node", f"node {node!r} is not on this bench (no nodes.{node})")
            boards[name] = BoardSpec(name=name, node=node, port=table.port,
                                     baud=table.baud, usb_serial=table.usb_serial)  # fmt: skip
        return boards

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
        self,
        tables: Iterable[_FaultTable],
        nodes: Mapping[str, NodeSpec],
        boards: Mapping[str, BoardSpec],
    ) -> tuple[FaultSpec, ...]:
        faults = []
        for i, table in enumerate(tables):
            self.target(table.target, table.kind, f"faults[{i}].target", nodes, boards)
            faults.append(FaultSpec(
                at=table.at, target=table.target, kind=table.kind, duration=table.duration,
                params=MappingProxyType(dict(table.params)),
            ))  # fmt: skip
        return tuple(faults)

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


def utc_of(epoch: datetime, mission_time: float) -> datetime:
    """The UTC instant of ``mission_time`` seconds after ``epoch`` (the bench's mission epoch)."""
    return epoch + timedelta(seconds=mission_time)
