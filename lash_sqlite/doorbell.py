"""Doorbells: how a resolver in one process wakes a waiter parked in another.

Each process opens one :class:`Doorbell`, a unix datagram socket bound in a private temporary
directory. A waiter registers the doorbell's :attr:`~Doorbell.address` with each key it parks
on, in the same transaction as the park; a resolver reads the addresses in its own transaction
and, after COMMIT, sends each one datagram (the key id) with :func:`ring`: non-blocking, and
ignoring every error, so a dead process's doorbell (``ENOENT``, ``ECONNREFUSED``) or a full
queue costs nothing. A lost datagram is caught by the safety net: the waiter re-reads its keys
when ``store.data_version()`` changed.

The socket is exposed for event loops: trio waits with ``trio.lowlevel.wait_readable(bell)``,
asyncio with ``loop.add_reader(bell.fileno(), ...)``; :meth:`Doorbell.wait` is a blocking
helper for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import tempfile
import threading
from types import TracebackType

__all__ = ["Doorbell", "ring"]

_MAX_DATAGRAM = 4096

_sender: socket.socket | None = None
_sender_pid = 0
_sender_lock = threading.Lock()


def _sending_socket() -> socket.socket:
    """One unbound, non-blocking datagram socket per process (reopened after a fork)."""
    global _sender, _sender_pid
    with _sender_lock:
        if _sender is None or _sender_pid != os.getpid():
            _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _sender.setblocking(False)
            _sender_pid = os.getpid()
        return _sender


def ring(address: str, key_id: str = "") -> bool:
    """Send one datagram (``key_id``) to the doorbell at ``address``; whether it was sent.

    Never blocks and never raises: a doorbell whose process died, or whose queue is full, is
    simply not rung (the waiter's safety net covers a lost wake).
    """
    try:
        _sending_socket().sendto(key_id.encode("utf-8", "replace")[:_MAX_DATAGRAM], address)
    except OSError:
        return False
    return True


class Doorbell:
    """A process's doorbell: a unix datagram socket other processes :func:`ring`.

    ``directory``: where to make the private directory holding the socket (the system's
    temporary directory by default; unix socket paths are limited to about 100 bytes).
    """

    def __init__(self, directory: str | None = None) -> None:
        self._dir = tempfile.mkdtemp(prefix="lash-bell-", dir=directory)
        self.address = os.path.join(self._dir, "bell")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.address)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.socket = sock

    def fileno(self) -> int:
        """The socket's file descriptor (for ``wait_readable`` / ``add_reader``)."""
        return self.socket.fileno()

    def drain(self) -> list[str]:
        """Every datagram waiting, as the key ids they carry (never blocks)."""
        out: list[str] = []
        while True:
            try:
                data = self.socket.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return out
            out.append(data.decode("utf-8", "replace"))

    def wait(self, timeout: float | None) -> list[str]:
        """Block until a datagram arrives or ``timeout`` seconds pass; the key ids received
        (empty on timeout). For tests and benchmarks: event loops wait on :meth:`fileno`."""
        ready, _, _ = select.select([self.socket], [], [], timeout)
        return self.drain() if ready else []

    def close(self) -> None:
        """Close the socket and remove its directory (idempotent)."""
        self.socket.close()
        with contextlib.suppress(OSError):
            os.unlink(self.address)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Doorbell:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
