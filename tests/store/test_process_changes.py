"""The process registry's change stream, mirrored into stores.

After every registry operation the changed rows are drained and saved (one transaction) to a
SqliteStore and a MemoryStore; a registry restored from the store equals the live one, on
random operation sequences that include leases, session deletions and restarts. Saving costs
in proportion to what changed, not to the size of the registry.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from lash_core import JsonValue, KeySigner, LashError, ToolCompletion, TurnScope
from lash_core.process import AwaitParked, ProcessRegistry
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.records import SessionScope, SignalWait, WaitState
from lash_core.process.rows import ProcessRows
from lash_core.store_memory import MemoryStore, MemoryStoreState
from lash_sqlite import SCHEMA_VERSION, SqliteStore
from tests.process.support import note, registration, snapshot
from tests.process.test_registry_machine import (
    ALL_SCOPES,
    MACHINE_TYPES,
    OUTPUTS,
    PIDS,
    SCOPES,
    SESSIONS,
    D,
)

OWNERS = st.sampled_from(["w1", "w2"])
KEY = KeySigner(b"k" * 32).mint(TurnScope("s1", "t1"), ToolCompletion("c1"))
WAIT = WaitState(SignalWait("go", "signal.go", KEY, 1), 0)


def durable_snapshot(registry: ProcessRegistry) -> Any:
    """Everything a store keeps of the registry: :func:`snapshot` without the parked awaiters
    (their ids belong to the running process), plus the scope each grant was given to."""
    return (*snapshot(registry)[:-3], dict(registry._scopes))


def wake_request(kind: str, text: str, group: str, to: SessionScope | None) -> Any:
    payload: dict[str, JsonValue] = {"k": group, "text": text}
    return ProcessEventAppendRequest(kind, payload, None, to)


class DurableRegistryMachine(RuleBasedStateMachine):
    """Random registry operations (refusals included); after each, its changes are saved."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp()
        self.path = Path(self.directory) / "processes.db"
        self.sqlite = SqliteStore(self.path, ring=None, synchronous="NORMAL")
        self.memory = MemoryStore(MemoryStoreState(b"s" * 32))
        self.registry = ProcessRegistry(track_changes=True)
        self.now = 0
        self.saves = 0
        # A reader following the change feed: its cursor and the records it has seen.
        self.feed_cursor = 0
        self.seen: dict[str, Any] = {}

    def attempt(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except LashError:
            return None

    # -- operations --------------------------------------------------------------------------

    @initialize(wake_targets=st.lists(st.none() | SESSIONS, min_size=3, max_size=3))
    def register_all(self, wake_targets: list[str | None]) -> None:
        """Start with every process registered, so most operations find one."""
        for pid, wake_to in zip("abc", wake_targets, strict=True):
            self.register(pid, 0, wake_to)

    @rule(pid=PIDS, variant=st.integers(0, 1), wake_to=st.none() | SESSIONS)
    def register(self, pid: str, variant: int, wake_to: str | None) -> None:
        target = None if wake_to is None else SessionScope(wake_to)
        reg = registration(pid, payload=variant, wake_target=target, event_types=MACHINE_TYPES)
        self.attempt(self.registry.register, reg, self.now)

    @rule(pid=PIDS, payload=st.integers(0, 2), key=st.none() | st.sampled_from(["k1", "k2"]))
    def append_note(self, pid: str, payload: int, key: str | None) -> None:
        self.attempt(self.registry.append_event, pid, note(payload, key), self.now)

    @rule(
        pid=PIDS,
        kind=st.sampled_from(["ping", "group", "signal.go"]),
        text=st.sampled_from(["a", "b"]),
        group=st.sampled_from(["g1", "g2"]),
        to=st.none() | SCOPES,
    )
    def append_wake(
        self, pid: str, kind: str, text: str, group: str, to: SessionScope | None
    ) -> None:
        request = wake_request(kind, text, group, to)
        self.attempt(self.registry.append_event, pid, request, self.now)

    @rule(pid=PIDS, index=st.integers(0, len(OUTPUTS) - 1))
    def finish(self, pid: str, index: int) -> None:
        self.attempt(self.registry.append_terminal, pid, OUTPUTS[index], self.now)

    @rule(pid=PIDS, reason=st.none() | st.sampled_from(["x", "y"]))
    def cancel(self, pid: str, reason: str | None) -> None:
        self.attempt(self.registry.request_cancel, pid, reason, self.now)

    @rule(pid=PIDS, waiting=st.booleans())
    def set_wait(self, pid: str, waiting: bool) -> None:
        self.attempt(self.registry.set_wait, pid, WAIT if waiting else None, self.now)

    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        pending = list(self.registry._wakes)
        if pending:
            self.registry.acknowledge_wake(data.draw(st.sampled_from(pending)))

    @rule(pid=PIDS, sequence=st.integers(1, 8))
    def ack_event_wake(self, pid: str, sequence: int) -> None:
        self.attempt(self.registry.ack_wake, pid, sequence)

    @rule(scope=SCOPES, pid=PIDS)
    def grant(self, scope: SessionScope, pid: str) -> None:
        self.attempt(self.registry.grant_handle, scope, pid, D)

    @rule(source=SCOPES, dest=SCOPES, pids=st.lists(PIDS, max_size=3))
    def transfer(self, source: SessionScope, dest: SessionScope, pids: list[str]) -> None:
        self.attempt(self.registry.transfer_handle_grants, source, dest, pids)

    @rule(session=SESSIONS)
    def delete_session(self, session: str) -> None:
        self.registry.delete_session_process_state(session)

    @rule(pid=PIDS, owner=OWNERS, ttl=st.sampled_from([0, 5, 50]))
    def claim(self, pid: str, owner: str, ttl: int) -> None:
        self.attempt(self.registry.claim_process_lease, pid, owner, ttl, self.now)

    @rule(pid=PIDS, ttl=st.sampled_from([5, 50]))
    def renew(self, pid: str, ttl: int) -> None:
        lease = self.attempt(self.registry.lease, pid)
        if lease is not None:
            self.attempt(self.registry.renew_process_lease, lease, ttl, self.now)

    @rule(pid=PIDS, owner=OWNERS)
    def reclaim(self, pid: str, owner: str) -> None:
        lease = self.attempt(self.registry.lease, pid)
        if lease is not None:
            self.attempt(self.registry.reclaim_process_lease, lease, owner, 50, self.now)

    @rule(pid=PIDS)
    def release(self, pid: str) -> None:
        lease = self.attempt(self.registry.lease, pid)
        if lease is not None:
            self.registry.complete_process_lease(lease.completion())

    @rule(pid=PIDS, index=st.integers(0, len(OUTPUTS) - 1))
    def complete_leased(self, pid: str, index: int) -> None:
        lease = self.attempt(self.registry.lease, pid)
        if lease is not None:
            completion = lease.completion()
            self.attempt(self.registry.complete_leased, completion, OUTPUTS[index], self.now)

    @rule(pids=st.lists(PIDS, max_size=3))
    def prune(self, pids: list[str]) -> None:
        self.attempt(self.registry.prune_processes, pids)

    @rule(pid=PIDS, reason=st.none() | st.sampled_from(["x", "y"]))
    def request_abandon(self, pid: str, reason: str | None) -> None:
        self.attempt(self.registry.request_abandon, pid, "ops", reason, self.now)

    @rule(pid=PIDS)
    def park(self, pid: str) -> None:
        start = self.attempt(self.registry.begin_await, pid)
        if isinstance(start, AwaitParked) and start.waiter_id % 2 == 0:
            self.registry.end_await(start.waiter_id)

    @rule(ms=st.sampled_from([1, 10, 100]))
    def advance(self, ms: int) -> None:
        self.now += ms

    @rule()
    def restart(self) -> None:
        """The process dies: the next one restores the registry from the store."""
        self.registry = ProcessRegistry.from_rows(self.sqlite.process_rows(), track_changes=True)
        self.feed_cursor, self.seen = 0, {}  # a restored registry starts a new feed

    # -- the mirror --------------------------------------------------------------------------

    @invariant()
    def a_feed_reader_sees_every_process_as_it_is(self) -> None:
        changes = self.registry.changes_after(self.feed_cursor, limit=2)
        while changes.changes:  # read in pages of two
            for change in changes.changes:
                if change.record is None:
                    self.seen.pop(change.process_id, None)
                else:
                    self.seen[change.process_id] = change.record
            self.feed_cursor = changes.cursor
            changes = self.registry.changes_after(self.feed_cursor, limit=2)
        assert self.seen == {r.id: r for r in self.registry.list_processes()}

    @invariant()
    def saved_after_each_operation_and_restorable(self) -> None:
        rows = self.registry.drain_changes()
        self.sqlite.save_process_rows(rows)
        self.memory.save_process_rows(rows)
        self.saves += 1
        assert self.registry.drain_changes() == ProcessRows()  # drained: nothing left
        restored = ProcessRegistry.from_rows(self.memory.process_rows())
        assert durable_snapshot(restored) == durable_snapshot(self.registry)

    def teardown(self) -> None:
        try:
            self.sqlite.close()
            with SqliteStore(self.path, ring=None) as reopened:
                restored = ProcessRegistry.from_rows(reopened.process_rows())
            assert durable_snapshot(restored) == durable_snapshot(self.registry)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


TestDurableRegistryMachine = DurableRegistryMachine.TestCase
TestDurableRegistryMachine.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None
)


class BatchedRegistryMachine(DurableRegistryMachine):
    """The same operations, saved only now and then: one drain then covers several
    operations (a key changed by many is written once), and a restart loses what was not
    saved, as a crash does."""

    def saved_after_each_operation_and_restorable(self) -> None:
        """Not after each operation here (this overrides the invariant)."""

    @rule()
    def save(self) -> None:
        DurableRegistryMachine.saved_after_each_operation_and_restorable(self)

    def teardown(self) -> None:
        self.save()
        super().teardown()


TestBatchedRegistryMachine = BatchedRegistryMachine.TestCase
TestBatchedRegistryMachine.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None
)


# -- examples ----------------------------------------------------------------------------------


def test_saving_costs_in_proportion_to_the_changed_processes() -> None:
    registry = ProcessRegistry(track_changes=True)
    for index in range(300):
        registry.register(registration(f"p{index}"), 0)
        registry.append_event(f"p{index}", note(index), 1)
        registry.grant_handle(SessionScope("s1"), f"p{index}", D)
    first = registry.drain_changes()
    assert (len(first.records), len(first.events), len(first.grants)) == (300, 300, 300)
    registry.append_event("p7", note("more"), 2)
    one = registry.drain_changes()
    assert one == ProcessRows(records=(registry.record("p7"),), events=registry.events("p7", 1))
    assert one.row_count == 2
    registry.claim_process_lease("p8", "w1", 10, 3)
    registry.append_event("p8", note("x"), 4)
    registry.append_event("p8", note("y"), 5)  # the record changed twice: written once
    two = registry.drain_changes()
    assert two.row_count == 1 + 2 + 1 + 1  # record, two events, lease, fence
    assert registry.drain_changes().row_count == 0


def test_an_untracked_registry_drains_everything_once_then_only_changes() -> None:
    registry = ProcessRegistry()
    assert not registry.tracks_changes
    registry.register(registration("a"), 0)
    registry.register(registration("b"), 0)
    assert [r.id for r in registry.drain_changes().records] == ["a", "b"]
    assert registry.tracks_changes
    registry.set_wait("b", WAIT, 1)
    assert [r.id for r in registry.drain_changes().records] == ["b"]


def test_a_released_lease_keeps_its_fencing_token_across_reopen(tmp_path: Path) -> None:
    """Once the current lease was all a store kept of a process's fence, a release lost it: the
    next holder after a reopen got token 1 again, the token of a stale lease."""
    registry = ProcessRegistry(track_changes=True)
    registry.register(registration("p"), 0)
    stale = registry.claim_process_lease("p", "w1", 100, 0)
    assert registry.complete_process_lease(stale.completion())
    rows = registry.drain_changes()
    assert rows.released_leases == ("p",) and rows.fences == (("p", 1),)
    with SqliteStore(tmp_path / "fence.db", ring=None) as store:
        store.save_process_rows(rows)
    with SqliteStore(tmp_path / "fence.db", ring=None) as store:
        restored = ProcessRegistry.from_rows(store.process_rows())
    assert restored.lease("p") is None
    assert restored.claim_process_lease("p", "w2", 100, 1).fencing_token == 2


def test_a_wake_dropped_and_pending_again_goes_to_the_end_of_the_delivery_order(
    tmp_path: Path,
) -> None:
    registry = ProcessRegistry(track_changes=True)
    registry.register(registration("p", event_types=MACHINE_TYPES), 0)
    gone, kept = SessionScope("s1"), SessionScope("s2")
    registry.append_event("p", wake_request("group", "a", "g1", gone), 1)
    registry.append_event("p", wake_request("group", "b", "g1", kept), 2)
    with SqliteStore(tmp_path / "wakes.db", ring=None) as store:
        store.save_process_rows(registry.drain_changes())
        registry.delete_session_process_state("s1")
        registry.append_event("p", wake_request("group", "c", "g1", gone), 3)
        rows = registry.drain_changes()
        assert len(rows.dropped_wakes) == 1 and len(rows.pending_wakes) == 1
        store.save_process_rows(rows)
        restored = ProcessRegistry.from_rows(store.process_rows())
    assert [w.input for w in restored._wakes.values()] == ["b", "c"]
    assert durable_snapshot(restored) == durable_snapshot(registry)
    for scope in ALL_SCOPES:
        assert restored.pending_wakes(scope) == registry.pending_wakes(scope)


def test_one_drain_over_several_operations_keeps_the_delivery_order(tmp_path: Path) -> None:
    """A wake dropped, another added, then the first pending again: delivered second."""
    registry = ProcessRegistry(track_changes=True)
    registry.register(registration("p", event_types=MACHINE_TYPES), 0)
    registry.append_event("p", wake_request("group", "a", "g1", SessionScope("s1")), 1)
    registry.delete_session_process_state("s1")
    registry.append_event("p", wake_request("group", "b", "g1", SessionScope("s2")), 2)
    registry.append_event("p", wake_request("group", "c", "g1", SessionScope("s1")), 3)
    with SqliteStore(tmp_path / "batch.db", ring=None) as store:
        store.save_process_rows(registry.drain_changes())
        restored = ProcessRegistry.from_rows(store.process_rows())
    assert [w.input for w in registry._wakes.values()] == ["b", "c"]
    assert durable_snapshot(restored) == durable_snapshot(registry)


def test_a_version_1_store_gains_the_fences_of_its_current_leases(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    registry = ProcessRegistry(track_changes=True)
    registry.register(registration("p"), 0)
    registry.claim_process_lease("p", "w1", 100, 0)
    with SqliteStore(path, ring=None) as store:
        store.save_process_rows(registry.drain_changes())
    raw = sqlite3.connect(path)  # what version 1 wrote: no process_fences table
    raw.execute("DROP TABLE process_fences")
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()
    with SqliteStore(path, ring=None) as store:
        assert store.process_rows().fences == (("p", 1),)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()
