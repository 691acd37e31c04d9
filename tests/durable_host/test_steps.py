"""``durable_step`` and ``direct_call`` on a durable host, on trio and asyncio: journaled in the
store (``begin``/``complete`` under the session's lease, as a turn's effects), so a later host
over the same file, with a fresh store object, replays them without running them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lash_core import durable_step, ok
from lash_core.durable import DirectCallError, direct_call, durable_step_envelope, run_effect
from lash_core.durable_host import DurableHost, resume_turn
from lash_core.durable_turn import EffectAttempt
from lash_core.effects import (
    DirectOutcome,
    EffectEnvelope,
    EffectKind,
    Invocation,
    InvocationScope,
    LlmCallError,
    LlmErrorKind,
    LlmRequest,
    LlmResponse,
    Message,
    Role,
    SleepCommand,
    SleepOutcome,
    StopReason,
    TextPart,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    Usage,
)
from lash_core.errors import LashError, ReplayMismatchError
from lash_core.host import SleepExecutor
from lash_core.store import Owner, Recorded
from lash_core.turn import TurnHandlers, TurnResult, run_turn
from lash_core.wire import Err, JsonValue, Ok
from lash_sqlite import SqliteStore
from tests.durable_host.support import (
    FLAVORS,
    SESSION,
    TURN,
    Counts,
    Flavor,
    Wall,
    handlers,
    new_machine,
    report_key,
    run_until,
)
from tests.turn.world import done

REQUEST = LlmRequest(
    model="small", messages=(Message(Role.USER, (TextPart("Title for: trip to Lisbon"),)),)
)


def _in_a_process(flavor: Flavor, path: Path, body, wall: Wall | None = None):  # type: ignore[no-untyped-def]
    """Run ``body(host)`` on a fresh store object and durable host over ``path``."""
    store = SqliteStore(path)

    async def main():  # type: ignore[no-untyped-def]
        async with flavor.open(store, wall or Wall()) as host:
            return await body(host)

    try:
        return flavor.run(main)
    finally:
        store.close()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_durable_step_is_recorded_in_the_store_and_replayed_after_a_reopen(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "steps.db"
    ran: list[int] = []
    seen: list[EffectAttempt | None] = []

    def draw(host: DurableHost):  # type: ignore[no-untyped-def]
        def fn() -> JsonValue:
            ran.append(len(ran) + 1)
            seen.append(host.effect_attempt(durable_step_envelope(SESSION, "order-id")))
            return {"order": f"ord-{len(ran)}"}

        return fn

    async def body(host: DurableHost) -> JsonValue:
        return await durable_step(host, "order-id", draw(host), session_id=SESSION)

    first = _in_a_process(flavor, path, body)
    assert first == {"order": "ord-1"} and ran == [1]
    assert seen == [EffectAttempt(f"{SESSION}:durable:order-id", 1, False)]

    # Another process, another store object: the step comes back from the store, not run.
    assert _in_a_process(flavor, path, body) == {"order": "ord-1"}
    assert ran == [1]
    with SqliteStore(path) as store:
        lease = store.acquire(SESSION, Owner("inspector"), 30_000, 0)
        verdict = store.begin(lease, durable_step_envelope(SESSION, "order-id").canonical(), 1)
    assert verdict == Recorded('{"type":"durable_step","value":{"order":"ord-1"}}', 1)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_direct_call_and_its_error_answer_replay_from_the_store_after_a_reopen(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "direct.db"
    asked: list[str] = []

    async def model(envelope: EffectEnvelope) -> DirectOutcome:
        asked.append(envelope.replay_key or "")
        if (envelope.replay_key or "").endswith("request:busy"):
            error = LlmCallError("try later", retryable=True, kind=LlmErrorKind.RATE_LIMIT)
            return DirectOutcome(Err(error))
        reply = Message(Role.ASSISTANT, (TextPart("Lisbon trip"),))
        return DirectOutcome(Ok(LlmResponse(reply, Usage(9, 2), StopReason.STOP)))

    async def body(host: DurableHost) -> tuple[str, str]:
        title = await direct_call(host, REQUEST, model, session_id=SESSION, usage_source="title")
        try:
            await direct_call(
                host, REQUEST, model, session_id=SESSION, usage_source="title", replay_id="busy"
            )
        except DirectCallError as exc:
            code = exc.llm_error.kind.value
        else:
            raise AssertionError("expected the recorded error answer")
        part = title.message.parts[0]
        assert isinstance(part, TextPart)
        return part.text, code

    assert _in_a_process(flavor, path, body) == ("Lisbon trip", "rate_limit")
    assert len(asked) == 2
    assert _in_a_process(flavor, path, body) == ("Lisbon trip", "rate_limit")
    assert len(asked) == 2  # both answers, the error too, came from the store


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_failed_step_is_abandoned_and_runs_again_not_in_doubt(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "failed.db"
    attempts: list[EffectAttempt | None] = []

    async def body(host: DurableHost) -> JsonValue:
        def flaky() -> JsonValue:
            attempts.append(host.effect_attempt(durable_step_envelope(SESSION, "fetch")))
            if len(attempts) == 1:
                raise RuntimeError("the service is down")
            return "fetched"

        with pytest.raises(LashError) as failed:
            await durable_step(host, "fetch", flaky, session_id=SESSION)
        assert failed.value.code == "runtime_effect_handler_failed"
        return await durable_step(host, "fetch", flaky, session_id=SESSION)

    assert _in_a_process(flavor, path, body) == "fetched"
    key = f"{SESSION}:durable:fetch"
    assert attempts == [EffectAttempt(key, 1, False), EffectAttempt(key, 2, False)]


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_step_cut_off_by_its_process_stopping_runs_again_in_doubt_with_the_same_key(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "cut.db"
    attempts: list[EffectAttempt | None] = []

    async def charge(host: DurableHost) -> JsonValue:
        async def fn() -> JsonValue:
            attempts.append(host.effect_attempt(durable_step_envelope(SESSION, "charge")))
            await host.primitives.sleep(10)  # the payment provider is slow
            return "ch_1"

        return await durable_step(host, "charge", fn, {"cents": 500}, session_id=SESSION)

    async def stops(host: DurableHost) -> JsonValue | None:
        return await run_until(host, 5, lambda: charge(host))

    assert _in_a_process(flavor, path, stops) is None
    assert _in_a_process(flavor, path, charge) == "ch_1"
    key = f"{SESSION}:durable:charge"
    assert attempts == [EffectAttempt(key, 1, False), EffectAttempt(key, 2, True)]
    assert _in_a_process(flavor, path, charge) == "ch_1"
    assert len(attempts) == 2


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_step_replayed_with_another_input_is_a_replay_mismatch_and_does_not_run(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "changed.db"
    ran: list[int] = []

    def body(cents: int):  # type: ignore[no-untyped-def]
        async def run(host: DurableHost) -> JsonValue:
            def fn() -> JsonValue:
                ran.append(cents)
                return "ch_1"

            return await durable_step(host, "charge", fn, {"cents": cents}, session_id=SESSION)

        return run

    assert _in_a_process(flavor, path, body(500)) == "ch_1"
    with pytest.raises(ReplayMismatchError) as mismatch:
        _in_a_process(flavor, path, body(700))
    assert mismatch.value.summary.first_divergent_paths == ("command.input.cents",)
    assert ran == [500]


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_step_is_fenced_by_the_session_lease(flavor: Flavor, tmp_path: Path) -> None:
    path = tmp_path / "fenced.db"
    ran: list[int] = []
    with SqliteStore(path) as other:
        other.acquire(SESSION, Owner("worker-b"), 60_000, Wall()())

    def step() -> JsonValue:
        ran.append(1)
        return 1

    async def body(host: DurableHost) -> JsonValue:
        return await durable_step(host, "step", step, session_id=SESSION)

    with pytest.raises(LashError) as held:
        _in_a_process(flavor, path, body)
    assert held.value.code == "lease_held"
    assert ran == []
    with SqliteStore(path) as store:
        assert store.acquire(SESSION, Owner("x"), 1, Wall()() + 60_000).fencing_token == 2


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_step_inside_a_tool_of_a_resumed_turn_is_not_run_again(
    flavor: Flavor, tmp_path: Path
) -> None:
    """The tool was cut off after its step was recorded: on resume the tool runs again (in
    doubt) under the turn's lease, and its step answers from the store."""
    path = tmp_path / "turn.db"
    charged: list[int] = []
    tool_attempts: list[EffectAttempt | None] = []
    with SqliteStore(path) as store:
        store.resolve(report_key(store), ok({"delivered": True}))

    def with_charging_lookup(host: DurableHost) -> TurnHandlers:
        base = handlers(host, Counts())

        async def tool(envelope: EffectEnvelope) -> ToolAttemptOutcome:
            command = envelope.command
            assert isinstance(command, ToolAttemptCommand)
            if command.call.tool_name != "lookup":
                outcome = await base.tools(envelope)  # type: ignore[misc]
                assert isinstance(outcome, ToolAttemptOutcome)
                return outcome
            tool_attempts.append(host.effect_attempt(envelope))

            def charge() -> JsonValue:
                charged.append(1)
                return "ch_1"

            parent = envelope.invocation
            receipt = await durable_step(host, "charge", charge, session_id=SESSION, parent=parent)
            assert receipt == "ch_1"
            await host.primitives.sleep(10)  # the process stops here, the step recorded
            return ToolAttemptOutcome(done(command.call.call_id, command.attempt))

        return TurnHandlers(model=base.model, tools=tool)

    async def first(host: DurableHost) -> TurnResult | None:
        return await run_until(
            host, 5, lambda: run_turn(new_machine(), host, with_charging_lookup(host))
        )

    async def resumed(host: DurableHost) -> TurnResult:
        return await resume_turn(host, SESSION, TURN, with_charging_lookup(host))

    assert _in_a_process(flavor, path, first) is None
    result = _in_a_process(flavor, path, resumed)
    assert result.outcome.status == "finished"
    assert charged == [1]
    assert [a.in_doubt if a else None for a in tool_attempts] == [False, True]


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_sleep_run_as_an_effect_resumes_to_its_stored_due_time(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "sleep.db"
    backoff = EffectEnvelope.build(
        Invocation.effect(
            InvocationScope.new(SESSION), "retry:1:sleep", EffectKind.SLEEP, "s:retry:1:sleep"
        ),
        SleepCommand(30_000),
    )

    async def sleep(host: DurableHost) -> float:
        start = host.primitives.now()
        assert await run_effect(host, backoff, SleepExecutor()) == SleepOutcome()
        return host.primitives.now() - start

    async def stops(host: DurableHost) -> float | None:
        return await run_until(host, 20, lambda: sleep(host))

    assert _in_a_process(flavor, path, stops, Wall(base_ms=1_000_000)) is None
    # Restarted 25 s after the sleep began: 5 s are left.
    assert _in_a_process(flavor, path, sleep, Wall(base_ms=1_025_000)) == 5.0
    assert _in_a_process(flavor, path, sleep, Wall(base_ms=1_100_000)) == 0.0  # recorded
