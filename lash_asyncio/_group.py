"""The asyncio driver's task group: ``asyncio.TaskGroup``'s semantics, cheaper per task.

:class:`AsyncioTaskGroup` behaves as ``asyncio.TaskGroup`` of the running Python does (the
``__aexit__`` below follows CPython's ``Lib/asyncio/taskgroups.py``, 3.11 to 3.13): the same
exceptions leave it (``KeyboardInterrupt`` and ``SystemExit`` as themselves, other failures in
a ``BaseExceptionGroup``), a child's failure cancels its siblings and the group's owner (which
``uncancel``\\ s its task as it exits), the owner's cancellation reaches every child, and exit
waits for every child.

What differs is the cost of a child that ends normally. ``asyncio.TaskGroup`` adds a done
callback to each task, which the loop schedules (``call_soon``) and runs as Python code one
iteration after the task ended. Here each task runs its coroutine inside a wrapper
(:meth:`AsyncioTaskGroup._run`) which, when the coroutine returns, forgets the task and wakes
the owner's exit itself: no callback, no extra loop work. Every other ending (an exception,
a cancellation) takes ``asyncio.TaskGroup``'s own path: the wrapper adds the done callback
(:meth:`AsyncioTaskGroup._on_task_done`) as the exception leaves it, so those endings are
handled exactly as the standard group handles them, and when.

A task cancelled before its first step never runs its wrapper (asyncio throws the
cancellation into the unstarted wrapper). Every cancellation the group makes (``_abort``,
``cancel_soon``, a :class:`_Handle`'s ``cancel``, the owner's cancellation while it waits)
therefore gives the task the done callback too (it does nothing for a task already seen), which
also closes the task's coroutine so a coroutine that never ran is not reported as never
awaited. A task cancelled before its first step by a third party holding its ``asyncio.Task``
(say from ``asyncio.all_tasks()``) is seen at the latest when the owner reaches the group's
exit, which gives every child still there the callback.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Final, TypeVarTuple, Unpack

from lash_core.loop import TaskHandle

__all__ = ["AsyncioTaskGroup"]

Ts = TypeVarTuple("Ts")

_PY313: Final = sys.version_info >= (3, 13)
"""CPython 3.13 moved the owner's ``uncancel`` after the wait for the children, treats
subclasses of ``CancelledError`` as cancellations and closes a coroutine it refuses."""

_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError
_Task = asyncio.Task[None]
_Coro = Coroutine[Any, Any, None]


_PRUNE_KEPT: Final = 64
"""The set of tasks ``cancel_soon`` leaves be is pruned of finished ones when its size is a
multiple of this (a power of two)."""


class _Handle:
    """What :meth:`AsyncioTaskGroup.start` returns: cancels its task."""

    __slots__ = ("_coro", "_group", "_task")

    def __init__(self, group: AsyncioTaskGroup, coro: _Coro, task: _Task) -> None:
        self._group = group
        self._coro = coro
        self._task = task

    def cancel(self) -> bool:
        task = self._task
        cancelled = task.cancel()
        self._group._watch(self._coro, task)
        return cancelled


class AsyncioTaskGroup:
    """A task group with ``asyncio.TaskGroup``'s semantics (see the module), and
    :class:`~lash_core.loop.TaskGroup`'s ``start`` / ``start_soon`` / ``cancel_soon``.

    ``bind`` (if given) is called as the group is entered and returns the running loop."""

    __slots__ = (
        "_aborting",
        "_accepting",
        "_base_error",
        "_bind",
        "_entered",
        "_errors",
        "_exiting",
        "_kept",
        "_loop",
        "_on_completed_fut",
        "_parent_cancel_requested",
        "_parent_task",
        "_tasks",
    )

    def __init__(self, bind: Callable[[], asyncio.AbstractEventLoop] | None = None) -> None:
        self._bind = bind
        self._entered = False
        self._exiting = False
        self._aborting = False
        self._accepting = False
        """Entered, not aborting, and not finished (exiting with no task left): a new task needs
        no further check."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._parent_task: asyncio.Task[Any] | None = None
        self._parent_cancel_requested = False
        self._tasks: dict[_Coro, _Task] = {}
        """The running tasks, in start order, by the coroutine each runs (which the task's
        wrapper has at hand, unlike its task)."""
        self._kept: set[_Coro] = set()
        """The coroutines of the tasks ``cancel_soon`` leaves be: ``start``'s, and those it
        cancelled already."""
        self._errors: list[BaseException] | None = []
        self._base_error: BaseException | None = None
        self._on_completed_fut: asyncio.Future[bool] | None = None

    def __repr__(self) -> str:
        info = [""]
        if self._tasks:
            info.append(f"tasks={len(self._tasks)}")
        if self._errors:
            info.append(f"errors={len(self._errors)}")
        if self._aborting:
            info.append("cancelling")
        elif self._entered:
            info.append("entered")
        return f"<AsyncioTaskGroup{' '.join(info)}>"

    # -- entering and exiting ------------------------------------------------------------------

    async def __aenter__(self) -> AsyncioTaskGroup:
        bind = self._bind
        loop = asyncio.get_running_loop() if bind is None else bind()
        if self._entered:
            raise RuntimeError(f"TaskGroup {self!r} has been already entered")
        self._entered = True
        self._loop = loop
        self._parent_task = _current_task(loop)
        if self._parent_task is None:
            raise RuntimeError(f"TaskGroup {self!r} cannot determine the parent task")
        self._accepting = True
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exiting = True
        if not self._tasks:
            self._accepting = False  # finished (else it still takes tasks while it waits)
        parent = self._parent_task
        assert parent is not None and self._loop is not None
        if exc is not None and self._is_base_error(exc) and self._base_error is None:
            self._base_error = exc

        propagate_cancellation_error: BaseException | None
        if _PY313:
            if et is not None and issubclass(et, _CancelledError):
                propagate_cancellation_error = exc
            else:
                propagate_cancellation_error = None
        else:
            propagate_cancellation_error = exc if et is _CancelledError else None
            # If this flag is set we *must* call uncancel() (no cancellation left: none
            # propagates).
            if self._parent_cancel_requested and parent.uncancel() == 0:
                propagate_cancellation_error = None

        if et is not None and not self._aborting:
            # The owner is being cancelled, or its block raised: the children are cancelled.
            self._abort()

        # A child whose raw task someone else cancelled before its first step never ran its
        # wrapper, so only a done callback sees it end: each child still here gets one (a
        # child that returns still takes the wrapper's path; the callback then does nothing).
        for coro, task in list(self._tasks.items()):
            self._watch(coro, task)

        # A loop: the wait can be cancelled several times (the owner cancelled repeatedly).
        while self._tasks:
            if self._on_completed_fut is None:
                self._on_completed_fut = self._loop.create_future()
            try:
                await self._on_completed_fut
            except _CancelledError as ex:
                if not self._aborting:
                    # The owner was cancelled while its children run: they are cancelled.
                    propagate_cancellation_error = ex
                    self._abort()
                else:
                    # Whoever cancelled the owner may have cancelled children that never ran.
                    for coro, task in list(self._tasks.items()):
                        self._watch(coro, task)
            self._on_completed_fut = None

        assert not self._tasks
        self._accepting = False

        if _PY313 and self._parent_cancel_requested and parent.uncancel() == 0:
            propagate_cancellation_error = None

        if self._base_error is not None:
            raise self._base_error

        # A cancellation propagates unless there are other errors: those have priority.
        if _PY313:
            if propagate_cancellation_error is not None and not self._errors:
                raise propagate_cancellation_error
        elif propagate_cancellation_error and not self._errors:
            raise propagate_cancellation_error

        if et is not None and (
            not issubclass(et, _CancelledError) if _PY313 else et is not _CancelledError
        ):
            assert self._errors is not None and exc is not None
            self._errors.append(exc)

        if self._errors:
            if _PY313 and parent.cancelling():
                # Cancelled from outside the group too: keep its cancel count stable.
                parent.uncancel()
                parent.cancel()
            # Exceptions can hold cycles: the group keeps no reference to them.
            try:
                raise BaseExceptionGroup("unhandled errors in a TaskGroup", self._errors) from None
            finally:
                self._errors = None

    # -- starting tasks ------------------------------------------------------------------------

    def create_task(self, coro: _Coro) -> _Task:
        """Run ``coro`` as a task of the group (``asyncio.TaskGroup.create_task``)."""
        if not self._accepting:
            self._refuse(coro)
        assert self._loop is not None
        task = self._loop.create_task(self._run(coro))
        self._tasks[coro] = task
        if task.done():
            # It ran to its end as it was created (an eager task factory).
            self._on_task_done(coro, task)
        return task

    def start(self, fn: Callable[[], _Coro]) -> TaskHandle:
        coro = fn()
        task = self.create_task(coro)
        kept = self._kept
        if len(kept) >= _PRUNE_KEPT and len(kept) & (_PRUNE_KEPT - 1) == 0:
            self._prune_kept()
        kept.add(coro)
        return _Handle(self, coro, task)

    def start_soon(self, fn: Callable[[Unpack[Ts]], _Coro], *args: *Ts) -> None:
        coro = fn(*args)
        # `create_task(coro)`, inlined (one per effect of a batch).
        if not self._accepting:
            self._refuse(coro)
        loop = self._loop
        assert loop is not None
        task = loop.create_task(self._run(coro))
        self._tasks[coro] = task
        if task.done():
            self._on_task_done(coro, task)

    def cancel_soon(self) -> None:
        kept = self._kept
        for coro, task in list(self._tasks.items()):
            if coro not in kept:
                kept.add(coro)  # cancelled once: a later cancel_soon leaves it be
                task.cancel()
                self._watch(coro, task)
        self._prune_kept()

    def _prune_kept(self) -> None:
        """Forget the kept tasks that have ended (amortised O(1) in a long-lived group)."""
        tasks = self._tasks
        self._kept = {coro for coro in self._kept if coro in tasks}

    def _refuse(self, coro: _Coro) -> None:
        """Raise unless the group may start a task now (it may while it waits for others)."""
        message = None
        if not self._entered:
            message = f"TaskGroup {self!r} has not been entered"
        elif self._exiting and not self._tasks:
            message = f"TaskGroup {self!r} is finished"
        elif self._aborting:
            message = f"TaskGroup {self!r} is shutting down"
        if message is not None:
            if _PY313:
                coro.close()
            raise RuntimeError(message)

    async def _run(self, coro: _Coro) -> None:
        """A task's coroutine: ``coro``, then the group's bookkeeping if it returned."""
        try:
            await coro
        except BaseException:
            # Failed or cancelled: asyncio.TaskGroup's own done callback handles it. (Unless
            # this coroutine is being closed outside its task's step, by the garbage collector:
            # then its task never ends.)
            task = _current_task(self._loop)
            if task is not None and task.get_coro().cr_frame is sys._getframe():  # type: ignore[union-attr]
                task.add_done_callback(functools.partial(self._on_task_done, coro))
            raise
        # `_on_task_done` for a task that returned.
        tasks = self._tasks
        tasks.pop(coro, None)
        if not tasks:
            if self._exiting:
                self._accepting = False  # finished
            fut = self._on_completed_fut
            if fut is not None and not fut.done():
                fut.set_result(True)

    # -- cancelling and ending -----------------------------------------------------------------

    def _watch(self, coro: _Coro, task: _Task) -> None:
        """Give ``task`` the done callback its wrapper cannot add if it never runs (cancelled
        before its first step)."""
        task.add_done_callback(functools.partial(self._on_watched_done, coro))

    def _on_watched_done(self, coro: _Coro, task: _Task) -> None:
        # The task has ended, so its coroutine has too, or never began: then it was never
        # awaited, and closing it says so (no "never awaited" warning).
        coro.close()
        self._on_task_done(coro, task)

    @staticmethod
    def _is_base_error(exc: BaseException) -> bool:
        return isinstance(exc, SystemExit | KeyboardInterrupt)

    def _abort(self) -> None:
        self._aborting = True
        self._accepting = False
        for coro, task in list(self._tasks.items()):
            if not task.done():
                task.cancel()
            # Done already (cancelled before its first step by whoever cancels the owner?) or
            # not: the callback sees it end.
            self._watch(coro, task)

    def _on_task_done(self, coro: _Coro, task: _Task) -> None:
        """``asyncio.TaskGroup._on_task_done`` for ``task``, which runs ``coro`` (once per task,
        however often it is called)."""
        tasks = self._tasks
        if tasks.pop(coro, None) is None:
            return
        if self._exiting and not tasks:
            self._accepting = False  # finished

        fut = self._on_completed_fut
        if fut is not None and not tasks and not fut.done():
            fut.set_result(True)

        if task.cancelled():
            return

        exc = task.exception()
        if exc is None:
            return

        assert self._errors is not None
        self._errors.append(exc)
        if self._is_base_error(exc) and self._base_error is None:
            self._base_error = exc

        parent = self._parent_task
        assert parent is not None and self._loop is not None
        if parent.done():
            self._loop.call_exception_handler(
                {
                    "message": f"Task {task!r} has errored out but its parent task {parent} is "
                    "already completed",
                    "exception": exc,
                    "task": task,
                }
            )
            return

        if not self._aborting and not self._parent_cancel_requested:
            # The owner is not being cancelled: cancel what it runs now (its wait for the
            # group, or its block), and mark it not cancelled again as the group exits.
            self._abort()
            self._parent_cancel_requested = True
            parent.cancel()
