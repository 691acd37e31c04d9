"""The building blocks of wire types: the free-form :data:`JsonValue` and ranged int markers,
field helpers (:func:`omit_if_none`, :func:`omit_if_empty`, :func:`json_field`, :func:`renamed`),
:class:`Ok` / :class:`Err`, and the registry of tagged unions (:func:`tagged_union`).

:mod:`lash_core.wire` re-exports the public names; :mod:`lash_core._wire_compile` reads the
markers and the union registry when it compiles a type's (un)structure functions.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Final, Generic, TypeAlias, TypeVar, Union

import attrs

from lash_core import codes
from lash_core.canonical import TOO_DEEP, _JsonFault, _norm, fault_error
from lash_core.errors import LashError, LocalProtocolError

__all__ = [
    "U32",
    "U32_RANGE",
    "U64_RANGE",
    "Err",
    "JsonValue",
    "Ok",
    "Result",
    "check_json_value",
    "json_field",
    "omit_if_empty",
    "omit_if_none",
    "renamed",
    "tagged_union",
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
