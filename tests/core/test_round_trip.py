"""Round-trip laws for every wire type: decode(encode(x)) == x, canonical bytes are stable."""

from __future__ import annotations

from typing import Any, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lash_core import AwaitEventKey, ExecutionScope, Resolution, ResolveOutcome, WaitIdentity, wire
from lash_core.resolution import ExternalCompletionError
from lash_core.testing import strategies as lst

WIRE_TYPES: list[Any] = [
    ExecutionScope,
    WaitIdentity,
    AwaitEventKey,
    ExternalCompletionError,
    Resolution,
    ResolveOutcome,
]


def all_wire_types() -> list[Any]:
    """Every registered union plus every attrs wire class reachable from lash_core."""
    types: list[Any] = list(WIRE_TYPES)
    for members in wire._unions:
        union = Union[tuple(sorted(members, key=lambda c: c.__name__))]  # type: ignore[valid-type]  # noqa: UP007
        if union not in types:
            types.append(union)
    try:
        import lash_core.effects as effects
    except ImportError:  # pragma: no cover - effects are part of the package
        return types
    for name in getattr(effects, "__all__", []):
        obj = getattr(effects, name)
        if isinstance(obj, type) and hasattr(obj, "__attrs_attrs__"):
            types.append(obj)
    return types


@pytest.mark.parametrize("tp", all_wire_types(), ids=lambda t: getattr(t, "__name__", repr(t)))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_law(tp: Any, data: st.DataObject) -> None:
    value = data.draw(lst.wire_values(tp))
    encoded = wire.to_json(value)
    decoded = wire.from_json(encoded, tp)
    assert decoded == value
    assert wire.to_json(decoded) == encoded
    assert wire.canonical_bytes(decoded) == encoded.encode("utf-8")
    assert wire.from_wire(wire.to_wire(value), tp) == value


@given(lst.signed_await_event_keys(bytes(32)))
def test_signed_keys_round_trip_and_still_verify(key: AwaitEventKey) -> None:
    from lash_core import KeySigner

    decoded = wire.from_json(wire.to_json(key), AwaitEventKey)
    assert decoded == key
    assert KeySigner(bytes(32)).verify(decoded)
