"""Session leases and the effect journal in the SQLite file. Every journal write checks the
session lease in its own transaction, so a paused owner that lost its lease writes nothing; a
model request's big, repeated parts are stored once (linear growth with the conversation). The
rows both stores share are read and written by :class:`lash_sql.journal.JournalRows`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Final

from lash_core import LashError, codes
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.store import (
    SPLIT_MEMOS,
    BeginResult,
    EffectState,
    Lease,
    LeaseState,
    Owner,
    check_fence,
    check_lease_covers,
    complete_transition,
    envelope_identity,
)
from lash_sql.journal import JournalRows, fenced_row
from lash_sqlite.connection import SqliteConnection
from lash_sqlite.liveness import provably_dead

__all__ = ["LEASE_WRITES_RELAXED", "SPLIT_MEMOS", "JournalTables"]

LEASE_WRITES_RELAXED: Final = True
"""Session lease writes (``acquire``, ``renew``, ``release``) commit at ``NORMAL``: a lease
orders the processes alive on the machine (a WAL file is shared by one machine's processes
only), and a power cut ends them all, so a lease write it loses guards nothing. Any record made
under a lease is synced after it (the log is synced in order): a durable ``complete`` or turn
row proves its lease durable too. A lost ``release`` leaves the lease to expire, as a crash
does."""

_FENCED_EFFECT_SQL: Final = """
SELECT s.owner_name, s.owner_incarnation, s.fencing_token, s.expires_ms, e.status,
    e.envelope_hash, e.attempt, e.fencing_token, e.outcome_json, e.due_at_ms
FROM (SELECT 1) LEFT JOIN sessions s ON s.session_id = ?1
    LEFT JOIN effects e ON e.session_id = ?1 AND e.replay_key = ?2
"""
"""The session's lease and an effect row of it, read in one statement."""


class JournalTables(JournalRows[sqlite3.Connection], SqliteConnection):
    """The ``sessions`` (leases), ``effects``, ``blobs`` and ``chain`` tables."""

    def _lease_write(self) -> AbstractContextManager[sqlite3.Connection]:
        """At ``NORMAL`` (see :data:`LEASE_WRITES_RELAXED`)."""
        return self._write(relaxed=LEASE_WRITES_RELAXED)

    def _session_lease(self, db: sqlite3.Connection, session_id: str) -> LeaseState | None:
        return self._lease_state(db, session_id)

    def _holder_dead(self, holder: Owner) -> bool:
        return provably_dead(holder)

    def _fence(self, db: sqlite3.Connection, lease: Lease, now_ms: int, what: str) -> None:
        """The fence, in the write's own transaction (the write lock is already held)."""
        check_fence(self._lease_state(db, getattr(lease, "session_id", "")), lease, now_ms, what)

    def _fenced_effect(
        self, db: sqlite3.Connection, lease: Lease, replay_key: str, now_ms: int, what: str
    ) -> EffectState | None:
        """:meth:`_fence`, then the effect row of ``replay_key`` in the lease's session: both
        read by one statement."""
        if type(lease) is not Lease:
            check_fence(None, lease, now_ms, what)  # raises lease_invalid
        row = db.execute(_FENCED_EFFECT_SQL, (lease.session_id, replay_key)).fetchone()
        state, effect = fenced_row(row)
        check_fence(state, lease, now_ms, what)
        return effect

    # -- the journal ------------------------------------------------------------------------

    def _begin(
        self, lease: Lease, envelope: CanonicalEnvelope, now_ms: int, due_at_ms: int | None
    ) -> BeginResult:
        replay_key, session_id = envelope_identity(envelope)
        # Committed at NORMAL: the running marker must survive the process dying (it does),
        # and the effect's complete, committed at the store's level, syncs it with its outcome.
        # A power cut before that complete may lose the marker: the effect then runs again as
        # attempt 1, not in doubt (docs/durability.md, "The write path").
        with self._write(relaxed=True) as db:
            row = self._fenced_effect(db, lease, replay_key, now_ms, "begin an effect")
            check_lease_covers(lease, session_id)
            return self._begin_row(db, lease, envelope, replay_key, row, now_ms, due_at_ms)

    def _complete_many(
        self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int
    ) -> None:
        with self._write() as db:
            if not outcomes:
                self._fence(db, lease, now_ms, "complete an effect")
            for index, (replay_key, outcome_json) in enumerate(outcomes):
                if index == 0:
                    row = self._fenced_effect(db, lease, replay_key, now_ms, "complete an effect")
                else:
                    row = self._effect(db, lease.session_id, replay_key)
                if complete_transition(row, outcome_json, lease.fencing_token):
                    changed = db.execute(
                        self._sql.complete_effect,
                        (outcome_json, now_ms, lease.session_id, replay_key, lease.fencing_token),
                    ).rowcount
                    if changed != 1:  # pragma: no cover - the rule saw the row under the lock
                        raise LashError(codes.LEASE_LOST, "the effect row changed under the lock")

    def _fenced_row(
        self, db: sqlite3.Connection, lease: Lease, replay_key: str, now_ms: int, what: str
    ) -> EffectState | None:
        self._fence(db, lease, now_ms, what)
        return self._effect(db, lease.session_id, replay_key)

    def _delete_effect(self, db: sqlite3.Connection, session_id: str, replay_key: str) -> bool:
        return bool(db.execute(self._sql.delete_effect, (session_id, replay_key)).rowcount)
