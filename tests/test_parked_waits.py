"""The drivers' parked waits (a waiter that is its own event): a cancel token that already
fired, and a resolve that lands between a wait's native cancellation and its task running
again, on trio and on asyncio."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio
import trio.testing

import lash_asyncio
import lash_trio
from lash_core import (
    CANCELLED,
    Accepted,
    AlreadyResolved,
    CancelToken,
    InlineHost,
    ToolCompletion,
    TurnScope,
    ok,
)

SCOPE = TurnScope("s", "t")


def _key(host: InlineHost, call_id: str = "c1") -> Any:
    return host.await_event_key(SCOPE, ToolCompletion(call_id))


def test_the_drivers_park_one_object_per_wait() -> None:
    async def trio_main() -> None:
        host = lash_trio.InlineEffectHost()
        key = _key(host)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(host.wait_for_event, key)
            await trio.testing.wait_all_tasks_blocked()
            waiter: Any = host.registry._shards["s"].entries[key.key_id].waiters
            assert waiter.event is waiter and not waiter.is_set()
            host.resolve_await_event(key, ok(1))
            assert waiter.is_set()

    async def asyncio_main() -> None:
        host = lash_asyncio.InlineEffectHost()
        key = _key(host)
        task = asyncio.create_task(host.wait_for_event(key))
        await asyncio.sleep(0)
        waiter: Any = host.registry._shards["s"].entries[key.key_id].waiters
        assert waiter.event is waiter and not waiter.is_set()
        host.resolve_await_event(key, ok(1))
        assert waiter.is_set()
        assert await task == ok(1)

    trio.run(trio_main)
    asyncio.run(asyncio_main())


def test_a_wait_whose_cancel_token_already_fired_writes_cancelled_on_both_drivers() -> None:
    async def wait(host: InlineHost) -> None:
        token = CancelToken()
        token.cancel()
        key = _key(host)
        assert await host.wait_for_event(key, cancel=token) == CANCELLED
        assert host.registry.parked_count == 0
        assert host.resolve_await_event(key, ok(1)) == AlreadyResolved(CANCELLED)

    async def trio_main() -> None:
        await wait(lash_trio.InlineEffectHost())

    async def asyncio_main() -> None:
        await wait(lash_asyncio.InlineEffectHost())

    trio.run(trio_main)
    asyncio.run(asyncio_main())


def test_asyncio_a_resolve_after_a_waits_cancellation_before_its_task_runs_wins() -> None:
    """The wait's future is cancelled with its task; a resolve in the same step sets a
    cancelled future (which asyncio refuses, and the waiter ignores) and wins: the wait's
    cancellation propagates, and the key keeps the resolution."""

    async def main() -> None:
        host = lash_asyncio.InlineEffectHost()
        key = _key(host)
        task = asyncio.create_task(host.wait_for_event(key))
        await asyncio.sleep(0)
        assert host.registry.parked_count == 1
        task.cancel()
        assert host.resolve_await_event(key, ok(1)) == Accepted()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert host.registry.parked_count == 0
        assert host.peek_await_event(key) == ok(1)

    asyncio.run(main())


def test_trio_a_resolve_after_a_waits_cancellation_before_its_task_runs_wins() -> None:
    """Cancelling the scope aborts the wait at once (its task is forgotten); a resolve in the
    same step finds the waiter still parked, wins, and does not reschedule the task again."""

    async def main() -> None:
        host = lash_trio.InlineEffectHost()
        key = _key(host)
        ended: list[str] = []

        async def waiter(scope: trio.CancelScope) -> None:
            with scope:
                await host.wait_for_event(key)
            ended.append("cancelled" if scope.cancelled_caught else "woken")

        scope = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter, scope)
            await trio.testing.wait_all_tasks_blocked()
            assert host.registry.parked_count == 1
            scope.cancel()
            assert host.resolve_await_event(key, ok(1)) == Accepted()
        assert ended == ["cancelled"]
        assert host.registry.parked_count == 0
        assert host.peek_await_event(key) == ok(1)

    trio.run(main)


def test_the_trio_driver_falls_back_to_the_public_current_task() -> None:
    """Should trio move its private run context, the driver reads the current task through
    ``trio.lowlevel.current_task`` instead, failing outside trio the same way."""
    from lash_trio._host import _PublicRunContext

    context = _PublicRunContext()
    with pytest.raises(AttributeError):
        _ = context.task

    async def main() -> bool:
        return context.task is trio.lowlevel.current_task()

    assert trio.run(main)
