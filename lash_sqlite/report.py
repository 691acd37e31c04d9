"""What a store file holds, read without writing: the report ``lash store inspect`` prints.

:func:`read_report` opens the file read-only (a missing file is never created, and a file that
is not a lash store is refused with ``store_not_found``) and gathers its sessions (lease holder,
fencing token, expiry, revocation), turns, pending waits (with their signed keys, ready to hand
to a resolver) and leases. :func:`check_store_file` is the same refusal for a command that
then opens the store to write.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from lash_core import codes
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.leases import ProcessLease
from lash_core.scope import ExecutionScope, WaitIdentity
from lash_core.store import Owner, TurnStatus
from lash_core.wire import from_json
from lash_sqlite.connection import SCHEMA_VERSION, corrupt, sqlite_errors

__all__ = [
    "PendingWait",
    "SessionReport",
    "StoreReport",
    "TurnReport",
    "check_store_file",
    "read_report",
]


@attrs.frozen
class SessionReport:
    """A session the store knows: its lease (``holder`` ``None`` when released or never
    held; ``live`` while held and unexpired at the report's time) and whether it is revoked."""

    session_id: str
    holder: Owner | None
    fencing_token: int
    expires_ms: int
    live: bool
    revoked: bool


@attrs.frozen
class TurnReport:
    session_id: str
    turn_id: str
    status: TurnStatus


@attrs.frozen
class PendingWait:
    """A promise with no terminal yet: its signed ``key`` (what a resolver presents), its
    absolute deadline, whether it is turn control, and how many waiters are parked on it."""

    key: AwaitEventKey
    deadline_ms: int | None
    turn_control: bool
    parked: int


@attrs.frozen
class StoreReport:
    path: str
    schema_version: int
    now_ms: int
    sessions: tuple[SessionReport, ...]
    turns: tuple[TurnReport, ...]
    pending_waits: tuple[PendingWait, ...]
    process_leases: tuple[ProcessLease, ...]


def _not_found(path: Path, why: str) -> LashError:
    return LashError(
        codes.STORE_NOT_FOUND, f"no lash store at {str(path)!r}: {why}; nothing was created"
    )


@contextlib.contextmanager
def _read_only(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the store at ``path`` (``store_not_found`` if there is none,
    ``store_schema_too_new`` for a newer schema, ``store_unavailable`` if it cannot be read)."""
    where = Path(path)
    if not where.is_file():
        raise _not_found(where, "the file does not exist" if not where.exists() else "not a file")
    with sqlite_errors(where):
        db = sqlite3.connect(f"{where.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        with sqlite_errors(where):
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                raise _not_found(where, "the file holds no lash store (schema version 0)")
            if version > SCHEMA_VERSION:
                raise LashError(
                    codes.STORE_SCHEMA_TOO_NEW,
                    f"{where} has schema version {version}; this lash knows up to "
                    f"{SCHEMA_VERSION}. Upgrade lash to open it (the file was not changed).",
                )
            yield db
    finally:
        db.close()


def check_store_file(path: str | os.PathLike[str]) -> None:
    """Refuse (``store_not_found``, ``store_schema_too_new``, ``store_unavailable``) a path
    that holds no readable lash store, before a command opens it to write (opening a
    :class:`~lash_sqlite.SqliteStore` would create a missing store)."""
    with _read_only(path):
        pass


def _sessions(db: sqlite3.Connection, now_ms: int) -> tuple[SessionReport, ...]:
    leases = {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT session_id, owner_name, owner_incarnation, fencing_token, expires_ms "
            "FROM sessions"
        )
    }
    revoked = {row[0] for row in db.execute("SELECT session_id FROM revoked_sessions")}
    known = set(leases) | revoked
    known.update(row[0] for row in db.execute("SELECT DISTINCT session_id FROM turns"))
    known.update(
        row[0]
        for row in db.execute(
            "SELECT DISTINCT session_id FROM await_events WHERE session_id IS NOT NULL"
        )
    )
    out: list[SessionReport] = []
    for session_id in sorted(known):
        name, incarnation, fence, expires = leases.get(session_id, (None, None, 0, 0))
        holder = None if name is None else Owner(name, incarnation or "")
        live = holder is not None and now_ms < expires
        out.append(SessionReport(session_id, holder, fence, expires, live, session_id in revoked))
    return tuple(out)


def _pending_waits(db: sqlite3.Connection) -> tuple[PendingWait, ...]:
    secret = db.execute("SELECT secret FROM secrets ORDER BY id DESC LIMIT 1").fetchone()
    if secret is None:
        raise LashError(codes.STORE_CORRUPT, "the store holds no signing secret")
    signer = KeySigner(bytes(secret[0]))
    parked = dict(db.execute("SELECT key_id, count(*) FROM waits GROUP BY key_id").fetchall())
    out: list[PendingWait] = []
    for key_id, scope_json, wait_json, turn_control, deadline in db.execute(
        "SELECT key_id, scope_json, wait_json, turn_control, deadline_ms FROM await_events "
        "WHERE terminal_json IS NULL ORDER BY session_id, created_ms, key_id"
    ).fetchall():
        try:
            scope: ExecutionScope = from_json(scope_json, ExecutionScope)
            wait: WaitIdentity = from_json(wait_json, WaitIdentity)
            key = signer.mint(scope, wait)
        except LashError as exc:
            raise corrupt(f"await event {key_id}", exc) from None
        if key.key_id != key_id:
            raise LashError(
                codes.STORE_CORRUPT, f"await event {key_id} does not match its scope and wait"
            )
        out.append(PendingWait(key, deadline, bool(turn_control), parked.get(key_id, 0)))
    return tuple(out)


def read_report(path: str | os.PathLike[str], now_ms: int | None = None) -> StoreReport:
    """Everything ``lash store inspect`` shows, read in one snapshot without writing; a lease
    is ``live`` if it has not expired at ``now_ms`` (default: the wall clock)."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with _read_only(path) as db, sqlite_errors(Path(path)):
        db.execute("BEGIN")  # one snapshot for every query below
        try:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
            sessions = _sessions(db, now)
            turns = tuple(
                TurnReport(session_id, turn_id, TurnStatus(status))
                for session_id, turn_id, status in db.execute(
                    "SELECT session_id, turn_id, status FROM turns ORDER BY session_id, turn_id"
                )
            )
            waits = _pending_waits(db)
            try:
                leases = tuple(
                    from_json(text, ProcessLease)
                    for (text,) in db.execute(
                        "SELECT lease_json FROM process_leases ORDER BY process_id"
                    )
                )
            except LashError as exc:
                raise corrupt("a stored process lease", exc) from None
        except ValueError as exc:  # a status no TurnStatus names
            raise corrupt("a stored turn", exc) from None
        finally:
            db.execute("ROLLBACK")
    return StoreReport(str(path), version, now, sessions, turns, waits, leases)
