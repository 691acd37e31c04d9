"""The turn machine's hot paths build the same values as the general code they inline.

A new machine's live state is built directly (not through a ``TurnState``), a round's first
tool attempts are built with the batch's key prefixes (not through
``ChildInvocations.tool_attempt``); each must equal what the general path builds.
"""

from __future__ import annotations

import asyncio

import pytest

from lash_asyncio._host import AsyncioPrimitives
from lash_core import (
    EffectKind,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Ok,
    Role,
    RunEffects,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolSpec,
    TurnConfig,
    TurnMachine,
    Usage,
)
from lash_core._unchecked import slot_setters
from lash_core.effects import EffectEnvelope, PreparedToolCall, ToolAttemptCommand
from lash_core.effects.replay_keys import tool_batch_attempt_invocation, turn_effect_invocation
from lash_core.turn._live import Live
from lash_core.turn.state import TurnState

CONVERSATION = (Message(Role.USER, (TextPart("hi"),)),)
CONFIG = TurnConfig(
    model="m",
    system_prompt="be brief",
    tools=(ToolSpec("lookup", "looks up", {"type": "object"}),),
    code_tool_name="code",
)


def test_a_fresh_live_state_is_the_one_a_new_turn_state_gives() -> None:
    fresh = Live.fresh(CONFIG, "s", "t", 2, None, CONVERSATION)
    general = Live(
        TurnState(
            config=CONFIG,
            session_id="s",
            turn_id="t",
            turn_index=2,
            system=CONFIG.system_prompt,
            tools=CONFIG.tools,
            messages=CONVERSATION,
            progress_cursor=len(CONVERSATION),
        )
    )
    assert fresh.freeze() == general.freeze()
    assert [(name, getattr(fresh, name)) for name in Live.__slots__] == [
        (name, getattr(general, name)) for name in Live.__slots__
    ]


def test_a_new_machine_checkpoints_as_a_restored_one_resumes() -> None:
    machine = TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=CONVERSATION)
    state = machine.checkpoint()
    assert state.messages == CONVERSATION and state.progress_cursor == 1
    assert state.system == "be brief" and state.tools == CONFIG.tools
    assert state.usage == Usage() and state.next_effect_id == 2  # the model call took id 1
    restored = TurnMachine.restore(state)
    first, again = machine.next(), restored.next()
    assert first == again


def test_a_rounds_first_attempts_are_the_batch_childrens() -> None:
    machine = TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=CONVERSATION)
    step = machine.next()
    assert isinstance(step, RunEffects)
    parts = (
        ToolCallPart("a", "lookup", {"q": 1}),
        ToolCallPart("x", "code", {"code": "1"}),
        ToolCallPart("b", "lookup", {"q": 2}),
    )
    response = LlmResponse(Message(Role.ASSISTANT, parts), Usage(), StopReason.TOOL_USE)
    machine.send(step.envelopes[0].replay_key or "", LlmCallOutcome(Ok(response), False))
    step = machine.next()
    assert isinstance(step, RunEffects)
    attempts = [e for e in step.envelopes if isinstance(e.command, ToolAttemptCommand)]
    commands = [e.command for e in attempts]
    assert [c.call.call_id for c in commands if isinstance(c, ToolAttemptCommand)] == ["a", "b"]
    batch = TurnMachine.restore(machine.checkpoint())._live.phase.batch  # type: ignore[union-attr]
    assert batch is not None
    expected = [
        tool_batch_attempt_invocation(batch, "child:0:a", 1),
        tool_batch_attempt_invocation(batch, "child:1:b", 1),
    ]
    assert [e.invocation for e in attempts] == expected
    assert [e.replay_key for e in attempts] == [
        "s:t:0:0:tool_batch:2:child:0:a:attempt:1",
        "s:t:0:0:tool_batch:2:child:1:b:attempt:1",
    ]
    max_attempts = CONFIG.tool_retry.max_attempts
    assert commands == [
        ToolAttemptCommand(
            call=PreparedToolCall(call_id, "lookup", "lookup", {"q": q}),
            attempt=1,
            max_attempts=max_attempts,
        )
        for call_id, q in (("a", 1), ("b", 2))
    ]
    for envelope in attempts:
        assert EffectEnvelope.build(envelope.invocation, envelope.command) == envelope
    # The code run took the next effect id and is emitted between them, in call order.
    assert [e.replay_key for e in step.envelopes][1] == "s:t:0:0:exec_code:3"


def test_a_wake_set_twice_or_after_its_wait_was_cancelled_does_nothing() -> None:
    async def main() -> None:
        primitives = AsyncioPrimitives()
        event = primitives.new_event()
        event.set()
        event.set()  # set already: no error
        assert event.is_set()
        await primitives.wait_event(event, None)
        cancelled = primitives.new_event()
        cancelled.future.cancel()  # type: ignore[attr-defined]
        cancelled.set()  # its wait was cancelled: nothing happens
        assert not cancelled.is_set()

    asyncio.run(main())


def test_slot_setters_want_every_field() -> None:
    with pytest.raises(AssertionError):
        slot_setters(PreparedToolCall, "call_id", "tool_id", "tool_name", "args")
    assert len(slot_setters(ToolSpec, "name", "description", "input_schema")) == 3


def test_turn_effects_are_the_general_turn_effect_invocations() -> None:
    live = Live.fresh(CONFIG, "s", "t", 3, None, CONVERSATION)
    built = []
    for iteration, kind in [
        (0, EffectKind.LLM_CALL),
        (0, EffectKind.TOOL_BATCH),
        (1, EffectKind.SYNC_EXECUTION_ENVIRONMENT),
        (1, EffectKind.LLM_CALL),
        (2, EffectKind.CHECKPOINT),
    ]:
        live.protocol_iteration = iteration
        built.append((live.next_effect_id, iteration, kind, live.turn_effect(kind)))
    for effect_id, iteration, kind, invocation in built:
        assert invocation == turn_effect_invocation("s", "t", 3, iteration, kind, effect_id)
        assert invocation.replay_key == f"s:t:3:{iteration}:{kind}:{effect_id}"
    assert live.next_effect_id == 6
