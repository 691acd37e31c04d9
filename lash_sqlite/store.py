"""The SQLite durable store: one file per deployment, stdlib ``sqlite3`` only.

Every read-then-write runs in ``BEGIN IMMEDIATE`` (the write lock is taken before the read, so
the pure rule of :mod:`lash_core.store` sees the row the write replaces); every journal and turn
write checks the session lease in that same transaction, so a paused owner that lost its lease
writes nothing. The file is in WAL mode with ``synchronous=FULL`` (``NORMAL`` on request: a
power cut may then lose the last commits, never corrupt the file); a journal ``begin`` and a
session lease write commit at ``NORMAL`` either way (one fsync per durable effect: its
``complete``'s).

The store is composed of one mixin per concern over one connection:
:class:`~lash_sqlite.connection.SqliteConnection` (schema, migration, transactions, secrets),
:class:`~lash_sqlite.await_events.AwaitEventTables`,
:class:`~lash_sqlite.journal.JournalTables` (leases and the journal) and
:class:`~lash_sqlite.turns.TurnTables` (turns and process rows).
"""

from __future__ import annotations

from lash_sqlite.await_events import AwaitEventTables
from lash_sqlite.connection import SCHEMA_VERSION as SCHEMA_VERSION
from lash_sqlite.connection import SECRET_BYTES as SECRET_BYTES
from lash_sqlite.turns import TurnTables

__all__ = ["SCHEMA_VERSION", "SECRET_BYTES", "SqliteStore"]


class SqliteStore(AwaitEventTables, TurnTables):
    """A :class:`~lash_core.store.DurableStore` in one SQLite file at ``path`` (created and
    migrated on open; a file of a newer schema is refused with ``store_schema_too_new``).

    * ``synchronous``: ``"FULL"`` (default: a commit survives a power cut; a journal ``begin``
      and a lease write commit at ``NORMAL``, synced by the next commit at ``FULL``) or
      ``"NORMAL"``;
    * ``busy_timeout_ms``: how long a write waits for another process's write lock;
    * ``ring``: how resolvers wake parked waiters (default: a datagram to the doorbell);
    * ``keep_previous_secrets``: how many older secrets still verify keys after a rotation.

    One store object is one connection; it may be shared by threads (calls are serialised).
    """

    # -- change detection --------------------------------------------------------------------

    def data_version(self) -> int:
        """``PRAGMA data_version``: changes when another connection commits (a waiter's cheap
        check that something may have been resolved while a datagram was lost)."""
        with self._read():
            version: int = self._db.execute("PRAGMA data_version").fetchone()[0]
        return version
