"""Doorbells on PostgreSQL: how a resolver in one process wakes a waiter parked in another.

A :class:`PostgresDoorbell` is a dedicated connection that ``LISTEN``-s on a channel of its
own (its :attr:`~PostgresDoorbell.address`). A waiter registers the address with each key it
parks on, in the same transaction as the park; a resolver sends ``NOTIFY address, key_id`` in
its own transaction, which PostgreSQL delivers when that transaction commits. The host waits
on the connection's socket through its loop (``LoopPrimitives.wait_readable``), so an idle
waiter costs no query. A lost notification (the connection dropped and was opened again) is
caught by the host's safety net: it re-reads its parked keys when ``store.data_version()``
changed.

A resolve's notification carries the terminal too when it fits (``key_id``, a newline, the
terminal's JSON; PostgreSQL's limit is 8000 bytes): a doorbell opened by
:meth:`~lash_postgres.PostgresStore.open_doorbell` hands it to its store
(:class:`Delivered`), whose next :meth:`~lash_postgres.PostgresStore.peek` of that key returns
it without a round trip to the server. Every other notification (a terminal too large, a
cancellation, a revocation) carries the key id alone, and the key's next peek reads the table.
"""

from __future__ import annotations

import contextlib
import secrets
import select
import socket
import time
from types import TracebackType
from typing import Any, Final

import psycopg
from psycopg import pq, sql

__all__ = ["DELIVERED_KEEP", "RETRY_S", "Delivered", "PostgresDoorbell"]


_now = time.monotonic

RETRY_S: Final = 1.0
"""Seconds between attempts to listen again while the server cannot be reached."""
DELIVERED_KEEP: Final = 4096
"""How many delivered terminals a store keeps for a peek at most (the oldest go first; a
key whose terminal was dropped is read from the table)."""


class Delivered:
    """Terminals that arrived with their notifications, by key id (their JSON), each kept
    until one peek takes it, its waiter leaves (``unpark``), or a later notification of the
    same key without a terminal (a revocation) drops it."""

    def __init__(self, keep: int = DELIVERED_KEEP) -> None:
        self._terminals: dict[str, str] = {}
        self._keep = keep

    def __len__(self) -> int:
        return len(self._terminals)

    def put(self, key_id: str, terminal_json: str) -> None:
        self._terminals.pop(key_id, None)
        self._terminals[key_id] = terminal_json
        while len(self._terminals) > self._keep:
            del self._terminals[next(iter(self._terminals))]

    def drop(self, key_id: str) -> None:
        self._terminals.pop(key_id, None)

    def take(self, key_id: str) -> str | None:
        """The terminal delivered for ``key_id`` (forgotten here), or ``None``."""
        return self._terminals.pop(key_id, None)


class PostgresDoorbell:
    """A process's doorbell on the database of ``dsn``: a connection listening on a channel
    named ``lash_<random>``. Rung by :meth:`~lash_postgres.PostgresStore.resolve` (and every
    other write that ends a promise) through ``NOTIFY``. ``delivered``: where the terminals
    carried by notifications go (a store's, see
    :meth:`~lash_postgres.PostgresStore.open_doorbell`); ``None`` ignores them.

    When the connection drops, :meth:`drain` opens it again at once, then every
    :data:`RETRY_S` seconds while the server cannot be reached; meanwhile :meth:`fileno` is a
    socket that turns readable when the next attempt is due (so a host's listener neither
    spins nor stops)."""

    def __init__(
        self, dsn: str, *, connect_timeout_s: int = 10, delivered: Delivered | None = None
    ) -> None:
        self._dsn = dsn
        self._delivered = delivered
        self._timeout = connect_timeout_s
        self.address = f"lash_{secrets.token_hex(8)}"
        self.reconnects = 0
        """How many times the connection was opened again after it dropped."""
        self._retry_at = 0.0
        self._idle = socket.socketpair()  # never written: never readable
        self._due = socket.socketpair()  # one byte written: always readable
        self._due[1].send(b"!")
        try:
            self._conn: psycopg.Connection[Any] | None = self._listen()
        except BaseException:
            self._close_sockets()
            raise

    def _listen(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.address)))
        except BaseException:
            conn.close()
            raise
        return conn

    def fileno(self) -> int:
        """The connection's socket (for ``wait_readable``); it changes after a reconnect.
        While the server is away: a socket readable once the next attempt is due."""
        if self._conn is not None:
            return self._conn.pgconn.socket
        if _now() >= self._retry_at:
            return self._due[0].fileno()
        return self._idle[0].fileno()

    def drain(self) -> list[str]:
        """Every notification received, as the key ids they carry (never blocks). A dropped
        connection is opened again (the notifications sent meanwhile are lost: the safety net
        catches them)."""
        conn = self._conn
        if conn is None:
            if _now() >= self._retry_at:
                self._reconnect()
            return []
        pgconn = conn.pgconn
        out: list[str] = []
        try:
            # Read what is there; a terminated connection's goodbye message may come first,
            # then its end of file (read on the next pass).
            for _ in range(4):
                pgconn.consume_input()
                if pgconn.status != pq.ConnStatus.OK:
                    raise psycopg.OperationalError("the doorbell's connection was closed")
                if not select.select([pgconn.socket], [], [], 0)[0]:
                    break
        except psycopg.OperationalError:
            with contextlib.suppress(psycopg.Error):
                conn.close()
            self._conn = None
            self._reconnect()
            return out
        delivered = self._delivered
        while (notify := pgconn.notifies()) is not None:
            key_id, newline, terminal_json = notify.extra.decode("utf-8", "replace").partition("\n")
            if delivered is not None:
                if newline:
                    delivered.put(key_id, terminal_json)
                else:
                    delivered.drop(key_id)
            out.append(key_id)
        return out

    def _reconnect(self) -> None:
        try:
            self._conn = self._listen()
        except psycopg.Error:
            self._retry_at = _now() + RETRY_S  # the server is still away
            return
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
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._close_sockets()

    def _close_sockets(self) -> None:
        for pair in (self._idle, self._due):
            for sock in pair:
                sock.close()

    def __enter__(self) -> PostgresDoorbell:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
