"""attrs validators for the fields of value classes built by users.

Each raises :class:`~lash_core.errors.LocalProtocolError` with the class's code and a message
naming the field, what it expects and what it got, so a wrong type fails where the value is
built (not later, somewhere else, as a raw ``AttributeError``). They check exactly the types
the wire decoder produces, so decoding never trips them.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import Any, Final, NoReturn, TypeAlias

import attrs

from lash_core.errors import LocalProtocolError
from lash_core.wire import omit_if_empty, omit_if_none

__all__ = [
    "U32_MAX",
    "U64_MAX",
    "Validator",
    "describe",
    "is_bool",
    "is_instance",
    "is_int",
    "is_str",
    "is_uint",
    "omitted_if_empty",
    "omitted_if_none",
    "optional",
    "tuple_of",
]

U32_MAX: Final = 2**32 - 1
U64_MAX: Final = 2**64 - 1

Validator: TypeAlias = Callable[[Any, "attrs.Attribute[Any]", Any], None]

_REPR: Final = reprlib.Repr()
_REPR.maxstring = 40
_REPR.maxother = 40


def describe(value: object) -> str:
    """``type value`` in a few characters (``str 'hello'``, ``NoneType None``)."""
    try:
        shown = _REPR.repr(value)
    except Exception:
        shown = "..."
    return f"{type(value).__name__} {shown}"


def _field_check(code: str, expected: str, ok: Callable[[Any], bool]) -> Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not ok(value):
            _refuse(code, expected, instance, attribute, value)

    return check


def _refuse(
    code: str, expected: str, instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> NoReturn:
    raise LocalProtocolError(
        code,
        f"{type(instance).__name__}.{attribute.name} must be {expected}, got {describe(value)}",
    )


# The commonest validators test their value inline (they run on every value the turn builds).


def is_str(code: str) -> Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str):
            _refuse(code, "a str", instance, attribute, value)

    return check


def is_bool(code: str) -> Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not bool:
            _refuse(code, "a bool", instance, attribute, value)

    return check


def is_int(code: str) -> Validator:
    """Any int (a bool is not a number)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not int:
            _refuse(code, "an int", instance, attribute, value)

    return check


def is_uint(code: str, hi: int = U64_MAX) -> Validator:
    """A whole number from 0 to ``hi`` (a bool is not a number)."""
    expected = f"an int from 0 to {hi}"

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not int or not 0 <= value <= hi:
            _refuse(code, expected, instance, attribute, value)

    return check


def is_instance(code: str, expected: str, *types: type) -> Validator:
    return _field_check(code, expected, lambda value: isinstance(value, types))


def optional(code: str, expected: str, ok: Callable[[Any], bool]) -> Validator:
    return _field_check(code, f"{expected} or None", lambda value: value is None or ok(value))


def tuple_of(code: str, expected: str, *types: type) -> Validator:
    """A tuple whose items are all instances of ``types`` (``expected`` names them)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not tuple:
            raise LocalProtocolError(
                code,
                f"{type(instance).__name__}.{attribute.name} must be a tuple of {expected}, "
                f"got {describe(value)}",
            )
        for index, item in enumerate(value):
            if not isinstance(item, types):
                raise LocalProtocolError(
                    code,
                    f"{type(instance).__name__}.{attribute.name} must be a tuple of {expected}, "
                    f"got {describe(item)} at index {index}",
                )

    return check


def omitted_if_none(validator: Validator) -> Any:
    """:func:`lash_core.wire.omit_if_none` with a validator."""
    return attrs.field(default=None, metadata=omit_if_none().metadata, validator=validator)


def omitted_if_empty(validator: Validator) -> Any:
    """:func:`lash_core.wire.omit_if_empty` with a validator."""
    return attrs.field(default=(), metadata=omit_if_empty().metadata, validator=validator)
