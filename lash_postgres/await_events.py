"""Await events in PostgreSQL: promises, revocation tombstones and parked waiters'
notification channels. They need no lease and work from any process (a webhook needs no
host). A resolver sends ``NOTIFY`` on the channel of each waiter parked on the key in its own
transaction: PostgreSQL delivers it only once that transaction commits.

Locks (transaction-scoped advisory locks, see :mod:`lash_postgres.connection`): a promise write
takes its session's revocation lock shared, then the key's lock; a cancel sweep or revocation
takes the session's revocation lock exclusive.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from lash_core import (
    AwaitEventKey,
    ExecutionScope,
    LashError,
    Resolution,
    ResolveOutcome,
    WaitIdentity,
)
from lash_core.promise import (
    StoreTransition,
    resolve_transition,
    session_allows_access,
    transition_outcome,
)
from lash_core.resolution import UNKNOWN_OR_REVOKED
from lash_core.store import (
    abandoned_gate_id,
    check_resolution,
    promise_state,
    resolution_from_json,
    resolution_to_json,
    revoked_error,
    revoked_mint_error,
)
from lash_postgres.connection import PostgresConnection, wall_ms
from lash_sql.await_events import AwaitEventRows, Promise, promise

__all__ = ["AwaitEventTables"]

Db = psycopg.Connection[Any]

_RESOLVE: Final = "SELECT * FROM lash_resolve(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


class AwaitEventTables(AwaitEventRows[Db], PostgresConnection):
    """The ``await_events``, ``waits`` and ``revoked_sessions`` tables."""

    _PENDING_OF_SESSION = (
        "SELECT key_id, scope_json, wait_json FROM await_events "
        "WHERE session_id = %s AND terminal_json IS NULL ORDER BY key_id"
    )

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

    def _promise(self, db: Db, key: AwaitEventKey) -> Promise:
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
        return promise(exists, terminal_json, deadline)

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
                self._sql.settle_promise,
                (text, now, key.key_id),
            )
        else:
            write = self._promise_insert(key, text, None, now)
        self._wake_parked(db, key.key_id, rings, write)

    def unpark(self, key: AwaitEventKey, doorbell: str) -> None:
        """Forget ``doorbell``'s registration on ``key`` (its wait ended): one statement."""
        key_id = getattr(key, "key_id", None)
        if type(key_id) is str:
            self._delivered.drop(key_id)
        with self._read() as db:
            db.execute(self._sql.delete_wait, (key_id, doorbell))

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Propose ``resolution`` as the key's terminal; the first one wins (a resolution
        before any waiter is stored, buffered). Verifies the key (HMAC) and the session's
        revocation, and notifies the parked waiters in the same transaction.

        One round trip: the function ``lash_resolve`` (installed with the schema) takes the
        locks, reads the promise, writes it when :func:`~lash_core.promise.resolve_transition`
        stores and rings the waiters, in one statement, its own transaction."""
        resolution = check_resolution(resolution)
        with self._lock:  # as _read does, without its two context managers (a resolve is hot)
            try:
                called = self._call_resolve(self._live(), key, resolution)
            except psycopg.Error as exc:
                raise self._unavailable(exc) from exc
        if called is None:
            return UNKNOWN_OR_REVOKED
        (revoked, exists, stored_json, written, rung, gate_rung), gate_id = called
        stored = None if stored_json is None else resolution_from_json(stored_json)
        transition = resolve_transition(promise_state(revoked, exists, stored), resolution)
        assert isinstance(transition, StoreTransition) == written, "lash_resolve follows the rule"
        if self._ring is not None:
            self._ring_all([(address, key.key_id) for address in rung or ()])
            if gate_id is not None:
                self._ring_all([(address, gate_id) for address in gate_rung or ()])
        outcome = transition_outcome(transition)
        assert outcome is not None
        return outcome

    def _call_resolve(
        self, db: Db, key: AwaitEventKey, resolution: Resolution
    ) -> tuple[tuple[Any, ...], str | None] | None:
        """``lash_resolve``'s row for an authentic key (``None`` for any other), and the id
        of the key's cancel gate (when it is a turn's terminal)."""
        texts = self._authentic_texts(db, key)
        if texts is None:
            return None
        key_id = key.key_id
        session_id = key.scope.session_id
        gate_id = abandoned_gate_id(key)
        prefix = self._lock_prefix
        # The gate's lock too: a park on the gate either committed before (its waiter is rung
        # here) or comes after and reads the gate's state itself.
        params = (
            key_id,
            session_id,
            texts[0],
            texts[1],
            key.wait.is_turn_control,
            resolution_to_json(resolution),
            wall_ms(),
            self._change_shard(key_id),
            None if session_id is None else f"{prefix}revocation/{session_id}",
            f"{prefix}key/{key_id}",
            gate_id,
            None if gate_id is None else f"{prefix}key/{gate_id}",
        )
        row = self._statement(db).execute(_RESOLVE, params, prepare=True).fetchone()
        assert row is not None
        return row, gate_id

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
            if delivered is not None and self._is_authentic(key):
                try:
                    return resolution_from_json(delivered)
                except LashError:
                    pass  # read the table
        with self._read() as db:
            return self._promise(db, key)[1]

    def _lock_revocation(self, db: Db, session_id: str) -> None:
        self._lock_on(db, "revocation", session_id)

    def _drop_session(self, db: Db, session_id: str, rings: list[tuple[str, str]]) -> None:
        rows = db.execute(
            "WITH d AS (DELETE FROM waits w USING await_events e WHERE e.key_id = w.key_id "
            "AND e.session_id = %s RETURNING w.key_id, w.address) "
            "SELECT key_id, address, pg_notify(address, key_id) FROM d "
            "ORDER BY key_id, address",
            (session_id,),
        ).fetchall()
        rings.extend((address, key_id) for key_id, address, _ in rows)
        db.execute(self._sql.delete_session_promises, (session_id,))
        db.execute(
            "UPDATE changes SET n = n + 1 WHERE shard = %s", (self._change_shard(session_id),)
        )
