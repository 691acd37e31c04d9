"""Background processes on the Restate tier, against a real Restate server: each process is a
registry object and a workflow keyed by its id (``lash_restate.processes``), reached by a turn's
``process`` effects and by :class:`~lash_restate.RestateProcesses`. The processes of the test
service (``tests.restate.world``): ``job`` (a step, a ``ready`` signal, two ``go`` signals with
a step between, a note), ``sleeper`` (a step, then a 600 s durable timer) and ``failing``."""

from __future__ import annotations

import attrs
import pytest

pytest.importorskip("restate")

from lash_core import codes
from lash_core.effects.llm import ToolResultPart
from lash_core.errors import LashError
from lash_core.process.records import (
    CancelledOutput,
    CancelledStatus,
    CompletedStatus,
    ExternalInput,
    FailureOutput,
    ProcessRecord,
    SuccessOutput,
)
from lash_core.turn.events import TurnCompleted
from tests.restate.conftest import World
from tests.restate.world import new_machine, registration, wait_until


def _record(world: World, pid: str) -> ProcessRecord:
    found = world.processes.record(pid)
    assert found is not None
    return found


def _waits_on(world: World, pid: str, name: str, ordinal: int) -> bool:
    found = world.processes.record(pid)
    wait = None if found is None else found.wait
    return wait is not None and (wait.kind.name, wait.kind.ordinal) == (name, ordinal)


def _until_waiting(world: World, pid: str, name: str, ordinal: int) -> None:
    """Until the process's record says it waits for the ``ordinal``-th ``name`` signal (the
    service notes each change of a process in the count file, which rings the test)."""
    wait_until(
        world.count_file,
        lambda: _waits_on(world, pid, name, ordinal),
        f"{pid} to wait for signal {name} #{ordinal}",
    )


def test_signals_before_and_after_the_wait_and_the_terminal_is_awaited(world: World) -> None:
    pid = "signals"
    started = world.processes.start(registration(pid))
    assert started.id == pid and started.status.state == "running"
    _until_waiting(world, pid, "ready", 1)
    # sent before the process waits for "go": kept by the first wait's promise
    early = world.processes.signal(pid, "go", "g1", "early")
    assert early.event.event_type == "signal.go"
    again = world.processes.signal(pid, "go", "g1", "early")  # the same signal id: one event
    assert again.event == early.event
    world.processes.signal(pid, "ready", "r1", True)
    _until_waiting(world, pid, "go", 2)  # it took the early signal, then waits for the next
    world.processes.signal(pid, "go", "g2", "late")  # sent while it waits
    output = world.processes.await_terminal(pid)
    assert output == SuccessOutput(
        {"fetched": f"fetch:{pid}", "ready": True, "go": ["early", "late"]}
    )
    record = _record(world, pid)
    assert record.status == CompletedStatus(output) and record.wait is None
    assert world.processes.awaited(pid) == output  # an await of a finished process
    assert world.counts(pid) == {"fetch": 1, "between": 1}


def test_a_start_is_idempotent_by_process_id(world: World) -> None:
    pid = "twice"
    first = world.processes.start(registration(pid))
    again = world.processes.start(registration(pid))  # the same registration: no-op
    # the record as it is now (its body may already wait for a signal), the same process
    assert (again.id, again.registration_hash, again.created_at_ms) == (
        first.id,
        first.registration_hash,
        first.created_at_ms,
    )
    with pytest.raises(LashError) as conflict:
        world.processes.start(registration(pid, kind="sleeper"))
    assert conflict.value.code == codes.PROCESS_REGISTRATION_CONFLICT
    assert _record(world, pid).registration_hash == first.registration_hash  # unchanged
    _until_waiting(world, pid, "ready", 1)
    assert world.counts(pid) == {"fetch": 1}  # one workflow ran one body
    world.processes.cancel(pid, "done testing")
    assert isinstance(world.processes.await_terminal(pid), CancelledOutput)


def test_a_cancel_request_ends_a_sleeping_process_cancelled(world: World) -> None:
    pid = "sleepy"
    world.processes.start(registration(pid, kind="sleeper"))
    wait_until(world.count_file, lambda: world.counts(pid).get("fell-asleep") == 1, "the step")
    cancelled = world.processes.cancel(pid, "no longer needed")
    assert cancelled.id == pid and cancelled.status.state == "running"  # until it stops
    output = world.processes.await_terminal(pid)
    assert output == CancelledOutput("process cancelled: no longer needed")
    assert _record(world, pid).status == CancelledStatus(output)
    # a finished process has nothing to cancel: its record as it is
    assert world.processes.cancel(pid, "again").status == CancelledStatus(output)


def test_failures_and_unknown_functions_are_failed_terminals(world: World) -> None:
    world.processes.start(registration("broken", kind="failing"))
    failed = world.processes.await_terminal("broken")
    assert isinstance(failed, FailureOutput) and failed.code == codes.PROCESS_FUNCTION_FAILED
    world.processes.start(registration("nobody", kind="nobody"))
    unknown = world.processes.await_terminal("nobody")
    assert isinstance(unknown, FailureOutput) and unknown.code == codes.PROCESS_FUNCTION_UNKNOWN


def test_an_external_process_is_finished_by_its_owner(world: World) -> None:
    pid = "outside"
    external = attrs.evolve(registration(pid), input=ExternalInput({"ticket": 7}), env_ref=None)
    world.processes.start(external)
    world.processes.signal(pid, "go", "g1", "logged")  # logged; no workflow waits for it
    written = world.processes.finish(pid, SuccessOutput("closed"))
    assert written == SuccessOutput("closed")
    assert world.processes.await_terminal(pid) == written
    assert world.processes.finish(pid, SuccessOutput("again")) == written  # one terminal
    assert _record(world, pid).status == CompletedStatus(written)


def test_refused_commands_are_coded_and_change_nothing(world: World) -> None:
    with pytest.raises(LashError) as unknown:
        world.processes.signal("never-started", "go", "g1", 1)
    assert unknown.value.code == codes.PROCESS_UNKNOWN
    assert world.processes.record("never-started") is None
    with pytest.raises(LashError) as bad_name:
        world.processes.signal("never-started", "no spaces", "g1", 1)
    assert bad_name.value.code == codes.PROCESS_SIGNAL_NAME_INVALID


def test_a_service_killed_mid_process_resumes_without_rerunning_recorded_steps(
    world: World,
) -> None:
    pid = "crash-job"
    world.processes.start(registration(pid))
    world.processes.signal(pid, "ready", "r1", "ready")
    world.processes.signal(pid, "go", "g1", "one")
    _until_waiting(world, pid, "go", 2)  # the steps "fetch" and "between" are recorded
    world.restart()  # SIGKILL mid-wait, then the same deployment comes back
    world.processes.signal(pid, "go", "g2", "two")
    output = world.processes.await_terminal(pid)
    assert output == SuccessOutput(
        {"fetched": f"fetch:{pid}", "ready": "ready", "go": ["one", "two"]}
    )
    assert world.counts(pid) == {"fetch": 1, "between": 1}


def test_a_turn_starts_signals_and_awaits_a_process_through_its_effects(world: World) -> None:
    session = "proc-turn"
    ref = world.turns.start(new_machine(session))
    result = world.turns.result(ref)
    assert isinstance(result.outcome, TurnCompleted)
    outputs = [
        part.output
        for message in result.messages
        for part in message.parts
        if isinstance(part, ToolResultPart)
    ]
    expected = {"fetched": f"fetch:{session}-job", "ready": True, "go": ["one", "two"]}
    assert outputs == [{"type": "success", "value": expected}]
    assert world.counts(session) == {"model": 2, "spawn": 1}
    assert world.counts(f"{session}-job") == {"fetch": 1, "between": 1}
