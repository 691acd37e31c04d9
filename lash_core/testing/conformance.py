"""A driver-agnostic conformance kit for effect hosts.

Every driver (trio, asyncio, a third party's) provides a :class:`Driver`: a way to run an async
scenario on virtual time, and a :class:`Harness` inside it (make hosts, read the clock, sleep,
spawn and cancel tasks, run a function on a real thread). Each :class:`Case` of :data:`CASES` is
an async scenario written against that harness only, so every driver runs the same checks.

With pytest, load ``lash_core.testing.pytest_plugin`` and write::

    @pytest.fixture
    def lash_driver() -> Driver:
        return MyDriver()

    def test_conformance(lash_driver, lash_conformance_case):
        lash_conformance_case.run(lash_driver)

:func:`run_schedule` runs a generated :class:`Schedule` of waits, resolutions, cancellations,
deadlines and revocations and returns a log; :func:`expected_log` computes the same log from a
small model, so a schedule checks a driver against the model and two drivers against each other.

The harness lives in :mod:`lash_core.testing._conformance_base` and the cases by area in the
``lash_core.testing._conformance_*`` modules; this module assembles :data:`CASES` from them and
re-exports their public names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lash_core.testing._conformance_base import SETTLE as SETTLE
from lash_core.testing._conformance_base import TURN as TURN
from lash_core.testing._conformance_base import Case as Case
from lash_core.testing._conformance_base import ConformanceFailure as ConformanceFailure
from lash_core.testing._conformance_base import Driver as Driver
from lash_core.testing._conformance_base import Harness as Harness
from lash_core.testing._conformance_base import T as T
from lash_core.testing._conformance_base import TaskHandle as TaskHandle
from lash_core.testing._conformance_base import TaskResult as TaskResult
from lash_core.testing._conformance_base import case_into
from lash_core.testing._conformance_base import check as check
from lash_core.testing._conformance_base import expect_error as expect_error
from lash_core.testing._conformance_base import expect_error_now as expect_error_now
from lash_core.testing._conformance_base import settle as settle
from lash_core.testing._conformance_effects import CASES as _EFFECT_CASES
from lash_core.testing._conformance_effects import (
    effects_are_routed_by_kind as effects_are_routed_by_kind,
)
from lash_core.testing._conformance_effects import (
    executor_refusals_use_the_reference_codes as executor_refusals_use_the_reference_codes,
)
from lash_core.testing._conformance_effects import (
    hosts_without_await_events_refuse as hosts_without_await_events_refuse,
)
from lash_core.testing._conformance_effects import (
    sleep_honours_its_cancel_token as sleep_honours_its_cancel_token,
)
from lash_core.testing._conformance_registry import CASES as _REGISTRY_CASES
from lash_core.testing._conformance_registry import (
    a_cancel_that_loses_returns_the_winner as a_cancel_that_loses_returns_the_winner,
)
from lash_core.testing._conformance_registry import blank_ids_are_refused as blank_ids_are_refused
from lash_core.testing._conformance_registry import (
    cancelling_one_waiter_writes_cancelled_for_all as cancelling_one_waiter_writes_cancelled_for_all,  # noqa: E501
)
from lash_core.testing._conformance_registry import (
    deadline_and_timeout_fire_on_virtual_time as deadline_and_timeout_fire_on_virtual_time,
)
from lash_core.testing._conformance_registry import (
    duplicate_resolution_gets_the_first_terminal as duplicate_resolution_gets_the_first_terminal,
)
from lash_core.testing._conformance_registry import (
    early_resolution_then_await as early_resolution_then_await,
)
from lash_core.testing._conformance_registry import (
    many_waiters_see_one_terminal as many_waiters_see_one_terminal,
)
from lash_core.testing._conformance_registry import (
    past_deadline_gives_timeout as past_deadline_gives_timeout,
)
from lash_core.testing._conformance_registry import (
    pre_cancelled_waiter_writes_cancelled as pre_cancelled_waiter_writes_cancelled,
)
from lash_core.testing._conformance_registry import (
    revoke_refuses_resolve_await_and_mint as revoke_refuses_resolve_await_and_mint,
)
from lash_core.testing._conformance_registry import scope_metadata_is_kept as scope_metadata_is_kept
from lash_core.testing._conformance_registry import (
    session_cancel_resolves_pending_waits_but_not_turn_control as session_cancel_resolves_pending_waits_but_not_turn_control,  # noqa: E501
)
from lash_core.testing._conformance_registry import (
    shared_secret_hosts_share_keys_and_rotation_works as shared_secret_hosts_share_keys_and_rotation_works,  # noqa: E501
)
from lash_core.testing._conformance_registry import stable_keys as stable_keys
from lash_core.testing._conformance_registry import (
    tampered_keys_are_refused as tampered_keys_are_refused,
)
from lash_core.testing._conformance_registry import (
    thread_side_resolution_wakes_the_loop as thread_side_resolution_wakes_the_loop,
)
from lash_core.testing._conformance_registry import (
    turn_control_waits_never_write as turn_control_waits_never_write,
)
from lash_core.testing._conformance_registry import (
    two_hosts_never_rendezvous as two_hosts_never_rendezvous,
)
from lash_core.testing._conformance_registry import (
    undecoded_keys_are_a_type_error as undecoded_keys_are_a_type_error,
)
from lash_core.testing._conformance_schedule import CASES as _SCHEDULE_CASES
from lash_core.testing._conformance_schedule import Schedule as Schedule
from lash_core.testing._conformance_schedule import WaiterPlan as WaiterPlan
from lash_core.testing._conformance_schedule import (
    a_fixed_schedule_matches_the_model as a_fixed_schedule_matches_the_model,
)
from lash_core.testing._conformance_schedule import check_schedule as check_schedule
from lash_core.testing._conformance_schedule import expected_log as expected_log
from lash_core.testing._conformance_schedule import run_schedule as run_schedule
from lash_core.testing._conformance_schedule import run_schedule_on as run_schedule_on
from lash_core.testing._conformance_schedule import schedules as schedules

__all__ = [
    "CASES",
    "Case",
    "Driver",
    "Harness",
    "Schedule",
    "TaskHandle",
    "TaskResult",
    "WaiterPlan",
    "expected_log",
    "run_schedule",
]


CASES: list[Case] = [*_REGISTRY_CASES, *_EFFECT_CASES, *_SCHEDULE_CASES]
"""Every case: await events (:mod:`~lash_core.testing._conformance_registry`), effect routing and
executors (:mod:`~lash_core.testing._conformance_effects`), then generated schedules
(:mod:`~lash_core.testing._conformance_schedule`)."""

case: Callable[[Callable[[Harness], Awaitable[None]]], Callable[[Harness], Awaitable[None]]] = (
    case_into(CASES)
)
"""Appends a scenario to :data:`CASES`."""
