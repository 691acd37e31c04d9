"""Durable-store conformance: the same cases on the in-memory store and on SqliteStore.

"Cold" steps open a fresh store object over the same backing (another process over the same
file), so nothing survives in memory between them.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from lash_core import (
    CANCELLED,
    TIMEOUT,
    AlreadyResolved,
    AwaitEventKey,
    AwaitEventRegistry,
    ExecutionScope,
    JsonValue,
    KeySigner,
    LashError,
    ReplayMismatchError,
    ToolCompletion,
    TurnScope,
    WaitIdentity,
    codes,
    err,
    ok,
)
from lash_core.durable import durable_step_envelope
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.process import ProcessRegistry
from lash_core.process.grants import HandleDescriptor
from lash_core.process.records import SessionScope, SuccessOutput
from lash_core.resolution import ACCEPTED, UNKNOWN_OR_REVOKED
from lash_core.scope import Custom, ProcessScope, ProcessSignal, TurnCancelGate, TurnTerminal
from lash_core.store import (
    Diverged,
    DurableStore,
    Lease,
    Owner,
    ProcessRows,
    Recorded,
    Started,
    TurnRef,
    TurnStatus,
)
from tests.process.support import registration
from tests.process.test_wakes import request, wake_type
from tests.store.conftest import Backend

TURN = TurnScope("s1", "t1")
KINDS: dict[str, tuple[ExecutionScope, WaitIdentity]] = {
    "tool_completion": (TURN, ToolCompletion("call-1")),
    "process_signal": (ProcessScope("p1"), ProcessSignal("p1", "approve", 1)),
    "turn_cancel_gate": (TURN, TurnCancelGate()),
    "turn_terminal": (TURN, TurnTerminal()),
    "custom": (TURN, Custom("approval")),
}
A = Owner("a", "a-1")
B = Owner("b", "b-1")


def raises_code(code: str) -> Any:
    return pytest.raises(LashError, match=f"^{code}:")


# -- await events ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cold_mint_resolve_observe(backend: Backend, kind: str) -> None:
    scope, wait = KINDS[kind]
    watcher = backend.open()
    version = watcher.data_version()
    key = backend.open().mint(scope, wait)
    assert watcher.data_version() == version, "mint writes nothing"
    assert backend.open().park(key, "bell-1") is None
    assert backend.open().resolve(key, ok({"n": 1})) == ACCEPTED
    assert backend.rings == [("bell-1", key.key_id)]
    cold = backend.open()
    assert cold.peek(key) == ok({"n": 1})
    assert cold.park(key, "bell-2") == ok({"n": 1})
    assert backend.open().resolve(key, ok(2)) == AlreadyResolved(ok({"n": 1}))


def test_keys_are_stable_across_reopen_and_match_the_registry(backend: Backend) -> None:
    first = backend.open()
    key = first.mint(TURN, ToolCompletion("call-1"))
    again = backend.open().mint(TURN, ToolCompletion("call-1"))
    assert again == key
    registry = AwaitEventRegistry(backend.open().signer())
    assert registry.mint(TURN, ToolCompletion("call-1")) == key
    assert to_bytes(registry.mint(TURN, ToolCompletion("call-1"))) == to_bytes(key)


def to_bytes(key: AwaitEventKey) -> bytes:
    from lash_core.wire import canonical_json

    return canonical_json(key).encode()


def test_resolve_before_park_is_buffered(backend: Backend) -> None:
    key = backend.open().mint(TURN, Custom("early"))
    assert backend.open().resolve(key, ok("early")) == ACCEPTED
    assert backend.open().park(key, "bell") == ok("early")
    assert backend.rings == [], "nobody was parked, nothing rung; the park found the terminal"


def test_park_before_resolve_rings_the_doorbell_once(backend: Backend) -> None:
    key = backend.open().mint(TURN, Custom("late"))
    waiter = backend.open()
    assert waiter.park(key, "bell-w") is None
    assert waiter.park(key, "bell-w") is None  # parking twice registers once
    assert backend.open().resolve(key, ok("late")) == ACCEPTED
    assert backend.rings == [("bell-w", key.key_id)]
    assert backend.open().resolve(key, ok("again")) == AlreadyResolved(ok("late"))
    assert backend.rings == [("bell-w", key.key_id)], "a losing resolve rings nobody"


def test_unpark_forgets_the_doorbell(backend: Backend) -> None:
    store = backend.open()
    key = store.mint(TURN, Custom("gone"))
    store.park(key, "bell")
    store.unpark(key, "bell")
    assert backend.open().resolve(key, ok(1)) == ACCEPTED
    assert backend.rings == []


def test_cold_first_writer_wins_cancel_then_resolve(backend: Backend) -> None:
    key = backend.open().mint(TURN, ToolCompletion("call-1"))
    backend.open().park(key)
    assert backend.open().cancel_session("s1") == 1
    assert backend.open().resolve(key, ok("late")) == AlreadyResolved(CANCELLED)
    assert backend.open().peek(key) == CANCELLED


def test_cold_first_writer_wins_resolve_then_cancel(backend: Backend) -> None:
    key = backend.open().mint(TURN, ToolCompletion("call-1"))
    backend.open().park(key)
    assert backend.open().resolve(key, ok("first")) == ACCEPTED
    assert backend.open().cancel_session("s1") == 0
    assert backend.open().cancel_wait(key) == ok("first")
    assert backend.open().peek(key) == ok("first")


def test_cancel_sweep_spares_turn_control_and_unawaited_keys(backend: Backend) -> None:
    store = backend.open()
    keys = {
        name: store.mint(TURN, wait)
        for name, (_, wait) in KINDS.items()
        if name != "process_signal"
    }
    for key in keys.values():
        store.park(key, "bell")
    minted_only = store.mint(TURN, Custom("never-awaited"))
    assert backend.open().cancel_session("s1") == 2
    cold = backend.open()
    assert cold.peek(keys["tool_completion"]) == CANCELLED
    assert cold.peek(keys["custom"]) == CANCELLED
    assert cold.peek(keys["turn_cancel_gate"]) is None
    assert cold.peek(keys["turn_terminal"]) is None
    assert cold.resolve(minted_only, ok("fine")) == ACCEPTED
    assert sorted(k for _, k in backend.rings) == sorted(
        [keys["tool_completion"].key_id, keys["custom"].key_id]
    )


def test_turn_control_waits_never_write_on_cancel_or_deadline(backend: Backend) -> None:
    store = backend.open()
    gate = store.mint(TURN, TurnCancelGate())
    terminal = store.mint(TURN, TurnTerminal())
    store.park(gate, "bell", deadline_ms=1_000)
    store.park(terminal, "bell", deadline_ms=1_000)
    with raises_code(codes.TURN_CONTROL_WAIT_CANCELLED):
        backend.open().cancel_wait(gate)
    with raises_code(codes.TURN_CONTROL_WAIT_TIMEOUT):
        backend.open().expire(terminal, 5_000)
    cold = backend.open()
    assert cold.peek(gate) is None and cold.peek(terminal) is None
    assert cold.resolve(terminal, ok({"committed": True})) == ACCEPTED


def test_publishing_the_terminal_wakes_the_pending_gate_waiters(backend: Backend) -> None:
    store = backend.open()
    gate, terminal = store.mint(TURN, TurnCancelGate()), store.mint(TURN, TurnTerminal())
    store.park(gate, "bell-gate")
    assert backend.open().resolve(terminal, ok({"committed": True})) == ACCEPTED
    assert backend.rings == [("bell-gate", gate.key_id)]
    assert backend.open().peek(gate) is None, "the gate itself is not written"


def test_deadlines_are_absolute_and_survive_reopen(backend: Backend) -> None:
    key = backend.open().mint(TURN, Custom("approval"))
    # A 30 s wait parked at t=0 ...
    assert backend.open().park(key, "bell", deadline_ms=30_000) is None
    # ... whose process crashed at t=20 s: a restarted waiter has 10 s left.
    restarted = backend.open()
    deadline = restarted.deadline_ms(key)
    assert deadline == 30_000 and deadline - 20_000 == 10_000
    assert restarted.park(key, "bell-2", deadline_ms=99_000) is None
    assert restarted.deadline_ms(key) == 30_000, "the first park's deadline is kept"
    assert restarted.expire(key, 29_999) is None
    assert backend.open().expire(key, 30_000) == TIMEOUT
    assert backend.open().resolve(key, ok("late")) == AlreadyResolved(TIMEOUT)
    assert backend.open().expire(key, 40_000) == TIMEOUT


def test_tamper_matrix_creates_nothing(backend: Backend) -> None:
    store = backend.open()
    key = store.mint(TURN, ToolCompletion("call-1"))
    other = KeySigner(b"another-secret-0123456789abcdef!").mint(TURN, ToolCompletion("call-1"))
    forged = [
        attrs.evolve(key, signature="0" * 64),
        attrs.evolve(key, signature=key.signature.upper()),
        attrs.evolve(key, scope=TurnScope("s1", "t2")),
        attrs.evolve(key, scope=TurnScope("s2", "t1")),
        attrs.evolve(key, wait=ToolCompletion("call-2")),
        attrs.evolve(key, key_id="0" * 64),
        other,
    ]
    watcher = backend.open()
    version = watcher.data_version()
    for bad in [*forged, "not a key", None]:
        tamperer = backend.open()
        assert tamperer.resolve(bad, ok("x")) == UNKNOWN_OR_REVOKED  # type: ignore[arg-type]
        with raises_code(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED):
            tamperer.peek(bad)  # type: ignore[arg-type]
        with raises_code(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED):
            tamperer.park(bad, "bell")  # type: ignore[arg-type]
    assert watcher.data_version() == version, "no tampered key wrote anything"
    cold = backend.open()
    assert cold.peek(key) is None
    for name in ("call-2",):
        assert cold.peek(cold.mint(TURN, ToolCompletion(name))) is None
    assert cold.peek(cold.mint(TurnScope("s1", "t2"), ToolCompletion("call-1"))) is None
    assert cold.resolve(key, ok("real")) == ACCEPTED


def test_revocation_survives_reopen_and_refuses_mint(backend: Backend) -> None:
    store = backend.open()
    parked = store.mint(TURN, ToolCompletion("call-1"))
    resolved = store.mint(TURN, Custom("done"))
    store.park(parked, "bell")
    store.resolve(resolved, ok(1))
    process_key = store.mint(ProcessScope("p1"), ProcessSignal("p1", "go", 1))
    assert backend.open().revoke_session("s1") is True
    assert backend.rings == [("bell", parked.key_id)], "its parked waiter is woken"
    cold = backend.open()
    assert cold.is_revoked("s1")
    assert cold.revoke_session("s1") is False
    for key in (parked, resolved):
        assert cold.resolve(key, ok("x")) == UNKNOWN_OR_REVOKED
        with raises_code(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED):
            cold.peek(key)
        with raises_code(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED):
            cold.park(key, "bell")
    with raises_code(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED):
        cold.mint(TURN, Custom("new"))
    assert cold.cancel_session("s1") == 0
    # Scopes without a session are out of revocation's reach; other sessions are untouched.
    assert cold.resolve(process_key, ok("go")) == ACCEPTED
    assert cold.resolve(cold.mint(TurnScope("s2", "t"), Custom("x")), ok(1)) == ACCEPTED


def test_bad_input_changes_nothing(backend: Backend) -> None:
    store = backend.open()
    key = store.mint(TURN, Custom("x"))
    with raises_code(codes.AWAIT_EVENT_INVALID_RESOLUTION):
        store.resolve(key, "ok")  # type: ignore[arg-type]
    with raises_code(codes.INVALID_AWAIT_EVENT_SESSION_ID):
        store.cancel_session(" ")
    with raises_code(codes.INVALID_AWAIT_EVENT_SESSION_ID):
        store.revoke_session("")
    with raises_code(codes.LEASE_INVALID):
        store.acquire("s1", Owner(" "), 1000, 0)
    with raises_code(codes.LEASE_INVALID):
        store.acquire("s1", A, -1, 0)
    assert backend.open().peek(key) is None
    assert backend.open().acquire("s1", A, 1000, 0).fencing_token == 1


# -- the journal -----------------------------------------------------------------------------


def step(step_id: str = "fetch", value: JsonValue = 1, session: str = "s1") -> CanonicalEnvelope:
    return durable_step_envelope(session, step_id, value, turn_id="t1").canonical()


def test_journaled_replay_answers_recorded_outcomes(backend: Backend) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 10_000, 0)
    env, failing = step("fetch"), step("explode")
    assert store.begin(lease, env, 1) == Started(1, False)
    store.complete(lease, "s1:t1:durable:fetch", '{"value":42}', 2)
    assert store.begin(lease, failing, 3) == Started(1, False)
    failure = '{"error":{"code":"runtime_effect_handler_failed","message":"boom"}}'
    store.complete(lease, "s1:t1:durable:explode", failure, 4)
    cold = backend.open()
    lease2 = cold.acquire("s1", A, 10_000, 5)
    assert cold.begin(lease2, env, 6) == Recorded('{"value":42}', 1)
    assert cold.begin(lease2, failing, 7) == Recorded(failure, 1)
    # Completing again with the same outcome is harmless; another one is refused.
    cold.complete(lease2, "s1:t1:durable:fetch", '{"value":42}', 8)
    with raises_code(codes.EFFECT_JOURNAL_ENTRY_EXISTS):
        cold.complete(lease2, "s1:t1:durable:fetch", '{"value":43}', 8)
    assert cold.recorded_envelope("s1", "s1:t1:durable:fetch") == env


def test_replay_mismatch_is_diverged_with_the_json_path_diff(backend: Backend) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 10_000, 0)
    recorded = step("fetch", {"city": "Oslo", "days": 3})
    store.begin(lease, recorded, 1)
    store.complete(lease, "s1:t1:durable:fetch", "{}", 2)
    changed = step("fetch", {"city": "Oslo", "days": 5})
    result = backend.open().begin(lease, changed, 3)
    assert isinstance(result, Diverged)
    assert result.recorded == recorded and result.reconstructed == changed
    assert [p.path for p in result.diff.divergent_paths] == ["command.input.days"]
    error = result.error()
    assert isinstance(error, ReplayMismatchError)
    assert error.code == codes.RUNTIME_EFFECT_REPLAY_HASH_MISMATCH
    assert error.summary.first_divergent_paths == ("command.input.days",)
    # Nothing was written: the recorded outcome still replays for the recorded envelope.
    assert backend.open().begin(lease, recorded, 4) == Recorded("{}", 1)


def test_in_doubt_effect_runs_again_once_with_the_next_attempt(backend: Backend) -> None:
    store = backend.open()
    first = store.acquire("s1", A, 1_000, 0)
    env = step("charge")
    assert store.begin(first, env, 10, due_at_ms=500) == Started(1, False, 500)
    # The owner dies between running and recording; a successor takes over after expiry.
    successor = backend.open()
    second = successor.acquire("s1", B, 1_000, 2_000)
    assert second.fencing_token == first.fencing_token + 1
    assert successor.begin(second, env, 2_001, due_at_ms=9_999) == Started(2, True, 500)
    with raises_code(codes.EFFECT_JOURNAL_ENTRY_IN_FLIGHT):
        successor.begin(second, env, 2_002)
    successor.complete(second, "s1:t1:durable:charge", '"charged"', 2_003)
    assert backend.open().begin(second, env, 2_004) == Recorded('"charged"', 2)


def test_a_fan_out_completes_in_one_group_all_or_nothing(backend: Backend) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 60_000, 0)
    children = [step(f"child-{i}") for i in range(3)]
    for env in children:
        store.begin(lease, env, 1)
    keys = [f"s1:t1:durable:child-{i}" for i in range(3)]
    watcher = backend.open()
    version = watcher.data_version()
    with raises_code(codes.STORE_EFFECT_NOT_STARTED):
        store.complete_many(lease, [(keys[0], "0"), ("s1:t1:durable:never", "x")], 2)
    assert watcher.data_version() == version, "a refused group records nothing"
    store.complete_many(lease, [(k, str(i)) for i, k in enumerate(keys)], 3)
    cold = backend.open()
    assert [cold.begin(lease, env, 4) for env in children] == [
        Recorded(str(i), 1) for i in range(3)
    ]


def test_abandoned_effect_runs_again_not_in_doubt(backend: Backend) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 1_000, 0)
    env = step("flaky")
    store.begin(lease, env, 1)
    assert store.abandon(lease, "s1:t1:durable:flaky", 2) is True
    with raises_code(codes.STORE_EFFECT_NOT_STARTED):
        store.complete(lease, "s1:t1:durable:flaky", "1", 3)
    assert backend.open().begin(lease, env, 4) == Started(2, False)


def test_a_discarded_effect_begins_afresh_and_a_stale_lease_discards_nothing(
    backend: Backend,
) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 1_000, 0)
    env = step("charge")
    store.begin(lease, env, 1)
    store.complete(lease, "s1:t1:durable:charge", "1", 2)
    changed = step("charge", 2)
    assert isinstance(store.begin(lease, changed, 3), Diverged)
    assert store.discard(lease, "s1:t1:durable:charge", 4) is True
    assert store.discard(lease, "s1:t1:durable:charge", 5) is False  # nothing left
    cold = backend.open()
    assert cold.begin(lease, changed, 6) == Started(1, False)
    successor = cold.acquire("s1", B, 1_000, 2_000)
    with raises_code(codes.LEASE_LOST):
        cold.discard(lease, "s1:t1:durable:charge", 2_001)
    assert cold.begin(successor, changed, 2_002) == Started(2, True)  # still there


# -- the four lease-fencing cases ------------------------------------------------------------


def test_fencing_stale_owner_cannot_complete(backend: Backend) -> None:
    paused = backend.open()
    stale = paused.acquire("s1", A, 1_000, 0)
    env = step("send-mail")
    paused.begin(stale, env, 1)
    fresh = backend.open()
    current = fresh.acquire("s1", B, 1_000, 1_500)
    watcher = backend.open()
    version = watcher.data_version()
    with raises_code(codes.LEASE_LOST):
        paused.complete(stale, "s1:t1:durable:send-mail", '"sent"', 1_600)
    with raises_code(codes.LEASE_LOST):
        paused.begin(stale, step("other"), 1_600)
    with raises_code(codes.LEASE_LOST):
        paused.open_turn(stale, "t9", "{}", 1_600)
    assert watcher.data_version() == version, "a lost lease writes nothing"
    assert fresh.begin(current, env, 1_700) == Started(2, True)


def test_fencing_successor_after_expiry_fences(backend: Backend) -> None:
    first = backend.open().acquire("s1", A, 1_000, 0)
    with raises_code(codes.LEASE_HELD):
        backend.open().acquire("s1", B, 1_000, 999)
    successor = backend.open().acquire("s1", B, 1_000, 1_000)
    assert successor.fencing_token == first.fencing_token + 1
    with raises_code(codes.LEASE_HELD):
        backend.open().acquire("s1", A, 1_000, 1_500)
    # Re-acquiring as the live holder keeps the fence and extends the lease.
    again = backend.open().acquire("s1", B, 5_000, 1_500)
    assert again.fencing_token == successor.fencing_token and again.expires_ms == 6_500


def test_fencing_renew_after_loss_fails(backend: Backend) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 1_000, 0)
    renewed = store.renew(lease, 1_000, 900)
    assert renewed == attrs.evolve(lease, expires_ms=1_900)
    with raises_code(codes.LEASE_LOST):
        backend.open().renew(renewed, 1_000, 1_900)  # expired
    backend.open().acquire("s1", B, 1_000, 2_000)
    with raises_code(codes.LEASE_LOST):
        backend.open().renew(renewed, 1_000, 2_001)  # taken over


def test_fencing_release_then_acquire(backend: Backend) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 60_000, 0)
    assert store.release(lease) is True
    assert store.release(lease) is False
    successor = backend.open().acquire("s1", B, 60_000, 10)
    assert successor.fencing_token == lease.fencing_token + 1
    assert backend.open().release(lease) is False, "a stale release leaves the holder alone"
    with raises_code(codes.LEASE_HELD):
        backend.open().acquire("s1", A, 60_000, 20)


# -- turns -----------------------------------------------------------------------------------


def test_turns_open_finish_and_list_unfinished(backend: Backend) -> None:
    store = backend.open()
    lease = store.acquire("s1", A, 60_000, 0)
    row = store.open_turn(lease, "t1", '{"input":"hi"}', 1)
    assert row.status is TurnStatus.RUNNING and row.ref == TurnRef("s1", "t1")
    assert store.open_turn(lease, "t1", '{"input":"hi"}', 2) == row
    with raises_code(codes.STORE_TURN_CONFLICT):
        store.open_turn(lease, "t1", '{"input":"other"}', 2)
    store.open_turn(lease, "t2", "{}", 3)
    assert backend.open().unfinished_turns() == [TurnRef("s1", "t1"), TurnRef("s1", "t2")]
    store.finish_turn(lease, TurnRef("s1", "t1"), '{"text":"hello"}', 4)
    store.finish_turn(lease, TurnRef("s1", "t1"), '{"text":"hello"}', 5)
    with raises_code(codes.STORE_TURN_CONFLICT):
        store.finish_turn(lease, TurnRef("s1", "t1"), '{"text":"bye"}', 5)
    with raises_code(codes.STORE_TURN_UNKNOWN):
        store.finish_turn(lease, TurnRef("s1", "nope"), "{}", 5)
    with raises_code(codes.LEASE_INVALID):
        store.finish_turn(lease, TurnRef("s2", "t1"), "{}", 5)
    store.mark_diverged(lease, TurnRef("s1", "t2"), json.dumps({"paths": ["command.input"]}), 6)
    cold = backend.open()
    assert cold.unfinished_turns() == []
    finished = cold.turn(TurnRef("s1", "t1"))
    assert finished is not None and finished.result_json == '{"text":"hello"}'
    diverged = cold.turn(TurnRef("s1", "t2"))
    assert diverged is not None and diverged.status is TurnStatus.DIVERGED
    assert json.loads(diverged.divergence_json or "") == {"paths": ["command.input"]}


def test_lease_for_another_session_cannot_record_its_effects(backend: Backend) -> None:
    store: DurableStore = backend.open()
    lease: Lease = store.acquire("s1", A, 60_000, 0)
    with raises_code(codes.LEASE_INVALID):
        store.begin(lease, step("x", session="s2"), 1)


def test_recorded_outcome_is_an_error_resolution_too(backend: Backend) -> None:
    key = backend.open().mint(TURN, ToolCompletion("c"))
    assert backend.open().resolve(key, err("denied", "no")) == ACCEPTED
    assert backend.open().peek(key) == err("denied", "no")


# -- the process registry --------------------------------------------------------------------


def _rows(registry: ProcessRegistry, scopes: list[SessionScope], acked: list[str]) -> ProcessRows:
    pids = [r.id for r in registry.list_processes()]
    return ProcessRows(
        records=tuple(registry.list_processes()),
        events=tuple(e for pid in pids for e in registry.events(pid)),
        grants=tuple((s, g) for s in scopes for g, _ in registry.list_handle_grants(s)),
        pending_wakes=tuple(w for s in scopes for w in registry.pending_wakes(s)),
        acknowledged_wakes=tuple(acked),
        leases=tuple(lease for pid in pids if (lease := registry.lease(pid)) is not None),
    )


def test_process_registry_survives_reopen(backend: Backend) -> None:
    registry = ProcessRegistry()
    target = SessionScope("s1")
    registry.register(registration("p1", event_types=(wake_type("line"),), wake_target=target), 0)
    registry.register(registration("p2"), 0)
    first = registry.append_event("p1", request("line", {"wake_input": "a"}, key="a"), 1)
    registry.grant_handle(target, "p1", HandleDescriptor("job", "a job"))
    registry.claim_process_lease("p2", "worker", 1_000, 2)
    backend.open().save_process_rows(_rows(registry, [target], []))
    # Later changes are upserted over the first rows.
    assert first.wake_delivery is not None
    registry.acknowledge_wake(first.wake_delivery.wake_id)
    registry.append_event("p1", request("line", {"wake_input": "b"}), 3)
    registry.ack_wake("p1", 1)
    rows = attrs.evolve(
        _rows(registry, [target], [first.wake_delivery.wake_id]),
        acknowledged_wake_events=(("p1", 1),),
    )
    backend.open().save_process_rows(rows)
    restored = ProcessRegistry.from_rows(backend.open().process_rows())
    assert restored.list_processes() == registry.list_processes()
    assert restored.events("p1") == registry.events("p1")
    assert restored.pending_wakes(target) == registry.pending_wakes(target)
    assert [w.input for w in restored.pending_wakes(target)] == ["b"]
    assert restored.is_wake_acknowledged(first.wake_delivery.wake_id)
    assert restored.wake_events_after("p1") == registry.wake_events_after("p1")
    assert restored.lease("p2") == registry.lease("p2")
    assert restored.list_handle_grants(target) == registry.list_handle_grants(target)
    # The restored registry goes on with the next fencing token and sequence.
    assert restored.claim_process_lease("p2", "other", 1_000, 5_000).fencing_token == 2
    assert restored.append_event("p1", request("line", {"x": 1}), 6).event.sequence == 3


def test_pruned_processes_are_deleted_and_a_reregistered_id_starts_afresh(
    backend: Backend,
) -> None:
    registry = ProcessRegistry(track_changes=True)
    target = SessionScope("s1")
    registry.register(registration("p1", event_types=(wake_type("line"),), wake_target=target), 0)
    registry.register(registration("p2"), 0)
    registry.append_event("p1", request("line", {"wake_input": "a"}, key="a"), 1)
    registry.append_event("p1", request("line", {"wake_input": "b"}, key="b"), 1)
    registry.ack_wake("p1", 1)
    registry.grant_handle(target, "p1", HandleDescriptor("job", "a job"))
    registry.claim_process_lease("p1", "worker", 1_000, 2)
    registry.append_terminal("p1", SuccessOutput("done"), 3)
    backend.open().save_process_rows(registry.drain_changes())
    registry.prune_processes(["p1"])
    # Registered again before the next save: the save deletes the old rows, then writes these.
    registry.register(registration("p1", event_types=(wake_type("line"),)), 4)
    registry.append_event("p1", request("line", {"wake_input": "c"}), 5)
    backend.open().save_process_rows(registry.drain_changes())
    rows = backend.open().process_rows()
    restored = ProcessRegistry.from_rows(rows)
    assert restored.list_processes() == registry.list_processes()
    assert restored.events("p1") == registry.events("p1")
    assert [e.payload for e in restored.events("p1")] == [{"wake_input": "c"}]
    assert rows.acknowledged_wake_events == () and rows.pending_wakes == ()
    assert restored.list_handle_grants(target) == ()
    # The fence stays: the next holder of the new p1 gets a token no old holder had.
    assert restored.claim_process_lease("p1", "other", 1_000, 6).fencing_token == 2
