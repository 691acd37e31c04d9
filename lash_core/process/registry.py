"""The process registry as plain in-memory state.

A process is a registered record plus an append-only event log. The registry never reads a
clock and never waits: timestamps (``now_ms``) are inputs, and an await that cannot finish at
once is *parked* under an awaiter id. Every operation that can finish a process returns, with
its result, the awaiter ids it woke (like :class:`lash_core.promise.AwaitEventRegistry`): a host
keeps one level-triggered event per parked awaiter, sets the ones it is told to set, then calls
:meth:`ProcessRegistry.end_await`.

Every operation validates its whole input before it changes anything, so a refused call leaves
the registry exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, TypeAlias

import attrs

from lash_core import codes, wire
from lash_core.canonical import normalize_json_value
from lash_core.effects.invocation import Replay
from lash_core.effects.process import (
    AbandonedOutput,
    AbandonedStatus,
    CancelledOutput,
    CancelledStatus,
    CompletedStatus,
    EngineInput,
    FailedStatus,
    FailureOutput,
    HandleDescriptor,
    ProcessAwaitOutput,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventSemantics,
    ProcessEventTerminal,
    ProcessEventType,
    ProcessHandleGrant,
    ProcessLease,
    ProcessLeaseCompletion,
    ProcessListMode,
    ProcessRecord,
    ProcessRegistration,
    ProcessSessionDeleteReport,
    ProcessStatus,
    ProcessWakeDelivery,
    RunningStatus,
    SessionScope,
    SuccessOutput,
    SystemTime,
    ToolCallInput,
    WaitState,
)
from lash_core.effects.replay_keys import (
    PROCESS_CANCEL_REQUESTED,
    process_cancel_requested_replay_key,
    process_event_invocation,
    process_event_payload_hash,
    process_terminal_replay_key,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.process.wakes import materialize_wake, validate_wake_spec, wake_delivery
from lash_core.wire import JsonValue

__all__ = [
    "CORE_EVENT_TYPES",
    "PROCESS_COMPLETED",
    "PROCESS_RESUMED",
    "PROCESS_WAITING",
    "Appended",
    "AwaitParked",
    "AwaitReady",
    "AwaitStart",
    "ProcessRegistry",
    "Registered",
    "terminal_event_type",
    "validate_grant",
    "validate_process_id",
]

PROCESS_WAITING: Final = "process.waiting"
PROCESS_RESUMED: Final = "process.resumed"
PROCESS_COMPLETED: Final = "process.completed"
_PROCESS_FAILED: Final = "process.failed"
_PROCESS_CANCELLED: Final = "process.cancelled"
_PROCESS_ABANDONED: Final = "process.abandoned"

CORE_EVENT_TYPES: Final[tuple[ProcessEventType, ...]] = (
    ProcessEventType(PROCESS_CANCEL_REQUESTED),
    ProcessEventType(PROCESS_WAITING),
    ProcessEventType(PROCESS_RESUMED),
    ProcessEventType(PROCESS_COMPLETED, terminal=True, await_output=True),
    ProcessEventType(_PROCESS_FAILED, terminal=True, await_output=True),
    ProcessEventType(_PROCESS_CANCELLED, terminal=True, await_output=True),
    ProcessEventType(_PROCESS_ABANDONED, terminal=True, await_output=True),
)
"""The seven event types every process has, appended to a registration when missing."""

_CORE_BY_NAME: Final = {t.name: t for t in CORE_EVENT_TYPES}

_STATUS_BY_STATE: Final[dict[str, Callable[[ProcessAwaitOutput], ProcessStatus]]] = {
    "completed": CompletedStatus,
    "failed": FailedStatus,
    "cancelled": CancelledStatus,
    "abandoned": AbandonedStatus,
}
_STATE_BY_CORE_EVENT: Final = {
    PROCESS_COMPLETED: "completed",
    _PROCESS_FAILED: "failed",
    _PROCESS_CANCELLED: "cancelled",
    _PROCESS_ABANDONED: "abandoned",
}
_EVENT_BY_OUTPUT: Final[dict[type[ProcessAwaitOutput], str]] = {
    SuccessOutput: PROCESS_COMPLETED,
    FailureOutput: _PROCESS_FAILED,
    CancelledOutput: _PROCESS_CANCELLED,
    AbandonedOutput: _PROCESS_ABANDONED,
}


def terminal_event_type(output: ProcessAwaitOutput) -> str:
    """The core terminal event type that carries ``output`` (``process.completed`` for a
    success, ``process.failed``, ``process.cancelled``, ``process.abandoned``)."""
    return _EVENT_BY_OUTPUT[type(output)]


# -- results ---------------------------------------------------------------------------------

_NO_WAKE: Final[frozenset[int]] = frozenset()


@attrs.frozen
class Registered:
    """The process's record; ``created`` is false when an identical registration existed."""

    record: ProcessRecord
    created: bool


@attrs.frozen
class Appended:
    """The event (the existing one when its replay key was already recorded: ``appended`` is
    then false), the record afterwards, the awaiter ids to wake (the process reached its
    terminal) and, for an event with a wake and a target scope, its wake delivery."""

    event: ProcessEvent
    record: ProcessRecord
    appended: bool
    wake: frozenset[int]
    wake_delivery: ProcessWakeDelivery | None = None


@attrs.frozen
class AwaitReady:
    """The process is terminal: its await output."""

    output: ProcessAwaitOutput


@attrs.frozen
class AwaitParked:
    """Not terminal yet: wait for the awaiter's wake, then :meth:`ProcessRegistry.end_await`."""

    waiter_id: int


AwaitStart: TypeAlias = AwaitReady | AwaitParked


# -- validation ------------------------------------------------------------------------------


def _blank(value: object) -> bool:
    return not isinstance(value, str) or not value.strip()


def validate_process_id(process_id: object) -> str:
    """``process_id``, if it is non-blank and free of the reserved separator ``#``
    (``process_id_invalid`` otherwise)."""
    if _blank(process_id):
        raise LocalProtocolError(codes.PROCESS_ID_INVALID, "process ids must not be blank")
    assert isinstance(process_id, str)
    if "#" in process_id:
        raise LocalProtocolError(
            codes.PROCESS_ID_INVALID,
            f"process id {process_id!r} contains the reserved segment separator '#'",
        )
    return process_id


def _check_now(now_ms: object) -> None:
    if type(now_ms) is not int or now_ms < 0:
        raise LocalProtocolError(
            codes.PROCESS_TIMESTAMP_INVALID,
            f"timestamps are whole milliseconds since the epoch (got {now_ms!r})",
        )


def _registration_error(message: str) -> LocalProtocolError:
    return LocalProtocolError(codes.PROCESS_REGISTRATION_INVALID, message)


def _check_scope(scope: object) -> SessionScope:
    if type(scope) is not SessionScope or _blank(scope.session_id):
        raise LocalProtocolError(
            codes.PROCESS_SESSION_INVALID, "a session scope needs a non-blank session id"
        )
    return scope


def validate_grant(scope: object, descriptor: object) -> None:
    """Raise ``process_session_invalid`` unless ``scope`` is a session scope with a non-blank
    session id and ``descriptor`` a handle descriptor."""
    _check_scope(scope)
    if type(descriptor) is not HandleDescriptor:
        raise LocalProtocolError(
            codes.PROCESS_SESSION_INVALID,
            f"expected a HandleDescriptor, got {type(descriptor).__name__}",
        )


def _with_core_event_types(registration: ProcessRegistration) -> ProcessRegistration:
    """The registration, validated, with the missing core event types appended."""
    if type(registration) is not ProcessRegistration:
        raise _registration_error(
            f"expected a ProcessRegistration, got {type(registration).__name__}"
        )
    pid = validate_process_id(registration.id)
    needs_env = isinstance(registration.input, ToolCallInput | EngineInput)
    if needs_env and _blank(registration.env_ref):
        raise _registration_error(
            f"process {pid!r}: a {registration.input.type} input needs an env_ref"
        )
    if not needs_env and registration.env_ref is not None:
        raise _registration_error(
            f"process {pid!r}: a {registration.input.type} input takes no env_ref"
        )
    seen: set[str] = set()
    for declared in registration.event_types:
        name = declared.name
        if _blank(name):
            raise _registration_error(f"process {pid!r}: event type names must not be blank")
        if name in seen:
            raise _registration_error(f"process {pid!r}: event type {name!r} is declared twice")
        seen.add(name)
        core = _CORE_BY_NAME.get(name)
        if core is not None and declared != core:
            raise _registration_error(
                f"process {pid!r}: core event type {name!r} is redeclared differently"
            )
        if declared.await_output and not declared.terminal:
            raise _registration_error(
                f"process {pid!r}: only terminal event types carry an await_output"
            )
        if declared.wake is not None:
            problem = validate_wake_spec(declared.wake)
            if problem is not None:
                raise _registration_error(f"process {pid!r}: event type {name!r}: {problem}")
    missing = tuple(t for t in CORE_EVENT_TYPES if t.name not in seen)
    if not missing:
        return registration
    return attrs.evolve(registration, event_types=registration.event_types + missing)


def _payload_error(pid: str, event_type: str, detail: str) -> LocalProtocolError:
    return LocalProtocolError(
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        f"process {pid!r}: {event_type} payload {detail}",
    )


def _terminal_status(
    pid: str, declared: ProcessEventType, payload: JsonValue
) -> tuple[ProcessStatus, ProcessEventTerminal]:
    """The status a terminal event ends in and its materialised semantics."""
    name = declared.name
    if not declared.await_output:
        output: ProcessAwaitOutput = SuccessOutput(payload)
    else:
        if not isinstance(payload, dict) or "await_output" not in payload:
            raise _payload_error(pid, name, "needs an await_output")
        try:
            output = wire.from_wire(payload["await_output"], ProcessAwaitOutput)
        except LashError as exc:
            raise _payload_error(pid, name, f"has an invalid await_output: {exc.message}") from None
    state = _STATE_BY_CORE_EVENT.get(name) or _STATE_BY_CORE_EVENT[_EVENT_BY_OUTPUT[type(output)]]
    return _STATUS_BY_STATE[state](output), ProcessEventTerminal(state, wire.to_wire(output))


def _status_of(terminal: ProcessEventTerminal) -> ProcessStatus:
    output = wire.from_wire(terminal.await_output, ProcessAwaitOutput)
    return _STATUS_BY_STATE[terminal.state](output)


# -- the registry ----------------------------------------------------------------------------


class _Process:
    """One process: its record, its log and the replay keys of its log."""

    __slots__ = ("acked_wakes", "cancel_requested", "events", "record", "replays", "types")

    def __init__(self, record: ProcessRecord) -> None:
        self.record = record
        self.types = {t.name: t for t in record.event_types}
        self.events: list[ProcessEvent] = []
        self.replays: dict[str, tuple[str, int]] = {}
        self.cancel_requested = False
        self.acked_wakes: set[int] = set()

    def log(self, event: ProcessEvent) -> None:
        self.events.append(event)
        replay = event.invocation.replay
        if replay is not None:
            digest = process_event_payload_hash(event.event_type, event.payload)
            self.replays[replay.key] = (digest, len(self.events) - 1)
        if event.event_type == PROCESS_CANCEL_REQUESTED:
            self.cancel_requested = True


class ProcessRegistry:
    """Processes, their event logs, handle grants per session scope and parked awaiters.

    Not thread-safe; one event loop drives it (through a host) or a test drives it directly.
    """

    def __init__(self) -> None:
        self._processes: dict[str, _Process] = {}
        # scope id -> process id -> grant; session id -> its scope ids holding grants;
        # process id -> the scope ids holding a grant on it.
        self._grants: dict[str, dict[str, ProcessHandleGrant]] = {}
        self._session_scopes: dict[str, set[str]] = {}
        self._holders: dict[str, set[str]] = {}
        # session id -> the processes whose wake target is that session.
        self._wake_targets: dict[str, set[str]] = {}
        # wake id -> its pending delivery (in delivery order); acknowledged wake ids.
        self._wakes: dict[str, ProcessWakeDelivery] = {}
        self._acknowledged_wakes: set[str] = set()
        # process id -> its current lease; process id -> the last fencing token issued.
        self._leases: dict[str, ProcessLease] = {}
        self._fences: dict[str, int] = {}
        self._awaiters: dict[int, str] = {}
        self._awaiting: dict[str, set[int]] = {}
        self._next_waiter = 1

    @classmethod
    def restore(
        cls,
        records: Iterable[ProcessRecord],
        events: Iterable[ProcessEvent] = (),
        grants: Iterable[tuple[SessionScope, ProcessHandleGrant]] = (),
        pending_wakes: Iterable[ProcessWakeDelivery] = (),
        acknowledged_wakes: Iterable[str] = (),
        leases: Iterable[ProcessLease] = (),
        acknowledged_wake_events: Iterable[tuple[str, int]] = (),
    ) -> ProcessRegistry:
        """A registry rebuilt from durable rows: records as stored (their status projection is
        taken as written), events in log order, ``(scope, grant)`` pairs, pending wake
        deliveries in delivery order, the ids of acknowledged wakes, current leases (the next
        holder of a process gets the fencing token after its lease's) and the
        ``(process id, sequence)`` of wake events acknowledged with :meth:`ack_wake`."""
        registry = cls()
        for record in records:
            registry._processes[record.id] = _Process(record)
            registry._index_wake_target(record)
        for event in events:
            registry._get(event.process_id).log(event)
        for scope, grant in grants:
            registry._put_grant(scope, grant)
        for delivery in pending_wakes:
            registry._wakes[delivery.wake_id] = delivery
        registry._acknowledged_wakes.update(acknowledged_wakes)
        for lease in leases:
            registry._leases[lease.process_id] = lease
            registry._fences[lease.process_id] = lease.fencing_token
        for pid, sequence in acknowledged_wake_events:
            registry._get(pid).acked_wakes.add(sequence)
        return registry

    # -- reads -------------------------------------------------------------------------------

    def _get(self, process_id: str) -> _Process:
        process = self._processes.get(process_id) if isinstance(process_id, str) else None
        if process is None:
            raise LashError(codes.PROCESS_UNKNOWN, f"unknown process `{process_id}`")
        return process

    def __len__(self) -> int:
        return len(self._processes)

    def get(self, process_id: str) -> ProcessRecord | None:
        """The process's record, or ``None``."""
        process = self._processes.get(process_id)
        return None if process is None else process.record

    def record(self, process_id: str) -> ProcessRecord:
        """The process's record (``process_unknown`` if there is none)."""
        return self._get(process_id).record

    def events(self, process_id: str, after: int = 0) -> tuple[ProcessEvent, ...]:
        """The process's events with a sequence above ``after``, in order."""
        return tuple(self._get(process_id).events[max(after, 0) :])

    def event_count(self, process_id: str) -> int:
        """How many events the process's log holds."""
        return len(self._get(process_id).events)

    def recent_events(self, process_id: str, limit: int) -> tuple[ProcessEvent, ...]:
        """The last ``limit`` events of the log, oldest first."""
        events = self._get(process_id).events
        return tuple(events[-limit:]) if limit > 0 else ()

    def is_cancel_requested(self, process_id: str) -> bool:
        """Whether the log holds a ``process.cancel_requested`` event."""
        return self._get(process_id).cancel_requested

    def list_processes(
        self, *, terminal: bool | None = None, waiting: bool | None = None
    ) -> tuple[ProcessRecord, ...]:
        """Records sorted by id, optionally only terminal (or live) and only waiting (or not)."""
        out = []
        for pid in sorted(self._processes):
            record = self._processes[pid].record
            if terminal is not None and record.is_terminal != terminal:
                continue
            if waiting is not None and (record.wait is not None) != waiting:
                continue
            out.append(record)
        return tuple(out)

    # -- registration ------------------------------------------------------------------------

    def register(self, registration: ProcessRegistration, now_ms: int) -> Registered:
        """Register a process: the same registration again returns the existing record; a
        different one under the same id raises ``process_registration_conflict``."""
        _check_now(now_ms)
        full = _with_core_event_types(registration)
        digest = wire.stable_hash(full)
        existing = self._processes.get(full.id)
        if existing is not None:
            if existing.record.registration_hash != digest:
                raise LashError(
                    codes.PROCESS_REGISTRATION_CONFLICT,
                    f"process `{full.id}` is already registered with a different registration",
                )
            return Registered(existing.record, False)
        record = ProcessRecord(
            id=full.id,
            registration_hash=digest,
            input=full.input,
            disposition=full.disposition,
            identity=full.identity,
            event_types=full.event_types,
            provenance=full.provenance,
            env_ref=full.env_ref,
            wake_target=full.wake_target,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
        )
        self._processes[full.id] = _Process(record)
        self._index_wake_target(record)
        return Registered(record, True)

    def _index_wake_target(self, record: ProcessRecord) -> None:
        if record.wake_target is not None:
            self._wake_targets.setdefault(record.wake_target.session_id, set()).add(record.id)

    # -- events ------------------------------------------------------------------------------

    def append_event(
        self, process_id: str, request: ProcessEventAppendRequest, now_ms: int
    ) -> Appended:
        """Append an event (sequence = log length + 1).

        A replay key already recorded returns the recorded event when the event type and
        payload hash match (repairing a running status from a recorded terminal), and raises
        ``process_event_replay_conflict`` otherwise. A new event must be declared; terminal and
        ``process.cancel_requested`` events need a replay key; a terminal ends the process
        (``process_already_terminal`` if it had ended), clears its wait and wakes its awaiters.

        An event of a wake-declaring type carries its materialised wake; with a target scope
        (the request's ``wake_target_scope``, else the record's ``wake_target``) the result has
        its wake delivery, recorded as pending unless its wake id is pending or acknowledged
        already. A replayed event re-materialises the same delivery without recording it again.
        """
        _check_now(now_ms)
        process = self._get(process_id)
        if type(request) is not ProcessEventAppendRequest:
            raise LocalProtocolError(
                codes.PROCESS_EVENT_PAYLOAD_INVALID,
                f"expected a ProcessEventAppendRequest, got {type(request).__name__}",
            )
        event_type = request.event_type
        try:
            payload = normalize_json_value(request.payload)
        except ValueError as exc:
            raise _payload_error(process_id, str(event_type), f"is not JSON: {exc}") from None
        target = request.wake_target_scope
        if target is not None:
            _check_scope(target)
        else:
            target = process.record.wake_target
        replay = request.replay
        if replay is not None and replay.key in process.replays:
            recorded_hash, index = process.replays[replay.key]
            if process_event_payload_hash(event_type, payload) != recorded_hash:
                raise LashError(
                    codes.PROCESS_EVENT_REPLAY_CONFLICT,
                    f"process `{process_id}`: replay key {replay.key!r} was recorded with a "
                    "different event",
                )
            event = process.events[index]
            delivery = self._delivery(process, event, target)
            terminal = event.semantics.terminal
            if terminal is not None and not process.record.is_terminal:
                return self._finish(
                    process, event, _status_of(terminal), now_ms, delivery, appended=False
                )
            return Appended(event, process.record, False, _NO_WAKE, delivery)
        declared = process.types.get(event_type) if isinstance(event_type, str) else None
        if declared is None:
            raise LocalProtocolError(
                codes.PROCESS_EVENT_TYPE_UNDECLARED,
                f"process `{process_id}` does not declare event type {event_type!r}",
            )
        needs_key = declared.terminal or event_type == PROCESS_CANCEL_REQUESTED
        if needs_key and (replay is None or not replay.key):
            raise LocalProtocolError(
                codes.PROCESS_EVENT_REPLAY_REQUIRED,
                f"process `{process_id}`: {event_type} events need a replay key",
            )
        status: ProcessStatus | None = None
        terminal = None
        if declared.terminal:
            status, terminal = _terminal_status(process_id, declared, payload)
            if process.record.is_terminal:
                raise LashError(
                    codes.PROCESS_ALREADY_TERMINAL,
                    f"process `{process_id}` is already terminal ({process.record.status.state})",
                )
        sequence = len(process.events) + 1
        wake = None
        if declared.wake is not None:
            wake = materialize_wake(process_id, sequence, event_type, payload, declared.wake)
        semantics = ProcessEventSemantics(terminal, wake)
        event = ProcessEvent(
            process_id=process_id,
            sequence=sequence,
            event_type=event_type,
            payload=payload,
            invocation=process_event_invocation(process_id, sequence, event_type, replay),
            semantics=semantics,
            occurred_at=SystemTime.from_ms(now_ms),
        )
        process.log(event)
        delivery = self._delivery(process, event, target)
        if delivery is not None and delivery.wake_id not in self._acknowledged_wakes:
            self._wakes.setdefault(delivery.wake_id, delivery)
        if status is not None:
            return self._finish(process, event, status, now_ms, delivery, appended=True)
        process.record = attrs.evolve(process.record, updated_at_ms=now_ms)
        return Appended(event, process.record, True, _NO_WAKE, delivery)

    @staticmethod
    def _delivery(
        process: _Process, event: ProcessEvent, target: SessionScope | None
    ) -> ProcessWakeDelivery | None:
        if target is None:
            return None
        return wake_delivery(target, event, process.record.provenance.caused_by)

    def _finish(
        self,
        process: _Process,
        event: ProcessEvent,
        status: ProcessStatus,
        now_ms: int,
        delivery: ProcessWakeDelivery | None,
        *,
        appended: bool,
    ) -> Appended:
        process.record = attrs.evolve(
            process.record, status=status, wait=None, updated_at_ms=now_ms
        )
        self._leases.pop(process.record.id, None)
        waiters = self._awaiting.pop(process.record.id, None)
        return Appended(event, process.record, appended, frozenset(waiters or ()), delivery)

    def request_cancel(self, process_id: str, reason: str | None, now_ms: int) -> Appended:
        """Append ``process.cancel_requested`` with payload ``{"reason": reason}`` under a key
        derived from that payload: the same request again is deduplicated, another reason is a
        new event. Cancellation is a request the process's runner observes, not a status."""
        if reason is not None and not isinstance(reason, str):
            raise _payload_error(process_id, PROCESS_CANCEL_REQUESTED, "reason must be a string")
        request = ProcessEventAppendRequest(
            PROCESS_CANCEL_REQUESTED,
            {"reason": reason},
            Replay(process_cancel_requested_replay_key(process_id, reason)),
        )
        return self.append_event(process_id, request, now_ms)

    def append_terminal(
        self,
        process_id: str,
        output: ProcessAwaitOutput,
        now_ms: int,
        completion_authority: JsonValue = None,
    ) -> Appended:
        """Append the core terminal event for ``output`` under the key
        ``process:{pid}:terminal:{event_type}``."""
        if type(output) not in _EVENT_BY_OUTPUT:
            raise _payload_error(process_id, "terminal", "needs a process await output")
        event_type = terminal_event_type(output)
        payload: dict[str, JsonValue] = {"await_output": wire.to_wire(output)}
        if completion_authority is not None:
            payload["completion_authority"] = completion_authority
        request = ProcessEventAppendRequest(
            event_type, payload, Replay(process_terminal_replay_key(process_id, event_type))
        )
        return self.append_event(process_id, request, now_ms)

    def set_wait(self, process_id: str, wait: WaitState | None, now_ms: int) -> ProcessRecord:
        """Record (or with ``None`` clear) what a running process waits for."""
        _check_now(now_ms)
        process = self._get(process_id)
        if wait is not None and type(wait) is not WaitState:
            raise LocalProtocolError(
                codes.PROCESS_EVENT_PAYLOAD_INVALID,
                f"expected a WaitState, got {type(wait).__name__}",
            )
        if wait is not None and process.record.is_terminal:
            raise LashError(
                codes.PROCESS_ALREADY_TERMINAL,
                f"process `{process_id}` is terminal and cannot wait",
            )
        process.record = attrs.evolve(process.record, wait=wait, updated_at_ms=now_ms)
        return process.record

    # -- awaiting ----------------------------------------------------------------------------

    def begin_await(self, process_id: str) -> AwaitStart:
        """The process's await output if it is terminal, else a parked awaiter id."""
        record = self._get(process_id).record
        if not isinstance(record.status, RunningStatus):
            return AwaitReady(record.status.await_output)
        waiter_id = self._next_waiter
        self._next_waiter = waiter_id + 1
        self._awaiters[waiter_id] = process_id
        self._awaiting.setdefault(process_id, set()).add(waiter_id)
        return AwaitParked(waiter_id)

    def end_await(self, waiter_id: int) -> ProcessAwaitOutput | None:
        """End a parked await: the await output if the process is terminal by now, else
        ``None`` (the await was given up early). ``process_awaiter_unknown`` for an id that is
        not parked."""
        pid = self._awaiters.pop(waiter_id, None) if type(waiter_id) is int else None
        if pid is None:
            raise LocalProtocolError(
                codes.PROCESS_AWAITER_UNKNOWN, f"process awaiter {waiter_id!r} is not parked here"
            )
        waiting = self._awaiting.get(pid)
        if waiting is not None:
            waiting.discard(waiter_id)
            if not waiting:
                del self._awaiting[pid]
        status = self._processes[pid].record.status
        return None if isinstance(status, RunningStatus) else status.await_output

    @property
    def parked_count(self) -> int:
        """How many awaiters are parked."""
        return len(self._awaiters)

    # -- leases ------------------------------------------------------------------------------

    def lease(self, process_id: str) -> ProcessLease | None:
        """The process's current lease (expired or not), or ``None`` when it has none."""
        self._get(process_id)
        return self._leases.get(process_id)

    def _new_lease(self, process_id: str, owner: str, ttl_ms: int, now_ms: int) -> ProcessLease:
        fence = self._fences.get(process_id, 0) + 1
        self._fences[process_id] = fence
        lease = ProcessLease(process_id, owner, f"{owner}:{fence}", fence, now_ms, now_ms + ttl_ms)
        self._leases[process_id] = lease
        return lease

    def _check_lease_request(self, process_id: str, owner: object, ttl_ms: object) -> _Process:
        process = self._get(process_id)
        if _blank(owner):
            raise LocalProtocolError(codes.PROCESS_LEASE_INVALID, "a lease owner must not be blank")
        if type(ttl_ms) is not int or ttl_ms < 0:
            raise LocalProtocolError(
                codes.PROCESS_LEASE_INVALID,
                f"a lease ttl is a non-negative whole number of milliseconds (got {ttl_ms!r})",
            )
        if process.record.is_terminal:
            raise LashError(
                codes.PROCESS_ALREADY_TERMINAL,
                f"process `{process_id}` is terminal and cannot be leased",
            )
        return process

    def _current_lease(
        self, presented: ProcessLease | ProcessLeaseCompletion, what: str
    ) -> ProcessLease:
        """The process's current lease, if ``presented`` is it (``process_lease_lost``)."""
        if type(presented) not in (ProcessLease, ProcessLeaseCompletion):
            raise LocalProtocolError(
                codes.PROCESS_LEASE_INVALID,
                f"expected a ProcessLease, got {type(presented).__name__}",
            )
        pid = presented.process_id
        self._get(pid)
        current = self._leases.get(pid)
        if current is None or (current.lease_token, current.fencing_token) != (
            presented.lease_token,
            presented.fencing_token,
        ):
            raise LashError(
                codes.PROCESS_LEASE_LOST,
                f"cannot {what}: the lease {presented.lease_token!r} on process `{pid}` is "
                "missing or expired and superseded",
            )
        return current

    def claim_process_lease(
        self, process_id: str, owner: str, ttl_ms: int, now_ms: int
    ) -> ProcessLease:
        """Lease a live process to ``owner`` until ``now_ms + ttl_ms``.

        Without a live lease (none, released, or expired at ``now_ms``) the owner gets a new
        lease with the next fencing token. The holder of a live lease claiming again keeps its
        lease (same tokens), its expiry pushed to ``now_ms + ttl_ms`` if later. Another owner
        is refused with ``process_lease_held``.
        """
        _check_now(now_ms)
        self._check_lease_request(process_id, owner, ttl_ms)
        current = self._leases.get(process_id)
        if current is None or now_ms >= current.expires_at_ms:
            return self._new_lease(process_id, owner, ttl_ms, now_ms)
        if current.owner != owner:
            raise LashError(
                codes.PROCESS_LEASE_HELD,
                f"process `{process_id}` is already leased to {current.owner!r} until "
                f"{current.expires_at_ms}",
            )
        expires = max(current.expires_at_ms, now_ms + ttl_ms)
        current = attrs.evolve(current, expires_at_ms=expires)
        self._leases[process_id] = current
        return current

    def renew_process_lease(self, lease: ProcessLease, ttl_ms: int, now_ms: int) -> ProcessLease:
        """Extend the current, unexpired lease to ``now_ms + ttl_ms`` (same fencing token).
        ``process_lease_lost`` for a lease that is not current or expired at ``now_ms``."""
        _check_now(now_ms)
        current = self._current_lease(lease, "renew")
        self._check_lease_request(current.process_id, current.owner, ttl_ms)
        if now_ms >= current.expires_at_ms:
            raise LashError(
                codes.PROCESS_LEASE_LOST,
                f"cannot renew: the lease {lease.lease_token!r} on process "
                f"`{lease.process_id}` is missing or expired",
            )
        renewed = attrs.evolve(current, expires_at_ms=now_ms + ttl_ms)
        self._leases[current.process_id] = renewed
        return renewed

    def reclaim_process_lease(
        self, observed: ProcessLease, owner: str, ttl_ms: int, now_ms: int
    ) -> ProcessLease:
        """Take over exactly the lease ``observed`` (whose holder the caller judged dead): a new
        lease for ``owner`` with the next fencing token, live or not. A stale observation (the
        lease was renewed away from, released or reclaimed since) is ``process_lease_lost``,
        so of two reclaims of one observation one wins."""
        _check_now(now_ms)
        current = self._current_lease(observed, "reclaim")
        self._check_lease_request(current.process_id, owner, ttl_ms)
        return self._new_lease(current.process_id, owner, ttl_ms, now_ms)

    def complete_process_lease(self, completion: ProcessLeaseCompletion) -> bool:
        """Release the lease if it is the current one and say so; a stale completion (an older
        or already released lease) is ignored and leaves the current holder alone."""
        try:
            self._current_lease(completion, "release")
        except LashError as exc:
            if exc.code == codes.PROCESS_LEASE_LOST:
                return False
            raise
        del self._leases[completion.process_id]
        return True

    def complete_leased(
        self, completion: ProcessLeaseCompletion, output: ProcessAwaitOutput, now_ms: int
    ) -> Appended:
        """Append the process's terminal under its lease (a terminal releases the lease).

        The same completion again after it succeeded returns the recorded terminal (its replay
        key matches). Otherwise the lease must be current (``process_lease_lost``) and unexpired
        at ``now_ms`` (``process_lease_expired``); a refused completion changes nothing.
        """
        _check_now(now_ms)
        if type(completion) is not ProcessLeaseCompletion:
            raise LocalProtocolError(
                codes.PROCESS_LEASE_INVALID,
                f"expected a ProcessLeaseCompletion, got {type(completion).__name__}",
            )
        pid = completion.process_id
        process = self._get(pid)
        if type(output) not in _EVENT_BY_OUTPUT:
            raise _payload_error(pid, "terminal", "needs a process await output")
        key = process_terminal_replay_key(pid, terminal_event_type(output))
        if key not in process.replays:
            current = self._current_lease(completion, "complete")
            if now_ms >= current.expires_at_ms:
                raise LashError(
                    codes.PROCESS_LEASE_EXPIRED,
                    f"cannot complete process `{pid}`: its lease {current.lease_token!r} "
                    f"expired at {current.expires_at_ms}",
                )
        return self.append_terminal(pid, output, now_ms)

    # -- wakes -------------------------------------------------------------------------------

    def pending_wakes(self, scope: SessionScope) -> tuple[ProcessWakeDelivery, ...]:
        """The wake deliveries for exactly this scope not acknowledged yet, in delivery order
        (one per wake id: a later event with the same dedupe key is not delivered again)."""
        scope_id = _check_scope(scope).id
        return tuple(w for w in self._wakes.values() if w.target_scope_id == scope_id)

    def acknowledge_wake(self, wake_id: str) -> ProcessWakeDelivery:
        """Take a pending wake off its scope's list, for good: an event with the same target and
        dedupe key is not delivered again. Returns the delivery; ``process_wake_unknown`` when
        no pending wake has this id (never delivered, or already acknowledged)."""
        delivery = self._wakes.pop(wake_id, None) if isinstance(wake_id, str) else None
        if delivery is None:
            raise LocalProtocolError(
                codes.PROCESS_WAKE_UNKNOWN, f"no pending wake has the id {wake_id!r}"
            )
        self._acknowledged_wakes.add(wake_id)
        return delivery

    def wake_events_after(self, process_id: str, after: int = 0) -> tuple[ProcessEvent, ...]:
        """The process's events that materialised a wake, with a sequence above ``after`` and
        not acknowledged with :meth:`ack_wake`, in order (whether or not a session was
        targeted: this is the process's own stream of wakes)."""
        process = self._get(process_id)
        return tuple(
            e
            for e in process.events[max(after, 0) :]
            if e.semantics.wake is not None and e.sequence not in process.acked_wakes
        )

    def ack_wake(self, process_id: str, sequence: int) -> None:
        """Mark the wake of the process's event ``sequence`` consumed, for good (idempotent):
        :meth:`wake_events_after` leaves it out. Deleting a session's process state keeps these
        marks. ``process_wake_unknown`` when that event has no wake."""
        process = self._get(process_id)
        ok = type(sequence) is int and 1 <= sequence <= len(process.events)
        if not ok or process.events[sequence - 1].semantics.wake is None:
            raise LocalProtocolError(
                codes.PROCESS_WAKE_UNKNOWN,
                f"process `{process_id}` has no wake event with sequence {sequence!r}",
            )
        process.acked_wakes.add(sequence)

    def is_wake_acknowledged(self, wake_id: str) -> bool:
        """Whether the wake with this id was acknowledged."""
        return wake_id in self._acknowledged_wakes

    # -- handle grants -----------------------------------------------------------------------

    def _put_grant(self, scope: SessionScope, grant: ProcessHandleGrant) -> None:
        scope_id = scope.id
        self._grants.setdefault(scope_id, {})[grant.process_id] = grant
        self._session_scopes.setdefault(scope.session_id, set()).add(scope_id)
        self._holders.setdefault(grant.process_id, set()).add(scope_id)

    def _drop_grant(self, scope_id: str, session_id: str, process_id: str) -> None:
        grants = self._grants[scope_id]
        del grants[process_id]
        if not grants:
            del self._grants[scope_id]
            scopes = self._session_scopes[session_id]
            scopes.discard(scope_id)
            if not scopes:
                del self._session_scopes[session_id]
        holders = self._holders[process_id]
        holders.discard(scope_id)
        if not holders:
            del self._holders[process_id]

    def grant_handle(
        self, scope: SessionScope, process_id: str, descriptor: HandleDescriptor
    ) -> ProcessHandleGrant:
        """Let ``scope`` address the process (replacing the scope's earlier grant on it)."""
        validate_grant(scope, descriptor)
        self._get(process_id)
        grant = ProcessHandleGrant(scope.session_id, process_id, descriptor)
        self._put_grant(scope, grant)
        return grant

    def list_handle_grants(
        self, scope: SessionScope, mode: ProcessListMode = ProcessListMode.ALL
    ) -> tuple[tuple[ProcessHandleGrant, ProcessRecord], ...]:
        """``(grant, record)`` pairs of the scope, sorted by process id; ``live`` leaves out
        terminal processes."""
        _check_scope(scope)
        grants = self._grants.get(scope.id)
        if not grants:
            return ()
        live = mode is ProcessListMode.LIVE
        processes = self._processes
        out = []
        for pid in sorted(grants):
            record = processes[pid].record
            if live and record.is_terminal:
                continue
            out.append((grants[pid], record))
        return tuple(out)

    def transfer_handle_grants(
        self, from_scope: SessionScope, to_scope: SessionScope, process_ids: Iterable[str]
    ) -> None:
        """Move the grants of ``process_ids`` from one scope to the other, all or none
        (``process_handle_not_granted`` names the ids the source does not hold)."""
        _check_scope(from_scope)
        _check_scope(to_scope)
        wanted = list(dict.fromkeys(process_ids))
        held = self._grants.get(from_scope.id, {})
        missing = [pid for pid in wanted if pid not in held]
        if missing:
            raise LashError(
                codes.PROCESS_HANDLE_NOT_GRANTED,
                f"{from_scope.id} holds no grant for {', '.join(map(repr, missing))}",
            )
        if from_scope.id == to_scope.id:
            return
        for pid in wanted:
            grant = held[pid]
            self._drop_grant(from_scope.id, from_scope.session_id, pid)
            self._put_grant(
                to_scope, ProcessHandleGrant(to_scope.session_id, pid, grant.descriptor)
            )

    def delete_session_process_state(self, session_id: str) -> ProcessSessionDeleteReport:
        """Remove every grant of the session (all its scopes), clear wake targets pointing at it
        and drop its pending wake deliveries (``deleted_wake_count`` counts both; acknowledged
        wakes stay acknowledged). Processes are never cancelled: the live ones left with no
        grant are reported orphaned, the live ones still granted elsewhere preserved."""
        if _blank(session_id):
            raise LocalProtocolError(
                codes.PROCESS_SESSION_INVALID, "delete_session needs a non-blank session id"
            )
        touched: set[str] = set()
        revoked = 0
        for scope_id in sorted(self._session_scopes.get(session_id, ())):
            for pid in list(self._grants[scope_id]):
                self._drop_grant(scope_id, session_id, pid)
                touched.add(pid)
                revoked += 1
        woken = self._wake_targets.pop(session_id, set())
        for pid in woken:
            process = self._processes[pid]
            process.record = attrs.evolve(process.record, wake_target=None)
        dropped = [i for i, w in self._wakes.items() if w.target_session_id == session_id]
        for wake_id in dropped:
            del self._wakes[wake_id]
        orphaned: list[str] = []
        preserved: list[str] = []
        for pid in sorted(touched):
            if self._processes[pid].record.is_terminal:
                continue
            (preserved if pid in self._holders else orphaned).append(pid)
        return ProcessSessionDeleteReport(
            session_id=session_id,
            revoked_handle_count=revoked,
            deleted_wake_count=len(woken) + len(dropped),
            orphaned_process_ids=tuple(orphaned),
            preserved_process_ids=tuple(preserved),
        )
