"""Doorbells on PostgreSQL: how a resolver in one process wakes a waiter parked in another.

A :class:`PostgresDoorbell` is a dedicated connection that ``LISTEN``-s on a channel of its
own (its :attr:`~PostgresDoorbell.address`). A waiter registers the address with each key it
parks on, in the same transaction as the park; a resolver sends ``NOTIFY address, key_id`` in
its own transaction, which PostgreSQL delivers when that transaction commits. The host waits
on the connection's socket through its loop (``LoopPrimitives.wait_readable``), so an idle
waiter costs no query. A lost notification (the connection dropped and was opened again) is
caught by the host's safety net: it re-reads its parked keys when ``store.data_version()``
changed.
"""

from __future__ import annotations

import contextlib
import secrets
import select
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["PostgresDoorbell"]


class PostgresDoorbell:
    """A process's doorbell on the database of ``dsn``: a connection listening on a channel
    named ``lash_<random>``. Rung by :meth:`~lash_postgres.PostgresStore.resolve` (and every
    other write that ends a promise) through ``NOTIFY``."""

    def __init__(self, dsn: str, *, connect_timeout_s: int = 10) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout_s
        self.address = f"lash_{secrets.token_hex(8)}"
        self.reconnects = 0
        """How many times the connection was opened again after it dropped."""
        self._conn = self._listen()

    def _listen(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.address)))
        except BaseException:
            conn.close()
            raise
        return conn

    def fileno(self) -> int:
        """The connection's socket (for ``wait_readable``); it changes after a reconnect."""
        return self._conn.pgconn.socket

    def drain(self) -> list[str]:
        """Every notification received, as the key ids they carry (never blocks). A dropped
        connection is opened again (the notifications sent meanwhile are lost: the safety net
        catches them)."""
        pgconn = self._conn.pgconn
        out: list[str] = []
        try:
            pgconn.consume_input()
        except psycopg.OperationalError:
            self._reconnect()
            return out
        while (notify := pgconn.notifies()) is not None:
            out.append(notify.extra.decode("utf-8", "replace"))
        return out

    def _reconnect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        try:
            self._conn = self._listen()
        except psycopg.Error:
            return  # the server is still away: the next drain tries again
        self.reconnects += 1

    def wait(self, timeout: float | None) -> list[str]:
        """Block until a notification arrives or ``timeout`` seconds pass; the key ids
        received (empty on timeout). For tests and benchmarks: event loops wait on
        :meth:`fileno`."""
        ready = self.drain()
        if ready:
            return ready
        readable, _, _ = select.select([self.fileno()], [], [], timeout)
        return self.drain() if readable else []

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(psycopg.Error):
            self._conn.close()

    def __enter__(self) -> PostgresDoorbell:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
