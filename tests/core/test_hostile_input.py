"""Hostile input to the wire format, keys and resolutions: only coded errors, no state change.

The regression tests name the bug they pin; the property tests at the end feed arbitrary Python
values and arbitrary (or mutated) JSON text to every public entry point that takes user data.
Linearity is shown by memory, never by timing: decoding must not build a path string per node.
"""

from __future__ import annotations

import datetime
import decimal
import math
import tracemalloc
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from lash_core import codes
from lash_core.canonical import normalize_json_value, sort_json_value
from lash_core.effects import DurableStepCommand
from lash_core.errors import LashError, LocalProtocolError, WireDecodeError
from lash_core.keys import (
    AwaitEventKey,
    KeySigner,
    constant_time_eq,
    derive_key_id,
    sign_material,
)
from lash_core.promise import AwaitEventRegistry
from lash_core.resolution import (
    AlreadyResolved,
    ExternalCompletionError,
    Resolution,
    ResolutionErr,
    ResolutionOk,
    ResolveOutcome,
    err,
    ok,
)
from lash_core.scope import Custom, ProcessScope, ProcessSignal, ToolCompletion, TurnScope
from lash_core.testing import strategies as lst
from lash_core.wire import (
    MAX_JSON_DEPTH,
    canonical_bytes,
    canonical_json,
    check_json_value,
    from_json,
    from_wire,
    parse_json,
    stable_hash,
    to_json,
    to_wire,
)

SECRET = bytes(range(32))
TURN = TurnScope("session", "turn")


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` arrays, one inside the other, around ``leaf``."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def ok_text(payload_text: str) -> str:
    return '{"status":"ok","payload":' + payload_text + "}"


# -- 1. one depth limit: whatever decodes encodes --------------------------------------------


def test_deep_value_that_decodes_also_encodes() -> None:
    text = ok_text(nested_text(MAX_JSON_DEPTH))
    value = from_json(text, Resolution)
    assert to_json(value) == text
    assert canonical_json(value) == text
    assert len(stable_hash(value)) == 64
    assert to_wire(value) == {"status": "ok", "payload": nested(MAX_JSON_DEPTH - 1, [])}
    # ... also as the terminal of a key, and wrapped in a resolve outcome.
    registry = AwaitEventRegistry(KeySigner(SECRET))
    key = registry.mint(TURN, ToolCompletion("call"))
    registry.resolve(key, value)
    stored = registry.peek(key)
    assert to_json(stored) == text
    outcome = registry.resolve(key, ok(None))
    assert outcome == AlreadyResolved(value)
    assert from_json(to_json(outcome), ResolveOutcome) == outcome


def test_nesting_beyond_the_limit_is_wire_too_deep_when_decoding() -> None:
    with pytest.raises(WireDecodeError) as info:
        from_json(ok_text(nested_text(MAX_JSON_DEPTH + 1)), Resolution)
    assert info.value.code == codes.WIRE_TOO_DEEP
    assert "128" in info.value.message and "MAX_JSON_DEPTH" in info.value.message
    assert info.value.path == "$.payload" + "[0]" * MAX_JSON_DEPTH
    with pytest.raises(WireDecodeError) as info:
        from_wire({"status": "ok", "payload": nested(MAX_JSON_DEPTH + 1)}, Resolution)
    assert info.value.code == codes.WIRE_TOO_DEEP


def test_text_nesting_beyond_the_parser_is_wire_too_deep() -> None:
    for text in ("[" * 100_000, ok_text(nested_text(5_000))):
        with pytest.raises(WireDecodeError) as info:
            from_json(text, Resolution)
        assert info.value.code == codes.WIRE_TOO_DEEP


def test_nesting_beyond_the_limit_is_wire_too_deep_when_encoding() -> None:
    # A typed value whose free-form field was never checked (no converter on it).
    command = DurableStepCommand("step", nested(MAX_JSON_DEPTH + 1))
    for encode in (to_json, canonical_json, stable_hash, to_wire):
        with pytest.raises(LashError) as info:
            encode(command)
        assert info.value.code == codes.WIRE_TOO_DEEP
        assert "$.input" + "[0]" * MAX_JSON_DEPTH in info.value.message
    assert to_json(DurableStepCommand("step", nested(MAX_JSON_DEPTH)))
    with pytest.raises(LashError) as info:
        sort_json_value({"a": nested(MAX_JSON_DEPTH)})
    assert info.value.code == codes.WIRE_TOO_DEEP
    with pytest.raises(ValueError) as raised:
        normalize_json_value({"a": nested(MAX_JSON_DEPTH)})
    assert raised.value.code == codes.WIRE_TOO_DEEP  # type: ignore[attr-defined]


def test_resolutions_check_depth_and_json_when_made() -> None:
    too_deep = nested(MAX_JSON_DEPTH + 1)
    for make in (
        lambda: ok(too_deep),
        lambda: ResolutionOk(too_deep),
        lambda: err("code", "message", too_deep),
        lambda: ExternalCompletionError("code", "message", {"raw": too_deep}),
    ):
        with pytest.raises(LocalProtocolError) as info:
            make()
        assert info.value.code == codes.WIRE_TOO_DEEP
    bads: list[Any] = [datetime.datetime(2026, 1, 1), math.nan, {1, 2}, {1: "a"}, b"x", object()]
    for bad in bads:
        with pytest.raises(LocalProtocolError) as info:
            ok({"a": [bad]})
        assert info.value.code == codes.AWAIT_EVENT_INVALID_RESOLUTION
        assert "$.a[0]" in info.value.message or "$.a" in info.value.message
        with pytest.raises(LocalProtocolError) as info:
            err("code", "message", [bad])
        assert info.value.code == codes.AWAIT_EVENT_INVALID_RESOLUTION
    for code, message in ((1, "m"), ("c", None), ("\ud800", "m")):
        with pytest.raises(LocalProtocolError) as info:
            err(code, message)  # type: ignore[arg-type]
        assert info.value.code == codes.AWAIT_EVENT_INVALID_RESOLUTION
    # Tuples are arrays and huge integers floats, as on the wire.
    pairs: Any = (1, (2, 3))
    assert ok(pairs).payload == [1, [2, 3]]
    assert ok({"n": 2**70}).payload == {"n": float(2**70)}


def test_registry_resolve_with_a_deep_payload_changes_nothing() -> None:
    registry = AwaitEventRegistry(KeySigner(SECRET))
    key = registry.mint(TURN, ToolCompletion("call"))
    with pytest.raises(LocalProtocolError) as info:
        registry.resolve(key, ok(nested(MAX_JSON_DEPTH + 1)))
    assert info.value.code == codes.WIRE_TOO_DEEP
    assert registry.total_entry_count() == 0
    assert registry.peek(key) is None


def test_check_json_value_names_what_and_where() -> None:
    assert check_json_value({"a": (1, 2)}, what="tool output") == {"a": [1, 2]}
    same = {"a": [1, "x", None, 2.5]}
    assert check_json_value(same, what="tool output") is same
    with pytest.raises(LocalProtocolError) as info:
        check_json_value({"a": [{"b": {3}}]}, what="the output of tool `search`")
    assert info.value.code == codes.CANONICAL_JSON_UNENCODABLE
    assert info.value.message == (
        "the output of tool `search` is not JSON: set is not a JSON value (at $.a[0].b)"
    )
    with pytest.raises(LocalProtocolError) as info:
        check_json_value([math.inf], what="payload", code=codes.PROCESS_EVENT_PAYLOAD_INVALID)
    assert info.value.code == codes.PROCESS_EVENT_PAYLOAD_INVALID
    with pytest.raises(LocalProtocolError) as info:
        check_json_value({"k": nested(MAX_JSON_DEPTH)}, what="payload")
    assert info.value.code == codes.WIRE_TOO_DEEP
    assert info.value.message.startswith("payload nests deeper than 128 arrays and objects")


def test_flat_arrays_and_objects_are_checked_like_small_ones() -> None:
    # Large containers take C-level passes; they must refuse exactly what the item loop does.
    for bad in (math.nan, -math.inf, 2**64 * 10**300, "\udc00", b"x"):
        for items in ([0] * 40 + [bad], [bad] + ["s"] * 40, [1.5] * 40 + [bad]):
            with pytest.raises(LocalProtocolError):
                check_json_value(items, what="value")
            with pytest.raises(LocalProtocolError):
                check_json_value({str(i): v for i, v in enumerate(items)}, what="value")
    big_ints = [2**64] * 40
    assert check_json_value(big_ints, what="value") == [float(2**64)] * 40
    with pytest.raises(LocalProtocolError):
        mixed_keys: dict[Any, int] = {**{str(i): i for i in range(40)}, 7: 1}
        check_json_value(mixed_keys, what="value")
    assert list(sort_json_value({str(i): i for i in reversed(range(40))}).items()) == sorted(
        (str(i), i) for i in range(40)
    )


# -- 2. decoding is linear: no path strings unless there is an error ---------------------------


def _peak_bytes(fn: Any) -> int:
    """Peak bytes allocated while ``fn()`` runs (the decoder compiled beforehand)."""
    from_wire({"status": "ok", "payload": [{"a": 1}]}, Resolution)
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _nested_long_keys(levels: int, key_chars: int, leaf: Any = 1) -> Any:
    """``levels`` objects, one inside the other, each under its own long key."""
    value: Any = leaf
    for i in range(levels):
        value = {f"{i:04d}" + "k" * key_chars: value}
    return value


def test_decode_is_linear_for_long_keys() -> None:
    # Nested objects under distinct long keys: building each node's path eagerly costs
    # levels**2 / 2 key lengths (quadratic); decoding must allocate next to nothing.
    for levels in (50, 100):
        data = {"status": "ok", "payload": _nested_long_keys(levels, 10_000)}
        size = levels * 10_000
        peak = _peak_bytes(lambda data=data: from_wire(data, Resolution))
        assert peak < size // 10, (levels, peak)


def test_decode_is_linear_for_a_long_array_under_a_long_key() -> None:
    # A path per array item would hold the long key (one at a time): a peak above its size.
    key_chars = 400_000
    data = {"status": "ok", "payload": {"k" * key_chars: [0, "x", None] * 10_000}}
    peak = _peak_bytes(lambda: from_wire(data, Resolution))
    assert peak < key_chars // 4, peak
    payload = {"k" * key_chars: [[i] for i in range(5_000)]}
    peak = _peak_bytes(lambda: check_json_value(payload, what="value"))
    assert peak < key_chars // 4, peak


def test_error_paths_cut_long_keys() -> None:
    data = {"status": "ok", "payload": _nested_long_keys(20, 10_000, leaf={3})}
    with pytest.raises(WireDecodeError) as info:
        from_wire(data, Resolution)
    assert info.value.path.startswith("$.payload.0019kkkk")
    assert "...(10004 chars)" in info.value.path
    assert len(info.value.message) < 20 * 100
    deep = {"status": "ok", "payload": _nested_long_keys(MAX_JSON_DEPTH + 1, 1_000)}
    with pytest.raises(WireDecodeError) as info:
        from_wire(deep, Resolution)
    assert info.value.code == codes.WIRE_TOO_DEEP
    assert len(info.value.message) < MAX_JSON_DEPTH * 100


# -- 3. non-JSON Python objects and non-text input get coded errors ----------------------------


@pytest.mark.parametrize(
    "data",
    [
        {1, 2},
        object(),
        b"bytes",
        {1: 2},
        math.nan,
        {"status": "ok", "payload": {1, 2}},
        {"status": "ok", "payload": object()},
        {"status": "ok", "payload": b"bytes"},
        {"status": "ok", "payload": {1: 2}},
        {"status": "ok", "payload": [math.nan]},
        {"status": "ok", "payload": {"a": math.inf}},
        {"status": {"ok"}, "payload": 1},
        {"status": "err", "payload": {"code": b"c", "message": "m"}},
        {"status": "err", "payload": {"code": "c", "message": "m", "raw": {2.5: 1}}},
    ],
    ids=repr,
)
def test_from_wire_refuses_python_objects_with_coded_errors(data: Any) -> None:
    with pytest.raises(WireDecodeError) as info:
        from_wire(data, Resolution)
    assert info.value.code == codes.WIRE_DECODE


@pytest.mark.parametrize("text", [None, -1, 3.5, object(), ["{}"], {"status": "ok"}], ids=repr)
def test_from_json_refuses_what_is_not_text_with_coded_errors(text: Any) -> None:
    with pytest.raises(WireDecodeError) as info:
        from_json(text, Resolution)
    assert info.value.code == codes.WIRE_INVALID_JSON


def test_from_json_of_bytes_that_are_not_json_is_a_coded_error() -> None:
    with pytest.raises(WireDecodeError) as info:
        from_json(b"bytes", Resolution)
    assert info.value.code == codes.WIRE_INVALID_JSON


def test_from_wire_into_a_type_without_wire_form_is_a_coded_error() -> None:
    with pytest.raises(LashError) as info:
        from_wire({}, object)
    assert info.value.code == codes.WIRE_DECODE


def test_encoding_what_is_not_a_wire_value_is_a_coded_error() -> None:
    for value in (None, [1], object(), DurableStepCommand(7, None)):  # type: ignore[arg-type]
        with pytest.raises(LashError) as info:
            to_json(value)
        assert info.value.code == codes.CANONICAL_JSON_UNENCODABLE


# -- 4. signing secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (("a-str-secret-of-32-characters-xx",), "`secret`"),
        ((b"short",), "`secret`"),
        ((12345678901234567890,), "`secret`"),
        ((None,), "`secret`"),
        ((SECRET, None), "`previous`"),
        ((SECRET, 5), "`previous`"),
        ((SECRET, b"an-older-secret-of-32-bytes-xxxx"), "`previous`"),
        ((SECRET, "an-older-secret-of-32-chars-xxxx"), "`previous`"),
        ((SECRET, [SECRET, b"short"]), "`previous[1]`"),
        ((SECRET, ["an-older-secret-of-32-chars-xxxx"]), "`previous[0]`"),
    ],
)
def test_key_signer_refuses_bad_secrets_naming_the_argument(
    args: tuple[Any, ...], argument: str
) -> None:
    with pytest.raises(LocalProtocolError) as info:
        KeySigner(*args)
    assert info.value.code == codes.AWAIT_EVENT_SECRET_INVALID
    assert argument in info.value.message


def test_key_signer_takes_any_sequence_of_previous_secrets() -> None:
    old = b"an-older-secret-of-32-bytes-xxxx"
    for previous in ([old], (old,), iter([old]), (s for s in [old])):
        assert KeySigner(SECRET, previous).rotating
    mutable: Any = bytearray(SECRET)
    assert not KeySigner(mutable).rotating


def test_sign_refuses_material_that_is_not_bytes() -> None:
    with pytest.raises(LocalProtocolError) as info:
        KeySigner(SECRET).sign("material")  # type: ignore[arg-type]
    assert info.value.code == codes.AWAIT_EVENT_KEY_MATERIAL_INVALID


def test_sign_material_refuses_a_key_id_that_is_not_a_string() -> None:
    with pytest.raises(LashError) as info:
        sign_material(TURN, ToolCompletion("call"), 5)  # type: ignore[arg-type]
    assert info.value.code == codes.AWAIT_EVENT_KEY_HASH


def test_constant_time_eq_of_what_is_not_text_is_false() -> None:
    assert constant_time_eq("a", "a") and constant_time_eq(b"a", b"a")
    assert not constant_time_eq(None, None)  # type: ignore[arg-type]
    assert not constant_time_eq(5, 5)  # type: ignore[arg-type]


# -- 5. property: arbitrary values and text reach every entry point ----------------------------


class _Opaque:
    pass


weird_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64, max_value=2**70) | st.integers(max_value=-(2**63) - 1),
    st.just(10**400),
    st.floats(),
    st.text(max_size=6),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=2),
    st.binary(max_size=4),
    st.just(datetime.datetime(2026, 1, 1)),
    st.just(decimal.Decimal("1.5")),
    st.builds(_Opaque),
    st.frozensets(st.integers(), max_size=2),
)
hostile = st.recursive(
    weird_scalars,
    lambda c: (
        st.lists(c, max_size=3)
        | st.lists(c, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4), c, max_size=3)
        | st.dictionaries(st.integers() | st.none() | st.floats(), c, max_size=2)
        | st.sets(st.integers(), max_size=2)
    ),
    max_leaves=8,
)
deep_values = st.builds(
    nested, st.integers(MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH + 40), weird_scalars | st.just([])
)
any_value = hostile | deep_values
json_types: list[Any] = [Resolution, ResolveOutcome, AwaitEventKey, ResolutionErr]


def _mutate_text(text: str, draw: st.DrawFn) -> str:
    action = draw(st.sampled_from(["cut", "insert", "replace", "wrap", "repeat"]))
    i = draw(st.integers(0, len(text)))
    if action == "cut":
        return text[:i] + text[i + draw(st.integers(1, 4)) :]
    if action == "insert":
        return text[:i] + draw(st.text(alphabet='[]{}",:0e-\\ud83d\ud800', max_size=6)) + text[i:]
    if action == "replace":
        return text[:i] + draw(st.text(max_size=3)) + text[i + 1 :]
    if action == "wrap":
        depth = draw(st.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3))
        return ok_text("[" * depth + text + "]" * depth)
    return text + text


@st.composite
def json_texts(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.text(max_size=40))
    if choice == 1:
        return draw(any_value)  # not text at all
    tp = draw(st.sampled_from(json_types))
    text = to_json(draw(lst.wire_values(tp)))
    for _ in range(draw(st.integers(1, 3))):
        text = _mutate_text(text, draw)
    return text.encode("utf-8", "surrogatepass") if choice == 3 else text


def _only_coded(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except LashError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=json_texts(), tp=st.sampled_from(json_types))
def test_arbitrary_json_text_gets_only_coded_errors(text: Any, tp: Any) -> None:
    _only_coded(parse_json, text)
    value = _only_coded(from_json, text, tp)
    if value is not None:
        # Whatever decodes encodes, and decodes back to itself.
        assert from_json(to_json(value), tp) == value
        assert len(stable_hash(value)) == 64


def _registry_state(registry: AwaitEventRegistry, key: AwaitEventKey) -> tuple[Any, ...]:
    return (registry.total_entry_count(), registry.parked_count, registry.peek(key))


class _Flag:
    """A wake event for a parked waiter that nothing awaits."""

    def set(self) -> None:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=any_value, b=any_value, c=any_value)
def test_arbitrary_python_values_get_only_coded_errors(a: Any, b: Any, c: Any) -> None:
    signer = KeySigner(SECRET)
    registry = AwaitEventRegistry(signer)
    resolved = registry.mint(TURN, ToolCompletion("resolved"))
    registry.resolve(resolved, ok({"done": True}))
    pending = registry.mint(TURN, ToolCompletion("pending"))
    registry.park(pending, _Flag)
    before = (_registry_state(registry, resolved), _registry_state(registry, pending))

    for tp in json_types:
        value = _only_coded(from_wire, a, tp)
        if value is not None:
            assert from_json(to_json(value), tp) == value
    for encode in (to_json, to_wire, canonical_json, canonical_bytes, stable_hash):
        _only_coded(encode, a)
        _only_coded(encode, DurableStepCommand("step", a))
    made = [
        _only_coded(ok, a),
        _only_coded(err, a, b, c),
        _only_coded(err, "code", "message", a),
        _only_coded(lambda: ResolutionOk(a)),
    ]
    for resolution in made:
        if resolution is not None:
            # A resolution that was made is JSON, and round-trips exactly.
            assert from_json(to_json(resolution), Resolution) == resolution
    checked = _only_coded(lambda: check_json_value(a, what="value"))
    if checked is not None:
        assert from_json(to_json(ok(checked)), Resolution) == ok(checked)
    _only_coded(KeySigner, a)
    _only_coded(KeySigner, SECRET, a)
    _only_coded(signer.sign, a)
    assert signer.verify(a) is False
    _only_coded(signer.mint, a, b)
    _only_coded(derive_key_id, a, b)
    _only_coded(sign_material, a, b, c)
    pairs = (
        _only_coded(lambda: (TurnScope(a, b), ToolCompletion(c))),
        _only_coded(lambda: (TURN, ProcessSignal(a, b, c))),
        _only_coded(lambda: (ProcessScope(a), Custom(b))),
    )
    for pair in pairs:
        if pair is None:
            continue  # refused as it was built, with a code
        scope, wait = pair
        _only_coded(derive_key_id, scope, wait)
        _only_coded(signer.mint, scope, wait)
        _only_coded(sign_material, scope, wait, "0" * 64)
    _only_coded(sign_material, TURN, ToolCompletion("call"), a)
    assert constant_time_eq(a, b) in (True, False)
    assert signer.verify(AwaitEventKey(a, b, c, a)) is False

    # The registry: hostile keys and resolutions are refused (or answered) and change nothing.
    for key in (a, pending, resolved, attrs.evolve(pending, signature=str(b)[:64])):
        _only_coded(registry.resolve, key, b)
        _only_coded(registry.resolve, key, a)
        _only_coded(registry.peek, key)
    _only_coded(registry.resolve, a, ok(None))
    _only_coded(registry.park, a, _Flag)
    after = (_registry_state(registry, resolved), _registry_state(registry, pending))
    assert after == before


def _typed_values() -> st.SearchStrategy[Any]:
    import lash_core.effects as effects

    classes = [
        obj
        for name in effects.__all__
        if isinstance(obj := getattr(effects, name), type) and attrs.has(obj)
    ]
    return st.sampled_from([*classes, AwaitEventKey, ExternalCompletionError]).flatmap(
        lst.wire_values
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_typed_values(), junk=any_value, data=st.data())
def test_encoding_a_typed_value_with_a_hostile_field_gets_only_coded_errors(
    value: Any, junk: Any, data: st.DataObject
) -> None:
    # A handler may hand back a record whose field holds anything: force one in, past the
    # constructor, as a bug in user code would.
    fields = attrs.fields(type(value))
    if fields:
        field = data.draw(st.sampled_from(fields))
        object.__setattr__(value, field.name, junk)
    for encode in (to_json, to_wire, canonical_json, stable_hash):
        _only_coded(encode, value)


def test_evolving_a_resolution_checks_it_again() -> None:
    with pytest.raises(LocalProtocolError) as info:
        int_keys: Any = {2: 3}
        attrs.evolve(ok(1), payload=int_keys)
    assert info.value.code == codes.AWAIT_EVENT_INVALID_RESOLUTION
    assert isinstance(err("c", "m"), ResolutionErr)
