"""The asyncio driver: asyncio's events, clock, cancellation and thread entry, bound to the core
host."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from lash_core.host import InlineHost
from lash_core.loop import TaskGroup, TaskHandle, WakeEvent
from lash_core.process.service import ProcessService

__all__ = ["AsyncioPrimitives", "InlineEffectHost"]

T = TypeVar("T")


class _Wake(asyncio.Future[None]):
    """A level-triggered event for exactly one waiting task (a parked waiter has one task).

    Lighter than ``asyncio.Event``: it is itself the future its task awaits, resolved on
    ``set``. Its wait is awaited once; if that wait is cancelled the event is finished, and a
    later ``set`` does nothing.
    """

    __slots__ = ()

    def set(self) -> None:
        if not self.done():
            self.set_result(None)

    def is_set(self) -> bool:
        return self.done() and not self.cancelled()


class _AsyncioTaskGroup:
    __slots__ = ("_group",)

    def __init__(self, group: asyncio.TaskGroup) -> None:
        self._group = group

    def start(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> TaskHandle:
        return self._group.create_task(fn())


class AsyncioPrimitives:
    """:class:`lash_core.host.LoopPrimitives` for asyncio (the running loop's clock, so
    :mod:`lash_asyncio.clock` gives virtual time)."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def bind(self) -> None:
        with contextlib.suppress(RuntimeError):  # outside a running loop: bound on first use
            self._bind()

    def new_event(self) -> WakeEvent:
        return _Wake(loop=self._loop or self._bind())

    def wait_event(self, event: WakeEvent, deadline: float | None) -> Awaitable[None]:
        if deadline is None:
            return event  # type: ignore[return-value]
        return self._wait_until(event, deadline)  # type: ignore[arg-type]

    async def _wait_until(self, event: _Wake, deadline: float) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                await event
        except TimeoutError:
            pass

    def now(self) -> float:
        return self._bind().time()

    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        # asyncio's own coroutine, handed back: no frame of ours in the sleeping task's stack.
        return asyncio.sleep(seconds)

    async def checkpoint(self) -> None:
        # asyncio does not yield when what is awaited is already done (a set Event, a finished
        # Future); neither does lash.
        return None

    @contextlib.asynccontextmanager
    async def open_task_group(self) -> AsyncIterator[TaskGroup]:
        async with asyncio.TaskGroup() as group:
            yield _AsyncioTaskGroup(group)

    async def wait_readable(self, fileno: int, deadline: float | None) -> bool:
        loop = self._bind()
        ready: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fileno, on_readable)
        try:
            async with asyncio.timeout_at(deadline):
                await ready
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fileno)
        return True

    def call_threadsafe(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                "this host has not run inside an event loop yet; call resolve_threadsafe after "
                "the host has been used in the loop (or construct it inside the loop)"
            )
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result()


_fresh_secret = functools.partial(secrets.token_bytes, 32)
"""The default signing secret of a host: 32 fresh random bytes."""


class InlineEffectHost(InlineHost):
    """An inline effect host for asyncio.

    It owns its await-event registry and signs keys with ``secret`` (default: 32 fresh random
    bytes) while still accepting keys signed with the ``previous`` secrets. Waits honour task
    cancellation, the explicit ``cancel`` token and deadlines on the loop's clock.
    """

    def __init__(
        self,
        secret: bytes | None = None,
        previous: Iterable[bytes] = (),
        *,
        allow_process_lifetime_completion_keys: bool = False,
    ) -> None:
        super().__init__(
            AsyncioPrimitives(),
            secret,
            previous,
            secret_source=_fresh_secret,
            processes=ProcessService,
            allow_process_lifetime_completion_keys=allow_process_lifetime_completion_keys,
        )
