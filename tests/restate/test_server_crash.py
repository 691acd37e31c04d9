"""The Restate SERVER crashes (SIGKILL) while a turn waits on a webhook, together with the
service: a webhook sent while the server is down is refused with a coded error (the resolver
retries it), one sent once the server is back while the service is still down is accepted by
Restate, and when the service comes back the turn finishes from the journal with no recorded
effect run again. This test has a server of its own (the session's serves the other tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("restate")

from lash_core import codes
from lash_core.errors import LashError
from lash_core.resolution import AlreadyResolved, ok
from lash_core.turn.events import TurnCompleted
from tests.restate.conftest import REQUIRED, World
from tests.restate.world import new_machine, parked, report_key, wait_until

ONCE = {"model": 2, "lookup": 1, "send_report": 1}


@pytest.fixture
def own_world(tmp_path: Path) -> Iterator[World]:
    from lash_restate.server import start

    try:
        server = start(tmp_path / "server")
    except LashError as exc:  # pragma: no cover - the session's server started already
        if REQUIRED:
            raise
        pytest.skip(f"the Restate server is unavailable: {exc}")
    w = World(server, tmp_path)
    try:
        w.service.start()
        w.turns.register(w.service.url)
        yield w
    finally:
        w.service.kill()
        server.stop()


def test_the_server_and_the_service_killed_mid_wait_resume_without_reruns(
    own_world: World,
) -> None:
    world = own_world
    server = world.server
    session = "server-crash"
    ref = world.turns.start(new_machine(session))
    wait_until(
        world.count_file,
        lambda: parked(world.count_file, session),
        "the turn to wait on its pending tool",
    )
    world.service.kill()
    server.kill()

    # while the server is down, a webhook gets a coded error and nothing is recorded: its
    # sender retries later (resolving is idempotent: first writer wins)
    with pytest.raises(LashError) as refused:
        world.turns.resolve(report_key(session), ok({"sent": "while the server is down"}))
    assert refused.value.code == codes.RESTATE_REQUEST_FAILED
    with pytest.raises(LashError) as refused_later:
        world.turns.resolve_later(report_key(session), ok({"sent": "while the server is down"}))
    assert refused_later.value.code == codes.RESTATE_REQUEST_FAILED

    server.restart()  # same ports, same data: the journal, the timer and the promises
    # the service is still down: Restate accepts the retried webhook and keeps it
    assert world.turns.resolve_later(report_key(session), ok({"sent": "retried"})) is True
    world.restart()  # the service comes back on the same port

    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    # the model's first call, lookup and send_report ran once, before the crash
    assert world.counts(session) == ONCE
    # the retried webhook won the key
    again = world.turns.resolve(report_key(session), ok("late"))
    assert again == AlreadyResolved(ok({"sent": "retried"}))
