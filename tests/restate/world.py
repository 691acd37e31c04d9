"""A scripted turn for the Restate tier's tests, and its service (run in-process or as a
subprocess: ``python -m tests.restate.world PORT COUNT_FILE [VERSION]``).

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
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolSpec,
)
from lash_core.effects.tools import Duration, PendingCompletion, ToolLaunchPending
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.turn import RetryPolicy, TurnConfig, TurnHandlers, TurnHooks, TurnMachine
from lash_restate import RestateTurnHost, TurnService, serve
from tests.turn.world import answer, calls, done, llm_error, user

SECRET: Final = b"restate-test-secret-0123456789abcdef"
SERVICE: Final = "lash_turns"
REPORT_CALL: Final = "c2"
SHORT_DEADLINE_MS: Final = 200
"""The pending tool's deadline in sessions named ``short...`` (60 s in the others)."""
RETRY_DELAY_MS: Final = 50
"""The back-off before a model call's retry (in sessions named ``flaky...`` the first model
call fails, retryably: the back-off is a sleep effect, a durable timer on Restate)."""


def config(version: str = "1") -> TurnConfig:
    prompt = "You help." if version == "1" else "You help, briefly."
    return TurnConfig(
        model="scripted",
        system_prompt=prompt,
        model_retry=RetryPolicy(max_attempts=3, base_delay_ms=RETRY_DELAY_MS),
        tools=(
            ToolSpec("lookup", "Look something up.", {"type": "object"}),
            ToolSpec("send_report", "Send a report; confirmed later.", {"type": "object"}),
        ),
    )


def new_machine(session: str, turn: str = "t", version: str = "1") -> TurnMachine:
    return TurnMachine(
        config(version), session_id=session, turn_id=turn, turn_index=0, messages=(user("go"),)
    )


def report_key(session: str, turn: str = "t") -> AwaitEventKey:
    """The key ``send_report`` waits on (minted with the service's secret)."""
    return KeySigner(SECRET).mint(TurnScope(session, turn), ToolCompletion(REPORT_CALL))


def make_service(count_file: Path, version: str = "1", *, pending: bool = True) -> TurnService:
    def record(envelope: EffectEnvelope, what: str) -> None:
        with count_file.open("a", encoding="utf-8") as f:
            f.write(f"{envelope.invocation.scope.session_id}:{what}\n")
        ring(count_file)

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
                tools = ("lookup", "send_report") if pending else ("lookup",)
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

    return TurnService(
        SERVICE, handlers, secret=SECRET, config=config(version), hooks=lambda host: Parked()
    )


def counts(count_file: Path, session: str) -> dict[str, int]:
    """How many times each handler ran for ``session``'s turns, across every process that
    wrote ``count_file``."""
    out: dict[str, int] = {}
    if count_file.exists():
        for line in count_file.read_text(encoding="utf-8").split():
            owner, _, what = line.rpartition(":")
            if owner == session and what != "parked":
                out[what] = out.get(what, 0) + 1
    return out


def main(argv: list[str]) -> None:
    port, count_file = int(argv[0]), Path(argv[1])
    version = argv[2] if len(argv) > 2 else "1"
    asyncio.run(serve(make_service(count_file, version), port))


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
