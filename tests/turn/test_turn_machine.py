"""Scenario tests of the turn machine, driven by a scripted world."""

from __future__ import annotations

import pytest

from lash_core import (
    CANCELLED,
    TIMEOUT,
    EffectEnvelope,
    EffectKind,
    Err,
    LashError,
    LlmCallOutcome,
    LlmResponse,
    LocalProtocolError,
    Message,
    NeedOutcomes,
    Ok,
    Resolution,
    Role,
    RunEffects,
    StopReason,
    TextPart,
    ToolSpec,
    TurnCompleted,
    TurnConfig,
    TurnFinished,
    TurnMachine,
    TurnResult,
    TurnStopped,
    Usage,
    codes,
    err,
    from_json,
    ok,
    to_json,
)
from lash_core.effects import (
    CheckpointOutcome,
    ControllerError,
    EffectCause,
    LlmCallCommand,
    LlmCallError,
    SleepCommand,
    SleepOutcome,
    ToolResultPart,
)
from lash_core.effects.tools import CheckpointDelivery, ExecutionEnvironmentSync, TimeoutPolicy
from lash_core.turn import (
    ProgressEvent,
    RetryPolicy,
    TextEvent,
    ToolCallFinishedEvent,
    ToolCallStartedEvent,
    TurnOutcomeEvent,
    TurnState,
    TurnStopReason,
    UsageEvent,
)

from .world import (
    World,
    all_reversed,
    answer,
    calls,
    code_call,
    done,
    drive,
    key_of,
    llm_error,
    make,
    pending,
    user,
)

CONFIG = TurnConfig(model="m", system_prompt="be brief")


def result_of(trace_result: TurnResult | None) -> TurnResult:
    assert trace_result is not None
    return trace_result


def stopped(result: TurnResult) -> TurnStopped:
    assert isinstance(result.outcome, TurnStopped)
    return result.outcome


def test_plain_answer() -> None:
    trace = drive(make(CONFIG), World([answer("hello")]))
    assert trace.keys == ["s:t:0:0:llm_call:1"]
    envelope = trace.envelopes[0]
    assert isinstance(envelope.command, LlmCallCommand)
    assert envelope.command.request.system == "be brief"
    assert envelope.command.request.messages == (user("hi"),)
    result = result_of(trace.result)
    final = Message(Role.ASSISTANT, (TextPart("hello"),))
    assert result.outcome == TurnCompleted(final)
    assert result.messages == (user("hi"), final)
    assert result.usage == Usage(10, 5)
    assert trace.events == [
        UsageEvent(Usage(10, 5), Usage(10, 5)),
        TextEvent("hello"),
        TurnOutcomeEvent(TurnCompleted(final)),
    ]


def test_streamed_text_is_not_repeated() -> None:
    machine = make(CONFIG)
    step = machine.next()
    assert isinstance(step, RunEffects)
    machine.send(key_of(step.envelopes[0]), LlmCallOutcome(answer("x"), True))
    assert not any(isinstance(e, TextEvent) for e in machine.drain_events())


def two_tools_world() -> World:
    return World([calls(("c1", "a"), ("c2", "b")), answer("done")])


def test_two_tool_calls_in_reverse_order_give_the_same_turn() -> None:
    forward = drive(make(CONFIG), two_tools_world())
    backward = drive(make(CONFIG), two_tools_world(), all_reversed)
    assert forward.json == backward.json
    assert forward.events == backward.events
    assert forward.result == backward.result
    assert forward.keys == [
        "s:t:0:0:llm_call:1",
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:1",
        "s:t:0:0:tool_batch:2:child:1:c2:attempt:1",
        "s:t:0:1:llm_call:3",
    ]
    assert forward.batches[1] == tuple(forward.keys[1:3])  # one batch, run concurrently
    attempt = forward.envelopes[1]
    assert attempt.invocation.caused_by == EffectCause(session_id="s", turn_id="t", effect_id="2")
    tool_message = Message(
        Role.TOOL,
        (
            ToolResultPart("c1", "a", "out:c1:1", False),
            ToolResultPart("c2", "b", "out:c2:1", False),
        ),
    )
    last = forward.envelopes[3].command
    assert isinstance(last, LlmCallCommand)
    assert last.request.messages[-1] == tool_message
    kinds = [type(e) for e in forward.events]
    assert kinds[1:6] == [
        ToolCallStartedEvent,
        ToolCallStartedEvent,
        ToolCallFinishedEvent,
        ToolCallFinishedEvent,
        ProgressEvent,
    ]
    result = result_of(forward.result)
    assert result.protocol_iteration == 1
    assert result.usage == Usage(20, 10)


def test_retryable_model_error_then_success() -> None:
    config = TurnConfig(model="m", model_retry=RetryPolicy(3, 100, 1000))
    trace = drive(make(config), World([llm_error(True), llm_error(True), answer("ok")]))
    assert trace.keys == [
        "s:t:0:0:llm_call:1",
        "s:t:0:0:llm_call:1:attempt:1:sleep",
        "s:t:0:0:llm_call:1:attempt:2",
        "s:t:0:0:llm_call:1:attempt:2:sleep",
        "s:t:0:0:llm_call:1:attempt:3",
    ]
    sleeps = [e.command for e in trace.envelopes if isinstance(e.command, SleepCommand)]
    assert [s.duration_ms for s in sleeps] == [100, 200]
    retry = trace.envelopes[2]
    assert retry.kind is EffectKind.LLM_CALL
    assert retry.invocation.effect_id == "1:attempt:2"
    assert retry.command == trace.envelopes[0].command
    assert isinstance(result_of(trace.result).outcome, TurnCompleted)


def test_model_error_exhausted_or_not_retryable_stops_as_provider_error() -> None:
    config = TurnConfig(model="m", model_retry=RetryPolicy(2, 5, 10))
    trace = drive(make(config), World([llm_error(True), llm_error(True)]))
    outcome = stopped(result_of(trace.result))
    assert outcome.reason is TurnStopReason.PROVIDER_ERROR
    assert outcome.error == ControllerError("overloaded", "overloaded")
    assert len(trace.envelopes) == 3
    trace = drive(make(config), World([Err(LlmCallError("bad", False))]))
    outcome = stopped(result_of(trace.result))
    assert outcome.error == ControllerError(codes.TURN_LLM_CALL_FAILED, "bad")
    assert trace.keys == ["s:t:0:0:llm_call:1"]


def test_backoff_is_capped_and_never_overflows() -> None:
    policy = RetryPolicy(10, 100, 1000)
    assert [policy.delay_ms(n) for n in (1, 2, 3, 4, 5)] == [100, 200, 400, 800, 1000]
    assert policy.delay_ms(10**6) == 1000


def test_failing_tool_attempt_retried_then_exhausted() -> None:
    config = TurnConfig(model="m", tool_retry=RetryPolicy(2, 50, 500))
    world = World(
        [calls(("c1", "a")), answer("done")],
        tools={
            ("c1", 1): done("c1", 1, success=False),
            ("c1", 2): done("c1", 2, success=False, output="nope"),
        },
    )
    trace = drive(make(config), world)
    assert trace.keys == [
        "s:t:0:0:llm_call:1",
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:1",
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:1:sleep",
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:2",
        "s:t:0:1:llm_call:3",
    ]
    assert trace.envelopes[2].command == SleepCommand(50)
    finished = [e for e in trace.events if isinstance(e, ToolCallFinishedEvent)]
    assert finished == [ToolCallFinishedEvent("c1", "a", "nope", True, 7)]


def test_failing_tool_attempt_retried_then_succeeds() -> None:
    config = TurnConfig(model="m", tool_retry=RetryPolicy(3, 50, 500))
    world = World(
        [calls(("c1", "a"), ("c2", "b")), answer("done")],
        tools={("c1", 1): done("c1", 1, success=False)},
    )
    trace = drive(make(config), world)
    assert "s:t:0:0:tool_batch:2:child:0:c1:attempt:2" in trace.keys
    last = trace.envelopes[-1].command
    assert isinstance(last, LlmCallCommand)
    assert last.request.messages[-1].parts[0] == ToolResultPart("c1", "a", "out:c1:2", False)


@pytest.mark.parametrize(
    ("resolution", "policy", "expected"),
    [
        (ok({"v": 1}), TimeoutPolicy.ERROR_AS_RESULT, ({"v": 1}, False)),
        (err("e", "bad"), TimeoutPolicy.ERROR_AS_RESULT, ({"code": "e", "message": "bad"}, True)),
        (TIMEOUT, TimeoutPolicy.ERROR_AS_RESULT, (codes.TOOL_COMPLETION_TIMEOUT, True)),
        (TIMEOUT, TimeoutPolicy.FAIL_TURN, None),
        (CANCELLED, TimeoutPolicy.ERROR_AS_RESULT, (codes.TOOL_COMPLETION_CANCELLED, True)),
        (CANCELLED, TimeoutPolicy.FAIL_TURN, (codes.TOOL_COMPLETION_CANCELLED, True)),
    ],
)
def test_pending_tool_completes_through_await_event(
    resolution: Resolution, policy: TimeoutPolicy, expected: tuple[object, bool] | None
) -> None:
    world = World(
        [calls(("c1", "a"), ("c2", "b")), answer("done")],
        tools={("c1", 1): pending("c1", 2500, policy)},
        completions={"c1": resolution},
    )
    machine = make(CONFIG)
    trace = drive(machine, world)
    await_key = "s:t:0:0:tool_batch:2:c1:await"
    assert await_key in trace.keys
    await_envelope = trace.envelopes[trace.keys.index(await_key)]
    assert await_envelope.kind is EffectKind.AWAIT_EVENT
    assert await_envelope.invocation.effect_id == "2:c1:await"
    result = result_of(trace.result)
    if expected is None:
        outcome = stopped(result)
        assert outcome.reason is TurnStopReason.RUNTIME_ERROR
        assert outcome.error is not None
        assert outcome.error.code == codes.TOOL_COMPLETION_TIMEOUT
        assert trace.keys[-1] == await_key  # the model is not called again
        return
    first = next(e for e in trace.events if isinstance(e, ToolCallFinishedEvent))
    output, is_error = expected
    assert first.is_error is is_error
    assert first.duration_ms == 3
    if isinstance(output, str):
        assert isinstance(first.output, dict)
        assert first.output["code"] == output
    else:
        assert first.output == output
    assert isinstance(result.outcome, TurnCompleted)


def test_pending_deadline_is_handed_to_the_driver() -> None:
    machine = make(CONFIG)
    step = machine.next()
    assert isinstance(step, RunEffects)
    machine.send(key_of(step.envelopes[0]), LlmCallOutcome(calls(("c1", "a")), False))
    step = machine.next()
    assert isinstance(step, RunEffects)
    world = World([], tools={("c1", 1): pending("c1", 1500)})
    machine.send(key_of(step.envelopes[0]), world.respond(step.envelopes[0]))
    step = machine.next()
    assert isinstance(step, RunEffects)
    key = "s:t:0:0:tool_batch:2:c1:await"
    assert step.timeout_ms(key) == 1500
    assert step.timeout_ms("other") is None
    restored = TurnMachine.restore(machine.checkpoint())
    again = restored.next()
    assert isinstance(again, RunEffects)
    assert again == step


def test_exec_code() -> None:
    config = TurnConfig(model="m", code_tool_name="code")
    trace = drive(make(config), World([code_call("x1", "1+1"), answer("2")]))
    assert trace.keys == ["s:t:0:0:llm_call:1", "s:t:0:0:exec_code:2", "s:t:0:1:llm_call:3"]
    last = trace.envelopes[-1].command
    assert isinstance(last, LlmCallCommand)
    part = last.request.messages[-1].parts[0]
    assert part == ToolResultPart("x1", "code", {"output": "ran 1+1", "result": 3}, False)


def test_exec_code_failures_become_error_results() -> None:
    config = TurnConfig(model="m", code_tool_name="code")
    trace = drive(make(config), World([code_call("x1", "boom"), answer("2")]))
    finished = [e for e in trace.events if isinstance(e, ToolCallFinishedEvent)]
    assert finished[0].is_error
    assert finished[0].output == {"code": codes.TURN_EXEC_FAILED, "message": "boom"}
    bad = Ok(
        LlmResponse(
            Message(Role.ASSISTANT, (calls(("x1", "code")).value.message.parts[0],)),  # type: ignore[union-attr]
            Usage(),
            StopReason.TOOL_USE,
        )
    )
    trace = drive(make(config), World([bad, answer("2")]))
    assert trace.keys == ["s:t:0:0:llm_call:1", "s:t:0:1:llm_call:2"]  # nothing ran
    finished = [e for e in trace.events if isinstance(e, ToolCallFinishedEvent)]
    assert isinstance(finished[0].output, dict)
    assert finished[0].output["code"] == codes.TURN_EXEC_ARGS_INVALID


def test_invalid_tool_calls_stop_the_turn() -> None:
    trace = drive(make(CONFIG), World([calls(("c1", "a"), ("c1", "b"))]))
    outcome = stopped(result_of(trace.result))
    assert outcome.reason is TurnStopReason.RUNTIME_ERROR
    assert outcome.error is not None and outcome.error.code == codes.TURN_INVALID_TOOL_CALL


def test_checkpoint_injects_a_user_message_mid_turn() -> None:
    config = TurnConfig(model="m", checkpoint_after_work=True, checkpoint_before_completion=True)
    queued = user("also this")
    world = World(
        [calls(("c1", "a")), answer("first"), answer("second")],
        checkpoints=[
            Ok(CheckpointDelivery()),
            Ok(CheckpointDelivery(committed_user_messages=(queued,))),
            Ok(CheckpointDelivery()),
        ],
    )
    trace = drive(make(config), world)
    assert trace.keys == [
        "s:t:0:0:llm_call:1",
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:1",
        "s:t:0:0:checkpoint:3",
        "s:t:0:1:llm_call:4",
        "s:t:0:1:checkpoint:5",
        "s:t:0:2:llm_call:6",
        "s:t:0:2:checkpoint:7",
    ]
    progress = [e for e in trace.events if isinstance(e, ProgressEvent)]
    assert [p.protocol_iteration for p in progress] == [1, 2]
    assert progress[1].messages[-1] == queued
    request = trace.envelopes[5].command
    assert isinstance(request, LlmCallCommand)
    assert request.request.messages[-1] == queued
    result = result_of(trace.result)
    assert result.outcome == TurnCompleted(Message(Role.ASSISTANT, (TextPart("second"),)))
    assert result.protocol_iteration == 2


def test_progress_precedes_the_next_llm_call_after_injection() -> None:
    config = TurnConfig(model="m", checkpoint_before_completion=True)
    machine = make(config)
    step = machine.next()
    assert isinstance(step, RunEffects)
    machine.send(key_of(step.envelopes[0]), LlmCallOutcome(answer("a"), False))
    step = machine.next()
    assert isinstance(step, RunEffects)
    machine.drain_events()
    delivery = CheckpointDelivery(committed_user_messages=(user("more"),))
    machine.send(key_of(step.envelopes[0]), CheckpointOutcome(Ok(delivery)))
    events = machine.drain_events()
    assert isinstance(events[-1], ProgressEvent) and events[-1].protocol_iteration == 1
    step = machine.next()
    assert isinstance(step, RunEffects)
    assert key_of(step.envelopes[0]) == "s:t:0:1:llm_call:3"


def test_checkpoint_error_stops_as_runtime_error() -> None:
    config = TurnConfig(model="m", checkpoint_before_completion=True)
    world = World([answer("a")], checkpoints=[Err(ControllerError("x", "no"))])
    outcome = stopped(result_of(drive(make(config), world).result))
    assert outcome.reason is TurnStopReason.RUNTIME_ERROR
    assert outcome.error == ControllerError("x", "no")


def test_transient_messages_reach_only_the_next_request() -> None:
    config = TurnConfig(model="m", checkpoint_before_completion=True)
    note = user("transient")
    world = World(
        [answer("a"), answer("b")],
        checkpoints=[Ok(CheckpointDelivery(transient_messages=(note,))), Ok(CheckpointDelivery())],
    )
    trace = drive(make(config), world)
    request = trace.envelopes[2].command
    assert isinstance(request, LlmCallCommand)
    assert request.request.messages[-1] == note
    assert note not in result_of(trace.result).messages


def test_output_limit_stops_incomplete_without_assistant_message() -> None:
    response = Ok(
        LlmResponse(
            Message(Role.ASSISTANT, (TextPart("partial"),)), Usage(10, 50), StopReason.OUTPUT_LIMIT
        )
    )
    trace = drive(make(CONFIG), World([response]))
    result = result_of(trace.result)
    assert stopped(result).reason is TurnStopReason.INCOMPLETE
    assert result.messages == (user("hi"),)
    assert result.usage == Usage(10, 50)


@pytest.mark.parametrize(
    ("reason", "usage", "detail"),
    [
        (StopReason.OUTPUT_LIMIT, Usage(96, 0), "context_overflow"),
        (StopReason.CONTEXT_OVERFLOW, Usage(1, 0), "context_overflow"),
        (StopReason.CONTENT_FILTER, Usage(1, 0), "content_filter"),
        (StopReason.PROVIDER_ERROR, Usage(1, 0), "provider_error"),
    ],
)
def test_context_overflow_and_filters_stop_as_provider_error(
    reason: StopReason, usage: Usage, detail: str
) -> None:
    config = TurnConfig(model="m", max_context_tokens=100)
    response = Ok(LlmResponse(Message(Role.ASSISTANT, ()), usage, reason))
    result = result_of(drive(make(config), World([response])).result)
    outcome = stopped(result)
    assert (outcome.reason, outcome.detail) == (TurnStopReason.PROVIDER_ERROR, detail)
    assert result.messages == (user("hi"),)


def test_output_limit_below_the_context_threshold_is_incomplete() -> None:
    config = TurnConfig(model="m", max_context_tokens=100)
    response = Ok(LlmResponse(Message(Role.ASSISTANT, ()), Usage(94, 0), StopReason.OUTPUT_LIMIT))
    outcome = stopped(result_of(drive(make(config), World([response])).result))
    assert outcome.reason is TurnStopReason.INCOMPLETE


def test_cancelled_response_stops_as_cancelled() -> None:
    response = Ok(LlmResponse(Message(Role.ASSISTANT, ()), Usage(), StopReason.CANCELLED))
    outcome = stopped(result_of(drive(make(CONFIG), World([response])).result))
    assert outcome.reason is TurnStopReason.CANCELLED


def test_max_iterations() -> None:
    config = TurnConfig(model="m", max_iterations=2)
    world = World([calls(("c1", "a")), calls(("c2", "a")), answer("never")])
    trace = drive(make(config), world)
    result = result_of(trace.result)
    assert stopped(result).reason is TurnStopReason.MAX_ITERATIONS
    assert [k for k in trace.keys if ":llm_call:" in k] == [
        "s:t:0:0:llm_call:1",
        "s:t:0:1:llm_call:3",
    ]
    assert result.protocol_iteration == 2
    assert result.messages[-1].role is Role.TOOL


def test_sync_execution_environment() -> None:
    config = TurnConfig(model="m", sync_execution_environment=True)
    tool = ToolSpec("new", "a new tool", {"type": "object"})
    world = World(
        [calls(("c1", "a")), answer("done")],
        syncs=[Ok(None), Ok(ExecutionEnvironmentSync("new prompt", (tool,)))],
    )
    trace = drive(make(config), world)
    assert trace.keys == [
        "s:t:0:0:sync_execution_environment:1",
        "s:t:0:0:llm_call:2",
        "s:t:0:0:tool_batch:3:child:0:c1:attempt:1",
        "s:t:0:1:sync_execution_environment:4",
        "s:t:0:1:llm_call:5",
    ]
    first, second = trace.envelopes[0].command, trace.envelopes[3].command
    assert first.update_machine_config is False  # type: ignore[union-attr]
    assert second.update_machine_config is True  # type: ignore[union-attr]
    request = trace.envelopes[4].command
    assert isinstance(request, LlmCallCommand)
    assert (request.request.system, request.request.tools) == ("new prompt", (tool,))


def test_sync_failure_stops_as_runtime_error() -> None:
    config = TurnConfig(model="m", sync_execution_environment=True)
    trace = drive(make(config), World([], syncs=[Err("no env")]))
    outcome = stopped(result_of(trace.result))
    assert outcome.reason is TurnStopReason.RUNTIME_ERROR
    assert outcome.error == ControllerError(codes.RECONFIGURE_FAILED, "no env")


# -- the reference's sans-IO tests (16.9) ----------------------------------------------------


def restored(machine: TurnMachine) -> TurnMachine:
    text = to_json(machine.checkpoint())
    return TurnMachine.restore(from_json(text, TurnState))


def run_effects(machine: TurnMachine) -> tuple[EffectEnvelope, ...]:
    step = machine.next()
    assert isinstance(step, RunEffects)
    return step.envelopes


def test_checkpoint_before_llm_completion_reissues_the_same_call() -> None:
    machine = make(CONFIG)
    (llm,) = run_effects(machine)
    again = restored(machine)
    (reissued,) = run_effects(again)
    assert reissued == llm and reissued.stable_hash() == llm.stable_hash()
    assert isinstance(again.next(), NeedOutcomes)  # never re-emitted twice


def test_checkpoint_after_llm_result_does_not_call_again() -> None:
    machine = make(TurnConfig(model="m", checkpoint_before_completion=True))
    (llm,) = run_effects(machine)
    machine.send(key_of(llm), LlmCallOutcome(answer("a"), False))
    again = restored(machine)
    envelopes = run_effects(again)
    assert [e.kind for e in envelopes] == [EffectKind.CHECKPOINT]
    again.send(key_of(envelopes[0]), CheckpointOutcome(Ok(CheckpointDelivery())))
    assert isinstance(again.next(), TurnFinished)


def test_redelivery_of_a_waiting_tool_batch_and_exec() -> None:
    config = TurnConfig(model="m", code_tool_name="code")
    machine = make(config)
    (llm,) = run_effects(machine)
    response = Ok(
        LlmResponse(
            Message(
                Role.ASSISTANT,
                (
                    calls(("c1", "a")).value.message.parts[0],  # type: ignore[union-attr]
                    code_call("x1", "2").value.message.parts[0],  # type: ignore[union-attr]
                    calls(("c2", "b")).value.message.parts[0],  # type: ignore[union-attr]
                ),
            ),
            Usage(),
            StopReason.TOOL_USE,
        )
    )
    machine.send(key_of(llm), LlmCallOutcome(response, False))
    batch = run_effects(machine)
    assert [key_of(e) for e in batch] == [
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:1",
        "s:t:0:0:exec_code:3",
        "s:t:0:0:tool_batch:2:child:1:c2:attempt:1",
    ]
    assert machine.checkpoint().outbox == ()
    world = World([])
    machine.send(key_of(batch[1]), world.respond(batch[1]))
    again = restored(machine)
    redelivered = run_effects(again)
    assert redelivered == (batch[0], batch[2])
    assert [e.stable_hash() for e in redelivered] == [
        batch[0].stable_hash(),
        batch[2].stable_hash(),
    ]


# -- misuse ----------------------------------------------------------------------------------


def test_next_twice_does_not_re_emit() -> None:
    machine = make(CONFIG)
    run_effects(machine)
    assert machine.next() == NeedOutcomes(("s:t:0:0:llm_call:1",))
    assert machine.awaiting == ("s:t:0:0:llm_call:1",)


def test_unknown_or_unhanded_keys_are_refused_unchanged() -> None:
    machine = make(CONFIG)
    before = machine.checkpoint()
    with pytest.raises(LocalProtocolError) as info:
        machine.send("s:t:0:0:llm_call:1", LlmCallOutcome(answer("a"), False))
    assert info.value.code == codes.TURN_UNKNOWN_REPLAY_KEY
    assert "not been handed out" in info.value.message
    assert machine.checkpoint() == before
    run_effects(machine)
    before = machine.checkpoint()
    with pytest.raises(LocalProtocolError):
        machine.send("nope", LlmCallOutcome(answer("a"), False))
    assert machine.checkpoint() == before


def test_wrong_outcome_kind_is_refused_unchanged() -> None:
    machine = make(CONFIG)
    run_effects(machine)
    before = machine.checkpoint()
    with pytest.raises(LashError) as info:
        machine.send("s:t:0:0:llm_call:1", SleepOutcome())
    assert info.value.code == codes.RUNTIME_EFFECT_WRONG_OUTCOME
    with pytest.raises(LashError) as info:
        machine.send("s:t:0:0:llm_call:1", "not an outcome")  # type: ignore[arg-type]
    assert info.value.code == codes.RUNTIME_EFFECT_WRONG_OUTCOME
    assert machine.checkpoint() == before


def test_after_the_end() -> None:
    machine = make(CONFIG)
    (llm,) = run_effects(machine)
    machine.send(key_of(llm), LlmCallOutcome(answer("a"), False))
    assert isinstance(machine.next(), TurnFinished)
    assert machine.finished
    before = machine.checkpoint()
    with pytest.raises(LocalProtocolError) as info:
        machine.send(key_of(llm), LlmCallOutcome(answer("a"), False))
    assert info.value.code == codes.TURN_FINISHED
    with pytest.raises(LocalProtocolError):
        machine.cancel()
    assert machine.checkpoint() == before


def test_cancel_drops_outstanding_envelopes() -> None:
    machine = make(CONFIG)
    (llm,) = run_effects(machine)
    machine.cancel("user pressed stop")
    step = machine.next()
    assert isinstance(step, TurnFinished)
    outcome = step.result.outcome
    assert isinstance(outcome, TurnStopped) and outcome.reason is TurnStopReason.CANCELLED
    assert outcome.error == ControllerError(codes.TURN_CANCELLED, "user pressed stop")
    assert isinstance(machine.drain_events()[-1], TurnOutcomeEvent)
    with pytest.raises(LocalProtocolError):
        machine.send(key_of(llm), LlmCallOutcome(answer("a"), False))


@pytest.mark.parametrize(
    "config",
    [
        TurnConfig(model=" "),
        TurnConfig(model="m", max_iterations=0),
        TurnConfig(model="m", model_retry=RetryPolicy(0)),
        TurnConfig(model="m", tool_retry=RetryPolicy(1, -1)),
    ],
)
def test_invalid_config(config: TurnConfig) -> None:
    with pytest.raises(LocalProtocolError) as info:
        make(config)
    assert info.value.code == codes.TURN_CONFIG_INVALID


def test_invalid_ids() -> None:
    with pytest.raises(LocalProtocolError):
        TurnMachine(CONFIG, session_id="", turn_id="t", turn_index=0, messages=())
    with pytest.raises(LocalProtocolError):
        TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=-1, messages=())
    with pytest.raises(LocalProtocolError):
        TurnMachine.restore("state")  # type: ignore[arg-type]


def test_public_names_are_exported() -> None:
    import lash_core.turn as turn

    for name in turn.__all__:
        assert getattr(turn, name).__module__.startswith("lash_core.turn") or name in {
            "Phase",
            "TurnEvent",
            "TurnOutcome",
            "TurnStep",
            "TurnCancelOutcome",
            "TurnGateTerminal",
            "TurnTerminalRecord",
        }


def test_a_replay_key_that_is_not_a_string_is_refused_without_change() -> None:

    machine = make(TurnConfig(model="m"))
    machine.next()
    before = machine.checkpoint()
    for bad in (["k"], None, 1):
        with pytest.raises(LocalProtocolError):
            machine.send(bad, SleepOutcome())  # type: ignore[arg-type]
    assert machine.checkpoint() == before


def test_a_failure_inside_a_transition_breaks_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside a transition is not papered over: every later call is refused with
    ``turn_machine_broken``, and a checkpoint taken before it restores a working machine."""
    from lash_core.turn import machine as machine_module

    machine = make(CONFIG)
    (llm,) = run_effects(machine)
    saved = machine.checkpoint()

    def explode(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(machine_module, "_apply", explode)
    with pytest.raises(RuntimeError):
        machine.send(key_of(llm), LlmCallOutcome(answer("a"), False))
    monkeypatch.undo()
    for call in (
        machine.next,
        machine.drain_events,
        machine.checkpoint,
        machine.cancel,
        lambda: machine.send(key_of(llm), LlmCallOutcome(answer("a"), False)),
    ):
        with pytest.raises(LocalProtocolError) as info:
            call()
        assert info.value.code == codes.TURN_MACHINE_BROKEN
        assert "RuntimeError: boom" in info.value.message

    restored = TurnMachine.restore(saved)
    (again,) = run_effects(restored)
    assert key_of(again) == key_of(llm)
    restored.send(key_of(again), LlmCallOutcome(answer("a"), False))
    step = restored.next()
    assert isinstance(step, TurnFinished) and isinstance(step.result.outcome, TurnCompleted)


def test_checkpoint_is_reused_until_the_next_change() -> None:
    machine = make(CONFIG)
    first = machine.checkpoint()
    assert machine.checkpoint() is first
    (llm,) = run_effects(machine)
    handed_out = machine.checkpoint()
    assert handed_out is not first and handed_out.inflight == (llm,)
    assert first.outbox == (llm,) and first.inflight == ()
