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

Arrays and objects nest at most :data:`MAX_JSON_DEPTH` deep, counted from the root of each
free-form value and through typed records alike; decoding and encoding both refuse deeper
values with ``wire_too_deep``, so whatever decodes encodes. Every (un)structure function takes
the depth it runs at. Checks are linear in the input; a JSON path is assembled only when a
value is refused (each level adds its key while the refusal propagates).
:func:`check_json_value` is the same check for values from user code, and :func:`json_field`
declares a free-form field that runs it whenever a record is made.
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
    _LONE_SURROGATE,
    MAX_JSON_DEPTH,
    TOO_DEEP,
    _JsonFault,
    _norm,
    _sort,
    fault_error,
    json_path,
    sha256_hex,
    utf8,
    wire_text_of,
)
from lash_core.errors import LashError, LocalProtocolError, WireDecodeError

__all__ = [
    "MAX_JSON_DEPTH",
    "U32",
    "Err",
    "JsonValue",
    "Ok",
    "Result",
    "canonical_bytes",
    "canonical_json",
    "check_json_value",
    "converter",
    "from_json",
    "from_wire",
    "json_field",
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


def omit_if_none(**field_kwargs: Any) -> Any:
    """An optional field that is left out of the JSON when ``None``.

    ``field_kwargs`` go to ``attrs.field`` (a ``converter`` or ``validator``, say).
    """
    return attrs.field(default=None, metadata={_OMIT: "none"}, **field_kwargs)


def omit_if_empty() -> Any:
    """A tuple field that is left out of the JSON when empty (and defaults to empty)."""
    return attrs.field(default=(), metadata={_OMIT: "empty"})


_CHECKED: Final = "lash_checked"


class _Checked:
    """A free-form value the decoder has already checked, handed to a :func:`json_field`'s
    converter so that it is not checked twice."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def json_field(
    *, what: str, code: str = codes.CANONICAL_JSON_UNENCODABLE, omit_none: bool = False
) -> Any:
    """A :data:`JsonValue` field checked by :func:`check_json_value` when the record is made.

    A value that is not JSON is ``code`` and one nesting too deeply ``wire_too_deep``, the
    message naming ``what``; tuples become lists. With ``omit_none`` the field defaults to
    ``None`` and is left out of the JSON when ``None`` (as :func:`omit_if_none`). Decoding
    checks the value once, not twice.
    """

    def convert(value: JsonValue) -> JsonValue:
        given: object = value
        if type(given) is _Checked:
            return typing.cast(JsonValue, given.value)
        return check_json_value(value, what=what, code=code)

    metadata: dict[str, Any] = {_CHECKED: True}
    if omit_none:
        metadata[_OMIT] = "none"
        return attrs.field(default=None, converter=convert, metadata=metadata)
    return attrs.field(converter=convert, metadata=metadata)


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

    def __init__(self, message: str, code: str = codes.WIRE_DECODE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.parts: list[str | int] = []


def _deep_fail() -> _Fail:
    return _Fail(f"value {TOO_DEEP}", codes.WIRE_TOO_DEEP)


# Every compiled function takes the value and its depth: how many arrays and objects of the
# typed structure enclose it (a free-form JSON value counts its own depth from its root). A
# function producing or reading an array or object refuses a depth of MAX_JSON_DEPTH, so the
# recursion is bounded and a decoded value always encodes.
_Unst = Callable[[Any, int], Any]
_St = Callable[[Any, int], Any]

_unst_cache: dict[Any, _Unst] = {}
_st_cache: dict[Any, _St] = {}


def _unst_str(value: Any, depth: int) -> Any:
    if type(value) is not str:
        raise _JsonFault(f"expected a string, got {type(value).__name__}")
    return value


def _unst_bool(value: Any, depth: int) -> Any:
    if type(value) is not bool:
        raise _JsonFault(f"expected a boolean, got {type(value).__name__}")
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


def _st_str(data: Any, depth: int) -> str:
    if type(data) is not str:
        raise _expected("a string", data)
    if not data.isascii():
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise _Fail("string holds a lone surrogate, which UTF-8 cannot carry") from None
    return data


def _st_bool(data: Any, depth: int) -> bool:
    if type(data) is not bool:
        raise _expected("a boolean", data)
    return data


def _make_unst_int(rng: _IntRange) -> _Unst:
    lo, hi, name = rng.lo, rng.hi, rng.name

    def unst(value: Any, depth: int) -> Any:
        if type(value) is not int or not lo <= value <= hi:
            raise _JsonFault(f"{_short(value)} is not a valid {name} integer")
        return value

    return unst


def _make_st_int(rng: _IntRange) -> _St:
    lo, hi, name = rng.lo, rng.hi, rng.name

    def st(data: Any, depth: int) -> int:
        if type(data) is not int:
            raise _expected(f"an integer ({name})", data)
        if not lo <= data <= hi:
            raise _Fail(f"integer {data} is out of range for {name}")
        return data

    return st


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _st_json(data: Any, depth: int) -> Any:
    # A free-form value counts its depth from its own root.
    try:
        return _norm(data, 0)
    except _JsonFault as fault:
        fail = _Fail(
            f"value {TOO_DEEP}" if fault.too_deep else fault.message,
            codes.WIRE_TOO_DEEP if fault.too_deep else codes.WIRE_DECODE,
        )
        fail.parts = fault.parts
        raise fail from None


def _unst_json(value: Any, depth: int) -> Any:
    return _sort(value, 0)


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


def _show(value: Any) -> str:
    """A short JSON-ish rendering of an offending input value, for a message (never raises)."""
    t = type(value)
    if t is str:
        return json.dumps(value if len(value) <= 40 else value[:40] + "...")
    if value is None or t is bool or t is int or t is float:
        return _short(json.dumps(value) if t is not int else value)
    return _type_name(value)


def _compile(tp: Any) -> tuple[_Unst, _St]:
    if tp in _st_cache:
        return _unst_cache[tp], _st_cache[tp]
    # Placeholders allow recursive types: filled in below.
    unst_cell: list[_Unst] = []
    st_cell: list[_St] = []
    _unst_cache[tp] = lambda v, n: unst_cell[0](v, n)
    _st_cache[tp] = lambda d, n: st_cell[0](d, n)
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
        return _unst_json, _st_json
    if tp is str:
        return _unst_str, _st_str
    if tp is bool:
        return _unst_bool, _st_bool
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

    def unst(v: Any, depth: int) -> Any:
        if type(v) is not tp:
            raise _JsonFault(f"expected a {tp.__name__}, got {type(v).__name__}")
        return v.value

    def st(data: Any, depth: int) -> Any:
        member = by_value.get(data) if type(data) is str else None
        if member is None:
            raise _Fail(f"expected one of {allowed}, got {_show(data)}")
        return member

    return unst, st


def _build_tuple(tp: Any) -> tuple[_Unst, _St]:
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item_unst, item_st = _compile(args[0])

        def unst(v: Any, depth: int) -> Any:
            if depth >= MAX_JSON_DEPTH:
                raise _JsonFault(TOO_DEEP, too_deep=True)
            if type(v) is not tuple and type(v) is not list:
                raise _JsonFault(f"expected a tuple, got {type(v).__name__}")
            d1 = depth + 1
            out = []
            for i, x in enumerate(v):
                try:
                    out.append(item_unst(x, d1))
                except _JsonFault as f:
                    f.parts.append(i)
                    raise
            return out

        def st(data: Any, depth: int) -> Any:
            if type(data) is not list:
                raise _expected("an array", data)
            if depth >= MAX_JSON_DEPTH:
                raise _deep_fail()
            d1 = depth + 1
            out = []
            for i, x in enumerate(data):
                try:
                    out.append(item_st(x, d1))
                except _Fail as f:
                    f.parts.append(i)
                    raise
            return tuple(out)

        return unst, st
    pairs = [_compile(a) for a in args]
    n = len(pairs)

    def unst_fixed(v: Any, depth: int) -> Any:
        if depth >= MAX_JSON_DEPTH:
            raise _JsonFault(TOO_DEEP, too_deep=True)
        if (type(v) is not tuple and type(v) is not list) or len(v) != n:
            raise _JsonFault(f"expected a tuple of {n} items, got {type(v).__name__}")
        d1 = depth + 1
        out = []
        for i, ((u, _), x) in enumerate(zip(pairs, v, strict=True)):
            try:
                out.append(u(x, d1))
            except _JsonFault as f:
                f.parts.append(i)
                raise
        return out

    def st_fixed(data: Any, depth: int) -> Any:
        if type(data) is not list or len(data) != n:
            raise _expected(f"an array of {n} items", data)
        if depth >= MAX_JSON_DEPTH:
            raise _deep_fail()
        d1 = depth + 1
        out = []
        for i, ((_, s), x) in enumerate(zip(pairs, data, strict=True)):
            try:
                out.append(s(x, d1))
            except _Fail as f:
                f.parts.append(i)
                raise
        return tuple(out)

    return unst_fixed, st_fixed


def _build_optional(inner: Any) -> tuple[_Unst, _St]:
    iu, ist = _compile(inner)

    def unst(v: Any, depth: int) -> Any:
        return None if v is None else iu(v, depth)

    def st(data: Any, depth: int) -> Any:
        return None if data is None else ist(data, depth)

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
    names = " or ".join(sorted(cls.__name__ for cls in spec.by_tag.values()))

    def unst(v: Any, depth: int) -> Any:
        fn = by_cls.get(type(v))
        if fn is None:
            raise _JsonFault(f"expected {names}, got {type(v).__name__}")
        return fn(v, depth)

    def st(data: Any, depth: int) -> Any:
        if type(data) is not dict:
            raise _expected("an object", data)
        tag = data.get(tag_key, _MISSING)
        if tag is _MISSING:
            raise _Fail(f"missing field `{tag_key}`")
        body = variant_st.get(tag) if type(tag) is str else None
        if body is None:
            fail = _Fail(f"unknown variant {_show(tag)}, expected one of {allowed}")
            fail.parts.append(tag_key)
            raise fail
        return body(data, depth)

    return unst, st


def _build_result(args: tuple[Any, ...]) -> tuple[_Unst, _St]:
    ok_t = next(a for a in args if (typing.get_origin(a) or a) is Ok)
    err_t = next(a for a in args if (typing.get_origin(a) or a) is Err)
    ok_args = typing.get_args(ok_t)
    err_args = typing.get_args(err_t)
    ok_u, ok_s = _compile(ok_args[0]) if ok_args else (_unst_json, _st_json)
    err_u, err_s = _compile(err_args[0]) if err_args else (_unst_json, _st_json)

    def unst(v: Any, depth: int) -> Any:
        if depth >= MAX_JSON_DEPTH:
            raise _JsonFault(TOO_DEEP, too_deep=True)
        t = type(v)
        if t is not Ok and t is not Err:
            raise _JsonFault(f"expected Ok or Err, got {t.__name__}")
        key, fn, inner = ("Ok", ok_u, v.value) if t is Ok else ("Err", err_u, v.error)
        try:
            return {key: fn(inner, depth + 1)}
        except _JsonFault as f:
            f.parts.append(key)
            raise

    def st(data: Any, depth: int) -> Any:
        if type(data) is not dict or len(data) != 1:
            raise _expected('an object with one key, "Ok" or "Err"', data)
        if depth >= MAX_JSON_DEPTH:
            raise _deep_fail()
        ((key, value),) = data.items()
        try:
            if key == "Ok":
                return Ok(ok_s(value, depth + 1))
            if key == "Err":
                return Err(err_s(value, depth + 1))
        except _Fail as f:
            f.parts.append(key)
            raise
        raise _Fail(f'unknown variant {_show(key)}, expected "Ok" or "Err"')

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
        if f.metadata.get(_CHECKED):
            st = _checked_st(st)
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


def _checked_st(st: _St) -> _St:
    def checked(data: Any, depth: int) -> Any:
        return _Checked(st(data, depth))

    return checked


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
    wrong_type = f"expected a {cls.__name__}"

    if content is not None:
        # Adjacently tagged: zero fields, or one field under `content`.
        if specs:
            spec = specs[0]

            def unst_adj(v: Any, depth: int) -> Any:
                if depth >= MAX_JSON_DEPTH:
                    raise _JsonFault(TOO_DEEP, too_deep=True)
                try:
                    return {
                        tag_key: tag_value,
                        content: spec.unst(getattr(v, spec.name), depth + 1),
                    }
                except _JsonFault as f:
                    f.parts.append(content)
                    raise

            def st_adj(data: Any, depth: int) -> Any:
                if type(data) is not dict:
                    raise _expected("an object", data)
                if depth >= MAX_JSON_DEPTH:
                    raise _deep_fail()
                if content not in data:
                    raise _Fail(f"missing field `{content}`")
                try:
                    return cls(spec.st(data[content], depth + 1))
                except _Fail as f:
                    f.parts.append(content)
                    raise

            return unst_adj, _tag_checked(st_adj, tag_key, tag_value, body_only)

        unit = cls()

        def unst_unit(v: Any, depth: int) -> Any:
            if depth >= MAX_JSON_DEPTH:
                raise _JsonFault(TOO_DEEP, too_deep=True)
            return {tag_key: tag_value}

        def st_unit(data: Any, depth: int) -> Any:
            if type(data) is not dict:
                raise _expected("an object", data)
            if depth >= MAX_JSON_DEPTH:
                raise _deep_fail()
            if data.get(content) is not None:
                fail = _expected("null", data[content])
                fail.parts.append(content)
                raise fail
            return unit

        return unst_unit, _tag_checked(st_unit, tag_key, tag_value, body_only)

    def unst(v: Any, depth: int) -> Any:
        if depth >= MAX_JSON_DEPTH:
            raise _JsonFault(TOO_DEEP, too_deep=True)
        d: dict[str, Any] = {tag_key: tag_value} if tag_key is not None else {}
        d1 = depth + 1
        for name, key, fu, omit in fields:
            try:
                x = getattr(v, name)
                if omit is not None and (x is None if omit == "none" else not x):
                    continue
                d[key] = fu(x, d1)
            except _JsonFault as f:
                f.parts.append(key)
                raise
            except AttributeError:
                raise _JsonFault(f"{wrong_type}, got {type(v).__name__}") from None
        return d

    readers = [(s.name, s.key, s.st, s.optional, s.has_default) for s in specs]

    def st(data: Any, depth: int) -> Any:
        if type(data) is not dict:
            raise _expected("an object", data)
        if depth >= MAX_JSON_DEPTH:
            raise _deep_fail()
        d1 = depth + 1
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
                kwargs[name] = fs(x, d1)
            except _Fail as f:
                f.parts.append(key)
                raise
        return cls(**kwargs)

    return unst, _tag_checked(st, tag_key, tag_value, body_only)


def _tag_checked(st: _St, tag_key: str | None, tag_value: str | None, body_only: bool) -> _St:
    if tag_key is None or body_only:
        return st

    def checked(data: Any, depth: int) -> Any:
        if type(data) is dict and data.get(tag_key) != tag_value:
            fail = _Fail(f"expected {json.dumps(tag_key)} to be {json.dumps(tag_value)}")
            fail.parts.append(tag_key)
            raise fail
        return st(data, depth)

    return checked


# -- public entry points ---------------------------------------------------------------------


def _unst_result(value: Any, depth: int) -> Any:
    is_ok = type(value) is Ok
    inner = value.value if is_ok else value.error
    key = "Ok" if is_ok else "Err"
    try:
        data = _unst_for(inner)(inner, depth + 1) if attrs.has(type(inner)) else _sort(inner, 0)
    except _JsonFault as f:
        f.parts.append(key)
        raise
    return {key: data}


def _unst_for(value: Any) -> _Unst:
    t = type(value)
    fn = _unst_cache.get(t)
    if fn is None:
        if t is Ok or t is Err:
            return _unst_result
        try:
            fn = _compile(t)[0]
        except TypeError:
            raise _JsonFault(f"{t.__name__} is not a wire value") from None
    return fn


def to_wire(value: Any) -> Any:
    """Unstructure a wire value into plain JSON data in wire order.

    A value that cannot be written (a field holding something that is not JSON) is
    ``canonical_json_unencodable``, one nesting deeper than :data:`MAX_JSON_DEPTH` is
    ``wire_too_deep``; both name the JSON path.
    """
    try:
        return _unst_for(value)(value, 0)
    except _JsonFault as fault:
        raise fault_error(fault) from None
    except RecursionError:
        raise LashError(codes.WIRE_TOO_DEEP, f"value {TOO_DEEP}") from None


def check_json_value(
    value: object, *, what: str, code: str = codes.CANONICAL_JSON_UNENCODABLE
) -> JsonValue:
    """``value`` checked as free-form JSON, in the form the wire carries it.

    Tuples become lists and integers outside the 64-bit range become floats (the same object
    comes back when nothing changed). Refuses, with a ``LocalProtocolError`` whose message
    names ``what`` and the JSON path: nesting deeper than :data:`MAX_JSON_DEPTH`
    (``wire_too_deep``); anything that is not JSON, such as a ``datetime``, a set, bytes, NaN
    or an infinity, an object key that is not a string, or a lone surrogate (``code``, by
    default ``canonical_json_unencodable``). Linear in the size of ``value``.
    """
    try:
        return _norm(value, 0)  # type: ignore[no-any-return]
    except _JsonFault as fault:
        error = fault_error(fault, what, code)
    except RecursionError:
        error = LashError(codes.WIRE_TOO_DEEP, f"{what} {TOO_DEEP}")
    raise LocalProtocolError(error.code, error.message)


@typing.overload
def from_wire(data: Any, tp: type[T]) -> T: ...
@typing.overload
def from_wire(data: Any, tp: Any) -> Any: ...
def from_wire(data: Any, tp: Any) -> Any:
    """Structure plain JSON data into ``tp``; raises ``WireDecodeError`` naming the path.

    ``data`` may be anything: what is not JSON of the right shape is ``wire_decode``, nesting
    deeper than :data:`MAX_JSON_DEPTH` is ``wire_too_deep``. Object fields the type does not
    read are skipped unread.
    """
    st = _st_cache.get(tp)
    if st is None:
        try:
            st = _compile(tp)[1]
        except TypeError as exc:
            raise LocalProtocolError(
                codes.WIRE_DECODE, f"cannot decode into {tp!r}: {exc}"
            ) from None
    try:
        return st(data, 0)
    except _Fail as f:
        raise WireDecodeError(f.code, f.message, json_path(f.parts)) from None
    except RecursionError:
        raise WireDecodeError(codes.WIRE_TOO_DEEP, f"value {TOO_DEEP}") from None


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


def _has_lone_surrogate(data: Any) -> bool:
    """Whether a parsed document holds a string with a surrogate (iterative, any depth)."""
    stack = [data]
    while stack:
        value = stack.pop()
        t = type(value)
        if t is str:
            if _LONE_SURROGATE.search(value):
                return True
        elif t is dict:
            for k in value:
                if _LONE_SURROGATE.search(k):
                    return True
            stack.extend(value.values())
        elif t is list:
            stack.extend(value)
    return False


def parse_json(text: str | bytes | bytearray) -> Any:
    """Parse JSON text as the reference does (UTF-8, no NaN, no lone surrogates).

    Anything that is not JSON text (not a ``str`` or bytes, not UTF-8, a syntax error) is
    ``wire_invalid_json``; a document nesting deeper than the parser's recursion allows (far
    beyond :data:`MAX_JSON_DEPTH`) is ``wire_too_deep``. The typed decoders enforce
    :data:`MAX_JSON_DEPTH` on what they read.
    """
    if not isinstance(text, str):
        if not isinstance(text, bytes | bytearray | memoryview):
            raise WireDecodeError(
                codes.WIRE_INVALID_JSON,
                f"expected JSON text (a str or bytes), got {type(text).__name__}",
            )
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireDecodeError(codes.WIRE_INVALID_JSON, f"input is not UTF-8: {exc}") from None
    elif not text.isascii() and _LONE_SURROGATE.search(text):
        raise WireDecodeError(codes.WIRE_INVALID_JSON, "input holds a lone surrogate")
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except RecursionError:
        raise WireDecodeError(codes.WIRE_TOO_DEEP, f"input {TOO_DEEP}") from None
    except ValueError as exc:
        raise WireDecodeError(codes.WIRE_INVALID_JSON, f"input is not JSON: {exc}") from None
    if _ESCAPED_SURROGATE.search(text) is not None and _has_lone_surrogate(data):
        raise WireDecodeError(codes.WIRE_INVALID_JSON, "input escapes a lone surrogate")
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
