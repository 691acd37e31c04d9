"""A throwaway PostgreSQL server for tests, benchmarks and trying lash out: no Docker.

:class:`ThrowawayPostgres` runs ``initdb`` into a temporary directory, starts the server with
``pg_ctl`` on a free port of 127.0.0.1 (its unix socket in that directory too), and on
:meth:`~ThrowawayPostgres.stop` stops it and deletes the directory. The PostgreSQL binaries are
found on ``PATH`` or in Debian's ``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to
run as root: as root the server runs as the ``postgres`` user (else ``nobody``).

    with ThrowawayPostgres() as server:
        store = PostgresStore(server.dsn)

:func:`postgres_unavailable` says why a server cannot be started here (``None`` if it can).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from types import TracebackType
from typing import Self

__all__ = ["ThrowawayPostgres", "find_binary", "postgres_unavailable"]

_DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
_USER = "lash"


def find_binary(name: str) -> str | None:
    """The path of PostgreSQL's ``name`` (``initdb``, ``pg_ctl``), or ``None``."""
    found = shutil.which(name)
    if found is not None:
        return found
    candidates = sorted(glob.glob(os.path.join(_DEBIAN_BINARIES, name)), reverse=True)
    return candidates[0] if candidates else None


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: this user, or (as root) ``postgres`` or ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and there is no postgres or nobody user to run as")


def postgres_unavailable() -> str | None:
    """Why no throwaway server can start on this machine, or ``None`` when one can."""
    for name in ("initdb", "pg_ctl"):
        if find_binary(name) is None:
            return f"PostgreSQL's {name} is not installed (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'lash-effects[postgres]')"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary directory, started by :meth:`start` (or ``with``).

    * ``durable``: ``False`` (default) runs with ``fsync=off``, fast and fine for tests (a
      crash of the machine loses the server, which is thrown away anyway); ``True`` keeps
      PostgreSQL's defaults, for benchmarks that should pay for durability;
    * ``max_connections``: the server's connection limit.
    """

    def __init__(self, *, durable: bool = False, max_connections: int = 100) -> None:
        self._durable = durable
        self._max_connections = max_connections
        self._dir: str | None = None
        self.port = 0
        self.dsn = ""
        """The libpq connection string of the running server (database ``postgres``)."""

    def _run(self, argv: list[str], user: pwd.struct_passwd | None) -> None:
        result = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            cwd=self._dir,
            env={**os.environ, "LC_ALL": "C"},
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}")

    def start(self) -> Self:
        """Create and start the server (about a second); ``RuntimeError`` if it cannot."""
        why = postgres_unavailable()
        if why is not None:
            raise RuntimeError(why)
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        assert initdb is not None and pg_ctl is not None
        user = _server_user()
        self._dir = tempfile.mkdtemp(prefix="lash-pg-")
        try:
            if user is not None:
                os.chown(self._dir, user.pw_uid, user.pw_gid)
            data = os.path.join(self._dir, "data")
            init = [initdb, "-D", data, "-U", _USER, "-A", "trust", "-E", "UTF8", "--locale=C"]
            self._run([*init, "--no-sync", "--no-instructions"], user)
            self.port = _free_port()
            options = [
                f"-p {self.port}",
                f"-k {self._dir}",
                "-c listen_addresses=127.0.0.1",
                f"-c max_connections={self._max_connections}",
            ]
            if not self._durable:
                options += ["-c fsync=off", "-c full_page_writes=off"]
            log = os.path.join(self._dir, "server.log")
            self._run([pg_ctl, "start", "-D", data, "-w", "-l", log, "-o", " ".join(options)], user)
        except BaseException:
            self._remove()
            raise
        self.dsn = f"host=127.0.0.1 port={self.port} user={_USER} dbname=postgres"
        return self

    def stop(self) -> None:
        """Stop the server (at once) and delete its directory; idempotent."""
        if self._dir is None:
            return
        pg_ctl = find_binary("pg_ctl")
        data = os.path.join(self._dir, "data")
        if pg_ctl is not None and os.path.exists(os.path.join(data, "postmaster.pid")):
            with contextlib.suppress(RuntimeError, OSError):
                self._run([pg_ctl, "stop", "-D", data, "-m", "immediate", "-w"], _server_user())
        self._remove()

    def _remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
