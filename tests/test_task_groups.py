"""The task groups of the three drivers: ``start_soon`` tasks have no handle, and
``cancel_soon`` cancels those still running (``run_turn`` runs each effect of a batch so).

Each scenario parks tasks on events that are never set, so only a cancellation ends them; the
scenario then checks which ended cancelled, which finished, and that the group exits cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trio

from lash_asyncio import AsyncioPrimitives
from lash_core.loop import LoopPrimitives
from lash_core.sim import SimLoop, SimPrimitives
from lash_trio import TrioPrimitives

Scenario = Callable[[LoopPrimitives], Coroutine[Any, Any, None]]


def _run(driver: str, scenario: Scenario) -> None:
    if driver == "trio":
        trio.run(scenario, TrioPrimitives())
    elif driver == "asyncio":
        asyncio.run(scenario(AsyncioPrimitives()))
    else:
        loop = SimLoop()
        loop.run(scenario(SimPrimitives(loop)))


DRIVERS = ("trio", "asyncio", "sim")


async def _park(loop: LoopPrimitives, name: str, log: list[str]) -> None:
    try:
        await loop.wait_event(loop.new_event(), None)
    except BaseException:
        log.append(f"{name} cancelled")
        raise
    log.append(f"{name} woke")  # pragma: no cover - nothing sets the event


async def _settle(loop: LoopPrimitives) -> None:
    """Let every started task run to its first wait."""
    for _ in range(5):
        await loop.sleep(0)


@pytest.mark.parametrize("driver", DRIVERS)
def test_cancel_soon_cancels_the_start_soon_tasks_still_running_in_start_order(
    driver: str,
) -> None:
    log: list[str] = []

    async def scenario(loop: LoopPrimitives) -> None:
        async with loop.open_task_group() as group:

            async def finished() -> None:
                log.append("done finished")

            group.start_soon(lambda: _park(loop, "a", log))
            group.start_soon(finished)
            group.start_soon(lambda: _park(loop, "b", log))
            await _settle(loop)
            group.cancel_soon()
        log.append("group exited")

    _run(driver, scenario)
    # trio cancels the nursery, whose tasks then run in trio's (randomised) order.
    cancelled = sorted(log[1:3]) if driver == "trio" else log[1:3]
    assert [log[0], *cancelled, *log[3:]] == [
        "done finished",
        "a cancelled",
        "b cancelled",
        "group exited",
    ]


@pytest.mark.parametrize("driver", ("asyncio", "sim"))
def test_cancel_soon_leaves_the_tasks_start_started(driver: str) -> None:
    """Where a driver can cancel tasks apart (asyncio, the simulator), a task ``start`` started
    runs on until its own handle cancels it."""
    log: list[str] = []

    async def scenario(loop: LoopPrimitives) -> None:
        async with loop.open_task_group() as group:
            handle = group.start(lambda: _park(loop, "kept", log))
            group.start_soon(lambda: _park(loop, "soon", log))
            await _settle(loop)
            group.cancel_soon()
            await _settle(loop)
            log.append("kept still parked")
            handle.cancel()
        log.append("group exited")

    _run(driver, scenario)
    assert log == ["soon cancelled", "kept still parked", "kept cancelled", "group exited"]


def test_trio_cancel_soon_cancels_the_whole_group_and_it_exits_cleanly() -> None:
    """trio's start_soon tasks have no cancel scope of their own: cancel_soon cancels the
    nursery, its other tasks too, and the nursery absorbs the cancellation."""
    log: list[str] = []

    async def scenario(loop: Any) -> None:
        async with loop.open_task_group() as group:
            group.start(lambda: _park(loop, "started", log))
            group.start_soon(lambda: _park(loop, "soon", log))
            await _settle(loop)
            group.cancel_soon()
        log.append("group exited")

    trio.run(scenario, TrioPrimitives())
    assert sorted(log[:2]) == ["soon cancelled", "started cancelled"]
    assert log[2:] == ["group exited"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_cancel_soon_from_inside_a_start_soon_task_cancels_that_task_too(driver: str) -> None:
    """As a handler that cancels its own turn does: its task is cancelled at its next wait, like
    the others."""
    log: list[str] = []

    async def scenario(loop: LoopPrimitives) -> None:
        async with loop.open_task_group() as group:

            async def ender() -> None:
                group.cancel_soon()
                try:
                    await loop.sleep(0)
                except BaseException:
                    log.append("ender cancelled")
                    raise
                log.append("ender finished")  # pragma: no cover - it is cancelled

            group.start_soon(_park, loop, "other", log)
            await _settle(loop)
            group.start_soon(ender)
        log.append("group exited")

    _run(driver, scenario)
    assert sorted(log[:2]) == ["ender cancelled", "other cancelled"]
    assert log[2:] == ["group exited"]


def test_asyncio_start_soon_forgets_finished_tasks_in_a_long_lived_group() -> None:
    """The group does not keep every finished start_soon task of a long turn."""
    kept: list[int] = []

    async def scenario(loop: LoopPrimitives) -> None:
        async with loop.open_task_group() as group:

            async def quick() -> None:
                return None

            for _ in range(1000):
                group.start_soon(quick)
                await asyncio.sleep(0)
            kept.append(len(group._tasks))  # type: ignore[attr-defined]

    _run("asyncio", scenario)
    assert kept[0] == 0
