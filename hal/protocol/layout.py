"""Fast codecs generated from construct declarations of fixed-size headers.

construct is the single declaration of every wire format in this project: it documents the layout,
drives the ICD exports and parses anything. Interpreted, it runs at about 17k packets per second;
even compiled, a ``BitStruct`` header is far slower than the hand-written ``struct`` code a flight
team would write by hand. This module closes that gap without a second declaration: it reads a
construct ``Struct`` of fixed size and generates the ``struct`` + shift-and-mask code a person
would have written, as two plain functions:

* ``pack(*values) -> bytes`` taking the leaf fields in declaration order, checking each bit field's
  range (a value that would spill into its neighbour raises :class:`~hal.errors.EncodeError` naming
  the field), and
* ``unpack_from(buffer, offset=0) -> tuple`` returning the leaf fields in the same order, checking
  every ``Const`` (a mismatch raises :class:`~hal.errors.HeaderError` naming the field).

Supported subconstructs (enough for CCSDS and PUS headers and the device ICDs):

=====================================  =========================================================
construct                               generated code
=====================================  =========================================================
``Int8ub`` ... ``Int64ub``, ``Int*sb``  one ``struct`` item
``Float32b``, ``Float64b``              one ``struct`` item
``Bytes(n)``                            ``{n}s``
``Const(value, subcon)``                packed from the constant, checked when unpacked
``Padding(n)``                          ``{n}x``
``Struct(...)`` nested                  flattened; leaf names joined with ``.``
``BitStruct(...)`` of 8/16/32/64 bits   one unsigned word, fields by shift and mask;
                                        ``BitsInteger(n)``, ``Flag``, ``Padding(n)``, ``Const``
=====================================  =========================================================

Anything else raises :class:`LayoutError` when the layout is compiled (at import time), so an
unsupported declaration can never silently take the slow path.

The generated code is committed, not executed from strings: ``make codegen`` (``tools/
gen_layouts.py``) writes every named layout to :mod:`hal.protocol._generated_layouts`, where it
can be read and reviewed like any module. At import, :func:`compile_fixed` regenerates the source
text of the layout, and uses the committed code only when its digest matches; otherwise (a
declaration changed and ``make codegen`` was not run, or an unnamed ad-hoc layout) it falls back
to a generic interpreter of the same plan, with the same checks and messages, and records the
name in :data:`STALE`, which a test requires to be empty. The tests check, for every layout, that
the generated code, the interpreter, construct interpreted and construct compiled agree.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import construct as cs

from hal.errors import EncodeError, HeaderError, TruncatedError

__all__ = ["STALE", "FixedLayout", "LayoutError", "compile_fixed", "render_module"]

_FORMAT_FIELD_CODES = frozenset("bBhHiIlLqQfde")
_WORD_CODES = {8: "B", 16: "H", 32: "I", 64: "Q"}


class LayoutError(Exception):
    """A construct declaration uses something the fast-codec generator does not support.

    Raised at import time, never on received bytes.
    """


@dataclass(frozen=True)
class _Leaf:
    name: str
    kind: str  # "int", "float", "bytes", "bits", "flag"
    bits: int = 0
    const: Any = None
    has_const: bool = False


@dataclass(frozen=True)
class FixedLayout:
    """A generated codec for one fixed-size construct declaration.

    Attributes:
        declaration: the construct object it was generated from (the single source of truth).
        fields: leaf field names in wire order (nested names joined with ``.``); the order of the
            positional arguments of :attr:`pack` and of the tuple :attr:`unpack_from` returns.
            ``Const`` fields are included in unpacked tuples but are not arguments of ``pack``.
        size: encoded size in bytes.
        pack: ``pack(*values) -> bytes``; raises :class:`EncodeError` naming the field.
        unpack_from: ``unpack_from(buffer, offset=0) -> tuple``; raises :class:`TruncatedError`
            when fewer than ``size`` bytes follow ``offset``, :class:`HeaderError` on a ``Const``
            mismatch.
        source: the generated Python source, for review and debugging.
    """

    declaration: cs.Construct
    fields: tuple[str, ...]
    pack_fields: tuple[str, ...]
    size: int
    pack: Callable[..., bytes]
    unpack_from: Callable[..., tuple[Any, ...]]
    source: str

    def build_dict(self, values: dict[str, Any]) -> bytes:
        """Pack from a flat mapping of dotted field name to value (convenience, not hot)."""
        missing = [name for name in self.pack_fields if name not in values]
        if missing:
            raise EncodeError(f"missing fields: {', '.join(missing)}", reason="missing_field")
        return self.pack(*(values[name] for name in self.pack_fields))

    def parse_dict(self, data: bytes, offset: int = 0) -> dict[str, Any]:
        """Unpack to a flat mapping of dotted field name to value (convenience, not hot)."""
        return dict(zip(self.fields, self.unpack_from(data, offset), strict=True))


def _unwrap_renamed(sub: cs.Construct) -> tuple[str | None, cs.Construct]:
    name = None
    while isinstance(sub, cs.Renamed):
        name = sub.name if sub.name is not None else name
        sub = sub.subcon
    return name, sub


def _is_bitstruct(sub: cs.Construct) -> bool:
    return isinstance(sub, cs.Transformed) and isinstance(sub.subcon, cs.Struct)


def _bit_leaves(struct_con: cs.Struct, prefix: str) -> list[tuple[str | None, int, str, Any, bool]]:
    """Leaves of a BitStruct body as (name, width, kind, const, has_const)."""
    out: list[tuple[str | None, int, str, Any, bool]] = []
    for sub in struct_con.subcons:
        name, inner = _unwrap_renamed(sub)
        full = f"{prefix}{name}" if name else None
        const, has_const = None, False
        if isinstance(inner, cs.Const):
            const, has_const = inner.value, True
            inner = inner.subcon
        if isinstance(inner, cs.BitsInteger):
            if inner.signed or not isinstance(inner.length, int):
                raise LayoutError(f"{full}: only unsigned fixed-width BitsInteger is supported")
            out.append((full, inner.length, "bits", const, has_const))
        elif isinstance(inner, type(cs.Flag)):
            out.append((full, 1, "flag", const, has_const))
        elif isinstance(inner, cs.Padded) and isinstance(inner.length, int):
            out.append((None, inner.length, "pad", None, False))
        else:
            raise LayoutError(f"{full or '(unnamed)'}: {inner!r} is not supported inside BitStruct")
    return out


class _Generator:
    def __init__(self) -> None:
        self.fmt: list[str] = [">"]
        self.items: list[Any] = []  # per struct item: ("leaf", _Leaf) or ("word", bits, leaves)
        self.fields: list[str] = []
        self.pack_fields: list[str] = []
        self.byte_lengths: dict[str, int] = {}
        self.field_formats: dict[str, str] = {}

    def walk(self, con: cs.Construct, prefix: str) -> None:
        if not isinstance(con, cs.Struct):
            raise LayoutError(f"{prefix or 'top'}: expected Struct, got {con!r}")
        for sub in con.subcons:
            name, inner = _unwrap_renamed(sub)
            full = f"{prefix}{name}" if name else None
            self.item(full, inner)

    def item(self, full: str | None, inner: cs.Construct) -> None:
        const, has_const = None, False
        if isinstance(inner, cs.Const):
            const, has_const = inner.value, True
            inner = inner.subcon
        if isinstance(inner, cs.Struct):
            if has_const:
                raise LayoutError(f"{full}: Const of a Struct is not supported")
            self.walk(inner, f"{full}." if full else "")
        elif _is_bitstruct(inner):
            self.bitword(full, inner)
        elif isinstance(inner, cs.FormatField):
            code = inner.fmtstr[-1]
            big_endian = inner.fmtstr[0] in ">!" or code in "bB"
            if not big_endian or code not in _FORMAT_FIELD_CODES:
                raise LayoutError(f"{full}: only big-endian numeric fields are supported")
            self.fmt.append(code)
            self.field_formats[full or "_"] = ">" + code
            kind = "float" if code in "fde" else "int"
            self.leaf(_Leaf(full or "_", kind, const=const, has_const=has_const))
        elif isinstance(inner, cs.Bytes) and isinstance(inner.length, int):
            self.fmt.append(f"{inner.length}s")
            self.byte_lengths[full or "_"] = inner.length
            self.leaf(_Leaf(full or "_", "bytes", const=const, has_const=has_const))
        elif isinstance(inner, cs.Padded) and isinstance(inner.length, int):
            self.fmt.append(f"{inner.length}x")
        else:
            raise LayoutError(f"{full or '(unnamed)'}: {inner!r} is not supported")

    def leaf(self, leaf: _Leaf) -> None:
        if leaf.name == "_" and not leaf.has_const:
            raise LayoutError("an unnamed field must be a Const or Padding")
        self.items.append(("leaf", leaf))
        self.fields.append(leaf.name)
        if not leaf.has_const:
            self.pack_fields.append(leaf.name)

    def bitword(self, full: str | None, bitstruct: cs.Transformed) -> None:
        prefix = f"{full}." if full else ""
        leaves = _bit_leaves(bitstruct.subcon, prefix)
        # Cut the bit group into the smallest whole words (8/16/32/64 bits) that no field crosses.
        segment: list[tuple[str | None, int, str, Any, bool]] = []
        for leaf in leaves:
            segment.append(leaf)
            if sum(width for _, width, _, _, _ in segment) in _WORD_CODES:
                self.word(segment)
                segment = []
        if segment:
            total = sum(width for _, width, _, _, _ in leaves)
            raise LayoutError(
                f"{full or 'BitStruct'}: {total} bits do not split into 8/16/32/64-bit words"
            )

    def word(self, leaves: list[tuple[str | None, int, str, Any, bool]]) -> None:
        total = sum(width for _, width, _, _, _ in leaves)
        self.fmt.append(_WORD_CODES[total])
        placed: list[tuple[_Leaf, int]] = []
        shift = total
        for name, width, kind, const, has_const in leaves:
            shift -= width
            if kind == "pad":
                continue
            if name is None and not has_const:
                raise LayoutError("an unnamed bit field must be a Const or Padding")
            leaf = _Leaf(name or "_", kind, bits=width, const=const, has_const=has_const)
            placed.append((leaf, shift))
            if width == total and name:
                self.field_formats[name] = ">" + _WORD_CODES[total]
            self.fields.append(leaf.name)
            if not has_const:
                self.pack_fields.append(leaf.name)
        self.items.append(("word", total, placed))

    def explainer(self) -> Callable[[Exception, tuple[Any, ...]], EncodeError]:
        """Build the cold-path function that names the field a failed ``struct.pack`` choked on."""
        checks = [
            (name, struct.Struct(self.field_formats[name]))
            for name in self.pack_fields
            if name in self.field_formats
        ]
        order = {name: i for i, name in enumerate(self.pack_fields)}

        def explain(exc: Exception, values: tuple[Any, ...]) -> EncodeError:
            for name, single in checks:
                value = values[order[name]]
                try:
                    single.pack(value)
                except (struct.error, TypeError, OverflowError) as err:
                    return EncodeError(f"{name} = {value!r}: {err}", reason="out_of_range")
            return EncodeError(f"cannot pack: {exc}", reason="out_of_range")

        return explain

    def source(self, name: str) -> tuple[str, dict[str, Any]]:
        """Generate ``make_<name>(_S, _explain, C...)``, the factory returning ``pack`` and
        ``unpack_from``, and the values its parameters take."""
        names = {field: f"v{i}" for i, field in enumerate(self.pack_fields)}
        ns: dict[str, Any] = {"_S": self.struct(), "_explain": self.explainer()}
        pack_args: list[str] = []
        checks: list[str] = []
        unpack_targets: list[str] = []
        unpack_values: list[str] = []
        const_checks: list[str] = []
        for index, item in enumerate(self.items):
            target = f"w{index}"
            unpack_targets.append(target)
            if item[0] == "leaf":
                leaf: _Leaf = item[1]
                if leaf.has_const:
                    ns[f"C{index}"] = leaf.const
                    pack_args.append(f"C{index}")
                    const_checks.append(
                        f"    if {target} != C{index}:\n"
                        f"        raise HeaderError({leaf.name!r} + ' is ' + repr({target}) + "
                        f"', expected ' + repr(C{index}), reason='bad_' + {leaf.name!r})"
                    )
                else:
                    pack_args.append(names[leaf.name])
                    if leaf.kind == "bytes":
                        length = self.byte_lengths[leaf.name]
                        checks.append(
                            f"    if len({names[leaf.name]}) != {length}:\n"
                            f"        raise EncodeError({leaf.name!r} + "
                            f"' needs {length} bytes, got ' "
                            f"+ str(len({names[leaf.name]})), reason='bad_length')"
                        )
                unpack_values.append(target)
                continue
            _, _total, placed = item
            parts: list[str] = []
            for leaf, shift in placed:
                mask = (1 << leaf.bits) - 1
                if leaf.has_const:
                    value = int(leaf.const)
                    if value >> leaf.bits or value < 0:
                        raise LayoutError(f"{leaf.name}: constant {value} exceeds {leaf.bits} bits")
                    if value:
                        parts.append(str(value << shift))
                    ns[f"C{index}_{shift}"] = leaf.const
                    const_checks.append(
                        f"    if (({target} >> {shift}) & {mask}) != {value}:\n"
                        f"        raise HeaderError({leaf.name!r} + ' is ' + "
                        f"str(({target} >> {shift}) & {mask}) + ', expected {value}', "
                        f"reason='bad_' + {leaf.name.rsplit('.', 1)[-1]!r})"
                    )
                    extracted = f"C{index}_{shift}"
                elif leaf.bits == _total and leaf.kind == "bits":
                    parts.append(names[leaf.name])
                    unpack_values.append(target)
                    continue
                else:
                    var = names[leaf.name]
                    if leaf.kind == "flag":
                        parts.append(f"((1 if {var} else 0) << {shift})")
                    else:
                        checks.append(
                            f"    if {var} >> {leaf.bits} or {var} < 0:\n"
                            f"        raise EncodeError({leaf.name!r} + ' = ' + repr({var}) + "
                            f"' is outside 0..{mask}', reason='out_of_range')"
                        )
                        parts.append(f"({var} << {shift})" if shift else var)
                    extracted = (
                        f"(({target} >> {shift}) & {mask})" if shift else f"({target} & {mask})"
                    )
                    if leaf.kind == "flag":
                        extracted = f"({extracted} != 0)"
                unpack_values.append(extracted)
            pack_args.append(" | ".join(parts) if parts else "0")
        args = ", ".join(names[field] for field in self.pack_fields)
        size = ns["_S"].size
        body = [f"def pack({args}):", "    try:"]
        body += ["    " + line for check in checks for line in check.split("\n")]
        body += [
            f"        return _S.pack({', '.join(pack_args)})",
            "    except (_struct_error, TypeError, OverflowError) as exc:",
            f"        raise _explain(exc, ({args}{',' if args else ''})) from None",
            "",
            "def unpack_from(buffer, offset=0):",
            f"    if len(buffer) - offset < {size}:",
            f"        raise TruncatedError('need {size} bytes, have ' + str(len(buffer) - offset))",
            f"    {', '.join(unpack_targets)}, = _S.unpack_from(buffer, offset)",
        ]
        body += const_checks
        body.append(f"    return ({', '.join(unpack_values)},)")
        params = ", ".join(ns)
        lines = [f"def make_{name}({params}):", f'    """{self.fmt_text()} ({size} octets)."""']
        lines += ["    " + line if line else "" for text in body for line in text.split("\n")]
        lines += ["", "    return pack, unpack_from"]
        return "\n".join(lines) + "\n", ns

    def struct(self) -> struct.Struct:
        """The ``struct`` of the whole layout."""
        return struct.Struct(self.fmt_text())

    def fmt_text(self) -> str:
        """The ``struct`` format string."""
        return "".join(self.fmt)

    def interpreted(self) -> tuple[Callable[..., bytes], Callable[..., tuple[Any, ...]]]:
        """``pack`` and ``unpack_from`` that walk the plan at run time (no generated code).

        Same checks, same messages, same results as the generated code; slower. Used for
        unnamed layouts and, with a record in :data:`STALE`, when the committed code is stale.
        """
        packer = self.struct()
        explain = self.explainer()
        items = list(self.items)
        byte_lengths = dict(self.byte_lengths)
        count = len(self.pack_fields)
        size = packer.size

        def pack(*values: Any) -> bytes:
            if len(values) != count:
                raise TypeError(f"pack() takes {count} values, got {len(values)}")
            words: list[Any] = []
            it = iter(values)
            try:
                for item in items:
                    if item[0] == "leaf":
                        leaf: _Leaf = item[1]
                        if leaf.has_const:
                            words.append(leaf.const)
                            continue
                        value = next(it)
                        if leaf.kind == "bytes" and len(value) != byte_lengths[leaf.name]:
                            raise EncodeError(
                                f"{leaf.name} needs {byte_lengths[leaf.name]} bytes, "
                                f"got {len(value)}",
                                reason="bad_length",
                            )
                        words.append(value)
                        continue
                    _, total, placed = item
                    word = 0
                    for leaf, shift in placed:
                        if leaf.has_const:
                            word |= int(leaf.const) << shift
                            continue
                        value = next(it)
                        if leaf.kind == "flag":
                            word |= (1 if value else 0) << shift
                        elif leaf.bits == total:
                            word |= value
                        else:
                            if value >> leaf.bits or value < 0:
                                raise EncodeError(
                                    f"{leaf.name} = {value!r} is outside 0..{(1 << leaf.bits) - 1}",
                                    reason="out_of_range",
                                )
                            word |= value << shift
                    words.append(word)
                return packer.pack(*words)
            except (struct.error, TypeError, OverflowError) as exc:
                raise explain(exc, values) from None

        def unpack_from(buffer: Any, offset: int = 0) -> tuple[Any, ...]:
            if len(buffer) - offset < size:
                raise TruncatedError(f"need {size} bytes, have {len(buffer) - offset}")
            out: list[Any] = []
            for item, word in zip(items, packer.unpack_from(buffer, offset), strict=True):
                if item[0] == "leaf":
                    leaf = item[1]
                    if leaf.has_const and word != leaf.const:
                        raise HeaderError(
                            f"{leaf.name} is {word!r}, expected {leaf.const!r}",
                            reason=f"bad_{leaf.name}",
                        )
                    out.append(word)
                    continue
                for leaf, shift in item[2]:
                    value = (word >> shift) & ((1 << leaf.bits) - 1)
                    if leaf.has_const:
                        if value != int(leaf.const):
                            raise HeaderError(
                                f"{leaf.name} is {value}, expected {int(leaf.const)}",
                                reason=f"bad_{leaf.name.rsplit('.', 1)[-1]}",
                            )
                        value = leaf.const
                    elif leaf.kind == "flag":
                        value = value != 0
                    out.append(value)
            return tuple(out)

        return pack, unpack_from


STALE: set[str] = set()
"""Named layouts whose committed generated code did not match: they run interpreted."""

_REGISTERED: dict[str, str] = {}
_GENERATED_HEADER = '''"""Generated by ``make codegen`` (tools/gen_layouts.py) from the construct
declarations in ``hal.protocol``: one factory per named fixed-size layout. Do not edit; see
:mod:`hal.protocol.layout` for what this code is and how it is checked.
"""

# ruff: noqa
from struct import error as _struct_error

from hal.errors import EncodeError, HeaderError, TruncatedError
'''


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def compile_fixed(declaration: cs.Construct, name: str | None = None) -> FixedLayout:
    """A fast codec for a fixed-size construct ``Struct`` declaration.

    Args:
        declaration: a ``Struct`` built only from the subconstructs listed in the module docstring.
        name: the layout's name in :mod:`hal.protocol._generated_layouts` (an identifier); an
            unnamed layout always runs interpreted.

    Returns:
        The :class:`FixedLayout`, whose ``size`` equals ``declaration.sizeof()``.

    Raises:
        LayoutError: the declaration uses an unsupported subconstruct or odd-sized bit group, or
            the name is taken by another declaration.
    """
    gen = _Generator()
    gen.walk(declaration, "")
    source, params = gen.source(name or "anonymous")
    size = params["_S"].size
    if size != declaration.sizeof():
        raise LayoutError(f"generated size {size} differs from construct's {declaration.sizeof()}")
    factory = None
    if name is not None:
        if not name.isidentifier():
            raise LayoutError(f"layout name {name!r} is not an identifier")
        if _REGISTERED.get(name, source) != source:
            raise LayoutError(f"layout name {name!r} is already used by another declaration")
        _REGISTERED[name] = source
        factory = _committed_factory(name, source)
        if factory is None:
            STALE.add(name)
    pack, unpack_from = factory(**params) if factory is not None else gen.interpreted()
    return FixedLayout(
        declaration=declaration,
        fields=tuple(gen.fields),
        pack_fields=tuple(gen.pack_fields),
        size=size,
        pack=pack,
        unpack_from=unpack_from,
        source=source,
    )


def _committed_factory(name: str, source: str) -> Callable[..., Any] | None:
    try:
        from hal.protocol import _generated_layouts as generated
    except (ImportError, SyntaxError):  # not generated (or damaged): everything interpreted
        return None
    if generated.DIGESTS.get(name) != _digest(source):
        return None
    return generated.FACTORIES[name]


def render_module() -> str:
    """The text of :mod:`hal.protocol._generated_layouts` for every layout registered so far."""
    parts = [_GENERATED_HEADER]
    for name in sorted(_REGISTERED):
        parts.append("\n\n" + _REGISTERED[name])
    digests = "".join(
        f"    {name!r}: {_digest(_REGISTERED[name])!r},\n" for name in sorted(_REGISTERED)
    )
    factories = "".join(f"    {name!r}: make_{name},\n" for name in sorted(_REGISTERED))
    parts.append(f"\n\nDIGESTS = {{\n{digests}}}\n\nFACTORIES = {{\n{factories}}}\n")
    return "".join(parts)
