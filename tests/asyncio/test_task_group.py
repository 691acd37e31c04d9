"""The asyncio driver's own task group behaves as ``asyncio.TaskGroup`` does.

Every scenario runs twice, once on ``asyncio.TaskGroup`` and once on
:class:`lash_asyncio._group.AsyncioTaskGroup`, and records what happened (a log, what left the
group and its shape, the owner's pending cancellations afterwards). Each test asserts the
expected record and that both groups produced the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Protocol

import pytest

from lash_asyncio._group import AsyncioTaskGroup


class _Cancellable(Protocol):
    def cancel(self) -> object: ...


class Impl:
    """One of the two groups: how to make one and start a task in it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def group(self) -> Any:
        return asyncio.TaskGroup() if self.name == "stdlib" else AsyncioTaskGroup()

    def spawn(self, group: Any, fn: Callable[[], Coroutine[Any, Any, None]]) -> _Cancellable:
        if self.name == "stdlib":
            return group.create_task(fn())  # type: ignore[no-any-return]
        return group.start(fn)  # type: ignore[no-any-return]


IMPLS = (Impl("stdlib"), Impl("lash"))

Shape = object
Scenario = Callable[[Impl, list[str]], Awaitable[None]]


def _shape(exc: BaseException | None) -> Shape:
    if exc is None:
        return None
    if isinstance(exc, BaseExceptionGroup):
        return (type(exc).__name__, str(exc), [_shape(e) for e in exc.exceptions])
    return type(exc).__name__


def _record(impl: Impl, scenario: Scenario, *, eager: bool = False) -> tuple[list[str], Shape, int]:
    log: list[str] = []
    left: list[Shape] = []
    cancelling: list[int] = []

    async def main() -> None:
        this = asyncio.current_task()
        assert this is not None
        try:
            await scenario(impl, log)
        except BaseException as exc:
            left.append(_shape(exc))
        cancelling.append(this.cancelling())

    async def outer() -> None:
        # The owner runs in a task of its own, so a scenario can cancel it from outside.
        task = asyncio.get_running_loop().create_task(main())
        for _ in range(_MAX_TICKS):
            if task.done():
                return
            await asyncio.sleep(0)
        log.append("hung")  # a group that never exits fails the scenario instead of the run
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if eager:  # Python 3.12+: tasks take their first step as they are created
            with asyncio.Runner(loop_factory=_eager_loop) as runner:
                runner.run(outer())
        else:
            asyncio.run(outer())
        gc.collect()
    log.extend(f"warning: {w.category.__name__}" for w in caught)
    return log, left[0] if left else None, cancelling[0]


_MAX_TICKS: Final = 10_000
"""Loop iterations a scenario may take (each takes a few dozen)."""


def _eager_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    return loop


def _both(scenario: Scenario, *, ordered: bool = True) -> tuple[list[str], Shape, int]:
    """The scenario's record, the same on both groups (its log sorted unless ``ordered``:
    the order in which a group cancels its children is unspecified)."""
    stdlib, lash = (_record(impl, scenario) for impl in IMPLS)
    if not ordered:
        stdlib, lash = ((sorted(r[0]), *r[1:]) for r in (stdlib, lash))
    assert lash == stdlib
    return lash


PY311_LEFTOVER: Final = 1 if sys.version_info < (3, 13) else 0
"""Before 3.13 a group whose child failed while its owner waited at exit takes back the
owner's cancellation before it makes it: one is left pending."""


async def _sleep_forever(name: str, log: list[str]) -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        log.append(f"{name} cancelled")
        raise


async def _ticks(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


# -- normal exit ---------------------------------------------------------------------------


def test_exit_waits_for_every_child() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def child(name: str, ticks: int) -> None:
            await _ticks(ticks)
            log.append(f"{name} done")

        async with impl.group() as group:
            impl.spawn(group, lambda: child("slow", 5))
            impl.spawn(group, lambda: child("quick", 1))
            log.append("block done")
        log.append("exited")

    assert _both(scenario) == (["block done", "quick done", "slow done", "exited"], None, 0)


def test_an_empty_group_exits_at_once_and_a_finished_group_takes_no_task() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        group = impl.group()
        async with group:
            pass
        log.append("exited")

        async def nothing() -> None:
            return None

        coro = nothing()
        try:
            group.create_task(coro)
        except RuntimeError as exc:
            log.append(str(exc).split(" ")[-1])
        finally:
            coro.close()

    assert _both(scenario) == (["exited", "finished"], None, 0)


def test_a_child_starts_another_while_the_owner_waits_at_exit() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def late() -> None:
            await _ticks(2)
            log.append("late done")

        async def starter(group: Any) -> None:
            await _ticks(2)
            impl.spawn(group, late)
            log.append("started late")

        async with impl.group() as group:
            impl.spawn(group, lambda: starter(group))
        log.append("exited")

    assert _both(scenario) == (["started late", "late done", "exited"], None, 0)


def test_a_group_takes_no_task_before_it_is_entered() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def nothing() -> None:
            return None

        coro = nothing()
        try:
            impl.group().create_task(coro)
        except RuntimeError as exc:
            log.append(" ".join(str(exc).split(" ")[-3:]))
        finally:
            coro.close()

    assert _both(scenario) == (["not been entered"], None, 0)


# -- a child's failure ---------------------------------------------------------------------


def test_a_child_error_cancels_its_siblings_and_the_block_and_leaves_in_a_group() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            await _ticks(2)
            raise ValueError("boom")

        async with impl.group() as group:
            impl.spawn(group, lambda: _sleep_forever("sibling", log))
            impl.spawn(group, fail)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                log.append("block cancelled")
                raise

    log, left, cancelling = _both(scenario)
    assert sorted(log) == ["block cancelled", "sibling cancelled"]
    assert left == (
        "ExceptionGroup",
        "unhandled errors in a TaskGroup (1 sub-exception)",
        ["ValueError"],
    )
    assert cancelling == 0


def test_a_child_error_while_the_owner_waits_at_exit_cancels_the_siblings() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            await _ticks(2)
            raise ValueError("boom")

        async with impl.group() as group:
            impl.spawn(group, lambda: _sleep_forever("sibling", log))
            impl.spawn(group, fail)

    log, left, cancelling = _both(scenario)
    assert log == ["sibling cancelled"]
    assert left == (
        "ExceptionGroup",
        "unhandled errors in a TaskGroup (1 sub-exception)",
        ["ValueError"],
    )
    assert cancelling == PY311_LEFTOVER


def test_errors_of_children_failing_together_all_leave() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail(exc: Exception) -> None:
            await asyncio.sleep(0)
            raise exc

        async with impl.group() as group:
            impl.spawn(group, lambda: fail(ValueError()))
            impl.spawn(group, lambda: fail(KeyError()))

    assert _both(scenario) == (
        [],
        (
            "ExceptionGroup",
            "unhandled errors in a TaskGroup (2 sub-exceptions)",
            ["ValueError", "KeyError"],
        ),
        PY311_LEFTOVER,
    )


def test_a_caught_child_error_leaves_the_owner_uncancelled() -> None:
    """The group cancelled its owner to stop the block, and takes that back as it exits: the
    owner goes on awaiting."""

    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            raise ValueError("boom")

        try:
            async with impl.group() as group:
                impl.spawn(group, fail)
                await asyncio.sleep(10)
        except* ValueError:
            log.append("caught")
        await asyncio.sleep(0)
        log.append("owner goes on")

    assert _both(scenario) == (["caught", "owner goes on"], None, 0)


def test_a_base_exception_of_a_child_leaves_in_a_base_exception_group() -> None:
    class Custom(BaseException):
        pass

    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            raise Custom()

        async with impl.group() as group:
            impl.spawn(group, fail)
            impl.spawn(group, lambda: _sleep_forever("sibling", log))

    log, left, _ = _both(scenario)
    assert log == ["sibling cancelled"]
    assert left == (
        "BaseExceptionGroup",
        "unhandled errors in a TaskGroup (1 sub-exception)",
        ["Custom"],
    )


def test_a_child_cancelling_itself_is_no_error_of_the_group() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def quits() -> None:
            raise asyncio.CancelledError()

        async def sibling() -> None:
            await _ticks(3)
            log.append("sibling done")

        async with impl.group() as group:
            impl.spawn(group, quits)
            impl.spawn(group, sibling)
        log.append("exited")

    assert _both(scenario) == (["sibling done", "exited"], None, 0)


def test_nested_groups_nest_their_exception_groups() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            raise ValueError()

        async with impl.group() as outer:
            impl.spawn(outer, lambda: _sleep_forever("outer child", log))
            async with impl.group() as inner:
                impl.spawn(inner, fail)
                impl.spawn(inner, lambda: _sleep_forever("inner child", log))

    log, left, cancelling = _both(scenario)
    assert sorted(log) == ["inner child cancelled", "outer child cancelled"]
    inner = ("ExceptionGroup", "unhandled errors in a TaskGroup (1 sub-exception)", ["ValueError"])
    assert left == ("ExceptionGroup", "unhandled errors in a TaskGroup (1 sub-exception)", [inner])
    assert cancelling == PY311_LEFTOVER


# -- the block's failure -------------------------------------------------------------------


def test_an_error_in_the_block_cancels_the_children_and_leaves_in_a_group() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async with impl.group() as group:
            impl.spawn(group, lambda: _sleep_forever("child", log))
            await asyncio.sleep(0)
            raise ValueError()

    log, left, _ = _both(scenario)
    assert log == ["child cancelled"]
    assert left == (
        "ExceptionGroup",
        "unhandled errors in a TaskGroup (1 sub-exception)",
        ["ValueError"],
    )


def test_keyboard_interrupt_in_the_block_leaves_as_itself() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async with impl.group() as group:
            impl.spawn(group, lambda: _sleep_forever("child", log))
            await asyncio.sleep(0)
            raise KeyboardInterrupt()

    assert _both(scenario) == (["child cancelled"], "KeyboardInterrupt", 0)


def test_a_child_error_and_a_block_error_both_leave() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            raise ValueError()

        async with impl.group() as group:
            impl.spawn(group, fail)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise KeyError() from None

    _, left, cancelling = _both(scenario)
    assert left == (
        "ExceptionGroup",
        "unhandled errors in a TaskGroup (2 sub-exceptions)",
        ["ValueError", "KeyError"],
    )
    assert cancelling == 0


# -- the owner's cancellation --------------------------------------------------------------


def _cancel_owner_after(ticks: int, times: int = 1) -> Callable[[], Coroutine[Any, Any, None]]:
    """A coroutine to run beside the owner: cancels the owner's task after ``ticks``."""
    owner = asyncio.current_task()
    assert owner is not None

    async def cancel() -> None:
        await _ticks(ticks)
        for _ in range(times):
            owner.cancel()

    return cancel


def test_the_owner_cancelled_in_the_block_cancels_the_children_and_propagates() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        canceller = asyncio.get_running_loop().create_task(_cancel_owner_after(2)())
        async with impl.group() as group:
            impl.spawn(group, lambda: _sleep_forever("child", log))
            await asyncio.Event().wait()
        await canceller

    assert _both(scenario) == (["child cancelled"], "CancelledError", 1)


def test_the_owner_cancelled_while_it_waits_at_exit_cancels_the_children() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        canceller = asyncio.get_running_loop().create_task(_cancel_owner_after(2, times=2)())
        async with impl.group() as group:
            impl.spawn(group, lambda: _sleep_forever("a", log))
            impl.spawn(group, lambda: _sleep_forever("b", log))
        await canceller

    log, left, cancelling = _both(scenario, ordered=False)
    assert sorted(log) == ["a cancelled", "b cancelled"]
    assert (left, cancelling) == ("CancelledError", 2)


def test_exit_waits_for_a_child_that_outlives_its_cancellation() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def stubborn() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                log.append("stubborn cancelled")
            await _ticks(3)
            log.append("stubborn done")

        canceller = asyncio.get_running_loop().create_task(_cancel_owner_after(2)())
        async with impl.group() as group:
            impl.spawn(group, stubborn)
        log.append("exited")  # pragma: no cover - the cancellation propagates
        await canceller

    assert _both(scenario) == (["stubborn cancelled", "stubborn done"], "CancelledError", 1)


def test_a_child_error_and_the_owners_own_cancellation_together() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            await _ticks(2)
            raise ValueError()

        canceller = asyncio.get_running_loop().create_task(_cancel_owner_after(2)())
        async with impl.group() as group:
            impl.spawn(group, fail)
            impl.spawn(group, lambda: _sleep_forever("child", log))
        await canceller

    # The error wins over the cancellation, which stays pending on the owner.
    assert _both(scenario) == (
        ["child cancelled"],
        ("ExceptionGroup", "unhandled errors in a TaskGroup (1 sub-exception)", ["ValueError"]),
        1,
    )


# -- cancelling children -------------------------------------------------------------------


def test_a_child_cancelled_before_its_first_step_never_runs_and_the_group_exits() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def child() -> None:
            log.append("child ran")  # pragma: no cover - cancelled first

        async with impl.group() as group:
            impl.spawn(group, child).cancel()
        log.append("exited")

    assert _both(scenario) == (["exited"], None, 0)


def test_a_child_task_cancelled_by_a_third_party_before_its_first_step_lets_it_exit() -> None:
    """The group's exit waited forever for a child whose raw task someone else (here from
    ``asyncio.all_tasks()``) cancelled before its first step while nothing cancelled the owner:
    the child's wrapper never ran, so nothing told the group it had ended."""

    async def scenario(impl: Impl, log: list[str]) -> None:
        async def child() -> None:
            log.append("child ran")  # pragma: no cover - cancelled first

        owner = asyncio.current_task()
        async with impl.group() as group:
            before = asyncio.all_tasks()
            impl.spawn(group, child)
            for task in asyncio.all_tasks() - before:
                if task is not owner:
                    task.cancel()
            await asyncio.sleep(0)  # the child's task ends, cancelled, before the owner exits
        log.append("exited")

    assert _both(scenario) == (["exited"], None, 0)


def test_a_child_task_cancelled_by_a_third_party_while_the_owner_waits_at_exit() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def child() -> None:
            log.append("child ran")  # pragma: no cover - cancelled first

        started: set[asyncio.Task[Any]] = set()

        def cancel_them() -> None:
            for task in started:
                task.cancel()
            log.append("cancelled it")

        owner = asyncio.current_task()
        async with impl.group() as group:
            # Queued before the child's first step, run once the owner waits at its exit.
            asyncio.get_running_loop().call_soon(cancel_them)
            before = asyncio.all_tasks()
            impl.spawn(group, child)
            started.update(asyncio.all_tasks() - before - {owner})
        log.append("exited")

    assert _both(scenario) == (["cancelled it", "exited"], None, 0)


def test_children_not_yet_started_are_cancelled_by_an_error_of_the_block() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def child(name: str) -> None:
            log.append(f"{name} ran")  # pragma: no cover - cancelled first

        async with impl.group() as group:
            impl.spawn(group, lambda: child("a"))
            impl.spawn(group, lambda: child("b"))
            raise KeyError()

    _, left, _ = _both(scenario)
    assert left == (
        "ExceptionGroup",
        "unhandled errors in a TaskGroup (1 sub-exception)",
        ["KeyError"],
    )


def test_children_not_yet_started_are_cancelled_with_the_owner() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def child(name: str) -> None:
            log.append(f"{name} ran")  # pragma: no cover - cancelled first

        async with impl.group() as group:
            impl.spawn(group, lambda: child("a"))
            impl.spawn(group, lambda: child("b"))
            raise asyncio.CancelledError()

    assert _both(scenario) == ([], "CancelledError", 0)


def test_a_child_cancelled_on_its_own_ends_without_the_others() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def other() -> None:
            await _ticks(4)
            log.append("other done")

        async with impl.group() as group:
            handle = impl.spawn(group, lambda: _sleep_forever("cancelled one", log))
            impl.spawn(group, other)
            await _ticks(2)
            handle.cancel()
        log.append("exited")

    assert _both(scenario) == (["cancelled one cancelled", "other done", "exited"], None, 0)


def test_a_group_shutting_down_takes_no_new_task() -> None:
    async def scenario(impl: Impl, log: list[str]) -> None:
        async def fail() -> None:
            raise ValueError()

        async def late() -> None:
            return None  # pragma: no cover - refused

        async with impl.group() as group:
            impl.spawn(group, fail)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                coro = late()
                try:
                    group.create_task(coro)
                except RuntimeError as exc:
                    log.append(" ".join(str(exc).split(" ")[-3:]))
                finally:
                    coro.close()
                raise

    assert _both(scenario) == (
        ["is shutting down"],
        ("ExceptionGroup", "unhandled errors in a TaskGroup (1 sub-exception)", ["ValueError"]),
        0,
    )


# -- KeyboardInterrupt and SystemExit of a child ---------------------------------------------

_CHILD_EXIT = """
import asyncio
from tests.asyncio.test_task_group import IMPLS

impl = IMPLS[{index}]

async def main():
    async def leave():
        raise {exc}

    async def sibling():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            print("sibling cancelled")
            raise

    async with impl.group() as group:
        impl.spawn(group, sibling)
        impl.spawn(group, leave)

try:
    asyncio.run(main())
except BaseException as exc:
    print("left:", type(exc).__name__)
"""


@pytest.mark.parametrize("exc", ["SystemExit(3)", "KeyboardInterrupt()"])
def test_system_exit_and_keyboard_interrupt_of_a_child_leave_as_themselves(exc: str) -> None:
    # In child interpreters: CPython 3.11's task step leaves the interpreter's recursion
    # counter off after either escapes a task (see tests/test_driver_exceptions.py).
    outputs = []
    for index in range(len(IMPLS)):
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_CHILD_EXIT.format(index=index, exc=exc))],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "never awaited" not in done.stderr
        # asyncio.run reports the owner's exception as never retrieved, with either group.
        outputs.append([*done.stdout.split("\n"), done.stderr.count("never retrieved")])
    assert outputs[0] == outputs[1]
    assert outputs[1][-3] == f"left: {exc.split('(')[0]}"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are Python 3.12+")
def test_with_eager_tasks_both_groups_record_the_same() -> None:
    """Under an eager task factory a task may end as it is created: the group accounts for it
    then, as asyncio.TaskGroup does."""

    async def scenario(impl: Impl, log: list[str]) -> None:
        async def quick(name: str) -> None:
            log.append(f"{name} ran")

        async def fail() -> None:
            raise ValueError()

        async with impl.group() as group:
            impl.spawn(group, lambda: quick("a"))
            impl.spawn(group, lambda: _sleep_forever("parked", log))
            impl.spawn(group, fail)
            impl.spawn(group, lambda: quick("refused"))

    stdlib, lash = (_record(impl, scenario, eager=True) for impl in IMPLS)
    assert lash == stdlib
    # The failure aborted the group as the task was created: the next spawn is refused.
    assert lash[0][:2] == ["a ran", "parked cancelled"]
    # Before 3.13 the refused coroutine is left unclosed: it is reported as never awaited.
    assert lash[0][2:] == ([] if sys.version_info >= (3, 13) else ["warning: RuntimeWarning"])
    assert lash[1] == (
        "ExceptionGroup",
        "unhandled errors in a TaskGroup (2 sub-exceptions)",
        ["ValueError", "RuntimeError"],
    )
