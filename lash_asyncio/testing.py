"""The conformance-kit driver for asyncio: scenarios run on :mod:`lash_asyncio.clock`'s
virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from lash_asyncio._host import InlineEffectHost
from lash_asyncio.clock import VirtualClock, run
from lash_core.testing.conformance import Harness, TaskResult

__all__ = ["AsyncioDriver", "AsyncioHarness"]

T = TypeVar("T")


class _Task(Generic[T]):
    def __init__(self, task: asyncio.Task[TaskResult[T]]) -> None:
        self._task = task

    def cancel(self) -> None:
        self._task.cancel()

    async def join(self) -> TaskResult[T]:
        return await asyncio.shield(self._task)


class AsyncioHarness:
    """:class:`lash_core.testing.conformance.Harness` for asyncio."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def new_host(
        self, secret: bytes | None = None, previous: Iterable[bytes] = ()
    ) -> InlineEffectHost:
        return InlineEffectHost(secret, previous)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def spawn(self, fn: Callable[[], Awaitable[T]]) -> _Task[T]:
        async def run_task() -> TaskResult[T]:
            try:
                return TaskResult(value=await fn())
            except asyncio.CancelledError:
                return TaskResult(cancelled=True)
            except Exception as exc:
                return TaskResult(error=exc)

        task = asyncio.get_running_loop().create_task(run_task())
        return _Task(task)

    async def in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)


class AsyncioDriver:
    """Runs each scenario in a fresh event loop on virtual time."""

    name = "asyncio"

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        async def main() -> None:
            await scenario(AsyncioHarness())

        run(main(), clock=VirtualClock())
