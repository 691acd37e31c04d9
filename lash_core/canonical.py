"""Canonical JSON: the exact bytes the reference runtime hashes and signs.

The rules (compact output; dicts written in the order they hold, so typed records keep
declaration order and free-form values are sorted when they are unstructured; strings escaped
only for ``"``, ``\\`` and control characters; shortest round-trip floats laid out as the
reference does, with ``1e+20`` style exponents; ``NaN``/``inf`` as ``null``; integers above the
64-bit range written as floats) are implemented here once.

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
    "canonical_bytes_of",
    "canonical_text_of",
    "format_float",
    "json_string",
    "normalize_json_value",
    "sha256_hex",
    "sort_json_value",
    "utf8",
    "wire_text_of",
]

_U64_MAX: Final = 2**64 - 1
_I64_MIN: Final = -(2**63)

_encode_fast: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=True, check_circular=False
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


def wire_text_of(data: Any) -> str:
    """:func:`canonical_text_of` for data from ``to_wire``, whose integers are in range."""
    text = _fast(data)
    if _needs_exact_floats(text):
        return _exact(data)
    return text


def _fast(data: Any) -> str:
    try:
        return _encode_fast(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _unencodable(str(exc)) from None


def _exact(data: Any) -> str:
    out: list[str] = []
    try:
        _encode_py(data, out)
    except RecursionError:
        raise _unencodable("value nests too deeply") from None
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


def sort_json_value(value: Any) -> Any:
    """A copy of a free-form JSON value with every object's keys sorted (recursively).

    Integers outside the 64-bit range become floats, as the reference reads them.
    """
    t = type(value)
    if t is int:
        if _I64_MIN <= value <= _U64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            raise _unencodable("integer too large for a JSON number") from None
    if t is dict:
        if not value:
            return {}
        for k in value:
            if type(k) is not str:
                raise _unencodable(f"object key {k!r} is not a string")
        return {k: sort_json_value(value[k]) for k in sorted(value)}
    if t is list or t is tuple:
        return [sort_json_value(v) for v in value]
    return value


def normalize_json_value(value: Any) -> Any:
    """Check that ``value`` is a free-form JSON value, returning it in the reference's model.

    Integers outside the 64-bit range become floats, as the reference parses them. Raises
    ``ValueError`` with a JSON path suffix for anything that is not JSON.
    """
    return _normalize(value, "")


def _check_text(text: str, path: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _PathError(
                path, "string holds a lone surrogate, which UTF-8 cannot carry"
            ) from None


def _normalize(value: Any, path: str) -> Any:
    t = type(value)
    if t is str:
        _check_text(value, path)
        return value
    if t is bool or value is None:
        return value
    if t is int:
        if _I64_MIN <= value <= _U64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            raise _PathError(path, "integer is out of the range of a JSON number") from None
    if t is float:
        return value
    if t is dict:
        changed = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _PathError(path, f"object key {k!r} is not a string")
            _check_text(k, path)
            nv = _normalize(v, f"{path}.{k}")
            changed = changed or nv is not v
            out[k] = nv
        return out if changed else value
    if t is list:
        changed = False
        items: list[Any] = []
        for i, v in enumerate(value):
            nv = _normalize(v, f"{path}[{i}]")
            changed = changed or nv is not v
            items.append(nv)
        return items if changed else value
    if t is tuple:
        return [_normalize(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise _PathError(path, f"{t.__name__} is not a JSON value")


class _PathError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
