"""A separate process acting on a store, for the cross-process tests. DB is a SQLite file, or
``pg:SCHEMA:DSN`` for a PostgresStore.

python -m tests.store._worker park DB BELL_DIR    mint + park a key, print it, wait on stdin
python -m tests.store._worker resolve DB KEY_JSON RESOLUTION_JSON   print the outcome JSON
python -m tests.store._worker peek DB KEY_JSON     print the terminal JSON (or null)
"""

from __future__ import annotations

import sys

from lash_core import AwaitEventKey, Resolution, TurnScope, from_json, ok, to_json
from lash_core.durable import durable_step_envelope
from lash_core.scope import Custom
from lash_core.store import DurableStore, Owner, Started
from lash_postgres import PostgresStore
from lash_sqlite import Doorbell, SqliteStore, new_owner


def open_store(spec: str) -> SqliteStore | PostgresStore:
    """The store ``spec`` names: ``pg:SCHEMA:DSN`` or a SQLite file's path."""
    if spec.startswith("pg:"):
        _, schema, dsn = spec.split(":", 2)
        return PostgresStore(dsn, schema=schema)
    return SqliteStore(spec)


def _race(store: DurableStore, count: int, index: str) -> int:
    lease = store.acquire(f"session-{index}", Owner(index), 600_000, 0)
    for i in range(count):
        key = store.mint(TurnScope("race", f"t{i}"), Custom("k"))
        outcome = store.resolve(key, ok(index))
        envelope = durable_step_envelope(f"session-{index}", f"step-{i}", i).canonical()
        assert isinstance(store.begin(lease, envelope, 1), Started)
        store.complete(lease, f"session-{index}:durable:step-{i}", str(i), 2)
        print(f"{i} {outcome.status}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    command, db = argv[0], argv[1]
    with open_store(db) as store:
        if command == "park":
            bell = store.open_doorbell() if isinstance(store, PostgresStore) else Doorbell(argv[2])
            key = store.mint(TurnScope("s1", "t1"), Custom("approval"))
            assert store.park(key, bell.address, deadline_ms=30_000) is None
            print(to_json(key), flush=True)
            sys.stdin.readline()  # killed here
            return 0
        if command == "hold":
            lease = store.acquire("held", new_owner("holder"), 600_000, 1_000)
            print(lease.fencing_token, flush=True)
            sys.stdin.readline()  # killed here
            return 0
        if command == "race":
            return _race(store, int(argv[2]), argv[3])
        key = from_json(argv[2], AwaitEventKey)
        if command == "resolve":
            resolution: Resolution = from_json(argv[3], Resolution)
            outcome = store.resolve(key, resolution)
            print(to_json(outcome), flush=True)
            return 0
        if command == "peek":
            terminal = store.peek(key)
            print("null" if terminal is None else to_json(terminal), flush=True)
            return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
