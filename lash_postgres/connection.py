"""The PostgreSQL schema underneath :class:`~lash_postgres.PostgresStore`: its tables and
migration, the connection and its transactions, and the key-signing secrets kept in it.

A journal ``begin`` commits with ``synchronous_commit = off`` (as the SQLite store's commits
at ``NORMAL``): the running marker only has to survive the process dying, and the effect's
``complete``, a synced commit, flushes the WAL up to and including it. So a durable effect
waits for one WAL flush, not two.

Every read-then-write runs in one transaction that first takes a transaction-scoped advisory
lock on what it decides about (a session, an await-event key), so the pure rule of
:mod:`lash_core.store` sees the row the write replaces: at ``READ COMMITTED`` each statement
after the lock reads what the previous holder committed. The session lock serialises the
lease and every journal and turn write of that session (the fence is checked in the write's
own transaction); a key's lock serialises its promise; a session's revocation lock is taken
shared by every promise write of the session and exclusive by a cancel sweep or revocation.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
from collections.abc import Iterator
from typing import Any, Final

import psycopg

from lash_core import AwaitEventKey, KeySigner, LashError, codes
from lash_core.store import SplitMemos, authentic_key_texts, key_is_authentic
from lash_core.store_memory import Ring
from lash_postgres.doorbell import Delivered
from lash_sql.dialect import POSTGRES, Statements
from lash_sql.tables import SECRET_BYTES as SECRET_BYTES
from lash_sql.tables import SqlTables
from lash_sql.tables import corrupt as corrupt
from lash_sql.tables import wall_ms as wall_ms

__all__ = [
    "SCHEMA_VERSION",
    "SECRET_BYTES",
    "SQL",
    "PostgresConnection",
    "corrupt",
    "wall_ms",
]

SCHEMA_VERSION: Final = 3
"""The schema this version writes (``meta.schema_version``): 1, the tables; 2, the function
``lash_resolve`` a resolve runs in one round trip; 3, a cheaper ``lash_resolve`` (the same
locks, reads, writes and notifications; no query for a gate when the key has none, an
``UPDATE`` of a pending row, one counter row per resolve)."""
AUTHENTIC_KEEP: Final = 4096
"""How many key objects that verified a store remembers (:meth:`PostgresConnection._is_authentic`;
the oldest go first, and are verified again when used)."""
CHANGE_SHARDS: Final = 16
"""Rows of the ``changes`` counter (a settled promise bumps one; their sum is the store's
``data_version``), so concurrent resolves rarely wait on one another's row."""

SCHEMA: Final = (
    """CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE secrets(
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, secret BYTEA NOT NULL,
        created_ms BIGINT NOT NULL)""",
    """CREATE TABLE changes(shard INTEGER PRIMARY KEY, n BIGINT NOT NULL)""",
    """CREATE TABLE sessions(
        session_id TEXT PRIMARY KEY, owner_name TEXT, owner_incarnation TEXT,
        fencing_token BIGINT NOT NULL, expires_ms BIGINT NOT NULL)""",
    """CREATE TABLE revoked_sessions(session_id TEXT PRIMARY KEY, revoked_ms BIGINT NOT NULL)""",
    """CREATE TABLE await_events(
        key_id TEXT PRIMARY KEY, session_id TEXT, scope_json TEXT NOT NULL,
        wait_json TEXT NOT NULL, turn_control BOOLEAN NOT NULL, terminal_json TEXT,
        deadline_ms BIGINT, created_ms BIGINT NOT NULL, resolved_ms BIGINT)""",
    """CREATE INDEX await_events_by_session ON await_events(session_id)""",
    """CREATE TABLE waits(
        key_id TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY(key_id, address))""",
    """CREATE TABLE effects(
        session_id TEXT NOT NULL, replay_key TEXT NOT NULL, envelope_hash TEXT NOT NULL,
        envelope TEXT NOT NULL, split BOOLEAN NOT NULL, status TEXT NOT NULL,
        attempt INTEGER NOT NULL, fencing_token BIGINT NOT NULL, outcome_json TEXT,
        due_at_ms BIGINT, started_ms BIGINT NOT NULL, completed_ms BIGINT,
        PRIMARY KEY(session_id, replay_key))""",
    """CREATE TABLE blobs(hash TEXT PRIMARY KEY, body TEXT NOT NULL)""",
    """CREATE TABLE chain(node TEXT PRIMARY KEY, prev TEXT NOT NULL, blob TEXT NOT NULL)""",
    """CREATE TABLE turns(
        session_id TEXT NOT NULL, turn_id TEXT NOT NULL, status TEXT NOT NULL,
        start_json TEXT NOT NULL, result_json TEXT, divergence_json TEXT,
        fencing_token BIGINT NOT NULL, opened_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL, PRIMARY KEY(session_id, turn_id))""",
    """CREATE INDEX turns_running ON turns(opened_ms, session_id, turn_id)
        WHERE status = 'running'""",
    """CREATE TABLE process_records(
        process_id TEXT PRIMARY KEY, record_json TEXT NOT NULL,
        seq BIGINT GENERATED ALWAYS AS IDENTITY)""",
    """CREATE TABLE process_events(
        process_id TEXT NOT NULL, sequence BIGINT NOT NULL, event_json TEXT NOT NULL,
        PRIMARY KEY(process_id, sequence))""",
    """CREATE TABLE process_grants(
        scope_id TEXT NOT NULL, process_id TEXT NOT NULL, scope_json TEXT NOT NULL,
        grant_json TEXT NOT NULL, PRIMARY KEY(scope_id, process_id))""",
    """CREATE TABLE process_wakes(
        wake_id TEXT PRIMARY KEY, delivery_json TEXT, acknowledged BOOLEAN NOT NULL,
        seq BIGINT GENERATED ALWAYS AS IDENTITY)""",
    """CREATE TABLE process_leases(process_id TEXT PRIMARY KEY, lease_json TEXT NOT NULL)""",
    """CREATE TABLE process_fences(process_id TEXT PRIMARY KEY, fencing_token BIGINT NOT NULL)""",
    """CREATE TABLE process_acked_wake_events(
        process_id TEXT NOT NULL, sequence BIGINT NOT NULL, PRIMARY KEY(process_id, sequence))""",
)

RESOLVE_FUNCTION: Final = """CREATE FUNCTION lash_resolve(
    p_key_id TEXT, p_session_id TEXT, p_scope_json TEXT, p_wait_json TEXT,
    p_turn_control BOOLEAN, p_terminal_json TEXT, p_now_ms BIGINT, p_shard INTEGER,
    p_revocation_lock TEXT, p_key_lock TEXT, p_gate_id TEXT, p_gate_lock TEXT,
    OUT revoked BOOLEAN, OUT existed BOOLEAN, OUT stored_json TEXT, OUT written BOOLEAN,
    OUT rung TEXT[], OUT gate_rung TEXT[])
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    -- The locks of AwaitEventTables._lock_key, in its order: the session's revocation lock
    -- shared, the key's, then the turn's cancel gate's.
    PERFORM CASE WHEN p_revocation_lock IS NOT NULL
            THEN pg_advisory_xact_lock_shared(hashtextextended(p_revocation_lock, 0)) END,
        pg_advisory_xact_lock(hashtextextended(p_key_lock, 0)),
        CASE WHEN p_gate_lock IS NOT NULL
            THEN pg_advisory_xact_lock(hashtextextended(p_gate_lock, 0)) END;
    -- Each statement below reads what the locks' previous holders committed.
    SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = p_session_id),
            e.key_id IS NOT NULL, e.terminal_json
        INTO revoked, existed, stored_json
        FROM (SELECT 1) AS one LEFT JOIN await_events e ON e.key_id = p_key_id;
    written := false;
    rung := '{}';
    gate_rung := '{}';
    -- lash_core.promise.resolve_transition: a revoked session refuses, the first writer wins.
    IF revoked OR stored_json IS NOT NULL THEN
        RETURN;
    END IF;
    -- Write the terminal (a pending promise's row updated, else a new row), count the
    -- change, forget the waiters and notify each, in one statement: the terminal rides
    -- along when it fits in a notification (the waiter skips a read).
    IF existed THEN
        WITH w AS (
                UPDATE await_events SET terminal_json = p_terminal_json, resolved_ms = p_now_ms
                WHERE key_id = p_key_id),
            c AS (UPDATE changes SET n = n + 1 WHERE shard = p_shard),
            d AS (DELETE FROM waits WHERE key_id = p_key_id RETURNING address)
            SELECT coalesce(array_agg(address ORDER BY address), '{}') INTO rung
            FROM (SELECT address, pg_notify(address, CASE
                WHEN octet_length(p_key_id) + octet_length(p_terminal_json) < 7900
                THEN p_key_id || chr(10) || p_terminal_json ELSE p_key_id END) FROM d) AS n;
    ELSE
        WITH w AS (
                INSERT INTO await_events(key_id, session_id, scope_json, wait_json,
                    turn_control, terminal_json, deadline_ms, created_ms, resolved_ms)
                VALUES (p_key_id, p_session_id, p_scope_json, p_wait_json, p_turn_control,
                    p_terminal_json, NULL, p_now_ms, p_now_ms)
                ON CONFLICT (key_id) DO UPDATE
                SET terminal_json = excluded.terminal_json, resolved_ms = excluded.resolved_ms),
            c AS (UPDATE changes SET n = n + 1 WHERE shard = p_shard),
            d AS (DELETE FROM waits WHERE key_id = p_key_id RETURNING address)
            SELECT coalesce(array_agg(address ORDER BY address), '{}') INTO rung
            FROM (SELECT address, pg_notify(address, CASE
                WHEN octet_length(p_key_id) + octet_length(p_terminal_json) < 7900
                THEN p_key_id || chr(10) || p_terminal_json ELSE p_key_id END) FROM d) AS n;
    END IF;
    written := true;
    -- A turn's terminal (p_gate_id: its cancel gate) while the gate is pending: the gate's
    -- waiters too, each notified with the gate's key id, the change counted (on the key's
    -- row of the counter: data_version is the sum). The test of p_gate_id alone is a plain
    -- expression, so a resolve without a gate runs no query for it.
    IF p_gate_id IS NOT NULL THEN
        WITH g AS (
                SELECT 1 FROM await_events WHERE key_id = p_gate_id AND terminal_json IS NULL),
            c AS (
                UPDATE changes SET n = n + 1 WHERE shard = p_shard AND EXISTS (SELECT 1 FROM g)),
            d AS (
                DELETE FROM waits WHERE key_id = p_gate_id AND EXISTS (SELECT 1 FROM g)
                RETURNING address)
            SELECT coalesce(array_agg(address ORDER BY address), '{}') INTO gate_rung
            FROM (SELECT address, pg_notify(address, p_gate_id) FROM d) AS n;
    END IF;
END
$$"""
"""A resolve in one statement (so one round trip, its COMMIT included, on an autocommit
connection): :meth:`~lash_postgres.await_events.AwaitEventTables.resolve` checks the key's
signature first and decides the outcome from the state this returns. A function of PL/pgSQL
runs each statement on a fresh snapshot, so the reads after the locks see what their previous
holder committed, as the separate statements of a transaction do. (Version 2's function
tested its gate with a query on every resolve and wrote a pending row by an upsert.)"""

RESOLVE_FUNCTION_V2: Final = """CREATE OR REPLACE FUNCTION lash_resolve(
    p_key_id TEXT, p_session_id TEXT, p_scope_json TEXT, p_wait_json TEXT,
    p_turn_control BOOLEAN, p_terminal_json TEXT, p_now_ms BIGINT, p_shard INTEGER,
    p_revocation_lock TEXT, p_key_lock TEXT, p_gate_id TEXT, p_gate_lock TEXT,
    p_gate_shard INTEGER,
    OUT revoked BOOLEAN, OUT existed BOOLEAN, OUT stored_json TEXT, OUT written BOOLEAN,
    OUT rung TEXT[], OUT gate_rung TEXT[])
LANGUAGE sql SET search_path FROM CURRENT AS $$
    SELECT * FROM lash_resolve(p_key_id, p_session_id, p_scope_json, p_wait_json,
        p_turn_control, p_terminal_json, p_now_ms, p_shard, p_revocation_lock, p_key_lock,
        p_gate_id, p_gate_lock)
$$"""
"""Version 2's signature of ``lash_resolve`` (one more argument, the gate's counter row),
kept as a call of version 3's: a process of the previous lash still running while its
schema is migrated resolves as before."""

MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    2: (),  # version 2's lash_resolve: version 3 replaces it
    3: (RESOLVE_FUNCTION, RESOLVE_FUNCTION_V2),
}
"""Per schema version after the first, the statements that migrate from the version before."""

_SCHEMA_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


SQL: Final = Statements(POSTGRES)
"""The statements the Postgres store shares with the SQLite store, in its dialect."""


class PostgresConnection(SqlTables[psycopg.Connection[Any]]):
    """One connection to a store's schema, migrated on open; the base the table mixins of
    :class:`~lash_postgres.PostgresStore` share (see there for the arguments)."""

    _sql = SQL

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "lash",
        ring: Ring | None = None,
        keep_previous_secrets: int = 4,
        connect_timeout_s: int = 10,
        synchronous_commit: bool = True,
    ) -> None:
        if not isinstance(schema, str) or not _SCHEMA_NAME.match(schema):
            raise LashError(
                codes.STORE_CONFIG_INVALID,
                f"a schema name is lower-case letters, digits and _ (got {schema!r})",
            )
        self.dsn = dsn
        self.schema = schema
        self._synchronous_commit = synchronous_commit
        self._last_version = 0
        self._connect_timeout = connect_timeout_s
        self._split_memos = SplitMemos()
        self._ring = ring
        self._keep = keep_previous_secrets
        self._lock = threading.RLock()
        self._delivered = Delivered()
        """Terminals delivered with the notifications of this store's doorbells."""
        self._lock_prefix = f"{schema}/"
        self._authentic_keys: dict[str, tuple[AwaitEventKey, KeySigner]] = {}
        self._cursor: psycopg.Cursor[Any] | None = None
        self._db = self._connect()
        try:
            with self._errors():
                self._migrate()
                self._signer, self._secret_count = self._load_signer()
        except BaseException:
            self._db.close()
            raise

    # -- plumbing ----------------------------------------------------------------------------

    def _where(self) -> str:
        return f"the Postgres store (schema {self.schema!r})"

    def _connect(self) -> psycopg.Connection[Any]:
        with self._errors():
            return psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                options=f"-c search_path={self.schema}"
                + ("" if self._synchronous_commit else " -c synchronous_commit=off"),
            )

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """psycopg errors as ``store_unavailable`` (the caller's transaction rolled back)."""
        try:
            yield
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: psycopg.Error) -> LashError:
        return LashError(
            codes.STORE_UNAVAILABLE,
            f"{self._where()} could not be read or written: {type(exc).__name__}: "
            f"{str(exc).strip()}",
        )

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, opened again if the server dropped it (a restart, a network cut)."""
        if self._db.closed or self._db.broken:
            self._db = self._connect()
        return self._db

    @contextlib.contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction: committed if the block returns, rolled back (nothing written) if it
        raises. The block takes its advisory locks first (:meth:`_lock_on`).

        In pipeline mode: ``BEGIN`` goes out with the statements up to the first one whose
        rows the block reads, ``COMMIT`` with those after the last one, so a transaction
        that reads once and then writes takes two round trips. (A result is there once read:
        ``fetchone``/``fetchall``, never ``rowcount``.)"""
        with self._lock, self._errors():
            db = self._live()
            with db.pipeline(), db.transaction():
                yield db

    @contextlib.contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """A read (autocommit: one consistent snapshot per statement)."""
        with self._lock, self._errors():
            yield self._live()

    def _statement(self, db: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
        """A cursor on ``db`` kept for the statements run most (a resolve): a new one per
        call costs more Python than the rest of psycopg's execute."""
        cursor = self._cursor
        if cursor is None or cursor.connection is not db:
            cursor = self._cursor = db.cursor()
        return cursor

    def _lock_name(self, kind: str, name: str) -> str:
        return f"{self._lock_prefix}{kind}/{name}"

    def _lock_on(
        self,
        db: psycopg.Connection[Any],
        kind: str,
        name: str,
        *more: tuple[str, str],
        relaxed: bool = False,
    ) -> None:
        """Take the transaction's exclusive advisory lock on ``(kind, name)`` (and on each of
        ``more``, in order), in one statement. ``relaxed``: the transaction's COMMIT will not
        wait for the WAL to reach the disk (``synchronous_commit = off`` for it alone: it
        survives this process dying, not the server crashing before the next synced commit)."""
        names = [self._lock_name(kind, name), *(self._lock_name(k, n) for k, n in more)]
        calls = ["pg_advisory_xact_lock(hashtextextended(%s, 0))"] * len(names)
        if relaxed and self._synchronous_commit:
            calls.insert(0, "set_config('synchronous_commit', 'off', true)")
        db.execute(f"SELECT {', '.join(calls)}", names)

    def _try_lock_on(self, db: psycopg.Connection[Any], kind: str, name: str) -> bool:
        """Take the exclusive advisory lock on ``(kind, name)`` if it is free; whether taken."""
        row = db.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
            (self._lock_name(kind, name),),
        ).fetchone()
        return bool(row and row[0])

    def _schema_version(self, db: psycopg.Connection[Any]) -> int:
        found = db.execute("SELECT to_regclass(%s)", (f"{self.schema}.meta",)).fetchone()
        if found is None or found[0] is None:
            return 0
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise LashError(
                codes.STORE_SCHEMA_TOO_NEW,
                f"{self._where()} has schema version {version}; this lash knows up to "
                f"{SCHEMA_VERSION}. Upgrade lash to open it (nothing was changed).",
            )
        return version

    def _migrate(self) -> None:
        with self._lock:
            db = self._db
            if self._schema_version(db) == SCHEMA_VERSION:
                return
            with db.transaction():
                # One migrator at a time (another process may be opening the same schema).
                db.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"lash-migrate/{self.schema}",),
                )
                version = self._schema_version(db)
                if version == SCHEMA_VERSION:
                    return
                if version == 0:
                    db.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                    for statement in SCHEMA:
                        db.execute(statement)
                    db.execute(
                        "INSERT INTO changes(shard, n) SELECT g, 0 FROM generate_series(0, %s) g",
                        (CHANGE_SHARDS - 1,),
                    )
                    db.execute(
                        self._sql.insert_secret, (secrets.token_bytes(SECRET_BYTES), wall_ms())
                    )
                    db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '1')")
                    version = 1
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[step]:
                        db.execute(statement)
                db.execute(
                    "UPDATE meta SET value = %s WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )

    def _load_signer(self) -> tuple[KeySigner, int]:
        db = self._live()
        rows = db.execute(
            "SELECT secret FROM secrets ORDER BY id DESC LIMIT %s", (self._keep + 1,)
        ).fetchall()
        count = db.execute("SELECT max(id) FROM secrets").fetchone()
        assert count is not None
        return KeySigner(bytes(rows[0][0]), [bytes(r[0]) for r in rows[1:]]), int(count[0])

    # -- keys --------------------------------------------------------------------------------

    def _reload_signer(self) -> None:
        with self._read():
            self._signer, self._secret_count = self._load_signer()

    def _authentic(self, db: psycopg.Connection[Any], key: AwaitEventKey) -> bool:
        if self._is_authentic(key):
            return True
        return self._secrets_rotated(db) and self._is_authentic(key)

    def _is_authentic(self, key: AwaitEventKey) -> bool:
        """``key_is_authentic`` under this store's signer, remembered for the key objects that
        passed (by identity, with the signer that passed them): a waiter peeks with the key
        it parked, and a notification's terminal is then returned without a second HMAC."""
        key_id = getattr(key, "key_id", None)
        if type(key_id) is not str:
            return False
        known = self._authentic_keys.get(key_id)
        if known is not None and known[0] is key and known[1] is self._signer:
            return True
        if not key_is_authentic(self._signer, key):
            return False
        self._authentic_keys[key_id] = (key, self._signer)
        if len(self._authentic_keys) > AUTHENTIC_KEEP:
            del self._authentic_keys[next(iter(self._authentic_keys))]
        return True

    def _authentic_texts(
        self, db: psycopg.Connection[Any], key: AwaitEventKey
    ) -> tuple[str, str] | None:
        """:meth:`_authentic`, and if so the key's scope and wait as canonical JSON (written
        once, for the signature and the row)."""
        texts = authentic_key_texts(self._signer, key)
        if texts is None and self._secrets_rotated(db):
            texts = authentic_key_texts(self._signer, key)
        return texts

    def _secrets_rotated(self, db: psycopg.Connection[Any]) -> bool:
        """Whether another process rotated the secret since this store loaded it (then
        loaded again)."""
        row = db.execute("SELECT max(id) FROM secrets").fetchone()
        if row is None or row[0] == self._secret_count:
            return False
        self._signer, self._secret_count = self._load_signer()
        return True

    # -- change detection --------------------------------------------------------------------

    def _change_shard(self, name: str) -> int:
        """The row of the ``changes`` counter a settled promise named ``name`` bumps."""
        return int.from_bytes(name.encode()[-2:] or b"\0", "big") % CHANGE_SHARDS

    def data_version(self) -> int:
        """How many promises were settled or dropped so far (grows with each commit that
        settles one; a waiter's cheap check that something may have ended while a
        notification was lost). While the server cannot be reached: the last version read
        (a host's listener keeps waiting; its first check after the server is back sees
        what changed meanwhile)."""
        try:
            with self._read() as db:
                row = db.execute("SELECT sum(n) FROM changes").fetchone()
        except LashError as exc:
            if exc.code != codes.STORE_UNAVAILABLE:
                raise
            return self._last_version
        self._last_version = 0 if row is None or row[0] is None else int(row[0])
        return self._last_version
