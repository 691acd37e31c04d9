"""TurnRunner's hooks: every envelope once before it runs (with its deadline), every outcome once
before the machine gets it, a checkpoint after each change, and a recorded outcome supplied by
``before_effect`` instead of running the effect (a replay runs no handler and gives the same
turn)."""

from __future__ import annotations

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    LlmCallOutcome,
    PendingCompletion,
    ToolAttemptOutcome,
    ToolCompletion,
    ToolLaunchPending,
    ToolSpec,
    TurnCompleted,
    TurnConfig,
    TurnHandlers,
    TurnHooks,
    TurnMachine,
    TurnResult,
    TurnRunner,
    TurnScope,
    ok,
    wire,
)
from lash_core.effects import ToolAttemptCommand
from lash_core.effects.tools import Duration
from lash_core.testing.conformance import Driver, Harness
from lash_trio.testing import TrioDriver
from tests.turn.world import answer, calls, done, user

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
SECRET = bytes(range(32))
CONFIG = TurnConfig(
    model="scripted",
    tools=(
        ToolSpec("lookup", "Look something up.", {"type": "object"}),
        ToolSpec("webhook", "Start work that completes later.", {"type": "object"}),
    ),
)


def _machine() -> TurnMachine:
    return TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=(user("go"),))


class Journal(TurnHooks):
    """Records what the hooks see; replays ``recorded`` outcomes by replay key if given."""

    def __init__(self, recorded: dict[str, EffectOutcome] | None = None) -> None:
        self.recorded = recorded
        self.before: list[tuple[str | None, int | None]] = []
        self.outcomes: dict[str, EffectOutcome] = {}
        self.order: list[str] = []
        self.checkpoints = 0

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        self.before.append((envelope.replay_key, timeout_ms))
        self.order.append(f"before {envelope.replay_key}")
        if self.recorded is None:
            return None
        assert envelope.replay_key is not None
        return self.recorded[envelope.replay_key]

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        assert envelope.replay_key is not None
        assert envelope.replay_key not in self.outcomes, "each outcome is seen once"
        self.outcomes[envelope.replay_key] = outcome
        self.order.append(f"after {envelope.replay_key}")

    def on_checkpoint(self, machine: TurnMachine) -> None:
        self.checkpoints += 1
        machine.checkpoint()  # the state is consistent whenever the hook runs


async def live_turn(h: Harness, journal: Journal) -> TurnResult:
    host = h.new_host(SECRET)
    responses = [calls(("c1", "lookup"), ("c2", "webhook")), answer("all done")]

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome(responses.pop(0), text_streamed=False)

    async def webhook(key: object) -> None:
        await h.sleep(2)
        host.resolve_await_event(key, ok({"status": "delivered"}))  # type: ignore[arg-type]

    async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        if command.call.tool_name == "lookup":
            await h.sleep(0.5)
            return ToolAttemptOutcome(done(command.call.call_id, command.attempt))
        key = host.await_event_key(TurnScope("s", "t"), ToolCompletion(command.call.call_id))
        h.spawn(lambda: webhook(key))
        pending = PendingCompletion(deadline=Duration(60, 0))
        return ToolAttemptOutcome(ToolLaunchPending(key, pending, 0))

    runner = TurnRunner(_machine(), host, TurnHandlers(model=model, tools=tools), hooks=journal)
    return await runner.run()


async def replayed_turn(h: Harness, journal: Journal) -> TurnResult:
    async def never(envelope: EffectEnvelope) -> EffectOutcome:
        raise AssertionError(f"{envelope.replay_key} ran although its outcome was recorded")

    runner = TurnRunner(
        _machine(), h.new_host(SECRET), TurnHandlers(model=never, tools=never), hooks=journal
    )
    return await runner.run()


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_hooks_see_each_envelope_and_outcome_once_and_a_replay_runs_nothing(
    driver: Driver,
) -> None:
    live, replay = Journal(), None
    results: list[TurnResult] = []

    async def first(h: Harness) -> None:
        results.append(await live_turn(h, live))

    driver.run(first)
    keys = [key for key, _ in live.before]
    assert keys == [
        "s:t:0:0:llm_call:1",
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:1",
        "s:t:0:0:tool_batch:2:child:1:c2:attempt:1",
        "s:t:0:0:tool_batch:2:c2:await",
        "s:t:0:1:llm_call:3",
    ]
    # The deadline travels with its envelope: only the pending completion's wait has one.
    assert dict(live.before) == dict.fromkeys(keys) | {"s:t:0:0:tool_batch:2:c2:await": 60_000}
    assert set(live.outcomes) == set(keys)
    # Every outcome is seen after its envelope and before the machine is fed it (one
    # checkpoint per outcome fed).
    for key in keys:
        assert live.order.index(f"before {key}") < live.order.index(f"after {key}")
    assert live.checkpoints == len(keys)
    assert isinstance(results[0].outcome, TurnCompleted)

    replay = Journal(recorded=live.outcomes)

    async def second(h: Harness) -> None:
        results.append(await replayed_turn(h, replay))

    driver.run(second)
    assert wire.to_json(results[1]) == wire.to_json(results[0])
    assert replay.before == live.before
    assert replay.outcomes == live.outcomes
    assert replay.checkpoints == live.checkpoints


def test_the_kind_of_each_envelope_is_known_to_the_table() -> None:
    from lash_core.effects.kinds import KINDS

    assert set(KINDS) == set(EffectKind) - {EffectKind.TRIGGER}
