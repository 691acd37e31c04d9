"""Await events in PostgreSQL: promises, revocation tombstones and parked waiters'
notification channels. They need no lease and work from any process (a webhook needs no
host). A resolver sends ``NOTIFY`` on the channel of each waiter parked on the key in its own
transaction: PostgreSQL delivers it only once that transaction commits.

Locks (transaction-scoped advisory locks, see :mod:`lash_postgres.connection`): a promise write
takes its session's revocation lock shared, then the key's lock; a cancel sweep or revocation
takes the session's revocation lock exclusive.
"""

from __future__ import annotations

from typing import Any

import psycopg

from lash_core import (
    AwaitEventKey,
    ExecutionScope,
    LashError,
    Resolution,
    ResolveOutcome,
    WaitIdentity,
    from_json,
)
from lash_core.promise import (
    StoreTransition,
    cancel_sweep_transition,
    resolve_transition,
    revoke_transition,
    session_allows_access,
    transition_outcome,
)
from lash_core.resolution import UNKNOWN_OR_REVOKED
from lash_core.store import (
    abandoned_gate_id,
    check_resolution,
    check_session_id,
    ended_wait_proposal,
    key_is_authentic,
    promise_state,
    resolution_from_json,
    resolution_to_json,
    revoked_error,
    revoked_mint_error,
)
from lash_core.wire import canonical_json
from lash_postgres.connection import PostgresConnection, corrupt, wall_ms

__all__ = ["AwaitEventTables"]

Db = psycopg.Connection[Any]


class AwaitEventTables(PostgresConnection):
    """The ``await_events``, ``waits`` and ``revoked_sessions`` tables."""

    def _wake_parked(
        self,
        db: Db,
        key_id: str,
        rings: list[tuple[str, str]],
        write: tuple[str, tuple[object, ...]] | None = None,
    ) -> None:
        """In one statement: ``write`` (the promise's own row: SQL and parameters), forget the
        waiters parked on ``key_id``, notify each one's channel (delivered when the
        transaction commits), count the change for ``data_version``, and add the waiters to
        ``rings``."""
        first, params = ("", ()) if write is None else (f"w AS ({write[0]}), ", write[1])
        rows = db.execute(
            f"WITH {first}c AS (UPDATE changes SET n = n + 1 WHERE shard = %s), "
            "d AS (DELETE FROM waits WHERE key_id = %s RETURNING address) "
            "SELECT address, pg_notify(address, %s) FROM d ORDER BY address",
            (*params, self._change_shard(key_id), key_id, key_id),
        ).fetchall()
        rings.extend((address, key_id) for address, _ in rows)

    def _ring_all(self, rings: list[tuple[str, str]]) -> None:
        """After COMMIT: the extra ``ring`` callback, when one was given."""
        if self._ring is not None:
            for address, key_id in rings:
                self._ring(address, key_id)

    def _revoked(self, db: Db, session_id: str | None) -> bool:
        if session_id is None:
            return False
        row = db.execute(
            "SELECT 1 FROM revoked_sessions WHERE session_id = %s", (session_id,)
        ).fetchone()
        return row is not None

    def is_revoked(self, session_id: str) -> bool:
        with self._read() as db:
            return self._revoked(db, session_id)

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The signed key for ``(scope, wait)`` (the same as the in-memory registry's for the
        same secret); writes nothing. Refused for a revoked session."""
        key = self._signer.mint(scope, wait)
        if scope.session_id is not None and self.is_revoked(scope.session_id):
            raise revoked_mint_error(scope.session_id)
        return key

    def _lock_key(self, db: Db, key: AwaitEventKey, *more: tuple[str, str]) -> None:
        """Lock an authentic key's promise for this transaction (and ``more`` after it), in one
        statement; ``revoked_error`` for a forged key: nothing locked, read or written."""
        if not self._authentic(db, key):
            raise revoked_error()
        session_id = key.scope.session_id
        names = [self._lock_name("key", key.key_id), *(self._lock_name(k, n) for k, n in more)]
        calls = ["pg_advisory_xact_lock(hashtextextended(%s, 0))"] * len(names)
        if session_id is not None:
            calls.insert(0, "pg_advisory_xact_lock_shared(hashtextextended(%s, 0))")
            names.insert(0, self._lock_name("revocation", session_id))
        db.execute(f"SELECT {', '.join(calls)}", names)

    def _promise(self, db: Db, key: AwaitEventKey) -> tuple[bool, Resolution | None, int | None]:
        """(row exists, terminal, deadline) of an authentic key of a live session; raises
        ``await_event_unknown_or_revoked`` (nothing read further, nothing written)."""
        if not self._authentic(db, key):
            raise revoked_error()
        row = db.execute(
            "SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = %s), "
            "e.key_id IS NOT NULL, e.terminal_json, e.deadline_ms "
            "FROM (SELECT 1) AS one LEFT JOIN await_events e ON e.key_id = %s",
            (key.scope.session_id, key.key_id),
        ).fetchone()
        assert row is not None
        revoked, exists, terminal_json, deadline = row
        if not session_allows_access(bool(revoked)):
            raise revoked_error()
        if not exists:
            return False, None, None
        terminal = None if terminal_json is None else resolution_from_json(terminal_json)
        return True, terminal, deadline

    def _settle(
        self,
        db: Db,
        key: AwaitEventKey,
        exists: bool,
        terminal: Resolution,
        rings: list[tuple[str, str]],
    ) -> None:
        now = wall_ms()
        text = resolution_to_json(terminal)
        if exists:
            write: tuple[str, tuple[object, ...]] = (
                "UPDATE await_events SET terminal_json = %s, resolved_ms = %s WHERE key_id = %s",
                (text, now, key.key_id),
            )
        else:
            write = self._promise_insert(key, text, None, now)
        self._wake_parked(db, key.key_id, rings, write)

    def _promise_insert(
        self, key: AwaitEventKey, terminal_json: str | None, deadline_ms: int | None, now: int
    ) -> tuple[str, tuple[object, ...]]:
        """The INSERT of the key's promise row (SQL and parameters)."""
        return (
            "INSERT INTO await_events(key_id, session_id, scope_json, wait_json, turn_control, "
            "terminal_json, deadline_ms, created_ms, resolved_ms) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                key.key_id,
                key.scope.session_id,
                canonical_json(key.scope),
                canonical_json(key.wait),
                key.wait.is_turn_control,
                terminal_json,
                deadline_ms,
                now,
                None if terminal_json is None else now,
            ),
        )

    def park(
        self, key: AwaitEventKey, doorbell: str | None = None, deadline_ms: int | None = None
    ) -> Resolution | None:
        """Ensure the promise is pending (with its absolute ``deadline_ms``, kept from the
        first park) and register ``doorbell`` (a notification channel), in one transaction;
        the terminal if it has one already (then nothing is registered)."""
        with self._write() as db:
            self._lock_key(db, key)
            exists, terminal, stored_deadline = self._promise(db, key)
            if not exists:
                db.execute(*self._promise_insert(key, None, deadline_ms, wall_ms()))
            elif terminal is None and stored_deadline is None and deadline_ms is not None:
                db.execute(
                    "UPDATE await_events SET deadline_ms = %s WHERE key_id = %s",
                    (deadline_ms, key.key_id),
                )
            if terminal is not None:
                return terminal
            if doorbell is not None:
                db.execute(
                    "INSERT INTO waits(key_id, address) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (key.key_id, doorbell),
                )
            return None

    def unpark(self, key: AwaitEventKey, doorbell: str) -> None:
        """Forget ``doorbell``'s registration on ``key`` (its wait ended): one statement."""
        key_id = getattr(key, "key_id", None)
        if type(key_id) is str:
            self._delivered.drop(key_id)
        with self._read() as db:
            db.execute(
                "DELETE FROM waits WHERE key_id = %s AND address = %s",
                (key_id, doorbell),
            )

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Propose ``resolution`` as the key's terminal; the first one wins (a resolution
        before any waiter is stored, buffered). Verifies the key (HMAC) and the session's
        revocation, and notifies the parked waiters in the same transaction.

        One round trip: the function ``lash_resolve`` (installed with the schema) takes the
        locks, reads the promise, writes it when :func:`~lash_core.promise.resolve_transition`
        stores and rings the waiters, in one statement, its own transaction."""
        resolution = check_resolution(resolution)
        with self._read() as db:
            if not self._authentic(db, key):
                return UNKNOWN_OR_REVOKED
            session_id = key.scope.session_id
            gate_id = abandoned_gate_id(key)
            # The gate's lock too: a park on the gate either committed before (its waiter is
            # rung here) or comes after and reads the gate's state itself.
            row = db.execute(
                "SELECT * FROM lash_resolve(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    key.key_id,
                    session_id,
                    canonical_json(key.scope),
                    canonical_json(key.wait),
                    key.wait.is_turn_control,
                    resolution_to_json(resolution),
                    wall_ms(),
                    self._change_shard(key.key_id),
                    None if session_id is None else self._lock_name("revocation", session_id),
                    self._lock_name("key", key.key_id),
                    gate_id,
                    None if gate_id is None else self._lock_name("key", gate_id),
                    None if gate_id is None else self._change_shard(gate_id),
                ),
            ).fetchone()
        assert row is not None
        revoked, exists, stored_json, written, rung, gate_rung = row
        stored = None if stored_json is None else resolution_from_json(stored_json)
        transition = resolve_transition(promise_state(revoked, exists, stored), resolution)
        assert isinstance(transition, StoreTransition) == written, "lash_resolve follows the rule"
        self._ring_all([(address, key.key_id) for address in rung or ()])
        if gate_id is not None:
            self._ring_all([(address, gate_id) for address in gate_rung or ()])
        outcome = transition_outcome(transition)
        assert outcome is not None
        return outcome

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None``; never writes (``await_event_unknown_or_revoked``
        for a forged or tampered key or a revoked session).

        A terminal that arrived with a notification on this store's doorbell
        (:meth:`open_doorbell`) is returned once without reading the table; it was committed
        before the notification was sent, and first writer wins, so the table holds the same
        one unless the session was revoked since (then this wait's peek races the revocation
        and the next peek sees it)."""
        if type(key) is AwaitEventKey and type(key.key_id) is str:
            delivered = self._delivered.take(key.key_id)
            if delivered is not None and key_is_authentic(self._signer, key):
                try:
                    return resolution_from_json(delivered)
                except LashError:
                    pass  # read the table
        with self._read() as db:
            return self._promise(db, key)[1]

    def deadline_ms(self, key: AwaitEventKey) -> int | None:
        """The absolute deadline stored with the pending promise (a restarted waiter waits
        only for what is left of it)."""
        with self._read() as db:
            return self._promise(db, key)[2]

    def _end(self, key: AwaitEventKey, cancelled: bool, now_ms: int | None) -> Resolution | None:
        rings: list[tuple[str, str]] = []
        with self._write() as db:
            self._lock_key(db, key)
            exists, terminal, deadline = self._promise(db, key)
            if terminal is not None:
                return terminal
            if now_ms is not None and (not exists or deadline is None or now_ms < deadline):
                return None
            proposed = ended_wait_proposal(key, cancelled)
            self._settle(db, key, exists, proposed, rings)
        self._ring_all(rings)
        return proposed

    def expire(self, key: AwaitEventKey, now_ms: int) -> Resolution | None:
        """Once ``now_ms`` reaches the stored deadline, write ``timeout`` (first writer wins)
        and return the terminal; ``None`` while not due. A turn-control wait writes nothing
        (``turn_control_wait_timeout``)."""
        return self._end(key, False, now_ms)

    def cancel_wait(self, key: AwaitEventKey) -> Resolution:
        """Write ``cancelled`` (first writer wins) and return the terminal. A turn-control
        wait writes nothing (``turn_control_wait_cancelled``)."""
        result = self._end(key, True, None)
        assert result is not None
        return result

    def cancel_session(self, session_id: str) -> int:
        """Write ``cancelled`` to every pending, non-turn-control promise of the session;
        returns how many. Turn control and keys nobody waited on are untouched."""
        check_session_id(session_id)
        rings: list[tuple[str, str]] = []
        count = 0
        with self._write() as db:
            self._lock_on(db, "revocation", session_id)
            if self._revoked(db, session_id):
                return 0
            rows = db.execute(
                "SELECT key_id, scope_json, wait_json FROM await_events "
                "WHERE session_id = %s AND terminal_json IS NULL ORDER BY key_id",
                (session_id,),
            ).fetchall()
            for key_id, scope_json, wait_json in rows:
                try:
                    scope: ExecutionScope = from_json(scope_json, ExecutionScope)
                    wait: WaitIdentity = from_json(wait_json, WaitIdentity)
                except LashError as exc:
                    raise corrupt(f"await event {key_id}", exc) from None
                transition = cancel_sweep_transition(wait, promise_state(False, True, None))
                if isinstance(transition, StoreTransition):
                    key = AwaitEventKey(scope, wait, key_id, "")
                    self._settle(db, key, True, transition.resolution, rings)
                    count += 1
        self._ring_all(rings)
        return count

    def revoke_session(self, session_id: str) -> bool:
        """Tombstone the session (it survives reopen): its promises are dropped, its parked
        waiters notified, and its keys refused from now on (mint, resolve, peek, park)."""
        check_session_id(session_id)
        rings: list[tuple[str, str]] = []
        with self._write() as db:
            self._lock_on(db, "revocation", session_id)
            if not revoke_transition(self._revoked(db, session_id)):
                return False
            db.execute(
                "INSERT INTO revoked_sessions(session_id, revoked_ms) VALUES (%s, %s)",
                (session_id, wall_ms()),
            )
            rows = db.execute(
                "WITH d AS (DELETE FROM waits w USING await_events e WHERE e.key_id = w.key_id "
                "AND e.session_id = %s RETURNING w.key_id, w.address) "
                "SELECT key_id, address, pg_notify(address, key_id) FROM d "
                "ORDER BY key_id, address",
                (session_id,),
            ).fetchall()
            rings.extend((address, key_id) for key_id, address, _ in rows)
            db.execute("DELETE FROM await_events WHERE session_id = %s", (session_id,))
            db.execute(
                "UPDATE changes SET n = n + 1 WHERE shard = %s", (self._change_shard(session_id),)
            )
        self._ring_all(rings)
        return True
