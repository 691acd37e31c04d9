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
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

import attrs

from lash_core import codes
from lash_core.effects import (
    AwaitEventCommand,
    AwaitEventOutcome,
    DurableStepCommand,
    DurableStepOutcome,
    EffectEnvelope,
    EffectKind,
    EffectSubject,
    Invocation,
    InvocationScope,
    PeekAwaitEventCommand,
    PeekAwaitEventOutcome,
    Replay,
    SleepCommand,
    SleepOutcome,
)
from lash_core.errors import LashError
from lash_core.host import (
    UNAVAILABLE,
    AwaitEventOptions,
    AwaitEventResolver,
    CancelToken,
    HandlerExecutor,
    InlineHost,
    SleepExecutor,
)
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Accepted,
    AlreadyResolved,
    Resolution,
    UnknownOrRevoked,
    err,
    ok,
)
from lash_core.scope import (
    Custom,
    ExecutionScope,
    ProcessScope,
    QueueDrainScope,
    SessionDeleteScope,
    ToolCompletion,
    TurnCancelGate,
    TurnScope,
    TurnTerminal,
    WaitIdentity,
)
from lash_core.wire import to_json, to_wire

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

T = TypeVar("T")


class ConformanceFailure(AssertionError):
    """A conformance check failed."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceFailure(message)


@attrs.frozen
class TaskResult(Generic[T]):
    """How a spawned task ended: a value, an exception, or native cancellation."""

    value: T | None = None
    error: BaseException | None = None
    cancelled: bool = False


class TaskHandle(Protocol[T]):
    def cancel(self) -> None:
        """Cancel the task natively (trio cancel scope, asyncio ``Task.cancel``)."""
        ...

    async def join(self) -> TaskResult[T]:
        """Wait for the task to end and say how it ended."""
        ...


class Harness(Protocol):
    """What a scenario may use. Time is virtual: sleeping costs no real time."""

    def new_host(
        self, secret: bytes | None = None, previous: Iterable[bytes] = ()
    ) -> InlineHost: ...

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def spawn(self, fn: Callable[[], Awaitable[T]]) -> TaskHandle[T]: ...

    async def in_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a real OS thread and wait for it without blocking the loop."""
        ...


class Driver(Protocol):
    """Runs one scenario in a fresh event loop on virtual time."""

    name: str

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None: ...


@attrs.frozen
class Case:
    name: str
    scenario: Callable[[Harness], Awaitable[None]]
    doc: str

    def run(self, driver: Driver) -> None:
        driver.run(self.scenario)


CASES: list[Case] = []


def case(fn: Callable[[Harness], Awaitable[None]]) -> Callable[[Harness], Awaitable[None]]:
    CASES.append(Case(fn.__name__, fn, (fn.__doc__ or "").strip()))
    return fn


SETTLE = 0.001
"""A virtual pause long enough for every ready task to run."""

TURN = TurnScope("session", "turn")


async def settle(h: Harness) -> None:
    await h.sleep(SETTLE)


async def expect_error(code: str, awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except LashError as exc:
        check(exc.code == code, f"expected {code}, got {exc.code}")
        return
    raise ConformanceFailure(f"expected {code}, got no error")


def expect_error_now(code: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
    except LashError as exc:
        check(exc.code == code, f"expected {code}, got {exc.code}")
        return
    raise ConformanceFailure(f"expected {code}, got no error")


# -- the reference's effect_host and effect_host_await_events suites -------------------------


@case
async def stable_keys(h: Harness) -> None:
    """The same scope and wait give the same key; minting creates no state."""
    host = h.new_host()
    a = host.await_event_key(TURN, ToolCompletion("call"))
    check(a == host.await_event_key(TURN, ToolCompletion("call")), "keys are not stable")
    check(a != host.await_event_key(TURN, ToolCompletion("other")), "distinct waits share a key")
    check(host.registry.total_entry_count() == 0, "minting created state")
    check(host.peek_await_event(a) is None, "a fresh key has a terminal")


@case
async def early_resolution_then_await(h: Harness) -> None:
    """A resolution before anyone waits is buffered and returned to the later waiter."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    check(host.resolve_await_event(key, ok("early")) == Accepted(), "not accepted")
    check(await host.await_await_event(key) == ok("early"), "buffered resolution lost")


@case
async def duplicate_resolution_gets_the_first_terminal(h: Harness) -> None:
    """A second resolution is answered already_resolved with the first terminal."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    host.resolve_await_event(key, ok("first"))
    outcome = host.resolve_await_event(key, ok("second"))
    check(outcome == AlreadyResolved(ok("first")), f"got {outcome}")


@case
async def pre_cancelled_waiter_writes_cancelled(h: Harness) -> None:
    """A waiter whose token is already cancelled gets cancelled; a late resolve sees it."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    token = CancelToken()
    token.cancel()
    check(await host.await_await_event(key, cancel=token) == CANCELLED, "not cancelled")
    late = host.resolve_await_event(key, ok("late"))
    check(late == AlreadyResolved(CANCELLED), f"late resolve got {late}")


@case
async def past_deadline_gives_timeout(h: Harness) -> None:
    """A deadline already reached writes timeout."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    check(await host.await_await_event(key, deadline=h.now()) == TIMEOUT, "no timeout")
    check(host.peek_await_event(key) == TIMEOUT, "timeout not stored")


@case
async def deadline_and_timeout_fire_on_virtual_time(h: Harness) -> None:
    """An hour-long timeout ends after exactly an hour of virtual time."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    start = h.now()
    check(await host.await_await_event(key, timeout=3600) == TIMEOUT, "no timeout")
    check(abs(h.now() - start - 3600) < 1e-6, f"timed out after {h.now() - start}")
    other = host.await_event_key(TURN, ToolCompletion("other"))
    await expect_error(
        codes.AWAIT_EVENT_DEADLINE_AND_TIMEOUT,
        host.await_await_event(other, deadline=h.now() + 1, timeout=1),
    )


@case
async def revoke_refuses_resolve_await_and_mint(h: Harness) -> None:
    """Revocation wakes parked waiters with an error and refuses the session from then on."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    waiter = h.spawn(lambda: host.await_await_event(key))
    await settle(h)
    check(host.revoke_await_events_for_session("session") is True, "not newly revoked")
    result = await waiter.join()
    check(
        isinstance(result.error, LashError)
        and result.error.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        f"parked waiter got {result}",
    )
    check(host.resolve_await_event(key, ok(1)) == UnknownOrRevoked(), "revoked key resolved")
    await expect_error(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED, host.await_await_event(key))
    expect_error_now(
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        lambda: host.await_event_key(TURN, ToolCompletion("new")),
    )
    check(host.revoke_await_events_for_session("session") is False, "revoke not idempotent")


@case
async def session_cancel_resolves_pending_waits_but_not_turn_control(h: Harness) -> None:
    """A session cancel ends pending waits as cancelled, leaves turn control alone, and new keys
    still work."""
    host = h.new_host()
    tool = host.await_event_key(TURN, ToolCompletion("call"))
    gate = host.await_event_key(TURN, TurnCancelGate())
    tool_waiter = h.spawn(lambda: host.await_await_event(tool))
    gate_waiter = h.spawn(lambda: host.await_await_event(gate))
    await settle(h)
    check(host.cancel_await_events_for_session("session") == 1, "wrong cancel count")
    check((await tool_waiter.join()).value == CANCELLED, "tool wait not cancelled")
    late = host.resolve_await_event(tool, ok("late"))
    check(late == AlreadyResolved(CANCELLED), f"late resolve got {late}")
    check(host.peek_await_event(gate) is None, "the gate was swept")
    check(host.resolve_await_event(gate, ok({"state": "completion_sealed"})) == Accepted(), "gate")
    check((await gate_waiter.join()).value == ok({"state": "completion_sealed"}), "gate waiter")
    fresh = host.await_event_key(TURN, ToolCompletion("fresh"))
    check(host.resolve_await_event(fresh, ok(1)) == Accepted(), "new keys do not work")


@case
async def tampered_keys_are_refused(h: Harness) -> None:
    """A key with a changed signature, key id, scope or wait is unknown_or_revoked."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    flipped = ("1" if key.signature[0] == "0" else "0") + key.signature[1:]
    tampered = [
        attrs.evolve(key, signature=flipped),
        attrs.evolve(key, key_id=key.key_id[::-1]),
        attrs.evolve(key, scope=TurnScope("session", "other")),
        attrs.evolve(key, wait=ToolCompletion("other")),
    ]
    for bad in tampered:
        check(host.resolve_await_event(bad, ok("forged")) == UnknownOrRevoked(), f"{bad}")
        await expect_error(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED, host.await_await_event(bad))
    check(host.registry.total_entry_count() == 0, "a tampered key created state")
    check(host.resolve_await_event(key, ok("real")) == Accepted(), "the real key is affected")


@case
async def undecoded_keys_are_a_type_error(h: Harness) -> None:
    """A key still in its JSON text or dict form is await_event_key_type, not a forgery, and
    changes nothing."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    undecoded_forms: list[Any] = [to_json(key), to_wire(key)]
    for undecoded in undecoded_forms:
        resolve = functools.partial(host.resolve_await_event, undecoded, ok(1))
        expect_error_now(codes.AWAIT_EVENT_KEY_TYPE, resolve)
        expect_error_now(
            codes.AWAIT_EVENT_KEY_TYPE, functools.partial(host.peek_await_event, undecoded)
        )
        await expect_error(codes.AWAIT_EVENT_KEY_TYPE, host.await_await_event(undecoded))
    check(host.registry.total_entry_count() == 0, "an undecoded key created state")
    check(host.resolve_await_event(key, ok("real")) == Accepted(), "the real key is affected")


@case
async def scope_metadata_is_kept(h: Harness) -> None:
    """Scoped controllers keep their scope's id and turn id."""
    host = h.new_host()
    turn = host.scoped(TurnScope("s", "t"))
    check((turn.scope_id, turn.turn_id) == ("t", "t"), "turn scope metadata")
    drain = host.scoped(QueueDrainScope("s", "drain"))
    check((drain.scope_id, drain.turn_id) == ("drain", None), "drain scope metadata")
    check(host.scoped(ProcessScope("p")).scope_id == "p", "process scope metadata")
    check(drain.rescope(SessionDeleteScope("s")).scope_id == "s", "rescope")
    key = turn.await_event_key(ToolCompletion("call"))
    check(key.scope == TurnScope("s", "t"), "scoped key in the wrong scope")
    check(turn.resolve_await_event(key, ok(1)) == Accepted(), "scoped resolve")
    check(host.peek_await_event(key) == ok(1), "the scoped controller shares the host registry")


@case
async def blank_ids_are_refused(h: Harness) -> None:
    """Blank scope ids and wait fields are refused with the reference's codes."""
    host = h.new_host()
    expect_error_now(codes.MISSING_EXECUTION_SCOPE_ID, lambda: host.scoped(TurnScope(" ", "t")))
    expect_error_now(
        codes.MISSING_EXECUTION_SCOPE_ID,
        lambda: host.await_event_key(QueueDrainScope("s", ""), ToolCompletion("c")),
    )
    expect_error_now(
        codes.INVALID_AWAIT_EVENT_WAIT_IDENTITY,
        lambda: host.await_event_key(TURN, Custom("  ")),
    )


# -- ours ------------------------------------------------------------------------------------


@case
async def two_hosts_never_rendezvous(h: Harness) -> None:
    """A key from one host means nothing to another."""
    a, b = h.new_host(), h.new_host()
    key = a.await_event_key(TURN, ToolCompletion("call"))
    check(b.resolve_await_event(key, ok(1)) == UnknownOrRevoked(), "host B accepted A's key")
    await expect_error(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED, b.await_await_event(key))
    check(a.peek_await_event(key) is None, "host B's attempt reached host A")


@case
async def shared_secret_hosts_share_keys_and_rotation_works(h: Harness) -> None:
    """Hosts given one secret accept each other's keys; a rotated host still accepts old ones."""
    secret, newer = bytes(range(32)), bytes(range(1, 33))
    old_host = h.new_host(secret)
    key = old_host.await_event_key(TURN, ToolCompletion("call"))
    rotated = h.new_host(newer, previous=[secret])
    check(rotated.resolve_await_event(key, ok(1)) == Accepted(), "rotated host refused old key")
    check(
        rotated.await_event_key(TURN, ToolCompletion("call")).signature != key.signature,
        "rotated host still signs with the old secret",
    )


@case
async def many_waiters_see_one_terminal(h: Harness) -> None:
    """Every waiter of a key gets the same terminal."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    waiters = [h.spawn(lambda: host.await_await_event(key)) for _ in range(20)]
    await settle(h)
    host.resolve_await_event(key, ok({"n": 1}))
    results = [await w.join() for w in waiters]
    check(all(r.value == ok({"n": 1}) for r in results), f"{results}")


@case
async def cancelling_one_waiter_writes_cancelled_for_all(h: Harness) -> None:
    """A cancelled waiter writes cancelled (the terminal is shared); native cancellation records
    it and then propagates."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    token = CancelToken()
    first = h.spawn(lambda: host.await_await_event(key, cancel=token))
    others = [h.spawn(lambda: host.await_await_event(key)) for _ in range(3)]
    await settle(h)
    token.cancel()
    check((await first.join()).value == CANCELLED, "the token did not cancel")
    results = [await w.join() for w in others]
    check(all(r.value == CANCELLED for r in results), f"others saw another terminal: {results}")
    native_key = host.await_event_key(TURN, ToolCompletion("native"))
    native = h.spawn(lambda: host.await_await_event(native_key))
    await settle(h)
    native.cancel()
    check((await native.join()).cancelled, "native cancellation did not propagate")
    check(host.peek_await_event(native_key) == CANCELLED, "native cancellation not recorded")


@case
async def a_cancel_that_loses_returns_the_winner(h: Harness) -> None:
    """A resolution that lands before the cancel is what the waiter returns."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    token = CancelToken()
    waiter = h.spawn(lambda: host.await_await_event(key, cancel=token))
    await settle(h)
    host.resolve_await_event(key, ok("won"))
    token.cancel()
    check((await waiter.join()).value == ok("won"), "the losing cancel changed the result")


@case
async def turn_control_waits_never_write(h: Harness) -> None:
    """Cancelling or timing out a turn-control wait fails it and leaves the key unwritten."""
    host = h.new_host()
    gate = host.await_event_key(TURN, TurnCancelGate())
    token = CancelToken()
    waiter = h.spawn(lambda: host.await_await_event(gate, cancel=token))
    await settle(h)
    token.cancel()
    result = await waiter.join()
    check(
        isinstance(result.error, LashError)
        and result.error.code == codes.TURN_CONTROL_WAIT_CANCELLED,
        f"{result}",
    )
    await expect_error(codes.TURN_CONTROL_WAIT_TIMEOUT, host.await_await_event(gate, timeout=5))
    check(host.peek_await_event(gate) is None, "a turn-control waiter wrote the gate")
    terminal = host.await_event_key(TURN, TurnTerminal())
    check(host.resolve_await_event(gate, ok({"state": "completion_sealed"})) == Accepted(), "gate")
    attach = h.spawn(lambda: host.await_await_event(terminal))
    await settle(h)
    host.resolve_await_event(terminal, ok({"status": "committed"}))
    check((await attach.join()).value == ok({"status": "committed"}), "terminal attach")
    check(await host.await_await_event(terminal) == ok({"status": "committed"}), "late attach")


@case
async def thread_side_resolution_wakes_the_loop(h: Harness) -> None:
    """resolve_threadsafe from another OS thread wakes a parked waiter."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    waiter = h.spawn(lambda: host.await_await_event(key))
    await settle(h)
    outcome = await h.in_thread(lambda: host.resolve_threadsafe(key, ok("from a thread")))
    check(outcome == Accepted(), f"{outcome}")
    check((await waiter.join()).value == ok("from a thread"), "the waiter was not woken")


def _envelope(command: Any, kind: EffectKind, effect_id: str = "e1") -> EffectEnvelope:
    return EffectEnvelope.build(
        Invocation(
            scope=InvocationScope.for_turn("session", "turn", 0, 0),
            subject=EffectSubject(effect_id, kind),
            replay=Replay(f"session:turn:0:0:{kind}:{effect_id}"),
        ),
        command,
    )


@case
async def effects_are_routed_by_kind(h: Harness) -> None:
    """peek/await go to the registry, sleep to the clock, the rest to the executor's handler."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    peek = _envelope(PeekAwaitEventCommand(key), EffectKind.PEEK_AWAIT_EVENT)
    check(await host.execute_effect(peek) == PeekAwaitEventOutcome(None), "peek before")
    host.resolve_await_event(key, ok(7))
    check(await host.execute_effect(peek) == PeekAwaitEventOutcome(ok(7)), "peek after")
    wait = _envelope(AwaitEventCommand(key), EffectKind.AWAIT_EVENT)
    check(await host.execute_effect(wait) == AwaitEventOutcome(ok(7)), "await")
    pending = host.await_event_key(TURN, ToolCompletion("pending"))
    timed = await host.execute_effect(
        _envelope(AwaitEventCommand(pending), EffectKind.AWAIT_EVENT),
        AwaitEventOptions(deadline=h.now() + 30),
    )
    check(timed == AwaitEventOutcome(TIMEOUT), "await options deadline")
    start = h.now()
    sleep = _envelope(SleepCommand(90_000), EffectKind.SLEEP)
    check(await host.execute_effect(sleep, SleepExecutor()) == SleepOutcome(), "sleep")
    check(abs(h.now() - start - 90) < 1e-6, "sleep did not take its virtual duration")
    seen: list[EffectEnvelope] = []

    async def step(envelope: EffectEnvelope) -> DurableStepOutcome:
        seen.append(envelope)
        return DurableStepOutcome({"ok": True})

    durable = _envelope(DurableStepCommand("s1", {"x": 1}), EffectKind.DURABLE_STEP)
    runner = HandlerExecutor("durable_step", {EffectKind.DURABLE_STEP: step})
    check(await host.execute_effect(durable, runner) == DurableStepOutcome({"ok": True}), "step")
    check(seen == [durable], "the handler did not get the envelope")


@case
async def executor_refusals_use_the_reference_codes(h: Harness) -> None:
    """Unavailable and mismatched executors, wrong outcomes and failing handlers."""
    host = h.new_host()
    durable = _envelope(DurableStepCommand("s1", None), EffectKind.DURABLE_STEP)
    sleep = _envelope(SleepCommand(1), EffectKind.SLEEP)
    await expect_error(
        codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE, host.execute_effect(durable, UNAVAILABLE)
    )
    await expect_error(
        codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH, host.execute_effect(durable, SleepExecutor())
    )
    await expect_error(
        codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH,
        host.execute_effect(sleep, AwaitEventOptions()),
    )

    async def wrong(envelope: EffectEnvelope) -> SleepOutcome:
        return SleepOutcome()

    async def broken(envelope: EffectEnvelope) -> DurableStepOutcome:
        raise ValueError("boom")

    await expect_error(
        codes.RUNTIME_EFFECT_WRONG_OUTCOME,
        host.execute_effect(durable, HandlerExecutor.testing(wrong)),
    )
    await expect_error(
        codes.RUNTIME_EFFECT_HANDLER_FAILED,
        host.execute_effect(durable, HandlerExecutor.testing(broken)),
    )


@case
async def sleep_honours_its_cancel_token(h: Harness) -> None:
    """A cancelled sleep fails with runtime_effect_sleep_cancelled at the moment of cancel."""
    host = h.new_host()
    token = CancelToken()
    sleep = _envelope(SleepCommand(60_000), EffectKind.SLEEP)
    start = h.now()
    task = h.spawn(lambda: host.execute_effect(sleep, SleepExecutor(token)))
    await h.sleep(5)
    token.cancel()
    result = await task.join()
    check(
        isinstance(result.error, LashError)
        and result.error.code == codes.RUNTIME_EFFECT_SLEEP_CANCELLED,
        f"{result}",
    )
    check(abs(h.now() - start - 5) < 0.01, "the sleep did not end at the cancel")


@case
async def hosts_without_await_events_refuse(h: Harness) -> None:
    """The default resolver refuses with await_event_unsupported; resolve is unknown_or_revoked."""
    host = AwaitEventResolver()
    expect_error_now(
        codes.AWAIT_EVENT_UNSUPPORTED, lambda: host.await_event_key(TURN, TurnCancelGate())
    )
    key = h.new_host().await_event_key(TURN, TurnTerminal())
    check(host.resolve_await_event(key, ok(1)) == UnknownOrRevoked(), "resolve")
    expect_error_now(codes.AWAIT_EVENT_UNSUPPORTED, lambda: host.peek_await_event(key))
    await expect_error(codes.AWAIT_EVENT_UNSUPPORTED, host.await_await_event(key))
    expect_error_now(
        codes.AWAIT_EVENT_UNSUPPORTED, lambda: host.revoke_await_events_for_session("s")
    )
    expect_error_now(
        codes.AWAIT_EVENT_CANCEL_UNSUPPORTED, lambda: host.cancel_await_events_for_session("s")
    )


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
        return await host.await_await_event(keys[plan.key], cancel=tokens[i], deadline=deadline)

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
