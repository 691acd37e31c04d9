"""Running started processes on a host, on any driver.

A :class:`ProcessRunner` maps names to async functions. While ``async with runner.running():``
is open, every process started on the host (by a ``process`` effect's ``start``) whose input is
an ``engine`` of that kind, or a ``tool_call`` of that tool name, runs as a task of the runner's
task group (opened through the host's loop primitives, so trio and asyncio behave alike). The
function receives a :class:`ProcessContext` and returns the process's JSON value.

Each process ends with exactly one terminal, written by the runner:

* the function returned: ``completed`` with ``success{value}``;
* cancellation was requested (a ``process.cancel_requested`` event): the function's task is
  cancelled natively (its ``ctx.cancel`` token fires first) and the terminal is ``cancelled``,
  unless the function had already returned;
* the function raised: ``failed`` with the library error's code, or
  ``process_function_failed`` for any other exception;
* no function for the input: ``failed`` with ``process_function_unknown``;
* the runner's block ended while the process still ran: ``abandoned`` (writer
  ``owner_drain``).

``external`` and ``session_turn`` processes are never run here: their owner writes their
terminal.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Final, TypeAlias

from lash_core import codes, wire
from lash_core.effects.invocation import Replay
from lash_core.effects.replay_keys import PROCESS_CANCEL_REQUESTED
from lash_core.errors import LashError
from lash_core.host import InlineHost
from lash_core.loop import CancelToken, TaskGroup, TaskHandle
from lash_core.process.commands import signal_result, signal_wait_identity, validate_signal_name
from lash_core.process.events import (
    ProcessEvent,
    ProcessEventAppendRequest,
)
from lash_core.process.lifecycle import check_append_request, strict_json
from lash_core.process.records import (
    AbandonedOutput,
    AbandonEvidence,
    AbandonWriter,
    CancelledOutput,
    EngineInput,
    FailureOutput,
    ProcessAwaitOutput,
    ProcessInput,
    ProcessRecord,
    SuccessOutput,
    ToolCallInput,
)
from lash_core.scope import ProcessScope
from lash_core.wire import JsonValue

__all__ = ["FAILURE_CLASS", "ProcessContext", "ProcessFunction", "ProcessRunner", "function_name"]

FAILURE_CLASS: Final = "process"
"""The ``class`` of the failure outputs the runner writes."""


class ProcessContext:
    """What a running process sees: its record, its cancel token, its signals and its log."""

    __slots__ = ("_host", "_ordinals", "cancel", "process_id")

    def __init__(self, host: InlineHost, process_id: str) -> None:
        self._host = host
        self.process_id = process_id
        self.cancel = CancelToken()
        """Fires when cancellation is requested (before the task is cancelled natively)."""
        self._ordinals: dict[str, int] = {}

    @property
    def record(self) -> ProcessRecord:
        """The process's current record."""
        return self._host.processes.registry.record(self.process_id)

    @property
    def input(self) -> ProcessInput:
        """What the process was started with."""
        return self.record.input

    @property
    def cancel_requested(self) -> bool:
        """Whether the log holds a cancel request."""
        return self._host.processes.registry.is_cancel_requested(self.process_id)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the host's clock."""
        await self._host.primitives.sleep(seconds)

    def emit(
        self, event_type: str, payload: JsonValue = None, replay_key: str | None = None
    ) -> ProcessEvent:
        """Append a declared event to the process's log (``replay_key`` makes it idempotent)."""
        replay = None if replay_key is None else Replay(replay_key)
        request = ProcessEventAppendRequest(event_type, payload, replay)
        return self._host.processes.append_event(self.process_id, request)

    async def wait_signal(self, name: str, *, timeout: float | None = None) -> JsonValue:
        """Wait for the next ``name`` signal and return its payload.

        Waits count per name from 1; the n-th wait takes the n-th signal, even one sent before
        the wait began. While waiting the record's ``wait`` says so and the log holds
        ``process.waiting`` (then ``process.resumed``). Raises ``process_signal_wait_timeout``
        after ``timeout`` seconds, ``process_signal_wait_cancelled`` when cancellation is
        requested, or the code of an ``err`` resolution of the key.
        """
        validate_signal_name(name)
        pid = self.process_id
        ordinal = self._ordinals.get(name, 0) + 1
        self._ordinals[name] = ordinal
        host = self._host
        key = host.await_event_key(ProcessScope(pid), signal_wait_identity(pid, name, ordinal))
        host.processes.begin_signal_wait(pid, name, ordinal, key)
        resolution = await host.wait_for_event(key, cancel=self.cancel, timeout=timeout)
        host.processes.end_signal_wait(pid, name, ordinal)
        return signal_result(resolution)


ProcessFunction: TypeAlias = Callable[[ProcessContext], Awaitable[JsonValue]]
"""A process body: gets its context, returns its JSON value."""


def function_name(process_input: ProcessInput) -> str | None:
    """The runner's name for an input: the engine kind or the tool name (``None`` for inputs
    the runner does not run)."""
    if isinstance(process_input, EngineInput):
        return process_input.kind
    if isinstance(process_input, ToolCallInput):
        return process_input.call.tool_name
    return None


class _Run:
    __slots__ = ("context", "result", "task")

    def __init__(self, context: ProcessContext) -> None:
        self.context = context
        self.task: TaskHandle | None = None
        self.result: ProcessAwaitOutput | None = None

    def request_cancel(self) -> None:
        self.context.cancel.cancel()
        if self.task is not None:
            self.task.cancel()


def _failure(code: str, message: str) -> FailureOutput:
    return FailureOutput(class_=FAILURE_CLASS, code=code, message=message)


class ProcessRunner:
    """Runs a host's started processes with registered async functions (see the module)."""

    __slots__ = ("_functions", "_group", "_host", "_runs")

    def __init__(self, host: InlineHost, functions: Mapping[str, ProcessFunction]) -> None:
        self._host = host
        self._functions = dict(functions)
        self._group: TaskGroup | None = None
        self._runs: dict[str, _Run] = {}

    @property
    def running_ids(self) -> tuple[str, ...]:
        """The ids of the processes running now, sorted."""
        return tuple(sorted(self._runs))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ProcessRunner]:
        """Run processes while the block is open. Live processes registered earlier start at
        once; processes still running when the block ends are stopped and end abandoned."""
        service = self._host.processes
        detach = service.attach(self)
        try:
            async with self._host.primitives.open_task_group() as group:
                self._group = group
                try:
                    for record in service.registry.list_processes(terminal=False):
                        self.launch(record)
                    yield self
                finally:
                    self._group = None
                    for run in list(self._runs.values()):
                        if run.task is not None:
                            run.task.cancel()
        finally:
            detach()

    # -- the launcher protocol ---------------------------------------------------------------

    def launch(self, record: ProcessRecord) -> None:
        """Run ``record``'s process (if this runner runs its kind of input)."""
        group = self._group
        if group is None or record.id in self._runs or function_name(record.input) is None:
            return
        run = self._runs[record.id] = _Run(ProcessContext(self._host, record.id))
        group.start(lambda: self._run(run))

    def cancel_requested(self, process_id: str) -> None:
        """Cancel the process's function (its terminal is written when it has stopped)."""
        run = self._runs.get(process_id)
        if run is not None:
            run.request_cancel()

    # -- one process -------------------------------------------------------------------------

    async def _run(self, run: _Run) -> None:
        pid = run.context.process_id
        try:
            async with self._host.primitives.open_task_group() as inner:
                if self._group is not None:  # else the runner stopped before this task began
                    run.task = inner.start(lambda: self._body(run))
                    if run.context.cancel_requested:
                        run.request_cancel()
        finally:
            # Synchronous, so it runs even while the runner's own task is being cancelled.
            del self._runs[pid]
            self._write_terminal(run)

    async def _body(self, run: _Run) -> None:
        context = run.context
        name = function_name(context.input)
        function = self._functions.get(name) if name is not None else None
        if function is None:
            run.result = _failure(
                codes.PROCESS_FUNCTION_UNKNOWN, f"no process function is registered for {name!r}"
            )
            return
        try:
            value = await function(context)
        except LashError as exc:
            run.result = _failure(exc.code, exc.message)
            return
        except Exception as exc:
            run.result = _failure(
                codes.PROCESS_FUNCTION_FAILED,
                f"process function {name!r} raised {type(exc).__name__}: {exc}",
            )
            return
        try:
            output = SuccessOutput(strict_json(value))
            # The terminal's own check, so a value its append would refuse is a failure here.
            payload: JsonValue = {"await_output": wire.to_wire(output)}
            check_append_request(context.process_id, ProcessEventAppendRequest("x", payload))
        except (ValueError, RecursionError) as exc:
            detail = str(exc) if isinstance(exc, ValueError) else "it nests too deeply"
            run.result = _failure(
                codes.PROCESS_FUNCTION_FAILED,
                f"process function {name!r} returned a value that is not JSON: {detail}",
            )
        except LashError as exc:
            run.result = _failure(
                codes.PROCESS_FUNCTION_FAILED,
                f"process function {name!r} returned a value that is not JSON: {exc.message}",
            )
        else:
            run.result = output

    def _write_terminal(self, run: _Run) -> None:
        service = self._host.processes
        pid = run.context.process_id
        if service.registry.record(pid).is_terminal:
            return  # its owner already wrote one: a process has exactly one terminal
        result = run.result
        output: ProcessAwaitOutput
        if isinstance(result, SuccessOutput):
            output = result
        elif run.context.cancel_requested:
            output = CancelledOutput(self._cancel_message(pid))
        elif result is not None:
            output = result
        else:
            evidence = AbandonEvidence(
                writer=AbandonWriter.OWNER_DRAIN, owner="process-runner", epoch_ms=service.now_ms()
            )
            output = AbandonedOutput(evidence)
        service.finish(pid, output)

    def _cancel_message(self, process_id: str) -> str:
        for event in self._host.processes.registry.events(process_id):
            if event.event_type == PROCESS_CANCEL_REQUESTED:
                payload = event.payload
                reason = payload.get("reason") if isinstance(payload, dict) else None
                if isinstance(reason, str):
                    return f"process cancelled: {reason}"
                break
        return "process cancelled"
