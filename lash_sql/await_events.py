"""Await events, the same on both stores: promises, revocation tombstones and parked waiters'
registrations. Each store keeps how it reads a promise (its key check), settles one and rings
its waiters (SQLite rings doorbells after COMMIT, Postgres notifies in the transaction), and
the locks it takes (:meth:`AwaitEventRows._lock_key`, :meth:`AwaitEventRows._lock_revocation`).
"""

from __future__ import annotations

from typing import ClassVar

from lash_core import (
    AwaitEventKey,
    ExecutionScope,
    LashError,
    Resolution,
    WaitIdentity,
    from_json,
)
from lash_core.promise import StoreTransition, cancel_sweep_transition, revoke_transition
from lash_core.store import (
    check_session_id,
    ended_wait_proposal,
    promise_state,
    resolution_from_json,
)
from lash_core.store_memory import Ring
from lash_core.wire import canonical_json
from lash_sql.tables import DbT, SqlTables, corrupt, wall_ms

__all__ = ["AwaitEventRows", "Promise", "promise"]

Promise = tuple[bool, Resolution | None, int | None]
"""A promise row as the rules read it: (row exists, terminal, deadline)."""

Rings = list[tuple[str, str]]
"""``(address, key id)`` of each waiter to ring once the transaction commits."""


def promise(exists: object, terminal_json: str | None, deadline: int | None) -> Promise:
    """The :data:`Promise` of a promise row's columns."""
    if not exists:
        return False, None, None
    terminal = None if terminal_json is None else resolution_from_json(terminal_json)
    return True, terminal, deadline


class AwaitEventRows(SqlTables[DbT]):
    """The ``await_events``, ``waits`` and ``revoked_sessions`` tables."""

    _ring: Ring | None
    _PENDING_OF_SESSION: ClassVar[str]
    """The pending promises of a session (``key_id, scope_json, wait_json``)."""

    def _promise(self, db: DbT, key: AwaitEventKey) -> Promise:
        """(row exists, terminal, deadline) of an authentic key of a live session; raises
        ``await_event_unknown_or_revoked`` (nothing read further, nothing written)."""
        raise NotImplementedError

    def _settle(
        self, db: DbT, key: AwaitEventKey, exists: bool, terminal: Resolution, rings: Rings
    ) -> None:
        """Write ``terminal`` to the key's promise and forget its waiters (added to
        ``rings``)."""
        raise NotImplementedError

    def _drop_session(self, db: DbT, session_id: str, rings: Rings) -> None:
        """Delete the revoked session's promises and forget their waiters (added to
        ``rings``)."""
        raise NotImplementedError

    def _lock_key(self, db: DbT, key: AwaitEventKey) -> None:
        """Serialise the writers of the key's promise in this transaction (nothing to do where
        a write transaction already excludes every other writer, as SQLite's does)."""

    def _lock_revocation(self, db: DbT, session_id: str) -> None:
        """Exclude the session's promise writers for this transaction (as
        :meth:`_lock_key`)."""

    def _ring_all(self, rings: Rings) -> None:
        """After COMMIT: the ``ring`` callback, when there is one."""
        if self._ring is not None:
            for address, key_id in rings:
                self._ring(address, key_id)

    def _revoked(self, db: DbT, session_id: str | None) -> bool:
        if session_id is None:
            return False
        return db.execute(self._sql.revoked, (session_id,)).fetchone() is not None

    def is_revoked(self, session_id: str) -> bool:
        with self._read() as db:
            return self._revoked(db, session_id)

    def _promise_insert(
        self, key: AwaitEventKey, terminal_json: str | None, deadline_ms: int | None, now: int
    ) -> tuple[str, tuple[object, ...]]:
        """The INSERT of the key's promise row (SQL and parameters)."""
        return (
            self._sql.insert_promise,
            (
                key.key_id,
                key.scope.session_id,
                canonical_json(key.scope),
                canonical_json(key.wait),
                self._sql.flag(key.wait.is_turn_control),
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
        first park) and register ``doorbell``, in one transaction; the terminal if it has one
        already (then nothing is registered)."""
        with self._write() as db:
            self._lock_key(db, key)
            exists, terminal, stored_deadline = self._promise(db, key)
            if not exists:
                db.execute(*self._promise_insert(key, None, deadline_ms, wall_ms()))
            elif terminal is None and stored_deadline is None and deadline_ms is not None:
                db.execute(self._sql.set_deadline, (deadline_ms, key.key_id))
            if terminal is not None:
                return terminal
            if doorbell is not None:
                db.execute(self._sql.insert_wait, (key.key_id, doorbell))
            return None

    def deadline_ms(self, key: AwaitEventKey) -> int | None:
        """The absolute deadline stored with the pending promise (a restarted waiter waits
        only for what is left of it)."""
        with self._read() as db:
            return self._promise(db, key)[2]

    def _end(self, key: AwaitEventKey, cancelled: bool, now_ms: int | None) -> Resolution | None:
        rings: Rings = []
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
        rings: Rings = []
        count = 0
        with self._write() as db:
            self._lock_revocation(db, session_id)
            if self._revoked(db, session_id):
                return 0
            rows = db.execute(self._PENDING_OF_SESSION, (session_id,)).fetchall()
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
        waiters rung, and its keys refused from now on (mint, resolve, peek, park)."""
        check_session_id(session_id)
        rings: Rings = []
        with self._write() as db:
            self._lock_revocation(db, session_id)
            if not revoke_transition(self._revoked(db, session_id)):
                return False
            db.execute(self._sql.revoke, (session_id, wall_ms()))
            self._drop_session(db, session_id, rings)
        self._ring_all(rings)
        return True
