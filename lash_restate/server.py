"""A local Restate server for tests, benchmarks and development: installed from the npm registry
into a cache folder, bound to 127.0.0.1 only, telemetry off, its data in a folder of its own.

    with local_server() as server:          # installs the pinned version when missing
        server.ingress_url, server.admin_url

Standard library only (the server is a native binary that the npm package ships). What it
does, step by step:

* :func:`install` runs ``npm install --prefix ~/.cache/lash/restate-server-<version>
  @restatedev/restate-server@<version>`` once (``LASH_RESTATE_CACHE`` moves the cache; install
  scripts are not run);
* :func:`start` writes a ``restate.toml`` that binds ingress, admin and the node-to-node port to
  ``127.0.0.1`` on free ports, listens on TCP only, turns the telemetry and the web UI off and
  keeps the data in ``data_dir``; it then waits for the admin API's health check.

The server listens on 127.0.0.1 only and sends no telemetry. One outbound request cannot be
turned off by configuration: at start, version 1.7.12 asks GitHub's API once for its latest
release (it fails quietly without network, logging an ``octocrab`` error).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from lash_core import codes
from lash_core.errors import LashError

__all__ = [
    "RESTATE_SERVER_VERSION",
    "RestateServer",
    "ServiceProcess",
    "free_port",
    "install",
    "local_server",
    "server_binary",
    "start",
    "wait_for_port",
]

RESTATE_SERVER_VERSION = "1.7.12"
"""The Restate server version the tests and benchmarks run (the npm package's)."""

PACKAGE = "@restatedev/restate-server"


def cache_dir(version: str = RESTATE_SERVER_VERSION) -> Path:
    """Where :func:`install` puts the server (``LASH_RESTATE_CACHE`` or ``~/.cache/lash``)."""
    root = os.environ.get("LASH_RESTATE_CACHE") or str(Path.home() / ".cache" / "lash")
    return Path(root) / f"restate-server-{version}"


def server_binary(version: str = RESTATE_SERVER_VERSION) -> Path | None:
    """The installed server's executable, or ``None`` when it is not installed."""
    binary = cache_dir(version) / "node_modules" / ".bin" / "restate-server"
    return binary if binary.exists() else None


def install(version: str = RESTATE_SERVER_VERSION, *, timeout: float = 300.0) -> Path:
    """Install the server from the npm registry when missing; its executable.
    ``restate_server_unavailable`` when npm is missing or the install fails."""
    found = server_binary(version)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise LashError(
            codes.RESTATE_SERVER_UNAVAILABLE,
            "npm is not installed: install Node.js (npm) to fetch the Restate server, or put "
            f"restate-server {version} in {cache_dir(version)}/node_modules/.bin",
        )
    target = cache_dir(version)
    target.mkdir(parents=True, exist_ok=True)
    command = [
        npm,
        "install",
        "--prefix",
        str(target),
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        f"{PACKAGE}@{version}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LashError(
            codes.RESTATE_SERVER_UNAVAILABLE, f"npm install of {PACKAGE} failed: {exc}"
        ) from None
    found = server_binary(version)
    if done.returncode != 0 or found is None:
        raise LashError(
            codes.RESTATE_SERVER_UNAVAILABLE,
            f"npm install of {PACKAGE}@{version} failed (exit status {done.returncode}): "
            f"{done.stderr.strip()[-500:]}",
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(ingress: int, admin: int, node: int, data_dir: Path) -> str:
    return "\n".join(
        [
            'listen-mode = "tcp"',
            f'bind-address = "127.0.0.1:{node}"',
            f'advertised-address = "http://127.0.0.1:{node}/"',
            "disable-telemetry = true",
            f'base-dir = "{data_dir}"',
            'node-name = "lash-test"',
            "default-num-partitions = 4",
            "[ingress]",
            f'bind-address = "127.0.0.1:{ingress}"',
            f'advertised-ingress-endpoint = "http://127.0.0.1:{ingress}/"',
            "[admin]",
            f'bind-address = "127.0.0.1:{admin}"',
            f'advertised-admin-endpoint = "http://127.0.0.1:{admin}/"',
            "disable-web-ui = true",
            "",
        ]
    )


class RestateServer:
    """A running Restate server (see :func:`start`): its URLs and its process."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        ingress_port: int,
        admin_port: int,
        data_dir: Path,
        node_port: int = 0,
        version: str = RESTATE_SERVER_VERSION,
    ) -> None:
        self.process = process
        self.ingress_port = ingress_port
        self.admin_port = admin_port
        self.node_port = node_port
        self.data_dir = data_dir
        self.version = version

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.admin_url}/health", timeout=1) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing is flushed on the way out) and wait until it is
        gone. Its data stays in :attr:`data_dir`: :meth:`restart` brings it back."""
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait()

    def restart(self, *, startup_timeout: float = 30.0) -> None:
        """Start the server again (after :meth:`kill` or :meth:`stop`) on the same ports and
        the same data: its journals, timers, promises and registered deployments are those
        it had, and the invocations it was running resume. ``restate_server_unavailable`` when
        it does not come back."""
        if self.process.poll() is None:
            raise LashError(
                codes.RESTATE_SERVER_UNAVAILABLE, "the server is still running: kill it first"
            )
        ports = (self.ingress_port, self.admin_port, self.node_port)
        self.process = _launch(self.data_dir, ports, self.version, startup_timeout).process

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        process = self.process
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        # the npm package's launcher runs the native server as its child: end both
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the server's process group (its own session: the npm launcher and the native
    server it runs)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def start(
    data_dir: Path,
    *,
    version: str = RESTATE_SERVER_VERSION,
    startup_timeout: float = 30.0,
) -> RestateServer:
    """Install (when missing) and start a server bound to 127.0.0.1 on free ports with its data
    in ``data_dir``; returns once its admin API and its ingress answer.
    ``restate_server_unavailable`` when it does not start (its log is in
    ``data_dir/server.log``). :meth:`RestateServer.restart` starts it again on the same ports
    and data."""
    ports = (free_port(), free_port(), free_port())
    return _launch(data_dir, ports, version, startup_timeout)


def _launch(
    data_dir: Path, ports: tuple[int, int, int], version: str, startup_timeout: float
) -> RestateServer:
    binary = install(version)
    data_dir.mkdir(parents=True, exist_ok=True)
    ingress, admin, node = ports
    config = data_dir / "restate.toml"
    config.write_text(_config(ingress, admin, node, data_dir / "data"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
    env["DO_NOT_TRACK"] = "1"
    log = (data_dir / "server.log").open("ab")
    try:
        process = subprocess.Popen(
            [
                str(binary),
                "--config-file",
                str(config),
                "--no-logo",
                "--log-disable-ansi-codes",
                "true",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=data_dir,
            start_new_session=True,  # one process group: the launcher and the server
        )
    finally:
        log.close()
    server = RestateServer(process, ingress, admin, data_dir, node, version)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if server.healthy() and _ingress_up(server):
            return server
        time.sleep(0.05)
    server.stop()
    tail = server.log_path.read_text(encoding="utf-8", errors="replace")[-1500:]
    raise LashError(
        codes.RESTATE_SERVER_UNAVAILABLE,
        f"the Restate server did not start within {startup_timeout} s; its log ends:\n{tail}",
    )


def _ingress_up(server: RestateServer) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.ingress_port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def local_server(
    data_dir: Path | None = None, *, version: str = RESTATE_SERVER_VERSION
) -> Iterator[RestateServer]:
    """A server for the block (data in ``data_dir``, or in a temporary folder removed after)."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lash-rs-")))
        server = start(data_dir, version=version)
        try:
            yield server
        finally:
            server.stop()


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Wait until something listens on ``127.0.0.1:port`` (``restate_server_unavailable``
    after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise LashError(
        codes.RESTATE_SERVER_UNAVAILABLE, f"nothing listens on 127.0.0.1:{port} after {timeout} s"
    )


class ServiceProcess:
    """A service endpoint in a subprocess (``python -m module *args``, which must listen on
    ``port``): started, SIGKILLed and restarted on the same port, so the invocations Restate
    pinned to the deployment find it again."""

    def __init__(self, module: str, port: int, *args: str, cwd: Path | None = None) -> None:
        self.module = module
        self.port = port
        self.args = list(args)
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *args: str) -> None:
        """Start it (with ``args`` instead of the constructor's, if given) and wait for it."""
        if args:
            self.args = list(args)
        command = [sys.executable, "-m", self.module, str(self.port), *self.args]
        self.process = subprocess.Popen(command, cwd=self.cwd, stdin=subprocess.DEVNULL)
        wait_for_port(self.port)

    def kill(self) -> None:
        """SIGKILL it (a crash: nothing runs on the way out) and wait until it is gone."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self.process = None
