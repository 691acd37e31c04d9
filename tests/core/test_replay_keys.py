"""Replay-key formats and the invocations that carry them, with concrete expected strings."""

from __future__ import annotations

import hashlib

import pytest

from lash_core import (
    AwaitEventKey,
    EffectEnvelope,
    EffectKind,
    LashError,
    Message,
    Role,
    TextPart,
    TurnScope,
    codes,
    wire,
)
from lash_core.effects import (
    PROCESS_EVENT_SESSION,
    TURN_CANCEL_POST_ABORT_GATE,
    TURN_CANCEL_START_GATE,
    CausalRef,
    EffectCause,
    EffectSubject,
    Invocation,
    InvocationScope,
    LlmRequest,
    PeekAwaitEventCommand,
    ProcessCause,
    ProcessEventCause,
    ProcessEventSubject,
    ProcessTransfer,
    Replay,
    SessionNodeCause,
    SessionNodeSubject,
    SessionScope,
    SleepCommand,
    ToolCallCause,
    TriggerOccurrenceCause,
    TurnCause,
    causal_discriminator,
    child_effect_invocation,
    child_replay_base,
    direct_discriminator,
    direct_invocation,
    direct_replay_key,
    direct_request_hash,
    pending_tool_completion_invocation,
    process_cancel_requested_replay_key,
    process_effect_invocation,
    process_event_invocation,
    process_event_payload_hash,
    process_signal_wait_invocation,
    process_sleep_invocation,
    process_terminal_replay_key,
    process_tool_prefix,
    tool_attempt_invocation,
    tool_batch_attempt_invocation,
    tool_batch_invocation,
    tool_batch_retry_sleep_invocation,
    tool_retry_sleep_invocation,
    trigger_occurrence_replay_key,
    turn_cancel_post_abort_gate_invocation,
    turn_cancel_start_gate_invocation,
    turn_effect_invocation,
    turn_effect_replay_key,
    wake_id,
)
from lash_core.scope import TurnCancelGate

TURN_SCOPE = InvocationScope.for_turn("s1", "t1", 2, 5)
BATCH = turn_effect_invocation("s1", "t1", 2, 5, EffectKind.TOOL_BATCH, 7)
BATCH_CAUSE = EffectCause(session_id="s1", turn_id="t1", effect_id="7")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- turn and child effects ------------------------------------------------------------------


def test_turn_effect_key_and_invocation() -> None:
    assert (
        turn_effect_replay_key("root", "turn-1", 0, 3, EffectKind.LLM_CALL, 1)
        == "root:turn-1:0:3:llm_call:1"
    )
    assert (
        Invocation(
            TURN_SCOPE,
            EffectSubject("7", EffectKind.TOOL_BATCH),
            None,
            Replay("s1:t1:2:5:tool_batch:7"),
        )
        == BATCH
    )


def test_child_effect_copies_scope_and_chains_the_key() -> None:
    child = child_effect_invocation(BATCH, "7:x", EffectKind.SLEEP, "x")
    assert child == Invocation(
        TURN_SCOPE,
        EffectSubject("7:x", EffectKind.SLEEP),
        BATCH_CAUSE,
        Replay("s1:t1:2:5:tool_batch:7:x"),
    )


def test_child_replay_base_falls_back_to_effect_id_then_effect() -> None:
    no_replay = Invocation(TURN_SCOPE, EffectSubject("9", EffectKind.TOOL_BATCH))
    assert child_replay_base(no_replay) == "9"
    assert child_effect_invocation(no_replay, "c", EffectKind.SLEEP, "x").replay_key == "9:x"
    node = Invocation(InvocationScope.new("s1"), SessionNodeSubject("n1"))
    assert child_replay_base(node) == "effect"
    child = child_effect_invocation(node, "c", EffectKind.SLEEP, "x")
    assert child.replay_key == "effect:x"
    assert child.caused_by == SessionNodeCause("s1", "n1")


# -- tools -----------------------------------------------------------------------------------


def test_tool_batch_child_attempt_and_retry_sleep() -> None:
    attempt = tool_batch_attempt_invocation(BATCH, "child:1:call-b", 2)
    assert attempt.effect_id == "7:child:1:call-b:attempt:2"
    assert attempt.replay_key == "s1:t1:2:5:tool_batch:7:child:1:call-b:attempt:2"
    assert attempt.effect_kind is EffectKind.TOOL_ATTEMPT
    assert attempt.scope == TURN_SCOPE
    assert attempt.caused_by == BATCH_CAUSE
    sleep = tool_batch_retry_sleep_invocation(BATCH, "child:1:call-b", 2)
    assert sleep.effect_id == "7:child:1:call-b:attempt:2:sleep"
    assert sleep.replay_key == "s1:t1:2:5:tool_batch:7:child:1:call-b:attempt:2:sleep"
    assert sleep.effect_kind is EffectKind.SLEEP
    assert sleep.caused_by == BATCH_CAUSE


def test_pending_tool_completion_await() -> None:
    wait = pending_tool_completion_invocation(BATCH, "call-b")
    assert wait.effect_id == "7:call-b:await"
    assert wait.replay_key == "s1:t1:2:5:tool_batch:7:call-b:await"
    assert wait.effect_kind is EffectKind.AWAIT_EVENT
    assert wait.caused_by == BATCH_CAUSE
    assert wait.scope == TURN_SCOPE


def test_scalar_tool_attempt_without_parent() -> None:
    attempt = tool_attempt_invocation("s1", "call-a", 1)
    assert attempt == Invocation(
        InvocationScope.new("s1"),
        EffectSubject("tool:call-a:attempt:1", EffectKind.TOOL_ATTEMPT),
        None,
        Replay("tool:call-a:attempt:1"),
    )


def test_scalar_tool_attempt_with_parent() -> None:
    attempt = tool_attempt_invocation("s1", "call-a", 3, parent=BATCH)
    assert attempt.effect_id == "7:call-a:attempt:3"
    assert attempt.replay_key == "s1:t1:2:5:tool_batch:7:call-a:attempt:3"
    assert attempt.caused_by == BATCH_CAUSE
    no_effect_parent = Invocation(
        InvocationScope.new("s1"), SessionNodeSubject("n"), None, Replay("node-key")
    )
    attempt = tool_attempt_invocation("s1", "call-a", 1, parent=no_effect_parent)
    assert attempt.effect_id == "tool:call-a:attempt:1"
    assert attempt.replay_key == "node-key:call-a:attempt:1"


def test_process_tool_attempt_prefix() -> None:
    assert process_tool_prefix("p1", "fetch") == "process:p1:tool:fetch"
    root = tool_attempt_invocation("s1", "call-a", 2, process_id="p1", tool_name="fetch")
    assert root.effect_id == "tool:process:p1:tool:fetch:attempt:2"
    assert root.replay_key == "tool:process:p1:tool:fetch:attempt:2"
    child = tool_attempt_invocation(
        "s1", "call-a", 2, parent=BATCH, process_id="p1", tool_name="fetch"
    )
    assert child.effect_id == "7:process:p1:tool:fetch:attempt:2"
    assert child.replay_key == "s1:t1:2:5:tool_batch:7:process:p1:tool:fetch:attempt:2"


def test_scalar_retry_sleep() -> None:
    with_parent = tool_retry_sleep_invocation("s1", "call-a", "fetch", 1, parent=BATCH)
    assert with_parent.effect_id == "7:fetch:attempt:1:sleep"
    assert with_parent.replay_key == "s1:t1:2:5:tool_batch:7:fetch:attempt:1:sleep"
    assert with_parent.effect_kind is EffectKind.SLEEP
    root = tool_retry_sleep_invocation("s1", "call-a", "fetch", 1)
    key = "lash-tool:s1:call-a:fetch:attempt:1:sleep"
    assert root == Invocation(
        InvocationScope.new("s1"), EffectSubject(key, EffectKind.SLEEP), None, Replay(key)
    )


def test_tool_batch_without_and_with_parent() -> None:
    root = tool_batch_invocation("s1", "turn:t1", "b9")
    assert root == Invocation(
        InvocationScope.new("s1"),
        EffectSubject("tool-batch:b9", EffectKind.TOOL_BATCH),
        None,
        Replay("turn:t1:tool-batch:b9"),
    )
    child = tool_batch_invocation("s1", "turn:t1", "b9", parent=BATCH)
    assert child.effect_id == "7:tool-batch:b9"
    assert child.replay_key == "s1:t1:2:5:tool_batch:7:tool-batch:b9"


# -- processes -------------------------------------------------------------------------------


def test_process_admin_effect_without_parent() -> None:
    effect_id = "process:await:p1"
    inv = process_effect_invocation("s1", effect_id)
    assert inv == Invocation(
        InvocationScope.new("s1"),
        EffectSubject("process:await:p1", EffectKind.PROCESS),
        None,
        Replay("s1:process:await:p1"),
    )


def test_process_admin_effect_with_parent() -> None:
    transfer = ProcessTransfer(SessionScope("a"), SessionScope("b"), ("p1",))
    inv = process_effect_invocation("s2", transfer.effect_id, BATCH)
    digest = sha('["p1"]')
    assert inv.effect_id == f"process:transfer:session:a:session:b:{digest}"
    assert inv.replay_key == f"s1:t1:2:5:tool_batch:7:process:transfer:session:a:session:b:{digest}"
    assert inv.scope == InvocationScope.for_turn("s2", "t1", 2, 5)
    assert inv.caused_by == BATCH_CAUSE
    turnless = Invocation(InvocationScope.new("s1"), SessionNodeSubject("n"))
    inv = process_effect_invocation("s2", "process:await:p1", turnless)
    assert inv.scope == InvocationScope.new("s2")
    assert inv.replay_key == "process:process:await:p1"
    assert inv.caused_by == SessionNodeCause("s1", "n")


def test_process_sleep() -> None:
    root = process_sleep_invocation("s1", "process:p1", 0)
    assert root == Invocation(
        InvocationScope.new("s1"),
        EffectSubject("process:process:p1:sleep:0", EffectKind.SLEEP),
        None,
        Replay("process:process:p1:sleep:0"),
    )
    child = process_sleep_invocation("s1", "process:p1", 4, BATCH)
    assert child.effect_id == "7:process:process:p1:sleep:4"
    assert child.replay_key == "s1:t1:2:5:tool_batch:7:process:process:p1:sleep:4"
    assert child.caused_by == BATCH_CAUSE


def test_process_signal_wait() -> None:
    root = process_signal_wait_invocation("s1", "p1", "ready", 1)
    key = "process:p1:signal.ready:await:1"
    assert root == Invocation(
        InvocationScope.new("s1"), EffectSubject(key, EffectKind.AWAIT_EVENT), None, Replay(key)
    )
    child = process_signal_wait_invocation("s1", "p1", "ready", 2, BATCH)
    assert child.effect_id == "7:process:p1:signal.ready:await:2"
    assert child.replay_key == "s1:t1:2:5:tool_batch:7:process:p1:signal.ready:await:2"


def test_process_event_invocation() -> None:
    inv = process_event_invocation("p1", 3, "process.yield", Replay("r"))
    assert PROCESS_EVENT_SESSION == "runtime"
    assert inv == Invocation(
        InvocationScope.new("runtime"),
        ProcessEventSubject("p1", 3, "process.yield"),
        ProcessCause("p1"),
        Replay("r"),
    )
    assert wire.to_json(process_event_invocation("p1", 1, "e")) == (
        '{"scope":{"session_id":"runtime"},"subject":{"type":"process_event",'
        '"process_id":"p1","sequence":1,"event_type":"e"},'
        '"caused_by":{"type":"process","process_id":"p1"}}'
    )


def test_process_event_hashes_and_keys() -> None:
    assert process_event_payload_hash("e", {"b": 1, "a": None}) == sha('["e",{"a":null,"b":1}]')
    assert process_cancel_requested_replay_key("p1", "stop") == (
        "process:p1:cancel_requested:" + sha('["process.cancel_requested",{"reason":"stop"}]')
    )
    assert process_cancel_requested_replay_key("p1", None) == (
        "process:p1:cancel_requested:" + sha('["process.cancel_requested",{"reason":null}]')
    )
    assert process_terminal_replay_key("p1", "process.completed") == (
        "process:p1:terminal:process.completed"
    )
    assert trigger_occurrence_replay_key("occ-1") == "trigger:occ-1"


def test_wake_ids() -> None:
    assert (
        wake_id("session:session-002", "process/wake/session-002/001")
        == "wake:51231fa7d6b2e37aa1254d66324496689fdff9282f92eaccbf85708710517129"
    )
    assert wake_id("a", 'b"') == "wake:" + sha('["a","b\\""]')


# -- direct LLM calls ------------------------------------------------------------------------

REQUEST = LlmRequest("m", (Message(Role.USER, (TextPart("hi"),)),))
REQUEST_JSON = '{"model":"m","messages":[{"role":"user","parts":[{"type":"text","text":"hi"}]}]}'


@pytest.mark.parametrize(
    ("cause", "prefix"),
    [
        (TurnCause("s", "t"), "cause:turn:s:t:"),
        (EffectCause(session_id="s", turn_id="t", effect_id="e"), "cause:effect:s:t:e:"),
        (EffectCause(session_id="s", effect_id="e"), "cause:effect:s::e:"),
        (ToolCallCause("s", "c"), "cause:tool_call:s:c:"),
        (ProcessCause("p"), "cause:process:p:"),
        (ProcessEventCause("p", 4), "cause:process_event:p:4:"),
        (TriggerOccurrenceCause("o"), "cause:trigger:o:"),
        (TriggerOccurrenceCause("o", "sub", "inc", 2), "cause:trigger:o:sub:inc:2:"),
        (TriggerOccurrenceCause("o", "sub"), "cause:trigger:o:sub:::"),
        (TriggerOccurrenceCause("o", "sub", None, 0), "cause:trigger:o:sub::0:"),
        (SessionNodeCause("s", "n"), "cause:session_node:s:n:"),
    ],
)
def test_cause_prefixes(cause: CausalRef, prefix: str) -> None:
    assert causal_discriminator(cause) == prefix


def test_direct_discriminator() -> None:
    digest = sha(REQUEST_JSON)
    assert direct_request_hash(REQUEST) == digest
    assert direct_discriminator(REQUEST) == f"sha256:{digest}"
    assert direct_discriminator(REQUEST, "") == f"sha256:{digest}"
    assert direct_discriminator(REQUEST, "title-1") == "request:title-1"
    assert direct_discriminator(REQUEST, caused_by=TurnCause("s", "t")) == (
        f"cause:turn:s:t:sha256:{digest}"
    )
    assert direct_discriminator(REQUEST, "x", ProcessCause("p")) == "cause:process:p:request:x"


def test_direct_discriminator_hash_failure() -> None:
    bad = LlmRequest("\ud800", ())
    with pytest.raises(LashError) as info:
        direct_discriminator(bad)
    assert info.value.code == codes.RUNTIME_EFFECT_DISCRIMINATOR
    assert info.value.message.startswith("failed to serialize runtime effect discriminator: ")


def test_direct_replay_key_and_invocation() -> None:
    assert direct_replay_key("s", "title", "d", "t") == "s:t:direct:title:d"
    assert direct_replay_key("s", "title", "d") == "s:direct:title:d"
    assert direct_replay_key("s", "title", "d", "") == "s:direct:title:d"
    inv = direct_invocation("s", "title", "request:x", turn_id="t", caused_by=TurnCause("s", "t"))
    assert inv == Invocation(
        InvocationScope("s", "t"),
        EffectSubject("request:x", EffectKind.DIRECT),
        TurnCause("s", "t"),
        Replay("s:t:direct:title:request:x"),
    )
    sessionless = direct_invocation("s", "title", "d")
    assert sessionless.scope == InvocationScope.new("s")
    assert sessionless.replay_key == "s:direct:title:d"


# -- turn control ----------------------------------------------------------------------------


def test_turn_control_peeks() -> None:
    assert TURN_CANCEL_START_GATE == "turn_cancel.start_gate"
    assert TURN_CANCEL_POST_ABORT_GATE == "turn_cancel.post_abort_gate"
    start = turn_cancel_start_gate_invocation("s", "t")
    assert wire.to_json(start) == (
        '{"scope":{"session_id":"s","turn_id":"t"},"subject":{"type":"effect",'
        '"effect_id":"turn_cancel.start_gate","kind":"peek_await_event"},'
        '"replay":{"key":"turn_cancel.start_gate"}}'
    )
    post = turn_cancel_post_abort_gate_invocation("s", "t")
    assert post.effect_id == post.replay_key == "turn_cancel.post_abort_gate"
    assert post.scope == InvocationScope("s", "t")
    key = AwaitEventKey(TurnScope("s", "t"), TurnCancelGate(), "kid", "sig")
    envelope = EffectEnvelope.build(start, PeekAwaitEventCommand(key))
    assert envelope.kind is EffectKind.PEEK_AWAIT_EVENT


def test_built_invocations_make_valid_envelopes() -> None:
    for inv in (
        tool_batch_retry_sleep_invocation(BATCH, "child:0:c", 1),
        tool_retry_sleep_invocation("s1", "c", "n", 1),
        process_sleep_invocation("s1", "process:p", 0),
    ):
        assert EffectEnvelope.build(inv, SleepCommand(10)).replay_key == inv.replay_key
