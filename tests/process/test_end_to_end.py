"""Background processes end to end, on trio (MockClock) and asyncio (virtual clock).

A turn run by ``run_turn`` starts two processes through ``process`` effects issued by its tool
handlers, lists them, signals the worker twice (the first signal before the worker waits, the
second while it waits), cancels the sleeper, and awaits both terminals. A ``ProcessRunner`` runs
the processes on the same host. Both drivers must give the same effect trace.
"""

from __future__ import annotations

from typing import Any

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    EffectEnvelope,
    EffectOutcome,
    InlineHost,
    JsonValue,
    LlmCallOutcome,
    ToolAttemptOutcome,
    ToolSpec,
    TurnCompleted,
    TurnConfig,
    TurnHandlers,
    TurnMachine,
    run_turn,
    wire,
)
from lash_core.effects import ProcessEffectCommand, ProcessOutcome, ToolAttemptCommand
from lash_core.effects.process import (
    ProcessAwait,
    ProcessAwaited,
    ProcessCancel,
    ProcessCommand,
    ProcessEffectOutcome,
    ProcessList,
    ProcessListed,
    ProcessSignalled,
    ProcessStart,
)
from lash_core.effects.replay_keys import process_effect_invocation
from lash_core.host import ProcessExecutor
from lash_core.process import ProcessContext, ProcessRunner, signal_request
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessStartGrant,
)
from lash_core.process.records import (
    CancelledOutput,
    CancelledStatus,
    CompletedStatus,
    SessionScope,
    SignalWait,
    SuccessOutput,
)
from lash_core.testing.conformance import Driver, Harness
from lash_trio.testing import TrioDriver
from tests.process.support import registration
from tests.turn.world import answer, calls, done, user

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
SECRET = bytes(range(32))
SESSION = SessionScope("s")
TOOLS = ("start_worker", "start_sleeper", "list", "signal", "pause", "cancel", "await")
CONFIG = TurnConfig(
    model="scripted", tools=tuple(ToolSpec(name, name, {"type": "object"}) for name in TOOLS)
)


async def process_effect(
    host: InlineHost, parent: EffectEnvelope, command: ProcessCommand, trace: list[str]
) -> ProcessEffectOutcome:
    """Run ``command`` as a ``process`` effect caused by the tool attempt ``parent``."""
    invocation = process_effect_invocation("s", command.effect_id, parent.invocation)
    envelope = EffectEnvelope.build(invocation, ProcessEffectCommand(command))
    trace.append(f"process effect {envelope.replay_key}")
    outcome = await host.execute_effect(envelope, ProcessExecutor())
    assert isinstance(outcome, ProcessOutcome)
    return outcome.result


async def worker(ctx: ProcessContext) -> JsonValue:
    await ctx.sleep(5)
    first = await ctx.wait_signal("go")
    second = await ctx.wait_signal("go")
    return {"signals": [first, second]}


async def sleeper(ctx: ProcessContext) -> JsonValue:
    await ctx.sleep(3600)
    return "woke up"


async def scenario(h: Harness, trace: list[str], seen: dict[str, Any]) -> None:
    host = h.new_host(SECRET)
    assert isinstance(host, InlineHost)
    responses = [
        calls(("c1", "start_worker"), ("c2", "start_sleeper")),
        calls(("c3", "list"), ("c4", "signal")),
        calls(
            ("c5", "pause"),
        ),
        calls(("c6", "signal"), ("c7", "cancel")),
        calls(("c8", "await"), ("c9", "await")),
        answer("both finished"),
    ]
    grant = ProcessStartGrant(SESSION, HandleDescriptor("job"))

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome(responses.pop(0), text_streamed=False)

    async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        call_id = command.call.call_id
        name = command.call.tool_name
        result: ProcessEffectOutcome | None = None
        if name == "start_worker":
            result = await process_effect(
                host, envelope, ProcessStart(registration("w", "worker"), grant), trace
            )
        elif name == "start_sleeper":
            result = await process_effect(
                host, envelope, ProcessStart(registration("z", "sleeper"), grant), trace
            )
        elif name == "list":
            result = await process_effect(host, envelope, ProcessList(SESSION), trace)
        elif name == "signal":
            seen.setdefault("wait_before_signal", []).append(
                host.processes.registry.record("w").wait
            )
            result = await process_effect(
                host, envelope, signal_request("w", "go", call_id, call_id), trace
            )
        elif name == "pause":
            await h.sleep(10)
        elif name == "cancel":
            result = await process_effect(host, envelope, ProcessCancel("z", "not needed"), trace)
        else:
            pid = "w" if call_id == "c8" else "z"
            result = await process_effect(host, envelope, ProcessAwait(pid), trace)
        if result is not None:
            seen.setdefault(name, []).append(result)
            seen[call_id] = result
        output = None if result is None else wire.to_wire(result)
        return ToolAttemptOutcome(done(call_id, command.attempt, output=output))

    def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        trace.append(f"{h.now():.3f} {envelope.replay_key} {wire.to_json(outcome)}")

    machine = TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=(user("go"),))
    runner = ProcessRunner(host, {"worker": worker, "sleeper": sleeper})
    async with runner.running():
        seen["result"] = await run_turn(
            machine, host, TurnHandlers(model=model, tools=tools), on_effect=on_effect
        )
        seen["running_after"] = runner.running_ids
    seen["worker_events"] = host.processes.registry.events("w")
    seen["records"] = host.processes.registry.list_processes()
    seen["now"] = h.now()


def run_on(driver: Driver) -> tuple[list[str], dict[str, Any]]:
    trace: list[str] = []
    seen: dict[str, Any] = {}

    async def main(h: Harness) -> None:
        await scenario(h, trace, seen)

    driver.run(main)
    return trace, seen


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_turn_runs_signals_cancels_and_awaits_background_processes(driver: Driver) -> None:
    _, seen = run_on(driver)
    assert isinstance(seen["result"].outcome, TurnCompleted)

    (listed,) = seen["list"]
    assert isinstance(listed, ProcessListed)
    assert [(g.process_id, r.status.state) for g, r in listed.entries] == [
        ("w", "running"),
        ("z", "running"),
    ]

    # The first signal went out before the worker waited; the second while it waited for #2.
    before_first, before_second = seen["wait_before_signal"]
    assert before_first is None
    assert isinstance(before_second.kind, SignalWait)
    assert (before_second.kind.name, before_second.kind.ordinal) == ("go", 2)
    assert all(isinstance(s, ProcessSignalled) for s in seen["signal"])

    assert seen["c8"] == ProcessAwaited(SuccessOutput({"signals": ["c4", "c6"]}))
    assert seen["c9"] == ProcessAwaited(CancelledOutput("process cancelled: not needed"))

    types = [(e.sequence, e.event_type) for e in seen["worker_events"]]
    assert types == [
        (1, "signal.go"),
        (2, "process.waiting"),
        (3, "process.resumed"),
        (4, "process.waiting"),
        (5, "signal.go"),
        (6, "process.resumed"),
        (7, "process.completed"),
    ]
    w, z = seen["records"]
    assert isinstance(w.status, CompletedStatus) and w.wait is None
    assert isinstance(z.status, CancelledStatus)
    assert seen["running_after"] == ()
    # Virtual time: the pause took 10 s; the sleeper's hour never passed.
    assert seen["now"] == pytest.approx(10)


def test_both_drivers_give_the_same_effect_trace() -> None:
    trio_trace, _ = run_on(DRIVERS[0])
    asyncio_trace, _ = run_on(DRIVERS[1])
    # The envelopes of one batch run concurrently, and trio may finish them in either order.
    assert sorted(trio_trace) == sorted(asyncio_trace)
    assert len(trio_trace) == 23
    effect = (
        "process effect s:t:0:1:tool_batch:4:child:1:c4:attempt:1:process:signal:w:signal.go:c4"
    )
    assert effect in trio_trace
    assert any('"replay":{"key":"process:w:signal.go:c4"}' in line for line in trio_trace)


def test_every_outcome_of_the_turn_round_trips_through_its_json() -> None:
    _, seen = run_on(DRIVERS[1])
    outcomes = [value for key, value in seen.items() if key[0] == "c" and key[1:].isdigit()]
    assert len(outcomes) == 8  # every call but the pause
    for outcome in outcomes:
        text = wire.to_json(outcome)
        assert wire.from_json(text, ProcessEffectOutcome) == outcome
    for event in seen["worker_events"]:
        assert wire.from_json(wire.to_json(event), type(event)) == event
