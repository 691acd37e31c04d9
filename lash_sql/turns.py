"""Turns and the process registry's rows, the same on both stores (turn writes are fenced by
the session lease, like the journal's).
"""

from __future__ import annotations

from lash_core import LashError
from lash_core.process.rows import decode_process_rows
from lash_core.store import (
    Lease,
    ProcessRows,
    TurnRef,
    TurnRow,
    TurnStatus,
    check_lease_covers,
    diverge_turn_transition,
    finish_turn_transition,
    open_turn_transition,
)
from lash_core.wire import canonical_json
from lash_sql.journal import JournalRows
from lash_sql.tables import DbT, corrupt

__all__ = ["TurnRows"]


class TurnRows(JournalRows[DbT]):
    """The ``turns`` table and the ``process_*`` tables."""

    def _turn(self, db: DbT, ref: TurnRef) -> TurnRow | None:
        row = db.execute(self._sql.turn, (ref.session_id, ref.turn_id)).fetchone()
        if row is None:
            return None
        return TurnRow(ref, TurnStatus(row[0]), row[1], row[2], row[3])

    def open_turn(self, lease: Lease, turn_id: str, start_json: str, now_ms: int) -> TurnRow:
        """Record a turn's start (opening it again with the same start is harmless)."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "open a turn")
            ref = TurnRef(lease.session_id, turn_id)
            existing = self._turn(db, ref)
            row = open_turn_transition(existing, ref, start_json)
            if existing is None:
                db.execute(
                    self._sql.open_turn,
                    (ref.session_id, turn_id, start_json, lease.fencing_token, now_ms, now_ms),
                )
        return row

    def finish_turn(self, lease: Lease, ref: TurnRef, result_json: str, now_ms: int) -> None:
        """Record a turn's result (again with the same result: harmless)."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "finish a turn")
            check_lease_covers(lease, ref.session_id)
            if finish_turn_transition(self._turn(db, ref), ref, result_json):
                db.execute(
                    self._sql.finish_turn, (result_json, now_ms, ref.session_id, ref.turn_id)
                )

    def mark_diverged(self, lease: Lease, ref: TurnRef, diff_json: str, now_ms: int) -> None:
        """Record that the turn's replay diverged (terminal: it is not resumed again)."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "mark a turn diverged")
            check_lease_covers(lease, ref.session_id)
            if diverge_turn_transition(self._turn(db, ref), ref):
                db.execute(self._sql.diverge_turn, (diff_json, now_ms, ref.session_id, ref.turn_id))

    def turn(self, ref: TurnRef) -> TurnRow | None:
        with self._read() as db:
            return self._turn(db, ref)

    def unfinished_turns(self) -> list[TurnRef]:
        """Every turn still running (what a crashed process left), by session and turn id."""
        with self._read() as db:
            rows = db.execute(self._sql.unfinished_turns).fetchall()
        return [TurnRef(s, t) for s, t in rows]

    # -- the process registry ----------------------------------------------------------------

    def _lock_processes(self, db: DbT) -> None:
        """Serialise the process registry's writers in this transaction (nothing to do where
        a write transaction already excludes every other writer, as SQLite's does)."""

    def save_process_rows(self, rows: ProcessRows) -> None:
        """Apply the rows of a process registry in one transaction: first the deletions
        (removed grants, dropped wakes, released leases, pruned processes), then the upserts
        (a record, grant, lease or fence replaces the stored one; an event, wake or
        acknowledgement is written once)."""
        sql = self._sql
        with self._write() as db:
            self._lock_processes(db)
            cur = db.cursor()
            cur.executemany(sql.delete_grant, list(rows.removed_grants))
            cur.executemany(sql.drop_wake, [(wake_id,) for wake_id in rows.dropped_wakes])
            cur.executemany(
                sql.delete_process_lease,
                [(process_id,) for process_id in rows.released_leases],
            )
            for prune in sql.prune_process:
                cur.executemany(prune, [(process_id,) for process_id in rows.pruned_processes])
            for record in rows.records:
                db.execute(sql.upsert_record, (record.id, canonical_json(record)))
            cur.executemany(
                sql.insert_event,
                [(e.process_id, e.sequence, canonical_json(e)) for e in rows.events],
            )
            cur.executemany(
                sql.upsert_grant,
                [
                    (scope.id, grant.process_id, canonical_json(scope), canonical_json(grant))
                    for scope, grant in rows.grants
                ],
            )
            cur.executemany(
                sql.acknowledge_wake, [(wake_id,) for wake_id in rows.acknowledged_wakes]
            )
            cur.executemany(
                sql.insert_wake, [(d.wake_id, canonical_json(d)) for d in rows.pending_wakes]
            )
            cur.executemany(
                sql.upsert_process_lease,
                [(lease.process_id, canonical_json(lease)) for lease in rows.leases],
            )
            cur.executemany(sql.upsert_fence, list(rows.fences))
            cur.executemany(sql.insert_acked_wake_event, list(rows.acknowledged_wake_events))

    def process_rows(self) -> ProcessRows:
        """Every stored process row, ready for :meth:`~lash_core.store.ProcessRows.restore`."""
        sql = self._sql
        with self._read() as db:
            try:
                return decode_process_rows(
                    records=db.execute(sql.records),
                    events=db.execute(sql.events),
                    grants=db.execute(sql.grants),
                    pending_wakes=db.execute(sql.pending_wakes),
                    acknowledged_wakes=db.execute(sql.acknowledged_wakes),
                    leases=db.execute(sql.process_leases),
                    acknowledged_wake_events=db.execute(sql.acknowledged_wake_events),
                    fences=db.execute(sql.fences),
                )
            except LashError as exc:
                raise corrupt("a stored process row", exc) from None
