"""Generated conformance schedules: a :class:`Schedule` of waits, resolutions, cancellations,
deadlines and revocations, the model's :func:`expected_log` of it, :func:`run_schedule` to run it
on a driver, and the Hypothesis strategy :func:`schedules`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs

from lash_core import codes
from lash_core.errors import LashError
from lash_core.host import (
    CancelToken,
)
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Resolution,
    err,
    ok,
)
from lash_core.scope import (
    Custom,
    ExecutionScope,
    ToolCompletion,
    TurnCancelGate,
    TurnScope,
    WaitIdentity,
)
from lash_core.testing._conformance_base import (
    Case,
    Driver,
    Harness,
    TaskHandle,
    TaskResult,
    case_into,
    check,
    settle,
)
from lash_core.wire import to_json

CASES: list[Case] = []
"""This area's cases, in order (:mod:`lash_core.testing.conformance` assembles them)."""
case = case_into(CASES)


# -- generated schedules ---------------------------------------------------------------------


@attrs.frozen
class WaiterPlan:
    """One waiter: which key, when it starts, and what may end it (times in ms)."""

    key: int
    start: int
    deadline: int | None = None
    cancel_at: int | None = None
    native_cancel_at: int | None = None


@attrs.frozen
class Schedule:
    """Keys (by wait), waiters, and timed events. All times are distinct integers (ms)."""

    waits: tuple[WaitIdentity, ...]
    sessions: tuple[str, ...]
    waiters: tuple[WaiterPlan, ...]
    resolves: tuple[tuple[int, int, Resolution], ...] = ()  # (time, key, resolution)
    revokes: tuple[tuple[int, int], ...] = ()  # (time, session index)
    session_cancels: tuple[tuple[int, int], ...] = ()  # (time, session index)

    def scope(self, key: int) -> ExecutionScope:
        return TurnScope(self.sessions[key % len(self.sessions)], f"turn-{key}")

    def times(self) -> list[int]:
        out = [t for t, _, _ in self.resolves] + [t for t, _ in self.revokes]
        out += [t for t, _ in self.session_cancels]
        for w in self.waiters:
            out.append(w.start)
            out += [t for t in (w.deadline, w.cancel_at, w.native_cancel_at) if t is not None]
        return out


def _describe(result: Resolution | str) -> str:
    return result if isinstance(result, str) else to_json(result)


def expected_log(schedule: Schedule) -> list[str]:
    """The log :func:`run_schedule` must produce, computed by a small independent model."""
    terminal: dict[int, Resolution] = {}
    revoked: set[str] = set()
    parked: dict[int, int] = {}  # waiter index -> key
    results: dict[int, str] = {}
    events: list[tuple[int, int, str, tuple[Any, ...]]] = []
    for t, key, res in schedule.resolves:
        events.append((t, 0, "resolve", (key, res)))
    for t, s in schedule.revokes:
        events.append((t, 0, "revoke", (s,)))
    for t, s in schedule.session_cancels:
        events.append((t, 0, "cancel_session", (s,)))
    for i, w in enumerate(schedule.waiters):
        events.append((w.start, 0, "start", (i,)))
        if w.deadline is not None:
            events.append((w.deadline, 0, "end", (i, "deadline")))
        if w.cancel_at is not None:
            events.append((w.cancel_at, 0, "end", (i, "cancel")))
        if w.native_cancel_at is not None:
            events.append((w.native_cancel_at, 0, "end", (i, "native")))
    events.sort(key=lambda e: e[0])

    def session_of(key: int) -> str:
        return schedule.sessions[key % len(schedule.sessions)]

    def settle_key(key: int, resolution: Resolution) -> None:
        terminal[key] = resolution
        for i, k in list(parked.items()):
            if k == key:
                del parked[i]
                results[i] = _describe(resolution)

    log: list[str] = []
    for t, _, kind, args in events:
        if kind == "resolve":
            key, res = args
            if session_of(key) in revoked:
                log.append(f"{t} resolve {key}: unknown_or_revoked")
            elif key in terminal:
                log.append(f"{t} resolve {key}: already_resolved")
            else:
                log.append(f"{t} resolve {key}: accepted")
                settle_key(key, res)
        elif kind == "revoke":
            sid = schedule.sessions[args[0]]
            if sid not in revoked:
                revoked.add(sid)
                for i, k in list(parked.items()):
                    if session_of(k) == sid:
                        del parked[i]
                        results[i] = codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
                for k in [k for k in terminal if session_of(k) == sid]:
                    del terminal[k]
        elif kind == "cancel_session":
            sid = schedule.sessions[args[0]]
            if sid not in revoked:
                for k in sorted(set(parked.values())):
                    if session_of(k) == sid and not schedule.waits[k].is_turn_control:
                        settle_key(k, CANCELLED)
        elif kind == "start":
            (i,) = args
            key = schedule.waiters[i].key
            if session_of(key) in revoked:
                results[i] = codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
            elif key in terminal:
                results[i] = _describe(terminal[key])
            else:
                parked[i] = key
        else:
            i, how = args
            if i not in parked:
                continue
            key = parked.pop(i)
            if how == "native":
                results[i] = "native_cancelled"
                if not schedule.waits[key].is_turn_control:
                    settle_key(key, CANCELLED)
            elif schedule.waits[key].is_turn_control:
                results[i] = (
                    codes.TURN_CONTROL_WAIT_TIMEOUT
                    if how == "deadline"
                    else codes.TURN_CONTROL_WAIT_CANCELLED
                )
            else:
                res = TIMEOUT if how == "deadline" else CANCELLED
                settle_key(key, res)
                results[i] = _describe(res)
    for i in range(len(schedule.waiters)):
        log.append(f"waiter {i}: {results.get(i, 'still parked')}")
    for key in range(len(schedule.waits)):
        if session_of(key) in revoked:
            log.append(f"key {key}: revoked")
        else:
            found = terminal.get(key)
            log.append(f"key {key}: {'none' if found is None else _describe(found)}")
    return log


async def run_schedule(h: Harness, schedule: Schedule, *, unit: float = 0.01) -> list[str]:
    """Run a schedule on a fresh host of the harness's driver; ``unit`` seconds per ms step."""
    host = h.new_host()
    keys = [host.await_event_key(schedule.scope(i), wait) for i, wait in enumerate(schedule.waits)]
    base = h.now()
    log: list[tuple[int, str]] = []
    handles: dict[int, TaskHandle[Resolution]] = {}
    tokens: dict[int, CancelToken] = {}

    async def at(t: int) -> None:
        delay = base + t * unit - h.now()
        if delay > 0:
            await h.sleep(delay)

    async def waiter(i: int, plan: WaiterPlan) -> Resolution:
        await at(plan.start)
        deadline = None if plan.deadline is None else base + plan.deadline * unit
        return await host.wait_for_event(keys[plan.key], cancel=tokens[i], deadline=deadline)

    async def driver() -> None:
        actions: list[tuple[int, Callable[[], None]]] = []
        for t, key, res in schedule.resolves:

            def do_resolve(t: int = t, key: int = key, res: Resolution = res) -> None:
                outcome = host.resolve_await_event(keys[key], res)
                log.append((t, f"{t} resolve {key}: {outcome.status}"))

            actions.append((t, do_resolve))
        for t, s in schedule.revokes:
            actions.append((t, _later(host.revoke_await_events_for_session, schedule.sessions[s])))
        for t, s in schedule.session_cancels:
            actions.append((t, _later(host.cancel_await_events_for_session, schedule.sessions[s])))
        for i, plan in enumerate(schedule.waiters):
            if plan.cancel_at is not None:
                actions.append((plan.cancel_at, tokens[i].cancel))
            if plan.native_cancel_at is not None:
                actions.append((plan.native_cancel_at, handles[i].cancel))
        for t, action in sorted(actions, key=lambda a: a[0]):
            await at(t)
            action()

    for i, plan in enumerate(schedule.waiters):
        tokens[i] = CancelToken()
        handles[i] = h.spawn(functools.partial(waiter, i, plan))
    control = h.spawn(driver)
    result = await control.join()
    if result.error is not None:
        raise result.error
    end = max(schedule.times(), default=0) + 1
    await at(end)
    key_lines = []
    for i, key in enumerate(keys):
        try:
            found = host.peek_await_event(key)
        except LashError:
            key_lines.append(f"key {i}: revoked")
            continue
        key_lines.append(f"key {i}: {'none' if found is None else _describe(found)}")
    lines = [line for _, line in sorted(log)]
    outcomes = await _finish_waiters(h, [handles[i] for i in range(len(schedule.waiters))])
    lines += [f"waiter {i}: {outcome}" for i, outcome in enumerate(outcomes)]
    return lines + key_lines


def _later(fn: Callable[..., object], *args: Any) -> Callable[[], None]:
    def run() -> None:
        fn(*args)

    return run


async def _finish_waiters(h: Harness, handles: list[TaskHandle[Resolution]]) -> list[str]:
    """Each waiter's outcome; waiters still parked are reported as such, then cancelled."""
    finished: dict[int, str] = {}

    def describe(result: TaskResult[Resolution]) -> str:
        if result.cancelled:
            return "native_cancelled"
        if isinstance(result.error, LashError):
            return result.error.code
        if result.error is not None:
            raise result.error
        assert result.value is not None
        return _describe(result.value)

    async def joiner(i: int) -> None:
        finished[i] = describe(await handles[i].join())

    probes = [h.spawn(functools.partial(joiner, i)) for i in range(len(handles))]
    await settle(h)
    parked = [i for i in range(len(handles)) if i not in finished]
    for i in parked:
        handles[i].cancel()
    for probe in probes:
        result = await probe.join()
        if result.error is not None:
            raise result.error
    return [("still parked" if i in parked else finished[i]) for i in range(len(handles))]


# -- schedules from Hypothesis ---------------------------------------------------------------


def schedules(max_keys: int = 4, max_waiters: int = 6, max_events: int = 6) -> Any:
    """A Hypothesis strategy of :class:`Schedule` values (needs the ``test`` extra)."""
    import hypothesis.strategies as st

    wait_choices = st.sampled_from(["tool", "custom", "gate"])

    @st.composite
    def build(draw: Any) -> Schedule:
        kinds = draw(st.lists(wait_choices, min_size=1, max_size=max_keys))
        waits: list[WaitIdentity] = []
        for i, kind in enumerate(kinds):
            if kind == "tool":
                waits.append(ToolCompletion(f"call-{i}"))
            elif kind == "custom":
                waits.append(Custom(f"custom-{i}"))
            else:
                waits.append(TurnCancelGate())
        n = len(waits)
        raw: list[tuple[int, int, str, tuple[Any, ...]]] = []
        slot = 0

        def add(t: int, what: str, *args: Any) -> None:
            nonlocal slot
            raw.append((t, slot, what, args))
            slot += 1

        for index in range(draw(st.integers(0, max_waiters))):
            start = draw(st.integers(0, 100))
            key = draw(st.integers(0, n - 1))
            add(start, "start", index, key)
            for end in ("deadline", "cancel_at", "native_cancel_at"):
                if draw(st.booleans()):
                    add(start + draw(st.integers(1, 100)), end, index)
        for _ in range(draw(st.integers(0, max_events))):
            what = draw(st.sampled_from(["resolve", "resolve", "resolve", "revoke", "cancel"]))
            t = draw(st.integers(0, 200))
            if what == "resolve":
                resolution = draw(
                    st.sampled_from([ok("a"), ok({"b": 1}), err("e", "failed"), TIMEOUT, CANCELLED])
                )
                add(t, "resolve", draw(st.integers(0, n - 1)), resolution)
            else:
                add(t, what, draw(st.integers(0, 1)))
        # Distinct times, order kept (ties broken by the order drawn).
        raw.sort(key=lambda r: (r[0], r[1]))
        waiters: dict[int, dict[str, int]] = {}
        resolves: list[tuple[int, int, Resolution]] = []
        revokes: list[tuple[int, int]] = []
        cancels: list[tuple[int, int]] = []
        for rank, (_, _, what, args) in enumerate(raw):
            t = rank + 1
            if what == "start":
                waiters[args[0]] = {"key": args[1], "start": t}
            elif what in ("deadline", "cancel_at", "native_cancel_at"):
                waiters[args[0]][what] = t
            elif what == "resolve":
                resolves.append((t, args[0], args[1]))
            elif what == "revoke":
                revokes.append((t, args[0]))
            else:
                cancels.append((t, args[0]))
        plans = tuple(WaiterPlan(**waiters[i]) for i in range(len(waiters)))
        return Schedule(
            waits=tuple(waits),
            sessions=("s1", "s2"),
            waiters=plans,
            resolves=tuple(resolves),
            revokes=tuple(revokes),
            session_cancels=tuple(cancels),
        )

    return build()


def run_schedule_on(driver: Driver, schedule: Schedule) -> list[str]:
    """Run ``schedule`` in a fresh loop of ``driver`` and return its log."""
    out: list[list[str]] = []

    async def scenario(h: Harness) -> None:
        out.append(await run_schedule(h, schedule))

    driver.run(scenario)
    return out[0]


def check_schedule(driver: Driver, schedule: Schedule) -> list[str]:
    """Run ``schedule`` and check the log against :func:`expected_log`; returns the log."""
    got = run_schedule_on(driver, schedule)
    want = expected_log(schedule)
    check(got == want, "schedule log differs from the model:\n" + _diff(want, got))
    return got


def _diff(want: list[str], got: list[str]) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(want, got, "model", "driver", lineterm=""))


_FIXED = Schedule(
    waits=(ToolCompletion("a"), TurnCancelGate(), Custom("c")),
    sessions=("s1", "s2"),
    waiters=(
        WaiterPlan(key=0, start=1),
        WaiterPlan(key=0, start=2, cancel_at=5),
        WaiterPlan(key=1, start=3, deadline=6),
        WaiterPlan(key=2, start=4, native_cancel_at=9),
        WaiterPlan(key=0, start=10),
    ),
    resolves=((7, 0, ok("late")), (8, 1, ok({"state": "completion_sealed"}))),
    revokes=((11, 1),),
)


@case
async def a_fixed_schedule_matches_the_model(h: Harness) -> None:
    """Waits, a token cancel, a turn-control deadline, a native cancel, late resolves and a
    revocation, interleaved on virtual time, give exactly the model's log."""
    got = await run_schedule(h, _FIXED)
    want = expected_log(_FIXED)
    check(got == want, "schedule log differs from the model:\n" + _diff(want, got))
