"""The SQLite durable store: one file per deployment, stdlib ``sqlite3`` only.

Every read-then-write runs in ``BEGIN IMMEDIATE`` (the write lock is taken before the read, so
the pure rule of :mod:`lash_core.store` sees the row the write replaces); every journal and turn
write checks the session lease in that same transaction, so a paused owner that lost its lease
writes nothing. The file is in WAL mode with ``synchronous=FULL`` (``NORMAL`` on request: a
power cut may then lose the last commits, never corrupt the file).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from lash_core import codes
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.events import ProcessEvent, ProcessWakeDelivery
from lash_core.process.grants import ProcessHandleGrant
from lash_core.process.leases import ProcessLease
from lash_core.process.records import ProcessRecord, SessionScope
from lash_core.promise import (
    StoreTransition,
    cancel_sweep_transition,
    resolve_transition,
    revoke_transition,
    session_allows_access,
    transition_outcome,
)
from lash_core.resolution import UNKNOWN_OR_REVOKED, Resolution, ResolveOutcome
from lash_core.scope import ExecutionScope, WaitIdentity
from lash_core.store import (
    DIVERGE,
    BeginResult,
    Diverged,
    EffectState,
    EffectStatus,
    Lease,
    LeaseState,
    Owner,
    ProcessRows,
    Started,
    TurnRef,
    TurnRow,
    TurnStatus,
    abandon_allowed,
    abandoned_gate_id,
    acquire_transition,
    begin_transition,
    check_fence,
    check_lease_covers,
    check_resolution,
    check_session_id,
    complete_transition,
    diverge_turn_transition,
    ended_wait_proposal,
    envelope_replay_key,
    envelope_session_id,
    finish_turn_transition,
    join_envelope,
    key_is_authentic,
    message_chain,
    open_turn_transition,
    promise_state,
    release_transition,
    renew_transition,
    resolution_from_json,
    resolution_to_json,
    revoked_error,
    revoked_mint_error,
    split_envelope,
    text_hash,
)
from lash_core.store_memory import Ring
from lash_core.wire import canonical_json, from_json
from lash_sqlite.doorbell import ring as ring_doorbell
from lash_sqlite.liveness import provably_dead

__all__ = ["SCHEMA_VERSION", "SECRET_BYTES", "SqliteStore"]

SCHEMA_VERSION: Final = 1
"""The schema this version writes (``PRAGMA user_version``)."""
SECRET_BYTES: Final = 32

_SCHEMA: Final = (
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

_MESSAGES_SQL: Final = """
WITH RECURSIVE walk(node, prev, blob, depth) AS (
    SELECT node, prev, blob, 0 FROM chain WHERE node = ?
    UNION ALL
    SELECT c.node, c.prev, c.blob, w.depth + 1 FROM chain c JOIN walk w ON c.node = w.prev
)
SELECT b.body FROM walk JOIN blobs b ON b.hash = walk.blob ORDER BY walk.depth DESC
"""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@contextlib.contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """``sqlite3`` errors as ``store_unavailable`` (the caller's transaction rolled back)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise LashError(
            codes.STORE_UNAVAILABLE,
            f"the store {str(path)!r} could not be read or written: {type(exc).__name__}: {exc}",
        ) from exc


def _corrupt(what: str, exc: BaseException) -> LashError:
    return LashError(codes.STORE_CORRUPT, f"{what} does not decode: {exc}")


class SqliteStore:
    """A :class:`~lash_core.store.DurableStore` in one SQLite file at ``path`` (created and
    migrated on open; a file of a newer schema is refused with ``store_schema_too_new``).

    * ``synchronous``: ``"FULL"`` (default: a commit survives a power cut) or ``"NORMAL"``;
    * ``busy_timeout_ms``: how long a write waits for another process's write lock;
    * ``ring``: how resolvers wake parked waiters (default: a datagram to the doorbell);
    * ``keep_previous_secrets``: how many older secrets still verify keys after a rotation.

    One store object is one connection; it may be shared by threads (calls are serialised).
    """

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
        self._ring = ring
        self._keep = keep_previous_secrets
        self._lock = threading.RLock()
        with _sqlite_errors(self.path):
            self._db = sqlite3.connect(
                str(self.path),
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_ms / 1000,
            )
        try:
            with _sqlite_errors(self.path):
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute(f"PRAGMA synchronous = {synchronous}")
                self._migrate()
                self._signer, self._secret_count = self._load_signer()
        except BaseException:
            self._db.close()
            raise

    # -- plumbing ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed if the block returns, rolled back
        (nothing written) if it raises."""
        with self._lock, _sqlite_errors(self.path):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read (autocommit: one consistent snapshot per statement)."""
        with self._lock, _sqlite_errors(self.path):
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
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO secrets(secret, created_ms) VALUES (?, ?)",
                    (secrets.token_bytes(SECRET_BYTES), _wall_ms()),
                )
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _load_signer(self) -> tuple[KeySigner, int]:
        rows = self._db.execute(
            "SELECT secret FROM secrets ORDER BY id DESC LIMIT ?", (self._keep + 1,)
        ).fetchall()
        count: int = self._db.execute("SELECT max(id) FROM secrets").fetchone()[0]
        return KeySigner(bytes(rows[0][0]), [bytes(r[0]) for r in rows[1:]]), count

    def _ring_all(self, rings: list[tuple[str, str]]) -> None:
        if self._ring is not None:
            for address, key_id in rings:
                self._ring(address, key_id)

    # -- keys --------------------------------------------------------------------------------

    def signer(self) -> KeySigner:
        """The signer of the store's secret (and the previous ones, for verification)."""
        return self._signer

    def rotate_secret(self) -> None:
        """Sign with a fresh 32-byte secret from now on; keys signed with the
        ``keep_previous_secrets`` latest older secrets still verify."""
        with self._write() as db:
            db.execute(
                "INSERT INTO secrets(secret, created_ms) VALUES (?, ?)",
                (secrets.token_bytes(SECRET_BYTES), _wall_ms()),
            )
        self._signer, self._secret_count = self._load_signer()

    def _authentic(self, key: AwaitEventKey) -> bool:
        if key_is_authentic(self._signer, key):
            return True
        # Another process may have rotated the secret since this store loaded it.
        count = self._db.execute("SELECT max(id) FROM secrets").fetchone()[0]
        if count == self._secret_count:
            return False
        self._signer, self._secret_count = self._load_signer()
        return key_is_authentic(self._signer, key)

    def _revoked(self, db: sqlite3.Connection, session_id: str | None) -> bool:
        if session_id is None:
            return False
        row = db.execute(
            "SELECT 1 FROM revoked_sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return row is not None

    def is_revoked(self, session_id: str) -> bool:
        with self._read():
            return self._revoked(self._db, session_id)

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The signed key for ``(scope, wait)`` (the same as the in-memory registry's for the
        same secret); writes nothing. Refused for a revoked session."""
        key = self._signer.mint(scope, wait)
        if scope.session_id is not None and self.is_revoked(scope.session_id):
            raise revoked_mint_error(scope.session_id)
        return key

    # -- await events ------------------------------------------------------------------------

    def _promise(
        self, db: sqlite3.Connection, key: AwaitEventKey
    ) -> tuple[bool, Resolution | None, int | None]:
        """(row exists, terminal, deadline) of an authentic key of a live session; raises
        ``await_event_unknown_or_revoked`` (nothing read further, nothing written)."""
        if not self._authentic(key):
            raise revoked_error()
        if not session_allows_access(self._revoked(db, key.scope.session_id)):
            raise revoked_error()
        row = db.execute(
            "SELECT terminal_json, deadline_ms FROM await_events WHERE key_id = ?", (key.key_id,)
        ).fetchone()
        if row is None:
            return False, None, None
        terminal = None if row[0] is None else resolution_from_json(row[0])
        return True, terminal, row[1]

    def _settle(
        self,
        db: sqlite3.Connection,
        key: AwaitEventKey,
        exists: bool,
        terminal: Resolution,
        rings: list[tuple[str, str]],
    ) -> None:
        now = _wall_ms()
        text = resolution_to_json(terminal)
        if exists:
            db.execute(
                "UPDATE await_events SET terminal_json = ?, resolved_ms = ? WHERE key_id = ?",
                (text, now, key.key_id),
            )
        else:
            self._insert_promise(db, key, text, None, now)
        for (address,) in db.execute(
            "SELECT address FROM waits WHERE key_id = ? ORDER BY address", (key.key_id,)
        ).fetchall():
            rings.append((address, key.key_id))
        db.execute("DELETE FROM waits WHERE key_id = ?", (key.key_id,))

    def _insert_promise(
        self,
        db: sqlite3.Connection,
        key: AwaitEventKey,
        terminal_json: str | None,
        deadline_ms: int | None,
        now: int,
    ) -> None:
        db.execute(
            "INSERT INTO await_events(key_id, session_id, scope_json, wait_json, turn_control, "
            "terminal_json, deadline_ms, created_ms, resolved_ms) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                key.key_id,
                key.scope.session_id,
                canonical_json(key.scope),
                canonical_json(key.wait),
                int(key.wait.is_turn_control),
                terminal_json,
                deadline_ms,
                now,
                None if terminal_json is None else now,
            ),
        )

    def _ring_abandoned_gate(
        self, db: sqlite3.Connection, gate_id: str, rings: list[tuple[str, str]]
    ) -> None:
        """A turn's terminal was published: wake the waiters of its still-pending cancel gate
        (they would otherwise wait forever; their gate is left unwritten)."""
        pending = db.execute(
            "SELECT 1 FROM await_events WHERE key_id = ? AND terminal_json IS NULL", (gate_id,)
        ).fetchone()
        if pending is None:
            return
        for (address,) in db.execute(
            "SELECT address FROM waits WHERE key_id = ? ORDER BY address", (gate_id,)
        ).fetchall():
            rings.append((address, gate_id))
        db.execute("DELETE FROM waits WHERE key_id = ?", (gate_id,))

    def park(
        self, key: AwaitEventKey, doorbell: str | None = None, deadline_ms: int | None = None
    ) -> Resolution | None:
        """Ensure the promise is pending (with its absolute ``deadline_ms``, kept from the
        first park) and register ``doorbell``, in one transaction; the terminal if it has one
        already (then nothing is registered)."""
        with self._write() as db:
            exists, terminal, stored_deadline = self._promise(db, key)
            if not exists:
                self._insert_promise(db, key, None, deadline_ms, _wall_ms())
            elif terminal is None and stored_deadline is None and deadline_ms is not None:
                db.execute(
                    "UPDATE await_events SET deadline_ms = ? WHERE key_id = ?",
                    (deadline_ms, key.key_id),
                )
            if terminal is not None:
                return terminal
            if doorbell is not None:
                db.execute(
                    "INSERT OR IGNORE INTO waits(key_id, address) VALUES (?, ?)",
                    (key.key_id, doorbell),
                )
            return None

    def unpark(self, key: AwaitEventKey, doorbell: str) -> None:
        """Forget ``doorbell``'s registration on ``key`` (its wait ended)."""
        with self._write() as db:
            db.execute(
                "DELETE FROM waits WHERE key_id = ? AND address = ?",
                (getattr(key, "key_id", None), doorbell),
            )

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Propose ``resolution`` as the key's terminal; the first one wins (a resolution
        before any waiter is stored, buffered). Verifies the key (HMAC) and the session's
        revocation, commits, then rings the parked waiters' doorbells."""
        resolution = check_resolution(resolution)
        rings: list[tuple[str, str]] = []
        with self._write() as db:
            try:
                exists, terminal, _ = self._promise(db, key)
            except LashError as exc:
                if exc.code != codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED:
                    raise
                return UNKNOWN_OR_REVOKED
            transition = resolve_transition(promise_state(False, exists, terminal), resolution)
            if isinstance(transition, StoreTransition):
                self._settle(db, key, exists, transition.resolution, rings)
                gate_id = abandoned_gate_id(key)
                if gate_id is not None:
                    self._ring_abandoned_gate(db, gate_id, rings)
        self._ring_all(rings)
        outcome = transition_outcome(transition)
        assert outcome is not None
        return outcome

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None``; never writes (``await_event_unknown_or_revoked``
        for a forged or tampered key or a revoked session)."""
        with self._read():
            return self._promise(self._db, key)[1]

    def deadline_ms(self, key: AwaitEventKey) -> int | None:
        """The absolute deadline stored with the pending promise (a restarted waiter waits
        only for what is left of it)."""
        with self._read():
            return self._promise(self._db, key)[2]

    def _end(self, key: AwaitEventKey, cancelled: bool, now_ms: int | None) -> Resolution | None:
        rings: list[tuple[str, str]] = []
        with self._write() as db:
            exists, terminal, deadline = self._promise(db, key)
            if terminal is not None:
                return terminal
            if now_ms is not None and (not exists or deadline is None or now_ms < deadline):
                return None
            proposed = ended_wait_proposal(key, cancelled)
            self._settle(db, key, exists, proposed, rings)
        self._ring_all(rings)
        return proposed

    def expire(self, key: AwaitEventKey, now_ms: int) -> Resolution | None:
        """Once ``now_ms`` reaches the stored deadline, write ``timeout`` (first writer wins)
        and return the terminal; ``None`` while not due. A turn-control wait writes nothing
        (``turn_control_wait_timeout``)."""
        return self._end(key, False, now_ms)

    def cancel_wait(self, key: AwaitEventKey) -> Resolution:
        """Write ``cancelled`` (first writer wins) and return the terminal. A turn-control
        wait writes nothing (``turn_control_wait_cancelled``)."""
        result = self._end(key, True, None)
        assert result is not None
        return result

    def cancel_session(self, session_id: str) -> int:
        """Write ``cancelled`` to every pending, non-turn-control promise of the session;
        returns how many. Turn control and keys nobody waited on are untouched."""
        check_session_id(session_id)
        rings: list[tuple[str, str]] = []
        count = 0
        with self._write() as db:
            if self._revoked(db, session_id):
                return 0
            rows = db.execute(
                "SELECT key_id, scope_json, wait_json FROM await_events "
                "WHERE session_id = ? AND terminal_json IS NULL",
                (session_id,),
            ).fetchall()
            for key_id, scope_json, wait_json in rows:
                try:
                    scope: ExecutionScope = from_json(scope_json, ExecutionScope)
                    wait: WaitIdentity = from_json(wait_json, WaitIdentity)
                except LashError as exc:
                    raise _corrupt(f"await event {key_id}", exc) from None
                transition = cancel_sweep_transition(wait, promise_state(False, True, None))
                if isinstance(transition, StoreTransition):
                    key = AwaitEventKey(scope, wait, key_id, "")
                    self._settle(db, key, True, transition.resolution, rings)
                    count += 1
        self._ring_all(rings)
        return count

    def revoke_session(self, session_id: str) -> bool:
        """Tombstone the session (it survives reopen): its promises are dropped, its parked
        waiters rung, and its keys refused from now on (mint, resolve, peek, park)."""
        check_session_id(session_id)
        rings: list[tuple[str, str]] = []
        with self._write() as db:
            if not revoke_transition(self._revoked(db, session_id)):
                return False
            db.execute(
                "INSERT INTO revoked_sessions(session_id, revoked_ms) VALUES (?, ?)",
                (session_id, _wall_ms()),
            )
            rows = db.execute(
                "SELECT w.key_id, w.address FROM waits w JOIN await_events e "
                "ON e.key_id = w.key_id WHERE e.session_id = ?",
                (session_id,),
            ).fetchall()
            rings.extend((address, key_id) for key_id, address in rows)
            db.execute(
                "DELETE FROM waits WHERE key_id IN "
                "(SELECT key_id FROM await_events WHERE session_id = ?)",
                (session_id,),
            )
            db.execute("DELETE FROM await_events WHERE session_id = ?", (session_id,))
        self._ring_all(rings)
        return True

    # -- leases ------------------------------------------------------------------------------

    def _lease_state(self, db: sqlite3.Connection, session_id: str) -> LeaseState | None:
        row = db.execute(
            "SELECT owner_name, owner_incarnation, fencing_token, expires_ms FROM sessions "
            "WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        holder = None if row[0] is None else Owner(row[0], row[1])
        return LeaseState(holder, row[2], row[3])

    def _write_lease(self, db: sqlite3.Connection, lease: Lease) -> None:
        db.execute(
            "INSERT INTO sessions(session_id, owner_name, owner_incarnation, fencing_token, "
            "expires_ms) VALUES (?,?,?,?,?) ON CONFLICT(session_id) DO UPDATE SET "
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
            state = self._lease_state(db, session_id) if isinstance(session_id, str) else None
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
            state = self._lease_state(db, getattr(lease, "session_id", ""))
            renewed = renew_transition(state, lease, ttl_ms, now_ms)
            self._write_lease(db, renewed)
        return renewed

    def release(self, lease: Lease) -> bool:
        """Give the lease up (a stale lease changes nothing); the next holder gets the next
        fencing token."""
        with self._write() as db:
            state = self._lease_state(db, getattr(lease, "session_id", ""))
            if not release_transition(state, lease):
                return False
            db.execute(
                "UPDATE sessions SET owner_name = NULL, owner_incarnation = NULL, "
                "expires_ms = 0 WHERE session_id = ? AND fencing_token = ?",
                (lease.session_id, lease.fencing_token),
            )
        return True

    def _fence(self, db: sqlite3.Connection, lease: Lease, now_ms: int, what: str) -> None:
        """The fence, in the write's own transaction (the write lock is already held)."""
        check_fence(self._lease_state(db, getattr(lease, "session_id", "")), lease, now_ms, what)

    # -- the journal -------------------------------------------------------------------------

    def _effect(
        self, db: sqlite3.Connection, session_id: str, replay_key: str
    ) -> EffectState | None:
        row = db.execute(
            "SELECT status, envelope_hash, attempt, fencing_token, outcome_json, due_at_ms "
            "FROM effects WHERE session_id = ? AND replay_key = ?",
            (session_id, replay_key),
        ).fetchone()
        if row is None:
            return None
        return EffectState(EffectStatus(row[0]), row[1], row[2], row[3], row[4], row[5])

    def _store_envelope(
        self, db: sqlite3.Connection, envelope: CanonicalEnvelope
    ) -> tuple[str, int]:
        """The envelope column and split flag: big, repeated parts of a model request go to
        ``blobs`` once each, its messages into the ``chain``, and the row keeps a skeleton."""
        parts = split_envelope(envelope.json)
        if not parts.blobs and not parts.messages:
            return envelope.json, 0
        for digest, body in parts.blobs:
            db.execute("INSERT OR IGNORE INTO blobs(hash, body) VALUES (?, ?)", (digest, body))
        chain = message_chain(parts.messages)
        # Only the messages after the longest prefix already stored are new.
        missing = len(chain)
        while missing > 0:
            node = chain[missing - 1][0]
            if db.execute("SELECT 1 FROM chain WHERE node = ?", (node,)).fetchone():
                break
            missing -= 1
        for index in range(missing, len(chain)):
            node, previous, digest = chain[index]
            db.execute(
                "INSERT OR IGNORE INTO blobs(hash, body) VALUES (?, ?)",
                (digest, parts.messages[index]),
            )
            db.execute(
                "INSERT OR IGNORE INTO chain(node, prev, blob) VALUES (?, ?, ?)",
                (node, previous, digest),
            )
        tail = chain[-1][0] if chain else ""
        return f"{tail}\n{parts.skeleton}", 1

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
        with self._write() as db:
            self._fence(db, lease, now_ms, "begin an effect")
            check_lease_covers(lease, envelope_session_id(envelope))
            row = self._effect(db, lease.session_id, replay_key)
            verdict = begin_transition(row, envelope.hash, lease.fencing_token, due_at_ms)
            if isinstance(verdict, Started):
                if row is None:
                    stored, split = self._store_envelope(db, envelope)
                    db.execute(
                        "INSERT INTO effects(session_id, replay_key, envelope_hash, envelope, "
                        "split, status, attempt, fencing_token, due_at_ms, started_ms) "
                        "VALUES (?,?,?,?,?,'running',?,?,?,?)",
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
                        "UPDATE effects SET status = 'running', attempt = ?, fencing_token = ?, "
                        "started_ms = ? WHERE session_id = ? AND replay_key = ?",
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
            self._fence(db, lease, now_ms, "complete an effect")
            for replay_key, outcome_json in outcomes:
                row = self._effect(db, lease.session_id, replay_key)
                if complete_transition(row, outcome_json, lease.fencing_token):
                    changed = db.execute(
                        "UPDATE effects SET status = 'completed', outcome_json = ?, "
                        "completed_ms = ? WHERE session_id = ? AND replay_key = ? "
                        "AND status = 'running' AND fencing_token = ?",
                        (outcome_json, now_ms, lease.session_id, replay_key, lease.fencing_token),
                    ).rowcount
                    if changed != 1:  # pragma: no cover - the rule saw the row under the lock
                        raise LashError(codes.LEASE_LOST, "the effect row changed under the lock")

    def abandon(self, lease: Lease, replay_key: str, now_ms: int) -> bool:
        """Mark a running effect of this lease abandoned (it failed, nothing is recorded; the
        next begin runs it again). Whether anything changed."""
        with self._write() as db:
            self._fence(db, lease, now_ms, "abandon an effect")
            if not abandon_allowed(
                self._effect(db, lease.session_id, replay_key), lease.fencing_token
            ):
                return False
            db.execute(
                "UPDATE effects SET status = 'abandoned' WHERE session_id = ? AND replay_key = ?",
                (lease.session_id, replay_key),
            )
        return True

    def _load_envelope(
        self, db: sqlite3.Connection, session_id: str, replay_key: str
    ) -> CanonicalEnvelope | None:
        row = db.execute(
            "SELECT envelope_hash, envelope, split FROM effects "
            "WHERE session_id = ? AND replay_key = ?",
            (session_id, replay_key),
        ).fetchone()
        if row is None:
            return None
        digest, stored, split = row
        if not split:
            return CanonicalEnvelope(stored, digest)
        tail, _, skeleton = stored.partition("\n")
        messages = [r[0] for r in db.execute(_MESSAGES_SQL, (tail,)).fetchall()] if tail else []
        try:
            wanted = [h[2] for h in json.loads(skeleton)["holes"] if h[1] == "blob"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _corrupt(f"the stored envelope of {replay_key!r}", exc) from None
        blobs: dict[str, str] = {}
        for digest_ in wanted:
            found = db.execute("SELECT body FROM blobs WHERE hash = ?", (digest_,)).fetchone()
            if found is not None:
                blobs[digest_] = found[0]
        text = join_envelope(skeleton, blobs, messages)
        if text_hash(text) != digest:
            raise LashError(
                codes.STORE_CORRUPT, f"the stored envelope of {replay_key!r} does not hash back"
            )
        return CanonicalEnvelope(text, digest)

    def recorded_envelope(self, session_id: str, replay_key: str) -> CanonicalEnvelope | None:
        """The canonical envelope recorded under ``replay_key`` (joined from its parts)."""
        with self._read():
            return self._load_envelope(self._db, session_id, replay_key)

    # -- turns -------------------------------------------------------------------------------

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
        """Upsert the rows of a process registry in one transaction (a record, grant or lease
        replaces the stored one; an event, wake or acknowledgement is written once)."""
        with self._write() as db:
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
                "INSERT OR IGNORE INTO process_acked_wake_events(process_id, sequence) "
                "VALUES (?, ?)",
                list(rows.acknowledged_wake_events),
            )

    def process_rows(self) -> ProcessRows:
        """Every stored process row, ready for :meth:`~lash_core.store.ProcessRows.restore`."""
        with self._read():
            db = self._db
            try:
                records = tuple(
                    from_json(text, ProcessRecord)
                    for (text,) in db.execute(
                        "SELECT record_json FROM process_records ORDER BY rowid"
                    )
                )
                events = tuple(
                    from_json(text, ProcessEvent)
                    for (text,) in db.execute(
                        "SELECT event_json FROM process_events ORDER BY process_id, sequence"
                    )
                )
                grants = tuple(
                    (from_json(scope, SessionScope), from_json(grant, ProcessHandleGrant))
                    for scope, grant in db.execute(
                        "SELECT scope_json, grant_json FROM process_grants "
                        "ORDER BY scope_id, process_id"
                    )
                )
                pending = tuple(
                    from_json(text, ProcessWakeDelivery)
                    for (text,) in db.execute(
                        "SELECT delivery_json FROM process_wakes WHERE acknowledged = 0 "
                        "ORDER BY rowid"
                    )
                )
                acknowledged = tuple(
                    wake_id
                    for (wake_id,) in db.execute(
                        "SELECT wake_id FROM process_wakes WHERE acknowledged = 1 ORDER BY rowid"
                    )
                )
                leases = tuple(
                    from_json(text, ProcessLease)
                    for (text,) in db.execute(
                        "SELECT lease_json FROM process_leases ORDER BY process_id"
                    )
                )
                acked_events = tuple(
                    (pid, seq)
                    for pid, seq in db.execute(
                        "SELECT process_id, sequence FROM process_acked_wake_events "
                        "ORDER BY process_id, sequence"
                    )
                )
            except LashError as exc:
                raise _corrupt("a stored process row", exc) from None
        return ProcessRows(records, events, grants, pending, acknowledged, leases, acked_events)

    # -- change detection --------------------------------------------------------------------

    def data_version(self) -> int:
        """``PRAGMA data_version``: changes when another connection commits (a waiter's cheap
        check that something may have been resolved while a datagram was lost)."""
        with self._read():
            version: int = self._db.execute("PRAGMA data_version").fetchone()[0]
        return version
