"""Hypothesis properties of the turn machine over generated scripted worlds.

1. Feeding a round's outcomes in any order and any chunking gives the same envelopes (as a
   multiset of canonical JSON, each replay key once, turn-level envelopes in the same order),
   the same events and the same result.
2. Checkpoint (through JSON) and restore at any step re-emits exactly the awaited envelopes and
   then continues identically.
3. In every state reached, every outcome kind either advances (the expected kind) or is refused
   with ``runtime_effect_wrong_outcome`` / ``LocalProtocolError``, leaving the state unchanged.
"""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lash_core import (
    CANCELLED,
    TIMEOUT,
    EffectEnvelope,
    EffectOutcome,
    Err,
    JsonValue,
    LashError,
    LlmCallOutcome,
    LlmResponse,
    LocalProtocolError,
    Message,
    Ok,
    Resolution,
    Role,
    StopReason,
    ToolAttemptOutcome,
    ToolCallPart,
    TurnConfig,
    TurnMachine,
    Usage,
    codes,
    err,
    from_json,
    ok,
    to_json,
    to_wire,
)
from lash_core.effects import (
    AwaitEventOutcome,
    CheckpointOutcome,
    DirectOutcome,
    DurableStepOutcome,
    ExecCodeOutcome,
    LlmCallError,
    PeekAwaitEventOutcome,
    ProcessOutcome,
    SleepOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolBatchOutcome,
)
from lash_core.effects.tools import CheckpointDelivery, ExecResponse, TimeoutPolicy
from lash_core.testing.strategies import wire_values
from lash_core.turn import RetryPolicy, TurnState
from lash_core.turn.control import GateCancelRequested, GateCompletionSealed, TurnCancellation

from .world import (
    Trace,
    World,
    answer,
    done,
    drive,
    key_of,
    llm_error,
    make,
    pending,
    user,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RESOLUTIONS: tuple[Resolution, ...] = (ok({"v": 1}), err("e", "bad"), TIMEOUT, CANCELLED)
GATES: tuple[Resolution | None, ...] = (
    None,
    None,
    None,
    ok(to_wire(GateCancelRequested(TurnCancellation("stop-1", "ui")))),
    ok(to_wire(GateCompletionSealed())),
    ok({"state": "unheard_of"}),
)
"""The cancel gate at the start of a controlled turn: mostly empty, else a cancel request, a
seal from an earlier run, or something undecodable."""


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[TurnConfig, World]:
    """A config and a scripted world: a few rounds of tool calls, then an answer."""
    model_attempts = draw(st.integers(1, 3))
    tool_attempts = draw(st.integers(1, 3))
    config = TurnConfig(
        model="m",
        max_iterations=draw(st.integers(1, 4)),
        model_retry=RetryPolicy(model_attempts, 10, 40),
        tool_retry=RetryPolicy(tool_attempts, 5, 20),
        sync_execution_environment=draw(st.booleans()),
        checkpoint_after_work=draw(st.booleans()),
        checkpoint_before_completion=draw(st.booleans()),
        code_tool_name="code",
        max_context_tokens=1000,
    )
    world = World([], controlled=draw(st.booleans()))
    if world.controlled:
        world.gate = draw(st.sampled_from(GATES))
    for round_ in range(draw(st.integers(0, 3))):
        for _ in range(draw(st.integers(0, model_attempts - 1))):
            world.llm.append(llm_error(True))
        specs = []
        for i in range(draw(st.integers(1, 4))):
            call_id = f"c{round_}_{i}"
            name = draw(st.sampled_from(["a", "b", "code"]))
            specs.append((call_id, name))
            if name == "code":
                continue
            fails = draw(st.integers(0, tool_attempts))
            for n in range(1, fails + 1):
                world.tools[(call_id, n)] = done(call_id, n, success=False)
            if fails < tool_attempts and draw(st.booleans()):
                policy = draw(st.sampled_from(TimeoutPolicy))
                world.tools[(call_id, fails + 1)] = pending(call_id, 1000, policy)
                world.completions[call_id] = draw(st.sampled_from(RESOLUTIONS))
        parts = tuple(
            ToolCallPart(cid, name, _code_args(cid) if name == "code" else {"n": cid})
            for cid, name in specs
        )
        response = Ok(LlmResponse(Message(Role.ASSISTANT, parts), Usage(3, 2), StopReason.TOOL_USE))
        world.llm.append(response)
    world.llm.append(draw(st.sampled_from([answer("done"), llm_error(False)])))
    for _ in range(draw(st.integers(0, 3))):
        inject = draw(st.booleans())
        delivery = CheckpointDelivery(committed_user_messages=(user("more"),)) if inject else None
        world.checkpoints.append(Ok(delivery or CheckpointDelivery()))
    return config, world


def _code_args(call_id: str) -> JsonValue:
    """Code that fails (``boom``) for the first call of a round, else runs."""
    return {"code": "boom"} if call_id.endswith("_0") else {"code": f"print({call_id!r})"}


def reference(config: TurnConfig, world: World) -> Trace:
    return drive(make(config, world=world), copy.deepcopy(world))


def turn_level(trace: Trace) -> list[str]:
    return [to_json(e) for e in trace.envelopes if e.invocation.caused_by is None]


@SETTINGS
@given(scenarios(), st.data())
def test_any_feeding_order_and_chunking_gives_the_same_turn(
    scenario: tuple[TurnConfig, World], data: st.DataObject
) -> None:
    config, world = scenario
    expected = reference(config, world)

    def choose(pending_envelopes: list[EffectEnvelope]) -> list[int]:
        order = data.draw(st.permutations(range(len(pending_envelopes))))
        size = data.draw(st.integers(1, len(pending_envelopes)))
        return list(order[:size])

    actual = drive(make(config, world=world), copy.deepcopy(world), choose)
    assert sorted(actual.json) == sorted(expected.json)
    assert len(set(actual.keys)) == len(actual.keys)
    assert turn_level(actual) == turn_level(expected)
    assert actual.events == expected.events
    assert actual.result == expected.result


@SETTINGS
@given(scenarios(), st.integers(0, 30))
def test_checkpoint_and_restore_at_any_step(
    scenario: tuple[TurnConfig, World], restore_at: int
) -> None:
    config, world = scenario
    expected = reference(config, world)
    steps = [0]
    lost: list[EffectEnvelope] = []
    emitted_before = [0]

    def on_step(
        machine: TurnMachine, waiting: list[EffectEnvelope], trace: Trace
    ) -> TurnMachine | None:
        steps[0] += 1
        if steps[0] != restore_at + 1:
            return None
        lost.extend(waiting)
        emitted_before[0] = len(trace.envelopes)
        state = from_json(to_json(machine.checkpoint()), TurnState)
        assert state == machine.checkpoint()
        return TurnMachine.restore(state)

    actual = drive(make(config, world=world), copy.deepcopy(world), on_step=on_step)
    if not lost:  # the turn ended before the chosen step
        assert actual.json == expected.json
    else:
        m = emitted_before[0]
        redelivered = actual.envelopes[m : m + len(lost)]
        assert [to_json(e) for e in redelivered] == [to_json(e) for e in lost]
        assert [e.stable_hash() for e in redelivered] == [e.stable_hash() for e in lost]
        assert actual.json[:m] + actual.json[m + len(lost) :] == expected.json
    assert actual.events == expected.events
    assert actual.result == expected.result


def samples(process: ProcessOutcome) -> list[EffectOutcome]:
    """At least one outcome of every kind."""
    return [
        LlmCallOutcome(answer("x"), False),
        LlmCallOutcome(Err(LlmCallError("e", True)), False),
        DirectOutcome(answer("x")),
        ToolAttemptOutcome(done("zz", 1)),
        ToolAttemptOutcome(pending("zz")),
        ToolBatchOutcome(()),
        process,
        ExecCodeOutcome(Ok(ExecResponse("o"))),
        CheckpointOutcome(Ok(CheckpointDelivery())),
        SyncExecutionEnvironmentOutcome(Ok(None)),
        SleepOutcome(),
        AwaitEventOutcome(ok(1)),
        AwaitEventOutcome(TIMEOUT),
        PeekAwaitEventOutcome(None),
        DurableStepOutcome(None),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), wire_values(ProcessOutcome))
def test_every_state_and_outcome_kind_advances_or_is_refused_unchanged(
    scenario: tuple[TurnConfig, World], process: ProcessOutcome
) -> None:
    config, world = scenario
    outcomes = samples(process)

    def on_step(machine: TurnMachine, waiting: list[EffectEnvelope], trace: Trace) -> None:
        state = machine.checkpoint()
        for envelope in waiting:
            for outcome in outcomes:
                twin = TurnMachine.restore(state)
                twin.next()
                before = twin.checkpoint()
                if outcome.kind is envelope.kind:
                    twin.send(key_of(envelope), outcome)
                    assert twin.checkpoint() != before
                    continue
                try:
                    twin.send(key_of(envelope), outcome)
                except LashError as exc:
                    assert exc.code == codes.RUNTIME_EFFECT_WRONG_OUTCOME
                else:
                    raise AssertionError(f"{outcome.kind} accepted for {envelope.kind}")
                assert twin.checkpoint() == before
        twin = TurnMachine.restore(state)
        twin.next()
        before = twin.checkpoint()
        try:
            twin.send("no-such-key", outcomes[0])
        except LocalProtocolError as exc:
            assert exc.code == codes.TURN_UNKNOWN_REPLAY_KEY
        assert twin.checkpoint() == before
        assert machine.checkpoint() == state

    trace = drive(make(config, world=world), copy.deepcopy(world), on_step=on_step)
    assert trace.result is not None
