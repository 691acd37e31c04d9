"""lash's background processes on Restate: one virtual object and one workflow per process id.

* The **registry object** (``<service>_processes``, keyed by process id) keeps the process's
  registry rows (its record, its event log, its handle grants) in the object's state, and
  applies lash's pure :func:`~lash_core.process.commands.apply_process_command` to them in its
  exclusive handlers, one at a time per process: ``apply`` runs a ``process`` command (``start``,
  ``signal``, ``cancel``, ``await``), ``act`` what the running process does (append an event,
  begin and end a signal wait, write its terminal), ``record`` (shared) reads the record. A
  refused command raises lash's code as Restate's ``TerminalError`` and writes nothing. A
  ``start`` that grants a session a handle (or names a wake target) comes through that
  session's grant index (:mod:`lash_restate.sessions`), which also runs the session-wide
  commands; ``act`` applies their part to one process (``transfer``, ``delete_session``).
* The **process workflow** (``<service>_process``, keyed by process id) runs the process body
  durably: its ``run`` is started once by the first ``start`` of a process whose input names a
  function (an ``engine`` kind or a ``tool_call`` tool name), and its body's steps are
  ``ctx.run`` entries, its sleeps durable timers, its signal waits durable promises
  (``lash:signal:<name>:<ordinal>``, resolved by the shared ``signal`` handler, which the object
  calls for each signal it logs), its cancel the promise ``lash:cancel`` (the shared ``cancel``
  handler), its terminal the promise ``lash:terminal`` (written by the object's ``finish``,
  read by the shared ``terminal`` handler) and the workflow's output.

The terminal dispositions are the runner's (:mod:`lash_core.process.runner`): the body
returned, ``completed`` with its value; cancellation was requested while it waited or slept,
``cancelled``; it raised a :class:`~lash_core.errors.LashError`, ``failed`` with that code, any
other exception ``process_function_failed``; no function for the input,
``process_function_unknown``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Final, TypeAlias

import restate
from restate.exceptions import TerminalError

from lash_core import codes, wire
from lash_core.effects.invocation import Replay
from lash_core.effects.process import ProcessCancel, ProcessCommand, ProcessStart
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.commands import (
    CommandDone,
    apply_process_command,
    resumed_request,
    signal_wait_identity,
    signal_wait_state,
    validate_signal_name,
    waiting_request,
)
from lash_core.process.events import (
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessWakeDelivery,
)
from lash_core.process.lifecycle import check_append_request, strict_json
from lash_core.process.records import (
    CancelledOutput,
    FailureOutput,
    ProcessAwaitOutput,
    ProcessInput,
    ProcessRecord,
    SessionScope,
    SuccessOutput,
)
from lash_core.process.registry import ProcessRegistry
from lash_core.process.results import AwaitReady
from lash_core.process.rows import ProcessRows
from lash_core.process.runner import FAILURE_CLASS, function_name
from lash_core.scope import ProcessScope
from lash_core.wire import JsonValue, canonical_json, from_json
from lash_restate._keys import command_process_id, lash_error_of, start_session

__all__ = [
    "CANCEL_PROMISE",
    "TERMINAL_PROMISE",
    "ProcessCancelledError",
    "ProcessWorkflows",
    "RestateProcessContext",
    "RestateProcessFunction",
    "signal_promise",
]

CANCEL_PROMISE: Final = "lash:cancel"
"""The process workflow's promise a cancel request completes (with ``{"reason": ...}``)."""

TERMINAL_PROMISE: Final = "lash:terminal"
"""The process workflow's promise holding the process's terminal (its await output JSON)."""

ROWS: Final = "rows"
"""The registry object's state: the process's :class:`ProcessRows` JSON."""


def signal_promise(name: str, ordinal: int) -> str:
    """The process workflow's promise the ``ordinal``-th wait for signal ``name`` waits on."""
    return f"lash:signal:{name}:{ordinal}"


def terminal_error(error: LashError) -> TerminalError:
    """``error`` as Restate's terminal failure (never retried): the message starts with its
    code, which the metadata carries too."""
    return TerminalError(f"{error.code}: {error.message}", 409, {"lash_code": error.code})


def lash_error(error: TerminalError) -> LashError:
    """The :class:`LashError` a terminal failure carries (``restate_request_failed`` when it
    names no lash code)."""
    return lash_error_of(error.message)


def _encode(value: Any) -> Any:
    return json.loads(canonical_json(value))


def _decode(body: Any, tp: Any, what: str) -> Any:
    try:
        return from_json(json.dumps(body), tp)
    except (LashError, TypeError, ValueError) as exc:
        raise TerminalError(
            f"{codes.RESTATE_TURN_INPUT_INVALID}: {what} does not decode: {exc}", 400
        ) from None


class ProcessCancelledError(BaseException):
    """Raised in a process body at the sleep or signal wait where its cancel request is seen
    (a ``BaseException``, so ``except Exception`` in the body does not swallow it); the
    process ends ``cancelled``."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class RestateProcessContext:
    """What a process body running in its Restate workflow sees (compare
    :class:`lash_core.process.ProcessContext`): its record as started, its durable steps,
    sleeps and signal waits, and its event log. Cancellation is seen at the body's next
    :meth:`sleep` or :meth:`wait_signal` (a step that runs finishes first), as
    :class:`ProcessCancelledError`."""

    def __init__(
        self, ctx: restate.WorkflowContext, processes: ProcessWorkflows, record: ProcessRecord
    ) -> None:
        self._ctx = ctx
        self._processes = processes
        self.record = record
        """The process's record when it was started."""
        self.process_id = record.id
        self._ordinals: dict[str, int] = {}
        self._cancel = ctx.promise(CANCEL_PROMISE, type_hint=str).value()
        self._sides = 0
        self.live_steps = 0
        """Steps whose function ran in this invocation (not answered from the journal)."""

    @property
    def input(self) -> ProcessInput:
        """What the process was started with."""
        return self.record.input

    async def step(self, name: str, action: Callable[[], Awaitable[JsonValue]]) -> JsonValue:
        """Run ``action`` once, durably: its JSON result is recorded in the workflow's journal
        (``ctx.run`` named ``step:<name>``), so a replay answers it without running it again.
        A :class:`LashError` it raises is recorded too, and raised again on replay; any other
        exception is ``process_function_failed``. A process cut off mid-step runs the step
        again (Restate's at-least-once for a run it never recorded)."""

        async def run() -> str:
            self.live_steps += 1
            try:
                value = await action()
            except LashError as error:
                raise terminal_error(error) from None
            except Exception as exc:
                raise terminal_error(
                    LashError(
                        codes.PROCESS_FUNCTION_FAILED,
                        f"step {name!r} raised {type(exc).__name__}: {exc}",
                    )
                ) from None
            return json.dumps(value)

        try:
            text = await self._ctx.run_typed(f"step:{name}", run, restate.RunOptions(type_hint=str))
        except TerminalError as error:
            raise lash_error(error) from None
        result: JsonValue = json.loads(text)
        return result

    async def _race(self, label: str, futures: dict[str, Any]) -> str:
        """Wait until one of ``futures`` (or the cancel promise) completed and record which: a
        replay takes the same side whatever completed since."""
        futures = {**futures, "cancel": self._cancel}
        await restate.wait_completed(*futures.values())
        side = next(name for name, future in futures.items() if future.is_completed())
        self._sides += 1

        def record() -> str:
            return side

        won: str = await self._ctx.run_typed(
            f"{label}#won:{self._sides}", record, restate.RunOptions(type_hint=str)
        )
        if won == "cancel":
            reason = None
            try:
                found = json.loads(await self._cancel).get("reason")
                reason = found if isinstance(found, str) else None
            except (ValueError, AttributeError):
                pass
            raise ProcessCancelledError(reason)
        return won

    async def sleep(self, seconds: float) -> None:
        """A durable timer (it survives the service and the server), raced with the cancel
        request."""
        timer = self._ctx.sleep(timedelta(seconds=seconds))
        await self._race("sleep", {"timer": timer})

    async def emit(
        self, event_type: str, payload: JsonValue = None, replay_key: str | None = None
    ) -> ProcessEvent:
        """Append a declared event to the process's log (``replay_key`` makes it idempotent)."""
        replay = None if replay_key is None else Replay(replay_key)
        request = ProcessEventAppendRequest(event_type, payload, replay)
        answer = await self._act({"op": "append", "request": _encode(request)})
        event: ProcessEvent = from_json(json.dumps(answer), ProcessEvent)
        return event

    async def wait_signal(self, name: str, *, timeout: float | None = None) -> JsonValue:
        """Wait for the next ``name`` signal and return its payload (the n-th wait takes the
        n-th signal, even one sent before it began). While waiting the record's ``wait`` says
        so and the log holds ``process.waiting`` (then ``process.resumed``). Raises
        ``process_signal_wait_timeout`` after ``timeout`` seconds (a durable timer)."""
        validate_signal_name(name)
        ordinal = self._ordinals.get(name, 0) + 1
        self._ordinals[name] = ordinal
        await self._act({"op": "begin_wait", "name": name, "ordinal": ordinal})
        value = self._ctx.promise(signal_promise(name, ordinal), type_hint=str).value()
        futures: dict[str, Any] = {"value": value}
        if timeout is not None:
            futures["timer"] = self._ctx.sleep(timedelta(seconds=timeout))
        side = await self._race(f"signal:{name}:{ordinal}", futures)
        await self._act({"op": "end_wait", "name": name, "ordinal": ordinal})
        if side == "timer":
            raise LashError(
                codes.PROCESS_SIGNAL_WAIT_TIMEOUT, "the signal wait reached its deadline"
            )
        payload: JsonValue = json.loads(await value)["payload"]
        return payload

    async def _act(self, body: dict[str, Any]) -> Any:
        try:
            answer = await self._ctx.object_call(
                self._processes.act_handler, key=self.process_id, arg=body
            )
        except TerminalError as error:
            raise lash_error(error) from None
        self._processes.changed(answer["record"])
        return answer["value"]


RestateProcessFunction: TypeAlias = Callable[[RestateProcessContext], Awaitable[JsonValue]]
"""A process body on Restate: gets its context, returns its JSON value."""


def _failure(code: str, message: str) -> FailureOutput:
    return FailureOutput(class_=FAILURE_CLASS, code=code, message=message)


def _rows(state: str | None) -> ProcessRegistry:
    if state is None:
        return ProcessRegistry()
    return ProcessRegistry.from_rows(from_json(state, ProcessRows))


class ProcessWorkflows:
    """The registry object and the process workflow of a service named ``name`` (see the
    module documentation); ``functions`` run the processes whose input names them, ``signer``
    mints the keys recorded in a signal wait's facet, ``on_change(record)`` is told of each
    change a process's body made (an event, a signal wait begun or ended, its terminal) once
    the registry object has saved it (at least once: a replay tells it again; for observers
    and tests)."""

    def __init__(
        self,
        name: str,
        functions: Mapping[str, RestateProcessFunction],
        signer: KeySigner,
        *,
        inactivity_timeout: timedelta | None = None,
        on_change: Callable[[ProcessRecord], None] | None = None,
    ) -> None:
        self.object_name = f"{name}_processes"
        self.workflow_name = f"{name}_process"
        self.session_object_name = f"{name}_session_processes"
        self._functions = dict(functions)
        self._signer = signer
        self._on_change = on_change
        self.steps = 0
        """Process steps whose function ran in this service process (for tests)."""
        self.wake_handler: Any = None
        """The session object's handler a wake delivery is sent to (set by
        :class:`~lash_restate.sessions.SessionGrants`; without it no wake leaves the process)."""
        registry = restate.VirtualObject(self.object_name)
        workflow = restate.Workflow(self.workflow_name, inactivity_timeout=inactivity_timeout)
        self.registry_object = registry
        self.workflow = workflow

        @registry.handler(name="apply")
        async def apply(ctx: restate.ObjectContext, body: dict[str, Any]) -> dict[str, Any]:
            return await self._apply(ctx, body)

        @registry.handler(name="act")
        async def act(ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
            return await self._act(ctx, body)

        @registry.handler(name="record", kind="shared")
        async def record(ctx: restate.ObjectSharedContext, body: Any) -> Any:
            state = await ctx.get(ROWS, type_hint=str)
            found = _rows(state).get(ctx.key())
            return None if found is None else _encode(found)

        @workflow.main(name="run")
        async def run(ctx: restate.WorkflowContext, body: dict[str, Any]) -> dict[str, Any]:
            return await self._run(ctx, body)

        @workflow.handler(name="signal")
        async def signal(ctx: restate.WorkflowSharedContext, body: dict[str, Any]) -> bool:
            promise = ctx.promise(signal_promise(body["name"], body["ordinal"]), type_hint=str)
            if await promise.peek() is not None:
                return False
            try:
                await promise.resolve(json.dumps({"payload": body.get("payload")}))
            except TerminalError:
                return False
            return True

        @workflow.handler(name="cancel")
        async def cancel(ctx: restate.WorkflowSharedContext, body: dict[str, Any]) -> bool:
            reason = body.get("reason") if isinstance(body, dict) else None
            text = json.dumps({"reason": reason if isinstance(reason, str) else None})
            try:
                await ctx.promise(CANCEL_PROMISE, type_hint=str).resolve(text)
            except TerminalError:
                return False
            return True

        @workflow.handler(name="settle")
        async def settle(ctx: restate.WorkflowSharedContext, body: dict[str, Any]) -> bool:
            try:
                await ctx.promise(TERMINAL_PROMISE, type_hint=str).resolve(json.dumps(body))
            except TerminalError:
                return False
            return True

        @workflow.handler(name="terminal")
        async def terminal(ctx: restate.WorkflowSharedContext, body: Any) -> Any:
            return json.loads(await ctx.promise(TERMINAL_PROMISE, type_hint=str).value())

        self.apply_handler = apply
        self.record_handler = record
        self.act_handler = act
        self._run_handler = run
        self._signal_handler = signal
        self._cancel_handler = cancel
        self._settle_handler = settle

    def changed(self, record: Any) -> None:
        """Tell ``on_change`` of a record the registry object has saved."""
        on_change = self._on_change
        if on_change is not None:
            on_change(from_json(json.dumps(record), ProcessRecord))

    @property
    def services(self) -> list[Any]:
        """The Restate services to serve (the registry object and the process workflow)."""
        return [self.registry_object, self.workflow]

    # -- the registry object -----------------------------------------------------------------

    async def _registry(self, ctx: restate.ObjectContext) -> ProcessRegistry:
        return _rows(await ctx.get(ROWS, type_hint=str))

    async def _now_ms(self, ctx: restate.ObjectContext) -> int:
        return int(await ctx.time() * 1000)

    def _save(self, ctx: restate.ObjectContext, registry: ProcessRegistry) -> None:
        rows = registry.all_rows()
        if rows.pending_wakes and self._forward_wakes(ctx, registry, rows.pending_wakes):
            rows = registry.all_rows()
        ctx.set(ROWS, canonical_json(rows))

    def _forward_wakes(
        self,
        ctx: restate.ObjectContext,
        registry: ProcessRegistry,
        pending: tuple[ProcessWakeDelivery, ...],
    ) -> bool:
        """Hand each wake delivery this change recorded to its target session's object (a
        one-way message, journaled: a retried invocation does not send it twice) and take it
        off the process's own list, acknowledged there, so the process never delivers that
        wake id again (as lash's registry does not); the session's object keeps it pending
        until it is acknowledged, and dedupes by wake id. Whether any was sent."""
        handler = self.wake_handler
        if handler is None:
            return False
        for delivery in pending:
            registry.acknowledge_wake(delivery.wake_id)
            ctx.object_send(
                handler, key=delivery.target_session_id, arg={"delivery": _encode(delivery)}
            )
        return True

    async def _apply(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> dict[str, Any]:
        command: ProcessCommand = _decode(
            body.get("command") if isinstance(body, dict) else None,
            ProcessCommand,
            "the process command",
        )
        pid = ctx.key()
        if command_process_id(command) != pid:
            raise terminal_error(
                LashError(
                    codes.RESTATE_TURN_INPUT_INVALID,
                    f"a {command.op} command for process "
                    f"{command_process_id(command)!r} was sent to the object of {pid!r}",
                )
            )
        if (
            isinstance(command, ProcessStart)
            and start_session(command) is not None
            and body.get("indexed") is not True
        ):
            raise terminal_error(
                LashError(
                    codes.RESTATE_TURN_INPUT_INVALID,
                    "a start that grants a session a handle or names its wake target goes "
                    f"through the session's object ({self.session_object_name}), which indexes "
                    "it",
                )
            )
        registry = await self._registry(ctx)
        now = await self._now_ms(ctx)
        try:
            step = apply_process_command(registry, command, now)
        except LashError as error:
            raise terminal_error(error) from None  # nothing saved: the state is unchanged
        if not isinstance(step, CommandDone):
            return {"parked": True}  # a live process's await: the caller awaits its terminal
        self._save(ctx, registry)
        if step.started is not None and function_name(step.started.input) is not None:
            ctx.workflow_send(self._run_handler, key=pid, arg={"record": _encode(step.started)})
        delivery = step.signal
        if delivery is not None:
            ordinal = delivery.wait.ordinal
            while True:
                accepted = await ctx.workflow_call(
                    self._signal_handler,
                    key=pid,
                    arg={
                        "name": delivery.wait.signal_name,
                        "ordinal": ordinal,
                        "payload": delivery.payload,
                    },
                )
                # A resolved key: its wait got an earlier signal and has not resumed yet, so a
                # new signal answers the next ordinal (as the inline service delivers it).
                if accepted or not delivery.appended:
                    break
                ordinal += 1
        if step.cancelled is not None and isinstance(command, ProcessCancel):
            ctx.workflow_send(self._cancel_handler, key=pid, arg={"reason": command.reason})
        return {"outcome": _encode(step.outcome)}

    async def _act(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
        pid = ctx.key()
        registry = await self._registry(ctx)
        now = await self._now_ms(ctx)
        op = body.get("op") if isinstance(body, dict) else None
        try:
            answer = self._acted(ctx, registry, pid, op, body, now)
        except LashError as error:
            raise terminal_error(error) from None
        self._save(ctx, registry)
        return {"record": _encode(registry.record(pid)), "value": answer}

    def _acted(
        self,
        ctx: restate.ObjectContext,
        registry: ProcessRegistry,
        pid: str,
        op: object,
        body: dict[str, Any],
        now: int,
    ) -> Any:
        if op == "append":
            request = from_json(json.dumps(body["request"]), ProcessEventAppendRequest)
            return _encode(registry.append_event(pid, request, now).event)
        if op in ("begin_wait", "end_wait"):
            name, ordinal = str(body["name"]), int(body["ordinal"])
            if op == "begin_wait":
                key = self._signal_key(pid, name, ordinal)
                registry.set_wait(pid, signal_wait_state(name, ordinal, key, now), now)
                registry.append_event(pid, waiting_request(pid, name, ordinal), now)
            elif not registry.record(pid).is_terminal:
                registry.set_wait(pid, None, now)
                registry.append_event(pid, resumed_request(pid, name, ordinal), now)
            return None
        if op == "finish":
            output: ProcessAwaitOutput = from_json(json.dumps(body["output"]), ProcessAwaitOutput)
            if not registry.record(pid).is_terminal:
                registry.append_terminal(pid, output, now)
            ready = registry.begin_await(pid)
            assert isinstance(ready, AwaitReady)
            written = _encode(ready.output)
            ctx.workflow_send(self._settle_handler, key=pid, arg=written)
            return written
        if op == "transfer":  # one process's part of a session's transfer (idempotent)
            source = from_json(json.dumps(body["from"]), SessionScope)
            if any(grant.process_id == pid for grant, _ in registry.list_handle_grants(source)):
                target = from_json(json.dumps(body["to"]), SessionScope)
                registry.transfer_handle_grants(source, target, [pid])
            return None
        if op == "delete_session":  # one process's part of deleting a session's state
            # (its wakes pending for the session are in the session's object, which counts them)
            return _encode(registry.delete_session_process_state(str(body["session_id"])))
        raise LashError(codes.RESTATE_TURN_INPUT_INVALID, f"unknown process action {op!r}")

    def _signal_key(self, pid: str, name: str, ordinal: int) -> AwaitEventKey:
        return self._signer.mint(ProcessScope(pid), signal_wait_identity(pid, name, ordinal))

    # -- the process workflow ----------------------------------------------------------------

    async def _run(self, ctx: restate.WorkflowContext, body: dict[str, Any]) -> dict[str, Any]:
        record: ProcessRecord = _decode(body.get("record"), ProcessRecord, "the process record")
        context = RestateProcessContext(ctx, self, record)
        try:
            output = await self._body(context)
        finally:
            self.steps += context.live_steps
        written = await ctx.object_call(
            self.act_handler, key=record.id, arg={"op": "finish", "output": _encode(output)}
        )
        self.changed(written["record"])
        result: dict[str, Any] = written["value"]
        return result

    async def _body(self, context: RestateProcessContext) -> ProcessAwaitOutput:
        name = function_name(context.input)
        function = self._functions.get(name) if name is not None else None
        if function is None:
            return _failure(
                codes.PROCESS_FUNCTION_UNKNOWN, f"no process function is registered for {name!r}"
            )
        try:
            value = await function(context)
        except ProcessCancelledError as cancelled:
            reason = cancelled.reason
            message = "process cancelled" if reason is None else f"process cancelled: {reason}"
            return CancelledOutput(message)
        except LashError as exc:
            return _failure(exc.code, exc.message)
        except Exception as exc:
            return _failure(
                codes.PROCESS_FUNCTION_FAILED,
                f"process function {name!r} raised {type(exc).__name__}: {exc}",
            )
        try:
            output = SuccessOutput(strict_json(value))
            payload: JsonValue = {"await_output": wire.to_wire(output)}
            check_append_request(context.process_id, ProcessEventAppendRequest("x", payload))
        except (ValueError, RecursionError, LashError) as exc:
            return _failure(
                codes.PROCESS_FUNCTION_FAILED,
                f"process function {name!r} returned a value that is not JSON: {exc}",
            )
        return output
