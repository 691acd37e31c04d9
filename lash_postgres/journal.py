"""Session leases and the effect journal in PostgreSQL. Every journal write takes the
session's advisory lock and checks the session lease in its own transaction, so a paused owner
that lost its lease writes nothing; a model request's big, repeated parts are stored once
(linear growth with the conversation), as in the SQLite store.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

import psycopg

from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.store import (
    BeginResult,
    EffectState,
    Lease,
    LeaseState,
    Owner,
    check_fence,
    check_lease_covers,
    complete_transition,
    envelope_replay_key,
    envelope_session_id,
)
from lash_postgres.connection import SQL, PostgresConnection
from lash_sql.journal import JournalRows, fenced_row
from lash_sqlite.liveness import provably_dead

__all__ = ["JournalTables"]

Db = psycopg.Connection[Any]

_DISCARD: Final = SQL.delete_effect + " RETURNING 1"


class JournalTables(JournalRows[Db], PostgresConnection):
    """The ``sessions`` (leases), ``effects``, ``blobs`` and ``chain`` tables."""

    def _lease_write(self) -> AbstractContextManager[Db]:
        return self._write()

    def _session_lease(self, db: Db, session_id: str) -> LeaseState | None:
        """Lock the session for this transaction, then read its lease row."""
        if not isinstance(session_id, str):
            return None
        self._lock_on(db, "session", session_id)
        return self._lease_state(db, session_id)

    def _holder_dead(self, holder: Owner) -> bool:
        return provably_dead(holder)

    def _fence(
        self,
        db: Db,
        lease: Lease,
        now_ms: int,
        what: str,
        replay_key: str | None = None,
        *,
        relaxed: bool = False,
    ) -> EffectState | None:
        """The fence, in the write's own transaction: the session is locked first, so no
        other owner can take the lease over until this transaction ends. Also reads the
        journal row of ``replay_key`` (in the same statement as the lease); ``relaxed``: see
        :meth:`~lash_postgres.connection.PostgresConnection._lock_on`."""
        session_id = getattr(lease, "session_id", "")
        if not isinstance(session_id, str):
            check_fence(None, lease, now_ms, what)
        self._lock_on(db, "session", session_id, relaxed=relaxed)
        row = db.execute(
            "SELECT s.owner_name, s.owner_incarnation, s.fencing_token, s.expires_ms, "
            "e.status, e.envelope_hash, e.attempt, e.fencing_token, e.outcome_json, e.due_at_ms "
            "FROM (SELECT 1) AS one LEFT JOIN sessions s ON s.session_id = %s "
            "LEFT JOIN effects e ON e.session_id = %s AND e.replay_key = %s",
            (session_id, session_id, replay_key),
        ).fetchone()
        assert row is not None
        state, effect = fenced_row(row)
        check_fence(state, lease, now_ms, what)
        return effect

    # -- the journal ------------------------------------------------------------------------

    def _begin(
        self, lease: Lease, envelope: CanonicalEnvelope, now_ms: int, due_at_ms: int | None
    ) -> BeginResult:
        replay_key = envelope_replay_key(envelope)
        # Committed without waiting for the WAL flush: the running marker must survive the
        # process dying (it does), and the effect's complete, a synced commit, flushes it with
        # its outcome. A server crash before that complete may lose the marker: the effect then
        # runs again as attempt 1, not in doubt (as on SQLite after a power cut).
        with self._write() as db:
            row = self._fence(db, lease, now_ms, "begin an effect", replay_key, relaxed=True)
            check_lease_covers(lease, envelope_session_id(envelope))
            return self._begin_row(db, lease, envelope, replay_key, row, now_ms, due_at_ms)

    def _complete_many(
        self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int
    ) -> None:
        with self._write() as db:
            first_key = outcomes[0][0] if outcomes else None
            first = self._fence(db, lease, now_ms, "complete an effect", first_key)
            for index, (replay_key, outcome_json) in enumerate(outcomes):
                row = first if index == 0 else self._effect(db, lease.session_id, replay_key)
                if complete_transition(row, outcome_json, lease.fencing_token):
                    db.execute(
                        self._sql.complete_effect,
                        (outcome_json, now_ms, lease.session_id, replay_key, lease.fencing_token),
                    )

    def _fenced_row(
        self, db: Db, lease: Lease, replay_key: str, now_ms: int, what: str
    ) -> EffectState | None:
        return self._fence(db, lease, now_ms, what, replay_key)

    def _delete_effect(self, db: Db, session_id: str, replay_key: str) -> bool:
        return bool(db.execute(_DISCARD, (session_id, replay_key)).fetchall())
