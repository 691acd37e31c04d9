"""The asyncio virtual clock: long deadlines finish at once, at exact virtual times.

No test sleeps in real time; ``time.perf_counter`` appears only as a guard that virtual waits
did not turn into real ones. Cross-thread tests sequence with ``threading.Event``.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lash_asyncio.clock import (
    VirtualClock,
    VirtualTimeEventLoop,
    _VirtualTimeSelector,
    new_event_loop,
    run,
)

# The loop treats a timer as due once it is within this of ``time()`` (public value; the
# loop's own copy is private).
RESOLUTION = time.get_clock_info("monotonic").resolution
REAL_GUARD = 1.0  # seconds of real time any single test may take

T = TypeVar("T")


class RecordingClock(VirtualClock):
    """A clock that records every autojump the loop makes."""

    def __init__(self, start: float = 0.0, *, autojump: bool = True) -> None:
        super().__init__(start, autojump=autojump)
        self.jumps: list[float] = []

    def _jump(self, timeout: float) -> None:
        self.jumps.append(timeout)
        super()._jump(timeout)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call ``fn``; return its result and the real seconds it took."""
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


async def spin(iterations: int = 5) -> None:
    """Give the loop a few full iterations without scheduling any timer."""
    for _ in range(iterations):
        await asyncio.sleep(0)


# --- the clock on its own -----------------------------------------------------------------


def test_clock_starts_where_told_and_advances_manually() -> None:
    clock = VirtualClock()
    assert clock.now() == 0.0
    assert clock.autojump is True
    clock.advance(1.5)
    clock.advance(0)
    assert clock.now() == 1.5
    assert VirtualClock(start=-7.25, autojump=False).now() == -7.25
    assert "1.5" in repr(clock)


@pytest.mark.parametrize("bad", [-1.0, -1e-12, math.inf, math.nan])
def test_advance_rejects_negative_and_non_finite(bad: float) -> None:
    clock = VirtualClock()
    with pytest.raises(ValueError):
        clock.advance(bad)
    assert clock.now() == 0.0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_start_must_be_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        VirtualClock(start=bad)


def test_loop_reads_the_clock() -> None:
    clock = VirtualClock(start=100.0)
    loop = new_event_loop(clock)
    try:
        assert isinstance(loop, VirtualTimeEventLoop)
        assert loop.clock is clock
        assert loop.time() == 100.0
        clock.advance(5)
        assert loop.time() == 105.0
    finally:
        loop.close()
    own = VirtualTimeEventLoop()
    try:
        assert own.clock.now() == 0.0
        assert own.clock.autojump
    finally:
        own.close()


# --- timers jump -------------------------------------------------------------------------


def test_hour_long_sleep_takes_no_real_time() -> None:
    clock = VirtualClock()

    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    result, elapsed = timed(lambda: run(main(), clock=clock))
    assert result == 3600.0
    assert clock.now() == 3600.0
    assert elapsed < REAL_GUARD


def test_wait_for_times_out_at_virtual_deadline() -> None:
    clock = VirtualClock()

    async def main() -> float:
        never = asyncio.Event()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never.wait(), timeout=7200)
        return asyncio.get_running_loop().time()

    result, elapsed = timed(lambda: run(main(), clock=clock))
    assert result == 7200.0
    assert clock.now() == 7200.0
    assert elapsed < REAL_GUARD


def test_wait_for_that_completes_in_time_leaves_no_jump_behind() -> None:
    clock = RecordingClock()

    async def main() -> str:
        async def slow() -> str:
            await asyncio.sleep(30)
            return "done"

        return await asyncio.wait_for(slow(), timeout=7200)

    assert run(main(), clock=clock) == "done"
    assert clock.now() == 30.0
    assert clock.jumps == [30.0]


def test_sleepers_wake_in_deadline_order_at_their_virtual_times() -> None:
    clock = VirtualClock(start=1000.0)
    delays = {"e": 5.0, "a": 1.0, "c": 3.0, "b": 2.5, "d": 4.0, "a2": 1.0}

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        woken: list[tuple[str, float]] = []

        async def sleeper(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            woken.append((name, loop.time()))

        async with asyncio.TaskGroup() as group:
            for name, delay in delays.items():
                group.create_task(sleeper(name, delay))
        return woken

    woken, elapsed = timed(lambda: run(main(), clock=clock))
    assert woken == [
        ("a", 1001.0),
        ("a2", 1001.0),
        ("b", 1002.5),
        ("c", 1003.0),
        ("d", 1004.0),
        ("e", 1005.0),
    ]
    assert clock.now() == 1005.0
    assert elapsed < REAL_GUARD


def test_call_later_and_call_at_fire_at_their_virtual_times() -> None:
    clock = RecordingClock(start=50.0)

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        finished = loop.create_future()

        def record(name: str) -> None:
            fired.append((name, loop.time()))

        loop.call_later(10, record, "later-10")
        loop.call_at(75.0, record, "at-75")
        loop.call_later(0.5, record, "later-0.5")
        cancelled = loop.call_later(20, record, "cancelled")
        cancelled.cancel()
        loop.call_at(3650.0, lambda: finished.set_result(None))
        await finished
        return fired

    assert run(main(), clock=clock) == [
        ("later-0.5", 50.5),
        ("later-10", 60.0),
        ("at-75", 75.0),
    ]
    assert clock.now() == 3650.0
    # One jump per live timer: the cancelled one never cost a jump.
    assert clock.jumps == [0.5, 9.5, 15.0, 3575.0]


def test_asyncio_timeout_context() -> None:
    clock = VirtualClock()

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        seen: list[float] = []
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.sleep(100)
        seen.append(loop.time())
        async with asyncio.timeout(30):  # does not expire
            await asyncio.sleep(10)
        seen.append(loop.time())
        with pytest.raises(TimeoutError):
            async with asyncio.timeout_at(loop.time() + 0.25):
                await asyncio.Event().wait()
        seen.append(loop.time())
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(None) as cm:  # rescheduled from inside
                cm.reschedule(loop.time() + 5)
                await asyncio.sleep(60)
        seen.append(loop.time())
        return seen

    assert run(main(), clock=clock) == [30.0, 40.0, 40.25, 45.25]
    assert clock.now() == 45.25


def test_far_deadline_goes_by_in_day_sized_jumps() -> None:
    # The loop caps one poll at a day, so ten days are ten jumps, landing exactly.
    clock = RecordingClock()

    async def main() -> None:
        await asyncio.sleep(10 * 86400 + 0.5)

    _, elapsed = timed(lambda: run(main(), clock=clock))
    assert clock.now() == 10 * 86400 + 0.5
    assert clock.jumps == [86400.0] * 10 + [0.5]
    assert elapsed < REAL_GUARD


# --- no jump while work is ready ----------------------------------------------------------


def test_event_set_by_another_task_wakes_waiter_without_time_passing() -> None:
    clock = RecordingClock()

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []
        event = asyncio.Event()

        async def waiter() -> None:
            await event.wait()
            log.append(("woken", loop.time()))

        async def setter() -> None:
            await spin(3)
            event.set()
            log.append(("set", loop.time()))

        async def far_sleeper() -> None:
            await asyncio.sleep(3600)  # a pending timer that must not be jumped to early
            log.append(("far", loop.time()))

        async with asyncio.TaskGroup() as group:
            group.create_task(far_sleeper())
            group.create_task(waiter())
            group.create_task(setter())
        return log

    assert run(main(), clock=clock) == [("set", 0.0), ("woken", 0.0), ("far", 3600.0)]
    assert clock.jumps == [3600.0]


def test_event_set_after_a_sleep_wakes_waiter_at_that_virtual_time() -> None:
    clock = VirtualClock()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        async def setter() -> None:
            await asyncio.sleep(5)
            event.set()

        task = asyncio.create_task(setter())
        await event.wait()
        await task
        return loop.time()

    assert run(main(), clock=clock) == 5.0


def test_ready_io_is_served_before_time_jumps() -> None:
    clock = RecordingClock()
    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        right.setblocking(False)

        async def main() -> list[tuple[bytes, float]]:
            loop = asyncio.get_running_loop()
            got: list[tuple[bytes, float]] = []
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(left, readable.set_result, None)
            right.send(b"now")  # readable before the loop idles, with a timer pending
            timer = loop.call_later(50, lambda: None)
            await readable
            loop.remove_reader(left)
            timer.cancel()
            got.append((left.recv(16), loop.time()))

            async def later_writer() -> None:
                await asyncio.sleep(100)
                await loop.sock_sendall(right, b"later")

            writer = asyncio.create_task(later_writer())
            got.append((await loop.sock_recv(left, 16), loop.time()))
            await writer
            return got

        assert run(main(), clock=clock) == [(b"now", 0.0), (b"later", 100.0)]
        assert clock.jumps == [100.0]
    finally:
        left.close()
        right.close()


# --- other threads ------------------------------------------------------------------------


def test_call_soon_threadsafe_wakes_a_loop_with_no_timers() -> None:
    clock = RecordingClock()
    loop_is_waiting = threading.Event()

    async def main() -> str:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()

        def worker() -> None:
            if loop_is_waiting.wait(timeout=10):  # a guard against hanging, not a sleep
                loop.call_soon_threadsafe(answer.set_result, "from thread")

        thread = threading.Thread(target=worker)
        thread.start()
        loop.call_soon(loop_is_waiting.set)  # runs once main is suspended on `answer`
        try:
            return await answer
        finally:
            thread.join(timeout=10)

    result, elapsed = timed(lambda: run(main(), clock=clock))
    assert result == "from thread"
    assert clock.now() == 0.0
    assert clock.jumps == []
    assert elapsed < REAL_GUARD


def test_run_in_executor_result_arrives_through_the_real_selector() -> None:
    clock = VirtualClock()
    executor = ThreadPoolExecutor(max_workers=1)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)
        return await loop.run_in_executor(None, sum, [1, 2, 3])

    assert run(main(), clock=clock) == 6
    assert clock.now() == 0.0
    # run() shut the default executor down.
    with pytest.raises(RuntimeError):
        executor.submit(int)


# --- manual mode --------------------------------------------------------------------------


def test_manual_mode_steps_time_with_advance_from_the_loop() -> None:
    clock = RecordingClock(autojump=False)

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        log: list[tuple[str, float]] = []

        async def sleeper(delay: float) -> None:
            await asyncio.sleep(delay)
            log.append((f"slept {delay}", loop.time()))

        short = asyncio.create_task(sleeper(10))
        long = asyncio.create_task(sleeper(25))
        await spin()  # both timers scheduled, nothing due: time stays put
        assert loop.time() == 0.0 and not short.done()
        clock.advance(4)
        await spin()
        assert not short.done()
        clock.advance(6)  # exactly at the first deadline
        await spin()
        assert short.done() and not long.done()
        loop.call_soon(clock.advance, 100)  # from a plain callback, overshooting
        await spin()
        assert long.done()
        log.append(("end", loop.time()))
        return log

    log, elapsed = timed(lambda: run(main(), clock=clock))
    assert log == [("slept 10", 10.0), ("slept 25", 110.0), ("end", 110.0)]
    assert clock.jumps == []
    assert elapsed < REAL_GUARD


def test_manual_mode_advance_from_a_thread_via_call_soon_threadsafe() -> None:
    # The loop is blocked on the real selector (a 3600 s virtual timer, no autojump); the
    # thread's advance wakes it and makes the timer due.
    clock = RecordingClock(autojump=False)
    loop_is_waiting = threading.Event()

    async def main() -> float:
        loop = asyncio.get_running_loop()

        def worker() -> None:
            if loop_is_waiting.wait(timeout=10):
                loop.call_soon_threadsafe(clock.advance, 3600)

        thread = threading.Thread(target=worker)
        thread.start()
        loop.call_soon(loop_is_waiting.set)
        try:
            await asyncio.sleep(3600)
        finally:
            thread.join(timeout=10)
        return loop.time()

    result, elapsed = timed(lambda: run(main(), clock=clock))
    assert result == 3600.0
    assert clock.jumps == []
    assert elapsed < REAL_GUARD


def test_autojump_can_be_switched_on_mid_run() -> None:
    clock = VirtualClock(autojump=False)

    async def main() -> float:
        clock.advance(1)
        clock.autojump = True
        await asyncio.sleep(99)
        return asyncio.get_running_loop().time()

    assert run(main(), clock=clock) == 100.0


# --- floating point -----------------------------------------------------------------------


def test_awkward_float_sums_land_exactly() -> None:
    clock = RecordingClock()

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        seen: list[float] = []
        await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        seen.append(loop.time())
        await asyncio.sleep(0.1 + 0.2)
        seen.append(loop.time())
        await asyncio.sleep(1e-9)
        seen.append(loop.time())
        return seen

    expected_first = 0.1 + 0.2  # 0.30000000000000004, not 0.3
    expected_second = expected_first + (0.1 + 0.2)
    assert run(main(), clock=clock) == [
        expected_first,
        expected_second,
        expected_second + 1e-9,
    ]
    assert len(clock.jumps) == 4  # one per sleep, never a corrective second jump


def test_many_nanosecond_sleeps_each_take_one_jump() -> None:
    clock = RecordingClock()

    async def main() -> float:
        for _ in range(1000):
            await asyncio.sleep(1e-9)
        return asyncio.get_running_loop().time()

    expected = 0.0
    for _ in range(1000):
        expected += 1e-9
    assert run(main(), clock=clock) == expected
    assert len(clock.jumps) == 1000


def test_sleep_below_the_time_resolution_at_large_times_does_not_jump() -> None:
    # At 2**40 s one ulp is ~0.24 ms: now + 1e-9 == now, so the timer is due at once; and a
    # jump that lands exactly on a deadline goes one ulp further, or the loop (which runs a
    # timer only once ``when < time() + resolution``) would never count it as due.
    start = float(2**40)
    clock = RecordingClock(start=start)

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(1e-9)
        seen = [loop.time()]
        await asyncio.sleep(1e-3)
        seen.append(loop.time())
        return seen

    assert run(main(), clock=clock) == [start, math.nextafter(start + 1e-3, math.inf)]
    assert len(clock.jumps) == 1


def test_year_long_sleep_crosses_the_precision_cliff() -> None:
    # Beyond 2**24 s adding the 1e-9 s resolution no longer changes a float.
    clock = VirtualClock()
    year = 365 * 86400.0

    async def main() -> None:
        await asyncio.sleep(year)

    _, elapsed = timed(lambda: run(main(), clock=clock))
    assert clock.now() == math.nextafter(year, math.inf)
    assert elapsed < REAL_GUARD


def test_timers_due_now_fire_at_large_times() -> None:
    start = 1e12
    clock = RecordingClock(start=start)

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        fired: list[str] = []
        done = loop.create_future()
        loop.call_later(0, fired.append, "later-0")
        loop.call_at(start, fired.append, "at-now")
        loop.call_at(start - 5, fired.append, "at-past")
        loop.call_later(1e-9, fired.append, "later-1e-9")
        loop.call_later(0, done.set_result, None)
        await done
        assert loop.time() == start
        return fired

    assert sorted(run(main(), clock=clock)) == ["at-now", "at-past", "later-0", "later-1e-9"]
    assert clock.jumps == []


def test_manual_advance_onto_a_deadline_at_large_times() -> None:
    start = float(2**30)
    clock = VirtualClock(start=start, autojump=False)

    async def main() -> bool:
        task = asyncio.create_task(asyncio.sleep(10))
        await spin()
        clock.advance(10)  # lands on the deadline exactly, then one ulp on
        await spin()
        return task.done()

    assert run(main(), clock=clock) is True
    assert clock.now() == math.nextafter(start + 10, math.inf)


AWKWARD_STARTS = [0.0, 0.1, 1 / 3, -5.5, 1e6 + 0.7, 2.0**22 + 0.3, 2.0**33 + 1 / 7, 1e12]
AWKWARD_DELAYS = [0.1, 0.2, 0.1 + 0.2, 1 / 3, 1e-9, 2.5e-9, 1e-7, 12345.6789, 86399.999999]


@pytest.mark.parametrize("start", AWKWARD_STARTS)
@pytest.mark.parametrize("delay", AWKWARD_DELAYS)
def test_one_jump_makes_the_next_timer_due(start: float, delay: float) -> None:
    check_single_timer(start, delay)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    start=st.floats(min_value=-1e9, max_value=1e13, allow_nan=False, allow_infinity=False),
    delay=st.floats(min_value=0.0, max_value=86400.0, allow_nan=False, allow_infinity=False),
)
def test_one_jump_makes_the_next_timer_due_for_any_values(start: float, delay: float) -> None:
    check_single_timer(start, delay)


def check_single_timer(start: float, delay: float) -> None:
    clock = RecordingClock(start=start)
    deadline = start + delay  # what call_later computes
    fired: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def fire() -> None:
            fired.append(loop.time())
            done.set_result(None)

        loop.call_later(delay, fire)
        await done

    run(main(), clock=clock)
    [at] = fired
    if deadline == start:
        assert at == start  # the delay vanished in rounding: due at once, no jump
        return
    assert at + RESOLUTION > deadline  # due by the loop's own rule
    if deadline + RESOLUTION > deadline:
        assert abs(at - deadline) <= 1e-10
    else:  # ~2**24 s and beyond: landed exactly, then one ulp on so that it counts as due
        assert at == math.nextafter(deadline, math.inf)
    # A positive poll timeout is always a jump, even a sub-resolution one; none when the
    # delay vanished in rounding (deadline == start) and the timer was due at once.
    assert len(clock.jumps) == (1 if deadline > start else 0)


def test_jump_always_moves_time_forward() -> None:
    # A timeout below half an ulp of the current time would be lost to rounding; the selector
    # still moves time by one ulp (cannot come from the loop, which gives whole ulps).
    clock = VirtualClock(start=1.0)
    selector = _VirtualTimeSelector(clock)
    try:
        assert selector.select(1e-30) == []
        assert clock.now() == math.nextafter(1.0, math.inf)
        assert selector.select(0) == []
        assert clock.now() == math.nextafter(1.0, math.inf)
    finally:
        selector.close()


def test_selector_returns_ready_io_without_jumping() -> None:
    clock = VirtualClock()
    selector = _VirtualTimeSelector(clock)
    left, right = socket.socketpair()
    try:
        key = selector.register(left, 1, "data")
        assert selector.get_key(left) is key
        assert left in selector.get_map()
        right.send(b"x")
        events = selector.select(3600)
        assert [(k.data, mask) for k, mask in events] == [("data", 1)]
        assert clock.now() == 0.0
        selector.modify(left, 1, "other")
        assert selector.get_key(left).data == "other"
        selector.unregister(left)
        assert selector.select(5) == []
        assert clock.now() == 5.0
    finally:
        selector.close()
        left.close()
        right.close()


# --- run() --------------------------------------------------------------------------------


def test_run_cleans_up_leftover_tasks_asyncgens_and_the_loop() -> None:
    clock = VirtualClock()
    log: list[str] = []
    seen_loop: list[asyncio.AbstractEventLoop] = []

    async def ticker() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            log.append("asyncgen finalized")

    async def leftover() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(5)  # cleanup may itself wait, in virtual time
            log.append("leftover cancelled")
            raise

    async def main() -> str:
        seen_loop.append(asyncio.get_running_loop())
        asyncio.create_task(leftover())  # noqa: RUF006 - left behind on purpose
        gen = ticker()
        assert await gen.__anext__() == 1  # left suspended, never closed
        await asyncio.sleep(0)
        return "result"

    assert run(main(), clock=clock) == "result"
    assert sorted(log) == ["asyncgen finalized", "leftover cancelled"]
    [loop] = seen_loop
    assert loop.is_closed()
    assert clock.now() == 5.0


def test_run_closes_the_loop_when_main_raises() -> None:
    seen_loop: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        seen_loop.append(asyncio.get_running_loop())
        await asyncio.sleep(10)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        run(main())
    assert seen_loop[0].is_closed()


def test_run_reports_leftover_tasks_that_fail_on_cancellation() -> None:
    reported: list[dict[str, Any]] = []

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise LookupError("cleanup failed") from None

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        asyncio.create_task(stubborn())  # noqa: RUF006
        await asyncio.sleep(0)

    run(main())
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], LookupError)


def test_run_passes_debug_and_refuses_bad_input() -> None:
    async def debug_flag() -> bool:
        return asyncio.get_running_loop().get_debug()

    assert run(debug_flag(), debug=True) is True
    assert run(debug_flag()) is False

    with pytest.raises(ValueError):
        run(42)  # type: ignore[arg-type]

    async def nested() -> None:
        inner = debug_flag()
        try:
            with pytest.raises(RuntimeError):
                run(inner)
        finally:
            inner.close()

    run(nested())


def test_new_event_loop_works_with_run_until_complete() -> None:
    clock = VirtualClock()
    loop = new_event_loop(clock)
    try:
        loop.run_until_complete(asyncio.sleep(42))
        assert clock.now() == 42.0
    finally:
        loop.close()
