"""Await events in the SQLite file: promises, revocation tombstones and parked waiters'
doorbells. They need no lease and work from any process (a webhook needs no host); a resolver
commits first, then rings the doorbells of the waiters parked on the key. What both stores do
the same way is :class:`lash_sql.await_events.AwaitEventRows`.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from lash_core import (
    AwaitEventKey,
    ExecutionScope,
    LashError,
    Resolution,
    ResolveOutcome,
    WaitIdentity,
    codes,
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
    resolution_to_json,
    revoked_error,
    revoked_mint_error,
)
from lash_sql.await_events import AwaitEventRows, Promise, promise
from lash_sqlite.connection import SqliteConnection, wall_ms

__all__ = ["AwaitEventTables"]

_PROMISE_SQL: Final = (
    "SELECT EXISTS(SELECT 1 FROM revoked_sessions WHERE session_id = ?1), "
    "e.key_id IS NOT NULL, e.terminal_json, e.deadline_ms "
    "FROM (SELECT 1) LEFT JOIN await_events e ON e.key_id = ?2"
)
"""Whether the key's session is revoked, and its promise row (found, terminal, deadline)."""


class AwaitEventTables(AwaitEventRows[sqlite3.Connection], SqliteConnection):
    """The ``await_events``, ``waits`` and ``revoked_sessions`` tables."""

    _PENDING_OF_SESSION = (
        "SELECT key_id, scope_json, wait_json FROM await_events "
        "WHERE session_id = ? AND terminal_json IS NULL"
    )

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The signed key for ``(scope, wait)`` (the same as the in-memory registry's for the
        same secret); writes nothing. Refused for a revoked session."""
        key = self._signer.mint(scope, wait)
        if scope.session_id is not None and self.is_revoked(scope.session_id):
            raise revoked_mint_error(scope.session_id)
        self._remember(key)
        return key

    def _promise(self, db: sqlite3.Connection, key: AwaitEventKey) -> Promise:
        if not self._authentic(key):
            raise revoked_error()
        # One statement reads both (a statement outside a transaction is its own snapshot).
        revoked, found, terminal_json, deadline = db.execute(
            _PROMISE_SQL, (key.scope.session_id, key.key_id)
        ).fetchone()
        if not session_allows_access(bool(revoked)):
            raise revoked_error()
        return promise(found, terminal_json, deadline)

    def _forget_waits(
        self, db: sqlite3.Connection, key_id: str, rings: list[tuple[str, str]]
    ) -> None:
        for (address,) in db.execute(
            "SELECT address FROM waits WHERE key_id = ? ORDER BY address", (key_id,)
        ).fetchall():
            rings.append((address, key_id))
        db.execute("DELETE FROM waits WHERE key_id = ?", (key_id,))

    def _settle(
        self,
        db: sqlite3.Connection,
        key: AwaitEventKey,
        exists: bool,
        terminal: Resolution,
        rings: list[tuple[str, str]],
    ) -> None:
        now = wall_ms()
        text = resolution_to_json(terminal)
        if exists:
            db.execute(self._sql.settle_promise, (text, now, key.key_id))
        else:
            db.execute(*self._promise_insert(key, text, None, now))
        self._forget_waits(db, key.key_id, rings)

    def _ring_abandoned_gate(
        self, db: sqlite3.Connection, gate_id: str, rings: list[tuple[str, str]]
    ) -> None:
        """A turn's terminal was published: wake the waiters of its still-pending cancel gate
        (they would otherwise wait forever; their gate is left unwritten)."""
        pending = db.execute(
            "SELECT 1 FROM await_events WHERE key_id = ? AND terminal_json IS NULL", (gate_id,)
        ).fetchone()
        if pending is not None:
            self._forget_waits(db, gate_id, rings)

    def unpark(self, key: AwaitEventKey, doorbell: str) -> None:
        """Forget ``doorbell``'s registration on ``key`` (its wait ended)."""
        with self._write() as db:
            db.execute(self._sql.delete_wait, (getattr(key, "key_id", None), doorbell))

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Propose ``resolution`` as the key's terminal; the first one wins (a resolution
        before any waiter is stored, buffered). Verifies the key (HMAC) and the session's
        revocation, commits, then rings the parked waiters' doorbells."""
        resolution = check_resolution(resolution)
        rings: list[tuple[str, str]] = []
        with self._write() as db:
            try:
                exists, terminal, _ = self._promise(db, key)
            except LashError as exc:
                if exc.code != codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED:
                    raise
                return UNKNOWN_OR_REVOKED
            transition = resolve_transition(promise_state(False, exists, terminal), resolution)
            if isinstance(transition, StoreTransition):
                self._settle(db, key, exists, transition.resolution, rings)
                gate_id = abandoned_gate_id(key)
                if gate_id is not None:
                    self._ring_abandoned_gate(db, gate_id, rings)
        self._ring_all(rings)
        outcome = transition_outcome(transition)
        assert outcome is not None
        return outcome

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None``; never writes (``await_event_unknown_or_revoked``
        for a forged or tampered key or a revoked session)."""
        with self._read() as db:
            return self._promise(db, key)[1]

    def _drop_session(
        self, db: sqlite3.Connection, session_id: str, rings: list[tuple[str, str]]
    ) -> None:
        rows = db.execute(
            "SELECT w.key_id, w.address FROM waits w JOIN await_events e "
            "ON e.key_id = w.key_id WHERE e.session_id = ?",
            (session_id,),
        ).fetchall()
        rings.extend((address, key_id) for key_id, address in rows)
        db.execute(
            "DELETE FROM waits WHERE key_id IN "
            "(SELECT key_id FROM await_events WHERE session_id = ?)",
            (session_id,),
        )
        db.execute(self._sql.delete_session_promises, (session_id,))
