"""The SQLite file underneath :class:`~lash_sqlite.SqliteStore`: its schema and migration,
the connection and its transactions, and the key-signing secrets kept in the file.

Every read-then-write runs in ``BEGIN IMMEDIATE`` (:meth:`SqliteConnection._write`: the write
lock is taken before the read, so the pure rule of :mod:`lash_core.store` sees the row the write
replaces). The file is in WAL mode with ``synchronous=FULL`` (``NORMAL`` on request: a power cut
may then lose the last commits, never corrupt the file).

A write may ask to commit at ``NORMAL`` whatever the store's level (``_write(relaxed=True)``):
the journal's ``begin`` does, because the marker it writes (an effect running) only has to
survive the process dying, which a WAL commit does without an fsync; the next commit at the
store's level (the effect's ``complete``) syncs the log up to and including it. So a durable
effect costs one fsync at ``FULL``, not two. Session lease writes do too
(:data:`~lash_sqlite.journal.LEASE_WRITES_RELAXED`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from lash_core import AwaitEventKey, KeySigner, LashError, codes
from lash_core.store import SplitMemos, key_is_authentic
from lash_core.store_memory import Ring
from lash_sql.dialect import SQLITE, Statements
from lash_sql.tables import SECRET_BYTES as SECRET_BYTES
from lash_sql.tables import SqlTables
from lash_sql.tables import corrupt as corrupt
from lash_sql.tables import wall_ms as wall_ms
from lash_sqlite.doorbell import ring as ring_doorbell

__all__ = [
    "SCHEMA_VERSION",
    "SECRET_BYTES",
    "SqliteConnection",
    "corrupt",
    "sqlite_errors",
    "wall_ms",
]


SCHEMA_VERSION: Final = 2
"""The schema this version writes (``PRAGMA user_version``)."""
VERIFIED_KEYS: Final = 4096
"""How many verified key objects a store remembers (then it starts again)."""

SCHEMA: Final = (  # version 1; MIGRATIONS take it on from there
    """CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE secrets(
        id INTEGER PRIMARY KEY, secret BLOB NOT NULL, created_ms INTEGER NOT NULL)""",
    """CREATE TABLE sessions(
        session_id TEXT PRIMARY KEY, owner_name TEXT, owner_incarnation TEXT,
        fencing_token INTEGER NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE revoked_sessions(
        session_id TEXT PRIMARY KEY, revoked_ms INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE await_events(
        key_id TEXT PRIMARY KEY, session_id TEXT, scope_json TEXT NOT NULL,
        wait_json TEXT NOT NULL, turn_control INTEGER NOT NULL, terminal_json TEXT,
        deadline_ms INTEGER, created_ms INTEGER NOT NULL, resolved_ms INTEGER) WITHOUT ROWID""",
    """CREATE INDEX await_events_by_session ON await_events(session_id)""",
    """CREATE TABLE waits(
        key_id TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY(key_id, address))
        WITHOUT ROWID""",
    """CREATE TABLE effects(
        session_id TEXT NOT NULL, replay_key TEXT NOT NULL, envelope_hash TEXT NOT NULL,
        envelope TEXT NOT NULL, split INTEGER NOT NULL, status TEXT NOT NULL,
        attempt INTEGER NOT NULL, fencing_token INTEGER NOT NULL, outcome_json TEXT,
        due_at_ms INTEGER, started_ms INTEGER NOT NULL, completed_ms INTEGER,
        PRIMARY KEY(session_id, replay_key)) WITHOUT ROWID""",
    """CREATE TABLE blobs(hash TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE chain(
        node TEXT PRIMARY KEY, prev TEXT NOT NULL, blob TEXT NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE turns(
        session_id TEXT NOT NULL, turn_id TEXT NOT NULL, status TEXT NOT NULL,
        start_json TEXT NOT NULL, result_json TEXT, divergence_json TEXT,
        fencing_token INTEGER NOT NULL, opened_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL, PRIMARY KEY(session_id, turn_id)) WITHOUT ROWID""",
    """CREATE INDEX turns_running ON turns(session_id, turn_id) WHERE status = 'running'""",
    """CREATE TABLE process_records(process_id TEXT PRIMARY KEY, record_json TEXT NOT NULL)""",
    """CREATE TABLE process_events(
        process_id TEXT NOT NULL, sequence INTEGER NOT NULL, event_json TEXT NOT NULL,
        PRIMARY KEY(process_id, sequence)) WITHOUT ROWID""",
    """CREATE TABLE process_grants(
        scope_id TEXT NOT NULL, process_id TEXT NOT NULL, scope_json TEXT NOT NULL,
        grant_json TEXT NOT NULL, PRIMARY KEY(scope_id, process_id)) WITHOUT ROWID""",
    """CREATE TABLE process_wakes(
        wake_id TEXT PRIMARY KEY, delivery_json TEXT, acknowledged INTEGER NOT NULL)""",
    """CREATE TABLE process_leases(process_id TEXT PRIMARY KEY, lease_json TEXT NOT NULL)
        WITHOUT ROWID""",
    """CREATE TABLE process_acked_wake_events(
        process_id TEXT NOT NULL, sequence INTEGER NOT NULL, PRIMARY KEY(process_id, sequence))
        WITHOUT ROWID""",
)

MIGRATIONS: Final = {
    2: (
        # The last fencing token issued per process, kept after its lease ends (version 1
        # kept it only in the current lease, so a release lost it across a reopen).
        """CREATE TABLE process_fences(
            process_id TEXT PRIMARY KEY, fencing_token INTEGER NOT NULL) WITHOUT ROWID""",
        """INSERT INTO process_fences(process_id, fencing_token)
            SELECT process_id, json_extract(lease_json, '$.fencing_token') FROM process_leases""",
    ),
}
"""Per schema version, the statements that migrate a file from the version before it."""


@contextlib.contextmanager
def sqlite_errors(path: Path) -> Iterator[None]:
    """``sqlite3`` errors as ``store_unavailable`` (the caller's transaction rolled back)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _unavailable(path, exc) from exc


def _unavailable(path: Path, exc: sqlite3.Error) -> LashError:
    return LashError(
        codes.STORE_UNAVAILABLE,
        f"the store {str(path)!r} could not be read or written: {type(exc).__name__}: {exc}",
    )


class _Transaction:
    """:meth:`SqliteConnection._write`'s context manager (a class, not a generator: it is
    entered for every write)."""

    __slots__ = ("_relaxed", "_store")

    def __init__(self, store: SqliteConnection, relaxed: bool) -> None:
        self._store = store
        self._relaxed = relaxed

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        try:
            store._set_relaxed(self._relaxed)
            store._db.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            store._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise _unavailable(store.path, exc) from exc
            raise
        return store._db

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        store = self._store
        db = store._db
        try:
            if exc is None:
                try:
                    db.execute("COMMIT")
                except BaseException as failure:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    if isinstance(failure, sqlite3.Error):
                        raise _unavailable(store.path, failure) from failure
                    raise
                return
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error as failure:
            raise _unavailable(store.path, failure) from failure
        finally:
            store._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise _unavailable(store.path, exc) from exc


class SqliteConnection(SqlTables[sqlite3.Connection]):
    """One connection to a store file, migrated on open; the base the table mixins of
    :class:`~lash_sqlite.SqliteStore` share (see there for the arguments)."""

    _sql = Statements(SQLITE)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 15_000,
        ring: Ring | None = ring_doorbell,
        keep_previous_secrets: int = 4,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous is 'FULL' or 'NORMAL'")
        self.path = Path(path)
        self._synchronous = synchronous
        self._relaxed = False  # whether the connection's level is NORMAL for one write
        self._split_memos = SplitMemos()  # per session: its last envelope split
        self._verified: dict[str, AwaitEventKey] = {}  # key id -> the key object verified
        self._ring = ring
        self._keep = keep_previous_secrets
        self._lock = threading.RLock()
        with sqlite_errors(self.path):
            self._db = sqlite3.connect(
                str(self.path),
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_ms / 1000,
            )
        try:
            with sqlite_errors(self.path):
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute(f"PRAGMA synchronous = {synchronous}")
                self._migrate()
                self._signer, self._secret_count = self._load_signer()
        except BaseException:
            self._db.close()
            raise

    # -- plumbing ----------------------------------------------------------------------------

    def _set_relaxed(self, relaxed: bool) -> None:
        """Commit at ``NORMAL`` (``relaxed``) or at the store's level from now on (SQLite reads
        ``PRAGMA synchronous`` at each COMMIT; it may change between transactions)."""
        if relaxed != self._relaxed and self._synchronous != "NORMAL":
            level = "NORMAL" if relaxed else self._synchronous
            self._db.execute(f"PRAGMA synchronous = {level}")
        self._relaxed = relaxed

    def _write(self, *, relaxed: bool = False) -> _Transaction:
        """One ``BEGIN IMMEDIATE`` transaction: committed if the block returns, rolled back
        (nothing written) if it raises. ``relaxed``: commit at ``synchronous=NORMAL`` (survives
        the process dying, not a power cut until the next commit at the store's level)."""
        return _Transaction(self, relaxed)

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read (autocommit: one consistent snapshot per statement)."""
        with self._lock, sqlite_errors(self.path):
            yield self._db

    def _schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LashError(
                codes.STORE_SCHEMA_TOO_NEW,
                f"{self.path} has schema version {version}; this lash knows up to "
                f"{SCHEMA_VERSION}. Upgrade lash to open it (the file was not changed).",
            )
        return version

    def _migrate(self) -> None:
        if self._schema_version() == SCHEMA_VERSION:
            return
        with self._write() as db:
            version = self._schema_version()  # another process may have migrated meanwhile
            if version == 0:
                for statement in SCHEMA:
                    db.execute(statement)
                db.execute(self._sql.insert_secret, (secrets.token_bytes(SECRET_BYTES), wall_ms()))
                version = 1
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _load_signer(self) -> tuple[KeySigner, int]:
        rows = self._db.execute(
            "SELECT secret FROM secrets ORDER BY id DESC LIMIT ?", (self._keep + 1,)
        ).fetchall()
        count: int = self._db.execute("SELECT max(id) FROM secrets").fetchone()[0]
        return KeySigner(bytes(rows[0][0]), [bytes(r[0]) for r in rows[1:]]), count

    # -- keys --------------------------------------------------------------------------------

    def _reload_signer(self) -> None:
        self._signer, self._secret_count = self._load_signer()
        self._verified.clear()

    def _remember(self, key: AwaitEventKey) -> None:
        """Remember ``key`` (this very object) as authentic under the current secrets."""
        verified = self._verified
        if len(verified) >= VERIFIED_KEYS:
            verified.clear()
        verified[key.key_id] = key

    def _authentic(self, key: AwaitEventKey) -> bool:
        """Whether ``key`` verifies (HMAC). The key objects verified (or minted) here are
        remembered by identity, so a waiter's park, peeks and deadline reads of its own key
        verify it once (a frozen key cannot change; the memo is dropped when the secrets
        change)."""
        if (
            type(key) is AwaitEventKey
            and type(key.key_id) is str
            and self._verified.get(key.key_id) is key
        ):
            return True
        if key_is_authentic(self._signer, key):
            self._remember(key)
            return True
        # Another process may have rotated the secret since this store loaded it.
        count = self._db.execute("SELECT max(id) FROM secrets").fetchone()[0]
        if count == self._secret_count:
            return False
        self._signer, self._secret_count = self._load_signer()
        self._verified.clear()
        if not key_is_authentic(self._signer, key):
            return False
        self._remember(key)
        return True
