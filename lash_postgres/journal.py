"""Session leases and the effect journal in PostgreSQL. Every journal write takes the
session's advisory lock and checks the session lease in its own transaction, so a paused owner
that lost its lease writes nothing; a model request's big, repeated parts are stored once
(linear growth with the conversation), as in the SQLite store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import psycopg

from lash_core import LocalProtocolError, codes
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.store import (
    DIVERGE,
    BeginResult,
    Diverged,
    EffectState,
    EffectStatus,
    Lease,
    LeaseState,
    Owner,
    Started,
    abandon_allowed,
    acquire_transition,
    begin_transition,
    check_fence,
    check_lease_covers,
    complete_transition,
    envelope_replay_key,
    envelope_session_id,
    join_stored_envelope,
    release_transition,
    renew_transition,
    skeleton_blob_hashes,
    split_envelope,
    stored_skeleton,
)
from lash_postgres.connection import PostgresConnection
from lash_sqlite.liveness import provably_dead

__all__ = ["JournalTables"]

Db = psycopg.Connection[Any]

_MESSAGES_SQL: Final = """
WITH RECURSIVE walk(node, prev, blob, depth) AS (
    SELECT node, prev, blob, 0 FROM chain WHERE node = %s
    UNION ALL
    SELECT c.node, c.prev, c.blob, w.depth + 1 FROM chain c JOIN walk w ON c.node = w.prev
)
SELECT b.body FROM walk JOIN blobs b ON b.hash = walk.blob ORDER BY walk.depth DESC
"""


class JournalTables(PostgresConnection):
    """The ``sessions`` (leases), ``effects``, ``blobs`` and ``chain`` tables."""

    def _lease_state(self, db: Db, session_id: str) -> LeaseState | None:
        """The session's lease row (the caller holds the session's lock when it writes)."""
        row = db.execute(
            "SELECT owner_name, owner_incarnation, fencing_token, expires_ms FROM sessions "
            "WHERE session_id = %s",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        holder = None if row[0] is None else Owner(row[0], row[1])
        return LeaseState(holder, row[2], row[3])

    def _write_lease(self, db: Db, lease: Lease) -> None:
        db.execute(
            "INSERT INTO sessions(session_id, owner_name, owner_incarnation, fencing_token, "
            "expires_ms) VALUES (%s,%s,%s,%s,%s) ON CONFLICT(session_id) DO UPDATE SET "
            "owner_name = excluded.owner_name, owner_incarnation = excluded.owner_incarnation, "
            "fencing_token = excluded.fencing_token, expires_ms = excluded.expires_ms",
            (
                lease.session_id,
                lease.owner.name,
                lease.owner.incarnation,
                lease.fencing_token,
                lease.expires_ms,
            ),
        )

    def acquire(self, session_id: str, owner: Owner, ttl_ms: int, now_ms: int) -> Lease:
        """Lease the session to ``owner`` until ``now_ms + ttl_ms`` (``lease_held`` while
        another owner's lease is live; a successor gets the next fencing token). A live lease
        whose holder is provably dead (an owner of :func:`~lash_sqlite.new_owner` on this
        machine whose process is gone) is taken over at once."""
        with self._write() as db:
            state = None
            if isinstance(session_id, str):
                self._lock_on(db, "session", session_id)
                state = self._lease_state(db, session_id)
            dead = (
                state is not None
                and state.holder is not None
                and state.holder != owner
                and isinstance(now_ms, int)
                and now_ms < state.expires_ms
                and provably_dead(state.holder)
            )
            lease = acquire_transition(session_id, state, owner, ttl_ms, now_ms, holder_dead=dead)
            self._write_lease(db, lease)
        return lease

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease:
        """Extend the current, unexpired lease (``lease_lost`` otherwise)."""
        with self._write() as db:
            state = self._locked_lease_state(db, lease)
            renewed = renew_transition(state, lease, ttl_ms, now_ms)
            self._write_lease(db, renewed)
        return renewed

    def release(self, lease: Lease) -> bool:
        """Give the lease up (a stale lease changes nothing); the next holder gets the next
        fencing token."""
        with self._write() as db:
            state = self._locked_lease_state(db, lease)
            if not release_transition(state, lease):
                return False
            db.execute(
                "UPDATE sessions SET owner_name = NULL, owner_incarnation = NULL, "
                "expires_ms = 0 WHERE session_id = %s AND fencing_token = %s",
                (lease.session_id, lease.fencing_token),
            )
        return True

    def _locked_lease_state(self, db: Db, lease: Lease) -> LeaseState | None:
        """Lock the lease's session for this transaction, then read its lease row."""
        session_id = getattr(lease, "session_id", "")
        if not isinstance(session_id, str):
            return None
        self._lock_on(db, "session", session_id)
        return self._lease_state(db, session_id)

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
        state = None
        if row[2] is not None:
            holder = None if row[0] is None else Owner(row[0], row[1])
            state = LeaseState(holder, row[2], row[3])
        check_fence(state, lease, now_ms, what)
        if row[4] is None:
            return None
        return EffectState(EffectStatus(row[4]), row[5], row[6], row[7], row[8], row[9])

    # -- the journal ------------------------------------------------------------------------

    def _effect(self, db: Db, session_id: str, replay_key: str) -> EffectState | None:
        row = db.execute(
            "SELECT status, envelope_hash, attempt, fencing_token, outcome_json, due_at_ms "
            "FROM effects WHERE session_id = %s AND replay_key = %s",
            (session_id, replay_key),
        ).fetchone()
        if row is None:
            return None
        return EffectState(EffectStatus(row[0]), row[1], row[2], row[3], row[4], row[5])

    def _store_envelope(
        self, db: Db, session_id: str, envelope: CanonicalEnvelope
    ) -> tuple[str, bool]:
        """The envelope column and split flag: big, repeated parts of a model request go to
        ``blobs`` once each, its messages into the ``chain``, and the row keeps a skeleton.
        Costs what is new: the session's previous split tells which messages were seen."""
        parts = split_envelope(envelope.json, self._split_memos.of(session_id))
        if not parts.blobs and not parts.messages:
            return envelope.json, False
        for digest, body in parts.blobs:
            db.execute(
                "INSERT INTO blobs(hash, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (digest, body),
            )
        chain = parts.chain
        # Only the messages after the longest prefix already stored are new.
        missing = len(chain)
        while missing > 0:
            node = chain[missing - 1][0]
            if db.execute("SELECT 1 FROM chain WHERE node = %s", (node,)).fetchone():
                break
            missing -= 1
        for index in range(missing, len(chain)):
            node, previous, digest = chain[index]
            db.execute(
                "INSERT INTO blobs(hash, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (digest, parts.messages[index]),
            )
            db.execute(
                "INSERT INTO chain(node, prev, blob) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (node, previous, digest),
            )
        return stored_skeleton(parts), True

    def begin(
        self,
        lease: Lease,
        envelope: CanonicalEnvelope,
        now_ms: int,
        due_at_ms: int | None = None,
    ) -> BeginResult:
        """Start an effect, or answer it from the journal: :class:`~lash_core.store.Recorded`,
        :class:`~lash_core.store.Diverged` or :class:`~lash_core.store.Started` (in doubt after
        an owner died mid-effect). Fenced by ``lease`` in the same transaction."""
        if type(envelope) is not CanonicalEnvelope:
            raise LocalProtocolError(
                codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_DECODE, "begin takes a CanonicalEnvelope"
            )
        replay_key = envelope_replay_key(envelope)
        # Committed without waiting for the WAL flush: the running marker must survive the
        # process dying (it does), and the effect's complete, a synced commit, flushes it with
        # its outcome. A server crash before that complete may lose the marker: the effect then
        # runs again as attempt 1, not in doubt (as on SQLite after a power cut).
        with self._write() as db:
            row = self._fence(db, lease, now_ms, "begin an effect", replay_key, relaxed=True)
            check_lease_covers(lease, envelope_session_id(envelope))
            verdict = begin_transition(row, envelope.hash, lease.fencing_token, due_at_ms)
            if isinstance(verdict, Started):
                if row is None:
                    stored, split = self._store_envelope(db, lease.session_id, envelope)
                    db.execute(
                        "INSERT INTO effects(session_id, replay_key, envelope_hash, envelope, "
                        "split, status, attempt, fencing_token, due_at_ms, started_ms) "
                        "VALUES (%s,%s,%s,%s,%s,'running',%s,%s,%s,%s)",
                        (
                            lease.session_id,
                            replay_key,
                            envelope.hash,
                            stored,
                            split,
                            verdict.attempt,
                            lease.fencing_token,
                            verdict.due_at_ms,
                            now_ms,
                        ),
                    )
                else:
                    db.execute(
                        "UPDATE effects SET status = 'running', attempt = %s, fencing_token = %s, "
                        "started_ms = %s WHERE session_id = %s AND replay_key = %s",
                        (
                            verdict.attempt,
                            lease.fencing_token,
                            now_ms,
                            lease.session_id,
                            replay_key,
                        ),
                    )
                return verdict
            if verdict is DIVERGE:
                recorded = self._load_envelope(db, lease.session_id, replay_key)
                assert recorded is not None
                return Diverged(recorded, envelope)
            return verdict  # type: ignore[return-value]

    def complete(self, lease: Lease, replay_key: str, outcome_json: str, now_ms: int) -> None:
        """Record the effect's outcome (or failure) as JSON; the same outcome again is
        harmless. Fenced: the UPDATE matches only the row running under this lease's token."""
        self.complete_many(lease, [(replay_key, outcome_json)], now_ms)

    def complete_many(self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int) -> None:
        """:meth:`complete` for several effects (a fan-out's children) in one transaction,
        so one COMMIT: all recorded, or none."""
        for _, outcome_json in outcomes:
            if not isinstance(outcome_json, str):
                raise LocalProtocolError(codes.STORE_CORRUPT, "an outcome is a JSON string")
        with self._write() as db:
            first_key = outcomes[0][0] if outcomes else None
            first = self._fence(db, lease, now_ms, "complete an effect", first_key)
            for index, (replay_key, outcome_json) in enumerate(outcomes):
                row = first if index == 0 else self._effect(db, lease.session_id, replay_key)
                if complete_transition(row, outcome_json, lease.fencing_token):
                    db.execute(
                        "UPDATE effects SET status = 'completed', outcome_json = %s, "
                        "completed_ms = %s WHERE session_id = %s AND replay_key = %s "
                        "AND status = 'running' AND fencing_token = %s",
                        (outcome_json, now_ms, lease.session_id, replay_key, lease.fencing_token),
                    )

    def abandon(self, lease: Lease, replay_key: str, now_ms: int) -> bool:
        """Mark a running effect of this lease abandoned (it failed, nothing is recorded; the
        next begin runs it again). Whether anything changed."""
        with self._write() as db:
            row = self._fence(db, lease, now_ms, "abandon an effect", replay_key)
            if not abandon_allowed(row, lease.fencing_token):
                return False
            db.execute(
                "UPDATE effects SET status = 'abandoned' WHERE session_id = %s AND replay_key = %s",
                (lease.session_id, replay_key),
            )
        return True

    def discard(self, lease: Lease, replay_key: str, now_ms: int) -> bool:
        """Delete the journal row of ``replay_key`` whatever its status (a resumed turn that
        continues past a divergence replaces what it had recorded from there); fenced by
        ``lease``. Whether a row was deleted."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "discard an effect")
            deleted = db.execute(
                "DELETE FROM effects WHERE session_id = %s AND replay_key = %s RETURNING 1",
                (lease.session_id, replay_key),
            ).fetchall()
        return bool(deleted)

    def _load_envelope(self, db: Db, session_id: str, replay_key: str) -> CanonicalEnvelope | None:
        row = db.execute(
            "SELECT envelope_hash, envelope, split FROM effects "
            "WHERE session_id = %s AND replay_key = %s",
            (session_id, replay_key),
        ).fetchone()
        if row is None:
            return None
        digest, stored, split = row
        if not split:
            return CanonicalEnvelope(stored, digest)
        what = f"the stored envelope of {replay_key!r}"
        tail, skeleton, wanted = skeleton_blob_hashes(stored, what)
        messages = [r[0] for r in db.execute(_MESSAGES_SQL, (tail,)).fetchall()] if tail else []
        blobs: dict[str, str] = {}
        for digest_ in wanted:
            found = db.execute("SELECT body FROM blobs WHERE hash = %s", (digest_,)).fetchone()
            if found is not None:
                blobs[digest_] = found[0]
        text = join_stored_envelope(skeleton, blobs, messages, digest, what)
        return CanonicalEnvelope(text, digest)

    def recorded_envelope(self, session_id: str, replay_key: str) -> CanonicalEnvelope | None:
        """The canonical envelope recorded under ``replay_key`` (joined from its parts)."""
        with self._read() as db:
            return self._load_envelope(db, session_id, replay_key)
