"""durable_step on trio and asyncio: a replaying host never re-runs a step."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    LashError,
    LlmCallOutcome,
    LocalProtocolError,
    ReplayMismatchError,
    ToolAttemptOutcome,
    ToolSpec,
    TurnCompleted,
    TurnConfig,
    TurnHandlers,
    TurnMachine,
    codes,
    durable_step,
    run_turn,
)
from lash_core.durable import durable_step_envelope, durable_step_invocation, run_effect
from lash_core.effects import (
    CausalRef,
    DurableStepOutcome,
    EffectCause,
    EffectSubject,
    InvocationScope,
    Replay,
    ToolAttemptCommand,
    tool_attempt_invocation,
)
from lash_core.host import HandlerExecutor
from lash_core.journal import EffectJournal
from lash_core.testing.conformance import Driver, Harness
from lash_trio.testing import TrioDriver
from tests.core.test_vectors import VECTORS, _recorded_envelope
from tests.turn.world import answer, calls, done

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
drivers = pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)


def run(driver: Driver, scenario: Callable[[Harness], Awaitable[None]]) -> None:
    driver.run(scenario)


class Calls:
    """Counts the calls of the functions it wraps, by name."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def counted() -> Any:
            self.counts[name] = self.counts.get(name, 0) + 1
            return fn()

        return counted


# -- replay ----------------------------------------------------------------------------------


@drivers
def test_a_crash_and_replay_runs_each_step_once(driver: Driver) -> None:
    """A workflow draws a random id and reads the clock, then crashes; the restarted process
    loads the journal's lines and replays: the id and the time come back from the journal, the
    functions are not called again, and the workflow goes on from where it crashed."""
    calls = Calls()
    rng = random.Random(7)
    stored: list[str] = []  # the durable storage: one JSON line per recorded step
    results: list[dict[str, Any]] = []

    async def workflow(h: Harness, journal: EffectJournal, crash: bool) -> None:
        host = h.new_host(bytes(32))
        order_id = await durable_step(
            host,
            "order-id",
            calls("order-id", lambda: f"ord-{rng.getrandbits(32):08x}"),
            session_id="s",
            journal=journal,
        )
        started = await durable_step(
            host, "started-at", calls("started-at", h.now), session_id="s", journal=journal
        )
        await h.sleep(30)
        if crash:
            raise RuntimeError("the process died")
        finished = await durable_step(
            host, "finished-at", calls("finished-at", h.now), session_id="s", journal=journal
        )
        results.append({"order": order_id, "started": started, "finished": finished})

    async def first_run(h: Harness) -> None:
        await h.sleep(100)
        journal = EffectJournal(on_record=lambda entry: stored.append(entry.to_json() + "\n"))
        with pytest.raises(RuntimeError):
            await workflow(h, journal, crash=True)

    async def replay(h: Harness) -> None:
        await h.sleep(500)  # a later process: its clock reads differently
        journal = EffectJournal.from_json_lines(
            "".join(stored), on_record=lambda entry: stored.append(entry.to_json() + "\n")
        )
        assert len(journal) == 2
        await workflow(h, journal, crash=False)

    run(driver, first_run)
    assert calls.counts == {"order-id": 1, "started-at": 1}
    first_lines = list(stored)
    run(driver, replay)
    assert calls.counts == {"order-id": 1, "started-at": 1, "finished-at": 1}
    [result] = results
    recorded = EffectJournal.from_json_lines("".join(stored))
    assert result["order"] == recorded.get("s:durable:order-id").outcome.value  # type: ignore[union-attr]
    assert result["order"] == f"ord-{random.Random(7).getrandbits(32):08x}"
    assert math.isclose(result["started"], 100.0, abs_tol=1e-6)  # the first run's clock
    assert math.isclose(result["finished"], 530.0, abs_tol=1e-6)  # the replay's clock
    assert stored[:2] == first_lines and len(stored) == 3


@drivers
def test_sync_and_async_steps_replay_without_running_or_waiting(driver: Driver) -> None:
    calls = Calls()

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()

        async def fetch() -> Any:
            await h.sleep(2)
            return {"status": 200, "body": ("a", "b")}

        start = h.now()
        first = await durable_step(
            host, "fetch", calls("fetch", fetch), {"url": "u"}, session_id="s", journal=journal
        )
        assert h.now() - start == pytest.approx(2)
        assert first == {"body": ["a", "b"], "status": 200}  # the JSON value a replay reads
        start = h.now()
        again = await durable_step(
            host, "fetch", calls("fetch", fetch), {"url": "u"}, session_id="s", journal=journal
        )
        assert again == first and h.now() == start
        value = await durable_step(
            host, "sync", calls("sync", lambda: 3), session_id="s", journal=journal
        )
        assert value == 3
        assert (
            await durable_step(
                host, "sync", calls("sync", lambda: 4), session_id="s", journal=journal
            )
            == 3
        )

    run(driver, scenario)
    assert calls.counts == {"fetch": 1, "sync": 1}


@drivers
def test_without_a_journal_every_call_runs(driver: Driver) -> None:
    calls = Calls()

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        values = [
            await durable_step(host, "n", calls("n", lambda: len(calls.counts)), session_id="s")
            for _ in range(3)
        ]
        assert values == [1, 1, 1]

    run(driver, scenario)
    assert calls.counts == {"n": 3}


@drivers
def test_another_input_for_a_recorded_step_is_a_mismatch(driver: Driver) -> None:
    calls = Calls()

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()
        await durable_step(
            host, "get", calls("get", lambda: 1), {"url": "a"}, session_id="s", journal=journal
        )
        with pytest.raises(ReplayMismatchError) as caught:
            await durable_step(
                host, "get", calls("get", lambda: 2), {"url": "b"}, session_id="s", journal=journal
            )
        assert caught.value.code == codes.RUNTIME_EFFECT_REPLAY_HASH_MISMATCH
        assert caught.value.summary.first_divergent_paths == ("command.input.url",)

    run(driver, scenario)
    assert calls.counts == {"get": 1}


# -- failures --------------------------------------------------------------------------------


@drivers
def test_a_failing_step_records_nothing_and_runs_again(driver: Driver) -> None:
    attempts: list[int] = []

    def flaky() -> Any:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise ConnectionError("reset by peer")
        if len(attempts) == 2:
            raise LashError(codes.TOOL_COMPLETION_TIMEOUT, "gave up")
        return "ok"

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()
        with pytest.raises(LashError) as first:
            await durable_step(host, "call", flaky, session_id="s", journal=journal)
        assert first.value.code == codes.RUNTIME_EFFECT_HANDLER_FAILED
        assert "ConnectionError: reset by peer" in first.value.message
        assert isinstance(first.value.__cause__, ConnectionError)
        with pytest.raises(LashError) as second:
            await durable_step(host, "call", flaky, session_id="s", journal=journal)
        assert second.value.code == codes.TOOL_COMPLETION_TIMEOUT
        assert len(journal) == 0
        assert await durable_step(host, "call", flaky, session_id="s", journal=journal) == "ok"
        assert await durable_step(host, "call", flaky, session_id="s", journal=journal) == "ok"

    run(driver, scenario)
    assert attempts == [0, 1, 2]


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (object(), "$"),
        ({"a": [1, float("nan")]}, "$.a[1]"),
        (float("inf"), "$"),
        ({1: "x"}, "$"),
        ({"s": "\ud800"}, "$.s"),
        (_nested(100_000), "$" + "[0]" * 128),
    ],
)
@drivers
def test_a_value_that_is_not_json_is_refused(driver: Driver, value: Any, where: str) -> None:
    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()
        with pytest.raises(LashError) as caught:
            await durable_step(host, "bad", lambda: value, session_id="s", journal=journal)
        assert caught.value.code == codes.DURABLE_STEP_VALUE_NOT_JSON
        assert f"durable step 'bad' returned a value that is not JSON (at {where})" in str(
            caught.value
        )
        assert len(journal) == 0
        assert await durable_step(host, "bad", lambda: 1, session_id="s", journal=journal) == 1

    run(driver, scenario)


@drivers
def test_a_blank_step_id_is_refused_before_anything_runs(driver: Driver) -> None:
    calls = Calls()

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()
        for blank in ("", "  ", "\t"):
            with pytest.raises(LocalProtocolError) as caught:
                await durable_step(
                    host, blank, calls("f", lambda: 1), session_id="s", journal=journal
                )
            assert caught.value.code == codes.RUNTIME_EFFECT_DURABLE_STEP_ID
        assert len(journal) == 0

    run(driver, scenario)
    assert calls.counts == {}


@drivers
def test_the_same_step_twice_at_once_is_refused_and_a_cancelled_step_records_nothing(
    driver: Driver,
) -> None:
    calls = Calls()

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()

        async def slow() -> Any:
            await h.sleep(10)
            return "done"

        first = h.spawn(
            lambda: durable_step(host, "slow", calls("slow", slow), session_id="s", journal=journal)
        )
        await h.sleep(1)
        with pytest.raises(LocalProtocolError) as caught:
            await durable_step(host, "slow", calls("slow", slow), session_id="s", journal=journal)
        assert caught.value.code == codes.EFFECT_JOURNAL_ENTRY_IN_FLIGHT
        first.cancel()
        ended = await first.join()
        assert ended.cancelled and len(journal) == 0
        # The claim went with the cancelled run: the step runs again and is recorded.
        assert (
            await durable_step(host, "slow", calls("slow", slow), session_id="s", journal=journal)
            == "done"
        )
        assert "s:durable:slow" in journal

    run(driver, scenario)
    assert calls.counts == {"slow": 2}


# -- replay keys -----------------------------------------------------------------------------


def test_a_root_step_is_keyed_by_session_and_turn() -> None:
    root = durable_step_envelope("s", "now")
    assert root.invocation.scope == InvocationScope.new("s")
    assert root.invocation.subject == EffectSubject("durable:now", EffectKind.DURABLE_STEP)
    assert root.invocation.replay == Replay("s:durable:now")
    assert root.invocation.caused_by is None
    assert root.command.step_id == "now" and root.command.input is None  # type: ignore[union-attr]
    turn = durable_step_invocation("s", "now", turn_id="t")
    assert turn.scope == InvocationScope("s", "t")
    assert turn.replay_key == "s:t:durable:now"
    assert durable_step_invocation("s", "now", turn_id="").replay_key == "s:durable:now"


def test_a_step_with_a_parent_is_its_child() -> None:
    parent = tool_attempt_invocation("s", "call-1", 2)
    child = durable_step_invocation("ignored", "fetch", parent=parent)
    assert child.scope == parent.scope
    expected_cause: CausalRef = EffectCause(session_id="s", effect_id="tool:call-1:attempt:2")
    assert child.caused_by == expected_cause
    assert child.subject == EffectSubject(
        "tool:call-1:attempt:2:durable:fetch", EffectKind.DURABLE_STEP
    )
    assert child.replay_key == "tool:call-1:attempt:2:durable:fetch"
    envelope = durable_step_envelope("s", "fetch", {"u": 1}, parent=parent)
    assert envelope.replay_key == child.replay_key
    with pytest.raises(LocalProtocolError) as caught:
        durable_step_envelope("s", " ", parent=parent)
    assert caught.value.code == codes.RUNTIME_EFFECT_DURABLE_STEP_ID


# -- the reference's own durable steps -------------------------------------------------------


@drivers
def test_the_reference_durable_effects_run_exactly_once_and_replay(driver: Driver) -> None:
    """The reference simulator's ``durable-effect-exactly-once`` contract on the envelopes it
    recorded: the local executor runs once per durable key, a replay (after a restart from the
    journal's lines) returns the same outcome, and each entry carries the reference's hash."""
    rows = VECTORS["recorded_by_the_reference_runtime"]["envelope_hashes"]
    ran: list[str] = []
    stored: list[str] = []

    async def local(envelope: EffectEnvelope) -> DurableStepOutcome:
        ran.append(envelope.replay_key or "")
        return DurableStepOutcome({"digest": envelope.stable_hash()[:16], "run": len(ran)})

    executor = HandlerExecutor("durable_step", {EffectKind.DURABLE_STEP: local})
    outcomes: list[list[EffectOutcome]] = []

    async def process(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal.from_json_lines(
            "".join(stored), on_record=lambda entry: stored.append(entry.to_json() + "\n")
        )
        outcomes.append(
            [
                await run_effect(host, _recorded_envelope(row), executor, journal=journal)
                for row in rows
            ]
        )

    driver.run(process)
    driver.run(process)
    assert sorted(ran) == sorted(row["durable_key"] for row in rows)
    assert outcomes[0] == outcomes[1]
    journal = EffectJournal.from_json_lines("".join(stored))
    for row in rows:
        entry = journal.get(row["durable_key"])
        assert entry is not None and entry.envelope.hash == row["envelope_hash"]


# -- inside a turn ---------------------------------------------------------------------------

CONFIG = TurnConfig(model="scripted", tools=(ToolSpec("mint", "Mint a token.", {}),))


@drivers
def test_a_step_inside_a_tool_call_is_keyed_by_the_attempt_and_replays(driver: Driver) -> None:
    """A tool mints a token as a step whose parent is its attempt; the turn is run again (a
    replay after a restart) with the journal's lines: the same token, minted once."""
    minted: list[str] = []
    stored: list[str] = []
    outputs: list[object] = []

    def mint() -> str:
        minted.append(f"tok-{len(minted)}")
        return minted[-1]

    async def process(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal.from_json_lines(
            "".join(stored), on_record=lambda entry: stored.append(entry.to_json() + "\n")
        )
        responses = [calls(("c1", "mint")), answer("minted")]

        async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
            return LlmCallOutcome(responses.pop(0), text_streamed=False)

        async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
            command = envelope.command
            assert isinstance(command, ToolAttemptCommand)
            token = await durable_step(
                host, "token", mint, session_id="s", parent=envelope.invocation, journal=journal
            )
            outputs.append(token)
            return ToolAttemptOutcome(done(command.call.call_id, command.attempt, output=token))

        machine = TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=())
        result = await run_turn(machine, host, TurnHandlers(model=model, tools=tools))
        assert isinstance(result.outcome, TurnCompleted)

    driver.run(process)
    driver.run(process)
    assert minted == ["tok-0"] and outputs == ["tok-0", "tok-0"]
    [entry] = EffectJournal.from_json_lines("".join(stored))
    assert entry.replay_key.startswith("s:t:0:")
    assert entry.replay_key.endswith(":child:0:c1:attempt:1:durable:token")
    assert entry.outcome == DurableStepOutcome("tok-0")
