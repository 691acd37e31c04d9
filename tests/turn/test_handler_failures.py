"""What a handler or a callback of ``run_turn`` gets wrong ends as a coded outcome or a clear
exception, on trio and asyncio alike.

Each regression test is named after the bug it pins: a right-kind outcome with bad contents
raised a raw ``AttributeError`` out of ``run_turn`` (and broke the machine); a pending tool could
hand back another call's key and get that call's result; a non-JSON tool output failed later
naming no tool; a handler's exception lost its traceback; ``on_effect`` raising was reported as
a handler failure and ``on_event`` raising at the end left a committed terminal while
``run_turn`` raised. The property test at the end feeds arbitrary Python values as handler
results.
"""

from __future__ import annotations

import datetime
import math
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from lash_asyncio.testing import AsyncioDriver
from lash_core import ToolCompletion, TurnScope, codes, ok
from lash_core.effects import (
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    Invocation,
    InvocationScope,
    LlmCallCommand,
    LlmCallOutcome,
    LlmRequest,
    Message,
    Role,
    TextPart,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from lash_core.effects.checks import check_outcome_contents
from lash_core.effects.tools import (
    Duration,
    PendingCompletion,
    ToolAttemptLaunchDone,
    ToolCallRecord,
    ToolLaunchPending,
)
from lash_core.errors import LashError
from lash_core.host import HandlerExecutor, InlineHost
from lash_core.testing.conformance import Driver, Harness
from lash_core.turn import (
    TurnCompleted,
    TurnConfig,
    TurnHandlers,
    TurnHooks,
    TurnMachine,
    TurnOutcomeEvent,
    TurnResult,
    TurnRunner,
    TurnStopped,
    TurnStopReason,
    run_turn,
)
from lash_core.turn.control import TerminalFailed, TurnAddress, await_terminal, gate_key
from lash_core.wire import MAX_JSON_DEPTH, Err, JsonValue, Ok, to_json
from lash_sqlite import SqliteStore
from lash_trio.testing import TrioDriver
from tests.durable_host.support import FLAVORS as DURABLE_FLAVORS
from tests.durable_host.support import Counts, Flavor, Wall, new_machine, report_key
from tests.durable_host.support import handlers as durable_handlers
from tests.turn.world import answer, calls, user

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
SECRET = bytes(range(32))
SCOPE = TurnScope("s", "t")
ADDRESS = TurnAddress("s", "t")
CONFIG = TurnConfig(
    model="scripted",
    tools=(ToolSpec("lookup", "Look up.", {}), ToolSpec("fetch", "Fetch.", {})),
)

ToolAnswer = Callable[[InlineHost, ToolAttemptCommand], object]


def _record(command: ToolAttemptCommand, output: Any) -> ToolAttemptOutcome:
    call = command.call
    record = ToolCallRecord(
        call.call_id, call.tool_name, call.args, output, output, 0, command.attempt, True
    )
    return ToolAttemptOutcome(ToolAttemptLaunchDone(record))


def _forced(original: Any, changes: dict[str, Any]) -> Any:
    """``original`` with ``changes``, past any validator of its class (as a handler could)."""
    new = object.__new__(type(original))
    for field in attrs.fields(type(original)):
        value = changes.get(field.name, getattr(original, field.name))
        object.__setattr__(new, field.name, value)
    return new


def _ok_tool(host: InlineHost, command: ToolAttemptCommand) -> object:
    return _record(command, f"out:{command.call.call_id}")


async def _turn(
    h: Harness,
    *,
    model_answer: object = None,
    tools: dict[str, ToolAnswer] | None = None,
    resolve: dict[str, JsonValue] | None = None,
    **options: Any,
) -> TurnResult:
    """Run a turn under turn control: the model calls ``tools`` (call id -> answer), then
    answers. ``model_answer`` replaces the first model outcome; ``resolve`` resolves the
    completion keys of the named calls at t=1."""
    terminals: list[object] = options.pop("terminals", [])
    host = h.new_host(SECRET)
    tools = tools or {}
    specs = [(call_id, "lookup" if i == 0 else "fetch") for i, call_id in enumerate(tools)]
    responses: list[object] = [
        LlmCallOutcome(calls(*specs), False) if specs else LlmCallOutcome(answer("hi"), False),
        LlmCallOutcome(answer("all done"), False),
    ]
    if model_answer is not None:
        responses[0] = model_answer

    async def model(envelope: EffectEnvelope) -> EffectOutcome:
        return responses.pop(0)  # type: ignore[return-value]

    async def tool_handler(envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        return tools[command.call.call_id](host, command)  # type: ignore[return-value]

    async def resolver() -> None:
        await h.sleep(1)
        for call_id, payload in (resolve or {}).items():
            host.resolve_await_event(
                host.await_event_key(SCOPE, ToolCompletion(call_id)), ok(payload)
            )

    h.spawn(resolver)
    machine = TurnMachine(
        CONFIG,
        session_id="s",
        turn_id="t",
        turn_index=0,
        messages=(user("go"),),
        cancel_gate=gate_key(host, ADDRESS),
    )
    handlers = TurnHandlers(model=model, tools=tool_handler)
    try:
        return await run_turn(machine, host, handlers, **options)
    finally:
        # Every end of a turn under turn control publishes its terminal: nothing hangs.
        terminals.append(await await_terminal(host, ADDRESS, timeout=5))


def _run(driver: Driver, **kwargs: Any) -> TurnResult:
    results: list[TurnResult] = []

    async def scenario(h: Harness) -> None:
        results.append(await _turn(h, **kwargs))

    driver.run(scenario)
    return results[0]


def _tool_results(result: TurnResult) -> dict[str, ToolResultPart]:
    return {
        part.call_id: part
        for message in result.messages
        if message.role is Role.TOOL
        for part in message.parts
        if isinstance(part, ToolResultPart)
    }


def _error_of(part: ToolResultPart) -> dict[str, Any]:
    assert part.is_error
    output = part.output
    assert isinstance(output, dict) and isinstance(output["error"], dict)
    return output["error"]


# -- a right-kind outcome with bad contents --------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_model_outcome_ok_none_was_a_raw_attribute_error(driver: Driver) -> None:
    result = _run(driver, model_answer=LlmCallOutcome(Ok(None), False))  # type: ignore[arg-type]
    outcome = result.outcome
    assert isinstance(outcome, TurnStopped) and outcome.reason is TurnStopReason.PROVIDER_ERROR
    assert outcome.error is not None
    assert outcome.error.code == codes.RUNTIME_EFFECT_INVALID_OUTCOME
    assert "the llm_call handler" in outcome.error.message and "model" in outcome.error.message
    assert "result.Ok: expected a LlmResponse, got None" in outcome.error.message


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_pending_completion_with_an_int_deadline_was_a_raw_attribute_error(
    driver: Driver,
) -> None:
    def bad_deadline(host: InlineHost, command: ToolAttemptCommand) -> object:
        key = host.await_event_key(SCOPE, ToolCompletion(command.call.call_id))
        return ToolAttemptOutcome(ToolLaunchPending(key, PendingCompletion(deadline=30), 0))  # type: ignore[arg-type]

    result = _run(driver, tools={"c1": bad_deadline, "c2": _ok_tool})
    assert isinstance(result.outcome, TurnCompleted)
    results = _tool_results(result)
    error = _error_of(results["c1"])
    assert error["code"] == codes.RUNTIME_EFFECT_INVALID_OUTCOME
    assert "tool 'lookup', call 'c1'" in error["message"]
    assert "launch.pending.deadline: expected a Duration or None, got int" in error["message"]
    assert results["c2"].output == "out:c2" and not results["c2"].is_error


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_bad_outcome_leaves_the_machine_usable(driver: Driver) -> None:
    # The turn went on after the refusal: the second model call ran and answered.
    def wrong_record(host: InlineHost, command: ToolAttemptCommand) -> object:
        record = _forced(_record(command, 1).launch.record, {"success": "yes"})  # type: ignore[union-attr]
        return ToolAttemptOutcome(ToolAttemptLaunchDone(record))

    result = _run(driver, tools={"c1": wrong_record})
    assert isinstance(result.outcome, TurnCompleted)
    error = _error_of(_tool_results(result)["c1"])
    assert "launch.record.success: expected a bool, got str" in error["message"]


# -- a pending key of another call or turn ---------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("scope", "call_id"),
    [(SCOPE, "c2"), (TurnScope("s", "earlier-turn"), "c1"), (TurnScope("other", "t"), "c1")],
    ids=["another-call", "another-turn", "another-session"],
)
def test_pending_key_of_another_call_took_that_calls_result(
    driver: Driver, scope: TurnScope, call_id: str
) -> None:
    def foreign(host: InlineHost, command: ToolAttemptCommand) -> object:
        key = host.await_event_key(scope, ToolCompletion(call_id))
        return ToolAttemptOutcome(ToolLaunchPending(key, PendingCompletion(Duration(60, 0)), 0))

    def own(host: InlineHost, command: ToolAttemptCommand) -> object:
        key = host.await_event_key(SCOPE, ToolCompletion(command.call.call_id))
        return ToolAttemptOutcome(ToolLaunchPending(key, PendingCompletion(Duration(60, 0)), 0))

    result = _run(driver, tools={"c1": foreign, "c2": own}, resolve={"c2": {"for": "c2"}})
    assert isinstance(result.outcome, TurnCompleted)
    results = _tool_results(result)
    error = _error_of(results["c1"])
    assert error["code"] == codes.TOOL_COMPLETION_KEY_MISMATCH
    assert "ToolCompletion(tool_call_id='c1')" in error["message"]
    # c2's resolution is c2's result, and only c2's.
    assert results["c2"].output == {"for": "c2"} and not results["c2"].is_error


# -- tool outputs that are not JSON ----------------------------------------------------------


def _deep(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("output", "code", "detail"),
    [
        (datetime.datetime(2026, 1, 1), codes.RUNTIME_EFFECT_INVALID_OUTCOME, "datetime"),
        ({"ratio": math.nan}, codes.RUNTIME_EFFECT_INVALID_OUTCOME, "$.ratio"),
        ({1: "int key"}, codes.RUNTIME_EFFECT_INVALID_OUTCOME, "key"),
        (_deep(MAX_JSON_DEPTH + 5), codes.WIRE_TOO_DEEP, "nest"),
    ],
    ids=["datetime", "nan", "int-key", "too-deep"],
)
def test_non_json_tool_output_failed_later_naming_no_tool(
    driver: Driver, output: object, code: str, detail: str
) -> None:
    result = _run(driver, tools={"c1": lambda host, command: _record(command, output)})
    assert isinstance(result.outcome, TurnCompleted)
    error = _error_of(_tool_results(result)["c1"])
    assert error["code"] == code
    assert "tool 'lookup', call 'c1'" in error["message"]
    assert "launch.record.output" in error["message"] and detail in error["message"]
    to_json(result)  # the turn's result is JSON


# -- handler exceptions keep their traceback -------------------------------------------------


def _crash(host: InlineHost, command: ToolAttemptCommand) -> object:
    raise ZeroDivisionError("the tool's own bug")


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_handler_exception_lost_its_traceback(driver: Driver) -> None:
    reported: list[tuple[str | None, LashError]] = []
    result = _run(
        driver,
        tools={"c1": _crash, "c2": lambda host, command: _record(command, math.inf)},
        on_handler_error=lambda envelope, error: reported.append((envelope.replay_key, error)),
    )
    assert isinstance(result.outcome, TurnCompleted)
    by_key = {key.split(":")[-3]: error for key, error in reported if key is not None}
    assert set(by_key) == {"c1", "c2"}
    crash = by_key["c1"]
    assert crash.code == codes.RUNTIME_EFFECT_HANDLER_FAILED
    cause = crash.__cause__
    assert isinstance(cause, ZeroDivisionError) and str(cause) == "the tool's own bug"
    frames = [frame.name for frame in traceback.extract_tb(cause.__traceback__)]
    assert frames[-1] == "_crash"  # the user's own frame is in the traceback
    assert by_key["c2"].code == codes.RUNTIME_EFFECT_INVALID_OUTCOME
    assert by_key["c2"].__cause__ is None


def test_turn_hooks_are_told_of_handler_errors() -> None:
    class Hooks(TurnHooks):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_handler_error(self, envelope: EffectEnvelope, error: LashError) -> None:
            self.seen.append(error.code)

        def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
            self.seen.append(f"outcome {outcome.kind.value}")

    hooks = Hooks()

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        responses = [calls(("c1", "lookup")), answer("done")]

        async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
            return LlmCallOutcome(responses.pop(0), False)

        async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
            raise RuntimeError("down")

        machine = TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=())
        runner = TurnRunner(machine, host, TurnHandlers(model=model, tools=tools), hooks=hooks)
        await runner.run()

    TrioDriver().run(scenario)
    assert hooks.seen == [
        "outcome llm_call",
        codes.RUNTIME_EFFECT_HANDLER_FAILED,
        "outcome tool_attempt",
        "outcome llm_call",
    ]


# -- callbacks that raise --------------------------------------------------------------------


class CallbackBug(Exception):
    pass


def _raise_on(kind: type[Any]) -> Callable[..., None]:
    def callback(*args: Any) -> None:
        if any(isinstance(a, kind) for a in args):
            raise CallbackBug(kind.__name__)

    return callback


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("option", "callback", "name"),
    [
        ("on_event", _raise_on(TurnOutcomeEvent), "on_event"),
        ("on_event", _raise_on(object), "on_event"),
        ("on_effect", _raise_on(ToolAttemptOutcome), "on_effect"),
        ("on_effect", _raise_on(LlmCallOutcome), "on_effect"),
        ("on_handler_error", _raise_on(LashError), "on_handler_error"),
    ],
    ids=["on_event-at-the-end", "on_event-first", "on_effect-tasks", "on_effect", "on_error"],
)
def test_on_event_raising_left_a_finished_terminal_while_run_turn_raised(
    driver: Driver, option: str, callback: Callable[..., None], name: str
) -> None:
    terminals: list[object] = []
    raised: list[BaseException] = []

    async def scenario(h: Harness) -> None:
        try:
            options: dict[str, Any] = {option: callback, "terminals": terminals}
            await _turn(h, tools={"c1": _crash, "c2": _ok_tool}, **options)
        except BaseException as exc:
            raised.append(exc)

    driver.run(scenario)
    # The callback's own exception, not wrapped (no exception group, no LashError)...
    assert len(raised) == 1 and type(raised[0]) is CallbackBug
    # ...after the turn's terminal was published as failed, naming the callback.
    (terminal,) = terminals
    assert isinstance(terminal, TerminalFailed)
    assert terminal.error.code == codes.TURN_CALLBACK_FAILED
    assert terminal.error.message.startswith(f"{name} raised CallbackBug")


# -- the property: whatever a handler returns, only coded outcomes or LashErrors -------------

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.just(datetime.date(2026, 1, 1)),
    st.just(object()),
    st.just(_deep(MAX_JSON_DEPTH + 1)),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), st.none(), max_size=2),
    st.just(Ok(None)),
    st.just(Err(None)),
    st.just(Duration(1, 0)),
    st.just(Message(Role.USER, (TextPart("x"),))),
    st.just(TextPart("x")),
)


def _mutated(value: Any, data: st.DataObject) -> Any:
    """``value`` with some of its attrs fields (at any depth) replaced by junk."""
    if not attrs.has(type(value)):
        return value
    changes: dict[str, Any] = {}
    for field in attrs.fields(type(value)):
        if not field.init:
            continue
        inner = getattr(value, field.name)
        choice = data.draw(st.sampled_from(["keep", "junk", "deeper"]))
        if choice == "junk":
            changes[field.name] = data.draw(_junk)
        elif choice == "deeper":
            changes[field.name] = _mutated(inner, data)
    return _forced(value, changes) if changes else value


def _samples(host: InlineHost, command: ToolAttemptCommand) -> list[object]:
    key = host.await_event_key(SCOPE, ToolCompletion(command.call.call_id))
    return [
        _record(command, {"ok": True}),
        ToolAttemptOutcome(ToolLaunchPending(key, PendingCompletion(Duration(1, 0)), 0)),
    ]


_MODEL_SAMPLES = [
    LlmCallOutcome(calls(("c1", "lookup")), False),
    LlmCallOutcome(answer("hi"), False),
    LlmCallOutcome(
        Ok(
            attrs.evolve(
                calls(("c1", "lookup")).value,  # type: ignore[union-attr]
                message=Message(Role.ASSISTANT, (ToolCallPart("c1", "lookup", {"a": 1}),)),
            )
        ),
        False,
    ),
]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_arbitrary_handler_results_end_in_coded_outcomes(
    driver: Driver, data: st.DataObject
) -> None:
    how = data.draw(st.sampled_from(["junk", "mutated-model", "mutated-tool"]))
    model_answer: object = None
    tool_value: list[object] = []
    if how == "junk":
        model_answer = data.draw(_junk)
    elif how == "mutated-model":
        model_answer = _mutated(data.draw(st.sampled_from(_MODEL_SAMPLES)), data)
    index = data.draw(st.integers(0, 1))
    tool_pick = data.draw(st.sampled_from(["junk", "mutated"]))

    def tool(host: InlineHost, command: ToolAttemptCommand) -> object:
        if not tool_value:
            sample = _samples(host, command)[index]
            tool_value.append(data.draw(_junk) if tool_pick == "junk" else _mutated(sample, data))
        return tool_value[0]

    terminals: list[object] = []
    try:
        result = _run(
            driver,
            model_answer=model_answer,
            tools={"c1": tool} if how != "junk" else {},
            resolve={"c1": {"late": True}},
            terminals=terminals,
        )
    except LashError:
        # A coded error is an acceptable end, once the terminal was published.
        assert len(terminals) == 1
        return
    to_json(result)  # whatever ended the turn, its result is JSON
    assert len(terminals) == 1


# -- the check itself ------------------------------------------------------------------------

_ANSWER = answer("x")
assert isinstance(_ANSWER, Ok)
_RESPONSE: Any = _ANSWER.value
_JUNK_OK: Any = Ok(None)
_ONE: Any = 1
_SURROGATE: Any = {"parts": (TextPart("\ud800"),)}


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (LlmCallOutcome(_JUNK_OK, False), "result.Ok: expected a LlmResponse, got None"),
        (LlmCallOutcome(_ANSWER, _ONE), "text_streamed: expected a bool, got int"),
        (
            LlmCallOutcome(
                Ok(_forced(_RESPONSE, {"message": _forced(_RESPONSE.message, _SURROGATE)})),
                False,
            ),
            "result.Ok.message.parts[0].text: the string holds a lone surrogate",
        ),
        (
            LlmCallOutcome(
                Ok(_forced(_RESPONSE, {"message": _forced(_RESPONSE.message, {"parts": ("hi",)})})),
                False,
            ),
            "result.Ok.message.parts[0]: expected TextPart or ToolCallPart or ToolResultPart, "
            "got str",
        ),
        (
            LlmCallOutcome(Ok(_forced(_RESPONSE, {"usage": None})), False),
            "result.Ok.usage: expected a Usage, got None",
        ),
    ],
)
def test_check_contents_names_the_path(outcome: EffectOutcome, message: str) -> None:
    with pytest.raises(LashError) as info:
        check_outcome_contents(outcome)
    assert info.value.code == codes.RUNTIME_EFFECT_INVALID_OUTCOME
    assert info.value.message.startswith(message)


def test_execute_effect_refuses_an_unusable_outcome_naming_the_handler() -> None:
    async def my_model(envelope: EffectEnvelope) -> EffectOutcome:
        return LlmCallOutcome(_JUNK_OK, False)

    envelope = EffectEnvelope.build(
        Invocation.effect(InvocationScope.new("s"), "e1", EffectKind.LLM_CALL, "s:e1"),
        LlmCallCommand(LlmRequest("m", ())),
    )
    raised: list[LashError] = []

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        executor = HandlerExecutor.testing(my_model, [EffectKind.LLM_CALL])
        try:
            await host.execute_effect(envelope, executor)
        except LashError as exc:
            raised.append(exc)

    TrioDriver().run(scenario)
    (error,) = raised
    assert error.code == codes.RUNTIME_EFFECT_INVALID_OUTCOME
    assert error.message.startswith("the llm_call handler 'test_execute_effect_")
    assert "my_model' returned an unusable outcome: result.Ok" in error.message


def test_a_hook_supplying_an_unusable_outcome_fails_the_run_with_a_coded_error() -> None:
    class Replay(TurnHooks):
        def before_effect(
            self, envelope: EffectEnvelope, timeout_ms: int | None
        ) -> EffectOutcome | None:
            if envelope.kind is EffectKind.LLM_CALL:
                return LlmCallOutcome(_JUNK_OK, False)
            return None

    raised: list[BaseException] = []
    terminals: list[object] = []

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)

        async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
            raise AssertionError("a supplied outcome is not run")

        machine = TurnMachine(
            CONFIG,
            session_id="s",
            turn_id="t",
            turn_index=0,
            messages=(),
            cancel_gate=gate_key(host, ADDRESS),
        )
        runner = TurnRunner(machine, host, TurnHandlers(model=model), hooks=Replay())
        try:
            await runner.run()
        except BaseException as exc:
            raised.append(exc)
        terminals.append(await await_terminal(host, ADDRESS, timeout=5))
        # The machine was not fed the outcome: it still works.
        assert machine.awaiting and machine.checkpoint() is not None

    AsyncioDriver().run(scenario)
    (error,) = raised
    assert isinstance(error, LashError) and error.code == codes.RUNTIME_EFFECT_INVALID_OUTCOME
    assert "Replay.before_effect" in error.message
    (terminal,) = terminals
    assert isinstance(terminal, TerminalFailed)
    assert terminal.error.code == codes.RUNTIME_EFFECT_INVALID_OUTCOME


@pytest.mark.parametrize("flavor", DURABLE_FLAVORS, ids=lambda f: f.name)
def test_a_journaled_turn_reports_handler_errors_too(flavor: Flavor, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    store.resolve(report_key(store), ok({"delivered": True}))
    failures: list[LashError] = []

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), owner="first") as host:
            return await run_turn(
                new_machine(),
                host,
                durable_handlers(host, Counts()),
                on_handler_error=lambda envelope, error: failures.append(error),
            )

    try:
        result = flavor.run(main)
    finally:
        store.close()
    assert isinstance(result.outcome, TurnCompleted)
    assert failures and all(f.code == codes.RUNTIME_EFFECT_HANDLER_FAILED for f in failures)
    assert isinstance(failures[0].__cause__, RuntimeError)
    assert str(failures[0].__cause__) == "the weather service is down"
