"""Round-trip laws for every wire type: decode(encode(x)) == x, canonical bytes are stable."""

from __future__ import annotations

from typing import Any, Union

import attrs
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


@given(lst.signed_await_event_keys(bytes(32)), st.sampled_from(["key_id", "signature", "wait"]))
def test_a_verified_keys_texts_are_its_canonical_scope_and_wait(
    key: AwaitEventKey, tampered: str
) -> None:
    from lash_core import KeySigner
    from lash_core.scope import Custom
    from lash_core.store import authentic_key_texts

    signer = KeySigner(bytes(32))
    texts = (wire.canonical_json(key.scope), wire.canonical_json(key.wait))
    assert signer.verified_texts(key) == texts
    assert authentic_key_texts(signer, key) == texts
    assert authentic_key_texts(KeySigner(bytes(32), [bytes([1] * 32)]), key) == texts
    assert authentic_key_texts(KeySigner(bytes([1] * 32)), key) is None, "another secret"
    changed = {
        "key_id": attrs.evolve(key, key_id="0" * 64),
        "signature": attrs.evolve(key, signature="0" * 64),
        "wait": attrs.evolve(key, wait=Custom("other" if key.wait != Custom("other") else "x")),
    }[tampered]
    assert not signer.verify(changed)
    assert signer.verified_texts(changed) is None
    assert authentic_key_texts(signer, changed) is None
    assert authentic_key_texts(signer, "not a key") is None


def test_a_key_whose_texts_cannot_be_written_does_not_verify() -> None:
    from lash_core import KeySigner, TurnScope
    from lash_core.scope import Custom

    signer = KeySigner(bytes(32))
    key = signer.mint(TurnScope("s1", "t1"), Custom("w"))
    lone = attrs.evolve(key, wait=Custom("\ud800"))
    assert signer.verified_texts(lone) is None
    not_text: Any = 7
    assert signer.verified_texts(attrs.evolve(key, key_id=not_text)) is None
