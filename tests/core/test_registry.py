"""Await-event registry and promise rules: the reference's cases and ours."""

from __future__ import annotations

from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given

from lash_core import (
    CANCELLED,
    TIMEOUT,
    Accepted,
    AlreadyResolved,
    AwaitEventKey,
    AwaitEventRegistry,
    KeySigner,
    LashError,
    LocalProtocolError,
    ToolCompletion,
    TurnScope,
    UnknownOrRevoked,
    codes,
    from_json,
    ok,
    to_json,
    to_wire,
)
from lash_core.keys import constant_time_eq, sign_material
from lash_core.promise import (
    AlreadyResolvedTransition,
    PromiseMissing,
    PromisePending,
    PromiseResolved,
    PromiseRevoked,
    StoreTransition,
    UnchangedTransition,
    UnknownOrRevokedTransition,
    WaitEnd,
    Waiter,
    cancel_sweep_transition,
    resolve_transition,
    revoke_transition,
    session_allows_access,
)
from lash_core.scope import Custom, ProcessScope, ProcessSignal, TurnCancelGate, TurnTerminal

SECRET = bytes(range(32))
TURN = TurnScope("session", "turn")


class CountingSigner(KeySigner):
    __slots__ = ("verifications",)

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret)
        self.verifications = 0

    def verify(self, key: AwaitEventKey) -> bool:
        self.verifications += 1
        return super().verify(key)


def registry(retain_recent: int = 4096) -> AwaitEventRegistry:
    return AwaitEventRegistry(KeySigner(SECRET), retain_recent=retain_recent)


class Flag:
    """A level-triggered event, as the drivers' are, that counts how often it was set."""

    def __init__(self) -> None:
        self.sets = 0

    @property
    def is_set(self) -> bool:
        return self.sets > 0

    def set(self) -> None:
        self.sets += 1


def parked(reg: AwaitEventRegistry, key: AwaitEventKey) -> Waiter[Flag]:
    """Park a waiter on ``key`` (which must have no terminal yet)."""
    waiter = reg.park(key, Flag)
    assert isinstance(waiter, Waiter)
    return waiter


def set_events(*waiters: Waiter[Flag]) -> list[bool]:
    return [w.event.is_set for w in waiters]


# -- pure rules (the reference's promise_semantics tests) ------------------------------------


def test_resolve_buffers_before_wait_and_preserves_the_first_terminal() -> None:
    assert resolve_transition(PromiseMissing(), ok(1)) == StoreTransition(ok(1))
    assert resolve_transition(PromisePending(), ok(1)) == StoreTransition(ok(1))
    assert resolve_transition(PromiseResolved(ok(1)), ok(2)) == AlreadyResolvedTransition(ok(1))
    assert resolve_transition(PromiseRevoked(), ok(1)) == UnknownOrRevokedTransition()


def test_cancel_sweep_excludes_turn_control_and_existing_terminals() -> None:
    tool = ToolCompletion("c")
    assert cancel_sweep_transition(tool, PromisePending()) == StoreTransition(CANCELLED)
    assert cancel_sweep_transition(tool, PromiseMissing()) == UnchangedTransition()
    assert cancel_sweep_transition(tool, PromiseResolved(ok(1))) == AlreadyResolvedTransition(ok(1))
    assert cancel_sweep_transition(tool, PromiseRevoked()) == UnknownOrRevokedTransition()
    for wait in (TurnCancelGate(), TurnTerminal()):
        assert cancel_sweep_transition(wait, PromisePending()) == UnchangedTransition()


def test_revoked_sessions_reject_access_and_revoke_idempotently() -> None:
    assert session_allows_access(False) and not session_allows_access(True)
    assert revoke_transition(False) is True and revoke_transition(True) is False


def test_authentication_comparison_covers_content_and_length_mismatches() -> None:
    assert constant_time_eq("abc", "abc")
    assert not constant_time_eq("abc", "abd")
    assert not constant_time_eq("abc", "abcd")
    assert not constant_time_eq("", "a")
    assert constant_time_eq(b"", b"")
    assert not constant_time_eq("é", "e")


def test_signing_material_is_the_canonical_scope_wait_key_tuple() -> None:
    material = sign_material(TURN, TurnCancelGate(), "kid")
    assert material == (
        b'[{"type":"turn","session_id":"session","turn_id":"turn"},'
        b'{"type":"turn_cancel_gate"},"kid"]'
    )


# -- the registry ----------------------------------------------------------------------------


def test_key_derivation_does_not_register_or_materialize_session_state() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    assert key == reg.mint(TURN, ToolCompletion("call"))
    assert not reg.has_session_state("session")
    assert reg.total_entry_count() == 0


def test_early_resolution_is_buffered_then_returned_to_the_waiter() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    assert reg.resolve(key, ok("early")) == Accepted()
    assert reg.park(key, Flag) == (ok("early"))


def test_duplicate_resolution_reports_the_existing_terminal() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    assert reg.resolve(key, ok("first")) == Accepted()
    assert reg.resolve(key, ok("second")) == AlreadyResolved(ok("first"))
    assert reg.resolve(key, CANCELLED) == AlreadyResolved(ok("first"))
    assert reg.peek(key) == ok("first")


def test_many_waiters_of_one_key_are_woken_together_with_one_terminal() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    waiters = [parked(reg, key) for _ in range(5)]
    assert reg.resolve(key, ok(7)) == Accepted()
    assert set_events(*waiters) == [True] * 5
    assert [reg.end_parked(w, WaitEnd.WOKEN) for w in waiters] == [ok(7)] * 5
    assert reg.parked_count == 0


def test_cancelled_waiter_writes_cancelled_for_every_waiter_of_the_key() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    a, b = parked(reg, key), parked(reg, key)
    assert reg.end_parked(a, WaitEnd.CANCELLED) == CANCELLED
    assert set_events(a, b) == [False, True]
    assert reg.end_parked(b, WaitEnd.WOKEN) == CANCELLED
    # A late real resolution sees the cancellation.
    assert reg.resolve(key, ok("late")) == AlreadyResolved(CANCELLED)


def test_a_cancel_that_loses_the_race_returns_the_winning_terminal() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    waiter = parked(reg, key)
    assert reg.resolve(key, ok("won")) == Accepted() and waiter.event.is_set
    # The driver's cancellation arrives after the wake: the waiter still gets `ok`.
    assert reg.end_parked(waiter, WaitEnd.CANCELLED) == ok("won")


def test_deadline_writes_timeout() -> None:
    reg = registry()
    key = reg.mint(TURN, Custom("k"))
    waiter = parked(reg, key)
    assert reg.end_parked(waiter, WaitEnd.DEADLINE) == TIMEOUT
    assert reg.peek(key) == TIMEOUT


def test_turn_control_waiter_cancellation_never_resolves_the_gate() -> None:
    reg = registry()
    gate = reg.mint(TURN, TurnCancelGate())
    waiter = parked(reg, gate)
    with pytest.raises(LashError) as info:
        reg.end_parked(waiter, WaitEnd.CANCELLED)
    assert info.value.code == codes.TURN_CONTROL_WAIT_CANCELLED
    waiter = parked(reg, gate)
    with pytest.raises(LashError) as info:
        reg.end_parked(waiter, WaitEnd.DEADLINE)
    assert info.value.code == codes.TURN_CONTROL_WAIT_TIMEOUT
    assert reg.peek(gate) is None
    assert reg.resolve(gate, ok({"state": "completion_sealed"})) == Accepted()


def test_ending_an_unwoken_waiter_as_woken_is_refused_and_changes_nothing() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    waiter = parked(reg, key)
    with pytest.raises(LocalProtocolError) as info:
        reg.end_parked(waiter, WaitEnd.WOKEN)
    assert info.value.code == codes.AWAIT_EVENT_WAITER_NOT_WOKEN
    assert reg.parked_count == 1 and not waiter.woken and not waiter.ended
    assert reg.resolve(key, ok(1)) == Accepted() and waiter.event.is_set


def test_unknown_waiters_are_refused() -> None:
    reg = registry()
    for bad in (0, 99, "1", None, reg.mint(TURN, ToolCompletion("call"))):
        with pytest.raises(LocalProtocolError) as info:
            reg.end_parked(bad, WaitEnd.CANCELLED)  # type: ignore[arg-type]
        assert info.value.code == codes.AWAIT_EVENT_WAITER_UNKNOWN
    assert reg.total_entry_count() == 0


def test_completed_turn_control_entries_are_bounded_like_any_terminal() -> None:
    reg = registry(retain_recent=2)
    for turn in ("t1", "t2", "t3"):
        scope = TurnScope("session", turn)
        gate = reg.mint(scope, TurnCancelGate())
        terminal = reg.mint(scope, TurnTerminal())
        reg.resolve(gate, ok({"state": "completion_sealed"}))
        waiter = parked(reg, terminal)
        assert reg.resolve(terminal, ok({"status": "committed"})) == Accepted()
        assert waiter.event.is_set
        assert reg.park(terminal, Flag) == ok({"status": "committed"})
        assert reg.entry_count("session") == 2 and reg.recent_count() == 2
    assert reg.retired_count("session") == 4
    with pytest.raises(LashError) as info:
        reg.resolve(reg.mint(TurnScope("session", "t1"), TurnCancelGate()), ok("late cancel"))
    assert info.value.code == codes.AWAIT_EVENT_RETIRED


def test_a_pending_gate_waiter_is_told_when_the_terminal_is_published_without_it() -> None:
    reg = registry()
    gate = reg.mint(TURN, TurnCancelGate())
    waiter = parked(reg, gate)
    assert reg.resolve(reg.mint(TURN, TurnTerminal()), ok("done")) == Accepted()
    assert waiter.event.is_set
    with pytest.raises(LashError) as info:
        reg.end_parked(waiter, WaitEnd.WOKEN)
    assert info.value.code == codes.TURN_CONTROL_WAIT_ABANDONED


def test_session_revoke_drains_entries_wakes_waiters_and_refuses_later_use() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    other = reg.mint(TurnScope("other", "turn"), ToolCompletion("call"))
    waiter = parked(reg, key)
    other_waiter = parked(reg, other)
    assert reg.revoke_session("session") is True
    assert set_events(waiter, other_waiter) == [True, False]
    assert reg.entry_count("session") == 0
    with pytest.raises(LashError) as info:
        reg.end_parked(waiter, WaitEnd.WOKEN)
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert reg.resolve(key, ok(1)) == UnknownOrRevoked()
    for call in (reg.peek, lambda k: reg.park(k, Flag)):
        with pytest.raises(LashError) as info:
            call(key)
        assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    with pytest.raises(LashError) as info:
        reg.mint(TURN, ToolCompletion("new"))
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert reg.revoke_session("session") is False
    # Other sessions are untouched.
    assert not other_waiter.woken
    assert reg.resolve(other, ok(2)) == Accepted() and other_waiter.event.is_set


def test_tombstones_are_kept_until_deliberately_forgotten() -> None:
    reg = registry()
    for i in range(5000):
        reg.revoke_session(f"s{i}")
    assert reg.is_revoked("s0")
    assert reg.resolve(KeySigner(SECRET).mint(TurnScope("s0", "t"), Custom("k")), ok(1)) == (
        UnknownOrRevoked()
    )
    assert reg.forget_revocation("s0") is True
    assert reg.mint(TurnScope("s0", "t"), Custom("k")).scope.session_id == "s0"


def test_unscoped_shard_is_never_touched_by_session_operations() -> None:
    reg = registry()
    key = reg.mint(ProcessScope("p"), ProcessSignal("p", "ready", 1))
    waiter = parked(reg, key)
    assert reg.cancel_session("p") == 0
    reg.revoke_session("p")
    assert not waiter.woken
    assert reg.resolve(key, ok("go")) == Accepted() and waiter.event.is_set


def test_session_cancel_resolves_pending_waits_but_not_turn_control_and_new_keys_work() -> None:
    reg = registry()
    tool = reg.mint(TURN, ToolCompletion("call"))
    minted_only = reg.mint(TURN, ToolCompletion("never-awaited"))
    resolved = reg.mint(TURN, Custom("done"))
    gate = reg.mint(TURN, TurnCancelGate())
    reg.resolve(resolved, ok("kept"))
    tool_waiter = parked(reg, tool)
    gate_waiter = parked(reg, gate)
    assert reg.cancel_session("session") == 1
    assert set_events(tool_waiter, gate_waiter) == [True, False]
    assert reg.end_parked(tool_waiter, WaitEnd.WOKEN) == CANCELLED
    assert reg.resolve(tool, ok("late")) == AlreadyResolved(CANCELLED)
    assert reg.peek(resolved) == ok("kept")
    assert not gate_waiter.woken
    assert reg.resolve(minted_only, ok("fine")) == Accepted()
    fresh = reg.mint(TURN, ToolCompletion("fresh"))
    assert reg.resolve(fresh, ok(1)) == Accepted()


def test_blank_session_ids_are_refused() -> None:
    reg = registry()
    for call in (reg.revoke_session, reg.cancel_session):
        with pytest.raises(LocalProtocolError) as info:
            call("  ")
        assert info.value.code == codes.INVALID_AWAIT_EVENT_SESSION_ID


def test_blank_ids_are_refused_at_mint() -> None:
    reg = registry()
    with pytest.raises(LocalProtocolError) as info:
        reg.mint(TurnScope("", "t"), ToolCompletion("c"))
    assert info.value.code == codes.MISSING_EXECUTION_SCOPE_ID
    with pytest.raises(LocalProtocolError) as info:
        reg.mint(TURN, ProcessSignal("p", "sig", 0))
    assert info.value.code == codes.INVALID_AWAIT_EVENT_WAIT_IDENTITY


def test_verified_signatures_are_cached_with_live_entries() -> None:
    signer = CountingSigner(SECRET)
    reg = AwaitEventRegistry(signer)
    key = reg.mint(TURN, ToolCompletion("call"))
    copy = attrs.evolve(key)  # equal, but not the object this registry minted
    reg.resolve(copy, ok(1))
    assert signer.verifications == 1
    for _ in range(10):
        assert reg.peek(copy) == ok(1)
        assert reg.peek(key) == ok(1)
    assert signer.verifications == 1
    tampered = attrs.evolve(key, signature="0" * 64)
    with pytest.raises(LashError):
        reg.peek(tampered)
    assert signer.verifications == 1


def test_keys_this_registry_minted_need_no_hmac() -> None:
    signer = CountingSigner(SECRET)
    reg = AwaitEventRegistry(signer, mint_cache=2)
    keys = [reg.mint(TURN, ToolCompletion(f"call-{i}")) for i in range(3)]
    parked(reg, keys[2])
    assert reg.resolve(keys[1], ok(1)) == Accepted()
    assert signer.verifications == 0
    # The oldest minted key fell out of the bounded cache: it is verified like any other.
    assert reg.resolve(keys[0], ok(1)) == Accepted()
    assert signer.verifications == 1


def test_two_registries_never_rendezvous() -> None:
    a = registry()
    b = AwaitEventRegistry(KeySigner(bytes(32)))
    key = a.mint(TURN, ToolCompletion("call"))
    assert b.resolve(key, ok(1)) == UnknownOrRevoked()
    assert b.total_entry_count() == 0


def test_rotated_secrets_still_verify_old_keys_but_sign_with_the_new_one() -> None:
    old = AwaitEventRegistry(KeySigner(SECRET))
    key = old.mint(TURN, ToolCompletion("call"))
    rotated = AwaitEventRegistry(KeySigner(bytes(32), previous=[SECRET]))
    assert rotated.resolve(key, ok(1)) == Accepted()
    assert rotated.mint(TURN, ToolCompletion("call")).signature != key.signature


def test_a_promise_stored_under_an_old_secret_answers_keys_signed_with_the_new_one() -> None:
    old_key = KeySigner(SECRET).mint(TURN, ToolCompletion("call"))
    rotated = AwaitEventRegistry(KeySigner(bytes(32), previous=[SECRET]))
    waiter = parked(rotated, old_key)
    new_key = rotated.mint(TURN, ToolCompletion("call"))
    assert new_key.signature != old_key.signature
    assert rotated.resolve(new_key, ok("done")) == Accepted() and waiter.event.is_set
    assert rotated.resolve(old_key, ok("again")) == AlreadyResolved(ok("done"))
    forged = attrs.evolve(new_key, signature="0" * 64)
    assert rotated.resolve(forged, ok("forged")) == UnknownOrRevoked()


def test_invalid_resolutions_are_refused_without_change() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    for bad in ("ok", None):
        with pytest.raises(LocalProtocolError) as info:
            reg.resolve(key, bad)  # type: ignore[arg-type]
        assert info.value.code == codes.AWAIT_EVENT_INVALID_RESOLUTION
    # A payload that is not JSON is refused when the resolution is made: it never gets here.
    with pytest.raises(LocalProtocolError) as info:
        reg.resolve(key, ok({1, 2}))  # type: ignore[arg-type]
    assert info.value.code == codes.AWAIT_EVENT_INVALID_RESOLUTION
    assert reg.total_entry_count() == 0


# -- any single-character change to a key is refused and creates nothing --------------------

KEYS = [
    KeySigner(SECRET).mint(TURN, ToolCompletion("call")),
    KeySigner(SECRET).mint(TURN, TurnCancelGate()),
    KeySigner(SECRET).mint(ProcessScope("proc-1"), ProcessSignal("proc-1", "ready", 1)),
    KeySigner(SECRET).mint(TurnScope("s", "t"), Custom("custom-key")),
]


def _string_fields(key: AwaitEventKey) -> list[tuple[str, str]]:
    fields = [("signature", key.signature), ("key_id", key.key_id)]
    fields += [
        (f"scope.{f.name}", getattr(key.scope, f.name)) for f in attrs.fields(type(key.scope))
    ]
    fields += [
        (f"wait.{f.name}", getattr(key.wait, f.name))
        for f in attrs.fields(type(key.wait))
        if isinstance(getattr(key.wait, f.name), str)
    ]
    return fields


def _replace(key: AwaitEventKey, path: str, value: str) -> AwaitEventKey:
    changes: dict[str, Any] = {}
    if path.startswith("scope."):
        changes["scope"] = attrs.evolve(key.scope, **{path[6:]: value})  # type: ignore[arg-type]
    elif path.startswith("wait."):
        changes["wait"] = attrs.evolve(key.wait, **{path[5:]: value})  # type: ignore[arg-type]
    else:
        changes[path] = value
    return attrs.evolve(key, **changes)


@given(
    key_index=st.integers(0, len(KEYS) - 1),
    field_index=st.integers(0, 10),
    position=st.integers(0, 100),
    char=st.characters(codec="utf-8"),
    resolved_first=st.booleans(),
)
def test_any_single_character_change_is_refused_and_creates_nothing(
    key_index: int, field_index: int, position: int, char: str, resolved_first: bool
) -> None:
    reg = registry()
    key = KEYS[key_index]
    if resolved_first:
        reg.resolve(key, ok("real"))
    fields = _string_fields(key)
    path, text = fields[field_index % len(fields)]
    i = position % len(text)
    if text[i] == char:
        return
    bad = _replace(key, path, text[:i] + char + text[i + 1 :])
    before = (reg.total_entry_count(), reg.parked_count)
    assert reg.resolve(bad, ok("forged")) == UnknownOrRevoked()
    for call in (reg.peek, lambda k: reg.park(k, Flag)):
        with pytest.raises(LashError) as info:
            call(bad)
        assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert (reg.total_entry_count(), reg.parked_count) == before
    assert reg.peek(key) == (ok("real") if resolved_first else None)


# -- waiters ---------------------------------------------------------------------------------


def test_a_parked_waiter_has_its_event_before_anything_can_wake_it_and_it_is_set_once() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c"))
    waiter = parked(reg, key)
    assert waiter.event.sets == 0 and reg.parked_count == 1
    assert reg.resolve(key, ok(1)) == Accepted()
    assert waiter.event.sets == 1
    assert reg.resolve(key, ok(2)) == AlreadyResolved(ok(1))
    assert waiter.event.sets == 1
    assert reg.end_parked(waiter, WaitEnd.CANCELLED) == ok(1)  # woken: its terminal
    assert reg.parked_count == 0
    # A resolved key does not park (and makes no event).
    assert reg.park(key, Flag) == ok(1)
    assert reg.parked_count == 0


def test_ending_a_parked_waiter_twice_or_as_woken_too_early_is_refused() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c"))
    waiter = parked(reg, key)
    with pytest.raises(LocalProtocolError) as info:
        reg.end_parked(waiter, WaitEnd.WOKEN)
    assert info.value.code == codes.AWAIT_EVENT_WAITER_NOT_WOKEN
    assert reg.parked_count == 1 and reg.peek(key) is None
    assert reg.end_parked(waiter, WaitEnd.DEADLINE) == TIMEOUT
    with pytest.raises(LocalProtocolError) as info:
        reg.end_parked(waiter, WaitEnd.CANCELLED)
    assert info.value.code == codes.AWAIT_EVENT_WAITER_UNKNOWN
    assert reg.parked_count == 0 and reg.peek(key) == TIMEOUT


def test_removing_one_of_many_parked_waiters_keeps_the_others_parked() -> None:
    reg = registry()
    gate = reg.mint(TURN, TurnCancelGate())  # turn control: a cancelled waiter writes nothing
    waiters = [parked(reg, gate) for _ in range(4)]
    for gone in (waiters[1], waiters[0]):  # a middle one, then the first
        with pytest.raises(LashError) as info:
            reg.end_parked(gone, WaitEnd.CANCELLED)
        assert info.value.code == codes.TURN_CONTROL_WAIT_CANCELLED
    assert reg.parked_count == 2
    assert reg.resolve(gate, ok("go")) == Accepted()
    assert [w.event.sets for w in waiters] == [0, 0, 1, 1]
    assert [reg.end_parked(w, WaitEnd.WOKEN) for w in waiters[2:]] == [ok("go"), ok("go")]


def test_revoking_wakes_parked_waiters_with_the_revoked_error() -> None:
    reg = registry()
    waiter = parked(reg, reg.mint(TURN, ToolCompletion("c")))
    assert reg.revoke_session("session") is True
    assert waiter.event.sets == 1
    with pytest.raises(LashError) as info:
        reg.end_parked(waiter, WaitEnd.DEADLINE)
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert reg.parked_count == 0


def test_mint_cache_eviction_is_first_in_first_out_and_bounded() -> None:
    """Regression: evicting from a full mint cache took the first key of a dict with many
    deleted slots (``del d[next(iter(d))]``), a walk over the deletions on every mint. The cache
    is now a queue of ids beside the dict: both stay at the bound, oldest evicted first."""
    signer = CountingSigner(SECRET)
    reg = AwaitEventRegistry(signer, mint_cache=3)
    keys = [reg.mint(TURN, ToolCompletion(f"call-{i}")) for i in range(50)]
    keys[47] = reg.mint(TURN, ToolCompletion("call-47"))  # re-minted: no new slot
    assert len(reg._minted) == len(reg._minted_order) == 3
    assert list(reg._minted_order) == [k.key_id for k in keys[47:]]
    for key in keys[47:]:
        reg.peek(key)
    assert signer.verifications == 0
    reg.peek(keys[46])
    assert signer.verifications == 1


# -- undecoded keys --------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["json_text", "json_bytes", "dict", "none", "key_id"])
def test_resolve_await_event_given_an_undecoded_key_raises_a_key_type_error(form: str) -> None:
    """Regression: a dict or JSON text given as a key answered ``unknown_or_revoked``, so a
    webhook that forgot to decode looked like a forgery. It is a coded type error now, from
    ``resolve``, ``peek`` and ``park`` alike, and nothing changes."""
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    reg.resolve(key, ok("real"))
    undecoded: Any = {
        "json_text": to_json(key),
        "json_bytes": to_json(key).encode(),
        "dict": to_wire(key),
        "none": None,
        "key_id": key.key_id,
    }[form]
    before = (reg.total_entry_count(), reg.recent_count(), reg.parked_count)
    for call in (
        lambda k: reg.resolve(k, ok("other")),
        reg.peek,
        lambda k: reg.park(k, Flag),
    ):
        with pytest.raises(LocalProtocolError) as info:
            call(undecoded)
        assert info.value.code == codes.AWAIT_EVENT_KEY_TYPE
        assert "from_json(AwaitEventKey, text)" in info.value.message
    assert (reg.total_entry_count(), reg.recent_count(), reg.parked_count) == before
    # Decoded, the same text is the key.
    if form == "json_text":
        assert reg.resolve(from_json(undecoded, AwaitEventKey), ok("x")) == AlreadyResolved(
            ok("real")
        )


def test_a_well_typed_forged_key_is_still_unknown_or_revoked() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    forged = attrs.evolve(key, signature="0" * 64)
    assert reg.resolve(forged, ok(1)) == UnknownOrRevoked()
    with pytest.raises(LashError) as info:
        reg.peek(forged)
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert reg.total_entry_count() == 0


# -- retention -------------------------------------------------------------------------------


def _wait_and_resolve(reg: AwaitEventRegistry, session: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        key = reg.mint(TurnScope(session, "turn"), ToolCompletion(f"call-{i}"))
        waiter = parked(reg, key)
        assert reg.resolve(key, ok({"i": i})) == Accepted()
        assert reg.end_parked(waiter, WaitEnd.WOKEN) == ok({"i": i})


def test_resolved_and_finished_keys_are_not_kept_forever() -> None:
    """Regression: every resolved and finished key was kept in full (~1 KB each) for the life
    of the registry. Beyond the recent window a key is retired to a fingerprint: the entries
    and the window stay at the bound whatever the number of waits, at two sizes."""
    for waits in (50, 500):
        reg = registry(retain_recent=8)
        _wait_and_resolve(reg, "session", waits)
        assert reg.recent_count() == 8
        assert reg.total_entry_count() == 8
        assert reg.retired_count("session") == waits - 8
        retired = reg._shards["session"].retired
        assert retired is not None and len(retired.slots) <= 4 * waits  # 8 bytes a slot


def test_recent_keys_keep_their_full_semantics() -> None:
    reg = registry(retain_recent=2)
    keys = [reg.mint(TURN, ToolCompletion(f"call-{i}")) for i in range(3)]
    for i, key in enumerate(keys):
        reg.resolve(key, ok(i))
    for i, key in enumerate(keys[1:], start=1):
        assert reg.resolve(key, ok("again")) == AlreadyResolved(ok(i))
        assert reg.peek(key) == ok(i)
        assert reg.park(key, Flag) == ok(i)


def test_a_retired_key_stays_resolved_but_its_terminal_can_no_longer_be_read() -> None:
    reg = registry(retain_recent=1)
    old, new = (reg.mint(TURN, ToolCompletion(f"call-{i}")) for i in range(2))
    reg.resolve(old, ok("first"))
    reg.resolve(new, ok("second"))  # old is retired
    before = (reg.total_entry_count(), reg.recent_count(), reg.retired_count("session"))
    for call in (lambda k: reg.resolve(k, ok("again")), reg.peek, lambda k: reg.park(k, Flag)):
        with pytest.raises(LashError) as info:
            call(old)
        assert info.value.code == codes.AWAIT_EVENT_RETIRED
    # An equal key object (decoded from the wire, say) is verified, then refused the same way.
    with pytest.raises(LashError) as info:
        reg.peek(from_json(to_json(old), AwaitEventKey))
    assert info.value.code == codes.AWAIT_EVENT_RETIRED
    assert (reg.total_entry_count(), reg.recent_count(), reg.retired_count("session")) == before
    # A forged key with the retired key's id is still just refused.
    assert reg.resolve(attrs.evolve(old, signature="0" * 64), ok(1)) == UnknownOrRevoked()


def test_a_waiter_woken_before_its_key_retires_still_gets_the_terminal() -> None:
    reg = registry(retain_recent=0)
    key = reg.mint(TURN, ToolCompletion("call"))
    waiter = parked(reg, key)
    assert reg.resolve(key, ok("done")) == Accepted()
    assert reg.total_entry_count() == 0 and reg.retired_count("session") == 1
    assert reg.end_parked(waiter, WaitEnd.DEADLINE) == ok("done")


def test_cancelled_and_timed_out_terminals_join_the_window_too() -> None:
    reg = registry(retain_recent=1)
    a, b = (reg.mint(TURN, Custom(f"k{i}")) for i in range(2))
    waiter = parked(reg, a)
    assert reg.end_parked(waiter, WaitEnd.DEADLINE) == TIMEOUT
    waiter = parked(reg, b)
    assert reg.cancel_session("session") == 1
    assert reg.end_parked(waiter, WaitEnd.WOKEN) == CANCELLED
    assert reg.recent_count() == 1 and reg.retired_count("session") == 1
    with pytest.raises(LashError) as info:
        reg.peek(a)
    assert info.value.code == codes.AWAIT_EVENT_RETIRED


def test_a_turn_control_wait_that_times_out_leaves_no_entry() -> None:
    reg = registry()
    gate = reg.mint(TURN, TurnCancelGate())
    waiter = parked(reg, gate)
    with pytest.raises(LashError):
        reg.end_parked(waiter, WaitEnd.DEADLINE)
    assert reg.total_entry_count() == 0
    assert reg.peek(gate) is None


# -- closing a session -----------------------------------------------------------------------


def test_cancel_session_frees_nothing_but_close_session_frees_everything() -> None:
    """Regression: a server had no way to free a finished session: ``cancel_session`` freed
    nothing and ``revoke_session`` keeps a tombstone for ever. ``close_session`` frees the
    session's entries, its place in the recent window and its retired fingerprints."""
    reg = registry(retain_recent=4)
    _wait_and_resolve(reg, "done", 20)
    _wait_and_resolve(reg, "other", 2)
    assert reg.cancel_session("done") == 0
    assert reg.entry_count("done") == 2 and reg.retired_count("done") == 18
    pending = parked(reg, reg.mint(TurnScope("done", "turn"), ToolCompletion("late")))
    assert reg.close_session("done") is True
    assert not reg.has_session_state("done") and not reg.is_revoked("done")
    assert reg.recent_count() == 2  # only "other"'s terminals are left in the window
    assert pending.event.is_set
    with pytest.raises(LashError) as info:
        reg.end_parked(pending, WaitEnd.WOKEN)
    assert info.value.code == codes.AWAIT_EVENT_SESSION_CLOSED
    assert reg.close_session("done") is False
    assert reg.parked_count == 0


def test_keys_of_a_closed_session_behave_as_never_used() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    reg.resolve(key, ok("first"))
    reg.close_session("session")
    assert reg.peek(key) is None
    assert reg.resolve(key, ok("second")) == Accepted()
    assert reg.peek(key) == ok("second")
    # A forged key still creates nothing.
    reg.close_session("session")
    assert reg.resolve(attrs.evolve(key, signature="0" * 64), ok(1)) == UnknownOrRevoked()
    assert not reg.has_session_state("session")


def test_closing_a_revoked_session_keeps_its_tombstone() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    reg.revoke_session("session")
    assert reg.close_session("session") is False
    assert reg.resolve(key, ok(1)) == UnknownOrRevoked()
    with pytest.raises(LocalProtocolError) as info:
        reg.close_session(" ")
    assert info.value.code == codes.INVALID_AWAIT_EVENT_SESSION_ID


def test_retention_settings_are_checked() -> None:
    for bad in (-1, 1.5, "10"):
        with pytest.raises(LocalProtocolError):
            AwaitEventRegistry(KeySigner(SECRET), retain_recent=bad)  # type: ignore[arg-type]
    assert registry(retain_recent=5).retain_recent == 5


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"retain_recent": "16"}, "retain_recent"),
        ({"retain_recent": -1}, "retain_recent"),
        ({"retain_recent": True}, "retain_recent"),
        ({"mint_cache": 1.5}, "mint_cache"),
        ({"mint_cache": None}, "mint_cache"),
    ],
)
def test_registry_built_with_bad_retention_settings_raises_a_coded_error(
    kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(LocalProtocolError) as info:
        AwaitEventRegistry(KeySigner(b"a host secret, 16 bytes or more"), **kwargs)  # type: ignore[arg-type]
    assert info.value.code == codes.AWAIT_EVENT_REGISTRY_INVALID
    assert named in str(info.value)


def test_registry_built_with_a_secret_instead_of_a_signer_raises_a_coded_error() -> None:
    with pytest.raises(LocalProtocolError) as info:
        AwaitEventRegistry(b"a host secret, 16 bytes or more")  # type: ignore[arg-type]
    assert info.value.code == codes.AWAIT_EVENT_REGISTRY_INVALID
    assert "KeySigner" in str(info.value)
