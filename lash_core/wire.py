"""The wire format: one converter between lash's frozen attrs values and the reference JSON.

Every wire type is a frozen ``attrs`` class. Its JSON form is derived from the class:

* fields are written in declaration order; a tagged variant writes its tag first;
* a field declared with :func:`omit_if_none` is left out when ``None`` (and may be absent on
  input); :func:`omit_if_empty` leaves out an empty tuple; any other ``X | None`` field is
  written as ``null`` and may be absent on input; :func:`renamed` writes a field under another
  JSON key (``class``);
* :data:`JsonValue` fields hold free-form JSON, written with object keys sorted;
* unions are registered with :func:`tagged_union` (internally tagged, ``{"type": "turn", ...}``)
  or with ``content=`` (adjacently tagged, ``{"status": "ok", "payload": ...}``);
* :class:`Ok` / :class:`Err` are the reference's ``Result``: ``{"Ok": ...}`` / ``{"Err": ...}``;
* integers are unsigned 64-bit unless annotated :data:`U32`; decoding is strict about types
  (``true`` is not an integer, ``"1"`` is not a number) and ignores unknown object keys.

``converter`` is a ``cattrs.Converter`` with these rules registered as hooks; :func:`to_wire`,
:func:`from_wire`, :func:`to_json`, :func:`from_json` are the short ways in. Malformed input
raises :class:`~lash_core.errors.WireDecodeError` with code ``wire_decode`` (or
``wire_invalid_json`` for text that is not JSON) and the JSON path of the problem.
"""

from __future__ import annotations

import enum
import json
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Final, Generic, TypeAlias, TypeVar, Union

import attrs
import cattrs

from lash_core import codes
from lash_core.canonical import (
    _PathError,
    normalize_json_value,
    sha256_hex,
    sort_json_value,
    utf8,
    wire_text_of,
)
from lash_core.errors import LashError, WireDecodeError

__all__ = [
    "U32",
    "Err",
    "JsonValue",
    "Ok",
    "Result",
    "canonical_bytes",
    "canonical_json",
    "converter",
    "from_json",
    "from_wire",
    "omit_if_empty",
    "omit_if_none",
    "parse_json",
    "renamed",
    "stable_hash",
    "tagged_union",
    "to_json",
    "to_wire",
]

T = TypeVar("T")
E = TypeVar("E")


class _JsonMarker:
    """Marks the free-form JSON alias so the converter can recognise it in annotations."""


_JSON_MARKER: Final = _JsonMarker()

JsonValue: TypeAlias = Annotated[
    Union[bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"], None],  # noqa: UP007
    _JSON_MARKER,
]
"""Free-form JSON (the reference's ``serde_json::Value``). Treat it as immutable."""


class _IntRange:
    __slots__ = ("hi", "lo", "name")

    def __init__(self, name: str, lo: int, hi: int) -> None:
        self.name, self.lo, self.hi = name, lo, hi


U64_RANGE: Final = _IntRange("u64", 0, 2**64 - 1)
U32_RANGE: Final = _IntRange("u32", 0, 2**32 - 1)
U32: TypeAlias = Annotated[int, U32_RANGE]
"""An unsigned 32-bit integer field (plain ``int`` fields are unsigned 64-bit)."""

_OMIT: Final = "lash_omit"
_NAME: Final = "lash_name"


def omit_if_none() -> Any:
    """An optional field that is left out of the JSON when ``None``."""
    return attrs.field(default=None, metadata={_OMIT: "none"})


def omit_if_empty() -> Any:
    """A tuple field that is left out of the JSON when empty (and defaults to empty)."""
    return attrs.field(default=(), metadata={_OMIT: "empty"})


def renamed(name: str, **field_kwargs: Any) -> Any:
    """A field written under the JSON key ``name`` instead of its attribute name.

    For wire names that are not Python identifiers (``class``). ``field_kwargs`` go to
    ``attrs.field``; a ``metadata`` dict given there is kept.
    """
    metadata = {**field_kwargs.pop("metadata", {}), _NAME: name}
    return attrs.field(metadata=metadata, **field_kwargs)


@attrs.frozen
class Ok(Generic[T]):
    """The success side of a wire ``Result``: ``{"Ok": value}``."""

    value: T


@attrs.frozen
class Err(Generic[E]):
    """The failure side of a wire ``Result``: ``{"Err": error}``."""

    error: E


Result: TypeAlias = Union[Ok[T], Err[E]]  # noqa: UP007


# -- registry of unions ----------------------------------------------------------------------


@attrs.frozen
class _UnionSpec:
    tag: str
    content: str | None
    by_tag: dict[str, type[Any]]


_unions: dict[frozenset[Any], _UnionSpec] = {}
_variant_tag: dict[type[Any], tuple[str, str, str | None]] = {}


def tagged_union(
    alias: Any, tag: str, variants: dict[str, type[Any]], *, content: str | None = None
) -> None:
    """Register the wire tags of a union of attrs classes.

    ``variants`` maps each tag value to its class. With ``content``, the union is adjacently
    tagged: a variant has no field (``{"status": "timeout"}``) or exactly one, written under
    ``content``.
    """
    members = frozenset(typing.get_args(alias)) if typing.get_args(alias) else frozenset([alias])
    if members != frozenset(variants.values()):
        raise TypeError(f"variants of {alias!r} do not match its members")
    spec = _UnionSpec(tag=tag, content=content, by_tag=dict(variants))
    _unions[members] = spec
    for name, cls in variants.items():
        if content is not None and len(attrs.fields(cls)) > 1:
            raise TypeError(f"adjacently tagged variant {cls.__name__} has more than one field")
        _variant_tag[cls] = (tag, name, content)


# -- compiled (un)structure functions --------------------------------------------------------


class _Fail(Exception):
    """Internal decode failure; ``parts`` is the path from the failing value up."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.parts: list[str | int] = []


_Unst = Callable[[Any], Any]
_St = Callable[[Any], Any]

_unst_cache: dict[Any, _Unst] = {}
_st_cache: dict[Any, _St] = {}


def _identity(value: Any) -> Any:
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    t = type(value)
    if t is bool:
        return "a boolean"
    if t is int or t is float:
        return "a number"
    if t is str:
        return "a string"
    if t is list or t is tuple:
        return "an array"
    if t is dict:
        return "an object"
    return t.__name__


def _expected(what: str, value: Any) -> _Fail:
    return _Fail(f"expected {what}, got {_type_name(value)}")


def _st_str(data: Any) -> str:
    if type(data) is not str:
        raise _expected("a string", data)
    if not data.isascii():
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise _Fail("string holds a lone surrogate, which UTF-8 cannot carry") from None
    return data


def _st_bool(data: Any) -> bool:
    if type(data) is not bool:
        raise _expected("a boolean", data)
    return data


def _make_unst_int(rng: _IntRange) -> _Unst:
    lo, hi, name = rng.lo, rng.hi, rng.name

    def unst(value: Any) -> Any:
        if type(value) is not int or not lo <= value <= hi:
            raise LashError(
                codes.CANONICAL_JSON_UNENCODABLE, f"{value!r} is not a valid {name} integer"
            )
        return value

    return unst


def _make_st_int(rng: _IntRange) -> _St:
    lo, hi, name = rng.lo, rng.hi, rng.name

    def st(data: Any) -> int:
        if type(data) is not int:
            raise _expected(f"an integer ({name})", data)
        if not lo <= data <= hi:
            raise _Fail(f"integer {data} is out of range for {name}")
        return data

    return st


def _st_json(data: Any) -> Any:
    try:
        return normalize_json_value(data)
    except _PathError as exc:
        fail = _Fail(exc.message)
        fail.parts = _split_path(exc.path)
        raise fail from None


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for m in re.finditer(r"\.([^.\[]*)|\[(\d+)\]", path):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    parts.reverse()
    return parts


def _is_json_value(tp: Any) -> bool:
    return typing.get_origin(tp) is Annotated and _JSON_MARKER in typing.get_args(tp)[1:]


def _strip_none(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if type(None) in args:
            rest = tuple(a for a in args if a is not type(None))
            if len(rest) == 1:
                return rest[0], True
            return Union[rest], True  # noqa: UP007
    return tp, False


def _compile(tp: Any) -> tuple[_Unst, _St]:
    if tp in _st_cache:
        return _unst_cache[tp], _st_cache[tp]
    # Placeholders allow recursive types: filled in below.
    unst_cell: list[_Unst] = []
    st_cell: list[_St] = []
    _unst_cache[tp] = lambda v: unst_cell[0](v)
    _st_cache[tp] = lambda d: st_cell[0](d)
    try:
        unst, st = _build(tp)
    except BaseException:
        del _unst_cache[tp], _st_cache[tp]
        raise
    unst_cell.append(unst)
    st_cell.append(st)
    _unst_cache[tp] = unst
    _st_cache[tp] = st
    return unst, st


def _build(tp: Any) -> tuple[_Unst, _St]:
    if _is_json_value(tp):
        return sort_json_value, _st_json
    if tp is str:
        return _identity, _st_str
    if tp is bool:
        return _identity, _st_bool
    if tp is int:
        return _make_unst_int(U64_RANGE), _make_st_int(U64_RANGE)
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *meta = typing.get_args(tp)
        rng = next((m for m in meta if isinstance(m, _IntRange)), None)
        if base is int and rng is not None:
            return _make_unst_int(rng), _make_st_int(rng)
        return _compile(base)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _build_enum(tp)
    if origin is tuple:
        return _build_tuple(tp)
    if origin is Union or origin is types.UnionType:
        inner, optional = _strip_none(tp)
        if optional:
            return _build_optional(inner)
        return _build_union(tp)
    if isinstance(tp, type) and attrs.has(tp):
        return _build_record(tp)
    if origin is not None and attrs.has(origin):
        return _build_record(tp)
    raise TypeError(f"no wire form for {tp!r}")


def _build_enum(tp: type[enum.Enum]) -> tuple[_Unst, _St]:
    by_value = {m.value: m for m in tp}
    allowed = ", ".join(json.dumps(v) for v in by_value)

    def unst(v: Any) -> Any:
        return v.value

    def st(data: Any) -> Any:
        member = by_value.get(data) if type(data) is str else None
        if member is None:
            raise _Fail(f"expected one of {allowed}, got {json.dumps(data)[:60]}")
        return member

    return unst, st


def _build_tuple(tp: Any) -> tuple[_Unst, _St]:
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item_unst, item_st = _compile(args[0])

        def unst(v: Any) -> Any:
            return [item_unst(x) for x in v]

        def st(data: Any) -> Any:
            if type(data) is not list:
                raise _expected("an array", data)
            out = []
            for i, x in enumerate(data):
                try:
                    out.append(item_st(x))
                except _Fail as f:
                    f.parts.append(i)
                    raise
            return tuple(out)

        return unst, st
    pairs = [_compile(a) for a in args]
    n = len(pairs)

    def unst_fixed(v: Any) -> Any:
        return [u(x) for (u, _), x in zip(pairs, v, strict=True)]

    def st_fixed(data: Any) -> Any:
        if type(data) is not list or len(data) != n:
            raise _expected(f"an array of {n} items", data)
        out = []
        for i, ((_, s), x) in enumerate(zip(pairs, data, strict=True)):
            try:
                out.append(s(x))
            except _Fail as f:
                f.parts.append(i)
                raise
        return tuple(out)

    return unst_fixed, st_fixed


def _build_optional(inner: Any) -> tuple[_Unst, _St]:
    iu, ist = _compile(inner)

    def unst(v: Any) -> Any:
        return None if v is None else iu(v)

    def st(data: Any) -> Any:
        return None if data is None else ist(data)

    return unst, st


def _build_union(tp: Any) -> tuple[_Unst, _St]:
    args = typing.get_args(tp)
    origins = {typing.get_origin(a) or a for a in args}
    if origins == {Ok, Err}:
        return _build_result(args)
    spec = _unions.get(frozenset(args))
    if spec is None:
        raise TypeError(f"union {tp!r} is not registered with tagged_union()")
    by_cls = {cls: _compile(cls)[0] for cls in spec.by_tag.values()}
    tag_key = spec.tag
    variant_st = {name: _compile_variant_body(cls) for name, cls in spec.by_tag.items()}
    allowed = ", ".join(json.dumps(k) for k in spec.by_tag)

    def unst(v: Any) -> Any:
        return by_cls[type(v)](v)

    def st(data: Any) -> Any:
        if type(data) is not dict:
            raise _expected("an object", data)
        tag = data.get(tag_key, _MISSING)
        if tag is _MISSING:
            raise _Fail(f"missing field `{tag_key}`")
        body = variant_st.get(tag) if type(tag) is str else None
        if body is None:
            fail = _Fail(f"unknown variant {json.dumps(tag)[:60]}, expected one of {allowed}")
            fail.parts.append(tag_key)
            raise fail
        return body(data)

    return unst, st


def _build_result(args: tuple[Any, ...]) -> tuple[_Unst, _St]:
    ok_t = next(a for a in args if (typing.get_origin(a) or a) is Ok)
    err_t = next(a for a in args if (typing.get_origin(a) or a) is Err)
    ok_args = typing.get_args(ok_t)
    err_args = typing.get_args(err_t)
    ok_u, ok_s = _compile(ok_args[0]) if ok_args else (_identity, _st_json)
    err_u, err_s = _compile(err_args[0]) if err_args else (_identity, _st_json)

    def unst(v: Any) -> Any:
        if type(v) is Ok:
            return {"Ok": ok_u(v.value)}
        return {"Err": err_u(v.error)}

    def st(data: Any) -> Any:
        if type(data) is not dict or len(data) != 1:
            raise _expected('an object with one key, "Ok" or "Err"', data)
        ((key, value),) = data.items()
        try:
            if key == "Ok":
                return Ok(ok_s(value))
            if key == "Err":
                return Err(err_s(value))
        except _Fail as f:
            f.parts.append(key)
            raise
        raise _Fail(f'unknown variant {json.dumps(key)}, expected "Ok" or "Err"')

    return unst, st


_MISSING: Final = object()


@attrs.frozen
class _FieldSpec:
    name: str
    key: str
    unst: _Unst
    st: _St
    omit: str | None
    optional: bool
    has_default: bool
    default: Any


def _field_specs(tp: Any) -> tuple[type[Any], list[_FieldSpec]]:
    cls = typing.get_origin(tp) or tp
    hints = typing.get_type_hints(cls, include_extras=True)
    type_args = typing.get_args(tp)
    params = getattr(cls, "__parameters__", ())
    subst = dict(zip(params, type_args, strict=False)) if type_args else {}
    specs = []
    for f in attrs.fields(cls):
        ftp = hints[f.name]
        if subst and isinstance(ftp, TypeVar):
            ftp = subst.get(ftp, ftp)
        _, optional = _strip_none(ftp)
        unst, st = _compile(ftp)
        has_default = f.default is not attrs.NOTHING
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = _MISSING
        specs.append(
            _FieldSpec(
                name=f.name,
                key=f.metadata.get(_NAME, f.name),
                unst=unst,
                st=st,
                omit=f.metadata.get(_OMIT),
                optional=optional and not _is_json_value(ftp),
                has_default=has_default,
                default=default,
            )
        )
    return cls, specs


def _compile_variant_body(cls: type[Any]) -> _St:
    """Structure function for a variant, reading fields (and adjacent content) from a dict."""
    return _build_record(cls, body_only=True)[1]


def _build_record(tp: Any, *, body_only: bool = False) -> tuple[_Unst, _St]:
    cls, specs = _field_specs(tp)
    tag_info = _variant_tag.get(cls)
    tag_key = tag_value = content = None
    if tag_info is not None:
        tag_key, tag_value, content = tag_info
    fields = [(s.name, s.key, s.unst, s.omit) for s in specs]

    if content is not None:
        # Adjacently tagged: zero fields, or one field under `content`.
        if specs:
            spec = specs[0]

            def unst_adj(v: Any) -> Any:
                return {tag_key: tag_value, content: spec.unst(getattr(v, spec.name))}

            def st_adj(data: Any) -> Any:
                if type(data) is not dict:
                    raise _expected("an object", data)
                if content not in data:
                    raise _Fail(f"missing field `{content}`")
                try:
                    return cls(spec.st(data[content]))
                except _Fail as f:
                    f.parts.append(content)
                    raise

            return unst_adj, _tag_checked(st_adj, tag_key, tag_value, body_only)

        unit = cls()

        def unst_unit(v: Any) -> Any:
            return {tag_key: tag_value}

        def st_unit(data: Any) -> Any:
            if type(data) is not dict:
                raise _expected("an object", data)
            if data.get(content) is not None:
                fail = _expected("null", data[content])
                fail.parts.append(content)
                raise fail
            return unit

        return unst_unit, _tag_checked(st_unit, tag_key, tag_value, body_only)

    def unst(v: Any) -> Any:
        d: dict[str, Any] = {tag_key: tag_value} if tag_key is not None else {}
        for name, key, fu, omit in fields:
            x = getattr(v, name)
            if omit is not None and (x is None if omit == "none" else not x):
                continue
            d[key] = fu(x)
        return d

    readers = [(s.name, s.key, s.st, s.optional, s.has_default) for s in specs]

    def st(data: Any) -> Any:
        if type(data) is not dict:
            raise _expected("an object", data)
        kwargs: dict[str, Any] = {}
        for name, key, fs, optional, has_default in readers:
            x = data.get(key, _MISSING)
            if x is _MISSING:
                if has_default:
                    continue
                if optional:
                    kwargs[name] = None
                    continue
                raise _Fail(f"missing field `{key}`")
            try:
                kwargs[name] = fs(x)
            except _Fail as f:
                f.parts.append(key)
                raise
        return cls(**kwargs)

    return unst, _tag_checked(st, tag_key, tag_value, body_only)


def _tag_checked(st: _St, tag_key: str | None, tag_value: str | None, body_only: bool) -> _St:
    if tag_key is None or body_only:
        return st

    def checked(data: Any) -> Any:
        if type(data) is dict and data.get(tag_key) != tag_value:
            fail = _Fail(f"expected {json.dumps(tag_key)} to be {json.dumps(tag_value)}")
            fail.parts.append(tag_key)
            raise fail
        return st(data)

    return checked


# -- public entry points ---------------------------------------------------------------------


def _unst_result(value: Any) -> Any:
    inner = value.value if type(value) is Ok else value.error
    data = to_wire(inner) if attrs.has(type(inner)) else sort_json_value(inner)
    return {"Ok": data} if type(value) is Ok else {"Err": data}


def _unst_for(value: Any) -> _Unst:
    t = type(value)
    fn = _unst_cache.get(t)
    if fn is None:
        if t is Ok or t is Err:
            return _unst_result
        try:
            fn = _compile(t)[0]
        except TypeError as exc:
            raise LashError(codes.CANONICAL_JSON_UNENCODABLE, str(exc)) from None
    return fn


def to_wire(value: Any) -> Any:
    """Unstructure a wire value into plain JSON data in wire order."""
    return _unst_for(value)(value)


def _path_text(parts: list[str | int]) -> str:
    out = ["$"]
    for p in reversed(parts):
        out.append(f"[{p}]" if isinstance(p, int) else f".{p}")
    return "".join(out)


@typing.overload
def from_wire(data: Any, tp: type[T]) -> T: ...
@typing.overload
def from_wire(data: Any, tp: Any) -> Any: ...
def from_wire(data: Any, tp: Any) -> Any:
    """Structure plain JSON data into ``tp``; raises ``WireDecodeError`` naming the path."""
    st = _st_cache.get(tp)
    if st is None:
        st = _compile(tp)[1]
    try:
        return st(data)
    except _Fail as f:
        raise WireDecodeError(codes.WIRE_DECODE, f.message, _path_text(f.parts)) from None
    except RecursionError:
        raise WireDecodeError(codes.WIRE_DECODE, "value nests too deeply") from None


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a wire value (the reference's exact serialisation)."""
    text = wire_text_of(to_wire(value))
    if not text.isascii():
        utf8(text)  # refuses lone surrogates, as the bytes and the hash do
    return text


def canonical_bytes(value: Any) -> bytes:
    """UTF-8 bytes of :func:`canonical_json`."""
    return utf8(wire_text_of(to_wire(value)))


def stable_hash(value: Any) -> str:
    """Lowercase hex SHA-256 of a wire value's canonical JSON."""
    return sha256_hex(utf8(wire_text_of(to_wire(value))))


to_json = canonical_json
"""Alias of :func:`canonical_json`."""

_ESCAPED_SURROGATE: Final = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"number {text} is out of range")
    return value


def _check_strings(value: Any) -> None:
    t = type(value)
    if t is str:
        value.encode("utf-8")
    elif t is dict:
        for k, v in value.items():
            k.encode("utf-8")
            _check_strings(v)
    elif t is list:
        for v in value:
            _check_strings(v)


def parse_json(text: str | bytes | bytearray) -> Any:
    """Parse JSON text as the reference does (UTF-8, no NaN, no lone surrogates)."""
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireDecodeError(codes.WIRE_INVALID_JSON, f"input is not UTF-8: {exc}") from None
    elif not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise WireDecodeError(codes.WIRE_INVALID_JSON, "input holds a lone surrogate") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except (ValueError, RecursionError) as exc:
        raise WireDecodeError(codes.WIRE_INVALID_JSON, f"input is not JSON: {exc}") from None
    if _ESCAPED_SURROGATE.search(text) is not None:
        try:
            _check_strings(data)
        except UnicodeEncodeError:
            raise WireDecodeError(
                codes.WIRE_INVALID_JSON, "input escapes a lone surrogate"
            ) from None
        except RecursionError:
            raise WireDecodeError(codes.WIRE_INVALID_JSON, "input nests too deeply") from None
    return data


@typing.overload
def from_json(text: str | bytes | bytearray, tp: type[T]) -> T: ...
@typing.overload
def from_json(text: str | bytes | bytearray, tp: Any) -> Any: ...
def from_json(text: str | bytes | bytearray, tp: Any) -> Any:
    """Decode JSON text into ``tp`` (see :func:`from_wire`)."""
    return from_wire(parse_json(text), tp)


def _is_wire_class(tp: Any) -> bool:
    cls = typing.get_origin(tp) or tp
    return isinstance(cls, type) and attrs.has(cls) and cls.__module__.startswith("lash_core")


def _is_wire_union(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is not Union and origin is not types.UnionType:
        return False
    inner, _ = _strip_none(tp)
    args = typing.get_args(inner) or (inner,)
    return frozenset(args) in _unions or {typing.get_origin(a) or a for a in args} == {Ok, Err}


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_unstructure_hook_func(_is_wire_class, to_wire)
    conv.register_structure_hook_func(
        lambda tp: _is_wire_class(tp) or _is_wire_union(tp), from_wire
    )
    return conv


converter: Final[cattrs.Converter] = _make_converter()
"""The one converter between wire values and plain JSON data."""
