"""The session-wide ``process`` commands on the Restate tier, against a real Restate server:
``list``, ``transfer`` and ``delete_session`` read and change a session's grant index (the
object ``<service>_session_processes``, ``lash_restate.sessions``) together with the processes'
registry objects. Their processes are ``external`` ones (no workflow runs them; the test writes
their terminals), and each test uses its own session and process ids on the shared server."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import attrs
import pytest

pytest.importorskip("restate")

from lash_core import codes
from lash_core.effects.process import (
    ProcessCommand,
    ProcessDeleteSession,
    ProcessEffectOutcome,
    ProcessList,
    ProcessListed,
    ProcessSessionDeleted,
    ProcessStart,
    ProcessStarted,
    ProcessTransfer,
    ProcessTransferred,
)
from lash_core.errors import LashError
from lash_core.process.commands import CommandDone, apply_process_command
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessListMode,
    ProcessSessionDeleteReport,
    ProcessStartGrant,
)
from lash_core.process.records import (
    ExternalInput,
    ProcessRegistration,
    SessionScope,
    SuccessOutput,
)
from lash_core.process.registry import ProcessRegistry
from lash_core.wire import canonical_json
from lash_restate.client import _request
from tests.restate.conftest import World
from tests.restate.world import SERVICE, registration

LIVE, ALL = ProcessListMode.LIVE, ProcessListMode.ALL


def _external(pid: str, wake: SessionScope | None = None) -> ProcessRegistration:
    return attrs.evolve(
        registration(pid), input=ExternalInput({"pid": pid}), env_ref=None, wake_target=wake
    )


def _start(pid: str, scope: SessionScope | None, label: str = "", wake: Any = None) -> ProcessStart:
    grant = None if scope is None else ProcessStartGrant(scope, HandleDescriptor("job", label))
    return ProcessStart(_external(pid, wake), grant)


def _listed(world: World, scope: SessionScope, mode: ProcessListMode = ALL) -> list[Any]:
    outcome = world.processes.execute(ProcessList(scope, mode))
    assert isinstance(outcome, ProcessListed)
    return [
        (grant.session_id, grant.process_id, grant.descriptor.label, record.status.state)
        for grant, record in outcome.entries
    ]


def _code(world: World, command: ProcessCommand) -> str:
    with pytest.raises(LashError) as refused:
        world.processes.execute(command)
    return refused.value.code


def test_list_returns_the_scopes_grants_in_id_order_live_or_all(world: World) -> None:
    session, frame = SessionScope("ls"), SessionScope("ls", "helper")
    for pid, scope in (("ls-b", session), ("ls-a", session), ("ls-c", frame)):
        world.processes.execute(_start(pid, scope, label=pid))
    world.processes.finish("ls-a", SuccessOutput("done"))
    assert _listed(world, session, ALL) == [
        ("ls", "ls-a", "ls-a", "completed"),
        ("ls", "ls-b", "ls-b", "running"),
    ]
    assert _listed(world, session, LIVE) == [("ls", "ls-b", "ls-b", "running")]
    assert _listed(world, frame) == [("ls", "ls-c", "ls-c", "running")]  # a scope of its own
    assert _listed(world, SessionScope("ls-nobody")) == []
    # starting a process again re-grants it (the descriptor is replaced), never twice
    world.processes.execute(_start("ls-b", session, label="renamed"))
    assert _listed(world, session, LIVE) == [("ls", "ls-b", "renamed", "running")]


def test_a_transfer_moves_grants_all_or_none_and_both_sessions_list_it(world: World) -> None:
    source, target = SessionScope("tx-a"), SessionScope("tx-b", "desk")
    for pid in ("tx-1", "tx-2", "tx-3"):
        world.processes.execute(_start(pid, source, label=pid))
    moved = world.processes.execute(ProcessTransfer(source, target, ("tx-3", "tx-1", "tx-3")))
    assert moved == ProcessTransferred()
    assert _listed(world, source) == [("tx-a", "tx-2", "tx-2", "running")]
    assert _listed(world, target) == [
        ("tx-b", "tx-1", "tx-1", "running"),
        ("tx-b", "tx-3", "tx-3", "running"),
    ]
    # one id the source does not hold refuses the whole transfer
    assert _code(world, ProcessTransfer(source, target, ("tx-2", "tx-1"))) == (
        codes.PROCESS_HANDLE_NOT_GRANTED
    )
    assert [row[1] for row in _listed(world, source)] == ["tx-2"]
    assert [row[1] for row in _listed(world, target)] == ["tx-1", "tx-3"]
    # to the same scope, or no ids: nothing moves
    assert world.processes.execute(ProcessTransfer(source, source, ("tx-2",))) == moved
    assert world.processes.execute(ProcessTransfer(source, target, ())) == moved
    assert [row[1] for row in _listed(world, source)] == ["tx-2"]
    # the moved grant is the process's too: a delete of the old session does not touch it
    deleted = world.processes.execute(ProcessDeleteSession("tx-a"))
    assert isinstance(deleted, ProcessSessionDeleted)
    assert deleted.report.revoked_handle_count == 1
    assert deleted.report.orphaned_process_ids == ("tx-2",)


def test_delete_session_revokes_its_grants_and_wake_targets_and_cancels_nothing(
    world: World,
) -> None:
    gone, other = SessionScope("del-a"), SessionScope("del-b")
    world.processes.execute(_start("del-only", gone))
    world.processes.execute(_start("del-shared", gone))
    world.processes.execute(_start("del-shared", other))
    world.processes.execute(_start("del-done", SessionScope("del-a", "frame")))
    world.processes.finish("del-done", SuccessOutput("done"))
    world.processes.execute(_start("del-woken", None, wake=gone))
    outcome = world.processes.execute(ProcessDeleteSession("del-a"))
    assert outcome == ProcessSessionDeleted(
        ProcessSessionDeleteReport(
            session_id="del-a",
            revoked_handle_count=3,
            deleted_wake_count=1,
            orphaned_process_ids=("del-only",),
            preserved_process_ids=("del-shared",),
        )
    )
    assert _listed(world, gone) == [] and _listed(world, SessionScope("del-a", "frame")) == []
    assert _listed(world, other) == [("del-b", "del-shared", "", "running")]
    for pid in ("del-only", "del-shared", "del-woken"):
        record = world.processes.record(pid)
        assert record is not None and record.status.state == "running"  # never cancelled
    woken = world.processes.record("del-woken")
    assert woken is not None and woken.wake_target is None
    again = world.processes.execute(ProcessDeleteSession("del-a"))
    assert again == ProcessSessionDeleted(ProcessSessionDeleteReport("del-a", 0, 0, (), ()))


def test_refused_session_commands_carry_the_registry_codes_and_change_nothing(
    world: World,
) -> None:
    world.processes.execute(_start("ref-1", SessionScope("ref")))
    assert _code(world, ProcessList(SessionScope(" "))) == codes.PROCESS_SESSION_INVALID
    assert _code(world, ProcessDeleteSession("")) == codes.PROCESS_SESSION_INVALID
    blank_target = ProcessTransfer(SessionScope("ref"), SessionScope(""), ("ref-1",))
    assert _code(world, blank_target) == codes.PROCESS_SESSION_INVALID
    unheld = ProcessTransfer(SessionScope("ref-x"), SessionScope("ref"), ("ref-1",))
    assert _code(world, unheld) == codes.PROCESS_HANDLE_NOT_GRANTED
    bad_grant = _start("ref-2", SessionScope(""))
    assert _code(world, bad_grant) == codes.PROCESS_SESSION_INVALID
    assert world.processes.record("ref-2") is None
    # a start with a grant sent straight to the process's object would bypass the index
    url = f"{world.server.ingress_url}/{SERVICE}_processes/ref-3/apply"
    body = {"command": json.loads(canonical_json(_start("ref-3", SessionScope("ref"))))}
    status, payload = _request(url, body)
    assert status >= 400 and codes.RESTATE_TURN_INPUT_INVALID in payload.decode()
    assert world.processes.record("ref-3") is None
    # a list sent to another session's object is refused too
    key = urllib.parse.quote("ref-x", safe="")
    url = f"{world.server.ingress_url}/{SERVICE}_session_processes/{key}/list"
    body = {"command": json.loads(canonical_json(ProcessList(SessionScope("ref"))))}
    status, payload = _request(url, body)
    assert status >= 400 and codes.RESTATE_TURN_INPUT_INVALID in payload.decode()
    assert _listed(world, SessionScope("ref")) == [("ref", "ref-1", "", "running")]


def _shape(outcome: ProcessEffectOutcome) -> Any:
    """An outcome without its timestamps (the two hosts' clocks differ)."""
    if isinstance(outcome, ProcessStarted):
        return ("started", outcome.record.id, outcome.record.status.state)
    if isinstance(outcome, ProcessListed):
        return [
            (grant, record.id, record.status.state, record.wake_target)
            for grant, record in outcome.entries
        ]
    return outcome


def test_a_command_sequence_gives_the_same_results_as_the_in_memory_registry(
    world: World,
) -> None:
    a, a_frame, b = SessionScope("df-a"), SessionScope("df-a", "f"), SessionScope("df-b")
    steps: list[ProcessCommand | str] = [
        _start("df-1", a, "one"),
        _start("df-2", a_frame, "two"),
        _start("df-3", a, "three", wake=b),
        _start("df-4", None, wake=a),
        "finish df-1",
        ProcessList(a, LIVE),
        ProcessList(a, ALL),
        ProcessList(a_frame, ALL),
        ProcessTransfer(a, b, ("df-3",)),
        ProcessTransfer(a, b, ("df-3", "df-9")),
        _start("df-2", b, "two again"),
        ProcessList(b, ALL),
        ProcessList(a, ALL),
        ProcessDeleteSession("df-a"),
        ProcessList(a_frame, ALL),
        ProcessList(b, LIVE),
        ProcessDeleteSession("df-b"),
        ProcessList(b, ALL),
        ProcessDeleteSession(" "),
        ProcessTransfer(a, b, ("df-1",)),
    ]
    registry = ProcessRegistry()
    inline: list[Any] = []
    remote: list[Any] = []
    for now, step in enumerate(steps, start=1):
        if isinstance(step, str):
            pid = step.removeprefix("finish ")
            registry.append_terminal(pid, SuccessOutput("done"), now)
            world.processes.finish(pid, SuccessOutput("done"))
            continue
        try:
            done = apply_process_command(registry, step, now)
            assert isinstance(done, CommandDone)
            inline.append(_shape(done.outcome))
        except LashError as error:
            inline.append(error.code)
        try:
            remote.append(_shape(world.processes.execute(step)))
        except LashError as error:
            remote.append(error.code)
    assert remote == inline
    assert codes.PROCESS_HANDLE_NOT_GRANTED in remote and codes.PROCESS_SESSION_INVALID in remote
