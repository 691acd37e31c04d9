"""An in-memory :class:`~lash_core.store.DurableStore`: the rules of a durable store, no file.

Its state lives in a :class:`MemoryStoreState`, so several :class:`MemoryStore` objects over one
state behave like several processes over one database file (the simulator can "crash" a host by
dropping its store object and open a fresh one over the same state). Pure: the secret is an
input, and a doorbell is rung by calling ``ring(address, key_id)``, which the caller provides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from lash_core import codes
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.events import ProcessEvent, ProcessWakeDelivery
from lash_core.process.grants import ProcessHandleGrant
from lash_core.process.leases import ProcessLease
from lash_core.process.records import ProcessRecord, SessionScope
from lash_core.promise import (
    StoreTransition,
    cancel_sweep_transition,
    resolve_transition,
    revoke_transition,
    session_allows_access,
    transition_outcome,
)
from lash_core.resolution import UNKNOWN_OR_REVOKED, Resolution, ResolveOutcome
from lash_core.scope import ExecutionScope, WaitIdentity
from lash_core.store import (
    DIVERGE,
    BeginResult,
    Diverged,
    EffectState,
    EffectStatus,
    Lease,
    LeaseState,
    Owner,
    ProcessRows,
    Started,
    TurnRef,
    TurnRow,
    TurnStatus,
    abandon_allowed,
    abandoned_gate_id,
    acquire_transition,
    begin_transition,
    check_fence,
    check_lease_covers,
    check_resolution,
    check_session_id,
    complete_transition,
    diverge_turn_transition,
    ended_wait_proposal,
    envelope_replay_key,
    envelope_session_id,
    finish_turn_transition,
    key_is_authentic,
    open_turn_transition,
    promise_state,
    release_transition,
    renew_transition,
    revoked_error,
    revoked_mint_error,
)

__all__ = ["MemoryStore", "MemoryStoreState", "Ring"]

Ring = Callable[[str, str], object]
"""``ring(address, key_id)``: wake the process parked at ``address`` (errors are the ring's
own business: a store never fails because a waiter is gone)."""


@attrs.define
class _Promise:
    key: AwaitEventKey
    terminal: Resolution | None
    deadline_ms: int | None


@attrs.define
class _Effect:
    state: EffectState
    envelope: CanonicalEnvelope


class MemoryStoreState:
    """Everything a memory store keeps (what a database file holds)."""

    def __init__(self, secret: bytes, previous: Iterable[bytes] = ()) -> None:
        self.signer = KeySigner(secret, previous)
        self.secrets: list[bytes] = [secret, *previous]
        self.revoked: set[str] = set()
        self.promises: dict[str, _Promise] = {}
        self.waits: dict[str, set[str]] = {}
        self.leases: dict[str, LeaseState] = {}
        self.effects: dict[tuple[str, str], _Effect] = {}
        self.turns: dict[TurnRef, TurnRow] = {}
        self.processes: dict[str, ProcessRecord] = {}
        self.process_events: dict[tuple[str, int], ProcessEvent] = {}
        self.grants: dict[tuple[str, str], tuple[SessionScope, ProcessHandleGrant]] = {}
        self.wakes: dict[str, ProcessWakeDelivery] = {}
        self.acked_wakes: dict[str, None] = {}
        self.process_leases: dict[str, ProcessLease] = {}
        self.process_fences: dict[str, int] = {}
        self.acked_wake_events: dict[tuple[str, int], None] = {}
        self.version = 0

    def rotate(self, secret: bytes, keep: int) -> None:
        signer = KeySigner(secret, self.secrets[:keep])
        self.secrets = [secret, *self.secrets[:keep]]
        self.signer = signer


class MemoryStore:
    """A durable store over a :class:`MemoryStoreState` (see the module documentation)."""

    def __init__(self, state: MemoryStoreState, ring: Ring | None = None) -> None:
        self._s = state
        self._ring = ring

    # -- keys --------------------------------------------------------------------------------

    def signer(self) -> KeySigner:
        return self._s.signer

    def rotate_secret(self, secret: bytes, *, keep_previous: int = 4) -> None:
        """Sign with ``secret`` from now on; the ``keep_previous`` latest older secrets still
        verify keys handed out before."""
        self._s.rotate(secret, keep_previous)
        self._changed()

    def _changed(self) -> None:
        self._s.version += 1

    def _revoked(self, session_id: str | None) -> bool:
        return session_id is not None and session_id in self._s.revoked

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The signed key for ``(scope, wait)``; writes nothing (refused for a revoked
        session)."""
        key = self._s.signer.mint(scope, wait)
        if self._revoked(scope.session_id):
            raise revoked_mint_error(scope.session_id)
        return key

    def _authentic(self, key: AwaitEventKey) -> _Promise | None:
        """The promise row of an authentic key of a live session (``None`` if none yet);
        raises ``await_event_unknown_or_revoked``."""
        if not key_is_authentic(self._s.signer, key):
            raise revoked_error()
        if not session_allows_access(self._revoked(key.scope.session_id)):
            raise revoked_error()
        return self._s.promises.get(key.key_id)

    def _ring_waiters(self, key_id: str) -> None:
        addresses = self._s.waits.pop(key_id, None)
        if addresses and self._ring is not None:
            for address in sorted(addresses):
                self._ring(address, key_id)

    # -- await events ------------------------------------------------------------------------

    def park(
        self, key: AwaitEventKey, doorbell: str | None = None, deadline_ms: int | None = None
    ) -> Resolution | None:
        """Ensure the promise is pending and register ``doorbell``; the terminal if it has
        one already."""
        row = self._authentic(key)
        if row is None:
            row = self._s.promises[key.key_id] = _Promise(key, None, deadline_ms)
            self._changed()
        elif row.deadline_ms is None and deadline_ms is not None and row.terminal is None:
            row.deadline_ms = deadline_ms
            self._changed()
        if row.terminal is not None:
            return row.terminal
        if doorbell is not None:
            self._s.waits.setdefault(key.key_id, set()).add(doorbell)
        return None

    def unpark(self, key: AwaitEventKey, doorbell: str) -> None:
        addresses = self._s.waits.get(key.key_id)
        if addresses is not None:
            addresses.discard(doorbell)

    def _settle(self, key: AwaitEventKey, row: _Promise | None, terminal: Resolution) -> None:
        if row is None:
            self._s.promises[key.key_id] = _Promise(key, terminal, None)
        else:
            row.terminal = terminal
        self._changed()
        self._ring_waiters(key.key_id)

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        resolution = check_resolution(resolution)
        try:
            row = self._authentic(key)
        except LashError:
            return UNKNOWN_OR_REVOKED
        state = promise_state(False, row is not None, None if row is None else row.terminal)
        transition = resolve_transition(state, resolution)
        if isinstance(transition, StoreTransition):
            self._settle(key, row, transition.resolution)
            gate_id = abandoned_gate_id(key)
            gate = None if gate_id is None else self._s.promises.get(gate_id)
            if gate_id is not None and (gate is None or gate.terminal is None):
                self._ring_waiters(gate_id)
        outcome = transition_outcome(transition)
        assert outcome is not None
        return outcome

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        row = self._authentic(key)
        return None if row is None else row.terminal

    def deadline_ms(self, key: AwaitEventKey) -> int | None:
        row = self._authentic(key)
        return None if row is None else row.deadline_ms

    def _end(self, key: AwaitEventKey, cancelled: bool) -> Resolution:
        row = self._authentic(key)
        if row is not None and row.terminal is not None:
            return row.terminal
        proposed = ended_wait_proposal(key, cancelled)
        self._settle(key, row, proposed)
        return proposed

    def expire(self, key: AwaitEventKey, now_ms: int) -> Resolution | None:
        """Past the stored deadline, write ``timeout`` (first writer wins) and return the
        terminal; ``None`` while it is not due."""
        row = self._authentic(key)
        if row is None:
            return None
        if row.terminal is not None:
            return row.terminal
        if row.deadline_ms is None or now_ms < row.deadline_ms:
            return None
        return self._end(key, False)

    def cancel_wait(self, key: AwaitEventKey) -> Resolution:
        return self._end(key, True)

    def cancel_session(self, session_id: str) -> int:
        check_session_id(session_id)
        if self._revoked(session_id):
            return 0
        count = 0
        for row in list(self._s.promises.values()):
            if row.key.scope.session_id != session_id:
                continue
            state = promise_state(False, True, row.terminal)
            transition = cancel_sweep_transition(row.key.wait, state)
            if isinstance(transition, StoreTransition):
                count += 1
                self._settle(row.key, row, transition.resolution)
        return count

    def revoke_session(self, session_id: str) -> bool:
        check_session_id(session_id)
        if not revoke_transition(session_id in self._s.revoked):
            return False
        self._s.revoked.add(session_id)
        for key_id, row in list(self._s.promises.items()):
            if row.key.scope.session_id == session_id:
                del self._s.promises[key_id]
                self._ring_waiters(key_id)
        self._changed()
        return True

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._s.revoked

    # -- leases ------------------------------------------------------------------------------

    def acquire(self, session_id: str, owner: Owner, ttl_ms: int, now_ms: int) -> Lease:
        lease = acquire_transition(
            session_id, self._s.leases.get(session_id), owner, ttl_ms, now_ms
        )
        self._s.leases[session_id] = LeaseState(owner, lease.fencing_token, lease.expires_ms)
        self._changed()
        return lease

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease:
        renewed = renew_transition(self._s.leases.get(lease.session_id), lease, ttl_ms, now_ms)
        self._s.leases[lease.session_id] = LeaseState(
            lease.owner, lease.fencing_token, renewed.expires_ms
        )
        self._changed()
        return renewed

    def release(self, lease: Lease) -> bool:
        state = self._s.leases.get(lease.session_id)
        if not release_transition(state, lease):
            return False
        assert state is not None
        self._s.leases[lease.session_id] = LeaseState(None, state.fencing_token, 0)
        self._changed()
        return True

    def _fence(self, lease: Lease, now_ms: int, what: str) -> None:
        check_fence(self._s.leases.get(getattr(lease, "session_id", "")), lease, now_ms, what)

    # -- the journal -------------------------------------------------------------------------

    def begin(
        self,
        lease: Lease,
        envelope: CanonicalEnvelope,
        now_ms: int,
        due_at_ms: int | None = None,
    ) -> BeginResult:
        self._fence(lease, now_ms, "begin an effect")
        replay_key = envelope_replay_key(envelope)
        check_lease_covers(lease, envelope_session_id(envelope))
        slot = (lease.session_id, replay_key)
        row = self._s.effects.get(slot)
        verdict = begin_transition(
            None if row is None else row.state, envelope.hash, lease.fencing_token, due_at_ms
        )
        if verdict is DIVERGE:
            assert row is not None
            return Diverged(row.envelope, envelope)
        if isinstance(verdict, Started):
            self._s.effects[slot] = _Effect(
                EffectState(
                    EffectStatus.RUNNING,
                    envelope.hash,
                    verdict.attempt,
                    lease.fencing_token,
                    None,
                    verdict.due_at_ms,
                ),
                envelope,
            )
            self._changed()
        return verdict  # type: ignore[return-value]

    def complete(self, lease: Lease, replay_key: str, outcome_json: str, now_ms: int) -> None:
        self.complete_many(lease, [(replay_key, outcome_json)], now_ms)

    def complete_many(self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int) -> None:
        """:meth:`complete` for several effects at once: all recorded, or none."""
        self._fence(lease, now_ms, "complete an effect")
        planned: dict[str, EffectState] = {}
        for replay_key, outcome_json in outcomes:
            if not isinstance(outcome_json, str):
                raise LocalProtocolError(codes.STORE_CORRUPT, "an outcome is a JSON string")
            row = self._s.effects.get((lease.session_id, replay_key))
            state = planned.get(replay_key, None if row is None else row.state)
            if complete_transition(state, outcome_json, lease.fencing_token):
                assert state is not None
                planned[replay_key] = attrs.evolve(
                    state, status=EffectStatus.COMPLETED, outcome_json=outcome_json
                )
        for replay_key, state in planned.items():
            self._s.effects[(lease.session_id, replay_key)].state = state
        if planned:
            self._changed()

    def abandon(self, lease: Lease, replay_key: str, now_ms: int) -> bool:
        self._fence(lease, now_ms, "abandon an effect")
        row = self._s.effects.get((lease.session_id, replay_key))
        if not abandon_allowed(None if row is None else row.state, lease.fencing_token):
            return False
        assert row is not None
        row.state = attrs.evolve(row.state, status=EffectStatus.ABANDONED)
        self._changed()
        return True

    def discard(self, lease: Lease, replay_key: str, now_ms: int) -> bool:
        self._fence(lease, now_ms, "discard an effect")
        if self._s.effects.pop((lease.session_id, replay_key), None) is None:
            return False
        self._changed()
        return True

    def recorded_envelope(self, session_id: str, replay_key: str) -> CanonicalEnvelope | None:
        row = self._s.effects.get((session_id, replay_key))
        return None if row is None else row.envelope

    # -- turns -------------------------------------------------------------------------------

    def open_turn(self, lease: Lease, turn_id: str, start_json: str, now_ms: int) -> TurnRow:
        self._fence(lease, now_ms, "open a turn")
        ref = TurnRef(lease.session_id, turn_id)
        existing = self._s.turns.get(ref)
        row = open_turn_transition(existing, ref, start_json)
        if existing is None:
            self._s.turns[ref] = row
            self._changed()
        return row

    def finish_turn(self, lease: Lease, ref: TurnRef, result_json: str, now_ms: int) -> None:
        self._fence(lease, now_ms, "finish a turn")
        check_lease_covers(lease, ref.session_id)
        existing = self._s.turns.get(ref)
        if finish_turn_transition(existing, ref, result_json):
            assert existing is not None
            self._s.turns[ref] = attrs.evolve(
                existing, status=TurnStatus.FINISHED, result_json=result_json
            )
            self._changed()

    def mark_diverged(self, lease: Lease, ref: TurnRef, diff_json: str, now_ms: int) -> None:
        self._fence(lease, now_ms, "mark a turn diverged")
        check_lease_covers(lease, ref.session_id)
        existing = self._s.turns.get(ref)
        if diverge_turn_transition(existing, ref):
            assert existing is not None
            self._s.turns[ref] = attrs.evolve(
                existing, status=TurnStatus.DIVERGED, divergence_json=diff_json
            )
            self._changed()

    def turn(self, ref: TurnRef) -> TurnRow | None:
        return self._s.turns.get(ref)

    def unfinished_turns(self) -> list[TurnRef]:
        return sorted(
            (ref for ref, row in self._s.turns.items() if row.status is TurnStatus.RUNNING),
            key=lambda r: (r.session_id, r.turn_id),
        )

    # -- the process registry ----------------------------------------------------------------

    def save_process_rows(self, rows: ProcessRows) -> None:
        s = self._s
        for key in rows.removed_grants:
            s.grants.pop(key, None)
        for wake_id in rows.dropped_wakes:
            s.wakes.pop(wake_id, None)
        for process_id in rows.released_leases:
            s.process_leases.pop(process_id, None)
        for process_id in rows.pruned_processes:
            s.processes.pop(process_id, None)
            for logged in [k for k in s.process_events if k[0] == process_id]:
                del s.process_events[logged]
            for acked in [k for k in s.acked_wake_events if k[0] == process_id]:
                del s.acked_wake_events[acked]
        for record in rows.records:
            s.processes[record.id] = record
        for event in rows.events:
            s.process_events.setdefault((event.process_id, event.sequence), event)
        for scope, grant in rows.grants:
            s.grants[(scope.id, grant.process_id)] = (scope, grant)
        for wake_id in rows.acknowledged_wakes:
            s.acked_wakes[wake_id] = None
            s.wakes.pop(wake_id, None)
        for delivery in rows.pending_wakes:
            if delivery.wake_id not in s.acked_wakes:
                s.wakes.setdefault(delivery.wake_id, delivery)
        for lease in rows.leases:
            s.process_leases[lease.process_id] = lease
        for process_id, fence in rows.fences:
            s.process_fences[process_id] = fence
        for pair in rows.acknowledged_wake_events:
            s.acked_wake_events[pair] = None
        self._changed()

    def process_rows(self) -> ProcessRows:
        s = self._s
        return ProcessRows(
            tuple(s.processes.values()),
            tuple(s.process_events[k] for k in sorted(s.process_events)),
            tuple(s.grants[k] for k in sorted(s.grants)),
            tuple(s.wakes.values()),
            tuple(s.acked_wakes),
            tuple(s.process_leases[k] for k in sorted(s.process_leases)),
            tuple(sorted(s.acked_wake_events)),
            tuple(sorted(s.process_fences.items())),
        )

    def data_version(self) -> int:
        return self._s.version
