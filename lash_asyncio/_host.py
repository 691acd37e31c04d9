"""The asyncio driver: asyncio's events, clock, cancellation and thread entry, bound to the core
host."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import secrets
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Final, Generic, TypeVar

from lash_asyncio._group import AsyncioTaskGroup
from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError
from lash_core.host import InlineHost
from lash_core.loop import TaskGroup, WakeEvent
from lash_core.process.service import ProcessService
from lash_core.promise import Waiter

__all__ = ["AsyncioPrimitives", "InlineEffectHost"]

T = TypeVar("T")

_get_running_loop = asyncio.events._get_running_loop
_Future = asyncio.Future


class _Wake:
    """A level-triggered event for exactly one waiting task (a parked waiter has one task).

    Lighter than ``asyncio.Event``: it holds the loop's own future (an exact
    ``asyncio.Future``, which a task awaits on asyncio's fast path, unlike a subclass),
    resolved on ``set``. Its wait is awaited once; if that wait is cancelled the future is
    finished, and a later ``set`` does nothing.
    """

    __slots__ = ("future",)

    future: asyncio.Future[None]

    def set(self) -> None:
        # Set already (several effects of a batch end in the same loop iteration, each setting
        # it), or its wait was cancelled: nothing to do. `done()` first, as raising and
        # catching InvalidStateError costs several times a done().
        future = self.future
        if not future.done():
            future.set_result(None)

    def is_set(self) -> bool:
        future = self.future
        return future.done() and not future.cancelled()


class _Parked(Waiter[Any]):
    """A parked waiter that is its own :class:`_Wake` (one object per parked wait): made by
    :meth:`AsyncioPrimitives.new_waiter` for the registry, which fills in the waiter's fields
    and calls ``set`` when it wakes it."""

    __slots__ = ("future",)

    future: asyncio.Future[None]

    @property
    def event(self) -> _Parked:
        """The waiter's event: itself."""
        return self

    def set(self) -> None:
        try:
            self.future.set_result(None)
        except asyncio.InvalidStateError:
            return  # set already, or its wait was cancelled (cheaper than a done() each time)

    def is_set(self) -> bool:
        future = self.future
        return future.done() and not future.cancelled()


_THREAD_POLL_S: Final = 0.1
"""How often a thread blocked in ``call_threadsafe`` checks that the loop has not closed."""


def _not_running(message: str) -> LashError:
    return LashError(codes.RESOLVE_THREADSAFE_LOOP_NOT_RUNNING, message)


class _ThreadCall(Generic[T]):
    """One call from another thread: run on the loop unless the caller gave up first."""

    __slots__ = ("_abandoned", "_fn", "_lock", "_started", "future")

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._started = False
        self._abandoned = False
        self.future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run(self) -> None:
        with self._lock:
            if self._abandoned:
                return
            self._started = True
        try:
            self.future.set_result(self._fn())
        except BaseException as exc:
            self.future.set_exception(exc)

    def abandon(self) -> bool:
        """Give up unless the call already started (then its result will come)."""
        with self._lock:
            if not self._started:
                self._abandoned = True
            return self._abandoned


class AsyncioPrimitives:
    """:class:`lash_core.host.LoopPrimitives` for asyncio (the running loop's clock, so
    :mod:`lash_asyncio.clock` gives virtual time).

    It follows the running loop: a host used in one ``asyncio.run`` and then in another uses
    each loop in turn (one loop at a time)."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> asyncio.AbstractEventLoop:
        """The running loop, remembered for ``call_threadsafe`` (``host_wrong_event_loop``
        outside one)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise LocalProtocolError(
                codes.HOST_WRONG_EVENT_LOOP,
                "lash_asyncio's InlineEffectHost must be used inside a running asyncio event "
                "loop (under trio, use lash_trio.InlineEffectHost)",
            ) from None
        self._loop = loop
        return loop

    def bind(self) -> None:
        with contextlib.suppress(LashError):  # outside a running loop: bound on first use
            self._bind()

    def new_event(self) -> WakeEvent:
        # `_bind()`, inlined: every parked wait makes an event.
        loop = _get_running_loop()
        if loop is None:
            loop = self._bind()  # raises host_wrong_event_loop
        self._loop = loop
        # `_Wake` and `loop.create_future()`, without their frames.
        event: _Wake = object.__new__(_Wake)
        event.future = _Future(loop=loop)
        return event

    def new_waiter(self) -> Waiter[Any]:
        """A parked waiter that is its own event (the registry fills in its fields)."""
        loop = _get_running_loop()
        if loop is None:
            loop = self._bind()  # raises host_wrong_event_loop
        self._loop = loop
        waiter: _Parked = object.__new__(_Parked)
        waiter.future = _Future(loop=loop)  # what loop.create_future() makes, without its frame
        return waiter

    def wait_event(self, event: WakeEvent, deadline: float | None) -> Awaitable[None]:
        if deadline is None:
            return event.future  # type: ignore[attr-defined,no-any-return]
        return self._wait_until(event.future, deadline)  # type: ignore[attr-defined]

    async def _wait_until(self, future: asyncio.Future[None], deadline: float) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                await future
        except TimeoutError:
            pass

    def now(self) -> float:
        # `_bind()`, inlined: the process service reads the clock on every write.
        loop = _get_running_loop()
        if loop is None:
            loop = self._bind()  # raises host_wrong_event_loop
        self._loop = loop
        return loop.time()

    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        self._bind()
        # asyncio's own coroutine, handed back: no frame of ours in the sleeping task's stack.
        return asyncio.sleep(seconds)

    async def checkpoint(self) -> None:
        # asyncio does not yield when what is awaited is already done (a set Event, a finished
        # Future); neither does lash.
        return None

    def open_task_group(self) -> contextlib.AbstractAsyncContextManager[TaskGroup]:
        return AsyncioTaskGroup(self._bind)

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
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is not None and (loop is None or here is loop):
            raise LocalProtocolError(
                codes.RESOLVE_THREADSAFE_ON_LOOP_THREAD,
                "resolve_threadsafe was called on the event loop's own thread, where it would "
                "wait for itself; call resolve_await_event there",
            )
        if loop is None:
            raise _not_running(
                "this host has not run inside an event loop yet; call resolve_threadsafe after "
                "the host has been used in the loop (or construct it inside the loop)"
            )
        call = _ThreadCall(fn)
        closed = "the event loop this host was last used in has closed; nothing was resolved"
        try:
            loop.call_soon_threadsafe(call.run)
        except RuntimeError:  # the loop is closed
            raise _not_running(closed) from None
        future = call.future
        while not future.done():
            # A loop that closes before running the call never will: check now and then.
            concurrent.futures.wait((future,), timeout=_THREAD_POLL_S)
            if not future.done() and loop.is_closed() and call.abandon():
                raise _not_running(closed)
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

    def _natively_cancelled(self) -> bool:
        # A task being cancelled counts its pending cancel requests (Python 3.11+).
        task = asyncio.current_task()
        return task is None or task.cancelling() > 0
