"""Turns and the process registry's rows in the SQLite file (turn writes are fenced by the
session lease, like the journal's).
"""

from __future__ import annotations

import sqlite3

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
from lash_sqlite.connection import corrupt
from lash_sqlite.journal import JournalTables

__all__ = ["TurnTables"]


class TurnTables(JournalTables):
    """The ``turns`` table and the ``process_*`` tables."""

    def _turn(self, db: sqlite3.Connection, ref: TurnRef) -> TurnRow | None:
        row = db.execute(
            "SELECT status, start_json, result_json, divergence_json FROM turns "
            "WHERE session_id = ? AND turn_id = ?",
            (ref.session_id, ref.turn_id),
        ).fetchone()
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
                    "INSERT INTO turns(session_id, turn_id, status, start_json, fencing_token, "
                    "opened_ms, updated_ms) VALUES (?, ?, 'running', ?, ?, ?, ?)",
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
                    "UPDATE turns SET status = 'finished', result_json = ?, updated_ms = ? "
                    "WHERE session_id = ? AND turn_id = ?",
                    (result_json, now_ms, ref.session_id, ref.turn_id),
                )

    def mark_diverged(self, lease: Lease, ref: TurnRef, diff_json: str, now_ms: int) -> None:
        """Record that the turn's replay diverged (terminal: it is not resumed again)."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "mark a turn diverged")
            check_lease_covers(lease, ref.session_id)
            if diverge_turn_transition(self._turn(db, ref), ref):
                db.execute(
                    "UPDATE turns SET status = 'diverged', divergence_json = ?, updated_ms = ? "
                    "WHERE session_id = ? AND turn_id = ?",
                    (diff_json, now_ms, ref.session_id, ref.turn_id),
                )

    def turn(self, ref: TurnRef) -> TurnRow | None:
        with self._read():
            return self._turn(self._db, ref)

    def unfinished_turns(self) -> list[TurnRef]:
        """Every turn still running (what a crashed process left), by session and turn id."""
        with self._read():
            rows = self._db.execute(
                "SELECT session_id, turn_id FROM turns WHERE status = 'running' "
                "ORDER BY session_id, turn_id"
            ).fetchall()
        return [TurnRef(s, t) for s, t in rows]

    # -- the process registry ----------------------------------------------------------------

    def save_process_rows(self, rows: ProcessRows) -> None:
        """Apply the rows of a process registry in one transaction: first the deletions
        (removed grants, dropped wakes, released leases, pruned processes), then the upserts
        (a record, grant, lease or fence replaces the stored one; an event, wake or
        acknowledgement is written once)."""
        with self._write() as db:
            db.executemany(
                "DELETE FROM process_grants WHERE scope_id = ? AND process_id = ?",
                list(rows.removed_grants),
            )
            db.executemany(
                "DELETE FROM process_wakes WHERE wake_id = ? AND acknowledged = 0",
                [(wake_id,) for wake_id in rows.dropped_wakes],
            )
            db.executemany(
                "DELETE FROM process_leases WHERE process_id = ?",
                [(process_id,) for process_id in rows.released_leases],
            )
            for table in ("process_records", "process_events", "process_acked_wake_events"):
                db.executemany(
                    f"DELETE FROM {table} WHERE process_id = ?",
                    [(process_id,) for process_id in rows.pruned_processes],
                )
            for record in rows.records:
                db.execute(
                    "INSERT INTO process_records(process_id, record_json) VALUES (?, ?) "
                    "ON CONFLICT(process_id) DO UPDATE SET record_json = excluded.record_json",
                    (record.id, canonical_json(record)),
                )
            db.executemany(
                "INSERT OR IGNORE INTO process_events(process_id, sequence, event_json) "
                "VALUES (?, ?, ?)",
                [(e.process_id, e.sequence, canonical_json(e)) for e in rows.events],
            )
            db.executemany(
                "INSERT INTO process_grants(scope_id, process_id, scope_json, grant_json) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(scope_id, process_id) DO UPDATE SET "
                "scope_json = excluded.scope_json, grant_json = excluded.grant_json",
                [
                    (scope.id, grant.process_id, canonical_json(scope), canonical_json(grant))
                    for scope, grant in rows.grants
                ],
            )
            db.executemany(
                "INSERT INTO process_wakes(wake_id, delivery_json, acknowledged) "
                "VALUES (?, NULL, 1) ON CONFLICT(wake_id) DO UPDATE SET acknowledged = 1",
                [(wake_id,) for wake_id in rows.acknowledged_wakes],
            )
            db.executemany(
                "INSERT OR IGNORE INTO process_wakes(wake_id, delivery_json, acknowledged) "
                "VALUES (?, ?, 0)",
                [(d.wake_id, canonical_json(d)) for d in rows.pending_wakes],
            )
            db.executemany(
                "INSERT INTO process_leases(process_id, lease_json) VALUES (?, ?) "
                "ON CONFLICT(process_id) DO UPDATE SET lease_json = excluded.lease_json",
                [(lease.process_id, canonical_json(lease)) for lease in rows.leases],
            )
            db.executemany(
                "INSERT INTO process_fences(process_id, fencing_token) VALUES (?, ?) "
                "ON CONFLICT(process_id) DO UPDATE SET fencing_token = excluded.fencing_token",
                list(rows.fences),
            )
            db.executemany(
                "INSERT OR IGNORE INTO process_acked_wake_events(process_id, sequence) "
                "VALUES (?, ?)",
                list(rows.acknowledged_wake_events),
            )

    def process_rows(self) -> ProcessRows:
        """Every stored process row, ready for :meth:`~lash_core.store.ProcessRows.restore`."""
        with self._read():
            db = self._db
            try:
                return decode_process_rows(
                    records=db.execute("SELECT record_json FROM process_records ORDER BY rowid"),
                    events=db.execute(
                        "SELECT event_json FROM process_events ORDER BY process_id, sequence"
                    ),
                    grants=db.execute(
                        "SELECT scope_json, grant_json FROM process_grants "
                        "ORDER BY scope_id, process_id"
                    ),
                    pending_wakes=db.execute(
                        "SELECT delivery_json FROM process_wakes WHERE acknowledged = 0 "
                        "ORDER BY rowid"
                    ),
                    acknowledged_wakes=db.execute(
                        "SELECT wake_id FROM process_wakes WHERE acknowledged = 1 ORDER BY rowid"
                    ),
                    leases=db.execute("SELECT lease_json FROM process_leases ORDER BY process_id"),
                    acknowledged_wake_events=db.execute(
                        "SELECT process_id, sequence FROM process_acked_wake_events "
                        "ORDER BY process_id, sequence"
                    ),
                    fences=db.execute(
                        "SELECT process_id, fencing_token FROM process_fences ORDER BY process_id"
                    ),
                )
            except LashError as exc:
                raise corrupt("a stored process row", exc) from None
