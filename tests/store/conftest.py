"""Backends for the store conformance tests: each opens fresh store objects over one backing
(a memory state, one SQLite file, or one schema of the throwaway PostgreSQL server), as
separate processes over one database would."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lash_core.store import DurableStore
from lash_core.store_memory import MemoryStore, MemoryStoreState
from lash_postgres import PostgresStore
from lash_sqlite import SqliteStore

SECRET = b"conformance-secret-0123456789abcdef"


class Backend:
    """Opens store objects over one backing; ``rings`` collects every doorbell rung."""

    def __init__(self, name: str, opener: Callable[[Backend], DurableStore]) -> None:
        self.name = name
        self._opener = opener
        self.rings: list[tuple[str, str]] = []
        self.opened: list[DurableStore] = []

    def ring(self, address: str, key_id: str) -> None:
        self.rings.append((address, key_id))

    def open(self) -> DurableStore:
        """A fresh store object (a "cold" start: nothing carried over in memory)."""
        store = self._opener(self)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            if isinstance(store, SqliteStore | PostgresStore):
                store.close()


def memory_backend() -> Backend:
    state = MemoryStoreState(SECRET)
    return Backend("memory", lambda b: MemoryStore(state, ring=b.ring))


def sqlite_backend(path: Path) -> Backend:
    return Backend("sqlite", lambda b: SqliteStore(path, ring=b.ring))


def fresh_schema() -> str:
    """A new schema name (each test's Postgres store starts empty)."""
    return f"t_{secrets.token_hex(6)}"


def postgres_backend(dsn: str) -> Backend:
    schema = fresh_schema()
    return Backend("postgres", lambda b: PostgresStore(dsn, schema=schema, ring=b.ring))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        b = memory_backend()
    elif request.param == "sqlite":
        b = sqlite_backend(tmp_path / "lash.db")
    else:
        b = postgres_backend(request.getfixturevalue("postgres_dsn"))
    try:
        yield b
    finally:
        b.close()
