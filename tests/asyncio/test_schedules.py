"""Generated interleavings on asyncio agree with the model."""

from __future__ import annotations

from hypothesis import given, settings

from lash_asyncio.testing import AsyncioDriver
from lash_core.testing.conformance import Schedule, check_schedule, schedules


@settings(max_examples=60, deadline=None)
@given(schedules())
def test_generated_schedules_match_the_model(schedule: Schedule) -> None:
    check_schedule(AsyncioDriver(), schedule)
