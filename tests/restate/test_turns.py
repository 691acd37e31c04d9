"""Turns on the Restate tier, against a real Restate server and the scripted turn's service in
a subprocess (see ``conftest.py``): webhooks resolve pending tools through lash's key
verification, a service SIGKILLed mid-wait resumes from Restate's journal without re-running a
recorded effect, and changed code meets the replay check as a terminal mismatch.

The durable-store conformance cases (``tests/store/test_conformance.py``, run on the memory and
SQLite stores) that apply to this tier are checked here through Restate: a cold mint, resolve
and observe (the webhook test), resolve before the wait is buffered (even before the turn
starts), first writer wins between a resolve and a timeout or a cancel, the tamper matrix
creates nothing, keys are the registry's for the same secret, a journaled replay answers
recorded outcomes (the crash tests count every handler call across processes), and a replay
mismatch is terminal with its JSON-path diff. The others test machinery Restate replaces:
doorbells and ``unpark`` (Restate pushes completions), session leases and fencing (Restate owns
an invocation), in-doubt attempts and abandon/discard (Restate retries a ``ctx.run`` itself),
``on_divergence="continue"``, turn-control cancel sweeps and gate waiters (a turn is stopped
through its workflow's ``cancel``), revocation (not offered on this tier yet) and the process
registry's commands (processes are tested in ``test_processes.py``, the session-wide commands
in ``test_sessions.py``)."""

from __future__ import annotations

import json
import urllib.request

import attrs
import pytest

pytest.importorskip("restate")

from lash_core import codes
from lash_core.effects.llm import ToolResultPart
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.resolution import (
    ACCEPTED,
    CANCELLED,
    TIMEOUT,
    UNKNOWN_OR_REVOKED,
    AlreadyResolved,
    ok,
)
from lash_core.scope import ProcessScope, ToolCompletion, TurnScope
from lash_core.turn.events import TurnCompleted, TurnStopped, TurnStopReason
from lash_core.wire import canonical_json
from lash_restate import TurnFailed
from lash_restate.service import workflow_id
from tests.restate.conftest import World
from tests.restate.world import (
    REPORT_CALL,
    SERVICE,
    new_machine,
    parked,
    report_key,
    wait_until,
)

ONCE = {"model": 2, "lookup": 1, "send_report": 1}
"""Every handler of the scripted turn ran once (the model twice: before and after the tools)."""


def _waiting(world: World, session: str) -> bool:
    return parked(world.count_file, session)


def test_a_pending_tool_is_resolved_by_a_webhook(world: World) -> None:
    ref = world.turns.start(new_machine("webhook"))
    assert world.turns.start(new_machine("webhook")) == ref  # the workflow runs once per key
    outcome = world.turns.resolve(report_key("webhook"), ok({"sent": True}))
    assert outcome == ACCEPTED
    again = world.turns.resolve(report_key("webhook"), ok({"sent": False}))
    assert again == AlreadyResolved(ok({"sent": True}))
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    outputs = {
        part.call_id: part.output
        for message in result.messages
        for part in message.parts
        if isinstance(part, ToolResultPart)
    }
    assert outputs == {"c1": "out:c1:1", REPORT_CALL: {"sent": True}}
    assert world.counts("webhook") == ONCE


def test_forged_tampered_and_foreign_keys_are_refused_and_create_nothing(world: World) -> None:
    session = "forged"
    ref = world.turns.start(new_machine(session))
    genuine = report_key(session)
    tampered = attrs.evolve(genuine, signature="0" * 64)
    other_secret = KeySigner(b"another-secret-0123456789abcdef!").mint(
        TurnScope(session, "t"), ToolCompletion(REPORT_CALL)
    )
    foreign = KeySigner(b"restate-test-secret-0123456789abcdef").mint(
        ProcessScope("p1"), ToolCompletion(REPORT_CALL)
    )
    for key in (tampered, other_secret, foreign):
        # refused by the client before anything is sent ...
        assert world.turns.resolve(key, ok("forged")) == UNKNOWN_OR_REVOKED
        assert world.turns.resolve_later(key, ok("forged")) is False
    # ... and by the service itself, when a request bypasses the client
    for key in (tampered, other_secret):
        assert _raw_resolve(world, session, key) == {"status": "unknown_or_revoked"}
    # nothing was created: the genuine key's promise is still open
    assert world.turns.resolve(genuine, ok("real")) == ACCEPTED
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    assert world.counts(session) == ONCE


def _raw_resolve(world: World, session: str, key: AwaitEventKey) -> object:
    wf = workflow_id(session, "t").replace("/", "%2F")
    url = f"{world.server.ingress_url}/{SERVICE}/{wf}/resolve"
    body = {"key": json.loads(canonical_json(key)), "resolution": json.loads(canonical_json(ok(1)))}
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_resolved_while_the_service_is_down_then_the_turn_finishes_without_reruns(
    world: World,
) -> None:
    session = "down"
    ref = world.turns.start(new_machine(session))
    wait_until(
        world.count_file, lambda: _waiting(world, session), "the turn to wait on its pending tool"
    )
    world.service.kill()
    assert world.turns.resolve_later(report_key(session), ok({"sent": "while down"})) is True
    world.restart()
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    # the first model call, lookup and send_report ran once, in the process that was killed
    assert world.counts(session) == ONCE


def test_a_service_killed_mid_wait_resumes_from_the_journal(world: World) -> None:
    session = "crash"
    ref = world.turns.start(new_machine(session))
    wait_until(
        world.count_file, lambda: _waiting(world, session), "the turn to wait on its pending tool"
    )
    world.restart()  # SIGKILL mid-wait, then the same deployment comes back
    assert world.turns.resolve(report_key(session), ok(1)) == ACCEPTED
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    assert world.counts(session) == ONCE


def test_a_cancel_request_stops_the_turn_and_cancels_its_wait(world: World) -> None:
    session = "cancel"
    ref = world.turns.start(new_machine(session))
    wait_until(
        world.count_file, lambda: _waiting(world, session), "the turn to wait on its pending tool"
    )
    assert world.turns.cancel(ref, "the user left") is True
    assert world.turns.cancel(ref) is False  # asked already
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnStopped)
    assert result.outcome.reason is TurnStopReason.CANCELLED
    # the wait's key was cancelled first: a late webhook gets that terminal
    late = world.turns.resolve(report_key(session), ok("late"))
    assert late == AlreadyResolved(CANCELLED)
    assert world.counts(session) == {"model": 1, "lookup": 1, "send_report": 1}


def test_changed_code_between_run_and_replay_is_a_terminal_mismatch(world: World) -> None:
    session = "changed"
    ref = world.turns.start(new_machine(session))
    wait_until(
        world.count_file, lambda: _waiting(world, session), "the turn to wait on its pending tool"
    )
    try:
        world.restart(version="2")  # another system prompt, same deployment
        world.turns.resolve(report_key(session), ok(1))
        with pytest.raises(TurnFailed) as caught:
            world.turns.result(ref)
    finally:
        world.restart(version="1")
    error = caught.value
    assert error.code == codes.RUNTIME_EFFECT_REPLAY_HASH_MISMATCH
    assert "divergent_paths=[command.request.system]" in str(error)
    # nothing ran again: the replay stopped at the first (model) entry
    assert world.counts(session) == {"model": 1, "lookup": 1, "send_report": 1}


def test_a_resolution_before_the_turn_starts_is_kept_for_its_wait(world: World) -> None:
    session = "early"
    assert world.turns.resolve(report_key(session), ok("early")) == ACCEPTED
    ref = world.turns.start(new_machine(session))
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    outputs = [
        part.output
        for message in result.messages
        for part in message.parts
        if isinstance(part, ToolResultPart) and part.call_id == REPORT_CALL
    ]
    assert outputs == ["early"]
    assert world.counts(session) == ONCE


def test_a_deadline_is_a_durable_timer_and_its_timeout_wins_the_key(world: World) -> None:
    session = "short-deadline"
    ref = world.turns.start(new_machine(session))
    result = world.turns.result(ref)  # the pending tool's 200 ms deadline passes
    assert isinstance(result.outcome, TurnCompleted)
    failed = [
        part
        for message in result.messages
        for part in message.parts
        if isinstance(part, ToolResultPart) and part.call_id == REPORT_CALL
    ]
    assert len(failed) == 1 and failed[0].is_error
    # the timeout was written to the key first: a late webhook gets it
    assert world.turns.resolve(report_key(session), ok("late")) == AlreadyResolved(TIMEOUT)
    assert world.counts(session) == ONCE


def test_keys_are_the_registrys_keys_for_the_same_secret() -> None:
    from lash_core.promise import AwaitEventRegistry
    from tests.restate.world import SECRET

    registry = AwaitEventRegistry(KeySigner(SECRET))
    minted = registry.mint(TurnScope("s", "t"), ToolCompletion(REPORT_CALL))
    assert minted == report_key("s")
    assert minted.key_id == report_key("s").key_id


def test_a_retry_back_off_is_a_durable_timer(world: World) -> None:
    session = "flaky-model"
    ref = world.turns.start(new_machine(session))
    assert world.turns.resolve(report_key(session), ok(1)) == ACCEPTED
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    # the failed first attempt, its retry after the back-off (a sleep effect), the answer
    assert world.counts(session) == {"model": 3, "lookup": 1, "send_report": 1}


def test_a_tool_cut_off_by_a_crash_runs_again_in_doubt(world: World) -> None:
    session = "stuck-lookup"
    ref = world.turns.start(new_machine(session))
    wait_until(
        world.count_file, lambda: world.counts(session).get("lookup", 0) == 1, "lookup to start"
    )
    world.restart()  # SIGKILL while lookup runs: its result was never recorded
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    # lookup ran again, told it is in doubt (with its replay key as idempotency key); the
    # first model call, recorded before the crash, did not run again
    assert world.counts(session) == {"model": 2, "lookup": 2, "lookup-in-doubt": 1}


def test_a_tool_batch_runs_concurrently_and_replays_deterministically(world: World) -> None:
    session = "batch"
    ref = world.turns.start(new_machine(session))
    wait_until(
        world.count_file, lambda: _waiting(world, session), "the turn to wait on its pending tool"
    )
    world.restart()  # the replay meets the batch's entries in the order they were made
    assert world.turns.resolve(report_key(session), ok("sent")) == ACCEPTED
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    outputs = {
        part.call_id: part.output
        for message in result.messages
        for part in message.parts
        if isinstance(part, ToolResultPart)
    }
    # each slow tool waited until the other had started: they ran at the same time
    assert outputs == {"c1": "overlapped", REPORT_CALL: "sent", "c3": "overlapped"}
    assert world.counts(session) == {
        "model": 2,
        "slow_a": 1,
        "slow_a-started": 1,
        "slow_a-finished": 1,
        "slow_b": 1,
        "slow_b-started": 1,
        "slow_b-finished": 1,
        "send_report": 1,
    }
