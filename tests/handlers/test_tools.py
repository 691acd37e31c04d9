"""``@tool`` and ``Toolbox``: schemas from type hints and docstrings, arguments checked before
the function runs (a wrong one answered to the model), exceptions kept with their traceback,
and pending tools that mint their key through their context, on every driver."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import traceback
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal, NotRequired, Optional, TypedDict

import pytest

from lash_core import (
    AwaitEventKey,
    ScriptedModel,
    Toolbox,
    ToolContext,
    TurnCompleted,
    TurnConfig,
    call,
    codes,
    from_json,
    ok,
    reply,
    to_json,
    tool,
)
from lash_core.effects import (
    EffectEnvelope,
    EffectKind,
    Invocation,
    InvocationScope,
    ToolAttemptCommand,
    ToolAttemptOutcome,
)
from lash_core.effects.tools import PreparedToolCall, ToolAttemptLaunchDone, ToolLaunchPending
from lash_core.errors import LashError
from lash_core.handlers.schema import parse_docstring
from lash_core.host import InlineHost
from lash_core.testing.conformance import Driver, Harness
from lash_core.turn import RetryPolicy
from tests.handlers.support import DRIVERS, run


class Unit(enum.StrEnum):
    C = "c"
    F = "f"


@dataclasses.dataclass
class Item:
    sku: str
    qty: int = 1


class Address(TypedDict):
    street: str
    zip: NotRequired[str]


def _envelope(tool_name: str, args: Any, turn_id: str | None = "t") -> EffectEnvelope:
    scope = InvocationScope("s", turn_id, 0 if turn_id else None, 0 if turn_id else None)
    invocation = Invocation.effect(scope, "e1", EffectKind.TOOL_ATTEMPT, "s:e1")
    command = ToolAttemptCommand(
        call=PreparedToolCall("c1", tool_name, tool_name, args), attempt=1, max_attempts=1
    )
    return EffectEnvelope.build(invocation, command)


def _sync(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test body on a fresh asyncio loop (the handlers await nothing)."""

    @functools.wraps(test)
    def run_it() -> None:
        asyncio.run(test())

    return run_it


def _record(outcome: ToolAttemptOutcome) -> Any:
    assert isinstance(outcome.launch, ToolAttemptLaunchDone)
    return outcome.launch.record


def test_the_schema_comes_from_the_hints_and_the_google_docstring() -> None:
    @tool
    def order(
        items: list[Item],
        unit: Unit,
        ship_to: Address | None,
        note: Optional[str] = None,  # noqa: UP045
        speed: Literal["slow", "fast"] = "slow",
        tags: dict[str, int] | None = None,
        weight: Annotated[float, "kilograms"] = 1.0,
        gift: bool = False,
    ) -> str:
        """Place an order.

        Args:
            items: What to order.
            unit: The unit of temperature
                to ship in.
            ship_to (Address): Where it goes.
        """
        return "ok"

    assert order.spec.name == "order" and order.spec.description == "Place an order."
    assert order.spec.input_schema == {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "qty": {"type": "integer", "default": 1},
                    },
                    "required": ["sku"],
                    "additionalProperties": False,
                },
                "description": "What to order.",
            },
            "unit": {"enum": ["c", "f"], "description": "The unit of temperature to ship in."},
            "ship_to": {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
                        "required": ["street"],
                        "additionalProperties": False,
                    },
                    {"type": "null"},
                ],
                "description": "Where it goes.",
            },
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "speed": {"enum": ["slow", "fast"], "default": "slow"},
            "tags": {
                "anyOf": [
                    {"type": "object", "additionalProperties": {"type": "integer"}},
                    {"type": "null"},
                ],
                "default": None,
            },
            "weight": {"type": "number", "description": "kilograms", "default": 1.0},
            "gift": {"type": "boolean", "default": False},
        },
        "required": ["items", "unit", "ship_to"],
        "additionalProperties": False,
    }
    assert order(items=[], unit=Unit.C, ship_to=None) == "ok"  # still callable as written


def test_numpy_docstrings_are_read_too() -> None:
    description, params = parse_docstring(
        """Send the report.

        Parameters
        ----------
        to : str
            Who gets it,
            by email.
        urgent
            Page them.

        Returns
        -------
        str
        """
    )
    assert description == "Send the report."
    assert params == {"to": "Who gets it, by email.", "urgent": "Page them."}


def test_name_and_description_can_be_given() -> None:
    @tool(name="get-weather", description="Weather now.")
    def weather(city: str) -> str:
        return city

    assert weather.spec.name == "get-weather" and weather.spec.description == "Weather now."
    assert weather.name == "get-weather"


@pytest.mark.parametrize(
    ("define", "said"),
    [
        (lambda: tool(name="f")(lambda city: city), "parameter 'city' has no type annotation"),
        (lambda: tool(_takes_set), "has no JSON schema"),
        (lambda: tool(_takes_varargs), "cannot be described"),
        (lambda: tool(name="bad name")(_fine), "tool name 'bad name'"),
        (lambda: Toolbox(_fine, tool(_fine)), "two tools are named '_fine'"),
        (lambda: tool(_takes_int_keys), "dict keys must be str"),
        (lambda: tool(functools.partial(_fine, "x")), "name the tool with tool(name=...)"),
        (lambda: tool(name="p")(functools.partial(_fine)), "its annotations do not resolve"),
        (lambda: Toolbox(42), "a tool must be a function, got 42"),  # type: ignore[arg-type]
    ],
)
def test_functions_that_cannot_be_described_are_refused_where_defined(
    define: Any, said: str
) -> None:
    with pytest.raises(LashError) as raised:
        define()
    assert raised.value.code == codes.TOOL_DEFINITION_INVALID
    assert said in raised.value.message


def _takes_set(tags: set[str]) -> None:
    return None


def _takes_varargs(*names: str) -> None:
    return None


def _takes_int_keys(table: dict[int, str]) -> None:
    return None


def _fine(city: str) -> str:
    return city


@_sync
async def test_wrong_arguments_are_answered_to_the_model_and_the_function_does_not_run() -> None:
    ran: list[object] = []

    @tool
    def book(room: int, when: Literal["am", "pm"], guests: list[str] | None = None) -> str:
        ran.append(room)
        return "booked"

    handler = Toolbox(book).handler()
    outcome = await handler(_envelope("book", {"room": "ten", "when": "noon", "pets": 2}))
    record = _record(outcome)
    assert not ran and not record.success
    error = record.model_return["error"]
    assert error["code"] == codes.TOOL_ARGUMENTS_INVALID
    message = error["message"]
    assert message.startswith("tool 'book' was called with invalid arguments: ")
    assert "pets: unexpected argument (expected: room, when, guests)" in message
    assert "room: expected an integer, got 'ten'" in message
    assert "when: expected one of 'am', 'pm', got 'noon'" in message
    not_object = _record(await handler(_envelope("book", ["room"])))
    assert "arguments: expected an object" in not_object.model_return["error"]["message"]
    # The same arguments, right: it runs, and a JSON float that is whole is an integer.
    done = _record(await handler(_envelope("book", {"room": 10.0, "when": "am"})))
    assert done.success and done.output == "booked" and ran == [10]


@_sync
async def test_arguments_are_converted_into_the_signatures_types() -> None:
    seen: list[object] = []

    @tool
    async def ship(items: list[Item], unit: Unit, to: Address, weight: float = 1) -> Item:
        seen.extend([items, unit, to, weight])
        return items[0]

    args = {"items": [{"sku": "a", "qty": 2}], "unit": "f", "to": {"street": "Main"}, "weight": 2}
    record = _record(await Toolbox(ship).handler()(_envelope("ship", args)))
    assert seen == [[Item("a", 2)], Unit.F, {"street": "Main"}, 2.0]
    assert type(seen[3]) is float
    assert record.output == {"sku": "a", "qty": 2}  # a returned dataclass is given as JSON


@_sync
async def test_an_unknown_tool_is_answered_to_the_model() -> None:
    record = _record(await Toolbox(_fine).handler()(_envelope("nope", {})))
    assert not record.success
    assert record.model_return["error"]["code"] == codes.TOOL_UNKNOWN
    assert (
        "no tool named 'nope' (the tools are: '_fine')" in record.model_return["error"]["message"]
    )


@_sync
async def test_ctx_done_separates_output_from_model_return() -> None:
    @tool
    def lookup(q: str, ctx: ToolContext) -> ToolAttemptOutcome:
        return ctx.done({"rows": [1, 2], "sql": "select"}, model_return={"rows": [1, 2]})

    record = _record(await Toolbox(lookup).handler()(_envelope("lookup", {"q": "x"})))
    assert record.output == {"rows": [1, 2], "sql": "select"}
    assert record.model_return == {"rows": [1, 2]}
    schema: Any = lookup.spec.input_schema
    assert "ctx" not in schema["properties"]


@_sync
async def test_pending_without_a_host_says_how_to_give_one() -> None:
    @tool
    def later(ctx: ToolContext) -> ToolAttemptOutcome:
        return ctx.pending()

    with pytest.raises(LashError) as raised:
        await Toolbox(later).handler()(_envelope("later", {}))
    assert raised.value.code == codes.TOOL_PENDING_UNAVAILABLE
    assert "use toolbox.handler(host)" in raised.value.message


def test_the_tools_exception_keeps_its_traceback_for_the_user() -> None:
    """The function's exception reaches ``on_handler_error`` as the error's cause, with the
    frame that raised it; the model is given the error result."""

    @tool
    def explode(city: str) -> str:
        raise ValueError(f"no station in {city}")

    model = ScriptedModel([reply(tool_calls=[call("explode", city="Oslo")]), reply("Sorry.")])
    errors: list[tuple[EffectEnvelope, LashError]] = []
    result = run(DRIVERS[0], model, Toolbox(explode), errors=errors)
    assert isinstance(result.outcome, TurnCompleted)
    ((_, error),) = errors
    assert error.code == codes.RUNTIME_EFFECT_HANDLER_FAILED
    assert "tool 'explode' (call 'call-1') raised ValueError: no station in Oslo" in error.message
    cause = error.__cause__
    assert isinstance(cause, ValueError)
    frames = traceback.extract_tb(cause.__traceback__)
    assert frames[-1].name == "explode"
    tool_result: Any = result.messages[2].parts[0]
    assert tool_result.is_error
    assert tool_result.output["error"]["code"] == codes.RUNTIME_EFFECT_HANDLER_FAILED


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_pending_tool_completes_with_the_webhooks_payload(driver: Driver) -> None:
    keys: list[str] = []

    @tool
    async def send_report(to: str, ctx: ToolContext) -> ToolAttemptOutcome:
        """Send the report; delivery is confirmed later."""
        keys.append(to_json(ctx.key))  # what the delivery service is given
        assert ctx.key is ctx.key  # minted once
        return ctx.pending(deadline_ms=60_000)

    async def webhook(harness: Harness, host: InlineHost) -> None:
        while not keys:
            await harness.sleep(0.01)
        key = from_json(keys[0], AwaitEventKey)
        assert host.resolve_await_event(key, ok({"receipt": "r-1"})).status == "accepted"

    model = ScriptedModel([reply(tool_calls=[call("send_report", to="ops")]), reply("Sent.")])
    result = run(driver, model, Toolbox(send_report), during=webhook)
    assert isinstance(result.outcome, TurnCompleted)
    assert result.messages[2].parts[0].output == {"receipt": "r-1"}  # type: ignore[union-attr]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_sync_and_async_tools_run_on_every_driver(driver: Driver) -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    @tool
    async def shout(text: str) -> str:
        return text.upper()

    model = ScriptedModel(
        [reply(tool_calls=[call("add", a=1, b=2), call("shout", text="hi")]), reply("3, HI")]
    )
    result = run(driver, model, Toolbox(add, shout))
    outputs = [part.output for part in result.messages[2].parts]  # type: ignore[union-attr]
    assert outputs == [3, "HI"]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_model_that_fixes_its_arguments_after_the_error_succeeds(driver: Driver) -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    def saw_the_error(request: Any) -> bool:
        output = request.messages[-1].parts[0].output
        return output["error"]["code"] == codes.TOOL_ARGUMENTS_INVALID  # type: ignore[no-any-return]

    model = ScriptedModel(
        [
            reply(tool_calls=[call("add", a="1", b=2)]),
            reply(tool_calls=[call("add", a=1, b=2)], expect=saw_the_error),
            reply("3"),
        ]
    )
    config = TurnConfig(model="m", tools=Toolbox(add).specs, tool_retry=RetryPolicy())
    result = run(driver, model, Toolbox(add), config=config)
    assert isinstance(result.outcome, TurnCompleted)
    assert result.messages[4].parts[0].output == 3  # type: ignore[union-attr]


def test_a_pending_launch_holds_the_calls_own_key() -> None:
    from lash_core.keys import KeySigner
    from lash_core.promise import AwaitEventRegistry
    from lash_core.scope import ToolCompletion, TurnScope

    registry = AwaitEventRegistry(KeySigner(bytes(32)))

    class Minter:
        def await_event_key(self, scope: Any, wait: Any) -> Any:
            return registry.mint(scope, wait)

    @tool
    def later(ctx: ToolContext) -> ToolAttemptOutcome:
        return ctx.pending(deadline_ms=5)

    outcome = asyncio.run(Toolbox(later).handler(Minter())(_envelope("later", {})))
    launch = outcome.launch
    assert isinstance(launch, ToolLaunchPending)
    assert launch.key.scope == TurnScope("s", "t") and launch.key.wait == ToolCompletion("c1")
    assert launch.pending.deadline is not None and launch.pending.deadline.to_ms() == 5


def test_return_values_become_json_data() -> None:
    from lash_core.handlers.schema import plain_json

    value = {"items": (Item("a"), Unit.F), "n": [1, 2.5, None, True], "u": Unit.C}
    assert plain_json(value) == {
        "items": [{"sku": "a", "qty": 1}, "f"],
        "n": [1, 2.5, None, True],
        "u": "c",
    }
    assert plain_json(Item("b", 3)) == {"sku": "b", "qty": 3}


def test_an_optional_context_parameter_is_the_context_too() -> None:
    @tool
    def greet(name: str, ctx: ToolContext | None = None) -> str:
        return f"hi {name}" + ("" if ctx is None else f" ({ctx.call_id})")

    schema: Any = greet.spec.input_schema
    assert schema["properties"] == {"name": {"type": "string"}}
    assert greet("ann") == "hi ann"  # callable as written, without a context
    record = _record(asyncio.run(Toolbox(greet).handler()(_envelope("greet", {"name": "bo"}))))
    assert record.output == "hi bo (c1)"


@dataclasses.dataclass
class Range:
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


def test_a_dataclass_refusing_its_values_is_an_argument_error_for_the_model() -> None:
    @tool
    def pick(span: Range) -> int:
        return span.high - span.low

    handler = Toolbox(pick).handler()
    bad = _record(asyncio.run(handler(_envelope("pick", {"span": {"low": 5, "high": 1}}))))
    assert not bad.success
    assert bad.model_return["error"]["code"] == codes.TOOL_ARGUMENTS_INVALID
    assert "span: ValueError: low must not exceed high" in bad.model_return["error"]["message"]
    good = _record(asyncio.run(handler(_envelope("pick", {"span": {"low": 1, "high": 5}}))))
    assert good.output == 4
