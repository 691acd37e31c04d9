"""Generated interleavings on trio agree with the model: no lost wake-up, one terminal per key."""

from __future__ import annotations

from hypothesis import given, settings

from lash_core.testing.conformance import Schedule, check_schedule, schedules
from lash_trio.testing import TrioDriver


@settings(max_examples=60, deadline=None)
@given(schedules())
def test_generated_schedules_match_the_model(schedule: Schedule) -> None:
    check_schedule(TrioDriver(), schedule)
