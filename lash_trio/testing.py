"""The conformance-kit driver for trio: scenarios run under ``MockClock(autojump_threshold=0)``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

import trio
import trio.testing

from lash_core.testing.conformance import Harness, TaskResult
from lash_trio._host import InlineEffectHost

__all__ = ["TrioDriver", "TrioHarness"]

T = TypeVar("T")


class _Task(Generic[T]):
    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.result: TaskResult[T] = TaskResult()

    def cancel(self) -> None:
        self.scope.cancel()

    async def join(self) -> TaskResult[T]:
        await self.done.wait()
        return self.result


class TrioHarness:
    """:class:`lash_core.testing.conformance.Harness` for trio."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    def new_host(
        self, secret: bytes | None = None, previous: Iterable[bytes] = ()
    ) -> InlineEffectHost:
        return InlineEffectHost(secret, previous)

    def now(self) -> float:
        return trio.current_time()

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    def spawn(self, fn: Callable[[], Awaitable[T]]) -> _Task[T]:
        task: _Task[T] = _Task()

        async def run() -> None:
            try:
                with task.scope:
                    task.result = TaskResult(value=await fn())
                if task.scope.cancelled_caught:
                    task.result = TaskResult(cancelled=True)
            except Exception as exc:
                task.result = TaskResult(error=exc)
            finally:
                task.done.set()

        self._nursery.start_soon(run)
        return task

    async def in_thread(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn)


class TrioDriver:
    """Runs each scenario in a fresh ``trio.run`` on virtual time."""

    name = "trio"

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await scenario(TrioHarness(nursery))
                nursery.cancel_scope.cancel()

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
