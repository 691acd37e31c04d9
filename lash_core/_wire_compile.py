"""The wire converter's compiled (un)structure functions: for each type, a pair of functions
built once from its annotations (records, tuples, optionals, enums, tagged unions, results,
ranged ints, free-form JSON) and cached, each taking the value and the depth it runs at.

:mod:`lash_core.wire`'s entry points (:func:`~lash_core.wire.to_wire`,
:func:`~lash_core.wire.from_wire`) call :func:`_compile`.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Final, TypeVar, Union

import attrs

from lash_core import codes
from lash_core._wire_types import (
    _CHECKED,
    _NAME,
    _OMIT,
    U64_RANGE,
    Err,
    Ok,
    _Checked,
    _IntRange,
    _is_json_value,
    _strip_none,
    _unions,
    _variant_tag,
)
from lash_core.canonical import (
    MAX_JSON_DEPTH,
    TOO_DEEP,
    _JsonFault,
    _norm,
    _sort,
)

__all__: list[str] = []


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
