"""The simulated loop: virtual time, seeded interleavings, trio-style cancellation, task groups,
and generated schedules checked against the conformance kit's model."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lash_core import LashError, codes
from lash_core.sim import Cancelled, SeededChoices, SimHost, SimLoop, SimPrimitives
from lash_core.sim.testing import SimDriver
from lash_core.testing.conformance import Schedule, check_schedule, schedules


@settings(max_examples=60, deadline=None)
@given(schedules(), st.integers(0, 2**32))
def test_generated_schedules_match_the_model(schedule: Schedule, seed: int) -> None:
    check_schedule(SimDriver(seed), schedule)


def _interleaving(seed: int | None) -> list[str]:
    loop = SimLoop(None if seed is None else SeededChoices(seed))
    p = SimPrimitives(loop)
    log: list[str] = []

    async def worker(name: str) -> None:
        for i in range(3):
            log.append(f"{name}{i}@{p.now()}")
            await p.checkpoint()

    async def main() -> None:
        async with p.open_task_group() as group:
            for name in "abc":
                group.start(lambda name=name: worker(name))  # type: ignore[misc]

    loop.run(main())
    return log


def test_fifo_runs_ready_tasks_in_order() -> None:
    assert _interleaving(None) == [f"{n}{i}@0.0" for i in range(3) for n in "abc"]


def test_a_seed_fixes_the_interleaving_and_seeds_differ() -> None:
    runs = {seed: _interleaving(seed) for seed in range(20)}
    assert all(_interleaving(seed) == runs[seed] for seed in range(20))
    assert len({tuple(r) for r in runs.values()}) > 5
    # Every interleaving keeps each task's own order.
    for log in runs.values():
        for name in "abc":
            assert [e for e in log if e.startswith(name)] == [f"{name}{i}@0.0" for i in range(3)]


def test_time_jumps_to_the_next_deadline() -> None:
    loop = SimLoop()
    p = SimPrimitives(loop)
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await p.sleep(seconds)
        seen.append((name, p.now()))

    async def main() -> float:
        async with p.open_task_group() as group:
            group.start(lambda: sleeper("late", 5.0))
            group.start(lambda: sleeper("early", 1.5))
            event = p.new_event()
            await p.wait_event(event, p.now() + 3.0)  # times out: nobody sets it
            seen.append(("deadline", p.now()))
        return p.now()

    assert loop.run(main()) == 5.0
    assert seen == [("early", 1.5), ("deadline", 3.0), ("late", 5.0)]


def test_cancelling_a_task_wakes_it_with_cancelled_and_the_group_absorbs_it() -> None:
    loop = SimLoop()
    p = SimPrimitives(loop)
    log: list[str] = []

    async def parked() -> None:
        try:
            await p.wait_event(p.new_event(), None)
        except Cancelled:
            log.append(f"cancelled@{p.now()}")
            raise

    async def main() -> None:
        async with p.open_task_group() as group:
            handle = group.start(parked)
            await p.sleep(2.0)
            handle.cancel()
        log.append("group exited")

    loop.run(main())
    assert log == ["cancelled@2.0", "group exited"]


def test_a_failing_child_cancels_its_siblings_and_the_owner() -> None:
    loop = SimLoop()
    p = SimPrimitives(loop)
    log: list[str] = []

    async def fails() -> None:
        await p.sleep(1.0)
        raise ValueError("boom")

    async def sibling() -> None:
        try:
            await p.sleep(10.0)
        except Cancelled:
            log.append(f"sibling cancelled@{p.now()}")
            raise

    async def main() -> None:
        async with p.open_task_group() as group:
            group.start(fails)
            group.start(sibling)
            try:
                await p.sleep(10.0)
            except Cancelled:
                log.append(f"owner cancelled@{p.now()}")
                raise

    with pytest.raises(ExceptionGroup) as info:
        loop.run(main())
    assert [type(e) for e in info.value.exceptions] == [ValueError]
    assert sorted(log) == ["owner cancelled@1.0", "sibling cancelled@1.0"]


def test_a_cancelled_owner_cancels_the_groups_children() -> None:
    loop = SimLoop()
    p = SimPrimitives(loop)
    log: list[str] = []

    async def child() -> None:
        try:
            await p.sleep(10.0)
        finally:
            log.append(f"child ended@{p.now()}")

    async def owner() -> None:
        async with p.open_task_group() as group:
            group.start(child)
            await p.sleep(10.0)

    async def main() -> None:
        async with p.open_task_group() as outer:
            handle = outer.start(owner)
            await p.sleep(3.0)
            handle.cancel()
        log.append(f"done@{p.now()}")

    loop.run(main())
    assert log == ["child ended@3.0", "done@3.0"]


def test_a_lost_wake_up_is_a_deadlock() -> None:
    loop = SimLoop()
    p = SimPrimitives(loop)

    async def main() -> None:
        await p.wait_event(p.new_event(), None)

    with pytest.raises(LashError) as info:
        loop.run(main())
    assert info.value.code == codes.SIM_DEADLOCK


def test_time_never_jumps_to_the_deadline_of_a_wait_that_already_ended() -> None:
    loop = SimLoop()
    p = SimPrimitives(loop)

    event = p.new_event()

    async def waiter() -> None:
        await p.wait_event(event, 100.0)

    async def main() -> None:
        async with p.open_task_group() as group:
            group.start(waiter)
            await p.sleep(1.0)
            event.set()
        await p.wait_event(p.new_event(), None)  # never set: a deadlock at t=1, not t=100

    with pytest.raises(LashError) as info:
        loop.run(main())
    assert info.value.code == codes.SIM_DEADLOCK
    assert "t=1.0" in info.value.message


def test_a_livelock_hits_the_step_limit() -> None:
    loop = SimLoop(max_steps=100)
    p = SimPrimitives(loop)

    async def main() -> None:
        while True:
            await p.checkpoint()

    with pytest.raises(LashError) as info:
        loop.run(main())
    assert info.value.code == codes.SIM_STEP_LIMIT


def test_awaiting_a_foreign_primitive_is_refused() -> None:
    loop = SimLoop()

    async def main() -> None:
        await asyncio.sleep(0)

    with pytest.raises(LashError) as info:
        loop.run(main())
    assert info.value.code == codes.SIM_FOREIGN_AWAIT


def test_opening_a_group_outside_a_task_is_refused() -> None:
    loop = SimLoop()
    group = SimPrimitives(loop).open_task_group()
    with pytest.raises(LashError) as info:
        group.__aenter__().send(None)
    assert info.value.code == codes.SIM_OUTSIDE_TASK


def test_hosts_with_different_labels_do_not_share_keys() -> None:
    from lash_core import ToolCompletion, TurnScope

    loop = SimLoop()
    scope, wait = TurnScope("s", "t"), ToolCompletion("c")
    a, b = SimHost(loop, label="a"), SimHost(loop, label="b")
    assert a.await_event_key(scope, wait) == SimHost(loop, label="a").await_event_key(scope, wait)
    assert a.await_event_key(scope, wait) != b.await_event_key(scope, wait)


def test_a_closed_group_starts_nothing() -> None:
    loop = SimLoop()
    p = SimPrimitives(loop)

    async def main() -> None:
        async with p.open_task_group() as group:
            pass
        group.start(p.checkpoint)

    with pytest.raises(RuntimeError, match="exited"):
        loop.run(main())
