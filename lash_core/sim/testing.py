"""The conformance-kit driver for the simulator: every scenario runs on a fresh
:class:`~lash_core.sim.loop.SimLoop` (virtual time, choices from a seed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from lash_core.sim.choices import SeededChoices
from lash_core.sim.host import SimHost
from lash_core.sim.loop import Cancelled, CancelScope, SimLoop, SimPrimitives, SimTask, join
from lash_core.testing.conformance import Harness, TaskResult

__all__ = ["SimDriver", "SimHarness"]

T = TypeVar("T")


class _Task(Generic[T]):
    def __init__(self, task: SimTask, scope: CancelScope, box: list[TaskResult[T]]) -> None:
        self._task = task
        self._scope = scope
        self._box = box

    def cancel(self) -> None:
        self._scope.cancel()

    async def join(self) -> TaskResult[T]:
        await join(self._task)
        return self._box[0]


class SimHarness:
    """:class:`lash_core.testing.conformance.Harness` for the simulator."""

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop
        self._primitives = SimPrimitives(loop)
        self._hosts = 0

    def new_host(self, secret: bytes | None = None, previous: Iterable[bytes] = ()) -> SimHost:
        self._hosts += 1
        return SimHost(self._loop, secret, previous, label=f"conformance-{self._hosts}")

    def now(self) -> float:
        return self._loop.now()

    async def sleep(self, seconds: float) -> None:
        await self._primitives.sleep(seconds)

    def spawn(self, fn: Callable[[], Awaitable[T]]) -> _Task[T]:
        box: list[TaskResult[T]] = []
        scope = CancelScope(self._loop)

        async def run() -> None:
            try:
                box.append(TaskResult(value=await fn()))
            except Cancelled:
                box.append(TaskResult(cancelled=True))
            except Exception as exc:
                box.append(TaskResult(error=exc))

        return _Task(self._loop.spawn(run(), [scope]), scope, box)

    async def in_thread(self, fn: Callable[[], T]) -> T:
        # The simulation has one thread; "another thread" runs at a scheduling point.
        await self._primitives.checkpoint()
        return fn()


class SimDriver:
    """Runs each scenario on a fresh simulated loop; ``seed`` chooses among same-instant
    tasks (``None``: first ready, first run)."""

    name = "sim"

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        choices = None if self.seed is None else SeededChoices(self.seed)
        loop = SimLoop(choices)
        harness = SimHarness(loop)

        async def main() -> None:
            await scenario(harness)

        loop.run(main())
