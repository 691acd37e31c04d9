"""Generated schedules of signals and a cancel against a running process, on both drivers.

A worker sleeps ``delay``, then waits for ``needed`` ``go`` signals, sleeping ``gap`` after each,
and returns their payloads. Signals are sent at generated (distinct) virtual times, often before
the worker waits for them; a cancel may come at another time. A small model predicts the one
terminal: the worker takes the i-th signal at ``max(its wait starts, the i-th signal is sent)``;
``cancelled`` if the cancel comes before it returns, ``success`` with the
payloads in sending order otherwise, and ``abandoned`` when neither happens before the runner
stops.
"""

from __future__ import annotations

from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import assume, example, given, settings

from lash_asyncio.testing import AsyncioDriver
from lash_core import InlineHost, JsonValue
from lash_core.effects.process import (
    ProcessCancel,
    ProcessStart,
)
from lash_core.process import ProcessContext, ProcessRunner, signal_request
from lash_core.process.records import (
    AbandonedOutput,
    CancelledOutput,
    SuccessOutput,
)
from lash_core.testing.conformance import Driver, Harness
from lash_trio.testing import TrioDriver
from tests.process.support import registration

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
STOP_AT = 100
"""When the runner stops: after every generated time (40 + 20 + 3 gaps of 5)."""


@attrs.frozen
class Schedule:
    times: list[int]
    cancel_at: int | None
    needed: int
    delay: int
    gap: int

    def done_at(self) -> int | None:
        """When the worker returns, its last signal taken and its last gap slept (``None``:
        never)."""
        if len(self.times) < self.needed:
            return None
        waits_from = self.delay
        for sent in sorted(self.times)[: self.needed]:
            waits_from = max(waits_from, sent) + self.gap
        return waits_from


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    times = draw(st.lists(st.integers(0, 40), unique=True, max_size=4))
    cancel_at = draw(st.none() | st.integers(0, 40).filter(lambda t: t not in times))
    schedule = Schedule(
        times, cancel_at, draw(st.integers(1, 3)), draw(st.integers(0, 20)), draw(st.integers(0, 5))
    )
    assume(cancel_at is None or cancel_at != schedule.done_at())
    return schedule


def expected(schedule: Schedule) -> object:
    times, cancel_at, needed = schedule.times, schedule.cancel_at, schedule.needed
    done_at = schedule.done_at()
    if cancel_at is not None and (done_at is None or cancel_at < done_at):
        return CancelledOutput("process cancelled")
    if done_at is None:
        return AbandonedOutput
    return SuccessOutput([f"sent@{t}" for t in sorted(times)[:needed]])


def run_schedule(driver: Driver, schedule: Schedule) -> Any:
    results: list[Any] = []
    times, cancel_at = schedule.times, schedule.cancel_at

    async def worker(ctx: ProcessContext) -> JsonValue:
        await ctx.sleep(schedule.delay)
        taken: list[JsonValue] = []
        for _ in range(schedule.needed):
            taken.append(await ctx.wait_signal("go"))
            await ctx.sleep(schedule.gap)
        return taken

    async def scenario(h: Harness) -> None:
        host = h.new_host()
        assert isinstance(host, InlineHost)

        def at(when: int, command: Any) -> None:
            async def act() -> None:
                await h.sleep(when)
                await host.processes.execute(command)

            h.spawn(act)

        async with ProcessRunner(host, {"job": worker}).running():
            await host.processes.execute(ProcessStart(registration("w")))
            for when in times:
                at(when, signal_request("w", "go", f"s{when}", f"sent@{when}"))
            if cancel_at is not None:
                at(cancel_at, ProcessCancel("w", None))
            await h.sleep(STOP_AT)
        registry = host.processes.registry
        results.append((registry.record("w"), registry.events("w")))

    driver.run(scenario)
    return results[0]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
@settings(max_examples=40, deadline=None)
@given(schedule=schedules())
@example(schedule=Schedule([3, 1], None, 2, 5, 0))  # both signals before the first wait
@example(schedule=Schedule([1, 9], 6, 2, 0, 2))  # cancelled while waiting for the second
@example(schedule=Schedule([2], None, 2, 0, 0))  # the second signal never comes
def test_one_terminal_as_the_model_predicts(driver: Driver, schedule: Schedule) -> None:
    record, events = run_schedule(driver, schedule)
    want = expected(schedule)
    output = record.status.await_output
    if want is AbandonedOutput:
        assert isinstance(output, AbandonedOutput)
    else:
        assert output == want
    assert len([e for e in events if e.semantics.terminal is not None]) == 1
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert sum(e.event_type == "signal.go" for e in events) == len(schedule.times)
    assert record.wait is None
