"""Turn control on trio and asyncio: cancel requests, the cancel gate, terminals.

The reference's turn-control cases (request before start, duplicate requests, seal against
cancel, recovered owners, exact scope and sweep isolation, revocation, terminal timeouts,
evidence) plus the properties that a cancel and a completion always agree.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    CANCELLED,
    TIMEOUT,
    CancelToken,
    EffectEnvelope,
    EffectOutcome,
    InlineHost,
    LashError,
    LlmCallOutcome,
    LocalProtocolError,
    PendingCompletion,
    ToolAttemptOutcome,
    ToolCompletion,
    ToolLaunchPending,
    TurnCompleted,
    TurnConfig,
    TurnHandlers,
    TurnMachine,
    TurnResult,
    TurnScope,
    TurnStopped,
    codes,
    err,
    ok,
    run_turn,
    wire,
)
from lash_core.effects import ToolAttemptCommand
from lash_core.effects.tools import Duration
from lash_core.host import DurabilityTier
from lash_core.scope import TurnCancelGate, TurnTerminal
from lash_core.testing.conformance import Driver, Harness, settle
from lash_core.turn import TurnStopReason
from lash_core.turn.control import (
    CancelAlreadyRequested,
    CancelRequested,
    CompletionWonRace,
    ControlUnknownOrRevoked,
    GateCancelRequested,
    GateCompletionSealed,
    TerminalCommitted,
    TurnAddress,
    TurnCancellation,
    TurnCancelReceipt,
    TurnCancelRequest,
    await_terminal,
    decode_gate,
    gate_key,
    publish_terminal,
    request_cancel,
    request_cancel_threadsafe,
    settle_before_commit,
)
from lash_trio.testing import TrioDriver
from tests.turn.world import answer, calls, done, user

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
SECRET = bytes(range(32))
CONFIG = TurnConfig(model="scripted")
ADDRESS = TurnAddress("s", "t")

pytestmark = pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)


def _machine(host: InlineHost, address: TurnAddress = ADDRESS) -> TurnMachine:
    return TurnMachine(
        CONFIG,
        session_id=address.session_id,
        turn_id=address.turn_id,
        turn_index=0,
        messages=(user("go"),),
        cancel_gate=gate_key(host, address),
    )


class Script:
    """A scripted model and tools on virtual time: the model takes ``model_s`` per call; tool
    ``slow`` takes ``tool_s``; tool ``later`` completes through its await-event key, resolved
    ``later_s`` after it started (never, if ``None``)."""

    def __init__(
        self,
        h: Harness,
        host: InlineHost,
        *,
        model_s: float = 1.0,
        tool_s: float = 1.0,
        later_s: float | None = 5.0,
        tools: tuple[str, ...] = ("slow",),
    ) -> None:
        self.h, self.host = h, host
        self.model_s, self.tool_s, self.later_s = model_s, tool_s, later_s
        self.responses = [calls(*((f"c{i}", name) for i, name in enumerate(tools)))]
        self.responses.append(answer("done"))
        self.model_calls: list[str] = []
        self.trace: list[str] = []
        self.pending_keys: list[Any] = []

    async def model(self, envelope: EffectEnvelope) -> LlmCallOutcome:
        self.model_calls.append(envelope.replay_key or "")
        await self.h.sleep(self.model_s)
        return LlmCallOutcome(self.responses.pop(0), text_streamed=False)

    async def tools(self, envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        call = command.call
        if call.tool_name == "slow":
            await self.h.sleep(self.tool_s)
            return ToolAttemptOutcome(done(call.call_id, command.attempt))
        key = self.host.await_event_key(TurnScope("s", "t"), ToolCompletion(call.call_id))
        self.pending_keys.append(key)
        if self.later_s is not None:
            delay = self.later_s

            async def complete() -> None:
                await self.h.sleep(delay)
                self.host.resolve_await_event(key, ok("completed"))

            self.h.spawn(complete)
        return ToolAttemptOutcome(ToolLaunchPending(key, PendingCompletion(Duration(3600, 0)), 0))

    def on_effect(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        self.trace.append(envelope.replay_key or "")

    async def run(self, machine: TurnMachine, cancel: CancelToken | None = None) -> TurnResult:
        handlers = TurnHandlers(model=self.model, tools=self.tools)
        return await run_turn(machine, self.host, handlers, on_effect=self.on_effect, cancel=cancel)


def _request(request_id: str, origin: str | None = None, reason: str | None = None) -> Any:
    return TurnCancelRequest(ADDRESS, request_id, origin, reason)


def _cancelled(result: TurnResult) -> bool:
    outcome = result.outcome
    return isinstance(outcome, TurnStopped) and outcome.reason is TurnStopReason.CANCELLED


def test_cancel_before_start_duplicate_and_terminal_attach(driver: Driver) -> None:
    """A cancel before the turn starts wins; a duplicate gets the first request's evidence; the
    turn then runs no model call; its terminal can be attached before it is published."""

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        first = request_cancel(host, _request("stop-1", "ui", "user pressed stop"))
        assert first == TurnCancelReceipt(
            DurabilityTier.INLINE,
            CancelRequested(TurnCancellation("stop-1", "ui", "user pressed stop")),
        )
        second = request_cancel(host, _request("stop-2", "api"))
        assert second.outcome == CancelAlreadyRequested(
            TurnCancellation("stop-1", "ui", "user pressed stop")
        )
        attached = h.spawn(lambda: await_terminal(host, ADDRESS))
        script = Script(h, host)
        result = await script.run(_machine(host))
        assert script.model_calls == []
        assert script.trace == ["turn_cancel.start_gate"]
        assert _cancelled(result) and h.now() == 0
        assert "'stop-1'" in str(result.outcome.error)  # type: ignore[union-attr]
        terminal = (await attached.join()).value
        assert terminal == TerminalCommitted(
            result.outcome, TurnCancellation("stop-1", "ui", "user pressed stop")
        )
        # The owner's own settle (a recovered owner, say) returns the first request's evidence.
        settled = settle_before_commit(host, ADDRESS, locally_cancelled=False)
        assert settled == GateCancelRequested(TurnCancellation("stop-1", "ui", "user pressed stop"))
        # Attaching after publication works too.
        assert await await_terminal(host, ADDRESS) == terminal

    driver.run(scenario)


def test_a_cancel_during_a_pending_tool_wait_cancels_the_wait_and_the_turn(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        script = Script(h, host, tools=("later",), later_s=None)
        receipts: list[TurnCancelReceipt] = []

        async def press_stop() -> None:
            await h.sleep(10)
            receipts.append(request_cancel(host, _request("stop-1", "ui")))

        h.spawn(press_stop)
        result = await script.run(_machine(host))
        assert h.now() == 10
        assert receipts[0].outcome == CancelRequested(TurnCancellation("stop-1", "ui"))
        assert _cancelled(result)
        (key,) = script.pending_keys
        assert host.peek_await_event(key) == CANCELLED  # the wait recorded `cancelled`
        assert script.model_calls == ["s:t:0:0:llm_call:1"]
        terminal = await await_terminal(host, ADDRESS)
        assert terminal == TerminalCommitted(result.outcome, TurnCancellation("stop-1", "ui"))

    driver.run(scenario)


def test_a_completed_turn_seals_its_gate_and_publishes_no_evidence(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        script = Script(h, host)
        result = await script.run(_machine(host))
        assert isinstance(result.outcome, TurnCompleted)
        assert script.trace[0] == "turn_cancel.start_gate"
        assert await await_terminal(host, ADDRESS) == TerminalCommitted(result.outcome)
        late = request_cancel(host, _request("too-late"))
        assert late.outcome == CompletionWonRace()

    driver.run(scenario)


def test_a_recovered_owner_sees_a_cancel_issued_before_it_existed(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        request_cancel(host, _request("stop-early"))
        scoped = host.scoped(TurnScope("s", "t"))
        seen = scoped.peek_await_event(scoped.await_event_key(TurnCancelGate()))
        assert seen is not None
        assert decode_gate(seen) == GateCancelRequested(TurnCancellation("stop-early"))
        script = Script(h, host)
        result = await script.run(_machine(host))  # an owner created after the request
        assert _cancelled(result) and script.model_calls == []

    driver.run(scenario)


def test_turn_control_is_exact_scope_and_excluded_from_the_session_sweep(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        assert request_cancel(host, _request("stop-1")).outcome == CancelRequested(
            TurnCancellation("stop-1")
        )
        tool_key = host.await_event_key(TurnScope("s", "t"), ToolCompletion("c1"))
        waiter = h.spawn(lambda: host.wait_for_event(tool_key))
        await settle(h)
        assert host.cancel_await_events_for_session("s") == 1
        assert (await waiter.join()).value == CANCELLED
        # The sweep left the gate alone: a duplicate still sees the first request.
        again = request_cancel(host, _request("stop-2"))
        assert again.outcome == CancelAlreadyRequested(TurnCancellation("stop-1"))
        # Another turn, not started yet, has its own gate.
        other = TurnCancelRequest(TurnAddress("s", "t2"), "stop-3")
        assert request_cancel(host, other).outcome == CancelRequested(TurnCancellation("stop-3"))

    driver.run(scenario)


def test_session_revocation_revokes_turn_control(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        assert host.revoke_await_events_for_session("s")
        receipt = request_cancel(host, _request("stop-1"))
        assert receipt.outcome == ControlUnknownOrRevoked()
        with pytest.raises(LashError) as info:
            settle_before_commit(host, ADDRESS, locally_cancelled=False)
        assert info.value.code == codes.TURN_CONTROL_UNKNOWN_OR_REVOKED

    driver.run(scenario)


def test_a_terminal_wait_timeout_does_not_poison_a_later_publication(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        with pytest.raises(LashError) as info:
            await await_terminal(host, ADDRESS, timeout=5)
        assert info.value.code == codes.TURN_TERMINAL_AWAIT_TIMEOUT and h.now() == 5
        attached = h.spawn(lambda: await_terminal(host, ADDRESS))
        await h.sleep(1)
        record = TerminalCommitted(TurnCompleted(answer("x").value.message))  # type: ignore[union-attr]
        assert publish_terminal(host, ADDRESS, record)
        assert (await attached.join()).value == record
        assert await await_terminal(host, ADDRESS) == record
        assert not publish_terminal(host, ADDRESS, TerminalCommitted(record.outcome))

    driver.run(scenario)


def test_a_local_cancel_keeps_the_first_origin_or_its_explicit_absence(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        # Local cancel alone: internal evidence, no origin.
        host = h.new_host(SECRET)
        token = CancelToken()

        async def press() -> None:
            await h.sleep(0.5)
            token.cancel()

        h.spawn(press)
        result = await Script(h, host).run(_machine(host), cancel=token)
        assert _cancelled(result)
        terminal = await await_terminal(host, ADDRESS)
        assert terminal == TerminalCommitted(result.outcome, TurnCancellation("internal:t"))
        # A request first, then a local cancel: the request's evidence and origin are kept.
        host = h.new_host(SECRET)
        token = CancelToken()
        cancelled_at: list[float] = []

        async def request_then_press() -> None:
            await h.sleep(0.25)
            request_cancel(host, _request("stop-1", "mobile"))
            cancelled_at.append(h.now())
            token.cancel()

        start = h.now()
        h.spawn(request_then_press)
        result = await Script(h, host).run(_machine(host), cancel=token)
        terminal = await await_terminal(host, ADDRESS)
        assert terminal == TerminalCommitted(result.outcome, TurnCancellation("stop-1", "mobile"))
        assert cancelled_at == [start + 0.25] and _cancelled(result)

    driver.run(scenario)


def test_a_cancel_from_another_thread_stops_the_turn(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)

        async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
            await h.in_thread(lambda: request_cancel_threadsafe(host, _request("from-thread")))
            await h.sleep(60)  # cancelled before this ends
            return LlmCallOutcome(answer("never"), text_streamed=False)

        result = await run_turn(_machine(host), host, TurnHandlers(model=model))
        assert _cancelled(result)
        terminal = await await_terminal(host, ADDRESS)
        assert terminal == TerminalCommitted(result.outcome, TurnCancellation("from-thread"))

    driver.run(scenario)


def test_bad_cancel_requests_are_refused_without_change(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        for bad in (
            TurnCancelRequest(ADDRESS, " "),
            TurnCancelRequest(TurnAddress("", "t"), "r"),
            TurnCancelRequest(TurnAddress("s", " "), "r"),
            "not a request",
        ):
            with pytest.raises(LocalProtocolError) as info:
                request_cancel(host, bad)  # type: ignore[arg-type]
            assert info.value.code == codes.INVALID_TURN_CANCEL_REQUEST
        assert host.peek_await_event(gate_key(host, ADDRESS)) is None

    driver.run(scenario)


# -- cancel against completion: the only outcomes -------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cancel_at=st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 5.0]),
    model_s=st.sampled_from([0.0, 1.0]),
    tool_s=st.sampled_from([0.0, 1.0, 2.0]),
)
def test_cancel_and_completion_always_agree(
    driver: Driver, cancel_at: float, model_s: float, tool_s: float
) -> None:
    """Whatever the interleaving of a cancel request with the turn's completion, the outcomes
    are (sealed, completion_won_race) or (cancelled, requested with the same evidence)."""
    seen: list[tuple[TurnResult, TurnCancelReceipt, Any]] = []

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        receipts: list[TurnCancelReceipt] = []

        async def press_stop() -> None:
            await h.sleep(cancel_at)
            receipts.append(request_cancel(host, _request("stop-1", "ui")))

        h.spawn(press_stop)
        result = await Script(h, host, model_s=model_s, tool_s=tool_s).run(_machine(host))
        await h.sleep(10)  # the request has surely been made
        seen.append((result, receipts[0], await await_terminal(host, ADDRESS)))

    driver.run(scenario)
    ((result, receipt, terminal),) = seen
    evidence = TurnCancellation("stop-1", "ui")
    if isinstance(receipt.outcome, CompletionWonRace):
        assert isinstance(result.outcome, TurnCompleted)
        assert terminal == TerminalCommitted(result.outcome)
    else:
        assert receipt.outcome == CancelRequested(evidence)
        assert _cancelled(result)
        assert terminal == TerminalCommitted(result.outcome, evidence)


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(["request", "settle"]), locally=st.booleans())
def test_the_gate_has_one_winner_in_any_order(
    driver: Driver, order: list[str], locally: bool
) -> None:
    """The pure rule, without a turn: a request and the owner's settle, in either order."""

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        receipt: TurnCancelReceipt | None = None
        winner = None
        for step in order:
            if step == "request":
                receipt = request_cancel(host, _request("r1", "ui"))
            else:
                winner = settle_before_commit(host, ADDRESS, locally_cancelled=locally)
        assert receipt is not None and winner is not None
        if order[0] == "request":
            assert receipt.outcome == CancelRequested(TurnCancellation("r1", "ui"))
            assert winner == GateCancelRequested(TurnCancellation("r1", "ui"))
        elif locally:
            internal = TurnCancellation("internal:t")
            assert winner == GateCancelRequested(internal)
            assert receipt.outcome == CancelAlreadyRequested(internal)
        else:
            assert winner == GateCompletionSealed()
            assert receipt.outcome == CompletionWonRace()
        stored = host.peek_await_event(gate_key(host, ADDRESS))
        assert stored is not None and decode_gate(stored) == winner

    driver.run(scenario)


def test_wire_shapes_follow_the_reference(driver: Driver) -> None:
    del driver
    gate = ok(wire.to_wire(GateCancelRequested(TurnCancellation("r1", "ui"))))
    assert wire.to_json(gate) == (
        '{"status":"ok","payload":{"cancellation":{"origin":"ui","request_id":"r1"},'
        '"state":"cancel_requested"}}'
    )
    assert wire.to_json(GateCompletionSealed()) == '{"state":"completion_sealed"}'
    assert wire.to_json(CompletionWonRace()) == '{"outcome":"completion_won_race"}'
    assert wire.to_json(CancelRequested(TurnCancellation("r1"))) == (
        '{"outcome":"requested","cancellation":{"request_id":"r1"}}'
    )
    receipt = TurnCancelReceipt(DurabilityTier.INLINE, CompletionWonRace())
    assert wire.to_json(receipt) == (
        '{"durability_tier":"inline","outcome":{"outcome":"completion_won_race"}}'
    )
    assert wire.from_json(wire.to_json(receipt), TurnCancelReceipt) == receipt


def test_control_keys_written_by_something_else_are_reported(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        with pytest.raises(LashError) as info:
            decode_gate(TIMEOUT)
        assert info.value.code == codes.TURN_CANCEL_GATE_INVALID_TERMINAL
        with pytest.raises(LashError) as info:
            decode_gate(ok({"state": "unheard_of"}))
        assert info.value.code == codes.TURN_CANCEL_GATE_DECODE
        terminal = host.await_event_key(TurnScope("s", "t"), TurnTerminal())
        host.resolve_await_event(terminal, err("oops", "not a terminal"))
        with pytest.raises(LashError) as info:
            await await_terminal(host, ADDRESS)
        assert info.value.code == codes.TURN_TERMINAL_INVALID_RESOLUTION
        other = TurnAddress("s", "t2")
        terminal = host.await_event_key(other.scope, TurnTerminal())
        host.resolve_await_event(terminal, ok({"status": "exploded"}))
        with pytest.raises(LashError) as info:
            await await_terminal(host, other)
        assert info.value.code == codes.TURN_TERMINAL_DECODE

    driver.run(scenario)


def test_cancelling_a_controlled_turn_of_a_revoked_session(driver: Driver) -> None:
    """The commit a cancel triggers is refused (the session was revoked): the canceller is not
    disturbed, the turn stops at once, and run_turn raises the refusal plainly."""

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        token = CancelToken()

        async def revoke_then_cancel() -> None:
            await h.sleep(0.5)
            host.revoke_await_events_for_session("s")
            token.cancel()  # must not raise

        canceller = h.spawn(revoke_then_cancel)
        with pytest.raises(LashError) as info:
            await Script(h, host).run(_machine(host), cancel=token)
        assert info.value.code == codes.TURN_CONTROL_UNKNOWN_OR_REVOKED
        assert h.now() == 0.5
        assert (await canceller.join()).error is None

    driver.run(scenario)
