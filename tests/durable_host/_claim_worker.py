"""A worker sharing a Postgres schema's unfinished turns with others, for the claims test.

python -m tests.durable_host._claim_worker SCHEMA DSN LOG NAME

It claims unfinished turns one at a time (``PostgresStore.claim_turn``) and resumes each
(``resume_turn``) until none is left, then exits 0. Each turn: the model calls ``lookup`` and
``send_report`` (pending on the turn's report key: a webhook resolves it), then answers.

* every effect a handler runs appends ``replay_key attempt in_doubt`` to LOG (one line,
  written before the handler returns);
* ``parked SESSION`` is printed once a wait parked in the store, ``finished SESSION`` once a
  resumed turn returned;
* ``LASH_KILL_AT=N``: SIGKILL this process at the N-th call of the store's ``begin`` or
  ``complete`` (before the call when N is odd, after it when even);
* ``LASH_DRIVER``: ``trio`` (default) or ``asyncio``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any, Final

from lash_core.durable_host import DurableHost
from lash_core.effects import (
    EffectEnvelope,
    LlmCallCommand,
    LlmCallOutcome,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolSpec,
)
from lash_core.effects.tools import Duration, PendingCompletion, ToolLaunchPending
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.turn import TurnConfig, TurnHandlers, TurnMachine
from lash_postgres import PostgresStore
from tests.turn.world import answer, calls, done, user

TURN: Final = "t"
REPORT_CALL: Final = "c2"
CONFIG: Final = TurnConfig(
    model="scripted",
    system_prompt="You help.",
    tools=(
        ToolSpec("lookup", "Look something up.", {"type": "object"}),
        ToolSpec("send_report", "Send a report; confirmed later.", {"type": "object"}),
    ),
)


def new_machine(session_id: str) -> TurnMachine:
    return TurnMachine(
        CONFIG, session_id=session_id, turn_id=TURN, turn_index=0, messages=(user("go"),)
    )


def report_scope(session_id: str) -> tuple[TurnScope, ToolCompletion]:
    """The scope and wait the turn's report waits on (its webhook's key)."""
    return TurnScope(session_id, TURN), ToolCompletion(REPORT_CALL)


class KillingStore:
    """The store, killing its process at the N-th ``begin`` or ``complete``."""

    def __init__(self, store: PostgresStore, kill_at: int) -> None:
        self._store = store
        self._kill_at = kill_at
        self._calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._calls += 1
        if self._calls == self._kill_at and self._kill_at % 2 == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        result = fn(*args)
        if self._calls == self._kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def begin(self, *args: Any) -> Any:
        return self._call(self._store.begin, *args)

    def complete(self, *args: Any) -> Any:
        return self._call(self._store.complete, *args)

    def park(self, *args: Any) -> Any:
        result = self._store.park(*args)
        if result is None:
            print(f"parked {args[0].scope.session_id}", flush=True)
        return result


def handlers(host: DurableHost, log_path: str) -> TurnHandlers:
    def log(envelope: EffectEnvelope) -> None:
        attempt = host.effect_attempt(envelope)
        assert attempt is not None
        line = f"{envelope.replay_key} {attempt.attempt} {int(attempt.in_doubt)}\n"
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(line)

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        command = envelope.command
        assert isinstance(command, LlmCallCommand)
        log(envelope)
        if len(command.request.messages) == 1:
            return LlmCallOutcome(calls(("c1", "lookup"), ("c2", "send_report")), False)
        return LlmCallOutcome(answer("all done"), text_streamed=False)

    async def tool(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        log(envelope)
        if command.call.tool_name == "send_report":
            session_id = envelope.invocation.scope.session_id
            assert session_id is not None
            key = host.await_event_key(*report_scope(session_id))
            pending = PendingCompletion(deadline=Duration(600, 0))
            return ToolAttemptOutcome(ToolLaunchPending(key, pending, 0))
        return ToolAttemptOutcome(done(command.call.call_id, command.attempt))

    return TurnHandlers(model=model, tools=tool)


def main(argv: list[str]) -> int:
    schema, dsn, log_path, name = argv
    store = PostgresStore(dsn, schema=schema)
    wrapped: Any = KillingStore(store, int(os.environ.get("LASH_KILL_AT", "0")))
    driver = os.environ.get("LASH_DRIVER", "trio")
    # Only the driver this worker runs is imported (a restarted worker starts faster).
    if driver == "trio":
        import lash_trio as lash
    else:
        import lash_asyncio as lash  # type: ignore[no-redef]

    async def work() -> None:
        async with lash.open_durable_host(wrapped, owner=name, lease_ttl_ms=60_000) as host:
            loop = host.primitives
            scripted = handlers(host, log_path)
            while True:
                claim = store.claim_turn(host.owner, 60_000, host.now_ms())
                if claim is None:
                    if not store.unfinished_turns():
                        return
                    await loop.sleep(0.02)  # the rest are running elsewhere
                    continue
                ref, _ = claim
                await lash.resume_turn(host, ref.session_id, ref.turn_id, scripted)
                print(f"finished {ref.session_id}", flush=True)

    try:
        if driver == "trio":
            import trio

            trio.run(work)
        else:
            import asyncio

            asyncio.run(work())
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
