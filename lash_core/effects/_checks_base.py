"""The building blocks of :mod:`lash_core.effects.checks`: the error a check raises with its path,
the checks of scalars and JSON values, and the combinators that check records, options, lists,
unions and results."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Final

from lash_core import codes
from lash_core.errors import LashError
from lash_core.wire import Err, Ok, check_json_value

_U64: Final = 2**64 - 1
_U32: Final = 2**32 - 1


class _Bad(Exception):
    """An unusable field; ``parts`` is its path, innermost first (added while unwinding)."""

    def __init__(self, message: str, code: str = codes.RUNTIME_EFFECT_INVALID_OUTCOME) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.parts: list[str | int] = []


def _name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _at(part: str | int, check: Callable[[Any], None], value: Any) -> None:
    try:
        check(value)
    except _Bad as bad:
        bad.parts.append(part)
        raise


def _str(value: Any) -> None:
    if type(value) is not str:
        raise _Bad(f"expected a str, got {_name(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Bad("the string holds a lone surrogate, which UTF-8 cannot carry") from None


def _opt_str(value: Any) -> None:
    if value is not None and type(value) is not str:
        raise _Bad(f"expected a str or None, got {_name(value)}")


def _bool(value: Any) -> None:
    if type(value) is not bool:
        raise _Bad(f"expected a bool, got {_name(value)}")


def _int(value: Any, top: int = _U64) -> None:
    if type(value) is not int:
        raise _Bad(f"expected an int, got {_name(value)}")
    if not 0 <= value <= top:
        raise _Bad(f"{value} is out of range (0 to {top})")


def _u32(value: Any) -> None:
    _int(value, _U32)


def _opt_u64(value: Any) -> None:
    if value is not None:
        _int(value)


_SCALARS: Final = frozenset({bool, float, type(None)})


def _scalar(value: Any) -> bool:
    """``value`` is a JSON scalar that needs no further check (an ASCII string, a 64-bit
    integer, a boolean, ``None``, a finite float)."""
    t = type(value)
    if t is str:
        return bool(value.isascii())
    if t is int:
        return bool(-(2**63) <= value <= _U64)
    return t in _SCALARS and (t is not float or value - value == 0.0)


def _json(value: Any) -> None:
    if _scalar(value):
        return
    if type(value) is dict and len(value) <= 8:
        # A small flat object of scalars, the usual tool argument or output: checked here.
        for key, item in value.items():
            t = type(item)
            if type(key) is not str or not key.isascii():
                break
            if t is str:
                if not item.isascii():
                    break
            elif t is int:
                if not -(2**63) <= item <= _U64:
                    break
            elif t is not bool and item is not None:
                break
        else:
            return
    try:
        check_json_value(value, what="value", code=codes.RUNTIME_EFFECT_INVALID_OUTCOME)
    except LashError as exc:
        raise _Bad(exc.message, exc.code) from None


def _enum(cls: type[enum.Enum]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if type(value) is not cls:
            raise _Bad(f"expected a {cls.__name__}, got {_name(value)}")

    return check


def _record(cls: type[Any], fields: tuple[tuple[str, Callable[[Any], None]], ...]) -> Any:
    # The commonest fields (an ASCII str, a bool, an unsigned int) pass inline; the others,
    # and any that does not pass inline, go through their check.
    inline: dict[Callable[[Any], None], type[Any]] = {_str: str, _bool: bool, _int: int}
    plain = tuple((name, inline.get(field), field) for name, field in fields)

    def check(value: Any) -> None:
        if type(value) is not cls and not isinstance(value, cls):
            raise _Bad(f"expected a {cls.__name__}, got {_name(value)}")
        for name, simple, field in plain:
            item: Any = getattr(value, name)
            if simple is not None and type(item) is simple:
                if simple is bool:
                    continue
                if simple is str:
                    if item.isascii():
                        continue
                elif 0 <= item <= _U64:
                    continue
            try:
                field(item)
            except _Bad as bad:
                bad.parts.append(name)
                raise

    return check


def _optional(inner: Callable[[Any], None], what: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value is None:
            return
        try:
            inner(value)
        except _Bad as bad:
            if not bad.parts and bad.message.startswith("expected a "):
                bad.message = f"expected {what} or None, got {_name(value)}"
            raise

    return check


def _items(inner: Callable[[Any], None]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if type(value) is not tuple and type(value) is not list:
            raise _Bad(f"expected a tuple, got {_name(value)}")
        for index, item in enumerate(value):
            try:
                inner(item)
            except _Bad as bad:
                bad.parts.append(index)
                raise

    return check


def _union(*variants: tuple[type[Any], Callable[[Any], None]]) -> Callable[[Any], None]:
    by_type = dict(variants)
    names = " or ".join(cls.__name__ for cls, _ in variants)

    def check(value: Any) -> None:
        variant = by_type.get(type(value))
        if variant is None:
            raise _Bad(f"expected {names}, got {_name(value)}")
        variant(value)

    return check


def _result(ok: Callable[[Any], None], err: Callable[[Any], None]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        t = type(value)
        if t is Ok:
            _at("Ok", ok, value.value)
        elif t is Err:
            _at("Err", err, value.error)
        else:
            raise _Bad(f"expected Ok or Err, got {_name(value)}")

    return check
