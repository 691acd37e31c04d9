"""lash on embedded SQLite: a durable store in one file, and doorbells for cross-process wakes.

* :class:`SqliteStore`: a :class:`~lash_core.store.DurableStore` (stdlib ``sqlite3``, WAL);
* :class:`Doorbell` and :func:`ring`: one unix datagram socket per process, rung by resolvers
  in other processes after they commit;
* :func:`new_owner`: a lease owner for this process, which another process on this machine can
  prove dead (:func:`provably_dead`), so its lease is taken over at once;
  :func:`new_process_owner` and :func:`process_owner_dead` do the same for process leases
  (``ProcessRegistry.reclaim_dead_process_lease``); a holder on another machine is never dead;
* :func:`open_durable_host_on`: a durable host over a store on a driver's loop (what
  ``lash_trio.open_durable_host`` and ``lash_asyncio.open_durable_host`` are).
"""

from lash_sqlite.doorbell import Doorbell as Doorbell
from lash_sqlite.doorbell import ring as ring
from lash_sqlite.durable import open_durable_host_on as open_durable_host_on
from lash_sqlite.liveness import new_owner as new_owner
from lash_sqlite.liveness import new_process_owner as new_process_owner
from lash_sqlite.liveness import process_owner_dead as process_owner_dead
from lash_sqlite.liveness import provably_dead as provably_dead
from lash_sqlite.store import SCHEMA_VERSION as SCHEMA_VERSION
from lash_sqlite.store import SqliteStore as SqliteStore

__all__ = [
    "SCHEMA_VERSION",
    "Doorbell",
    "SqliteStore",
    "new_owner",
    "new_process_owner",
    "open_durable_host_on",
    "process_owner_dead",
    "provably_dead",
    "ring",
]
