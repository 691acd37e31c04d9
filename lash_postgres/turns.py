"""Turns, the claims that share unfinished turns among workers, and the process registry's
rows in PostgreSQL (turn writes are fenced by the session lease, like the journal's).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from lash_core import LashError
from lash_core.process.rows import decode_process_rows
from lash_core.store import (
    Lease,
    Owner,
    ProcessRows,
    TurnRef,
    TurnRow,
    TurnStatus,
    acquire_transition,
    check_lease_covers,
    check_now,
    diverge_turn_transition,
    finish_turn_transition,
    open_turn_transition,
)
from lash_core.wire import canonical_json
from lash_postgres.connection import corrupt
from lash_postgres.journal import JournalTables
from lash_sqlite.liveness import provably_dead

__all__ = ["CLAIM_LOOKS", "TurnTables"]

CLAIM_LOOKS: Final = 32
"""How many unfinished turns one claim looks at, one at a time (free sessions first), before
it gives up: the others are running."""

Db = psycopg.Connection[Any]


class TurnTables(JournalTables):
    """The ``turns`` table and the ``process_*`` tables."""

    def _turn(self, db: Db, ref: TurnRef) -> TurnRow | None:
        row = db.execute(
            "SELECT status, start_json, result_json, divergence_json FROM turns "
            "WHERE session_id = %s AND turn_id = %s",
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
                    "opened_ms, updated_ms) VALUES (%s, %s, 'running', %s, %s, %s, %s)",
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
                    "UPDATE turns SET status = 'finished', result_json = %s, updated_ms = %s "
                    "WHERE session_id = %s AND turn_id = %s",
                    (result_json, now_ms, ref.session_id, ref.turn_id),
                )

    def mark_diverged(self, lease: Lease, ref: TurnRef, diff_json: str, now_ms: int) -> None:
        """Record that the turn's replay diverged (terminal: it is not resumed again)."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "mark a turn diverged")
            check_lease_covers(lease, ref.session_id)
            if diverge_turn_transition(self._turn(db, ref), ref):
                db.execute(
                    "UPDATE turns SET status = 'diverged', divergence_json = %s, updated_ms = %s "
                    "WHERE session_id = %s AND turn_id = %s",
                    (diff_json, now_ms, ref.session_id, ref.turn_id),
                )

    def turn(self, ref: TurnRef) -> TurnRow | None:
        with self._read() as db:
            return self._turn(db, ref)

    def unfinished_turns(self) -> list[TurnRef]:
        """Every turn still running (what a crashed process left), by session and turn id."""
        with self._read() as db:
            rows = db.execute(
                "SELECT session_id, turn_id FROM turns WHERE status = 'running' "
                "ORDER BY session_id, turn_id"
            ).fetchall()
        return [TurnRef(s, t) for s, t in rows]

    def claim_turn(self, owner: Owner, ttl_ms: int, now_ms: int) -> tuple[TurnRef, Lease] | None:
        """Lease to ``owner`` the session of one unfinished turn that nobody runs (its session's
        lease is free, expired, or held by a provably dead owner), oldest turn first; that turn
        and the lease, or ``None`` when there is none. Then resume the turn with a host whose
        owner is ``owner`` (it acquires the same lease again).

        Claimers never wait on one another: each turn looked at is locked ``FOR UPDATE SKIP
        LOCKED`` (one at a time, so another claimer skips only the one this one is looking
        at) and its session with ``pg_try_advisory_xact_lock``, so N workers calling this in a
        loop share the unfinished turns with one owner per session. ``None`` may also mean
        that every claimable turn is being claimed by someone else at this moment: a worker
        waits a little and asks again."""
        check_now(now_ms)
        passed: list[str] = []  # sessions looked at and left (held by a live owner)
        with self._write() as db:
            for _ in range(CLAIM_LOOKS):
                row = db.execute(
                    "SELECT t.session_id, t.turn_id FROM turns t "
                    "LEFT JOIN sessions s ON s.session_id = t.session_id "
                    "WHERE t.status = 'running' AND NOT (t.session_id = ANY(%s)) "
                    "ORDER BY (s.owner_name IS NOT NULL AND s.expires_ms > %s), "
                    "t.opened_ms, t.session_id, t.turn_id "
                    "LIMIT 1 FOR UPDATE OF t SKIP LOCKED",
                    (passed, now_ms),
                ).fetchone()
                if row is None:
                    return None
                session_id, turn_id = row
                passed.append(session_id)
                if not self._try_lock_on(db, "session", session_id):
                    continue  # another claimer or a writer of the session holds it: skip
                state = self._lease_state(db, session_id)
                holder = None if state is None else state.holder
                live = state is not None and holder is not None and now_ms < state.expires_ms
                if live and (holder == owner or not provably_dead(holder)):  # type: ignore[arg-type]
                    continue
                lease = acquire_transition(
                    session_id, state, owner, ttl_ms, now_ms, holder_dead=live
                )
                self._write_lease(db, lease)
                return TurnRef(session_id, turn_id), lease
        return None

    # -- the process registry ----------------------------------------------------------------

    def save_process_rows(self, rows: ProcessRows) -> None:
        """Apply the rows of a process registry in one transaction: first the deletions
        (removed grants, dropped wakes, released leases, pruned processes), then the upserts
        (a record, grant, lease or fence replaces the stored one; an event, wake or
        acknowledgement is written once)."""
        with self._write() as db:
            self._lock_on(db, "processes", "")
            cur = db.cursor()
            cur.executemany(
                "DELETE FROM process_grants WHERE scope_id = %s AND process_id = %s",
                list(rows.removed_grants),
            )
            cur.executemany(
                "DELETE FROM process_wakes WHERE wake_id = %s AND acknowledged = false",
                [(wake_id,) for wake_id in rows.dropped_wakes],
            )
            cur.executemany(
                "DELETE FROM process_leases WHERE process_id = %s",
                [(process_id,) for process_id in rows.released_leases],
            )
            for table in ("process_records", "process_events", "process_acked_wake_events"):
                cur.executemany(
                    f"DELETE FROM {table} WHERE process_id = %s",
                    [(process_id,) for process_id in rows.pruned_processes],
                )
            for record in rows.records:
                db.execute(
                    "INSERT INTO process_records(process_id, record_json) VALUES (%s, %s) "
                    "ON CONFLICT(process_id) DO UPDATE SET record_json = excluded.record_json",
                    (record.id, canonical_json(record)),
                )
            cur.executemany(
                "INSERT INTO process_events(process_id, sequence, event_json) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(e.process_id, e.sequence, canonical_json(e)) for e in rows.events],
            )
            cur.executemany(
                "INSERT INTO process_grants(scope_id, process_id, scope_json, grant_json) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT(scope_id, process_id) DO UPDATE SET "
                "scope_json = excluded.scope_json, grant_json = excluded.grant_json",
                [
                    (scope.id, grant.process_id, canonical_json(scope), canonical_json(grant))
                    for scope, grant in rows.grants
                ],
            )
            cur.executemany(
                "INSERT INTO process_wakes(wake_id, delivery_json, acknowledged) "
                "VALUES (%s, NULL, true) ON CONFLICT(wake_id) DO UPDATE SET acknowledged = true",
                [(wake_id,) for wake_id in rows.acknowledged_wakes],
            )
            cur.executemany(
                "INSERT INTO process_wakes(wake_id, delivery_json, acknowledged) "
                "VALUES (%s, %s, false) ON CONFLICT DO NOTHING",
                [(d.wake_id, canonical_json(d)) for d in rows.pending_wakes],
            )
            cur.executemany(
                "INSERT INTO process_leases(process_id, lease_json) VALUES (%s, %s) "
                "ON CONFLICT(process_id) DO UPDATE SET lease_json = excluded.lease_json",
                [(lease.process_id, canonical_json(lease)) for lease in rows.leases],
            )
            cur.executemany(
                "INSERT INTO process_fences(process_id, fencing_token) VALUES (%s, %s) "
                "ON CONFLICT(process_id) DO UPDATE SET fencing_token = excluded.fencing_token",
                list(rows.fences),
            )
            cur.executemany(
                "INSERT INTO process_acked_wake_events(process_id, sequence) "
                "VALUES (%s, %s) ON CONFLICT DO NOTHING",
                list(rows.acknowledged_wake_events),
            )

    def process_rows(self) -> ProcessRows:
        """Every stored process row, ready for :meth:`~lash_core.store.ProcessRows.restore`."""
        with self._read() as db:
            try:
                return decode_process_rows(
                    records=db.execute("SELECT record_json FROM process_records ORDER BY seq"),
                    events=db.execute(
                        "SELECT event_json FROM process_events ORDER BY process_id, sequence"
                    ),
                    grants=db.execute(
                        "SELECT scope_json, grant_json FROM process_grants "
                        "ORDER BY scope_id, process_id"
                    ),
                    pending_wakes=db.execute(
                        "SELECT delivery_json FROM process_wakes WHERE acknowledged = false "
                        "ORDER BY seq"
                    ),
                    acknowledged_wakes=db.execute(
                        "SELECT wake_id FROM process_wakes WHERE acknowledged = true ORDER BY seq"
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
