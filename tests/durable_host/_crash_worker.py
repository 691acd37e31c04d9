"""A process running the scripted durable turn on a store, for the crash tests (DB: a SQLite
file, or ``pg:SCHEMA:DSN`` for a PostgresStore).

python -m tests.durable_host._crash_worker run DB LOG      start the turn
python -m tests.durable_host._crash_worker resume DB LOG   resume it

Every effect a handler runs appends ``replay_key attempt in_doubt idempotency_key`` to LOG
(one line, written before the handler returns). The last line printed is the turn result's
canonical JSON, or ``refused CODE`` (exit status 3) when the session's lease is held.

Faults, from the environment:

* ``LASH_CRASH_AT=OP:WHEN:N``: SIGKILL this process at the N-th call (from 1) of the store's
  ``OP`` (``begin``, ``complete`` or ``park``), ``before`` or ``after`` it runs;
* ``LASH_PRINT_PARK=1``: print ``parked`` once a wait parked in the store;
* ``LASH_DRIVER``: ``trio`` (default) or ``asyncio``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import trio

import lash_asyncio
import lash_trio
from lash_core.effects import EffectEnvelope
from lash_core.errors import LashError
from lash_core.turn import TurnResult, run_turn
from lash_core.wire import canonical_json
from lash_postgres import PostgresStore
from lash_sqlite import SqliteStore
from tests.durable_host.support import SESSION, TURN, Counts, handlers, new_machine
from tests.store._worker import open_store


class FaultStore:
    """A store that kills its process at one boundary (everything else is the wrapped store's)."""

    def __init__(self, store: SqliteStore | PostgresStore, crash_at: str, print_park: bool) -> None:
        self._store = store
        op, when, nth = crash_at.split(":") if crash_at else ("", "", "0")
        self._op, self._when, self._nth = op, when, int(nth)
        self._calls: dict[str, int] = {}
        self._print_park = print_park

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _fault(self, op: str, when: str) -> None:
        if op == self._op and when == self._when and self._calls.get(op) == self._nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def _call(self, op: str, fn: Callable[..., Any], *args: Any) -> Any:
        self._calls[op] = self._calls.get(op, 0) + 1
        self._fault(op, "before")
        result = fn(*args)
        self._fault(op, "after")
        return result

    def begin(self, *args: Any) -> Any:
        return self._call("begin", self._store.begin, *args)

    def complete(self, *args: Any) -> Any:
        return self._call("complete", self._store.complete, *args)

    def park(self, *args: Any) -> Any:
        result = self._call("park", self._store.park, *args)
        if result is None and self._print_park:
            print("parked", flush=True)
        return result


def main(argv: list[str]) -> int:
    mode, db, log_path = argv
    store = open_store(db)
    faulty: Any = FaultStore(
        store, os.environ.get("LASH_CRASH_AT", ""), os.environ.get("LASH_PRINT_PARK") == "1"
    )
    driver = os.environ.get("LASH_DRIVER", "trio")
    lash = lash_trio if driver == "trio" else lash_asyncio

    async def turn() -> TurnResult:
        async with lash.open_durable_host(faulty, owner=f"worker-{os.getpid()}") as host:

            def log(envelope: EffectEnvelope) -> None:
                attempt = host.effect_attempt(envelope)
                assert attempt is not None
                line = (
                    f"{envelope.replay_key} {attempt.attempt} {int(attempt.in_doubt)} "
                    f"{attempt.idempotency_key}\n"
                )
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(line)

            scripted = handlers(host, Counts(), log=log)
            if mode == "run":
                return await run_turn(new_machine(), host, scripted)
            resumed: TurnResult = await lash.resume_turn(host, SESSION, TURN, scripted)
            return resumed

    try:
        result = trio.run(turn) if driver == "trio" else asyncio.run(turn())
    except LashError as exc:
        print(f"refused {exc.code}", flush=True)
        return 3
    finally:
        store.close()
    print(canonical_json(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
