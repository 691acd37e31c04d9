"""A Restate server for the session and the scripted turn's service in a subprocess.

The server comes from the npm registry (``lash_restate.server``: cached in
``~/.cache/lash/restate-server-<version>``), bound to 127.0.0.1 with telemetry off and its data
in a temporary folder. With ``LASH_REQUIRE_RESTATE=1`` (``python3 dev.py test`` sets it) a
server that cannot be installed or started FAILS the tests; otherwise they are skipped with the
reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRED = os.environ.get("LASH_REQUIRE_RESTATE") == "1"
ROOT = Path(__file__).resolve().parent.parent.parent


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"LASH_REQUIRE_RESTATE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


try:
    import restate  # noqa: F401

    SDK_ERROR = ""
except ImportError as exc:  # pragma: no cover - the test extra installs it
    SDK_ERROR = f"restate-sdk is not installed ({exc}): pip install -e '.[restate]'"


@pytest.fixture(scope="session")
def restate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The session's Restate server (skipped, or failed when required, if it cannot start)."""
    if SDK_ERROR:
        _unavailable(SDK_ERROR)
    from lash_core.errors import LashError
    from lash_restate.server import start

    try:
        server = start(tmp_path_factory.mktemp("restate-server"))
    except LashError as exc:
        _unavailable(f"the Restate server is unavailable: {exc}")
        raise AssertionError("unreachable") from exc
    try:
        yield server
    finally:
        server.stop()


class World:
    """The scripted turn's service (``tests.restate.world``) in a subprocess, registered with
    the session's server, and a client; ``count_file`` collects every handler call."""

    def __init__(self, server: object, tmp: Path) -> None:
        from lash_restate import RestateProcesses, RestateTurns
        from lash_restate.server import RestateServer, ServiceProcess, free_port
        from tests.restate.world import SECRET, SERVICE

        assert isinstance(server, RestateServer)
        self.server = server
        self.count_file = tmp / "calls.txt"
        self.service = ServiceProcess(
            "tests.restate.world",
            free_port(),
            str(self.count_file),
            "1",
            server.ingress_url,
            cwd=ROOT,
        )
        self.turns = RestateTurns(
            server.ingress_url, SERVICE, secret=SECRET, admin_url=server.admin_url
        )
        self.processes = RestateProcesses(server.ingress_url, SERVICE)

    def counts(self, session: str) -> dict[str, int]:
        from tests.restate.world import counts

        return counts(self.count_file, session)

    def restart(self, version: str = "1") -> None:
        """SIGKILL the service (if it runs) and start it again on the same port."""
        self.service.kill()
        self.service.start(str(self.count_file), version, self.server.ingress_url)


@pytest.fixture(scope="session")
def world(restate_server: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(restate_server, tmp_path_factory.mktemp("restate-world"))
    w.service.start()
    try:
        w.turns.register(w.service.url)
        yield w
    finally:
        w.service.kill()
