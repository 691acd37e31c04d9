"""``resume_turn(..., on_divergence="continue")``, on trio and asyncio: the outcomes recorded
before the first divergent envelope are replayed, the divergent envelope and everything after
it run live, replacing what was recorded under their replay keys, and the turn finishes."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from lash_core import ok
from lash_core.durable_host import DurableHost, resume_turn
from lash_core.errors import LashError
from lash_core.store import TurnRef, TurnStatus
from lash_core.turn import RetryPolicy, TurnResult, run_turn
from lash_core.wire import canonical_json
from lash_sqlite import SqliteStore
from tests.durable_host.support import (
    CONFIG,
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

REF = TurnRef(SESSION, TURN)
# The first model call fails (retryable); the deployed code backs off 10 s, the new code 2 s.
OLD = attrs.evolve(CONFIG, model_retry=RetryPolicy(max_attempts=2, base_delay_ms=10_000))
NEW = attrs.evolve(CONFIG, model_retry=RetryPolicy(max_attempts=2, base_delay_ms=2_000))


def _in_a_process(flavor: Flavor, path: Path, body, at: int):  # type: ignore[no-untyped-def]
    store = SqliteStore(path)

    async def main():  # type: ignore[no-untyped-def]
        async with flavor.open(store, Wall(at), owner=f"owner-{at}") as host:
            return await body(host)

    try:
        return flavor.run(main)
    finally:
        store.close()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_continue_keeps_the_prefix_before_the_divergence_and_runs_the_rest_live(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "a.db"
    first_counts, counts = Counts(), Counts()
    seen: dict[str, object] = {}

    async def first(host: DurableHost) -> TurnResult | None:
        scripted = handlers(host, first_counts, fail_first_model=True)
        # Failed call at 0 s, back-off to 10 s, the retry asks for the tools, which run; the
        # report is pending when the process stops at 15 s.
        return await run_until(host, 15, lambda: run_turn(new_machine(OLD), host, scripted))

    async def resumed(host: DurableHost) -> TurnResult:
        scripted = handlers(host, counts, fail_first_model=True)
        result = await resume_turn(
            host, SESSION, TURN, scripted, config=NEW, on_divergence="continue"
        )
        journal = host.journals[REF]
        seen["replayed"], seen["discarded"] = journal.replayed, journal.discarded
        assert journal.divergence is not None
        seen["paths"] = [p.path for p in journal.divergence.diff.divergent_paths]
        return result

    assert _in_a_process(flavor, path, first, 1_000_000) is None
    assert first_counts.model == 2 and first_counts.tools == {
        "lookup": 1,
        "weather": 1,
        "send_report": 1,
    }
    with SqliteStore(path) as webhook:
        assert webhook.resolve(report_key(webhook), ok({"delivered": True})).status == "accepted"

    result = _in_a_process(flavor, path, resumed, 1_100_000)
    assert "all done" in canonical_json(result)
    # Kept: the failed first call (replayed, not run). From the back-off on, all live: a 2 s
    # sleep (the new code's), the retry, the three tools again, the final answer.
    assert seen["replayed"] == 1
    assert seen["paths"] == ["command.duration_ms"]
    assert seen["discarded"] == 5  # the sleep, the retry and the three tool attempts
    assert counts.model == 2 and counts.model_times[0] == pytest.approx(2.0, abs=1e-3)
    assert counts.tools == {"lookup": 1, "weather": 1, "send_report": 1}
    with SqliteStore(path) as store:
        row = store.turn(REF)
        assert row is not None and row.status is TurnStatus.FINISHED
        assert row.result_json == canonical_json(result)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_an_unknown_on_divergence_is_refused_and_changes_nothing(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "a.db"
    counts = Counts()

    async def first(host: DurableHost) -> TurnResult | None:
        return await run_until(
            host, 5, lambda: run_turn(new_machine(), host, handlers(host, Counts()))
        )

    async def resumed(host: DurableHost) -> TurnResult:
        return await resume_turn(
            host,
            SESSION,
            TURN,
            handlers(host, counts),
            on_divergence="skip",  # type: ignore[arg-type]
        )

    assert _in_a_process(flavor, path, first, 1_000_000) is None
    with pytest.raises(LashError) as refused:
        _in_a_process(flavor, path, resumed, 1_100_000)
    assert refused.value.code == "resume_on_divergence_invalid"
    assert counts.total == 0
    with SqliteStore(path) as store:
        row = store.turn(REF)
        assert row is not None and row.status is TurnStatus.RUNNING
