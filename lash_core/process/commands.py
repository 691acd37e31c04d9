"""The ``process`` effect's commands applied to a registry, and the signal rules.

:func:`apply_process_command` is the whole decision for one command: it changes the registry
and says what a host must do next (wake awaiters, resolve a signal key, tell its runner about a
started or cancelled process, or park an ``await``). It never waits, so it is pure apart from
the registry it is given.

Signals compile onto keyed promises: the ``ordinal``-th wait of process ``pid`` for signal
``name`` waits on the key for ``ProcessScope(pid)`` and ``ProcessSignal(pid, name, ordinal)``
(ordinals count from 1). A sender appends a ``signal.{name}`` event and resolves the key of the
ordinal that event answers (:func:`signal_ordinal`), so a signal sent before its wait is
buffered by the key and found at once by the wait.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, TypeAlias

import attrs

from lash_core import codes
from lash_core.effects.invocation import Replay
from lash_core.effects.process import (
    ProcessAwait,
    ProcessAwaited,
    ProcessCancel,
    ProcessCancelled,
    ProcessCommand,
    ProcessDeleteSession,
    ProcessEffectOutcome,
    ProcessList,
    ProcessListed,
    ProcessSessionDeleted,
    ProcessSignalled,
    ProcessSignalSend,
    ProcessStart,
    ProcessStarted,
    ProcessTransfer,
    ProcessTransferred,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey
from lash_core.process._state import EventLog
from lash_core.process.events import (
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessWakeDelivery,
)
from lash_core.process.grants import ProcessStartGrant, validate_grant
from lash_core.process.lifecycle import (
    PROCESS_RESUMED,
    PROCESS_WAITING,
    check_now,
    validate_process_id,
)
from lash_core.process.records import (
    ProcessRecord,
    SignalWait,
    WaitState,
)
from lash_core.process.registry import ProcessRegistry
from lash_core.process.results import AwaitParked
from lash_core.resolution import (
    Resolution,
    ResolutionCancelled,
    ResolutionErr,
    ResolutionOk,
    ResolutionTimeout,
)
from lash_core.scope import ProcessScope, ProcessSignal
from lash_core.wire import JsonValue

__all__ = [
    "CommandDone",
    "CommandParked",
    "CommandStep",
    "SignalDelivery",
    "apply_process_command",
    "resumed_request",
    "signal_event_type",
    "signal_ordinal",
    "signal_replay_key",
    "signal_request",
    "signal_result",
    "signal_wait_identity",
    "signal_wait_state",
    "validate_signal_name",
    "waiting_request",
]

_SIGNAL_NAME: Final = re.compile(r"[A-Za-z0-9_-]+")


# -- signals ---------------------------------------------------------------------------------


def validate_signal_name(name: object) -> str:
    """``name`` if it is non-empty ASCII letters, digits, ``_`` and ``-``
    (``process_signal_name_invalid`` otherwise)."""
    if not isinstance(name, str) or _SIGNAL_NAME.fullmatch(name) is None or not name.isascii():
        raise LocalProtocolError(
            codes.PROCESS_SIGNAL_NAME_INVALID,
            f"signal names are non-empty ASCII letters, digits, '_' and '-' (got {name!r})",
        )
    return name


def signal_event_type(name: str) -> str:
    """``signal.{name}``: the event type a signal is appended as."""
    return f"signal.{name}"


def signal_replay_key(process_id: str, name: str, signal_id: str) -> str:
    """``process:{pid}:signal.{name}:{signal_id}``."""
    return f"process:{process_id}:signal.{name}:{signal_id}"


def signal_request(
    process_id: str, name: str, signal_id: str, payload: JsonValue = None
) -> ProcessSignalSend:
    """A ``signal`` command: the ``signal.{name}`` event, keyed by ``signal_id`` (sending the
    same id twice appends one event)."""
    event = ProcessEventAppendRequest(
        signal_event_type(name), payload, Replay(signal_replay_key(process_id, name, signal_id))
    )
    return ProcessSignalSend(process_id, name, signal_id, event)


def signal_wait_identity(process_id: str, name: str, ordinal: int) -> ProcessSignal:
    """The wait identity of the ``ordinal``-th wait for ``name`` (scope
    ``ProcessScope(process_id)``)."""
    return ProcessSignal(process_id, name, ordinal)


def waiting_request(process_id: str, name: str, ordinal: int) -> ProcessEventAppendRequest:
    """The ``process.waiting`` event of a signal wait (key
    ``process:{pid}:waiting:signal.{name}:{ordinal}``)."""
    payload: JsonValue = {"signal": name, "ordinal": ordinal}
    key = f"process:{process_id}:waiting:{signal_event_type(name)}:{ordinal}"
    return ProcessEventAppendRequest(PROCESS_WAITING, payload, Replay(key))


def resumed_request(process_id: str, name: str, ordinal: int) -> ProcessEventAppendRequest:
    """The ``process.resumed`` event ending a signal wait (key
    ``process:{pid}:resumed:signal.{name}:{ordinal}``)."""
    payload: JsonValue = {"signal": name, "ordinal": ordinal}
    key = f"process:{process_id}:resumed:{signal_event_type(name)}:{ordinal}"
    return ProcessEventAppendRequest(PROCESS_RESUMED, payload, Replay(key))


def signal_wait_state(name: str, ordinal: int, key: AwaitEventKey, since_ms: int) -> WaitState:
    """The wait facet recorded while a process waits for a signal."""
    return WaitState(SignalWait(name, signal_event_type(name), key, ordinal), since_ms)


def signal_ordinal(
    record: ProcessRecord, events: Sequence[ProcessEvent], event: ProcessEvent
) -> int:
    """Which wait a ``signal.{name}`` event answers: the ordinal the process is waiting on for
    that name, else how many ``signal.{name}`` events the log holds up to this one.

    Given the registry's own view of the log (:meth:`ProcessRegistry.event_log`, as
    :func:`apply_process_command` passes it) the count is read from the registry's per-type
    counts in O(1), so a signal costs the same however long the log is; any other sequence of
    events is scanned."""
    wait = record.wait
    name = event.event_type.removeprefix("signal.")
    if wait is not None and wait.kind.name == name:
        return wait.kind.ordinal
    if isinstance(events, EventLog):
        return events.ordinal(event.sequence)
    return sum(
        1 for e in events if e.event_type == event.event_type and e.sequence <= event.sequence
    )


def signal_result(resolution: Resolution) -> JsonValue:
    """The payload a signal wait returns, or its failure: ``process_signal_wait_timeout``,
    ``process_signal_wait_cancelled`` or the code of an ``err`` resolution."""
    if isinstance(resolution, ResolutionOk):
        return resolution.payload
    if isinstance(resolution, ResolutionTimeout):
        raise LashError(codes.PROCESS_SIGNAL_WAIT_TIMEOUT, "the signal wait reached its deadline")
    if isinstance(resolution, ResolutionCancelled):
        raise LashError(codes.PROCESS_SIGNAL_WAIT_CANCELLED, "the signal wait was cancelled")
    assert isinstance(resolution, ResolutionErr)
    raise LashError(resolution.payload.code, resolution.payload.message)


# -- commands --------------------------------------------------------------------------------


@attrs.frozen
class SignalDelivery:
    """Resolve the key of ``(scope, wait)`` with ``ok(payload)``. ``appended`` is false for a
    signal sent again under its id: it only resolves its key again (a no-op once resolved)."""

    scope: ProcessScope
    wait: ProcessSignal
    payload: JsonValue
    appended: bool = attrs.field(default=True, eq=False)


@attrs.frozen
class CommandDone:
    """The command's outcome and what the host does next: wake these process awaiters,
    deliver a signal, run a newly ``started`` process, tell the runner of a ``cancelled``
    process id; ``wake_delivery`` is the session wake a signal event materialised (it is
    already pending in the registry)."""

    outcome: ProcessEffectOutcome
    wake: frozenset[int] = frozenset()
    signal: SignalDelivery | None = None
    started: ProcessRecord | None = None
    cancelled: str | None = None
    wake_delivery: ProcessWakeDelivery | None = None


@attrs.frozen
class CommandParked:
    """An ``await`` of a live process: wait for the awaiter's wake, then
    :meth:`ProcessRegistry.end_await`."""

    waiter_id: int


CommandStep: TypeAlias = CommandDone | CommandParked


def _signal(registry: ProcessRegistry, command: ProcessSignalSend, now_ms: int) -> CommandDone:
    pid = validate_process_id(command.process_id)
    name = validate_signal_name(command.signal_name)
    request = command.request
    if type(request) is not ProcessEventAppendRequest or request.event_type != signal_event_type(
        name
    ):
        raise LocalProtocolError(
            codes.PROCESS_SIGNAL_REQUEST_INVALID,
            f"a {name!r} signal appends a {signal_event_type(name)!r} event",
        )
    signal_id = command.signal_id
    if type(signal_id) is not str or not signal_id:
        raise LocalProtocolError(
            codes.PROCESS_SIGNAL_REQUEST_INVALID,
            f"a signal id is a non-empty string (got {type(signal_id).__name__} {signal_id!r:.80})",
        )
    if request.replay is None:
        request = attrs.evolve(request, replay=Replay(signal_replay_key(pid, name, signal_id)))
    before = registry.record(pid)
    appended = registry.append_event(pid, request, now_ms)
    event = appended.event
    delivery = None
    # A process that has ended waits for nothing: its late signal is logged, and resolves no key.
    ordinal = 0
    if not appended.record.is_terminal:
        ordinal = signal_ordinal(before, registry.event_log(pid), event)
    if ordinal > 0:
        delivery = SignalDelivery(
            ProcessScope(pid),
            signal_wait_identity(pid, name, ordinal),
            event.payload,
            appended.appended,
        )
    return CommandDone(
        ProcessSignalled(event), appended.wake, delivery, wake_delivery=appended.wake_delivery
    )


def apply_process_command(
    registry: ProcessRegistry, command: ProcessCommand, now_ms: int
) -> CommandStep:
    """Apply one ``process`` command to ``registry`` at ``now_ms``.

    Raises the registry's errors (the registry is then unchanged). ``start`` registers the
    process and its grant (``started`` is set only for a new process), ``cancel`` appends the
    durable cancel request, ``signal`` appends the signal event and names the key to resolve,
    ``await`` answers at once for a terminal process and parks otherwise.
    """
    check_now(now_ms)
    if isinstance(command, ProcessStart):
        grant = command.grant
        if grant is not None and type(grant) is not ProcessStartGrant:
            raise LocalProtocolError(
                codes.PROCESS_SESSION_INVALID,
                f"a start's grant is a ProcessStartGrant, got {type(grant).__name__}",
            )
        if grant is not None:
            # Checked before registering, so a bad grant registers nothing.
            validate_grant(grant.session_scope, grant.descriptor)
        registered = registry.register(command.registration, now_ms)
        record = registered.record
        if grant is not None:
            registry.grant_handle(grant.session_scope, record.id, grant.descriptor)
        return CommandDone(ProcessStarted(record), started=record if registered.created else None)
    if isinstance(command, ProcessList):
        return CommandDone(
            ProcessListed(registry.list_handle_grants(command.session_scope, command.mode))
        )
    if isinstance(command, ProcessTransfer):
        registry.transfer_handle_grants(command.from_scope, command.to_scope, command.process_ids)
        return CommandDone(ProcessTransferred())
    if isinstance(command, ProcessDeleteSession):
        return CommandDone(
            ProcessSessionDeleted(registry.delete_session_process_state(command.session_id))
        )
    if isinstance(command, ProcessAwait):
        start = registry.begin_await(command.process_id)
        if isinstance(start, AwaitParked):
            return CommandParked(start.waiter_id)
        return CommandDone(ProcessAwaited(start.output))
    if isinstance(command, ProcessCancel):
        try:
            appended = registry.request_cancel(command.process_id, command.reason, now_ms)
        except LashError as exc:
            if exc.code != codes.PROCESS_ALREADY_TERMINAL:
                raise
            # A finished process has nothing to cancel: its record as it is, nothing logged.
            # The runner is still told, so a function outliving its terminal stops.
            record = registry.record(command.process_id)
            return CommandDone(ProcessCancelled(record), cancelled=record.id)
        return CommandDone(
            ProcessCancelled(appended.record), appended.wake, cancelled=command.process_id
        )
    if isinstance(command, ProcessSignalSend):
        return _signal(registry, command, now_ms)
    raise LocalProtocolError(
        codes.PROCESS_COMMAND_INVALID,
        f"expected a process command, got {type(command).__name__}",
    )
