"""``ScriptedModel``: a turn from a script of plain data, on trio, asyncio and the simulator,
and the coded errors that say which reply went wrong and why."""

from __future__ import annotations

import pytest

from lash_core import (
    LlmResponse,
    ScriptedModel,
    StopReason,
    Toolbox,
    ToolCallPart,
    TurnCompleted,
    TurnConfig,
    TurnStopped,
    Usage,
    call,
    codes,
    error_reply,
    reply,
    tool,
)
from lash_core.effects import LlmCallError, LlmRequest, ToolSpec
from lash_core.errors import LocalProtocolError
from lash_core.testing.conformance import Driver, Harness
from lash_core.turn import RetryPolicy, TurnStopReason
from tests.handlers.support import DRIVERS, run


@tool
def weather(city: str) -> dict[str, object]:
    """Current weather for a city.

    Args:
        city: The city's name.
    """
    return {"city": city, "temperature_c": 21}


BOX = Toolbox(weather)


def _stopped(result: object) -> TurnStopped:
    outcome = result.outcome  # type: ignore[attr-defined]
    assert isinstance(outcome, TurnStopped), outcome
    return outcome


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_scripted_turn_calls_a_tool_then_answers(driver: Driver) -> None:
    model = ScriptedModel(
        [reply(tool_calls=[call("weather", city="Oslo")]), reply("It is 21 °C in Oslo.")]
    )
    result = run(driver, model, BOX)
    assert isinstance(result.outcome, TurnCompleted)
    assert result.outcome.message.text == "It is 21 °C in Oslo."
    asked = result.messages[1]
    assert asked.tool_calls == (ToolCallPart("call-1", "weather", {"city": "Oslo"}),)
    assert result.messages[2].parts[0].output == {"city": "Oslo", "temperature_c": 21}  # type: ignore[union-attr]
    assert model.remaining == 0 and len(model.requests) == 2
    assert [spec.name for spec in model.requests[0].tools] == ["weather"]


def test_call_ids_are_assigned_in_script_order_around_the_given_ones() -> None:
    model = ScriptedModel(
        [
            reply(
                tool_calls=[call("weather", city="A"), call("weather", city="B", call_id="call-2")]
            ),
            {"tool_calls": [{"name": "weather", "args": {"city": "C"}}]},
            "done",
        ]
    )
    played = model.replies
    ids = [part.call_id for r in played[:2] for part in r.message.tool_calls]  # type: ignore[union-attr]
    assert ids == ["call-1", "call-2", "call-3"]


def test_stop_reason_is_inferred_and_usage_estimated_unless_given() -> None:
    model = ScriptedModel(
        [
            reply(tool_calls=[call("weather", city="Oslo")]),
            reply("x" * 400),
            reply("cut", stop_reason=StopReason.OUTPUT_LIMIT, usage=Usage(7, 3)),
        ]
    )
    responses = model.replies
    assert [r.stop_reason for r in responses] == [  # type: ignore[union-attr]
        StopReason.TOOL_USE,
        StopReason.STOP,
        StopReason.OUTPUT_LIMIT,
    ]
    assert responses[2].usage == Usage(7, 3)  # type: ignore[union-attr]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_estimated_usage_grows_with_the_text(driver: Driver) -> None:
    model = ScriptedModel(["short", "x" * 400])
    result = run(driver, model, BOX)
    usage = result.usage
    assert usage.input_tokens >= 1 and usage.output_tokens >= 1
    assert usage.output_tokens < 20  # "short" is a few tokens


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_running_out_of_replies_names_the_call(driver: Driver) -> None:
    model = ScriptedModel([reply(tool_calls=[call("weather", city="Oslo")])])
    errors: list[object] = []
    result = run(driver, model, BOX, errors=errors)  # type: ignore[arg-type]
    stopped = _stopped(result)
    assert stopped.reason is TurnStopReason.PROVIDER_ERROR
    assert stopped.error is not None and stopped.error.code == codes.SCRIPTED_MODEL_EXHAUSTED
    assert "model call 2 asked for a reply, but the script has only 1" in stopped.error.message
    assert "a tool message" in stopped.error.message
    assert len(errors) == 1  # on_handler_error was told


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_call_to_a_tool_the_request_lacks_is_refused(driver: Driver) -> None:
    model = ScriptedModel([reply(tool_calls=[call("wether", city="Oslo")])])
    stopped = _stopped(run(driver, model, BOX))
    assert stopped.error is not None and stopped.error.code == codes.SCRIPTED_MODEL_UNKNOWN_TOOL
    assert "reply 1 of 1 calls tool 'wether'" in stopped.error.message
    assert "'weather'" in stopped.error.message


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_expect_checks_the_request(driver: Driver) -> None:
    def has_tool_result(request: LlmRequest) -> bool:
        return len(request.messages) == 3

    good = ScriptedModel(
        [reply(tool_calls=[call("weather", city="Oslo")]), reply("ok", expect=has_tool_result)]
    )
    assert isinstance(run(driver, good, BOX).outcome, TurnCompleted)

    def asserts(request: LlmRequest) -> None:
        assert request.system == "be brief", "no system prompt"

    for expect, said in ((lambda request: False, "returned False"), (asserts, "AssertionError")):
        bad = ScriptedModel([reply("ok", expect=expect)])
        stopped = _stopped(run(driver, bad, BOX))
        assert stopped.error is not None
        assert stopped.error.code == codes.SCRIPTED_MODEL_EXPECTATION_FAILED
        assert "reply 1 of 1: its expect check" in stopped.error.message
        assert said in stopped.error.message


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_error_replies_script_retryable_and_permanent_failures(driver: Driver) -> None:
    config = TurnConfig(
        model="scripted",
        tools=BOX.specs,
        model_retry=RetryPolicy(max_attempts=3, base_delay_ms=10),
    )
    flaky = ScriptedModel([error_reply("busy", retryable=True), reply("fine")])
    result = run(driver, flaky, BOX, config=config)
    assert isinstance(result.outcome, TurnCompleted) and result.outcome.message.text == "fine"
    assert len(flaky.requests) == 2

    broken = ScriptedModel([{"error": "bad key", "code": "auth_failed", "kind": "auth"}])
    stopped = _stopped(run(driver, broken, BOX, config=config))
    assert stopped.reason is TurnStopReason.PROVIDER_ERROR
    assert stopped.error is not None and stopped.error.code == "auth_failed"
    assert len(broken.requests) == 1  # a permanent failure is not retried


def test_plain_values_are_accepted() -> None:
    response = LlmResponse.reply("as is")
    failure = LlmCallError("down", retryable=False)
    model = ScriptedModel([response, failure, "text"])
    assert model.remaining == 3


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ([{"txt": "typo"}], "reply 1: unknown key 'txt'"),
        (["ok", {"tool_calls": [{"tool": "x"}]}], "reply 2: unknown tool call key 'tool'"),
        ([{"stop_reason": "nope"}], "reply 1:"),
        ([42], "reply 1: expected reply(...)"),
        (["ok", reply(42)], "reply 2: TextPart.text must be a str, got int 42"),  # type: ignore[arg-type]
        (
            [reply(tool_calls=[call("a", call_id="c"), call("b", call_id="c")])],
            "the call id 'c' is used twice",
        ),
    ],
)
def test_malformed_replies_are_refused_as_built(script: list[object], said: str) -> None:
    with pytest.raises(LocalProtocolError) as raised:
        ScriptedModel(script)  # type: ignore[arg-type]
    assert raised.value.code == codes.SCRIPTED_REPLY_INVALID
    assert said in raised.value.message


def test_call_takes_a_mapping_for_argument_names_that_are_not_python_names() -> None:
    assert call("t", {"from": 1}, to=2).args == {"from": 1, "to": 2}
    with pytest.raises(LocalProtocolError):
        call("")


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_scripted_model_answers_direct_calls(driver: Driver) -> None:
    from lash_core import direct_call
    from lash_core.effects import LlmRequest

    model = ScriptedModel(["direct answer"])
    out: list[object] = []

    async def scenario(harness: Harness) -> None:
        host = harness.new_host()
        request = LlmRequest("m", (), (ToolSpec("weather", "w", {}),))
        out.append(await direct_call(host, request, model, session_id="s", usage_source="title"))

    driver.run(scenario)
    assert out[0].message.text == "direct answer"  # type: ignore[attr-defined]
