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

The building blocks (:data:`JsonValue`, the field helpers, :class:`Ok` / :class:`Err`, the union
registry, :func:`check_json_value`) live in :mod:`lash_core._wire_types` and the compiled
(un)structure functions in :mod:`lash_core._wire_compile`; this module holds the entry points
and the JSON text functions, and re-exports the public names.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from typing import Any, Final, Union

import attrs
import cattrs

from lash_core import codes
from lash_core._wire_compile import (
    _compile,
    _Fail,
    _st_cache,
    _Unst,
    _unst_cache,
)
from lash_core._wire_types import U32 as U32
from lash_core._wire_types import U32_RANGE as U32_RANGE
from lash_core._wire_types import U64_RANGE as U64_RANGE
from lash_core._wire_types import E as E
from lash_core._wire_types import Err as Err
from lash_core._wire_types import JsonValue as JsonValue
from lash_core._wire_types import Ok as Ok
from lash_core._wire_types import Result as Result
from lash_core._wire_types import T as T
from lash_core._wire_types import _IntRange as _IntRange
from lash_core._wire_types import _is_json_value as _is_json_value
from lash_core._wire_types import _strip_none as _strip_none
from lash_core._wire_types import _unions as _unions
from lash_core._wire_types import check_json_value as check_json_value
from lash_core._wire_types import json_field as json_field
from lash_core._wire_types import omit_if_empty as omit_if_empty
from lash_core._wire_types import omit_if_none as omit_if_none
from lash_core._wire_types import renamed as renamed
from lash_core._wire_types import tagged_union as tagged_union
from lash_core.canonical import (
    _LONE_SURROGATE,
    MAX_JSON_DEPTH,
    TOO_DEEP,
    _JsonFault,
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


_decode: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float).decode
"""``json.loads`` with our hooks, without building a decoder per call (as ``json.loads`` does
when given any)."""


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
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        data = _decode(text)
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
