"""Conformance cases for effect routing and executors: effects are routed by kind, executors
refuse with the reference codes, sleeps honour their cancel token.
"""

from __future__ import annotations

from typing import Any

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
    SleepExecutor,
)
from lash_core.resolution import (
    TIMEOUT,
    UnknownOrRevoked,
    ok,
)
from lash_core.scope import (
    ToolCompletion,
    TurnCancelGate,
    TurnTerminal,
)
from lash_core.testing._conformance_base import (
    TURN,
    Case,
    Harness,
    case_into,
    check,
    expect_error,
    expect_error_now,
)

CASES: list[Case] = []
"""This area's cases, in order (:mod:`lash_core.testing.conformance` assembles them)."""
case = case_into(CASES)


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
    await expect_error(codes.AWAIT_EVENT_UNSUPPORTED, host.wait_for_event(key))
    expect_error_now(
        codes.AWAIT_EVENT_UNSUPPORTED, lambda: host.revoke_await_events_for_session("s")
    )
    expect_error_now(
        codes.AWAIT_EVENT_CANCEL_UNSUPPORTED, lambda: host.cancel_await_events_for_session("s")
    )
