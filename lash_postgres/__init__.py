"""lash on PostgreSQL: one database shared by many workers.

* :class:`PostgresStore`: a :class:`~lash_core.store.DurableStore` (psycopg 3, sync), with
  :meth:`~PostgresStore.claim_turn` to share unfinished turns among workers
  (``FOR UPDATE SKIP LOCKED``);
* :class:`PostgresDoorbell`: cross-process wakes by ``LISTEN``/``NOTIFY``;
* :class:`~lash_postgres.throwaway.ThrowawayPostgres`: a temporary server for tests and
  trying things out.

A host runs on it like on SQLite: ``lash_trio.open_durable_host(PostgresStore(dsn))`` (or
``lash_asyncio``'s) opens the store's doorbell.
"""

from lash_postgres._driver import require_driver

require_driver()

from lash_postgres.doorbell import PostgresDoorbell as PostgresDoorbell  # noqa: E402
from lash_postgres.store import SCHEMA_VERSION as SCHEMA_VERSION  # noqa: E402
from lash_postgres.store import PostgresStore as PostgresStore  # noqa: E402

__all__ = ["SCHEMA_VERSION", "PostgresDoorbell", "PostgresStore"]
