"""What a handler's BaseException does to run_turn, the same on trio and asyncio.

``KeyboardInterrupt`` and ``SystemExit`` leave ``run_turn`` as themselves (never inside an
exception group), and the loop's own cancellation raised by a handler that nothing cancelled is
that handler's failure: the turn goes on and its terminal is published.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

import lash_asyncio
import lash_trio
from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    EffectEnvelope,
    InlineHost,
    LlmCallOutcome,
    ToolAttemptOutcome,
    ToolSpec,
    TurnCompleted,
    TurnConfig,
    TurnEvent,
    TurnHandlers,
    TurnMachine,
    codes,
    run_turn,
)
from lash_core.effects import ToolAttemptCommand
from lash_core.testing.conformance import Driver, Harness
from lash_core.turn.control import TerminalCommitted, TurnAddress, await_terminal, gate_key
from lash_core.turn.events import ToolCallFinishedEvent
from lash_trio.testing import TrioDriver
from tests.turn.world import answer, calls, done, user

CONFIG = TurnConfig(
    model="scripted",
    tools=(ToolSpec("a", "Tool a.", {"type": "object"}), ToolSpec("b", "Tool b.", {})),
)
ADDRESS = TurnAddress("s", "t")
SECRET = bytes(range(32))


def _machine(host: InlineHost | None = None) -> TurnMachine:
    return TurnMachine(
        CONFIG,
        session_id=ADDRESS.session_id,
        turn_id=ADDRESS.turn_id,
        turn_index=0,
        messages=(user("go"),),
        cancel_gate=None if host is None else gate_key(host, ADDRESS),
    )


def _handlers(tools: int, raise_it: Callable[[], Awaitable[None]]) -> TurnHandlers:
    names = ("a", "b")[:tools]
    responses = [calls(*((f"c{i}", name) for i, name in enumerate(names))), answer("done")]

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome(responses.pop(0), text_streamed=False)

    async def tool(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        await raise_it()
        raise AssertionError("unreachable")

    return TurnHandlers(model=model, tools=tool)


def _raiser(exc: BaseException) -> Callable[[], Awaitable[None]]:
    async def raise_it() -> None:
        raise exc

    return raise_it


# -- KeyboardInterrupt and SystemExit ---------------------------------------------------------


def _run_on(driver: str, handlers: TurnHandlers) -> None:
    if driver == "trio":

        async def trio_main() -> None:
            await lash_trio.run_turn(_machine(), lash_trio.InlineEffectHost(SECRET), handlers)

        trio.run(trio_main, clock=trio.testing.MockClock(autojump_threshold=0))
    else:

        async def asyncio_main() -> None:
            await lash_asyncio.run_turn(_machine(), lash_asyncio.InlineEffectHost(SECRET), handlers)

        asyncio.run(asyncio_main())


_CATCH_PROGRAM = """
from tests.test_driver_exceptions import _handlers, _raiser, _run_on

try:
    _run_on({driver!r}, _handlers({tools}, _raiser({exc})))
except BaseException as exc:
    print(type(exc).__name__, getattr(exc, "code", None))
"""


def _python(program: str) -> subprocess.CompletedProcess[str]:
    # In a child interpreter: CPython 3.11's C task step leaves the interpreter's recursion
    # counter off by some frames after a SystemExit or KeyboardInterrupt escapes an asyncio
    # task, which breaks later parsing in the same process (pytest's assertion rewriting).
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
@pytest.mark.parametrize("tools", [1, 2])
@pytest.mark.parametrize(
    ("exc", "expected"),
    [("SystemExit(3)", "SystemExit 3"), ("KeyboardInterrupt()", "KeyboardInterrupt None")],
)
def test_system_exit_and_keyboard_interrupt_in_a_handler_leave_run_turn_as_themselves(
    driver: str, tools: int, exc: str, expected: str
) -> None:
    done = _python(_CATCH_PROGRAM.format(driver=driver, tools=tools, exc=exc))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


_EXIT_PROGRAM = """
import sys
from tests.test_driver_exceptions import _handlers, _run_on

async def leave() -> None:
    sys.exit(3)

_run_on({driver!r}, _handlers(2, leave))
"""


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
def test_sys_exit_3_in_a_tool_handler_exits_the_program_with_status_3(driver: str) -> None:
    done = _python(_EXIT_PROGRAM.format(driver=driver))
    assert done.returncode == 3, done.stderr
    assert "ExceptionGroup" not in done.stderr


# -- the loop's own cancellation, raised by a handler nothing cancelled ------------------------


async def _stray_trio_cancel() -> None:
    """Raise a ``trio.Cancelled`` caught from an inner scope: nothing cancels the caller."""
    stray: BaseException | None = None
    with trio.CancelScope() as inner:
        inner.cancel()
        try:
            await trio.sleep(0)
        except trio.Cancelled as exc:
            stray = exc
    assert stray is not None
    raise stray


async def _stray_asyncio_cancel() -> None:
    raise asyncio.CancelledError()


STRAY: dict[str, Callable[[], Awaitable[None]]] = {
    "trio": _stray_trio_cancel,
    "asyncio": _stray_asyncio_cancel,
}
DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
@pytest.mark.parametrize("tools", [1, 2])
def test_a_handler_raising_a_stray_loop_cancellation_fails_its_tool_and_the_turn_ends(
    driver: Driver, tools: int
) -> None:
    events: list[TurnEvent] = []

    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        handlers = _handlers(tools, STRAY[driver.name])
        result = await run_turn(_machine(host), host, handlers, on_event=events.append)
        assert result.outcome == TurnCompleted(answer("done").value.message)  # type: ignore[union-attr]
        terminal = await await_terminal(host, ADDRESS, timeout=1)
        assert isinstance(terminal, TerminalCommitted)
        assert terminal.outcome == result.outcome

    driver.run(scenario)
    finished = [e for e in events if isinstance(e, ToolCallFinishedEvent)]
    assert len(finished) == tools
    for event in finished:
        assert event.is_error
        assert isinstance(event.output, dict)
        error = event.output["error"]
        assert isinstance(error, dict)
        assert error["code"] == codes.RUNTIME_EFFECT_HANDLER_FAILED
        assert "nothing cancelled it" in str(error["message"])


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_real_cancel_of_run_turn_still_propagates_natively(driver: Driver) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(SECRET)
        started: list[str] = []

        async def block() -> None:
            started.append("tool")
            await h.sleep(3600)

        task = h.spawn(lambda: run_turn(_machine(host), host, _handlers(2, block)))
        await h.sleep(1)
        assert started == ["tool", "tool"]
        task.cancel()
        assert (await task.join()).cancelled
        # Under turn control a natively cancelled turn still publishes its terminal.
        terminal = await await_terminal(host, ADDRESS, timeout=1)
        assert isinstance(terminal, TerminalCommitted)

    driver.run(scenario)


# -- a handler that cancels its own task, while nothing cancelled the turn -------------------


async def _cancel_own_task_then_await() -> None:
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    await asyncio.sleep(0)


@pytest.mark.parametrize("tools", [1, 2])
def test_asyncio_handler_cancelling_its_own_task_fails_its_tool_without_assertion_or_hang(
    tools: int,
) -> None:
    """Regression: with one tool run_turn ended in an AssertionError ("the turn ran to its
    end"), with two it waited forever for the cancelled tasks' outcomes."""
    events: list[TurnEvent] = []
    reported: list[str] = []

    async def main() -> None:
        host = lash_asyncio.InlineEffectHost(SECRET)
        handlers = _handlers(tools, _cancel_own_task_then_await)
        result = await lash_asyncio.run_turn(
            _machine(host),
            host,
            handlers,
            on_event=events.append,
            on_handler_error=lambda envelope, error: reported.append(error.code),
        )
        assert result.outcome == TurnCompleted(answer("done").value.message)  # type: ignore[union-attr]
        terminal = await await_terminal(host, ADDRESS, timeout=1)
        assert isinstance(terminal, TerminalCommitted)
        assert terminal.outcome == result.outcome

    asyncio.run(main())
    assert reported == [codes.RUNTIME_EFFECT_HANDLER_FAILED] * tools
    finished = [e for e in events if isinstance(e, ToolCallFinishedEvent)]
    assert len(finished) == tools
    for event in finished:
        assert event.is_error
        assert isinstance(event.output, dict)
        error = event.output["error"]
        assert isinstance(error, dict)
        assert error["code"] == codes.RUNTIME_EFFECT_HANDLER_FAILED
        assert "nothing cancelled the turn" in str(error["message"])


@pytest.mark.parametrize("tools", [1, 2])
def test_asyncio_handler_cancelling_its_own_task_then_returning_ends_the_turn(
    tools: int,
) -> None:
    """Regression: a handler that cancels its own task and returns its outcome at once: the
    turn still ends, completed, and publishes its terminal."""
    names = ("a", "b")[:tools]
    responses = [calls(*((f"c{i}", name) for i, name in enumerate(names))), answer("done")]

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome(responses.pop(0), text_streamed=False)

    async def tool(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        return ToolAttemptOutcome(done(command.call.call_id, command.attempt))

    async def main() -> None:
        host = lash_asyncio.InlineEffectHost(SECRET)
        handlers = TurnHandlers(model=model, tools=tool)
        result = await lash_asyncio.run_turn(_machine(host), host, handlers)
        assert result.outcome == TurnCompleted(answer("done").value.message)  # type: ignore[union-attr]
        terminal = await await_terminal(host, ADDRESS, timeout=1)
        assert isinstance(terminal, TerminalCommitted)

    asyncio.run(main())
