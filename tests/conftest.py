"""Test configuration: the conformance kit's pytest plugin, and a throwaway PostgreSQL server.

The ``postgres_dsn`` fixture starts one server for the whole session (the first test that
needs it starts it; it is stopped and deleted at the end). Where PostgreSQL is not installed
the tests needing it are skipped, with the reason; with ``LASH_REQUIRE_POSTGRES=1`` (what
``python3 dev.py test`` sets) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lash_postgres.throwaway import ThrowawayPostgres, postgres_unavailable

pytest_plugins = ["lash_core.testing.pytest_plugin"]


def _required() -> bool:
    return os.environ.get("LASH_REQUIRE_POSTGRES", "") not in ("", "0")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The connection string of a throwaway PostgreSQL server (one per test session)."""
    why = postgres_unavailable()
    if why is not None:
        if _required():
            pytest.fail(f"LASH_REQUIRE_POSTGRES is set but {why}", pytrace=False)
        pytest.skip(f"no PostgreSQL for these tests: {why}")
    server = ThrowawayPostgres(max_connections=200)
    try:
        server.start()
    except RuntimeError as exc:
        if _required():
            pytest.fail(f"LASH_REQUIRE_POSTGRES is set but the server did not start: {exc}")
        pytest.skip(f"no PostgreSQL for these tests: the server did not start: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()
