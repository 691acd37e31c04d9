"""The PostgreSQL durable store: many workers, one database.

Every read-then-write runs in one transaction that first takes an advisory lock on what it
decides about (see :mod:`lash_postgres.connection`), so the pure rules of
:mod:`lash_core.store` decide exactly as they do on SQLite: first writer wins, revocation
tombstones, leases fenced in the same transaction as every journal and turn write, absolute
deadlines. A resolver notifies parked waiters with ``NOTIFY`` in its own transaction.

The store is composed of one mixin per concern over one connection:
:class:`~lash_postgres.connection.PostgresConnection` (schema, migration, transactions,
secrets), :class:`~lash_postgres.await_events.AwaitEventTables`,
:class:`~lash_postgres.journal.JournalTables` (leases and the journal) and
:class:`~lash_postgres.turns.TurnTables` (turns, claims and process rows).
"""

from __future__ import annotations

from lash_postgres.await_events import AwaitEventTables
from lash_postgres.connection import SCHEMA_VERSION as SCHEMA_VERSION
from lash_postgres.connection import SECRET_BYTES as SECRET_BYTES
from lash_postgres.doorbell import PostgresDoorbell
from lash_postgres.turns import TurnTables

__all__ = ["SCHEMA_VERSION", "SECRET_BYTES", "PostgresStore"]


class PostgresStore(AwaitEventTables, TurnTables):
    """A :class:`~lash_core.store.DurableStore` in the PostgreSQL database of ``dsn`` (a libpq
    connection string or URI), in the tables of ``schema`` (created and migrated on open; a
    schema of a newer lash is refused with ``store_schema_too_new``).

    * ``schema``: the PostgreSQL schema holding lash's tables (several deployments, or tests,
      can share one database under different schemas);
    * ``ring``: an extra callback ``ring(address, key_id)`` run after a resolver commits, for
      each parked waiter (waiters are notified by ``NOTIFY`` whatever it is);
    * ``keep_previous_secrets``: how many older secrets still verify keys after a rotation;
    * ``synchronous_commit``: ``True`` (default: a commit returns once its WAL is on disk; a
      journal ``begin`` does not wait, its ``complete`` flushes it) or ``False``
      (``synchronous_commit = off`` for every transaction: a server crash may lose the last
      commits, never corrupt anything);
    * ``connect_timeout_s``: how long connecting may take.

    One store object is one connection; it may be shared by threads (calls are serialised).
    Open one per process (or per thread that needs its own).
    """

    def open_doorbell(self) -> PostgresDoorbell:
        """A doorbell for a host on this store: a dedicated connection ``LISTEN``-ing on a
        channel of its own (what ``open_durable_host`` opens for a Postgres store). The
        terminals its notifications carry go to this store: the next :meth:`peek` of such a
        key returns it without reading the table."""
        return PostgresDoorbell(self.dsn, delivered=self._delivered)
