"""Property: the JSON schema ``@tool`` shows the model accepts exactly the argument objects its
validator accepts, for a few signatures.

The schema is judged by a small interpreter of the JSON Schema keywords the generator emits
(``type``, ``enum``, ``anyOf``, ``properties``, ``required``, ``additionalProperties``,
``items``), written from the JSON Schema rules (an integer is any number with no fractional
part; ``true`` is not ``1``), not from the validator. Candidates are drawn from the schema
itself, with any JSON value mixed in at every place, so both sides see near misses.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, NotRequired, TypedDict

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from lash_core import tool
from lash_core.handlers.schema import ArgumentsInvalid

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["", "a", "x", "slow", "c"]),
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "sku", "qty", "x"]), inner, max_size=3)
    ),
    max_leaves=6,
)


def _json_equal(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def accepts(schema: Any, value: object) -> bool:
    """JSON Schema's verdict on ``value``, for the keywords the generator uses."""
    if "anyOf" in schema:
        return any(accepts(option, value) for option in schema["anyOf"])
    if "enum" in schema and not any(_json_equal(value, e) for e in schema["enum"]):
        return False
    kind = schema.get("type")
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return _is_number(value) and float(value).is_integer()  # type: ignore[arg-type]
    if kind == "number":
        return _is_number(value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        if not isinstance(value, list):
            return False
        return all(accepts(schema.get("items", {}), item) for item in value)
    if kind == "object":
        if not isinstance(value, dict):
            return False
        properties = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", [])):
            return False
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                if not accepts(properties[key], item):
                    return False
            elif extra is False or (isinstance(extra, dict) and not accepts(extra, item)):
                return False
        return True
    return True


def candidates(schema: Any) -> st.SearchStrategy[object]:
    """Values near ``schema``: mostly shaped by it, now and then any JSON, at every level."""
    if not schema:
        return ANY_JSON
    shaped = _shaped(schema)
    return st.one_of(*[shaped] * 7, ANY_JSON)


def _drop_one(value: dict[str, object], drop: int) -> dict[str, object]:
    keys = sorted(value)
    if drop < 0 or not keys:
        return value
    return {k: v for k, v in value.items() if k != keys[drop % len(keys)]}


def _shaped(schema: Any) -> st.SearchStrategy[object]:
    if "anyOf" in schema:
        return st.one_of(*[candidates(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from([*schema["enum"] * 3, 1.0, 0, "nope"])
    kind = schema.get("type")
    if kind == "string":
        return st.text(max_size=3)
    if kind == "integer":
        return st.integers(-5, 5) | st.just(2.0) | st.just(2.5)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(candidates(schema.get("items", {})), max_size=3)
    if kind == "object":
        properties = schema.get("properties", {})
        if properties:
            required = set(schema.get("required", []))
            fixed = {name: candidates(sub) for name, sub in properties.items() if name in required}
            optional = {n: candidates(sub) for n, sub in properties.items() if n not in required}
            extra = st.sampled_from([{}, {}, {}, {}, {"zz": 1}])
            drop = st.sampled_from([-1, -1, -1, -1, -1, 0, 1])  # now and then a key goes missing
            return st.tuples(st.fixed_dictionaries(fixed, optional=optional), extra, drop).map(
                lambda t: {**t[1], **_drop_one(t[0], t[2])}
            )
        values = schema.get("additionalProperties", {})
        return st.dictionaries(st.sampled_from(["k", "l"]), candidates(values), max_size=2)
    return ANY_JSON


class Unit(enum.Enum):
    C = "c"
    K = 2


@dataclasses.dataclass
class Item:
    sku: str
    qty: int = 1


class Address(TypedDict):
    street: str
    zip: NotRequired[int | None]


def scalars(a: int, b: str = "x", c: float | None = None, d: bool = False) -> None:
    return None


def choices(mode: Literal["slow", 1, True, None], unit: Unit, anything: Any = None) -> None:
    return None


def nested(items: list[Item], to: Address, tags: dict[str, bool] | None = None) -> None:
    return None


def sequences(ids: tuple[int, ...], grid: list[list[float]], x: int | str = 0) -> None:
    return None


# Replaying a stored example can still print the nested strategy's (large) repr: harmless.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@pytest.mark.parametrize("fn", [scalars, choices, nested, sequences], ids=lambda f: f.__name__)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_schema_accepts_exactly_what_the_validator_accepts(
    fn: Any, data: st.DataObject
) -> None:
    made = tool(fn)
    schema = made.spec.input_schema
    # deferred: a short repr for the nested strategy (its full repr is large and slow)
    args = data.draw(st.deferred(lambda: _shaped(schema)), label="args")
    try:
        made.signature.bind(args)
        validator = True
    except ArgumentsInvalid:
        validator = False
    assert accepts(schema, args) == validator, (schema, args)


def test_the_interpreter_knows_the_rules_it_is_judged_by() -> None:
    """The interpreter's own corner cases, pinned (it is the property's oracle)."""
    assert accepts({"type": "integer"}, 2.0) and not accepts({"type": "integer"}, True)
    assert not accepts({"enum": [1]}, True) and accepts({"enum": [1]}, 1.0)
    closed = {
        "type": "object",
        "properties": {"a": {}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert accepts(closed, {"a": None}) and not accepts(closed, {"a": 1, "b": 2})
    assert not accepts(closed, {})
