"""The process runner and the host's process effects, on both drivers (virtual time)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core import EffectEnvelope, EffectKind, InlineHost, JsonValue, LashError, codes, err
from lash_core.effects import Invocation, InvocationScope, ProcessEffectCommand, SleepCommand
from lash_core.effects.process import (
    ProcessAwait,
    ProcessCancel,
    ProcessStart,
)
from lash_core.effects.replay_keys import process_effect_invocation
from lash_core.effects.tools import PreparedToolCall
from lash_core.host import (
    UNAVAILABLE,
    HandlerExecutor,
    ProcessExecutor,
    ProcessRoute,
    route_effect,
)
from lash_core.process import (
    ProcessContext,
    ProcessRunner,
    signal_request,
    signal_wait_identity,
)
from lash_core.process.records import (
    AbandonedOutput,
    AbandonWriter,
    CancelledOutput,
    ExternalInput,
    FailureOutput,
    SuccessOutput,
    ToolCallInput,
)
from lash_core.scope import ProcessScope
from lash_core.testing.conformance import Driver, Harness
from lash_trio.testing import TrioDriver
from tests.process.support import registration

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
SECRET = bytes(range(32))


def run(driver: Driver, body: Callable[[Harness, InlineHost], Awaitable[Any]]) -> Any:
    results: list[Any] = []

    async def main(h: Harness) -> None:
        host = h.new_host(SECRET)
        assert isinstance(host, InlineHost)
        results.append(await body(h, host))

    driver.run(main)
    return results[0]


def start(host: InlineHost, pid: str, kind: str = "job") -> Awaitable[Any]:
    return host.processes.execute(ProcessStart(registration(pid, kind)))


async def returns(ctx: ProcessContext) -> JsonValue:
    await ctx.sleep(1)
    return {"pid": ctx.process_id}


async def raises_lash(ctx: ProcessContext) -> JsonValue:
    raise LashError("job_broke", "the job broke")


async def raises_other(ctx: ProcessContext) -> JsonValue:
    raise ValueError("bad value")


async def returns_non_json(ctx: ProcessContext) -> JsonValue:
    return object()  # type: ignore[return-value]


async def returns_nan(ctx: ProcessContext) -> JsonValue:
    return {"ratio": math.nan}


async def returns_too_deep(ctx: ProcessContext) -> JsonValue:
    value: JsonValue = []
    for _ in range(5_000):
        value = [value]
    return value


async def waits_forever(ctx: ProcessContext) -> JsonValue:
    return await ctx.wait_signal("go")


async def times_out(ctx: ProcessContext) -> JsonValue:
    try:
        await ctx.wait_signal("go", timeout=3)
    except LashError as exc:
        return exc.code
    return "signalled"


async def two_signals(ctx: ProcessContext) -> JsonValue:
    return [await ctx.wait_signal("go"), await ctx.wait_signal("go")]


FUNCTIONS = {
    "returns": returns,
    "raises_lash": raises_lash,
    "raises_other": raises_other,
    "non_json": returns_non_json,
    "nan": returns_nan,
    "too_deep": returns_too_deep,
    "waits": waits_forever,
    "times_out": times_out,
    "two": two_signals,
}


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_each_way_a_function_ends_writes_one_terminal(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        kinds = ["returns", "raises_lash", "raises_other", "non_json", "missing", "times_out"]
        kinds += ["nan", "too_deep"]
        async with ProcessRunner(host, FUNCTIONS).running():
            for kind in kinds:
                await start(host, kind, kind)
            outputs = {kind: await host.processes.await_terminal(kind) for kind in kinds}
        terminals = {
            kind: [e for e in host.processes.registry.events(kind) if e.semantics.terminal]
            for kind in kinds
        }
        return outputs, terminals, h.now()

    outputs, terminals, now = run(driver, body)
    assert outputs["returns"] == SuccessOutput({"pid": "returns"})
    assert outputs["raises_lash"] == FailureOutput(
        class_="process", code="job_broke", message="the job broke"
    )
    assert outputs["raises_other"].code == codes.PROCESS_FUNCTION_FAILED
    assert "ValueError: bad value" in outputs["raises_other"].message
    assert outputs["non_json"].code == codes.PROCESS_FUNCTION_FAILED
    # A value its terminal's append would refuse (NaN, nesting too deep) is a failure too.
    assert outputs["nan"].code == codes.PROCESS_FUNCTION_FAILED
    assert outputs["too_deep"].code == codes.PROCESS_FUNCTION_FAILED
    assert outputs["missing"].code == codes.PROCESS_FUNCTION_UNKNOWN
    assert outputs["times_out"] == SuccessOutput(codes.PROCESS_SIGNAL_WAIT_TIMEOUT)
    assert all(len(events) == 1 for events in terminals.values())
    assert now == pytest.approx(3)


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_signals_sent_before_any_wait_are_taken_in_order(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        await host.processes.execute(ProcessStart(registration("p", "two")))
        await host.processes.execute(signal_request("p", "go", "a", "first"))
        await host.processes.execute(signal_request("p", "go", "a", "first"))  # deduplicated
        await host.processes.execute(signal_request("p", "go", "b", "second"))
        async with ProcessRunner(host, FUNCTIONS).running():  # picks up the live process
            return await host.processes.await_terminal("p")

    assert run(driver, body) == SuccessOutput(["first", "second"])


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_an_err_resolution_of_a_signal_key_fails_the_wait_with_its_code(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        async with ProcessRunner(host, FUNCTIONS).running():
            await start(host, "p", "waits")
            await h.sleep(1)
            key = host.await_event_key(ProcessScope("p"), signal_wait_identity("p", "go", 1))
            host.resolve_await_event(key, err("upstream_gone", "the sender went away"))
            return await host.processes.await_terminal("p")

    assert run(driver, body) == FailureOutput(
        class_="process", code="upstream_gone", message="the sender went away"
    )


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_cancel_before_the_runner_starts_the_function(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        await start(host, "p", "returns")
        await host.processes.execute(ProcessCancel("p", None))
        async with ProcessRunner(host, FUNCTIONS).running():
            return await host.processes.await_terminal("p")

    assert run(driver, body) == CancelledOutput("process cancelled")


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_waiting_process_is_cancelled_and_its_wait_cleared(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        async with ProcessRunner(host, FUNCTIONS).running() as runner:
            await start(host, "p", "waits")
            await h.sleep(1)
            assert host.processes.registry.record("p").wait is not None
            assert runner.running_ids == ("p",)
            await host.processes.execute(ProcessCancel("p", "bye"))
            output = await host.processes.await_terminal("p")
        return output, host.processes.registry.record("p")

    output, record = run(driver, body)
    assert output == CancelledOutput("process cancelled: bye")
    assert record.wait is None


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_processes_still_running_when_the_runner_stops_end_abandoned(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        async with ProcessRunner(host, FUNCTIONS).running():
            await start(host, "p", "waits")
            await h.sleep(1)
        return host.processes.registry.record("p").status

    status = run(driver, body)
    assert isinstance(status.await_output, AbandonedOutput)
    assert status.await_output.evidence.writer is AbandonWriter.OWNER_DRAIN


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_terminal_written_by_the_owner_is_the_only_terminal(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        async with ProcessRunner(host, FUNCTIONS).running():
            await start(host, "p", "waits")
            await h.sleep(1)
            host.processes.finish("p", SuccessOutput("from the owner"))
            output = await host.processes.await_terminal("p")
        terminals = [e for e in host.processes.registry.events("p") if e.semantics.terminal]
        return output, terminals

    output, terminals = run(driver, body)
    assert output == SuccessOutput("from the owner")
    assert len(terminals) == 1


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_external_processes_are_not_run_and_await_parks_until_their_terminal(
    driver: Driver,
) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        external = registration("x", process_input=ExternalInput({"label": "x"}))
        async with ProcessRunner(host, FUNCTIONS).running() as runner:
            await host.processes.execute(ProcessStart(external))
            assert runner.running_ids == ()

            async def owner() -> None:
                await h.sleep(7)
                host.processes.finish("x", SuccessOutput(7))

            h.spawn(owner)
            awaited = await host.processes.execute(ProcessAwait("x"))
            return awaited, h.now(), host.processes.registry.parked_count

    awaited, now, parked = run(driver, body)
    assert awaited.output == SuccessOutput(7)
    assert now == pytest.approx(7)
    assert parked == 0


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_cancelled_await_unparks(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        await start(host, "p", "nobody-runs-this")
        task = h.spawn(lambda: host.processes.execute(ProcessAwait("p")))
        await h.sleep(1)
        assert host.processes.registry.parked_count == 1
        task.cancel()
        result = await task.join()
        return result.cancelled, host.processes.registry.parked_count

    assert run(driver, body) == (True, 0)


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_host_runs_one_runner_at_a_time(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        async with ProcessRunner(host, FUNCTIONS).running():
            with pytest.raises(LashError) as info:
                async with ProcessRunner(host, FUNCTIONS).running():
                    pass
            return info.value.code

    assert run(driver, body) == codes.PROCESS_RUNNER_ATTACHED


def test_process_envelopes_route_only_to_a_process_executor() -> None:
    command = ProcessAwait("p")
    envelope = EffectEnvelope.build(
        process_effect_invocation("s", command.effect_id), ProcessEffectCommand(command)
    )
    assert route_effect(envelope, ProcessExecutor()) == ProcessRoute(command)
    for executor in (UNAVAILABLE, HandlerExecutor.testing(lambda e: None)):  # type: ignore[arg-type, return-value]
        with pytest.raises(LashError) as info:
            route_effect(envelope, executor)
        assert info.value.code == codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE
        assert info.value.message == "no process executor is available for process command"
    nap = Invocation.effect(InvocationScope.new("s"), "nap", EffectKind.SLEEP, "s:nap")
    sleep = EffectEnvelope.build(nap, SleepCommand(5))
    with pytest.raises(LashError) as info:
        route_effect(sleep, ProcessExecutor())
    assert info.value.code == codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH
    assert info.value.message == "process executor cannot execute sleep command directly"


async def echo_tool(ctx: ProcessContext) -> JsonValue:
    process_input = ctx.input
    assert isinstance(process_input, ToolCallInput)
    await ctx.sleep(2)
    return {"echo": process_input.call.args}


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_tool_call_process_runs_the_function_of_its_tool_name(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        call = PreparedToolCall("call-1", "tool-echo", "echo", {"text": "hi"})
        tool = registration("t", process_input=ToolCallInput(call))
        async with ProcessRunner(host, {"echo": echo_tool}).running():
            await host.processes.execute(ProcessStart(tool))
            return await host.processes.await_terminal("t"), h.now()

    assert run(driver, body) == (SuccessOutput({"echo": {"text": "hi"}}), pytest.approx(2))


async def reports_progress(ctx: ProcessContext) -> JsonValue:
    first = ctx.emit("note", {"percent": 50}, replay_key="half")
    again = ctx.emit("note", {"percent": 50}, replay_key="half")
    try:
        ctx.emit("undeclared")
    except LashError as exc:
        refused_code = exc.code
    return [first.sequence, again.sequence, refused_code, ctx.cancel_requested]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_process_appends_its_own_declared_events(driver: Driver) -> None:
    async def body(h: Harness, host: InlineHost) -> Any:
        async with ProcessRunner(host, {"job": reports_progress}).running():
            await start(host, "p")
            output = await host.processes.await_terminal("p")
        return output, [e.event_type for e in host.processes.registry.events("p")]

    output, types = run(driver, body)
    assert output == SuccessOutput([1, 1, codes.PROCESS_EVENT_TYPE_UNDECLARED, False])
    assert types == ["note", "process.completed"]
