"""Canonical JSON: the exact bytes the reference runtime hashes and signs.

The rules (compact output; dicts written in the order they hold, so typed records keep
declaration order and free-form values are sorted when they are unstructured; strings escaped
only for ``"``, ``\\`` and control characters; shortest round-trip floats laid out as the
reference does, with ``1e+20`` style exponents; ``NaN``/``inf`` as ``null``; integers above the
64-bit range written as floats) are implemented here once.

Free-form JSON values are checked (:func:`normalize_json_value`) and sorted
(:func:`sort_json_value`) in time linear in their size, nesting at most :data:`MAX_JSON_DEPTH`
deep; a refusal names the JSON path, which is only built when a refusal happens.

The fast path hands the document to the C JSON encoder and only falls back to the pure-Python
encoder when the output contains a number whose layout differs between Python and the
reference (a small float, a non-finite float or a 20-digit integer).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Any, Final

from lash_core import codes
from lash_core.errors import LashError

__all__ = [
    "MAX_JSON_DEPTH",
    "TOO_DEEP",
    "canonical_bytes_of",
    "canonical_text_of",
    "fault_error",
    "format_float",
    "json_path",
    "json_string",
    "normalize_json_value",
    "sha256_hex",
    "sort_json_value",
    "sorted_text_of_normalized",
    "utf8",
    "wire_text_of",
]

_U64_MAX: Final = 2**64 - 1
_I64_MIN: Final = -(2**63)

_encode_fast: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=True, check_circular=False
).encode
_encode_sorted: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=True,
    check_circular=False,
    sort_keys=True,
).encode
_encode_string: Callable[[str], str] = json.encoder.encode_basestring

# A 19+ digit integer token may lie outside the 64-bit range, which the reference writes as a
# float. Only raw data can hold one: `to_wire` output never does.
_LONG_INT: Final = re.compile(r"(?:^|[:,\[])-?\d{19}")


def _needs_exact_floats(text: str) -> bool:
    """Whether the C encoder's text may hold a float the reference lays out differently.

    Python and the reference agree on every finite float except those written with a negative
    exponent (Python pads it, ``1e-05``, and uses it from 1e-5 down), and Python writes
    ``NaN``/``Infinity`` where the reference writes ``null``. A match inside a string only costs
    the exact path, never correctness.
    """
    if "NaN" in text or "Infinity" in text:
        return True
    i = text.find("e-")
    while i > 0:
        if text[i - 1].isdigit():
            return True
        i = text.find("e-", i + 2)
    return False


def json_string(text: str) -> str:
    """A string as a canonical JSON string literal."""
    return _encode_string(text)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def format_float(value: float) -> str:
    """Lay out a float as the reference encoder does.

    Shortest round-trip digits; ``1.0``, ``0.00001``, ``1e-7``, ``1e+16``; ``-0.0``;
    ``null`` for NaN and infinities.
    """
    if value != value or value in (math.inf, -math.inf):
        return "null"
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    text = repr(value)
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + exponent
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    n = len(digits)
    kk = point
    if kk - n >= 0 and kk <= 16:
        return f"{sign}{digits}{'0' * (kk - n)}.0"
    if 0 < kk <= 16:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -5 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    exp = kk - 1
    exp_out = f"+{exp}" if exp >= 0 else str(exp)
    if n == 1:
        return f"{sign}{digits}e{exp_out}"
    return f"{sign}{digits[0]}.{digits[1:]}e{exp_out}"


def _unencodable(message: str) -> LashError:
    return LashError(codes.CANONICAL_JSON_UNENCODABLE, message)


def _encode_py(value: Any, out: list[str]) -> None:
    """The exact encoder, used when the fast path may differ. Keeps dict order."""
    t = type(value)
    if t is str:
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif t is int:
        if _I64_MIN <= value <= _U64_MAX:
            out.append(str(value))
        else:
            try:
                out.append(format_float(float(value)))
            except OverflowError:
                raise _unencodable("integer too large for a JSON number") from None
    elif t is float:
        out.append(format_float(value))
    elif t is dict:
        out.append("{")
        first = True
        for k, v in value.items():
            if type(k) is not str:
                raise _unencodable(f"object key {k!r} is not a string")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(k))
            out.append(":")
            _encode_py(v, out)
        out.append("}")
    elif t is list or t is tuple:
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode_py(v, out)
        out.append("]")
    else:
        raise _unencodable(f"{t.__name__} is not a JSON value")


def canonical_text_of(data: Any) -> str:
    """Canonical JSON text of already-unstructured data (dicts are written in their order)."""
    text = _fast(data)
    if _needs_exact_floats(text) or _LONG_INT.search(text) is not None:
        return _exact(data)
    return text


def sorted_text_of_normalized(value: Any) -> str:
    """``canonical_text_of(sort_json_value(value))`` for a value :func:`normalize_json_value`
    returned (exact JSON types, string keys, at most :data:`MAX_JSON_DEPTH` deep), without the
    sorted copy: the C encoder sorts every object's keys as it writes them (the same order:
    keys are unique strings). Text the fast path would not write as the reference does goes
    the exact way, through the sorted copy."""
    try:
        text = _encode_sorted(value)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is None or _needs_exact_floats(text) or _LONG_INT.search(text) is not None:
        return canonical_text_of(sort_json_value(value))
    return text


def wire_text_of(data: Any) -> str:
    """:func:`canonical_text_of` for data from ``to_wire``, whose integers are in range."""
    text = _fast(data)
    if _needs_exact_floats(text):
        return _exact(data)
    return text


def _fast(data: Any) -> str:
    try:
        return _encode_fast(data)
    except RecursionError:
        raise LashError(codes.WIRE_TOO_DEEP, f"value {TOO_DEEP}") from None
    except (TypeError, ValueError) as exc:
        raise _unencodable(str(exc)) from None


def _exact(data: Any) -> str:
    out: list[str] = []
    try:
        _encode_py(data, out)
    except RecursionError:
        raise LashError(codes.WIRE_TOO_DEEP, f"value {TOO_DEEP}") from None
    return "".join(out)


def canonical_bytes_of(data: Any) -> bytes:
    """UTF-8 canonical JSON of already-unstructured data."""
    return utf8(canonical_text_of(data))


def utf8(text: str) -> bytes:
    """UTF-8 bytes of canonical text; a lone surrogate is ``canonical_json_unencodable``."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise _unencodable("a string holds a lone surrogate, which UTF-8 cannot carry") from None


# -- free-form JSON values: checking, normalising, sorting -----------------------------------

MAX_JSON_DEPTH: Final = 128
"""How deeply arrays and objects may nest: in a free-form JSON value (counted from its own root)
and in a typed wire record. Decoding, encoding and the constructors of values holding user JSON
all refuse deeper nesting with ``wire_too_deep``, so whatever decodes also encodes."""

TOO_DEEP: Final = f"nests deeper than {MAX_JSON_DEPTH} arrays and objects (MAX_JSON_DEPTH)"

_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_PATH_KEY_CHARS: Final = 64
"""Longer object keys are cut in the paths of error messages (a message stays small)."""


class _JsonFault(ValueError):
    """A value is not JSON, or nests too deeply. ``parts`` is its path, innermost first: each
    level appends its key or index while the fault propagates, so paths cost nothing until a
    fault happens."""

    def __init__(self, message: str, *, too_deep: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.too_deep = too_deep
        self.parts: list[str | int] = []

    @property
    def path(self) -> str:
        return json_path(self.parts)


def _too_deep() -> _JsonFault:
    return _JsonFault(TOO_DEEP, too_deep=True)


def json_path(parts: list[str | int]) -> str:
    """The JSON path (``$.a[0].b``) of ``parts`` given innermost first; long keys are cut."""
    out = ["$"]
    for p in reversed(parts):
        if isinstance(p, int):
            out.append(f"[{p}]")
        elif len(p) > _PATH_KEY_CHARS:
            out.append(f".{p[:_PATH_KEY_CHARS]}...({len(p)} chars)")
        else:
            out.append(f".{p}")
    return "".join(out)


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _not_json(value: object) -> _JsonFault:
    t = type(value)
    if t is float:
        return _JsonFault(f"{value!r} is not a JSON number (JSON has no NaN or infinity)")
    if t is str:
        return _JsonFault("string holds a lone surrogate, which UTF-8 cannot carry")
    if t is int:
        return _JsonFault("integer is out of the range of a JSON number")
    return _JsonFault(f"{t.__name__} is not a JSON value")


def _bad_key(key: object) -> _JsonFault:
    if type(key) is str:
        return _JsonFault("an object key holds a lone surrogate, which UTF-8 cannot carry")
    return _JsonFault(f"object key {_short_repr(key)} is not a string")


_FLAT: Final = 32
"""From this many items, an array or object of scalars is checked with C-level passes."""

_NO_CHECK_TYPES: Final = frozenset((bool, type(None)))


def _flat_ok(values: Any) -> bool:
    """Whether ``values`` (a list or a dict's values) are all JSON scalars needing no change
    (integers in range, finite floats, strings without surrogates), checked in C-level passes.
    False means "look item by item", not "refused"."""
    types = set(map(type, values))
    if len(types) != 1:
        # Mixed scalars: only null and booleans need no look (else item by item).
        return types <= _NO_CHECK_TYPES
    (t,) = types
    if t is int:
        return bool(min(values) >= _I64_MIN and max(values) <= _U64_MAX)
    if t is float:
        total = sum(values)
        return bool(total - total == 0.0)  # False for NaN, an infinity, or an overflowing sum
    if t is str:
        return all(map(str.isascii, values)) or not any(map(_LONE_SURROGATE.search, values))
    return t in _NO_CHECK_TYPES


def _keys_ok(value: dict[Any, Any]) -> bool:
    """Whether every key of ``value`` is a string without surrogates (C-level passes)."""
    if set(map(type, value)) != {str}:
        return False
    return all(map(str.isascii, value)) or not any(map(_LONE_SURROGATE.search, value))


def _norm(value: Any, depth: int) -> Any:
    """``value`` as a JSON value of the reference's model, or a :class:`_JsonFault`.

    Tuples become lists and integers outside the 64-bit range become floats; anything else is
    returned as is (the same object when nothing changed). ``depth`` is how many arrays and
    objects enclose ``value``; recursion stops at :data:`MAX_JSON_DEPTH`. Scalars inside a
    container are checked inline, without a call.
    """
    t = type(value)
    if t is dict:
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep()
        if len(value) >= _FLAT and _keys_ok(value) and _flat_ok(value.values()):
            return value
        d1 = depth + 1
        out: dict[str, Any] | None = None
        for k, v in value.items():
            if type(k) is not str or (not k.isascii() and _LONE_SURROGATE.search(k)):
                raise _bad_key(k)
            tv = type(v)
            if tv is str:
                if v.isascii() or not _LONE_SURROGATE.search(v):
                    continue
            elif tv is int:
                if _I64_MIN <= v <= _U64_MAX:
                    continue
            elif tv is bool or v is None or (tv is float and v - v == 0.0):
                continue
            try:
                nv = _norm(v, d1)
            except _JsonFault as fault:
                fault.parts.append(k)
                raise
            if nv is not v:
                if out is None:
                    out = dict(value)
                out[k] = nv
        return value if out is None else out
    if t is list or t is tuple:
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep()
        if len(value) >= _FLAT and _flat_ok(value):
            return value if t is list else list(value)
        d1 = depth + 1
        items: list[Any] | None = None if t is list else list(value)
        for i, v in enumerate(value):
            tv = type(v)
            if tv is str:
                if v.isascii() or not _LONE_SURROGATE.search(v):
                    continue
            elif tv is int:
                if _I64_MIN <= v <= _U64_MAX:
                    continue
            elif tv is bool or v is None or (tv is float and v - v == 0.0):
                continue
            try:
                nv = _norm(v, d1)
            except _JsonFault as fault:
                fault.parts.append(i)
                raise
            if nv is not v:
                if items is None:
                    items = list(value)
                items[i] = nv
        return value if items is None else items
    if t is str:
        if value.isascii() or not _LONE_SURROGATE.search(value):
            return value
    elif t is int:
        if _I64_MIN <= value <= _U64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            pass
    elif t is bool or value is None or (t is float and value - value == 0.0):
        return value
    raise _not_json(value)


def _sort(value: Any, depth: int) -> Any:
    """A copy of ``value`` with every object's keys sorted, for encoding; a :class:`_JsonFault`
    for a non-JSON object, a non-string key or nesting deeper than :data:`MAX_JSON_DEPTH`.

    Integers outside the 64-bit range become floats; NaN and infinities pass (the encoder writes
    them as ``null``, as the reference does); strings are checked by the encoder.
    """
    t = type(value)
    if t is dict:
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep()
        if not value:
            return {}
        big = len(value) >= _FLAT
        if not big or set(map(type, value)) != {str}:
            for k in value:
                if type(k) is not str:
                    raise _bad_key(k)
        if big and _flat_ok(value.values()):
            return dict(sorted(value.items()))
        d1 = depth + 1
        out: dict[str, Any] = {}
        for k in sorted(value):
            v = value[k]
            tv = type(v)
            if tv is str or tv is float or tv is bool or v is None:
                out[k] = v
                continue
            if tv is int and _I64_MIN <= v <= _U64_MAX:
                out[k] = v
                continue
            try:
                out[k] = _sort(v, d1)
            except _JsonFault as fault:
                fault.parts.append(k)
                raise
        return out
    if t is list or t is tuple:
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep()
        if len(value) >= _FLAT and _flat_ok(value):
            return list(value)
        d1 = depth + 1
        items: list[Any] = []
        append = items.append
        for i, v in enumerate(value):
            tv = type(v)
            if tv is str or tv is float or tv is bool or v is None:
                append(v)
                continue
            if tv is int and _I64_MIN <= v <= _U64_MAX:
                append(v)
                continue
            try:
                append(_sort(v, d1))
            except _JsonFault as fault:
                fault.parts.append(i)
                raise
        return items
    if t is str or t is float or t is bool or value is None:
        return value
    if t is int:
        if _I64_MIN <= value <= _U64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            pass
    raise _not_json(value)


def fault_error(fault: _JsonFault, what: str = "value", code: str | None = None) -> LashError:
    """The coded error of ``fault``: ``wire_too_deep``, else ``code`` (by default
    ``canonical_json_unencodable``), the message naming ``what`` and the path."""
    if fault.too_deep:
        return LashError(codes.WIRE_TOO_DEEP, f"{what} {TOO_DEEP} (at {fault.path})")
    return LashError(
        code or codes.CANONICAL_JSON_UNENCODABLE,
        f"{what} is not JSON: {fault.message} (at {fault.path})",
    )


def sort_json_value(value: Any) -> Any:
    """A copy of a free-form JSON value with every object's keys sorted (at every level).

    Integers outside the 64-bit range become floats, as the reference reads them. A value that
    is not JSON is ``canonical_json_unencodable``; one nesting deeper than
    :data:`MAX_JSON_DEPTH` is ``wire_too_deep`` (both naming the path).
    """
    try:
        return _sort(value, 0)
    except _JsonFault as fault:
        raise fault_error(fault) from None
    except RecursionError:
        raise LashError(codes.WIRE_TOO_DEEP, f"value {TOO_DEEP}") from None


def normalize_json_value(value: Any) -> Any:
    """Check that ``value`` is a free-form JSON value, returning it in the reference's model.

    Tuples become lists and integers outside the 64-bit range become floats, as the reference
    parses them; the same object is returned when nothing changed. Raises ``ValueError`` (a
    ``_PathError`` with ``path``, ``message`` and ``code``) for anything that is not JSON
    (a Python object, a non-string key, a lone surrogate, NaN or an infinity) or that nests
    deeper than :data:`MAX_JSON_DEPTH`. Linear in the size of ``value``.
    """
    try:
        return _norm(value, 0)
    except _JsonFault as fault:
        code = codes.WIRE_TOO_DEEP if fault.too_deep else codes.CANONICAL_JSON_UNENCODABLE
        raise _PathError(fault.path[1:], fault.message, code) from None
    except RecursionError:
        raise _PathError("", TOO_DEEP, codes.WIRE_TOO_DEEP) from None


class _PathError(ValueError):
    """``normalize_json_value``'s refusal: ``path`` is the JSON path without its leading ``$``."""

    def __init__(
        self, path: str, message: str, code: str = codes.CANONICAL_JSON_UNENCODABLE
    ) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.code = code
