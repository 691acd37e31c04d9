"""The trio driver: trio's events, clock, cancellation and thread entry, bound to the core host."""

from __future__ import annotations

import contextlib
import functools
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, Final, TypeVar, TypeVarTuple, Unpack

import trio

from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError
from lash_core.host import InlineHost
from lash_core.loop import TaskGroup, TaskHandle, WakeEvent
from lash_core.process.service import ProcessService
from lash_core.promise import Waiter

__all__ = ["InlineEffectHost", "TrioPrimitives"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Looked up once: the wake path runs twice per resolve-to-wake round trip.
_checkpoint = trio.lowlevel.checkpoint


class _PublicRunContext:
    """Where trio keeps the current task, read through its public function: the fallback for
    a trio whose private run context moved (a frame more per parked wait)."""

    @property
    def task(self) -> trio.lowlevel.Task:
        try:
            return trio.lowlevel.current_task()
        except RuntimeError:
            raise AttributeError("task") from None  # outside trio, as the run context says


_RUN_CONTEXT: Any
try:  # trio's own record of the current task: one attribute read per parked wait
    from trio._core._run import GLOBAL_RUN_CONTEXT

    _RUN_CONTEXT = GLOBAL_RUN_CONTEXT
except ImportError:  # pragma: no cover (a trio that moved it)
    _RUN_CONTEXT = _PublicRunContext()

_current_trio_token = trio.lowlevel.current_trio_token
_wait_task_rescheduled = trio.lowlevel.wait_task_rescheduled
_ABORT_SUCCEEDED = trio.lowlevel.Abort.SUCCEEDED


class _Wake:
    """A level-triggered event for exactly one waiting task (a parked waiter has one task).

    Lighter than ``trio.Event``: no parking lot, just the waiting task rescheduled on ``set``.
    It is its own abort function, and :meth:`TrioPrimitives.wait_event` hands over trio's own
    ``wait_task_rescheduled``, so a wait adds no frame of ours to the waiting task's stack.
    """

    __slots__ = ("_flag", "_task")

    def __init__(self) -> None:
        self._flag = False
        self._task: trio.lowlevel.Task | None = None

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            task = self._task
            if task is not None:
                self._task = None
                task._runner.reschedule(task)  # `trio.lowlevel.reschedule`, without its frame

    def is_set(self) -> bool:
        return self._flag

    def __call__(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        """Abort the wait (cancellation): forget the task."""
        self._task = None
        return _ABORT_SUCCEEDED


class _Parked(Waiter[Any]):
    """A parked waiter that is its own event (one object per parked wait): made by
    :attr:`TrioPrimitives.new_waiter` for the registry, which fills in the waiter's fields and
    calls ``set`` when it wakes it.

    Made without an ``__init__``: ``_task`` is unset until its wait begins (the waiting task,
    ``None`` once the wait is aborted) or it is set (``_SET``). The host waits on it as soon as
    it is parked, so nothing sets it before its wait but a wake-up, which gives it its outcome
    first (a cancel token that already fired sets it, but then nobody waits).
    """

    __slots__ = ("_task",)

    _task: Any

    @property
    def event(self) -> _Parked:
        """The waiter's event: itself."""
        return self

    def set(self) -> None:
        try:
            task = self._task
        except AttributeError:  # set before its wait began
            self._task = _SET
            return
        if task is not _SET:
            self._task = _SET
            if task is not None:
                task._runner.reschedule(task)  # `trio.lowlevel.reschedule`, without its frame

    def is_set(self) -> bool:
        return getattr(self, "_task", None) is _SET

    def __call__(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        """Abort the wait (cancellation): forget the task."""
        self._task = None
        return _ABORT_SUCCEEDED


_SET: Final = object()
"""A :class:`_Parked`'s ``_task`` once it is set."""


class _TrioTask:
    __slots__ = ("scope",)

    def __init__(self) -> None:
        self.scope = trio.CancelScope()

    def cancel(self) -> None:
        self.scope.cancel()


class _TrioTaskGroup:
    __slots__ = ("_nursery",)

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    def start(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> TaskHandle:
        task = _TrioTask()

        async def run() -> None:
            with task.scope:
                await fn()

        self._nursery.start_soon(run)
        return task

    def start_soon(self, fn: Callable[[Unpack[Ts]], Coroutine[Any, Any, None]], *args: *Ts) -> None:
        # No cancel scope of its own (entering one costs more than a loop switch).
        self._nursery.start_soon(fn, *args)

    def cancel_soon(self) -> None:
        # Its tasks have no scope of their own: the nursery's cancels them all.
        self._nursery.cancel_scope.cancel()


def _first_exit(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The first ``KeyboardInterrupt`` or ``SystemExit`` in ``group`` (nested groups included)."""
    for exc in group.exceptions:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_exit(exc)
            if found is not None:
                return found
    return None


class TrioPrimitives:
    """:class:`lash_core.host.LoopPrimitives` for trio (any ``trio.abc.Clock``, so
    ``MockClock(autojump_threshold=0)`` gives virtual time)."""

    __slots__ = ("_runner", "_token")

    def __init__(self) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._runner: object = None
        """The run ``_token`` belongs to, as a wait sees it (its task's runner): a wait in the
        same run need not look the token up again."""

    def _bind(self) -> None:
        """Follow the current ``trio.run`` (a host used in a later run follows it there);
        ``host_wrong_event_loop`` outside trio."""
        try:
            self._token = _current_trio_token()
        except RuntimeError:
            raise LocalProtocolError(
                codes.HOST_WRONG_EVENT_LOOP,
                "lash_trio's InlineEffectHost must be used inside trio.run "
                "(under asyncio, use lash_asyncio.InlineEffectHost)",
            ) from None

    def bind(self) -> None:
        with contextlib.suppress(LashError):  # outside trio.run: bound on first use
            self._bind()

    new_event = _Wake
    new_waiter = functools.partial(object.__new__, _Parked)
    """A fresh :class:`_Parked` (without an ``__init__``: the registry fills in its fields)."""

    def wait_event(self, event: WakeEvent, deadline: float | None) -> Awaitable[None]:
        """Without a deadline, the calling task is registered with ``event`` at once and
        trio's own ``wait_task_rescheduled`` is returned: await it at once, in the same task
        (as the host does)."""
        # `current_task()`, read where trio keeps it (its own function is a frame more per
        # parked wait).
        try:
            task = _RUN_CONTEXT.task
        except AttributeError:
            self._bind()  # raises host_wrong_event_loop
            raise  # pragma: no cover (_bind raised)
        # `_bind()`, only when the run changed: every parked wait passes here.
        runner = task._runner
        if runner is not self._runner:
            self._token = _current_trio_token()
            self._runner = runner
        if deadline is not None:
            return self._wait_until(event, deadline)
        if type(event) is _Parked:
            # Fresh from park: only a wake-up (which gave it its outcome) can have set it.
            if event.outcome is not None:
                return _checkpoint()
            event._task = task
            return _wait_task_rescheduled(event)
        assert type(event) is _Wake
        if event._flag:
            return _checkpoint()
        event._task = task
        return _wait_task_rescheduled(event)

    async def _wait_until(self, event: WakeEvent, deadline: float) -> None:
        with trio.move_on_at(deadline):
            await self.wait_event(event, None)

    def now(self) -> float:
        self._bind()
        return trio.current_time()

    # trio's own coroutines, handed back: no frame of ours in the waiting task's stack.
    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        self._bind()
        return trio.sleep(seconds)

    def checkpoint(self) -> Coroutine[Any, Any, None]:
        self._bind()
        return _checkpoint()

    @contextlib.asynccontextmanager
    async def open_task_group(self) -> AsyncIterator[TaskGroup]:
        self._bind()
        try:
            async with trio.open_nursery() as nursery:
                yield _TrioTaskGroup(nursery)
        except BaseExceptionGroup as group:
            # As asyncio's TaskGroup does: KeyboardInterrupt and SystemExit leave the group as
            # themselves (the first one, if several tasks raised), so `sys.exit(3)` in a handler
            # still exits with status 3.
            exit_exc = _first_exit(group)
            if exit_exc is None:
                raise
            raise exit_exc from None

    async def wait_readable(self, fileno: int, deadline: float | None) -> bool:
        with trio.move_on_at(math.inf if deadline is None else deadline) as scope:
            await trio.lowlevel.wait_readable(fileno)
        return not scope.cancelled_caught

    def call_threadsafe(self, fn: Callable[[], T]) -> T:
        token = self._token
        try:
            here: trio.lowlevel.TrioToken | None = _current_trio_token()
        except RuntimeError:
            here = None
        if here is not None and (token is None or here is token):
            raise LocalProtocolError(
                codes.RESOLVE_THREADSAFE_ON_LOOP_THREAD,
                "resolve_threadsafe was called on trio's own thread, where it would wait for "
                "itself; call resolve_await_event there",
            )
        if token is None:
            raise LashError(
                codes.RESOLVE_THREADSAFE_LOOP_NOT_RUNNING,
                "this host has not run inside trio yet; call resolve_threadsafe after the host "
                "has been used in trio.run (or construct it inside trio.run)",
            )
        try:
            return trio.from_thread.run_sync(fn, trio_token=token)
        except trio.RunFinishedError:
            raise LashError(
                codes.RESOLVE_THREADSAFE_LOOP_NOT_RUNNING,
                "the trio.run this host was last used in has finished; nothing was resolved",
            ) from None


_fresh_secret = functools.partial(secrets.token_bytes, 32)
"""The default signing secret of a host: 32 fresh random bytes."""


class InlineEffectHost(InlineHost):
    """An inline effect host for trio.

    It owns its await-event registry and signs keys with ``secret`` (default: 32 fresh random
    bytes) while still accepting keys signed with the ``previous`` secrets. Waits honour trio
    cancel scopes, the explicit ``cancel`` token and deadlines on trio's clock.
    """

    def __init__(
        self,
        secret: bytes | None = None,
        previous: Iterable[bytes] = (),
        *,
        allow_process_lifetime_completion_keys: bool = False,
    ) -> None:
        super().__init__(
            TrioPrimitives(),
            secret,
            previous,
            secret_source=_fresh_secret,
            processes=ProcessService,
            allow_process_lifetime_completion_keys=allow_process_lifetime_completion_keys,
        )

    def _natively_cancelled(self) -> bool:
        # A cancelled scope around the current task makes its effective deadline -inf.
        return bool(trio.current_effective_deadline() == -math.inf)
