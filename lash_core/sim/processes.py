"""The background processes of a simulated world.

A tool call whose plan has a :class:`~lash_core.sim.plan.ProcessPlan` starts a process through
the host's process API and awaits its terminal (:func:`start_and_await`); the process waits for
one or two named signals, which a sender sends at planned instants, and its cancel may be
requested at a planned instant. :func:`run_process` is the world's process engine and
:func:`process_log` records each process's terminal events once the world has ended.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from lash_core.effects import (
    EffectEnvelope,
    ProcessEffectCommand,
    ProcessOutcome,
)
from lash_core.effects.process import (
    ProcessAwait,
    ProcessAwaited,
    ProcessCancel,
    ProcessCommand,
    ProcessEffectOutcome,
    ProcessStart,
)
from lash_core.effects.replay_keys import process_effect_invocation
from lash_core.host import InlineHost, ProcessExecutor
from lash_core.process import ProcessContext, signal_event_type, signal_request
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessStartGrant,
)
from lash_core.process.records import (
    EngineInput,
    HostOriginator,
    ProcessEventType,
    ProcessIdentity,
    ProcessProvenance,
    ProcessRegistration,
    RecoveryDisposition,
    SessionScope,
)
from lash_core.sim.plan import (
    PATIENCE_FACTOR,
    PROCESS_KIND,
    PROCESS_PATIENCE_S,
    SIGNAL_NAMES,
    ProcessPlan,
    ToolPlan,
    WorldPlan,
)
from lash_core.sim.recorder import Recorder
from lash_core.wire import JsonValue, to_wire

if TYPE_CHECKING:
    from lash_core.sim.world import _Turn

__all__ = ["process_log", "process_patience_s", "run_process", "start_and_await"]


async def _process_effect(
    host: InlineHost, session_id: str, command: ProcessCommand, parent: EffectEnvelope | None
) -> ProcessEffectOutcome:
    """Run ``command`` as a ``process`` effect (a child of ``parent``, if given)."""
    invocation = process_effect_invocation(
        session_id, command.effect_id, None if parent is None else parent.invocation
    )
    envelope = EffectEnvelope.build(invocation, ProcessEffectCommand(command))
    outcome = await host.execute_effect(envelope, ProcessExecutor())
    assert isinstance(outcome, ProcessOutcome)
    return outcome.result


def _registration(pid: str, session_id: str, plan: ProcessPlan) -> ProcessRegistration:
    payload: JsonValue = {"session": session_id, "waits": list(plan.waits), "wait_ms": plan.wait_ms}
    return ProcessRegistration(
        id=pid,
        input=EngineInput(PROCESS_KIND, payload),
        disposition=RecoveryDisposition.RERUNNABLE,
        identity=ProcessIdentity(PROCESS_KIND),
        event_types=tuple(ProcessEventType(signal_event_type(n)) for n in SIGNAL_NAMES),
        provenance=ProcessProvenance(HostOriginator()),
        env_ref="env:sim",
    )


async def start_and_await(
    turn: _Turn, envelope: EffectEnvelope, pid: str, tool: ToolPlan
) -> JsonValue:
    """Start ``tool``'s process, schedule its signals and cancel, and await its terminal."""
    plan = tool.process
    assert plan is not None
    host, recorder, session = turn.host, turn.recorder, turn.session_id
    where = turn._where()
    recorder.add("process_start", pid=pid, waits=list(plan.waits), **where)
    grant = ProcessStartGrant(SessionScope(session), HandleDescriptor("sim"))
    start = ProcessStart(_registration(pid, session, plan), grant)
    # The world's tasks that signal, cancel and watch the process start first: they begin
    # once the start below has registered the process (it does before it yields), and they
    # outlive this call, so a turn cancelled as the start returns leaves no process waiting.
    group = turn.group
    group.start(functools.partial(_watch_process, host, recorder, pid, session))
    group.start(functools.partial(_send_signals, host, recorder, session, pid, plan))
    if plan.cancel_at_ms is not None:
        group.start(
            functools.partial(_cancel_process, host, recorder, session, pid, plan.cancel_at_ms)
        )
    await _process_effect(host, session, start, envelope)
    awaited = await _process_effect(host, session, ProcessAwait(pid), envelope)
    assert isinstance(awaited, ProcessAwaited)
    output: JsonValue = to_wire(awaited.output)
    recorder.add("process_awaited", pid=pid, output=output, **where)
    return output


async def _send_signals(
    host: InlineHost, recorder: Recorder, session: str, pid: str, plan: ProcessPlan
) -> None:
    """Send one signal for each of the process's waits, at their instants (after the start)."""
    loop = host.primitives
    previous = 0.0
    for number, (name, at_ms) in enumerate(zip(plan.waits, plan.signal_ms, strict=True), 1):
        await loop.sleep((at_ms - previous) / 1000)
        previous = at_ms
        record = host.processes.registry.record(pid)
        wait = record.wait
        waiting = wait.kind.ordinal if wait is not None and wait.kind.name == name else None
        payload: JsonValue = {"session": session, "signal": f"{pid}/{number}"}
        recorder.add(
            "signal",
            pid=pid,
            name=name,
            payload=payload,
            waiting=waiting,
            state=record.status.state,
            session=session,
        )
        await _process_effect(host, session, signal_request(pid, name, str(number), payload), None)


async def _cancel_process(
    host: InlineHost, recorder: Recorder, session: str, pid: str, at_ms: float
) -> None:
    await host.primitives.sleep(at_ms / 1000)
    state = host.processes.registry.record(pid).status.state
    recorder.add("process_cancel", pid=pid, state=state, session=session)
    await _process_effect(host, session, ProcessCancel(pid, "sim"), None)


async def _watch_process(host: InlineHost, recorder: Recorder, pid: str, session: str) -> None:
    """Record the process's terminal once it is written."""
    output = await host.processes.await_terminal(pid)
    recorder.add("process_end", pid=pid, output=to_wire(output), session=session)


def process_patience_s(plan: WorldPlan) -> float:
    """How long (virtual seconds) a process of ``plan`` waits for a signal before it gives up.

    Every planned signal must arrive well within it, so that only a lost signal makes a process
    fail: :data:`PATIENCE_FACTOR` times the latest planned signal instant (measured from the
    process's start, as its waits are), and never less than :data:`PROCESS_PATIENCE_S`. Worlds
    of the default shape never come near that floor, so their traces do not depend on it."""
    latest = 0.0
    for session in plan.sessions:
        for turn in session.turns:
            for step in turn.steps:
                for tool in step.tools:
                    if tool.process is not None and tool.process.signal_ms:
                        latest = max(latest, tool.process.signal_ms[-1])
    return max(PROCESS_PATIENCE_S, PATIENCE_FACTOR * latest / 1000)


async def run_process(recorder: Recorder, patience_s: float, ctx: ProcessContext) -> JsonValue:
    """A simulated process: sleeps, then waits for its signals in order, recording each wait
    and what it resumed with; returns the payloads it got. Each wait gives up after
    ``patience_s``."""
    spec = ctx.input
    assert isinstance(spec, EngineInput) and isinstance(spec.payload, dict)
    session = spec.payload["session"]
    waits = spec.payload["waits"]
    wait_ms = spec.payload["wait_ms"]
    assert isinstance(session, str) and isinstance(waits, list) and isinstance(wait_ms, int)
    where = {"pid": ctx.process_id, "session": session}
    await ctx.sleep(wait_ms / 1000)
    got: list[JsonValue] = []
    ordinals: dict[str, int] = {}
    for name in waits:
        assert isinstance(name, str)
        ordinal = ordinals[name] = ordinals.get(name, 0) + 1
        recorder.add("process_wait", name=name, ordinal=ordinal, **where)
        payload = await ctx.wait_signal(name, timeout=patience_s)
        recorder.add("process_resumed", name=name, ordinal=ordinal, payload=payload, **where)
        got.append(payload)
    return {"session": session, "got": got}


def process_log(host: InlineHost, recorder: Recorder) -> None:
    """Record each process's terminal events, read from its log once the world has ended."""
    registry = host.processes.registry
    for record in registry.list_processes():
        terminals = [
            e.event_type for e in registry.events(record.id) if e.semantics.terminal is not None
        ]
        recorder.add("process_log", pid=record.id, terminals=terminals)
