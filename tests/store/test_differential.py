"""The in-memory store and SqliteStore answer every sequence of operations alike.

Hypothesis draws a sequence of store operations (keys, waits, resolutions, cancels, deadlines,
revocations, leases, journal writes); both stores run it from empty with the same secret, and
every answer (a value, or an error code) must agree.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lash_core import (
    CANCELLED,
    TIMEOUT,
    AwaitEventKey,
    ExecutionScope,
    LashError,
    ToolCompletion,
    TurnScope,
    WaitIdentity,
    err,
    ok,
)
from lash_core.durable import durable_step_envelope
from lash_core.scope import Custom, ProcessScope, ProcessSignal, TurnCancelGate, TurnTerminal
from lash_core.store import DurableStore, Lease, Owner
from lash_core.store_memory import MemoryStore, MemoryStoreState
from lash_sqlite import SqliteStore

SECRET = b"differential-secret-0123456789ab"
IDENTITIES: list[tuple[ExecutionScope, WaitIdentity]] = [
    (TurnScope("s1", "t1"), ToolCompletion("c1")),
    (TurnScope("s1", "t1"), TurnTerminal()),
    (TurnScope("s1", "t1"), TurnCancelGate()),
    (TurnScope("s1", "t1"), Custom("approval")),
    (TurnScope("s2", "t1"), Custom("approval")),
    (ProcessScope("p1"), ProcessSignal("p1", "go", 1)),
]
SESSIONS = ["s1", "s2"]
OWNERS = [Owner("a", "1"), Owner("b", "1")]
RESOLUTIONS = [ok(1), ok({"x": [1, 2]}), err("denied", "no"), TIMEOUT, CANCELLED]

k = st.integers(0, 2) | st.integers(0, len(IDENTITIES) - 1)
now = st.integers(0, 3_000)
lease_index = st.integers(0, 5)
step = st.integers(0, 2)
ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "park": st.tuples(k, st.none() | now, st.sampled_from([None, "b1", "b2"])),
    "resolve": st.tuples(k, st.integers(0, len(RESOLUTIONS) - 1)),
    "peek": st.tuples(k),
    "deadline": st.tuples(k),
    "expire": st.tuples(k, now),
    "cancel_wait": st.tuples(k),
    "unpark": st.tuples(k),
    "cancel_session": st.tuples(st.sampled_from(SESSIONS)),
    "revoke": st.tuples(st.sampled_from(SESSIONS)),
    "mint": st.tuples(k),
    "acquire": st.tuples(st.sampled_from(SESSIONS), st.integers(0, 1), now),
    "renew": st.tuples(lease_index, now),
    "release": st.tuples(lease_index),
    "begin": st.tuples(lease_index, step, st.integers(0, 1), now),
    "complete": st.tuples(lease_index, step, st.integers(0, 1), now),
    "abandon": st.tuples(lease_index, step, now),
}
# Waits and journal writes are drawn more often than session-wide operations.
WEIGHTED = [
    *["park", "resolve", "peek", "deadline", "expire"] * 3,
    *["begin", "complete", "acquire"] * 2,
    *ARGUMENTS,
]
op = st.sampled_from(WEIGHTED).flatmap(lambda name: ARGUMENTS[name].map(lambda args: (name, *args)))


class Runner:
    """Runs operations on one store, keeping the leases it handed out."""

    def __init__(self, store: DurableStore) -> None:
        self.store = store
        self.keys = [store.signer().mint(scope, wait) for scope, wait in IDENTITIES]
        self.leases: list[Lease] = []
        self.rings: list[tuple[str, str]] = []

    def lease(self, index: int) -> Lease:
        return self.leases[index % len(self.leases)]

    def run(self, operation: tuple[Any, ...]) -> object:
        name, *args = operation
        s = self.store
        try:
            if name in ("begin", "complete", "abandon", "renew", "release") and not self.leases:
                return "no lease"
            key: AwaitEventKey = self.keys[args[0]] if name in _KEYED else self.keys[0]
            if name == "park":
                return s.park(key, args[2], args[1])
            if name == "resolve":
                return s.resolve(key, RESOLUTIONS[args[1]])
            if name == "peek":
                return s.peek(key)
            if name == "deadline":
                return s.deadline_ms(key)
            if name == "expire":
                return s.expire(key, args[1])
            if name == "cancel_wait":
                return s.cancel_wait(key)
            if name == "unpark":
                s.unpark(key, "b1")
                return None
            if name == "mint":
                return s.mint(*IDENTITIES[args[0]])
            if name == "cancel_session":
                return s.cancel_session(args[0])
            if name == "revoke":
                return s.revoke_session(args[0])
            if name == "acquire":
                lease = s.acquire(args[0], OWNERS[args[1]], 1_000, args[2])
                self.leases.append(lease)
                return lease
            if name == "renew":
                lease = s.renew(self.lease(args[0]), 1_000, args[1])
                self.leases.append(lease)
                return lease
            if name == "release":
                return s.release(self.lease(args[0]))
            lease = self.lease(args[0])
            envelope = durable_step_envelope(lease.session_id, f"step-{args[1]}", 1).canonical()
            replay_key = f"{lease.session_id}:durable:step-{args[1]}"
            if name == "begin":
                return s.begin(lease, envelope, args[3], due_at_ms=args[2] or None)
            if name == "complete":
                s.complete(lease, replay_key, f'"out-{args[2]}"', args[3])
                return None
            return s.abandon(lease, replay_key, args[2])
        except LashError as exc:
            return ("error", exc.code)


_KEYED = frozenset({"park", "resolve", "peek", "deadline", "expire", "cancel_wait", "unpark"})


@settings(max_examples=150, deadline=None)
@given(st.lists(op, min_size=10, max_size=40))
def test_memory_and_sqlite_stores_agree(operations: list[tuple[Any, ...]]) -> None:
    memory_rings: list[tuple[str, str]] = []
    sqlite_rings: list[tuple[str, str]] = []
    memory = Runner(
        MemoryStore(MemoryStoreState(SECRET), ring=lambda a, k: memory_rings.append((a, k)))
    )
    # An in-memory database: the same SQL, without a file per example.
    store = SqliteStore(":memory:", ring=lambda a, k: sqlite_rings.append((a, k)))
    # Same secret as the memory store, so the keys are the same.
    store._db.execute("UPDATE secrets SET secret = ?", (SECRET,))
    store._signer, store._secret_count = store._load_signer()
    sqlite = Runner(store)
    try:
        assert memory.keys == sqlite.keys
        for operation in operations:
            expected = memory.run(operation)
            actual = sqlite.run(operation)
            assert actual == expected, operation
            assert sorted(sqlite_rings) == sorted(memory_rings), operation
    finally:
        store.close()
