"""On arbitrary input, only the library's own errors escape the decoder and the registry."""

from __future__ import annotations

import contextlib
from typing import Any, Union

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import lash_core.effects as effects
from lash_core import wire
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.promise import AwaitEventRegistry, WaitEnd, Waiter
from lash_core.resolution import ok
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.testing import strategies as lst

SECRET = bytes(range(32))


def decodable_types() -> list[Any]:
    types: list[Any] = []
    for members in wire._unions:
        types.append(Union[tuple(sorted(members, key=lambda c: c.__name__))])  # noqa: UP007
    for name in effects.__all__:
        obj = getattr(effects, name)
        if isinstance(obj, type) and attrs.has(obj):
            types.append(obj)
    types.append(AwaitEventKey)
    return types


TYPES = decodable_types()
junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["", " ", "ok", "turn", "type", "status", "Ok", "Err", "\ud800"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=10,
)


def mutate(data: Any, draw: st.DrawFn) -> Any:
    """Replace, drop or retype one random place of a valid encoding."""
    if isinstance(data, dict) and data and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(data)))
        copy = dict(data)
        action = draw(st.sampled_from(["drop", "replace", "recurse"]))
        if action == "drop":
            del copy[key]
        elif action == "replace":
            copy[key] = draw(junk)
        else:
            copy[key] = mutate(copy[key], draw)
        return copy
    if isinstance(data, list) and data and draw(st.booleans()):
        i = draw(st.integers(0, len(data) - 1))
        items = list(data)
        items[i] = mutate(items[i], draw) if draw(st.booleans()) else draw(junk)
        return items
    return draw(junk)


@pytest.mark.parametrize("tp", TYPES, ids=lambda t: getattr(t, "__name__", "union"))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decoder_raises_only_wire_errors(tp: Any, data: st.DataObject) -> None:
    valid = wire.to_wire(data.draw(lst.wire_values(tp)))
    candidate = data.draw(st.composite(lambda draw: mutate(valid, draw))())
    try:
        value = wire.from_wire(candidate, tp)
    except LashError:
        return
    # Whatever the decoder accepts can be written back.
    wire.from_json(wire.to_json(value), tp)


@given(st.text() | st.binary())
def test_decoder_refuses_arbitrary_text_with_wire_errors(text: str | bytes) -> None:
    for tp in (effects.EffectEnvelope, effects.EffectOutcome, AwaitEventKey):
        with contextlib.suppress(LashError):
            wire.from_json(text, tp)


class _Flag:
    def set(self) -> None:
        pass


any_key = st.builds(
    AwaitEventKey,
    scope=junk | lst.execution_scopes(valid=False),
    wait=junk | lst.wait_identities(valid=False),
    key_id=junk,
    signature=junk,
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("resolve"), any_key | junk, junk | lst.resolutions()),
        st.tuples(st.just("peek"), any_key | junk),
        st.tuples(st.just("park"), any_key | junk),
        st.tuples(st.just("end"), st.integers(-2, 5) | junk, st.sampled_from(list(WaitEnd)) | junk),
        st.tuples(st.just("revoke"), junk),
        st.tuples(st.just("close"), junk),
        st.tuples(st.just("cancel"), junk),
        st.tuples(
            st.just("mint"),
            junk | lst.execution_scopes(valid=False),
            junk | lst.wait_identities(valid=False),
        ),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_registry_raises_only_library_errors(ops: list[tuple[Any, ...]]) -> None:
    reg = AwaitEventRegistry(KeySigner(SECRET))
    real = reg.mint(TurnScope("s", "t"), ToolCompletion("c"))
    parked: list[Waiter[_Flag]] = []
    start = reg.park(real, _Flag)
    assert isinstance(start, Waiter)
    parked.append(start)
    for op in ops:
        name, *args = op
        try:
            if name == "resolve":
                reg.resolve(args[0], args[1])
            elif name == "peek":
                reg.peek(args[0])
            elif name == "park":
                waiter = reg.park(args[0], _Flag)
                if isinstance(waiter, Waiter):
                    parked.append(waiter)
            elif name == "end":
                # A parked waiter (by position) or junk in its place.
                target = parked[args[0] % len(parked)] if type(args[0]) is int else args[0]
                reg.end_parked(target, args[1])
            elif name == "revoke":
                reg.revoke_session(args[0])
            elif name == "close":
                reg.close_session(args[0])
            elif name == "cancel":
                reg.cancel_session(args[0])
            else:
                reg.mint(args[0], args[1])
        except LashError:
            pass
    # The real key is unaffected by junk: it still resolves (unless its session was revoked).
    if not reg.is_revoked("s"):
        outcome = reg.resolve(real, ok("real"))
        assert reg.peek(real) is not None
        assert outcome.status in ("accepted", "already_resolved")
