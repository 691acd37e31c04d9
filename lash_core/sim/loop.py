"""The simulator's event loop: coroutines stepped by hand on virtual time.

:class:`SimLoop` runs ``async def`` code without asyncio or trio: it calls ``coro.send(None)`` and
``coro.throw(exc)`` itself. The only things a simulated coroutine may await are the loop's own
traps (a checkpoint, a wait on an event with an optional deadline, a sleep, joining a task group
or a task), which :class:`SimPrimitives` hands out as the host's
:class:`~lash_core.loop.LoopPrimitives`.

The loop owns time and readiness. Time is virtual: it moves only when no task can run, straight to
the next deadline. Whenever several tasks are ready at the same instant, the loop's
:class:`~lash_core.sim.choices.ChoiceSource` chooses which runs next. Ready tasks are kept in a
list in the order they became ready, timers in a heap ordered by (deadline, insertion number), and
tasks in a dict in creation order: nothing depends on hashing, object ids or the wall clock, so
one source of choices gives one run.

Cancellation follows trio's model: cancel scopes, level-triggered. A task is cancelled while any
scope it runs in is cancelled; each trap it reaches then raises :class:`Cancelled` (a
``BaseException``, like ``trio.Cancelled`` and ``asyncio.CancelledError``), and a task blocked
in a trap is woken with it. A task group's children run in the scopes of the group's owner plus
the group's own scope plus one scope per task (what :meth:`TaskHandle.cancel` cancels); the group
waits for every child before its block exits, cancels them if the block fails, and raises the
children's failures as an exception group.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Final, TypeVar, TypeVarTuple, Unpack

from lash_core import codes
from lash_core.errors import LashError
from lash_core.loop import TaskGroup, WakeEvent
from lash_core.sim.choices import ChoiceSource

__all__ = ["DEFAULT_MAX_STEPS", "CancelScope", "Cancelled", "SimLoop", "SimPrimitives", "SimTask"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

DEFAULT_MAX_STEPS: Final = 2_000_000
"""How many task steps one :meth:`SimLoop.run` may take before it gives up (a livelock)."""


class Cancelled(BaseException):
    """Native cancellation inside the simulator (the loop's ``trio.Cancelled``)."""


class CancelScope:
    """A scope that can be cancelled; every task running in it is then cancelled."""

    __slots__ = ("_loop", "cancelled")

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._loop._scope_cancelled(self)


# -- traps: the only things a simulated coroutine awaits ------------------------------------


class _Trap:
    __slots__ = ()

    def __await__(self) -> Generator[_Trap, None, None]:
        yield self


class _Checkpoint(_Trap):
    __slots__ = ()


_CHECKPOINT: Final = _Checkpoint()


class _Park(_Trap):
    __slots__ = ("deadline", "event")

    def __init__(self, event: SimEvent, deadline: float | None) -> None:
        self.event = event
        self.deadline = deadline


class _Sleep(_Trap):
    __slots__ = ("deadline",)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline


class _JoinGroup(_Trap):
    __slots__ = ("group",)

    def __init__(self, group: _SimTaskGroup) -> None:
        self.group = group


class _JoinTask(_Trap):
    __slots__ = ("task",)

    def __init__(self, task: SimTask) -> None:
        self.task = task


class _Sleeping:
    __slots__ = ()


_SLEEPING: Final = _Sleeping()


class SimEvent:
    """A level-triggered event of the simulator (:class:`~lash_core.host.WakeEvent`)."""

    __slots__ = ("_flag", "_loop", "_waiters")

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop
        self._flag = False
        self._waiters: list[SimTask] = []

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            waiters, self._waiters = self._waiters, []
            wake = self._loop._wake
            for task in waiters:
                wake(task, None)

    def is_set(self) -> bool:
        return self._flag


class SimTask:
    """One coroutine run by the loop."""

    __slots__ = (
        "_coro",
        "_gen",
        "_pending",
        "blocker",
        "done",
        "error",
        "group",
        "joiners",
        "number",
        "result",
        "scopes",
        "shielded",
    )

    def __init__(
        self, number: int, coro: Coroutine[Any, Any, Any], scopes: list[CancelScope]
    ) -> None:
        self.number = number
        self._coro = coro
        self.scopes = scopes
        self._pending: BaseException | None = None
        self._gen = 0
        self.blocker: SimEvent | _SimTaskGroup | SimTask | _Sleeping | None = None
        self.shielded = False
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.joiners: list[SimTask] = []
        self.group: _SimTaskGroup | None = None

    @property
    def cancelled(self) -> bool:
        return any(scope.cancelled for scope in self.scopes)


class SimLoop:
    """A deterministic single-threaded loop on virtual time.

    ``choices`` picks among tasks ready at the same instant (``None``: first ready, first run).
    ``start`` is the clock's first reading, in seconds. ``max_steps`` bounds one :meth:`run`.
    """

    def __init__(
        self,
        choices: ChoiceSource | None = None,
        *,
        start: float = 0.0,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        self._choices = choices
        self._now = start
        self._ready: list[SimTask] = []
        self._timers: list[tuple[float, int, SimTask, int]] = []
        self._tasks: dict[int, SimTask] = {}
        self._next_task = 0
        self._next_timer = 0
        self._current: SimTask | None = None
        self._max_steps = max_steps
        self.steps = 0
        """Task steps taken so far."""

    # -- clock and tasks ---------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    @property
    def current(self) -> SimTask:
        """The task being stepped (``sim_outside_task`` outside one)."""
        task = self._current
        if task is None:
            raise LashError(codes.SIM_OUTSIDE_TASK, "this needs to run inside a simulated task")
        return task

    def spawn(
        self, coro: Coroutine[Any, Any, T], scopes: list[CancelScope] | None = None
    ) -> SimTask:
        """Start ``coro`` as a task, ready now, running in ``scopes`` (default: a new one)."""
        number = self._next_task
        self._next_task = number + 1
        task = SimTask(number, coro, scopes if scopes is not None else [CancelScope(self)])
        self._tasks[number] = task
        self._ready.append(task)
        return task

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` (and every task it starts) to the end; returns its value.

        Tasks still running when it ends are cancelled and run until they finish. Raises its
        exception, ``sim_deadlock`` if every task is blocked with no deadline ahead, or
        ``sim_step_limit`` after ``max_steps`` steps.
        """
        main = self.spawn(coro)
        try:
            self._drive(lambda: main.done)
            for task in list(self._tasks.values()):
                task.scopes[0].cancel()
            self._drive(lambda: not self._tasks)
        finally:
            self._abandon()
        if main.error is not None:
            raise main.error
        result: T = main.result
        return result

    def _abandon(self) -> None:
        """Close the coroutines of tasks a failed run leaves behind."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._ready.clear()
        self._timers.clear()
        for task in tasks:
            # A coroutine that awaits while being closed is dropped all the same.
            with contextlib.suppress(RuntimeError):
                task._coro.close()

    def _drive(self, finished: Callable[[], bool]) -> None:
        ready = self._ready
        timers = self._timers
        limit = self._max_steps
        while not finished():
            if ready:
                n = len(ready)
                if n == 1 or self._choices is None:
                    task = ready.pop(0)
                else:
                    task = ready.pop(self._choices.below(n))
                self.steps += 1
                if self.steps > limit:
                    raise LashError(
                        codes.SIM_STEP_LIMIT,
                        f"the simulation took more than {limit} steps (a livelock?)",
                    )
                self._step(task)
                continue
            # Timers of tasks woken some other way are stale: drop them, never jump to them.
            while timers and (timers[0][2]._gen != timers[0][3] or timers[0][2].blocker is None):
                heapq.heappop(timers)
            if not timers:
                blocked = sorted(self._tasks)
                raise LashError(
                    codes.SIM_DEADLOCK,
                    f"every task is blocked and no deadline is ahead (tasks {blocked} at "
                    f"t={self._now})",
                )
            deadline = timers[0][0]
            if deadline > self._now:
                self._now = deadline
            while timers and timers[0][0] <= deadline:
                _, _, task, gen = heapq.heappop(timers)
                if task._gen == gen and task.blocker is not None:
                    self._wake(task, None)

    # -- stepping ----------------------------------------------------------------------------

    def _step(self, task: SimTask) -> None:
        self._current = task
        try:
            pending = task._pending
            if pending is not None:
                task._pending = None
                trap = task._coro.throw(pending)
            else:
                trap = task._coro.send(None)
        except StopIteration as stop:
            self._finish(task, stop.value, None)
        except BaseException as exc:  # the task's outcome, kept for its joiners
            self._finish(task, None, exc)
        else:
            self._trap(task, trap)
        finally:
            self._current = None

    def _trap(self, task: SimTask, trap: object) -> None:
        if isinstance(trap, _JoinGroup):
            group = trap.group
            if group.all_done():
                self._ready.append(task)
            else:
                task.blocker = group
                task.shielded = True
                group.joiner = task
            return
        if task.cancelled:
            task._pending = Cancelled()
            self._ready.append(task)
            return
        if trap is _CHECKPOINT:
            self._ready.append(task)
        elif isinstance(trap, _Park):
            event = trap.event
            deadline = trap.deadline
            if event._flag or (deadline is not None and deadline <= self._now):
                self._ready.append(task)
                return
            event._waiters.append(task)
            task.blocker = event
            if deadline is not None:
                self._timer(task, deadline)
        elif isinstance(trap, _Sleep):
            task.blocker = _SLEEPING
            self._timer(task, trap.deadline)
        elif isinstance(trap, _JoinTask):
            target = trap.task
            if target.done:
                self._ready.append(task)
            else:
                task.blocker = target
                target.joiners.append(task)
        else:
            task._pending = LashError(
                codes.SIM_FOREIGN_AWAIT,
                f"a simulated task awaited {type(trap).__name__!r}, which is not the "
                "simulator's: await only the host's loop primitives (host.primitives)",
            )
            self._ready.append(task)

    def _timer(self, task: SimTask, deadline: float) -> None:
        self._next_timer += 1
        task._gen += 1
        heapq.heappush(self._timers, (deadline, self._next_timer, task, task._gen))

    def _wake(self, task: SimTask, exc: BaseException | None) -> None:
        """Make a blocked (or sleeping) task ready, optionally to receive ``exc``."""
        blocker = task.blocker
        if isinstance(blocker, SimEvent):
            waiters = blocker._waiters
            if task in waiters:
                waiters.remove(task)
        elif isinstance(blocker, SimTask) and task in blocker.joiners:
            blocker.joiners.remove(task)
        task.blocker = None
        task.shielded = False
        task._gen += 1
        if exc is not None:
            task._pending = exc
        self._ready.append(task)

    def _finish(self, task: SimTask, result: Any, error: BaseException | None) -> None:
        task.done = True
        task.result = result
        task.error = error
        del self._tasks[task.number]
        joiners, task.joiners = task.joiners, []
        for joiner in joiners:
            self._wake(joiner, None)
        group = task.group
        if group is not None:
            group.child_done()

    def _scope_cancelled(self, scope: CancelScope) -> None:
        for task in list(self._tasks.values()):
            if task.shielded:
                continue
            if task.blocker is not None and scope in task.scopes:
                self._wake(task, Cancelled())


class _SimTaskGroup:
    """A task group of the simulator (:class:`~lash_core.host.TaskGroup`)."""

    __slots__ = ("_loop", "_soon", "closed", "errors", "joiner", "outer", "remaining", "scope")

    def __init__(self, loop: SimLoop, outer: list[CancelScope]) -> None:
        self._loop = loop
        self.scope = CancelScope(loop)
        self.outer = outer
        self.remaining = 0
        self.closed = False
        self.errors: list[BaseException] = []
        self.joiner: SimTask | None = None
        self._soon: list[CancelScope] = []

    def start_soon(self, fn: Callable[[Unpack[Ts]], Awaitable[None]], *args: *Ts) -> None:
        self._soon.append(self.start(lambda: fn(*args)))

    def cancel_soon(self) -> None:
        soon, self._soon = self._soon, []
        for scope in soon:
            scope.cancel()

    def start(self, fn: Callable[[], Awaitable[None]]) -> CancelScope:
        if self.closed:
            # As trio's nurseries and asyncio's task groups do.
            raise RuntimeError("this task group has exited; it cannot start tasks")
        own = CancelScope(self._loop)
        task = self._loop.spawn(self._child(fn), [*self.outer, self.scope, own])
        task.group = self
        self.remaining += 1
        return own

    async def _child(self, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except Cancelled:
            return
        except BaseException as exc:  # a child's failure fails the group
            self.errors.append(exc)
            self.scope.cancel()

    def all_done(self) -> bool:
        return self.remaining == 0

    def child_done(self) -> None:
        self.remaining -= 1
        joiner = self.joiner
        if joiner is not None and self.remaining == 0:
            self.joiner = None
            self._loop._wake(joiner, None)


class _GroupScope:
    __slots__ = ("_group", "_loop", "_owner")

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop
        self._group: _SimTaskGroup | None = None
        self._owner: SimTask | None = None

    async def __aenter__(self) -> TaskGroup:
        owner = self._owner = self._loop.current
        group = self._group = _SimTaskGroup(self._loop, list(owner.scopes))
        owner.scopes.append(group.scope)
        return group

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        group = self._group
        owner = self._owner
        assert group is not None and owner is not None
        if exc is not None:
            group.scope.cancel()
        await _JoinGroup(group)
        group.closed = True
        owner.scopes.remove(group.scope)
        if group.errors:
            errors = list(group.errors)
            if exc is not None and not isinstance(exc, Cancelled):
                errors.insert(0, exc)
            raise BaseExceptionGroup("a simulated task group failed", errors)
        return False


class SimPrimitives:
    """:class:`~lash_core.loop.LoopPrimitives` for the simulator."""

    __slots__ = ("loop",)

    def __init__(self, loop: SimLoop) -> None:
        self.loop = loop

    def bind(self) -> None:
        """Bound from the start: the simulated loop is given."""
        return None

    def new_event(self) -> WakeEvent:
        return SimEvent(self.loop)

    def wait_event(self, event: WakeEvent, deadline: float | None) -> Awaitable[None]:
        assert isinstance(event, SimEvent)
        return _Park(event, deadline)

    def now(self) -> float:
        return self.loop._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await _CHECKPOINT
        else:
            await _Sleep(self.loop._now + seconds)

    async def checkpoint(self) -> None:
        await _CHECKPOINT

    def open_task_group(self) -> _GroupScope:
        return _GroupScope(self.loop)

    def call_threadsafe(self, fn: Callable[[], T]) -> T:
        # The simulation has one thread: whoever calls is already on the loop's thread.
        return fn()

    async def wait_readable(self, fileno: int, deadline: float | None) -> bool:
        """Not supported: the simulator does no I/O (a simulated durable host runs without a
        doorbell and relies on its safety net)."""
        raise NotImplementedError(
            f"{codes.LOOP_WAIT_READABLE_UNSUPPORTED}: the simulator cannot wait on a file "
            "descriptor; run a durable host in it without a doorbell"
        )


async def join(task: SimTask) -> None:
    """Wait until ``task`` has finished (cancellable)."""
    await _JoinTask(task)
