"""The keyword builders make the same values (and the same wire JSON) as the constructors."""

from __future__ import annotations

from lash_core import (
    LlmCallOutcome,
    LlmResponse,
    Message,
    Ok,
    Role,
    StopReason,
    TextPart,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolCompletion,
    TurnScope,
    Usage,
    to_json,
)
from lash_core.effects import LlmCallError, LlmErrorKind, ToolAttemptCommand, ToolResultPart
from lash_core.effects.tools import (
    Duration,
    PendingCompletion,
    PreparedToolCall,
    TimeoutPolicy,
    ToolAttemptLaunchDone,
    ToolCallRecord,
    ToolLaunchPending,
)
from lash_core.keys import KeySigner
from lash_core.promise import AwaitEventRegistry
from lash_core.wire import Err

CALL = ToolCallPart("c1", "weather", {"city": "Oslo"})


def test_message_builders_equal_the_constructors_and_their_json() -> None:
    assert Message.user("hi") == Message(Role.USER, (TextPart("hi"),))
    assert Message.system("be brief") == Message(Role.SYSTEM, (TextPart("be brief"),))
    built = Message.assistant("Looking.", tool_calls=[CALL])
    assert built == Message(Role.ASSISTANT, (TextPart("Looking."), CALL))
    assert to_json(built) == to_json(Message(Role.ASSISTANT, (TextPart("Looking."), CALL)))
    assert Message.assistant(tool_calls=[CALL]).parts == (CALL,)
    result = ToolResultPart("c1", "weather", {"temperature_c": 21})
    assert Message.tool_results(result) == Message(Role.TOOL, (result,))


def test_message_text_and_tool_calls_read_the_parts() -> None:
    message = Message(Role.ASSISTANT, (TextPart("a"), CALL, TextPart("b")))
    assert message.text == "ab"
    assert message.tool_calls == (CALL,)
    assert Message.assistant(tool_calls=[CALL]).text == ""


def test_llm_response_reply_infers_the_stop_reason() -> None:
    assert LlmResponse.reply("Done.") == LlmResponse(
        Message(Role.ASSISTANT, (TextPart("Done."),)), Usage(), StopReason.STOP
    )
    with_call = LlmResponse.reply(tool_calls=[CALL], usage=Usage(10, 5))
    assert with_call.stop_reason is StopReason.TOOL_USE and with_call.usage == Usage(10, 5)
    limited = LlmResponse.reply("cut", stop_reason=StopReason.OUTPUT_LIMIT)
    assert limited.stop_reason is StopReason.OUTPUT_LIMIT


def test_llm_call_outcome_ok_and_error() -> None:
    response = LlmResponse.reply("Done.")
    assert LlmCallOutcome.ok(response) == LlmCallOutcome(Ok(response), False)
    failed = LlmCallOutcome.error("slow down", retryable=True, kind=LlmErrorKind.RATE_LIMIT)
    expected = LlmCallError("slow down", True, LlmErrorKind.RATE_LIMIT)
    assert failed == LlmCallOutcome(Err(expected), False)


def test_tool_call_record_for_attempt_copies_the_call() -> None:
    command = ToolAttemptCommand(
        call=PreparedToolCall("c1", "weather", "weather", {"city": "Oslo"}),
        attempt=2,
        max_attempts=3,
    )
    record = ToolCallRecord.for_attempt(command, {"t": 21, "raw": "..."}, model_return={"t": 21})
    assert record == ToolCallRecord(
        call_id="c1",
        tool_name="weather",
        args={"city": "Oslo"},
        output={"t": 21, "raw": "..."},
        model_return={"t": 21},
        duration_ms=0,
        attempt=2,
        success=True,
    )
    same = ToolCallRecord.for_attempt(command, None, success=False, duration_ms=4)
    assert same.output is None and same.model_return is None  # None is a value, not "unset"
    assert not same.success and same.duration_ms == 4
    assert ToolAttemptOutcome.done(record) == ToolAttemptOutcome(ToolAttemptLaunchDone(record))


def test_tool_attempt_outcome_pending() -> None:
    registry = AwaitEventRegistry(KeySigner(bytes(32)))
    key = registry.mint(TurnScope("s", "t"), ToolCompletion("c1"))
    built = ToolAttemptOutcome.pending(key, deadline_ms=1500, on_timeout=TimeoutPolicy.FAIL_TURN)
    pending = PendingCompletion(Duration(1, 500_000_000), TimeoutPolicy.FAIL_TURN)
    assert built == ToolAttemptOutcome(ToolLaunchPending(key, pending, 0))
    assert ToolAttemptOutcome.pending(key).launch.pending == PendingCompletion()  # type: ignore[union-attr]
