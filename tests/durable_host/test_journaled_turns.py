"""Journaled turns on a durable host, on trio and asyncio: a turn records every effect before
its outcome is used, and a resumed turn replays recorded outcomes without running anything."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from lash_core import codes, ok
from lash_core.durable_host import DurableHost, resume_turn
from lash_core.effects import EffectEnvelope, EffectKind, EffectOutcome, ToolAttemptCommand
from lash_core.errors import LashError, ReplayMismatchError
from lash_core.host import DurabilityTier
from lash_core.store import TurnRef, TurnStatus
from lash_core.turn import TurnHooks, TurnMachine, TurnResult, run_turn
from lash_core.wire import canonical_json
from lash_sqlite import SqliteStore
from tests.durable_host.support import (
    CONFIG,
    FLAVORS,
    SESSION,
    TURN,
    Counts,
    Crash,
    Flavor,
    Wall,
    handlers,
    new_machine,
    report_key,
)

REF = TurnRef(SESSION, TURN)


def _uncrashed(flavor: Flavor, path: Path) -> tuple[TurnResult, Counts]:
    """The scripted turn run to its end, its report resolved before anyone waits."""
    store = SqliteStore(path)
    store.resolve(report_key(store), ok({"delivered": True}))
    counts = Counts()

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), owner="first") as host:
            return await run_turn(new_machine(), host, handlers(host, counts))

    try:
        return flavor.run(main), counts
    finally:
        store.close()


def _crash_after(
    flavor: Flavor, path: Path, kind: EffectKind, nth: int = 1, *, resolve: bool = True
) -> Counts:
    """Run the turn until the ``nth`` outcome of ``kind`` is recorded, then stop it as a
    dying process would (nothing more is written)."""
    store = SqliteStore(path)
    if resolve:
        store.resolve(report_key(store), ok({"delivered": True}))
    counts = Counts()
    seen: list[EffectKind] = []

    def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        seen.append(envelope.command.kind)
        if seen.count(kind) == nth:
            raise Crash(f"crash after {kind}")

    async def main() -> None:
        async with flavor.open(store, Wall(), owner="first") as host:
            with pytest.raises(Crash):
                await run_turn(new_machine(), host, handlers(host, counts), on_effect=on_effect)

    try:
        flavor.run(main)
        assert store.unfinished_turns() == [REF]
    finally:
        store.close()
    return counts


def _resume(
    flavor: Flavor, path: Path, counts: Counts | None = None, **options: object
) -> tuple[TurnResult, Counts, object]:
    """Resume the turn in a fresh host over a fresh store object (another process)."""
    store = SqliteStore(path)
    counts = Counts() if counts is None else counts
    journal: list[object] = []

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), owner="second") as host:
            try:
                return await resume_turn(host, SESSION, TURN, handlers(host, counts), **options)  # type: ignore[arg-type]
            finally:
                journal.append(host.journals.get(REF))

    try:
        return flavor.run(main), counts, journal[0]
    finally:
        store.close()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_durable_turn_records_its_effects_and_its_result(flavor: Flavor, tmp_path: Path) -> None:
    result, counts = _uncrashed(flavor, tmp_path / "a.db")
    assert result.messages[-1].parts[0].text == "all done"  # type: ignore[union-attr]
    assert counts.model == 2
    assert counts.tools == {"lookup": 1, "weather": 1, "send_report": 1}
    with SqliteStore(tmp_path / "a.db") as store:
        row = store.turn(REF)
        assert row is not None and row.status is TurnStatus.FINISHED
        assert row.result_json == canonical_json(result)
        assert store.unfinished_turns() == []


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_host_is_durable_and_mints_with_the_store_secret(flavor: Flavor, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db")

    async def main() -> None:
        async with flavor.open(store, Wall()) as host:
            assert isinstance(host, DurableHost)
            assert host.durability_tier is DurabilityTier.DURABLE
            assert host.await_event_key(report_key(store).scope, report_key(store).wait) == (
                report_key(store)
            )

    flavor.run(main)
    store.close()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_resumed_turn_replays_every_recorded_effect_with_zero_executor_calls(
    flavor: Flavor, tmp_path: Path
) -> None:
    expected, _ = _uncrashed(flavor, tmp_path / "reference.db")
    # The last model call is recorded, then the process dies before the turn is finished.
    first = _crash_after(flavor, tmp_path / "a.db", EffectKind.LLM_CALL, nth=2)
    assert first.model == 2 and first.tools == {"lookup": 1, "weather": 1, "send_report": 1}
    result, counts, journal = _resume(flavor, tmp_path / "a.db")
    assert counts.total == 0  # nothing ran again, the recorded failure of `weather` included
    assert journal.replayed == 5 and journal.started == 0  # type: ignore[attr-defined]
    assert canonical_json(result) == canonical_json(expected)
    with SqliteStore(tmp_path / "a.db") as store:
        assert store.unfinished_turns() == []


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_the_first_unrecorded_effect_runs_live_on_resume(flavor: Flavor, tmp_path: Path) -> None:
    expected, _ = _uncrashed(flavor, tmp_path / "reference.db")
    _crash_after(flavor, tmp_path / "a.db", EffectKind.LLM_CALL, nth=1)
    result, counts, journal = _resume(flavor, tmp_path / "a.db")
    assert counts.model == 1  # the final answer; the first call was replayed
    assert counts.tools == {"lookup": 1, "weather": 1, "send_report": 1}
    assert journal.replayed == 1  # type: ignore[attr-defined]
    assert canonical_json(result) == canonical_json(expected)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_resuming_a_finished_turn_returns_its_result_and_runs_nothing(
    flavor: Flavor, tmp_path: Path
) -> None:
    expected, _ = _uncrashed(flavor, tmp_path / "a.db")
    result, counts, _ = _resume(flavor, tmp_path / "a.db")
    assert counts.total == 0
    assert canonical_json(result) == canonical_json(expected)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"system_prompt": "You help, briefly."}, "command.request.system"),
        ({"tools": CONFIG.tools[:2]}, "command.request.tools"),
    ],
    ids=["system_prompt", "tools"],
)
def test_code_changed_between_run_and_resume_is_a_terminal_replay_mismatch(
    flavor: Flavor, tmp_path: Path, change: dict[str, object], path: str
) -> None:
    _crash_after(flavor, tmp_path / "a.db", EffectKind.LLM_CALL, nth=1)
    changed = attrs.evolve(CONFIG, **change)  # type: ignore[arg-type]
    ran = Counts()
    with pytest.raises(ReplayMismatchError) as caught:
        _resume(flavor, tmp_path / "a.db", ran, config=changed)
    assert ran.total == 0  # zero effects ran
    assert caught.value.code == "runtime_effect_replay_hash_mismatch"
    paths = caught.value.summary.first_divergent_paths
    assert any(p.startswith(path) for p in paths), paths
    with SqliteStore(tmp_path / "a.db") as store:
        row = store.turn(REF)
        assert row is not None and row.status is TurnStatus.DIVERGED
        assert row.divergence_json is not None and path in row.divergence_json
    # Never retried: resuming again is refused at once, and nothing runs.
    counts = Counts()
    store = SqliteStore(tmp_path / "a.db")

    async def again() -> None:
        async with flavor.open(store, Wall(), owner="third") as host:
            await resume_turn(host, SESSION, TURN, handlers(host, counts))

    with pytest.raises(LashError) as refused:
        flavor.run(again)
    store.close()
    assert refused.value.code == "runtime_effect_replay_hash_mismatch"
    assert counts.total == 0


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_machine_that_already_ran_is_refused_and_nothing_is_written(
    flavor: Flavor, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "a.db")
    machine = new_machine()
    machine.next()  # its first envelope was handed out elsewhere
    counts = Counts()

    async def main() -> None:
        async with flavor.open(store, Wall()) as host:
            await run_turn(machine, host, handlers(host, counts))

    with pytest.raises(LashError) as caught:
        flavor.run(main)
    assert caught.value.code == "durable_turn_not_fresh"
    assert counts.total == 0 and store.turn(REF) is None
    store.close()


class _Seen(TurnHooks):
    """Records what a resumed turn's hooks are told, in order, into a shared log."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        self.log.append(("before_effect", envelope.command.kind))
        return None

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        self.log.append(("after_outcome", envelope.command.kind))

    def on_checkpoint(self, machine: TurnMachine) -> None:
        self.log.append(("on_checkpoint", ""))

    def on_handler_error(self, envelope: EffectEnvelope, error: LashError) -> None:
        self.log.append(("on_handler_error", error.code))


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_resume_turn_takes_hooks_and_on_handler_error_like_run_turn(
    flavor: Flavor, tmp_path: Path
) -> None:
    _crash_after(flavor, tmp_path / "a.db", EffectKind.LLM_CALL, nth=1)
    store = SqliteStore(tmp_path / "a.db")
    log: list[tuple[str, str]] = []
    counts = Counts()

    def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        log.append(("on_effect", envelope.command.kind))

    def on_handler_error(envelope: EffectEnvelope, error: LashError) -> None:
        log.append(("callback_error", error.code))

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), owner="second") as host:
            scripted = handlers(host, counts)

            async def tool(envelope: EffectEnvelope) -> EffectOutcome:
                command = envelope.command
                assert isinstance(command, ToolAttemptCommand)
                if command.call.tool_name == "lookup":
                    raise RuntimeError("lookup is down")
                assert scripted.tools is not None
                return await scripted.tools(envelope)

            return await resume_turn(
                host,
                SESSION,
                TURN,
                attrs.evolve(scripted, tools=tool),
                on_effect=on_effect,
                on_handler_error=on_handler_error,
                hooks=_Seen(log),
            )

    try:
        result = flavor.run(main)
    finally:
        store.close()
    assert result.messages[-1].parts[0].text == "all done"  # type: ignore[union-attr]
    # The recorded model call is replayed: no handler ran for it and it was not handed to the
    # hooks' before_effect (the journal answered it), but its outcome reaches them.
    assert counts.model == 1
    assert log[:3] == [
        ("on_effect", EffectKind.LLM_CALL),
        ("after_outcome", EffectKind.LLM_CALL),
        ("on_checkpoint", ""),
    ]
    assert ("before_effect", EffectKind.TOOL_ATTEMPT) in log
    failed = codes.RUNTIME_EFFECT_HANDLER_FAILED
    errors = [entry for entry in log if entry[0] in ("callback_error", "on_handler_error")]
    # Each failed attempt of the lookup: the callback first, then the hooks.
    attempts = len(errors) // 2
    assert attempts >= 1
    assert errors == [("callback_error", failed), ("on_handler_error", failed)] * attempts
    outcomes = [entry for entry in log if entry[0] == "after_outcome"]
    assert len(outcomes) == len([entry for entry in log if entry[0] == "on_effect"])
    assert len(outcomes) == len([entry for entry in log if entry[0] == "on_checkpoint"])
