"""Turns, the claims that share unfinished turns among workers, and the process registry's
rows in PostgreSQL (turn writes are fenced by the session lease, like the journal's). The turn
and process rows are :class:`lash_sql.turns.TurnRows`; a process rows save takes the
registry's lock first.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from lash_core.store import (
    Lease,
    Owner,
    TurnRef,
    acquire_transition,
    check_now,
)
from lash_postgres.journal import JournalTables
from lash_sql.turns import TurnRows
from lash_sqlite.liveness import provably_dead

__all__ = ["CLAIM_LOOKS", "TurnTables"]

CLAIM_LOOKS: Final = 32
"""How many unfinished turns one claim looks at, one at a time (free sessions first), before
it gives up: the others are running."""

Db = psycopg.Connection[Any]


class TurnTables(TurnRows[Db], JournalTables):
    """The ``turns`` table and the ``process_*`` tables."""

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

    def _lock_processes(self, db: Db) -> None:
        self._lock_on(db, "processes", "")
