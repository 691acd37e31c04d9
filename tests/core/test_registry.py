"""Await-event registry and promise rules: the reference's cases and ours."""

from __future__ import annotations

from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given

from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner, constant_time_eq, sign_material
from lash_core.promise import (
    AlreadyResolvedTransition,
    AwaitEventRegistry,
    PromiseMissing,
    PromisePending,
    PromiseResolved,
    PromiseRevoked,
    StoreTransition,
    UnchangedTransition,
    UnknownOrRevokedTransition,
    WaitEnd,
    Waiter,
    WaitParked,
    WaitReady,
    cancel_sweep_transition,
    resolve_transition,
    revoke_transition,
    session_allows_access,
)
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Accepted,
    AlreadyResolved,
    UnknownOrRevoked,
    ok,
)
from lash_core.scope import (
    Custom,
    ProcessScope,
    ProcessSignal,
    ToolCompletion,
    TurnCancelGate,
    TurnScope,
    TurnTerminal,
)

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


def registry(archive_limit: int = 4096) -> AwaitEventRegistry:
    return AwaitEventRegistry(KeySigner(SECRET), archive_limit=archive_limit)


def parked(start: WaitReady | WaitParked) -> int:
    assert isinstance(start, WaitParked)
    return start.waiter_id


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
    assert reg.resolve(key, ok("early")).value == Accepted()
    assert reg.begin_wait(key) == WaitReady(ok("early"))


def test_duplicate_resolution_reports_the_existing_terminal() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    assert reg.resolve(key, ok("first")).value == Accepted()
    assert reg.resolve(key, ok("second")).value == AlreadyResolved(ok("first"))
    assert reg.resolve(key, CANCELLED).value == AlreadyResolved(ok("first"))
    assert reg.peek(key) == ok("first")


def test_many_waiters_of_one_key_are_woken_together_with_one_terminal() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    ids = [parked(reg.begin_wait(key)) for _ in range(5)]
    step = reg.resolve(key, ok(7))
    assert step.wake == frozenset(ids)
    assert [reg.end_wait(i, WaitEnd.WOKEN).value for i in ids] == [ok(7)] * 5
    assert reg.parked_count == 0


def test_cancelled_waiter_writes_cancelled_for_every_waiter_of_the_key() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    a, b = parked(reg.begin_wait(key)), parked(reg.begin_wait(key))
    step = reg.end_wait(a, WaitEnd.CANCELLED)
    assert step.value == CANCELLED
    assert step.wake == frozenset({b})
    assert reg.end_wait(b, WaitEnd.WOKEN).value == CANCELLED
    # A late real resolution sees the cancellation.
    assert reg.resolve(key, ok("late")).value == AlreadyResolved(CANCELLED)


def test_a_cancel_that_loses_the_race_returns_the_winning_terminal() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    waiter = parked(reg.begin_wait(key))
    assert reg.resolve(key, ok("won")).wake == frozenset({waiter})
    # The driver's cancellation arrives after the wake: the waiter still gets `ok`.
    assert reg.end_wait(waiter, WaitEnd.CANCELLED).value == ok("won")


def test_deadline_writes_timeout() -> None:
    reg = registry()
    key = reg.mint(TURN, Custom("k"))
    waiter = parked(reg.begin_wait(key))
    assert reg.end_wait(waiter, WaitEnd.DEADLINE).value == TIMEOUT
    assert reg.peek(key) == TIMEOUT


def test_turn_control_waiter_cancellation_never_resolves_the_gate() -> None:
    reg = registry()
    gate = reg.mint(TURN, TurnCancelGate())
    waiter = parked(reg.begin_wait(gate))
    with pytest.raises(LashError) as info:
        reg.end_wait(waiter, WaitEnd.CANCELLED)
    assert info.value.code == codes.TURN_CONTROL_WAIT_CANCELLED
    waiter = parked(reg.begin_wait(gate))
    with pytest.raises(LashError) as info:
        reg.end_wait(waiter, WaitEnd.DEADLINE)
    assert info.value.code == codes.TURN_CONTROL_WAIT_TIMEOUT
    assert reg.peek(gate) is None
    assert reg.resolve(gate, ok({"state": "completion_sealed"})).value == Accepted()


def test_ending_an_unwoken_waiter_as_woken_is_refused_and_changes_nothing() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    waiter = parked(reg.begin_wait(key))
    with pytest.raises(LocalProtocolError) as info:
        reg.end_wait(waiter, WaitEnd.WOKEN)
    assert info.value.code == codes.AWAIT_EVENT_WAITER_NOT_WOKEN
    assert reg.parked_count == 1
    assert reg.resolve(key, ok(1)).wake == frozenset({waiter})


def test_unknown_waiter_ids_are_refused() -> None:
    reg = registry()
    for bad in (0, 99, "1", None):
        with pytest.raises(LocalProtocolError) as info:
            reg.end_wait(bad, WaitEnd.CANCELLED)  # type: ignore[arg-type]
        assert info.value.code == codes.AWAIT_EVENT_WAITER_UNKNOWN


def test_completed_turn_control_entries_leave_the_live_registry_and_are_bounded() -> None:
    reg = registry(archive_limit=2)
    for turn in ("t1", "t2", "t3"):
        scope = TurnScope("session", turn)
        gate = reg.mint(scope, TurnCancelGate())
        terminal = reg.mint(scope, TurnTerminal())
        reg.resolve(gate, ok({"state": "completion_sealed"}))
        waiter = parked(reg.begin_wait(terminal))
        assert reg.resolve(terminal, ok({"status": "committed"})).wake == frozenset({waiter})
        assert reg.entry_count("session") == 0
        assert reg.begin_wait(terminal) == WaitReady(ok({"status": "committed"}))
    assert reg.archived_count("session") == 2


def test_a_pending_gate_waiter_is_told_when_the_terminal_is_published_without_it() -> None:
    reg = registry()
    gate = reg.mint(TURN, TurnCancelGate())
    waiter = parked(reg.begin_wait(gate))
    step = reg.resolve(reg.mint(TURN, TurnTerminal()), ok("done"))
    assert step.wake == frozenset({waiter})
    with pytest.raises(LashError) as info:
        reg.end_wait(waiter, WaitEnd.WOKEN)
    assert info.value.code == codes.TURN_CONTROL_WAIT_ABANDONED


def test_session_revoke_drains_entries_wakes_waiters_and_refuses_later_use() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    other = reg.mint(TurnScope("other", "turn"), ToolCompletion("call"))
    waiter = parked(reg.begin_wait(key))
    other_waiter = parked(reg.begin_wait(other))
    step = reg.revoke_session("session")
    assert step.value is True
    assert step.wake == frozenset({waiter})
    assert reg.entry_count("session") == 0
    with pytest.raises(LashError) as info:
        reg.end_wait(waiter, WaitEnd.WOKEN)
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert reg.resolve(key, ok(1)).value == UnknownOrRevoked()
    for call in (reg.peek, reg.begin_wait):
        with pytest.raises(LashError) as info:
            call(key)
        assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    with pytest.raises(LashError) as info:
        reg.mint(TURN, ToolCompletion("new"))
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert reg.revoke_session("session").value is False
    # Other sessions are untouched.
    assert not reg.is_waiter_woken(other_waiter)
    assert reg.resolve(other, ok(2)).wake == frozenset({other_waiter})


def test_tombstones_are_kept_until_deliberately_forgotten() -> None:
    reg = registry()
    for i in range(5000):
        reg.revoke_session(f"s{i}")
    assert reg.is_revoked("s0")
    assert reg.resolve(KeySigner(SECRET).mint(TurnScope("s0", "t"), Custom("k")), ok(1)).value == (
        UnknownOrRevoked()
    )
    assert reg.forget_revocation("s0") is True
    assert reg.mint(TurnScope("s0", "t"), Custom("k")).scope.session_id == "s0"


def test_unscoped_shard_is_never_touched_by_session_operations() -> None:
    reg = registry()
    key = reg.mint(ProcessScope("p"), ProcessSignal("p", "ready", 1))
    waiter = parked(reg.begin_wait(key))
    assert reg.cancel_session("p").value == 0
    reg.revoke_session("p")
    assert not reg.is_waiter_woken(waiter)
    assert reg.resolve(key, ok("go")).wake == frozenset({waiter})


def test_session_cancel_resolves_pending_waits_but_not_turn_control_and_new_keys_work() -> None:
    reg = registry()
    tool = reg.mint(TURN, ToolCompletion("call"))
    minted_only = reg.mint(TURN, ToolCompletion("never-awaited"))
    resolved = reg.mint(TURN, Custom("done"))
    gate = reg.mint(TURN, TurnCancelGate())
    reg.resolve(resolved, ok("kept"))
    tool_waiter = parked(reg.begin_wait(tool))
    gate_waiter = parked(reg.begin_wait(gate))
    step = reg.cancel_session("session")
    assert step.value == 1
    assert step.wake == frozenset({tool_waiter})
    assert reg.end_wait(tool_waiter, WaitEnd.WOKEN).value == CANCELLED
    assert reg.resolve(tool, ok("late")).value == AlreadyResolved(CANCELLED)
    assert reg.peek(resolved) == ok("kept")
    assert not reg.is_waiter_woken(gate_waiter)
    assert reg.resolve(minted_only, ok("fine")).value == Accepted()
    fresh = reg.mint(TURN, ToolCompletion("fresh"))
    assert reg.resolve(fresh, ok(1)).value == Accepted()


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
    assert isinstance(reg.begin_wait(keys[2]), WaitParked)
    assert reg.resolve(keys[1], ok(1)).value == Accepted()
    assert signer.verifications == 0
    # The oldest minted key fell out of the bounded cache: it is verified like any other.
    assert reg.resolve(keys[0], ok(1)).value == Accepted()
    assert signer.verifications == 1


def test_two_registries_never_rendezvous() -> None:
    a = registry()
    b = AwaitEventRegistry(KeySigner(bytes(32)))
    key = a.mint(TURN, ToolCompletion("call"))
    assert b.resolve(key, ok(1)).value == UnknownOrRevoked()
    assert b.total_entry_count() == 0


def test_rotated_secrets_still_verify_old_keys_but_sign_with_the_new_one() -> None:
    old = AwaitEventRegistry(KeySigner(SECRET))
    key = old.mint(TURN, ToolCompletion("call"))
    rotated = AwaitEventRegistry(KeySigner(bytes(32), previous=[SECRET]))
    assert rotated.resolve(key, ok(1)).value == Accepted()
    assert rotated.mint(TURN, ToolCompletion("call")).signature != key.signature


def test_a_promise_stored_under_an_old_secret_answers_keys_signed_with_the_new_one() -> None:
    old_key = KeySigner(SECRET).mint(TURN, ToolCompletion("call"))
    rotated = AwaitEventRegistry(KeySigner(bytes(32), previous=[SECRET]))
    waiter = parked(rotated.begin_wait(old_key))
    new_key = rotated.mint(TURN, ToolCompletion("call"))
    assert new_key.signature != old_key.signature
    assert rotated.resolve(new_key, ok("done")).wake == frozenset({waiter})
    assert rotated.resolve(old_key, ok("again")).value == AlreadyResolved(ok("done"))
    forged = attrs.evolve(new_key, signature="0" * 64)
    assert rotated.resolve(forged, ok("forged")).value == UnknownOrRevoked()


def test_invalid_resolutions_are_refused_without_change() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("call"))
    for bad in ("ok", None, ok({1, 2})):  # type: ignore[arg-type]
        with pytest.raises(LocalProtocolError) as info:
            reg.resolve(key, bad)  # type: ignore[arg-type]
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
    assert reg.resolve(bad, ok("forged")).value == UnknownOrRevoked()
    for call in (reg.peek, reg.begin_wait):
        with pytest.raises(LashError) as info:
            call(bad)
        assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert (reg.total_entry_count(), reg.parked_count) == before
    assert reg.peek(key) == (ok("real") if resolved_first else None)


# -- waiters parked with their own event (the hosts' form) -----------------------------------


class Flag:
    """A level-triggered event that counts how often it was set."""

    def __init__(self) -> None:
        self.sets = 0

    def set(self) -> None:
        self.sets += 1


def park(reg: AwaitEventRegistry, key: AwaitEventKey) -> Waiter[Flag]:
    waiter = reg.park(key, Flag)
    assert isinstance(waiter, Waiter)
    return waiter


def test_a_parked_waiter_has_its_event_before_anything_can_wake_it_and_it_is_set_once() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c"))
    waiter = park(reg, key)
    assert waiter.event.sets == 0 and reg.parked_count == 1
    assert reg.resolve_and_wake(key, ok(1)) == Accepted()
    assert waiter.event.sets == 1
    assert reg.resolve_and_wake(key, ok(2)) == AlreadyResolved(ok(1))
    assert waiter.event.sets == 1
    assert reg.finish_parked(waiter, cancel_requested=True) == ok(1)  # woken: its terminal
    assert reg.parked_count == 0
    # A resolved key does not park (and makes no event).
    assert reg.park(key, Flag) == ok(1)
    assert reg.parked_count == 0


def test_ending_a_parked_waiter_twice_or_as_woken_too_early_is_refused() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c"))
    waiter = park(reg, key)
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
    waiters = [park(reg, gate) for _ in range(4)]
    for gone in (waiters[1], waiters[0]):  # a middle one, then the first
        with pytest.raises(LashError) as info:
            reg.end_parked(gone, WaitEnd.CANCELLED)
        assert info.value.code == codes.TURN_CONTROL_WAIT_CANCELLED
    assert reg.parked_count == 2
    assert reg.resolve_and_wake(gate, ok("go")) == Accepted()
    assert [w.event.sets for w in waiters] == [0, 0, 1, 1]
    assert [reg.end_parked(w, WaitEnd.WOKEN) for w in waiters[2:]] == [ok("go"), ok("go")]


def test_revoking_wakes_parked_waiters_with_the_revoked_error() -> None:
    reg = registry()
    waiter = park(reg, reg.mint(TURN, ToolCompletion("c")))
    step = reg.revoke_session("session")
    assert step.value is True and step.wake == frozenset()  # its event was set instead
    assert waiter.event.sets == 1
    with pytest.raises(LashError) as info:
        reg.finish_parked(waiter, cancel_requested=False)
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    assert reg.parked_count == 0


def test_both_forms_share_a_key_and_each_waiter_is_told_its_own_way() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c"))
    by_id = parked(reg.begin_wait(key))
    with_event = park(reg, key)
    step = reg.resolve(key, ok(1))
    assert step.wake == frozenset({by_id}) and with_event.event.sets == 1
    assert reg.end_wait(by_id, WaitEnd.WOKEN) == (ok(1), frozenset())
    assert reg.end_parked(with_event, WaitEnd.WOKEN) == ok(1)

    # resolve_and_wake wakes a waiter begun by id too; no later Step reports it as news.
    other = reg.mint(TURN, ToolCompletion("d"))
    by_id = parked(reg.begin_wait(other))
    assert reg.resolve_and_wake(other, ok(2)) == Accepted()
    assert reg.is_waiter_woken(by_id)
    assert reg.cancel_session("session").wake == frozenset()
    assert reg.end_wait(by_id, WaitEnd.WOKEN).value == ok(2)


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
