"""A scripted turn for the Restate tier's tests, and its service (run in-process or as a
subprocess: ``python -m tests.restate.world PORT COUNT_FILE [VERSION [INGRESS_URL]]``).

The model asks for two tools at once: ``lookup`` answers, ``send_report`` is pending on an
await-event key (deadline 60 s). When both results are in, it answers. Every handler
call appends a line (``<session>:model`` or ``<session>:<tool>``) to ``COUNT_FILE``, so a test
counts calls across processes. ``VERSION`` "2" runs changed code (another system prompt): a
replay of a turn started by version 1 meets a changed model request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from lash_core.effects import (
    EffectEnvelope,
    EffectOutcome,
    LlmCallCommand,
    LlmCallOutcome,
    ProcessEffectCommand,
    ProcessOutcome,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolSpec,
)
from lash_core.effects.process import (
    ProcessAwait,
    ProcessAwaited,
    ProcessCommand,
    ProcessEffectOutcome,
    ProcessStart,
)
from lash_core.effects.replay_keys import process_effect_invocation
from lash_core.effects.tools import Duration, PendingCompletion, ToolLaunchPending
from lash_core.host import ProcessExecutor
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process import signal_request
from lash_core.process.events import ProcessWakeDelivery
from lash_core.process.records import (
    EngineInput,
    HostOriginator,
    ProcessEventType,
    ProcessIdentity,
    ProcessProvenance,
    ProcessRecord,
    ProcessRegistration,
    RecoveryDisposition,
)
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.turn import RetryPolicy, TurnConfig, TurnHandlers, TurnHooks, TurnMachine
from lash_core.wire import JsonValue, to_wire
from lash_restate import RestateProcessContext, RestateTurnHost, TurnService, serve
from tests.turn.world import answer, calls, done, llm_error, user

SECRET: Final = b"restate-test-secret-0123456789abcdef"
SERVICE: Final = "lash_turns"
REPORT_CALL: Final = "c2"
SHORT_DEADLINE_MS: Final = 200
"""The pending tool's deadline in sessions named ``short...`` (60 s in the others)."""
RETRY_DELAY_MS: Final = 50
"""The back-off before a model call's retry (in sessions named ``flaky...`` the first model
call fails, retryably: the back-off is a sleep effect, a durable timer on Restate)."""


PROCESS_EVENTS: Final = (
    ProcessEventType("signal.go"),
    ProcessEventType("signal.ready"),
    ProcessEventType("note"),
)


def registration(pid: str, kind: str = "job", payload: JsonValue = None) -> ProcessRegistration:
    """An engine process of ``kind`` declaring the ``go`` and ``ready`` signals and ``note``."""
    return ProcessRegistration(
        id=pid,
        input=EngineInput(kind, payload),
        disposition=RecoveryDisposition.RERUNNABLE,
        identity=ProcessIdentity(kind),
        event_types=PROCESS_EVENTS,
        provenance=ProcessProvenance(HostOriginator()),
        env_ref="env:test",
    )


def config(version: str = "1") -> TurnConfig:
    prompt = "You help." if version == "1" else "You help, briefly."
    return TurnConfig(
        model="scripted",
        system_prompt=prompt,
        model_retry=RetryPolicy(max_attempts=3, base_delay_ms=RETRY_DELAY_MS),
        tools=(
            ToolSpec("lookup", "Look something up.", {"type": "object"}),
            ToolSpec("send_report", "Send a report; confirmed later.", {"type": "object"}),
            ToolSpec("spawn", "Run a job as a background process.", {"type": "object"}),
            ToolSpec("slow_a", "A slow tool.", {"type": "object"}),
            ToolSpec("slow_b", "Another slow tool.", {"type": "object"}),
        ),
    )


def new_machine(session: str, turn: str = "t", version: str = "1") -> TurnMachine:
    return TurnMachine(
        config(version), session_id=session, turn_id=turn, turn_index=0, messages=(user("go"),)
    )


def report_key(session: str, turn: str = "t") -> AwaitEventKey:
    """The key ``send_report`` waits on (minted with the service's secret)."""
    return KeySigner(SECRET).mint(TurnScope(session, turn), ToolCompletion(REPORT_CALL))


def first_tools(session: str, pending: bool) -> tuple[str, ...]:
    """The tools the model's first reply calls in ``session``."""
    if session.startswith("proc"):
        return ("spawn",)
    if session.startswith("stuck"):
        return ("lookup",)  # alone: nothing else runs while it is cut off
    if session.startswith("batch"):
        return ("slow_a", "send_report", "slow_b")  # send_report stays c2
    return ("lookup", "send_report") if pending else ("lookup",)


OVERLAP_GUARD_S: Final = 20.0
"""How long a ``slow_*`` tool waits for its sibling to start before giving up (a failure
guard: with concurrent tool attempts both start at once)."""


def make_service(
    count_file: Path, version: str = "1", *, pending: bool = True, ingress_url: str | None = None
) -> TurnService:
    def line(owner: str, what: str) -> None:
        with count_file.open("a", encoding="utf-8") as f:
            f.write(f"{owner}:{what}\n")
        ring(count_file)

    def record(envelope: EffectEnvelope, what: str) -> None:
        line(envelope.invocation.scope.session_id, what)

    started: dict[str, set[str]] = {}
    both: dict[str, asyncio.Event] = {}

    async def slow(envelope: EffectEnvelope, name: str) -> str:
        """Start, then wait until the batch's other slow tool has started too."""
        session = envelope.invocation.scope.session_id
        record(envelope, f"{name}-started")
        started.setdefault(session, set()).add(name)
        event = both.setdefault(session, asyncio.Event())
        if len(started[session]) == 2:
            event.set()
        try:
            await asyncio.wait_for(event.wait(), OVERLAP_GUARD_S)
        except TimeoutError:
            record(envelope, f"{name}-alone")
            return "alone"
        record(envelope, f"{name}-finished")
        return "overlapped"

    async def process_effect(
        host: RestateTurnHost, parent: EffectEnvelope, command: ProcessCommand
    ) -> ProcessEffectOutcome:
        invocation = process_effect_invocation(
            parent.invocation.scope.session_id, command.effect_id, parent.invocation
        )
        envelope = EffectEnvelope.build(invocation, ProcessEffectCommand(command))
        outcome = await host.execute_effect(envelope, ProcessExecutor())
        assert isinstance(outcome, ProcessOutcome)
        return outcome.result

    async def spawn(host: RestateTurnHost, envelope: EffectEnvelope) -> JsonValue:
        """Start a job, signal it (``ready`` then ``go`` twice), await it; its output."""
        pid = f"{envelope.invocation.scope.session_id}-job"
        await process_effect(host, envelope, ProcessStart(registration(pid)))
        await process_effect(host, envelope, signal_request(pid, "go", "g1", "one"))
        await process_effect(host, envelope, signal_request(pid, "ready", "r1", True))
        await process_effect(host, envelope, signal_request(pid, "go", "g2", "two"))
        awaited = await process_effect(host, envelope, ProcessAwait(pid))
        assert isinstance(awaited, ProcessAwaited)
        output: JsonValue = to_wire(awaited.output)
        return output

    def handlers(host: RestateTurnHost) -> TurnHandlers:
        async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
            command = envelope.command
            assert isinstance(command, LlmCallCommand)
            record(envelope, "model")
            attempt = host.effect_attempt(envelope)
            assert attempt is not None
            if attempt.in_doubt:
                record(envelope, "model-in-doubt")
            first = len(command.request.messages) == 1
            flaky = envelope.invocation.scope.session_id.startswith("flaky")
            if first and flaky and ":attempt:" not in (envelope.replay_key or ""):
                return LlmCallOutcome(llm_error(True), text_streamed=False)
            if first:
                tools = first_tools(envelope.invocation.scope.session_id, pending)
                specs = [(f"c{i + 1}", name) for i, name in enumerate(tools)]
                return LlmCallOutcome(calls(*specs), text_streamed=False)
            return LlmCallOutcome(answer("all done"), text_streamed=False)

        async def tool(envelope: EffectEnvelope) -> ToolAttemptOutcome:
            command = envelope.command
            assert isinstance(command, ToolAttemptCommand)
            name = command.call.tool_name
            record(envelope, name)
            attempt = host.effect_attempt(envelope)
            assert attempt is not None and attempt.idempotency_key == envelope.replay_key
            if attempt.in_doubt:
                record(envelope, f"{name}-in-doubt")
            elif name == "lookup" and envelope.invocation.scope.session_id.startswith("stuck"):
                await asyncio.Event().wait()  # until the test kills the process
            if name == "spawn":
                output = await spawn(host, envelope)
                call = command.call
                return ToolAttemptOutcome(done(call.call_id, command.attempt, output=output))
            if name.startswith("slow_"):
                verdict = await slow(envelope, name)
                call = command.call
                return ToolAttemptOutcome(done(call.call_id, command.attempt, output=verdict))
            if name == "send_report":
                scope = envelope.invocation.scope
                assert scope.turn_id is not None
                key = host.await_event_key(
                    TurnScope(scope.session_id, scope.turn_id), ToolCompletion(REPORT_CALL)
                )
                short = scope.session_id.startswith("short")
                deadline = Duration.from_ms(SHORT_DEADLINE_MS) if short else Duration(60, 0)
                pending = PendingCompletion(deadline=deadline)
                return ToolAttemptOutcome(ToolLaunchPending(key, pending, 0))
            return ToolAttemptOutcome(done(command.call.call_id, command.attempt))

        return TurnHandlers(model=model, tools=tool)

    class Parked(TurnHooks):
        """Notes ``<session>:parked`` once ``send_report``'s outcome is in the journal (the
        turn machine is fed it only after Restate recorded the run): a test that kills the
        service after it knows no handler call can run again."""

        def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
            command = envelope.command
            if (
                isinstance(command, ToolAttemptCommand)
                and command.call.tool_name == "send_report"
                and isinstance(outcome, ToolAttemptOutcome)
                and isinstance(outcome.launch, ToolLaunchPending)
            ):
                record(envelope, "parked")

    async def fetch_step(context: RestateProcessContext, what: str) -> JsonValue:
        async def run() -> JsonValue:
            line(context.process_id, what)
            return f"{what}:{context.process_id}"

        return await context.step(what, run)

    async def job(context: RestateProcessContext) -> JsonValue:
        """A step, the ``ready`` signal, two ``go`` signals with a step between, a note."""
        fetched = await fetch_step(context, "fetch")
        ready = await context.wait_signal("ready")
        first = await context.wait_signal("go")
        await fetch_step(context, "between")
        second = await context.wait_signal("go")
        await context.emit("note", {"go": [first, second]})
        return {"fetched": fetched, "ready": ready, "go": [first, second]}

    async def sleeper(context: RestateProcessContext) -> JsonValue:
        await fetch_step(context, "fell-asleep")
        await context.sleep(600)
        return "woke"

    async def failing(context: RestateProcessContext) -> JsonValue:
        raise ValueError("the job broke")

    def changed(process: ProcessRecord) -> None:
        line(process.id, "changed")

    def woken(delivery: ProcessWakeDelivery) -> None:
        line(delivery.target_session_id, "woken")

    return TurnService(
        SERVICE,
        handlers,
        secret=SECRET,
        config=config(version),
        hooks=lambda host: Parked(),
        processes={"job": job, "sleeper": sleeper, "failing": failing},
        ingress_url=ingress_url,
        on_process_change=changed,
        on_wake=woken,
    )


def counts(count_file: Path, session: str) -> dict[str, int]:
    """How many times each handler ran for ``session``'s turns, across every process that
    wrote ``count_file``."""
    out: dict[str, int] = {}
    if count_file.exists():
        for line in count_file.read_text(encoding="utf-8").split():
            owner, _, what = line.rpartition(":")
            if owner == session and what not in ("parked", "changed"):
                out[what] = out.get(what, 0) + 1
    return out


def main(argv: list[str]) -> None:
    port, count_file = int(argv[0]), Path(argv[1])
    version = argv[2] if len(argv) > 2 else "1"
    ingress_url = argv[3] if len(argv) > 3 else None
    asyncio.run(serve(make_service(count_file, version, ingress_url=ingress_url), port))


def parked(count_file: Path, session: str) -> bool:
    """Whether ``session``'s turn has had ``send_report``'s pending outcome recorded."""
    if not count_file.exists():
        return False
    return f"{session}:parked" in count_file.read_text(encoding="utf-8").split()


def bell_path(count_file: Path) -> str:
    """The datagram socket a waiter on ``count_file`` listens on (short: a socket path has a
    ~100-byte limit, and pytest's folders are long)."""
    digest = hashlib.sha256(str(count_file.resolve()).encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"lash-bell-{digest}")


def ring(count_file: Path) -> None:
    """Tell a waiter on ``count_file`` (if one listens) that a line was written."""
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as bell,
    ):
        bell.sendto(b".", bell_path(count_file))


def wait_until(
    count_file: Path, condition: Callable[[], bool], what: str, timeout: float = 30.0
) -> None:
    """Block until ``condition()`` holds, re-checking it each time a line is written to
    ``count_file`` (the writer rings a datagram socket: no polling); ``AssertionError`` naming
    ``what`` if it does not hold within ``timeout`` seconds (a failure guard, not a timing
    assertion)."""
    path = bell_path(count_file)
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as bell:
        bell.bind(path)  # bound before the first check: a line written after it rings us
        try:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                bell.settimeout(left)
                with contextlib.suppress(TimeoutError):
                    bell.recv(64)
        finally:
            Path(path).unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
