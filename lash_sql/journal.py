"""Session leases and the effect journal: the rows both stores read and write the same way
(each store keeps its own transactions, locks and fence; see :class:`JournalRows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

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
    SplitMemos,
    Started,
    abandon_allowed,
    acquire_transition,
    begin_transition,
    join_stored_envelope,
    release_transition,
    renew_transition,
    skeleton_blob_hashes,
    split_envelope,
    stored_skeleton,
)
from lash_sql.tables import DbT, SqlTables

__all__ = ["JournalRows", "effect_state", "fenced_row", "lease_state"]

_REQUEST: Final = '"request":{'
"""In the compact JSON of every envelope :func:`split_envelope` cuts anything out of."""


def lease_state(row: Any) -> LeaseState:
    """A ``sessions`` row's lease (``owner_name, owner_incarnation, fencing_token,
    expires_ms``)."""
    holder = None if row[0] is None else Owner(row[0], row[1])
    return LeaseState(holder, row[2], row[3])


def fenced_row(row: Any) -> tuple[LeaseState | None, EffectState | None]:
    """The lease and the effect of a fence's row (the ``sessions`` columns of
    :func:`lease_state`, then the ``effects`` columns of :func:`effect_state`; ``None`` for a
    part the row has not)."""
    state = None
    if row[2] is not None:
        state = LeaseState(None if row[0] is None else Owner(row[0], row[1]), row[2], row[3])
    if row[4] is None:
        return state, None
    return state, EffectState(EffectStatus(row[4]), row[5], row[6], row[7], row[8], row[9])


def effect_state(row: Any) -> EffectState:
    """The effect of an ``effects`` row (``status, envelope_hash, attempt, fencing_token,
    outcome_json, due_at_ms``)."""
    return EffectState(EffectStatus(row[0]), row[1], row[2], row[3], row[4], row[5])


class JournalRows(SqlTables[DbT]):
    """The ``sessions`` (leases), ``effects``, ``blobs`` and ``chain`` rows."""

    _split_memos: SplitMemos
    """Per session: its last envelope split."""

    def _lease_state(self, db: DbT, session_id: str) -> LeaseState | None:
        """The session's lease row."""
        row = db.execute(self._sql.lease_state, (session_id,)).fetchone()
        return None if row is None else lease_state(row)

    def _write_lease(self, db: DbT, lease: Lease) -> None:
        db.execute(
            self._sql.write_lease,
            (
                lease.session_id,
                lease.owner.name,
                lease.owner.incarnation,
                lease.fencing_token,
                lease.expires_ms,
            ),
        )

    def _lease_write(self) -> AbstractContextManager[DbT]:
        """The transaction of a session lease write (``acquire``, ``renew``, ``release``)."""
        raise NotImplementedError

    def _session_lease(self, db: DbT, session_id: str) -> LeaseState | None:
        """The session's lease row, read for a lease write (taking what lock it needs)."""
        raise NotImplementedError

    def _holder_dead(self, holder: Owner) -> bool:
        """Whether a lease holder is provably dead (its lease is taken over at once)."""
        raise NotImplementedError

    def acquire(self, session_id: str, owner: Owner, ttl_ms: int, now_ms: int) -> Lease:
        """Lease the session to ``owner`` until ``now_ms + ttl_ms`` (``lease_held`` while
        another owner's lease is live; a successor gets the next fencing token). A live lease
        whose holder is provably dead (an owner of :func:`~lash_sqlite.new_owner` on this
        machine whose process is gone) is taken over at once."""
        with self._lease_write() as db:
            state = self._session_lease(db, session_id) if isinstance(session_id, str) else None
            dead = (
                state is not None
                and state.holder is not None
                and state.holder != owner
                and isinstance(now_ms, int)
                and now_ms < state.expires_ms
                and self._holder_dead(state.holder)
            )
            lease = acquire_transition(session_id, state, owner, ttl_ms, now_ms, holder_dead=dead)
            self._write_lease(db, lease)
        return lease

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease:
        """Extend the current, unexpired lease (``lease_lost`` otherwise)."""
        with self._lease_write() as db:
            state = self._session_lease(db, getattr(lease, "session_id", ""))
            renewed = renew_transition(state, lease, ttl_ms, now_ms)
            self._write_lease(db, renewed)
        return renewed

    def release(self, lease: Lease) -> bool:
        """Give the lease up (a stale lease changes nothing); the next holder gets the next
        fencing token."""
        with self._lease_write() as db:
            state = self._session_lease(db, getattr(lease, "session_id", ""))
            if not release_transition(state, lease):
                return False
            db.execute(self._sql.release_lease, (lease.session_id, lease.fencing_token))
        return True

    def _effect(self, db: DbT, session_id: str, replay_key: str) -> EffectState | None:
        row = db.execute(self._sql.effect, (session_id, replay_key)).fetchone()
        return None if row is None else effect_state(row)

    def _store_envelope(
        self, db: DbT, session_id: str, envelope: CanonicalEnvelope
    ) -> tuple[str, bool]:
        """The envelope column and split flag: big, repeated parts of a model request go to
        ``blobs`` once each, its messages into the ``chain``, and the row keeps a skeleton.
        Costs what is new: the session's previous split tells which messages were seen."""
        if _REQUEST not in envelope.json:
            return envelope.json, False  # no model request: nothing to cut out
        parts = split_envelope(envelope.json, self._split_memos.of(session_id))
        if not parts.blobs and not parts.messages:
            return envelope.json, False
        sql = self._sql
        for digest, body in parts.blobs:
            db.execute(sql.insert_blob, (digest, body))
        chain = parts.chain
        # Only the messages after the longest prefix already stored are new.
        missing = len(chain)
        while missing > 0:
            node = chain[missing - 1][0]
            if db.execute(sql.chain_has, (node,)).fetchone():
                break
            missing -= 1
        for index in range(missing, len(chain)):
            node, previous, digest = chain[index]
            db.execute(sql.insert_blob, (digest, parts.messages[index]))
            db.execute(sql.insert_chain, (node, previous, digest))
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
        return self._begin(lease, envelope, now_ms, due_at_ms)

    def _begin(
        self, lease: Lease, envelope: CanonicalEnvelope, now_ms: int, due_at_ms: int | None
    ) -> BeginResult:
        """:meth:`begin` of a canonical envelope: the store's transaction and fence, then
        :meth:`_begin_row`."""
        raise NotImplementedError

    def _begin_row(
        self,
        db: DbT,
        lease: Lease,
        envelope: CanonicalEnvelope,
        replay_key: str,
        row: EffectState | None,
        now_ms: int,
        due_at_ms: int | None,
    ) -> BeginResult:
        """A fenced ``begin`` after the fence read the effect's ``row``: the rule's verdict,
        and the row it writes when the effect starts."""
        verdict = begin_transition(row, envelope.hash, lease.fencing_token, due_at_ms)
        if isinstance(verdict, Started):
            if row is None:
                stored, split = self._store_envelope(db, lease.session_id, envelope)
                db.execute(
                    self._sql.insert_effect,
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
                    self._sql.restart_effect,
                    (verdict.attempt, lease.fencing_token, now_ms, lease.session_id, replay_key),
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
        if not isinstance(outcome_json, str):
            raise LocalProtocolError(codes.STORE_CORRUPT, "an outcome is a JSON string")
        self._complete_many(lease, [(replay_key, outcome_json)], now_ms)

    def complete_many(self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int) -> None:
        """:meth:`complete` for several effects (a fan-out's children) in one transaction,
        so one COMMIT: all recorded, or none."""
        for _, outcome_json in outcomes:
            if not isinstance(outcome_json, str):
                raise LocalProtocolError(codes.STORE_CORRUPT, "an outcome is a JSON string")
        self._complete_many(lease, outcomes, now_ms)

    def _complete_many(
        self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int
    ) -> None:
        """:meth:`complete_many` once its outcomes are checked: the store's transaction."""
        raise NotImplementedError

    def _fenced_row(
        self, db: DbT, lease: Lease, replay_key: str, now_ms: int, what: str
    ) -> EffectState | None:
        """The fence, then the effect row of ``replay_key`` in the lease's session."""
        raise NotImplementedError

    def _delete_effect(self, db: DbT, session_id: str, replay_key: str) -> bool:
        """Delete an effect row; whether there was one."""
        raise NotImplementedError

    def abandon(self, lease: Lease, replay_key: str, now_ms: int) -> bool:
        """Mark a running effect of this lease abandoned (it failed, nothing is recorded; the
        next begin runs it again). Whether anything changed."""
        with self._write() as db:
            row = self._fenced_row(db, lease, replay_key, now_ms, "abandon an effect")
            if not abandon_allowed(row, lease.fencing_token):
                return False
            db.execute(self._sql.abandon_effect, (lease.session_id, replay_key))
        return True

    def discard(self, lease: Lease, replay_key: str, now_ms: int) -> bool:
        """Delete the journal row of ``replay_key`` whatever its status (a resumed turn that
        continues past a divergence replaces what it had recorded from there); fenced by
        ``lease``. Whether a row was deleted."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "discard an effect")
            return self._delete_effect(db, lease.session_id, replay_key)

    def _load_envelope(self, db: DbT, session_id: str, replay_key: str) -> CanonicalEnvelope | None:
        sql = self._sql
        row = db.execute(sql.stored_envelope, (session_id, replay_key)).fetchone()
        if row is None:
            return None
        digest, stored, split = row
        if not split:
            return CanonicalEnvelope(stored, digest)
        what = f"the stored envelope of {replay_key!r}"
        tail, skeleton, wanted = skeleton_blob_hashes(stored, what)
        messages = [r[0] for r in db.execute(sql.messages, (tail,)).fetchall()] if tail else []
        blobs: dict[str, str] = {}
        for digest_ in wanted:
            found = db.execute(sql.blob_body, (digest_,)).fetchone()
            if found is not None:
                blobs[digest_] = found[0]
        text = join_stored_envelope(skeleton, blobs, messages, digest, what)
        return CanonicalEnvelope(text, digest)

    def recorded_envelope(self, session_id: str, replay_key: str) -> CanonicalEnvelope | None:
        """The canonical envelope recorded under ``replay_key`` (joined from its parts)."""
        with self._read() as db:
            return self._load_envelope(db, session_id, replay_key)
