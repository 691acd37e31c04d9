"""The same generated schedule gives identical logs on trio and asyncio (and matches the model)."""

from __future__ import annotations

from hypothesis import given, settings

from lash_asyncio.testing import AsyncioDriver
from lash_core.testing.conformance import (
    Schedule,
    expected_log,
    run_schedule_on,
    schedules,
)
from lash_trio.testing import TrioDriver


@settings(max_examples=40, deadline=None)
@given(schedules(max_keys=3, max_waiters=8, max_events=8))
def test_trio_and_asyncio_agree(schedule: Schedule) -> None:
    on_trio = run_schedule_on(TrioDriver(), schedule)
    on_asyncio = run_schedule_on(AsyncioDriver(), schedule)
    assert on_trio == on_asyncio
    assert on_trio == expected_log(schedule)
