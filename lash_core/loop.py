"""The driver contract: what an event loop gives the core.

A driver (trio, asyncio, the simulator) supplies :class:`LoopPrimitives`: a level-triggered
:class:`WakeEvent`, a wait with an optional deadline, the clock, a checkpoint, task groups, a
way in from other threads and a wait for a readable file descriptor (a durable host's
doorbell). Everything above (the host, ``run_turn``, the process runner) awaits only these, so
no module of ``lash_core`` imports an event loop. :class:`CancelToken` is the explicit,
loop-independent cancellation request the core honours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar, TypeVarTuple, Unpack

__all__ = [
    "CancelToken",
    "LoopPrimitives",
    "TaskGroup",
    "TaskHandle",
    "WakeEvent",
    "wait_unless_cancelled",
]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


# -- cancellation ----------------------------------------------------------------------------


class CancelToken:
    """An explicit, level-triggered cancellation request.

    ``cancel()`` is idempotent and calls every subscriber once, synchronously. Call it from the
    event loop's thread (a driver's ``call_threadsafe`` gets you there from elsewhere).
    """

    __slots__ = ("_cancelled", "_next", "_subscribers")

    def __init__(self) -> None:
        self._cancelled = False
        self._next = 0
        self._subscribers: dict[int, Callable[[], None]] = {}

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        subscribers, self._subscribers = self._subscribers, {}
        for fn in subscribers.values():
            fn()

    def subscribe(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` on cancellation (at once if already cancelled); returns an unsubscribe."""
        if self._cancelled:
            fn()
            return _noop
        handle = self._next
        self._next = handle + 1
        subscribers = self._subscribers
        subscribers[handle] = fn

        def unsubscribe() -> None:
            subscribers.pop(handle, None)

        return unsubscribe


def _noop() -> None:
    return None


# -- the loop primitives a driver supplies ---------------------------------------------------


class WakeEvent(Protocol):
    """A level-triggered event: once set it stays set. ``set`` must not call back into the
    host (the registry sets events while it updates its state)."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class LoopPrimitives(Protocol):
    """What a driver gives the host: waiting, time and a way in from other threads.

    Optionally, a driver also gives ``new_waiter()``: a fresh
    :class:`~lash_core.promise.Waiter` that is its own :class:`WakeEvent` (the registry's
    ``park_waiter`` fills in its fields), which :meth:`wait_event` accepts. The host then parks
    one object per wait instead of a waiter holding a ``new_event()``.
    """

    def bind(self) -> None:
        """Attach to the loop running in this thread, if one is (a no-op otherwise and once
        attached). The host calls it once as it is constructed; a primitive that needs the
        running loop and is used before then binds on first use."""
        ...

    def new_event(self) -> WakeEvent:
        """A fresh, unset event."""
        ...

    def wait_event(self, event: WakeEvent, deadline: float | None) -> Awaitable[None]:
        """An awaitable that ends when ``event`` is set or ``deadline`` (on :meth:`now`'s clock)
        passes. (A plain method returning an awaitable, so a driver can hand back its event's
        own ``wait()`` without another coroutine frame. The host awaits it at once, in the task
        that called this, so a driver may register that task here.)

        Native cancellation of the caller propagates as the loop's own exception.
        """
        ...

    def now(self) -> float:
        """The loop's clock, in seconds (virtual under a virtual clock)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """A plain sleep (a checkpoint even for 0)."""
        ...

    async def checkpoint(self) -> None:
        """A cancellation and scheduling point."""
        ...

    def call_threadsafe(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop's thread from another thread and return its result."""
        ...

    async def wait_readable(self, fileno: int, deadline: float | None) -> bool:
        """Wait until the file descriptor ``fileno`` is readable (``True``) or ``deadline``
        (on :meth:`now`'s clock) passes (``False``). A durable host waits on its doorbell
        socket with it; it reads nothing. Native cancellation propagates.

        A driver that cannot wait on a file descriptor raises ``NotImplementedError`` with
        the code ``loop_wait_readable_unsupported`` in its message."""
        ...

    def open_task_group(self) -> AbstractAsyncContextManager[TaskGroup]:
        """A scope whose tasks all end before it exits (a trio nursery, an asyncio
        ``TaskGroup``). Native cancellation of the scope's owner cancels its tasks."""
        ...


class TaskHandle(Protocol):
    def cancel(self) -> object:
        """Cancel this task natively (it ends with the loop's cancellation)."""
        ...


class TaskGroup(Protocol):
    def start(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> TaskHandle:
        """Run ``fn()`` (an async function's coroutine) as a task of the group."""
        ...

    def start_soon(self, fn: Callable[[Unpack[Ts]], Coroutine[Any, Any, None]], *args: *Ts) -> None:
        """Run ``fn(*args)`` as a task of the group with no handle of its own: only
        :meth:`cancel_soon` cancels it natively (or the cancellation of the group's owner).
        Cheaper than :meth:`start` where a task can only be cancelled in a scope of its own
        (trio)."""
        ...

    def cancel_soon(self) -> None:
        """Cancel natively every task :meth:`start_soon` started that is still running, in the
        order they were started. A driver that cannot cancel them apart from the rest (trio)
        cancels the whole group with them (every task, and its owner's wait for them): call it
        only when the group's other tasks are ending too."""
        ...


async def wait_unless_cancelled(
    loop: LoopPrimitives, event: WakeEvent, deadline: float | None, cancel: CancelToken
) -> None:
    """Wait for ``event`` (until ``deadline``) unless ``cancel`` fires first: cancelling sets
    the event. Returns at once if ``cancel`` had already fired; the caller reads which it was."""
    unsubscribe = cancel.subscribe(event.set)
    try:
        if not cancel.cancelled:
            await loop.wait_event(event, deadline)
    finally:
        unsubscribe()
