"""The base of a store's connection: the hooks the shared table mixins call.

A store's connection class (``SqliteConnection``, ``PostgresConnection``) derives from
:class:`SqlTables` over its own connection type and supplies its statements, its transactions
and its fence; the shared mixins of :mod:`lash_sql.journal`, :mod:`lash_sql.turns` and
:mod:`lash_sql.await_events` come before it in the store's class order and call these hooks.
"""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Final, Generic, Self, TypeVar

from lash_core import KeySigner, LashError, codes
from lash_sql.dialect import Db, Statements

if TYPE_CHECKING:
    from lash_core.store import Lease

__all__ = ["SECRET_BYTES", "DbT", "SqlTables", "corrupt", "wall_ms"]

DbT = TypeVar("DbT", bound=Db)

SECRET_BYTES: Final = 32
"""The size of a key-signing secret."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def corrupt(what: str, exc: BaseException) -> LashError:
    return LashError(codes.STORE_CORRUPT, f"{what} does not decode: {exc}")


class SqlTables(Generic[DbT]):
    """One connection (``_db``, used under ``_lock``) and the hooks over it."""

    _sql: ClassVar[Statements]
    """The store's dialect's statements."""
    _db: DbT
    _lock: threading.RLock
    _signer: KeySigner

    def _write(self) -> AbstractContextManager[DbT]:
        """One transaction: committed if the block returns, rolled back if it raises."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[DbT]:
        """A read (autocommit: one consistent snapshot per statement)."""
        raise NotImplementedError

    def _fence(self, db: DbT, lease: Lease, now_ms: int, what: str) -> object:
        """Check, in the write's transaction, that ``lease`` still holds its session
        (``lease_lost``/``lease_invalid`` otherwise)."""
        raise NotImplementedError

    def _reload_signer(self) -> None:
        """Load the store's secrets again (after a rotation)."""
        raise NotImplementedError

    # -- keys --------------------------------------------------------------------------------

    def signer(self) -> KeySigner:
        """The signer of the store's secret (and the previous ones, for verification)."""
        return self._signer

    def rotate_secret(self) -> None:
        """Sign with a fresh 32-byte secret from now on; keys signed with the
        ``keep_previous_secrets`` latest older secrets still verify."""
        with self._write() as db:
            db.execute(self._sql.insert_secret, (secrets.token_bytes(SECRET_BYTES), wall_ms()))
        self._reload_signer()

    # -- plumbing ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
