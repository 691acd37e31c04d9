"""Canonical JSON: float layout, escaping, ordering; the fast path agrees with the exact one."""

from __future__ import annotations

import json
import math
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given

from lash_core import LashError, codes
from lash_core.canonical import (
    _encode_py,
    canonical_bytes_of,
    canonical_text_of,
    format_float,
    normalize_json_value,
    sha256_hex,
    sort_json_value,
    sorted_text_of_normalized,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (100.0, "100.0"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (1.5e16, "1.5e+16"),
        (1e20, "1e+20"),
        (1e300, "1e+300"),
        (0.30000000000000004, "0.30000000000000004"),
        (1.5, "1.5"),
        (0.0001, "0.0001"),
        (0.00001, "0.00001"),
        (0.0000123, "0.0000123"),
        (1e-6, "1e-6"),
        (1e-7, "1e-7"),
        (2.5e-8, "2.5e-8"),
        (5e-324, "5e-324"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (-1.5, "-1.5"),
        (-0.00001, "-0.00001"),
        (18446744073709551616.0, "1.8446744073709552e+19"),
        (123456789012345680.0, "1.2345678901234568e+17"),
        (1234567890123456.8, "1234567890123456.8"),
        (math.nan, "null"),
        (math.inf, "null"),
        (-math.inf, "null"),
    ],
)
def test_float_layout_matches_the_reference(value: float, text: str) -> None:
    assert format_float(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_layout_round_trips_with_shortest_digits(value: float) -> None:
    text = format_float(value)
    assert float(text) == value or (value == 0 and float(text) == 0)
    assert "e-0" not in text and "e+0" not in text  # no exponent padding
    mantissa = text.split("e")[0].lstrip("-")
    digits = mantissa.replace(".", "").strip("0")
    assert len(digits) <= len(repr(abs(value)).split("e")[0].replace(".", "").strip("0"))


def test_strings_escape_only_quote_backslash_and_controls() -> None:
    text = canonical_text_of(['"\\/\x00\b\f\n\r\t\x1b\x7f\u2028é</'])
    assert text == '["\\"\\\\/\\u0000\\b\\f\\n\\r\\t\\u001b\x7f\u2028é</"]'


def test_dicts_keep_their_order_and_free_form_values_sort_by_code_point() -> None:
    assert canonical_text_of({"b": 1, "a": 2}) == '{"b":1,"a":2}'
    value = sort_json_value({"z": 1, "é": 2, "B": 3, "a": {"y": 1, "x": [{"d": 1, "c": 2}]}})
    assert canonical_text_of(value) == ('{"B":3,"a":{"x":[{"c":2,"d":1}],"y":1},"z":1,"é":2}')


def test_integers_beyond_64_bits_are_written_as_floats() -> None:
    assert canonical_text_of([18446744073709551615]) == "[18446744073709551615]"
    assert canonical_text_of([18446744073709551616]) == "[1.8446744073709552e+19]"
    assert canonical_text_of([-9223372036854775808]) == "[-9223372036854775808]"


@pytest.mark.parametrize(
    "bad",
    [{1: "a"}, ["\ud800"], [object()], [10**400], {"k": {1, 2}}],
)
def test_unencodable_values_raise_the_library_error(bad: Any) -> None:
    with pytest.raises(LashError) as info:
        canonical_bytes_of(sort_json_value(bad))
    assert info.value.code == codes.CANONICAL_JSON_UNENCODABLE


def test_sha256_hex() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_fast_path_agrees_with_the_exact_encoder(value: Any) -> None:
    exact: list[str] = []
    _encode_py(value, exact)
    assert canonical_text_of(value) == "".join(exact)


@given(json_values)
def test_canonical_text_parses_back_to_the_same_value(value: Any) -> None:
    text = canonical_text_of(sort_json_value(value))
    parsed = json.loads(text)
    again = canonical_text_of(sort_json_value(parsed))
    assert again == text


@given(json_values)
def test_sorted_text_of_a_normalized_value_is_the_text_of_its_sorted_copy(value: Any) -> None:
    """The C encoder sorting keys as it writes them gives the canonical text of the sorted
    copy, for every normalised value (long integers and small or non-finite floats go the exact
    way; a lone surrogate is refused by both as the text is encoded)."""
    try:
        normalized = normalize_json_value(value)
    except ValueError:
        return  # not JSON (NaN, a lone surrogate in a key): never hashed this way
    expected = canonical_text_of(sort_json_value(normalized))
    assert sorted_text_of_normalized(normalized) == expected
    assert sorted_text_of_normalized(["process.done", normalized]) == canonical_text_of(
        ["process.done", sort_json_value(normalized)]
    )


def test_sorted_text_of_normalized_sorts_nested_objects_and_takes_the_exact_path() -> None:
    value = normalize_json_value({"b": [{"z": 1, "a": 1e-7}], "a": 2**64 + 1, "é": None})
    assert sorted_text_of_normalized(value) == (
        '{"a":1.8446744073709552e+19,"b":[{"a":1e-7,"z":1}],"é":null}'
    )
