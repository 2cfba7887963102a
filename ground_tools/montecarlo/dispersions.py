"""The dispersions file of ``msr montecarlo``: what each run of a Monte Carlo campaign draws.

A dispersions file is TOML; each table is one dispersion, named by the table (a lower-case
name, as a bench's: ``light_time``, ``gripper_slip``), of one of three sorts::

    [light_time]                       # bench keys, drawn
    set = ["nodes.lander.light_time", "nodes.mav.light_time"]   # one key, or several (the same
                                       # value goes to each)
    uniform = [0.0, 1.3]               # or
    # normal = { mean = 1e-6, std = 1e-6, min = 0.0, max = 1e-5 }   # drawn inside min..max, or
    # choice = [[], [[900.0, 960.0]]]  # one of these values, with optional weights = [3, 1]

    [gripper_slip]                     # a fault, as ``msr campaign --fault`` takes it
    fault = "sta_arm.gripper:grasp_slip"   # TARGET:KIND (no @, + or ,)
    probability = 0.2                  # that the run has it, 0..1
    window = [300.0, 3000.0]           # its start, drawn uniformly in here (simulated s)
    duration = 30.0                    # optional: seconds (absent: until the run's end)
    params = { }                       # optional: the fault's KEY = VALUE

    [lander_reset]                     # a node reset (its flight software killed, restarted)
    reset = "lander"
    probability = 0.1
    window = [600.0, 1800.0]

The shipped example, :file:`examples/dispersions.toml` (:func:`example_path`), disperses every
parameter the issue names. A ``set`` key is a dotted key of the bench file (``nodes.X.*``,
``boards.X.*``, ``tick``, ``duration_limit``, ``epoch``; not ``seed``, which each run draws, nor
``faults``, ``keys`` or ``runs_dir``, which the farm owns). A dispersions file is hostile input:
it is at most :data:`MAX_DISPERSIONS_BYTES`, holds at most :data:`MAX_DISPERSIONS` tables, every
number is finite and bounded, every string and list bounded, and unknown keys are refused with a
did-you-mean. Every value a run could draw is checked when the file is loaded, against the
bench (the default bench unless one is given): both ends of a ``uniform``, ``min`` and ``max``
of a ``normal``, each ``choice``; a fault as the bench's own ``[[faults]]`` rules take it (its
target on the bench, its kind, its parameters) and as :func:`ground_tools.campaign.parse_fault`
reads it back; a reset's node on the bench. Every refusal is a :class:`DispersionError`, one
line naming the file, the dispersion and the key: ``disp.toml: [gripper_slip] probability 1.5:
give a probability in 0..1``.

**Seeds and draws** (decision 0047), stable across Python versions, platforms and changes to
other dispersions:

* run *i* of base seed *B* has seed :func:`run_seed` = the first 8 octets of
  ``SHA-256(b"msr-montecarlo/1/" + f"{B}/{i}")``, big-endian, shifted right by one bit (so
  0..2^63-1, a bench's :data:`~hal.bench.MAX_SEED`);
* each dispersion draws from its own stream, keyed by ``K = SHA-256(f"{seed}/{name}")``; block
  *n* (n = 0, 1, ...) of the stream is ``SHA-256(K + n as 8 octets big-endian)``, read as four
  64-bit big-endian words *w*; each word gives one uniform double ``u = (w >> 11) * 2**-53`` in
  [0, 1) (exact in IEEE binary64), in order. A dispersion's draw depends only on the run seed,
  its name and its own table: adding, removing or changing another dispersion changes nothing;
* ``uniform = [a, b]``: ``a + (b - a) * u``;
* ``normal``: Box-Muller, ``z = sqrt(-2 ln(1 - u1)) * cos(2 pi u2)`` from two uniforms (the sine
  branch is not used), ``x = mean + std * z``, kept when ``min <= x <= max``, else two more
  uniforms, at most :data:`MAX_TRIES` times (then a :class:`DispersionError`; a file whose
  bounds hold less than 1 % of the distribution is refused at load);
* ``choice``: the value at ``floor(u * n)``; with ``weights``, the first whose cumulative weight
  exceeds ``u * total``;
* a fault or a reset: ``u1 < probability`` says whether it occurs, and its start is
  ``start + (end - start) * u2`` (``u2`` drawn whether or not it occurs);
* a drawn number is rounded to 12 significant digits (a time to the millisecond) and kept in
  its bounds, so a last-bit difference of a platform's ``log`` or ``cos`` does not change it.

The draws' values are what :class:`~ground_tools.montecarlo.model.Draw` carries;
:func:`variant_bench_text` writes a run's bench file from the base bench's text.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import tomli_w
from pydantic import Field, StringConstraints, ValidationError

from ground_tools.api import GroundError
from ground_tools.campaign import parse_fault
from ground_tools.montecarlo.model import Draw
from hal.bench import (
    MAX_BENCH_BYTES,
    MAX_PARAM_NUMBER,
    MAX_PARAM_TEXT,
    MAX_PARAMS,
    MAX_SECONDS,
    MAX_SEED,
    NODES,
    BenchError,
    default_bench_path,
    parse_bench,
)
from hal.schema import StrictModel, parse_toml

__all__ = [
    "MAX_CHOICES",
    "MAX_DISPERSIONS",
    "MAX_DISPERSIONS_BYTES",
    "MAX_KEYS",
    "MAX_TRIES",
    "Dispersion",
    "DispersionError",
    "Dispersions",
    "Kind",
    "draw",
    "example_path",
    "load_dispersions",
    "parse_dispersions",
    "run_seed",
    "variant_bench_text",
]

MAX_DISPERSIONS_BYTES: Final = MAX_BENCH_BYTES
"""The largest dispersions file read (1 MiB, as a bench file): a larger one is refused unread."""
MAX_DISPERSIONS: Final = 64
"""Most dispersions (tables) in one file."""
MAX_KEYS: Final = 16
"""Most bench keys one ``set`` names."""
MAX_CHOICES: Final = 256
"""Most values of one ``choice``."""
MAX_NAME: Final = 64
"""The longest dispersion name."""
MAX_NUMBER: Final = 1e12
"""The largest magnitude of a drawn number's bounds (a bench value is bounded tighter still)."""
MAX_TRIES: Final = 10_000
"""Most Box-Muller pairs a ``normal`` draws before it gives up."""
MIN_MASS: Final = 0.01
"""The least share of a ``normal`` that its ``min..max`` must hold."""
SIGNIFICANT: Final = 12
"""Significant digits a drawn number keeps."""
SEED_DOMAIN: Final = b"msr-montecarlo/1/"
"""What :func:`run_seed` hashes before ``base/index``: a new derivation gets a new domain."""

Kind = Literal["uniform", "normal", "choice", "fault", "reset"]
"""A dispersion's sort: the distribution of a bench value, a fault, or a node reset."""

_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]*$")
_KEY: Final = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
_FARM_KEYS: Final[Mapping[str, str]] = {
    "seed": "each run's seed is drawn (run_seed)",
    "faults": "give a fault dispersion (fault = ...)",
    "keys": "the farm generates each run's keys",
    "runs_dir": "the farm places each run's folder",
}
_SHOW_MAX: Final = 60


class DispersionError(GroundError):
    """A dispersions file that cannot be used, or a draw it cannot make; the one-line message
    names the file, the dispersion (``[table]``) and the key."""


@dataclass(frozen=True)
class Dispersion:
    """One dispersion of the file, validated.

    Attributes:
        name: the table's name.
        kind: :data:`Kind`.
        keys: the bench keys a ``set`` gives its value (dotted), else ().
        low, high: a ``uniform``'s bounds, or a ``normal``'s ``min`` and ``max``.
        mean, std: a ``normal``'s.
        values, weights: a ``choice``'s (``weights`` () when not given).
        target, fault_kind: a fault's ``TARGET:KIND`` parts.
        node: a reset's node.
        probability, window: a fault's or a reset's.
        duration, params: a fault's (None and {} when not given).
    """

    name: str
    kind: Kind
    keys: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    values: tuple[Any, ...] = ()
    weights: tuple[float, ...] = ()
    target: str = ""
    fault_kind: str = ""
    node: str = ""
    probability: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)
    duration: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dispersions:
    """A dispersions file, validated.

    Attributes:
        source: the file, as named in error messages.
        text: the file's text (the Monte Carlo manifest keeps a copy).
        entries: its dispersions, in file order.
    """

    source: str
    text: str
    entries: tuple[Dispersion, ...]

    @property
    def names(self) -> list[str]:
        """The dispersions' names, in file order."""
        return [d.name for d in self.entries]

    @property
    def kinds(self) -> dict[str, Kind]:
        """Each dispersion's :data:`Kind`, by name (what the report plots it as)."""
        return {d.name: d.kind for d in self.entries}


def example_path() -> Path:
    """The example dispersions file shipped with the package (every parameter of issue 21)."""
    return Path(
        str(resources.files("ground_tools") / "montecarlo" / "examples" / "dispersions.toml")
    )


# ------------------------------------------------------------------------------------ seeds


def run_seed(base: int, index: int) -> int:
    """Run ``index``'s seed in a Monte Carlo campaign of base seed ``base``: the first 8 octets
    of ``SHA-256(b"msr-montecarlo/1/" + f"{base}/{index}")``, big-endian, shifted right one bit
    (0..:data:`hal.bench.MAX_SEED`). The same on every Python and platform, for ever.

    Raises:
        ValueError: ``base`` outside 0..MAX_SEED or ``index`` negative.
    """
    if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= MAX_SEED:
        raise ValueError(f"base seed {base!r} is not an integer in 0..{MAX_SEED}")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"run index {index!r} is not an integer >= 0")
    digest = hashlib.sha256(SEED_DOMAIN + f"{base}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _uniforms(seed: int, name: str) -> Iterator[float]:
    """The stream of uniform doubles in [0, 1) of dispersion ``name`` in the run of ``seed``
    (module docstring)."""
    key = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    block = 0
    while True:
        digest = hashlib.sha256(key + block.to_bytes(8, "big")).digest()
        for at in range(0, 32, 8):
            yield (int.from_bytes(digest[at : at + 8], "big") >> 11) * 2.0**-53
        block += 1


def _rounded(value: float, low: float, high: float) -> float:
    """``value`` to :data:`SIGNIFICANT` digits, kept in ``low..high``."""
    return min(max(float(f"{value:.{SIGNIFICANT}g}"), low), high)


def _time(value: float, low: float, high: float) -> float:
    """A start time to the millisecond, kept in ``low..high``."""
    return min(max(round(value, 3), low), high)


def draw(dispersions: Dispersions, base: int, index: int) -> Draw:
    """What run ``index`` of a campaign of base seed ``base`` draws (module docstring).

    Raises:
        DispersionError: a ``normal`` that found no value in its bounds in :data:`MAX_TRIES`
            pairs (a file refused at load for too narrow bounds never gets here in practice).
        ValueError: ``base`` or ``index`` out of range (:func:`run_seed`).
    """
    seed = run_seed(base, index)
    parameters: dict[str, Any] = {}
    bench: dict[str, Any] = {}
    faults: list[tuple[float, str, str]] = []
    resets: list[tuple[str, float]] = []
    for d in dispersions.entries:
        stream = _uniforms(seed, d.name)
        if d.kind in ("fault", "reset"):
            occurs = next(stream) < d.probability
            start, end = d.window
            at = _time(start + (end - start) * next(stream), start, end)
            parameters[d.name] = at if occurs else None
            if occurs and d.kind == "fault":
                faults.append((at, d.name, _fault_spec(d, at)))
            elif occurs:
                resets.append((d.node, at))
            continue
        if d.kind == "uniform":
            value: Any = _rounded(d.low + (d.high - d.low) * next(stream), d.low, d.high)
        elif d.kind == "normal":
            value = _normal(d, stream, dispersions.source, index)
        else:
            value = _copy(d.values[_pick(d, next(stream))])
        parameters[d.name] = value
        for key in d.keys:
            bench[key] = value
    return Draw(
        index=index,
        seed=seed,
        parameters=parameters,
        bench=bench,
        faults=tuple(spec for _, _, spec in sorted(faults)),
        resets=tuple(sorted(resets, key=lambda r: (r[1], r[0]))),
    )


def _normal(d: Dispersion, stream: Iterator[float], source: str, index: int) -> float:
    for _ in range(MAX_TRIES):
        u1, u2 = next(stream), next(stream)
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        value = d.mean + d.std * z
        if d.low <= value <= d.high:
            return _rounded(value, d.low, d.high)
    raise DispersionError(f"{source}: [{d.name}] normal: no value in {d.low:g}..{d.high:g} "
                          f"after {MAX_TRIES} tries (run {index})")  # fmt: skip


def _pick(d: Dispersion, u: float) -> int:
    if not d.weights:
        return min(int(u * len(d.values)), len(d.values) - 1)
    target = u * math.fsum(d.weights)
    total = 0.0
    for i, weight in enumerate(d.weights):
        total += weight
        if total > target:
            return i
    return max(i for i, w in enumerate(d.weights) if w > 0)  # rounding at the very top


def _fault_spec(d: Dispersion, at: float) -> str:
    """``TARGET:KIND@AT[+DURATION][,K=V...]``, as :func:`parse_fault` reads it back."""
    spec = f"{d.target}:{d.fault_kind}@{at!r}"
    if d.duration is not None:
        spec += f"+{d.duration!r}"
    for key, value in d.params.items():
        spec += f",{key}={_param_text(value)}"
    return spec


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------ the variant


def variant_bench_text(bench_text: str, draw: Draw) -> str:
    """The base bench file's text with the draw's bench keys set and ``seed = draw.seed``,
    validated as a bench file (:func:`hal.bench.parse_bench`). Faults and resets are not
    written here: they go to ``run_campaign(faults=..., resets=...)``.

    Raises:
        DispersionError: the base bench is not a bench file, a key cannot be set (a value where
            a table is), or the variant is refused; the message names the key and its value.
    """
    source = f"bench variant of run {draw.index}"
    base = parse_toml(bench_text, f"{source}: the base bench", limit=MAX_BENCH_BYTES,
                      what="bench file", error=DispersionError)  # fmt: skip
    document = _copy(base)
    document["seed"] = draw.seed
    for key, value in draw.bench.items():
        _set_key(document, key, value, source)
    text = tomli_w.dumps(document)
    try:
        parse_bench(text, source)
    except BenchError as exc:
        raise DispersionError(_culprit(base, draw, source, exc)) from None
    return text


def _copy(document: Any) -> Any:
    """A deep copy of a TOML document (tables and arrays; the rest is immutable)."""
    if isinstance(document, dict):
        return {k: _copy(v) for k, v in document.items()}
    if isinstance(document, list):
        return [_copy(v) for v in document]
    return document


def _set_key(document: dict[str, Any], key: str, value: Any, source: str) -> None:
    *tables, last = key.split(".")
    here = document
    for i, part in enumerate(tables):
        inner = here.setdefault(part, {})
        if not isinstance(inner, dict):
            where = ".".join(tables[: i + 1])
            raise DispersionError(f"{source}: {key}: {where} is a value in the bench, not a table")
        here = inner
    here[last] = _copy(value)


def _culprit(base: dict[str, Any], draw: Draw, source: str, exc: BenchError) -> str:
    """The first key of the draw that the bench refuses alone (or the bench's own error)."""
    for key, value in draw.bench.items():
        document = _copy(base)
        document["seed"] = draw.seed
        _set_key(document, key, value, source)
        try:
            parse_bench(tomli_w.dumps(document), source)
        except BenchError as alone:
            return f"{source}: {key} = {_show(value)}: {_after_source(alone, source)}"
    return f"{source}: {_after_source(exc, source)}"


def _after_source(exc: Exception, source: str) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.removeprefix(f"{source}: ")


# ------------------------------------------------------------------------------ the file


def load_dispersions(path: Path, *, bench_text: str | None = None) -> Dispersions:
    """Read and validate the dispersions file at ``path``.

    Args:
        path: the file.
        bench_text: the text of the bench the runs start from, which every ``set`` value,
            fault and reset is checked against (default: the default bench).

    Raises:
        DispersionError: the file cannot be read, is larger than
            :data:`MAX_DISPERSIONS_BYTES`, is not UTF-8 or not TOML, or a dispersion is refused
            (module docstring); one line naming the file, the dispersion and the key.
    """
    source = Path(path).name or str(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_DISPERSIONS_BYTES + 1)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise DispersionError(f"{source}: cannot read the dispersions file: {why}") from None
    if len(data) > MAX_DISPERSIONS_BYTES:
        raise DispersionError(f"{source}: larger than {MAX_DISPERSIONS_BYTES} octets (1 MiB), "
                              "not a dispersions file")  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DispersionError(f"{source}: not UTF-8 (line {line}, octet {exc.start})") from None
    return parse_dispersions(text, source, bench_text=bench_text)


def parse_dispersions(
    text: str, source: str = "dispersions file", *, bench_text: str | None = None
) -> Dispersions:
    """Validate dispersions-file ``text``; ``source`` names it in errors (see
    :func:`load_dispersions`).

    Raises:
        DispersionError: as :func:`load_dispersions`.
    """
    document = parse_toml(text, source, limit=MAX_DISPERSIONS_BYTES, what="dispersions file",
                          error=DispersionError)  # fmt: skip
    if bench_text is None:
        bench_text = default_bench_path().read_text(encoding="utf-8")
    checker = _BenchCheck(source, bench_text)
    if not document:
        raise DispersionError(f"{source}: no dispersion (a table per dispersion, e.g. "
                              "[light_time])")  # fmt: skip
    if len(document) > MAX_DISPERSIONS:
        raise DispersionError(f"{source}: {len(document)} dispersions: at most {MAX_DISPERSIONS}")
    entries = []
    set_by: dict[str, str] = {}
    for name, table in document.items():
        if not _NAME.match(name) or len(name) > MAX_NAME:
            raise DispersionError(f"{source}: [{_show(name)[1:-1]}]: a dispersion's name is a "
                                  f"lower-case name like light_time, of at most {MAX_NAME} "
                                  "characters")  # fmt: skip
        if not isinstance(table, dict):
            raise DispersionError(f"{source}: {name} = {_show(table)}: a dispersion is a table "
                                  f"([{name}] with set, fault or reset)")  # fmt: skip
        entry = _dispersion(source, name, table)
        for key in entry.keys:
            for other, owner in set_by.items():
                if key == other or key.startswith(other + ".") or other.startswith(key + "."):
                    raise DispersionError(f"{source}: [{name}] set {key}: {other} is set by "
                                          f"[{owner}] already")  # fmt: skip
            set_by[key] = name
        checker.check(entry)
        entries.append(entry)
    return Dispersions(source=source, text=text, entries=tuple(entries))


# the schema of one table: types and bounds (the rules between keys come after)

_Number = Annotated[float, Field(ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)]
_Weight = Annotated[float, Field(ge=0.0, le=MAX_NUMBER, allow_inf_nan=False)]
_Std = Annotated[float, Field(ge=0.0, le=MAX_NUMBER, allow_inf_nan=False)]
_Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
_Seconds = Annotated[float, Field(ge=0.0, le=MAX_SECONDS, allow_inf_nan=False)]
_Span = Annotated[float, Field(gt=0.0, le=MAX_SECONDS, allow_inf_nan=False)]
_Key = Annotated[str, StringConstraints(max_length=128, pattern=_KEY.pattern)]
_Short = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_ParamName = Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
_ParamText = Annotated[
    str, StringConstraints(max_length=MAX_PARAM_TEXT, pattern=r"^[A-Za-z0-9_.:/ -]*$")
]
_ParamValue = (
    bool
    | Annotated[int, Field(ge=-(1 << 63) + 1, le=(1 << 63) - 1)]
    | Annotated[float, Field(ge=-MAX_PARAM_NUMBER, le=MAX_PARAM_NUMBER, allow_inf_nan=False)]
    | _ParamText
)


class _Normal(StrictModel):
    mean: _Number
    std: _Std
    min: _Number
    max: _Number


class _Table(StrictModel):
    set: _Key | Annotated[list[_Key], Field(min_length=1, max_length=MAX_KEYS)] | None = None
    uniform: Annotated[list[_Number], Field(min_length=2, max_length=2)] | None = None
    normal: _Normal | None = None
    choice: Annotated[list[Any], Field(min_length=1, max_length=MAX_CHOICES)] | None = None
    weights: Annotated[list[_Weight], Field(min_length=1, max_length=MAX_CHOICES)] | None = None
    fault: _Short | None = None
    reset: _Short | None = None
    probability: _Probability | None = None
    window: Annotated[list[_Seconds], Field(min_length=2, max_length=2)] | None = None
    duration: _Span | None = None
    params: Annotated[dict[_ParamName, _ParamValue], Field(max_length=MAX_PARAMS)] | None = None


_WHAT: Final[Mapping[str, str]] = {
    "set": f'a bench key ("nodes.lander.light_time") or an array of at most {MAX_KEYS}',
    "uniform": f"[low, high], finite numbers within +-{MAX_NUMBER:g}",
    "normal": "{ mean, std, min, max }, finite numbers (std >= 0)",
    "choice": f"an array of 1 to {MAX_CHOICES} values",
    "weights": "an array of numbers >= 0, one per choice",
    "fault": '"TARGET:KIND", as msr campaign --fault ("sta_arm.gripper:grasp_slip")',
    "reset": f"a node ({', '.join(NODES)})",
    "probability": "a probability in 0..1",
    "window": f"[start, end], simulated seconds in 0..{MAX_SECONDS:.0f}",
    "duration": f"seconds > 0 and at most {MAX_SECONDS:.0f}",
    "params": (f"a table of at most {MAX_PARAMS} lower-case names = a boolean, integer, "
               f"number or word of at most {MAX_PARAM_TEXT} characters (letters, digits, _.:/ -)"),
}  # fmt: skip
_SORTS: Final = ("set", "fault", "reset")
_DRAWN: Final = ("uniform", "normal", "choice")
_ONLY: Final[Mapping[str, tuple[str, ...]]] = {
    "uniform": ("set",), "normal": ("set",), "choice": ("set",), "weights": ("set",),
    "probability": ("fault", "reset"), "window": ("fault", "reset"),
    "duration": ("fault",), "params": ("fault",),
}  # fmt: skip


def _dispersion(source: str, name: str, table: dict[str, Any]) -> Dispersion:
    where = f"{source}: [{name}]"
    try:
        t = _Table.model_validate(table)
    except ValidationError as exc:
        raise DispersionError(_schema_error(where, exc)) from None
    given = [key for key in _Table.model_fields if getattr(t, key) is not None]
    sorts = [s for s in _SORTS if s in given]
    if len(sorts) != 1:
        what = f": not {' and '.join(sorts)} together" if sorts else ""
        raise DispersionError(f"{where}: give one of set (a bench value), fault or reset{what}")
    sort = sorts[0]
    for key in given:
        if key in _ONLY and sort not in _ONLY[key]:
            owners = " or ".join(_ONLY[key])
            raise DispersionError(f"{where} {key}: only a {owners} takes it, not a {sort}")
    if sort == "set":
        return _drawn(where, name, t, given)
    if t.probability is None or t.window is None:
        missing = "probability" if t.probability is None else "window"
        raise DispersionError(f"{where} {missing}: is required: {_WHAT[missing]}")
    start, end = t.window
    if end < start:
        raise DispersionError(f"{where} window {_show(t.window)}: ends before it starts")
    common = {"name": name, "probability": t.probability, "window": (start, end)}
    if sort == "reset":
        return Dispersion(kind="reset", node=str(t.reset), **common)
    return _fault(where, t, common)


def _drawn(where: str, name: str, t: _Table, given: Sequence[str]) -> Dispersion:
    keys = tuple([t.set] if isinstance(t.set, str) else t.set or ())
    if len(set(keys)) != len(keys):
        raise DispersionError(f"{where} set: names a key twice")
    for key in keys:
        top = key.partition(".")[0]
        if top in _FARM_KEYS:
            raise DispersionError(f"{where} set {key}: not a dispersed key: {_FARM_KEYS[top]}")
    drawn = [d for d in _DRAWN if d in given]
    if len(drawn) != 1:
        what = f": not {' and '.join(drawn)} together" if drawn else ""
        raise DispersionError(f"{where}: a set takes one of uniform, normal or choice{what}")
    if t.uniform is not None:
        low, high = t.uniform
        if high < low:
            raise DispersionError(f"{where} uniform {_show(t.uniform)}: high is below low")
        return Dispersion(name=name, kind="uniform", keys=keys, low=low, high=high)
    if t.normal is not None:
        n = t.normal
        if n.max < n.min:
            raise DispersionError(f"{where} normal.max {n.max:g}: below min {n.min:g}")
        mass = _mass(n.mean, n.std, n.min, n.max)
        if mass < MIN_MASS:
            raise DispersionError(f"{where} normal: min..max holds {mass:.2%} of the "
                                  f"distribution: at least {MIN_MASS:.0%}")  # fmt: skip
        return Dispersion(name=name, kind="normal", keys=keys, low=n.min, high=n.max,
                          mean=n.mean, std=n.std)  # fmt: skip
    values = tuple(t.choice or ())
    weights = tuple(t.weights or ())
    if weights and len(weights) != len(values):
        raise DispersionError(f"{where} weights: {len(weights)} weights for {len(values)} "
                              "choices: give one per choice")  # fmt: skip
    if weights and not math.fsum(weights) > 0:
        raise DispersionError(f"{where} weights: all zero: give at least one above 0")
    return Dispersion(name=name, kind="choice", keys=keys, values=values, weights=weights)


def _mass(mean: float, std: float, low: float, high: float) -> float:
    """The share of Normal(mean, std) inside ``low..high``."""
    if std == 0:
        return 1.0 if low <= mean <= high else 0.0

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-(x - mean) / (std * math.sqrt(2.0)))

    return cdf(high) - cdf(low)


def _fault(where: str, t: _Table, common: dict[str, Any]) -> Dispersion:
    spec = str(t.fault)
    if any(c in spec for c in "@+,") or spec.count(":") < 1:
        raise DispersionError(f"{where} fault {_show(spec)}: give {_WHAT['fault']}, with no "
                              "@, + or , (the window, duration and params say those)")  # fmt: skip
    target, _, kind = spec.rpartition(":")  # link:<node>:KIND holds two
    if not target or not kind:
        raise DispersionError(f"{where} fault {_show(spec)}: give {_WHAT['fault']}")
    params = dict(t.params or {})
    entry = Dispersion(kind="fault", target=target, fault_kind=kind,
                       duration=t.duration, params=params, **common)  # fmt: skip
    for at in entry.window:  # the spec a run gets reads back as the fault asked for
        try:
            back = parse_fault(_fault_spec(entry, at))
        except GroundError as exc:
            raise DispersionError(f"{where} fault {_show(spec)}: {exc}") from None
        expected = {"at": at, "target": entry.target, "kind": entry.fault_kind}
        if entry.duration is not None:
            expected["duration"] = entry.duration
        if params:
            expected["params"] = params
        if back != expected or any(type(back.get("params", {})[k]) is not type(v)
                                   for k, v in params.items()):  # fmt: skip
            shown = _show(_fault_spec(entry, at))
            if {k: back[k] for k in ("target", "kind")} != {
                k: expected[k] for k in ("target", "kind")
            }:
                raise DispersionError(f"{where} fault {_show(spec)}: the spec {shown} reads back "
                                      f"as target {_show(back['target'])}, kind "
                                      f"{_show(back['kind'])} (parse_fault)")  # fmt: skip
            raise DispersionError(f"{where} params {_show(params)}: do not read back from "
                                  f"the fault spec {shown} as given (a word that reads as a "
                                  "number or a boolean?)")  # fmt: skip
    return entry


def _schema_error(where: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(step) for step in error["loc"]]
    if error["type"] == "extra_forbidden":
        key = loc[-1]
        if len(loc) == 1:
            known = list(_Table.model_fields)
        elif loc[0] == "normal":
            known = list(_Normal.model_fields)
        else:
            known = []
        hint = _hint(key, known)
        listed = f" ({hint}known: {', '.join(known)})" if known else ""
        return f"{where}: unknown key {_show(key)}{listed}"
    top = loc[0]
    path = top
    for i, step in enumerate(loc[1:]):
        if step.isdigit():
            path += f"[{step}]"
        elif i == 0 and top in ("normal", "params"):
            path += f".{_key(step)}"
    if error["type"] == "missing":
        return f"{where} {path}: is required: {_WHAT.get(top, 'a value')}"
    shown = _show(error.get("input"))
    return f"{where} {path} {shown}: give {_WHAT.get(top, 'a valid value')}"


def _key(name: str) -> str:
    """A key as part of a path: bare when plain, else quoted and cut short."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name) else _show(name)


def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name[:_SHOW_MAX], list(known), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _show(value: object) -> str:
    """A value on one short line, as the file writes it."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, int) and value.bit_length() > 64:
        text = f"a {value.bit_length()}-bit integer"
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=True)
        except (ValueError, RecursionError):
            text = "a value"
    return text if len(text) <= _SHOW_MAX else text[: _SHOW_MAX - 3] + "..."


class _BenchCheck:
    """Checks a dispersion against the bench the runs start from: every value a ``set`` can
    draw, a fault as a ``[[faults]]`` entry, a reset's node."""

    def __init__(self, source: str, bench_text: str) -> None:
        self.source = source
        self.bench_source = "bench"
        self.base = parse_toml(bench_text, f"{source}: the base bench", limit=MAX_BENCH_BYTES,
                               what="bench file", error=DispersionError)  # fmt: skip
        try:
            bench = parse_bench(bench_text, self.bench_source)
        except BenchError as exc:
            raise DispersionError(f"{source}: the base bench is refused: {exc}") from None
        self.nodes = tuple(bench.nodes)

    def check(self, d: Dispersion) -> None:
        where = f"{self.source}: [{d.name}]"
        if d.kind == "reset":
            if d.node not in self.nodes:
                raise DispersionError(f"{where} reset {_show(d.node)}: not a node of the bench "
                                      f"(nodes: {', '.join(self.nodes)})")  # fmt: skip
            return
        if d.kind == "fault":
            entry: dict[str, Any] = {"at": d.window[0], "target": d.target, "kind": d.fault_kind}
            if d.duration is not None:
                entry["duration"] = d.duration
            if d.params:
                entry["params"] = dict(d.params)
            document = _copy(self.base)
            document["faults"] = [*document.get("faults", []), entry]
            problem = self._refused(document)
            if problem is not None:
                at = problem.partition("].")[2] if problem.startswith("faults[") else problem
                raise DispersionError(f"{where} fault {_show(f'{d.target}:{d.fault_kind}')}: {at}")
            return
        if d.kind == "choice":
            ends: list[tuple[str, Any]] = [(f"choice[{i}]", v) for i, v in enumerate(d.values)]
        elif d.kind == "uniform":
            ends = [("uniform", d.low), ("uniform", d.high)]
        else:
            ends = [("normal.min", d.low), ("normal.max", d.high)]
        for label, value in ends:
            document = _copy(self.base)
            try:
                for key in d.keys:
                    _set_key(document, key, value, self.bench_source)
                text = tomli_w.dumps(document)
            except DispersionError as exc:
                raise DispersionError(
                    f"{where} set: {_after_source(exc, self.bench_source)}"
                ) from None
            except (TypeError, ValueError) as exc:
                raise DispersionError(
                    f"{where} {label} {_show(value)}: not a bench value: {exc}"
                ) from None
            problem = self._refused_text(text)
            if problem is not None:
                raise DispersionError(f"{where} {label} {_show(value)}: {problem}")

    def _refused(self, document: dict[str, Any]) -> str | None:
        try:
            text = tomli_w.dumps(document)
        except (TypeError, ValueError) as exc:
            return f"not a bench value: {exc}"
        return self._refused_text(text)

    def _refused_text(self, text: str) -> str | None:
        try:
            parse_bench(text, self.bench_source)
        except BenchError as exc:
            return _after_source(exc, self.bench_source)
        return None
