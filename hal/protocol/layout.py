"""Fast codecs generated from construct declarations of fixed-size headers.

construct is the single declaration of every wire format in this project: it documents the layout,
drives the ICD exports and parses anything. Interpreted, it runs at about 17k packets per second;
even compiled, a ``BitStruct`` header is far slower than the hand-written ``struct`` code a flight
team would write by hand. This module closes that gap without a second declaration: it reads a
construct ``Struct`` of fixed size and generates, once at import time, the ``struct`` +
shift-and-mask code a person would have written, as two plain functions:

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
unsupported declaration can never silently take the slow path. The test suite checks, for every
layout, that the generated code, construct interpreted and construct compiled agree byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import construct as cs

from hal.errors import EncodeError, HeaderError, TruncatedError

__all__ = ["FixedLayout", "LayoutError", "compile_fixed"]

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

    def source(self) -> tuple[str, dict[str, Any]]:
        """Generate the source of ``pack`` and ``unpack_from``."""
        names = {name: f"v{i}" for i, name in enumerate(self.pack_fields)}
        ns: dict[str, Any] = {
            "_S": struct.Struct("".join(self.fmt)),
            "_struct_error": struct.error,
            "EncodeError": EncodeError,
            "HeaderError": HeaderError,
            "TruncatedError": TruncatedError,
            "_explain": self.explainer(),
        }
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
        args = ", ".join(names[name] for name in self.pack_fields)
        size = ns["_S"].size
        lines = [f"def pack({args}):", "    try:"]
        lines += ["    " + line for check in checks for line in check.split("\n")]
        lines += [
            f"        return _S.pack({', '.join(pack_args)})",
            "    except (_struct_error, TypeError, OverflowError) as exc:",
            f"        raise _explain(exc, ({args}{',' if args else ''})) from None",
            "",
            "def unpack_from(buffer, offset=0):",
            f"    if len(buffer) - offset < {size}:",
            f"        raise TruncatedError('need {size} bytes, have ' + str(len(buffer) - offset))",
            f"    {', '.join(unpack_targets)}, = _S.unpack_from(buffer, offset)",
        ]
        lines += const_checks
        lines.append(f"    return ({', '.join(unpack_values)},)")
        return "\n".join(lines) + "\n", ns


def compile_fixed(declaration: cs.Construct) -> FixedLayout:
    """Generate a fast codec for a fixed-size construct ``Struct`` declaration.

    Args:
        declaration: a ``Struct`` built only from the subconstructs listed in the module docstring.

    Returns:
        The :class:`FixedLayout`, whose ``size`` equals ``declaration.sizeof()``.

    Raises:
        LayoutError: the declaration uses an unsupported subconstruct or odd-sized bit group.
    """
    gen = _Generator()
    gen.walk(declaration, "")
    source, namespace = gen.source()
    # The source is generated from the project's own declarations, never from received data.
    exec(compile(source, f"<layout {declaration!r}>", "exec"), namespace)  # noqa: S102
    size = namespace["_S"].size
    if size != declaration.sizeof():
        raise LayoutError(f"generated size {size} differs from construct's {declaration.sizeof()}")
    return FixedLayout(
        declaration=declaration,
        fields=tuple(gen.fields),
        pack_fields=tuple(gen.pack_fields),
        size=size,
        pack=namespace["pack"],
        unpack_from=namespace["unpack_from"],
        source=source,
    )
