"""The process registry as plain in-memory state.

A process is a registered record plus an append-only event log. The registry never reads a
clock and never waits: timestamps (``now_ms``) are inputs, and an await that cannot finish at
once is *parked* under an awaiter id. Every operation that can finish a process returns, with
its result, the awaiter ids it woke: a host sets one level-triggered event per woken awaiter,
then calls :meth:`ProcessRegistry.end_await`. Every operation validates its whole input before
it changes anything, so a refused call leaves the registry exactly as it was.

The registry is put together from parts, one per concern, each owning its own state:
:class:`~lash_core.process._registry_grants.GrantsMixin` (handle grants),
:class:`~lash_core.process._registry_leases.LeasesMixin` (leases),
:class:`~lash_core.process._registry_wakes.WakesMixin` (session wakes),
:class:`~lash_core.process._registry_event_waits.EventWaitsMixin` (awaiting the next matching
event) and :class:`~lash_core.process._registry_prune.PruneMixin` (abandon requests, pruning),
on top of :class:`~lash_core.process._state.RegistryBase` (the process table); this module adds
the registration, the event log and terminal awaiters. Mixins, not composed objects: the
registry is one state machine with one surface, every part checks the same process table, and
one terminal touches several parts at once (log, lease, awaiters), so cross-part steps stay
plain method calls while each part's state is changed only by its own module.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import attrs

from lash_core import codes, wire
from lash_core.effects.invocation import Replay
from lash_core.effects.replay_keys import (
    PROCESS_CANCEL_REQUESTED,
    process_cancel_requested_replay_key,
    process_event_invocation,
    process_terminal_replay_key,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.process._changes import ChangesMixin
from lash_core.process._registry_event_waits import EventWaitsMixin
from lash_core.process._registry_grants import GrantsMixin
from lash_core.process._registry_leases import LeasesMixin
from lash_core.process._registry_prune import PruneMixin
from lash_core.process._registry_wakes import WakesMixin
from lash_core.process._state import EventLog, ProcessState
from lash_core.process.authority import (
    AUTHORITY_TYPES,
    ProcessCompletionAuthority,
    check_completion_authority,
)
from lash_core.process.events import (
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventSemantics,
    ProcessWakeDelivery,
    SystemTime,
)
from lash_core.process.grants import (
    ProcessHandleGrant,
    ProcessSessionDeleteReport,
)
from lash_core.process.leases import ProcessLease, ProcessLeaseCompletion
from lash_core.process.lifecycle import (
    argument_error,
    blank,
    check_append_request,
    check_bool_filter,
    check_cursor,
    check_now,
    checked_value,
    is_await_output,
    is_signal,
    payload_error,
    status_of,
    terminal_event_type,
    terminal_status,
    wire_form,
    with_core_event_types,
)
from lash_core.process.records import (
    ProcessAwaitOutput,
    ProcessRecord,
    ProcessRegistration,
    ProcessStatus,
    RunningStatus,
    SessionScope,
    WaitState,
)
from lash_core.process.results import (
    NO_WAKE,
    Appended,
    AwaitParked,
    AwaitReady,
    AwaitStart,
    Registered,
)
from lash_core.process.rows import ProcessRows
from lash_core.process.schemas import check_payload
from lash_core.process.wakes import materialize_wake, wake_delivery
from lash_core.wire import JsonValue

__all__ = ["ProcessRegistry"]


def check_type(event_type: object) -> str:
    if type(event_type) is not str:
        raise argument_error("an event type is a string", event_type)
    return event_type


# -- the registry ----------------------------------------------------------------------------


class ProcessRegistry(
    GrantsMixin, LeasesMixin, WakesMixin, EventWaitsMixin, PruneMixin, ChangesMixin
):
    """Processes, their event logs, handle grants per session scope, leases and parked
    awaiters. With ``track_changes`` it logs the rows each operation changes, for
    :meth:`drain_changes`.

    Not thread-safe; one event loop drives it (through a host) or a test drives it directly.
    """

    def __init__(self, *, track_changes: bool = False) -> None:
        super().__init__()
        self._changes.tracking = track_changes
        # session id -> the processes whose wake target is that session.
        self._wake_targets: dict[str, set[str]] = {}
        self._awaiters: dict[int, str] = {}
        self._awaiting: dict[str, set[int]] = {}
        self._next_waiter = 1

    @classmethod
    def from_rows(cls, rows: ProcessRows, *, track_changes: bool = False) -> ProcessRegistry:
        """The registry ``rows`` (a store's ``process_rows()``) describe; with
        ``track_changes`` it records its changes from now on (:meth:`drain_changes`)."""
        r = rows
        parts = (r.records, r.events, r.grants, r.pending_wakes, r.acknowledged_wakes, r.leases)
        return cls.restore(
            *parts, r.acknowledged_wake_events, fences=r.fences, track_changes=track_changes
        )

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
        *,
        fences: Iterable[tuple[str, int]] = (),
        track_changes: bool = False,
    ) -> ProcessRegistry:
        """A registry rebuilt from durable rows: records as stored (their status projection is
        taken as written), events in log order, ``(scope, grant)`` pairs, pending wake
        deliveries in delivery order, the ids of acknowledged wakes, current leases, the
        ``(process id, sequence)`` of wake events acknowledged with :meth:`ack_wake`, and the
        last fencing token issued per process (the next holder gets the token after the
        highest of its lease's and its fence's). ``track_changes``: log changes from now on."""
        registry = cls()
        for record in records:
            registry._processes[record.id] = ProcessState(record)
            registry._index_wake_target(record)
            registry._changes.feed.touch(record.id)
        for event in events:
            registry._get(event.process_id).log(event)
        for scope, grant in grants:
            registry._put_grant(scope, grant)
        for delivery in pending_wakes:
            registry._wakes[delivery.wake_id] = delivery
        registry._acknowledged_wakes.update(acknowledged_wakes)
        for lease in leases:
            registry._restore_lease(lease)
        for pid, sequence in acknowledged_wake_events:
            registry._get(pid).acked_wakes.add(sequence)
        for pid, fence in fences:
            registry._restore_fence(pid, fence)
        registry._changes.tracking = track_changes
        return registry

    # -- reads -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._processes)

    def get(self, process_id: str) -> ProcessRecord | None:
        """The process's record, or ``None`` (``process_argument_invalid`` for a non-string)."""
        if type(process_id) is not str:
            raise argument_error("a process id is a string", process_id)
        process = self._processes.get(process_id)
        return None if process is None else process.record

    def record(self, process_id: str) -> ProcessRecord:
        """The process's record (``process_unknown`` if there is none)."""
        return self._get(process_id).record

    def events(self, process_id: str, after: int = 0) -> tuple[ProcessEvent, ...]:
        """The process's events with a sequence above ``after``, in order."""
        process = self._get(process_id)
        return tuple(process.events[max(check_cursor(after, "after"), 0) :])

    def event_count(self, process_id: str) -> int:
        """How many events the process's log holds."""
        return len(self._get(process_id).events)

    def recent_events(self, process_id: str, limit: int) -> tuple[ProcessEvent, ...]:
        """The last ``limit`` events of the log, oldest first."""
        events = self._get(process_id).events
        limit = check_cursor(limit, "limit")
        return tuple(events[-limit:]) if limit > 0 else ()

    def event_type_count(self, process_id: str, event_type: str) -> int:
        """How many ``event_type`` events the process's log holds (O(1))."""
        return self._get(process_id).counts.get(check_type(event_type), 0)

    def count_events(self, process_id: str, event_type: str, through: int) -> int:
        """How many ``event_type`` events the log holds with a sequence up to and including
        ``through`` (any int: below 1 counts none, past the end counts all), in O(log n)."""
        sequences = self._get(process_id).by_type.get(check_type(event_type), ())
        return bisect.bisect_right(sequences, check_cursor(through, "through"))

    def event_log(self, process_id: str) -> EventLog:
        """A read-only, live view of the process's log (nothing is copied)."""
        return EventLog(self._get(process_id))

    def event_type_ordinal(self, process_id: str, sequence: int) -> int:
        """Which of its type the event ``sequence`` is: how many events of that type the log
        holds up to and including it (O(1); ``process_argument_invalid`` for a sequence the
        log does not hold)."""
        process = self._get(process_id)
        if type(sequence) is not int or not 1 <= sequence <= len(process.events):
            raise argument_error(
                f"a sequence of process `{process_id}` is an int in 1..{len(process.events)}",
                sequence,
            )
        return process.ordinals[sequence - 1]

    def is_cancel_requested(self, process_id: str) -> bool:
        """Whether the log holds a ``process.cancel_requested`` event."""
        return self._get(process_id).cancel_requested

    def list_processes(
        self, *, terminal: bool | None = None, waiting: bool | None = None
    ) -> tuple[ProcessRecord, ...]:
        """Records sorted by id, optionally only terminal (or live) and only waiting (or not)."""
        check_bool_filter(terminal, "terminal")
        check_bool_filter(waiting, "waiting")
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
        check_now(now_ms)
        full = with_core_event_types(registration)
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
        self._processes[full.id] = ProcessState(record)
        self._index_wake_target(record)
        self._changes.record(full.id)
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
        ``process.cancel_requested`` events need a replay key; a terminal ends the process,
        clears its wait and wakes its awaiters. A process that has its terminal takes no new
        event (``process_already_terminal``) except a signal (``signal.{name}``), which is
        logged as the reference logs it: its sender cannot know the process ended.

        An event of a wake-declaring type carries its materialised wake; with a target scope
        (the request's ``wake_target_scope``, else the record's ``wake_target``) the result has
        its wake delivery, recorded as pending unless its wake id is pending or acknowledged
        already. A replayed event re-materialises the same delivery without recording it again.

        The whole request is checked, its payload normalised and hashed and the event and its
        delivery built before anything changes: a refused append leaves the registry as it was.
        """
        return self._append(process_id, request, now_ms, leased=False)

    def _append(
        self,
        process_id: str,
        request: ProcessEventAppendRequest,
        now_ms: int,
        *,
        leased: bool,
        output: ProcessAwaitOutput | None = None,
    ) -> Appended:
        check_now(now_ms)
        process = self._get(process_id)
        checked = check_append_request(process_id, request)
        event_type, payload, replay = checked.event_type, checked.payload, checked.replay
        target = checked.target if checked.target is not None else process.record.wake_target
        if replay is not None and replay.key in process.replays:
            recorded_hash, index = process.replays[replay.key]
            if checked.digest != recorded_hash:
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
                    process, event, status_of(terminal), now_ms, delivery, appended=False
                )
            return Appended(event, process.record, False, NO_WAKE, delivery)
        declared = process.types.get(event_type)
        if declared is None:
            raise LocalProtocolError(
                codes.PROCESS_EVENT_TYPE_UNDECLARED,
                f"process `{process_id}` does not declare event type {event_type!r}",
            )
        check_payload(process_id, declared, payload)
        needs_key = declared.terminal or event_type == PROCESS_CANCEL_REQUESTED
        if needs_key and (replay is None or not replay.key):
            raise LocalProtocolError(
                codes.PROCESS_EVENT_REPLAY_REQUIRED,
                f"process `{process_id}`: {event_type} events need a replay key",
            )
        status: ProcessStatus | None = None
        terminal = None
        if declared.terminal:
            # The typed output the payload was built from, unless normalising changed it.
            known = output if payload is request.payload else None
            status, terminal = terminal_status(process_id, declared, payload, known)
        if process.record.is_terminal and (declared.terminal or not is_signal(event_type)):
            raise LashError(
                codes.PROCESS_ALREADY_TERMINAL,
                f"process `{process_id}` is already terminal ({process.record.status.state}): "
                f"it takes no new {event_type} event",
            )
        if declared.terminal:
            check_completion_authority(process.record, event_type, payload, leased=leased)
        sequence = len(process.events) + 1
        wake = None
        if declared.wake is not None:
            wake = materialize_wake(process_id, sequence, event_type, payload, declared.wake)
        event = ProcessEvent(
            process_id=process_id,
            sequence=sequence,
            event_type=event_type,
            payload=payload,
            invocation=process_event_invocation(process_id, sequence, event_type, replay),
            semantics=ProcessEventSemantics(terminal, wake),
            occurred_at=SystemTime.from_ms(now_ms),
        )
        delivery = self._delivery(process, event, target)
        # Everything is checked and built: from here on nothing can fail.
        process.log(event, checked.digest)
        self._changes.event(process_id, sequence)
        if (
            delivery is not None
            and delivery.wake_id not in self._acknowledged_wakes
            and delivery.wake_id not in self._wakes
        ):
            self._wakes[delivery.wake_id] = delivery
            self._changes.wake(delivery.wake_id, added=True)
        if status is not None:
            return self._finish(process, event, status, now_ms, delivery, appended=True)
        process.record = process.record.touched(now_ms)
        self._changes.record(process_id)
        woken = self._wake_event_waiters(event, terminal=False)
        return Appended(event, process.record, True, woken, delivery)

    @staticmethod
    def _delivery(
        process: ProcessState, event: ProcessEvent, target: SessionScope | None
    ) -> ProcessWakeDelivery | None:
        if target is None:
            return None
        return wake_delivery(target, event, process.record.provenance.caused_by)

    def _finish(
        self,
        process: ProcessState,
        event: ProcessEvent,
        status: ProcessStatus,
        now_ms: int,
        delivery: ProcessWakeDelivery | None,
        *,
        appended: bool,
    ) -> Appended:
        process.record = process.record.ended(status, now_ms)
        self._changes.record(process.record.id)
        self._drop_lease(process.record.id)
        waiters = frozenset(self._awaiting.pop(process.record.id, None) or ())
        woken = waiters | self._wake_event_waiters(event, terminal=True)
        return Appended(event, process.record, appended, woken, delivery)

    def request_cancel(self, process_id: str, reason: str | None, now_ms: int) -> Appended:
        """Append ``process.cancel_requested`` with payload ``{"reason": reason}`` under a key
        derived from that payload: the same request again is deduplicated, another reason is a
        new event. Cancellation is a request the process's runner observes, not a status."""
        if reason is not None and not isinstance(reason, str):
            raise payload_error(process_id, PROCESS_CANCEL_REQUESTED, "reason must be a string")
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
        completion_authority: ProcessCompletionAuthority | JsonValue = None,
    ) -> Appended:
        """Append the core terminal event for ``output`` under the key
        ``process:{pid}:terminal:{event_type}``, without a lease: an ``owner_bound`` process
        needs ``completion_authority`` (a :data:`ProcessCompletionAuthority` or its wire
        form), which goes into the payload."""
        return self._terminal(process_id, output, now_ms, completion_authority, leased=False)

    def _terminal(
        self,
        process_id: str,
        output: ProcessAwaitOutput,
        now_ms: int,
        authority: ProcessCompletionAuthority | JsonValue,
        *,
        leased: bool,
    ) -> Appended:
        if not is_await_output(output):
            raise payload_error(process_id, "terminal", "needs a process await output")
        event_type = terminal_event_type(output)
        output_data = wire_form(output, codes.PROCESS_EVENT_PAYLOAD_INVALID, "an await output")
        payload: dict[str, JsonValue] = {"await_output": output_data}
        if isinstance(authority, AUTHORITY_TYPES):
            payload["completion_authority"] = wire.to_wire(authority)
        elif authority is not None:
            payload["completion_authority"] = authority
        request = ProcessEventAppendRequest(
            event_type, payload, Replay(process_terminal_replay_key(process_id, event_type))
        )
        return self._append(process_id, request, now_ms, leased=leased, output=output)

    def set_wait(self, process_id: str, wait: WaitState | None, now_ms: int) -> ProcessRecord:
        """Record (or with ``None`` clear) what a running process waits for."""
        check_now(now_ms)
        process = self._get(process_id)
        if wait is not None:
            if type(wait) is not WaitState:
                raise LocalProtocolError(
                    codes.PROCESS_EVENT_PAYLOAD_INVALID,
                    f"expected a WaitState, got {type(wait).__name__}",
                )
            wait = checked_value(wait, WaitState, codes.PROCESS_EVENT_PAYLOAD_INVALID, "a wait")
        if wait is not None and process.record.is_terminal:
            raise LashError(
                codes.PROCESS_ALREADY_TERMINAL,
                f"process `{process_id}` is terminal and cannot wait",
            )
        process.record = attrs.evolve(process.record, wait=wait, updated_at_ms=now_ms)
        self._changes.record(process_id)
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

    def complete_leased(
        self, completion: ProcessLeaseCompletion, output: ProcessAwaitOutput, now_ms: int
    ) -> Appended:
        """Append the process's terminal under its lease (a terminal releases the lease).

        The same completion again after it succeeded returns the recorded terminal (its replay
        key matches). Otherwise the lease must be current (``process_lease_lost``) and unexpired
        at ``now_ms`` (``process_lease_expired``); a refused completion changes nothing.
        """
        check_now(now_ms)
        if type(completion) is not ProcessLeaseCompletion:
            raise LocalProtocolError(
                codes.PROCESS_LEASE_INVALID,
                f"expected a ProcessLeaseCompletion, got {type(completion).__name__}",
            )
        pid = completion.process_id
        process = self._get(pid)
        if not is_await_output(output):
            raise payload_error(pid, "terminal", "needs a process await output")
        key = process_terminal_replay_key(pid, terminal_event_type(output))
        if key not in process.replays:
            self._check_completion(completion, now_ms)
        return self._terminal(pid, output, now_ms, None, leased=True)

    # -- sessions ------------------------------------------------------------------------------

    def delete_session_process_state(self, session_id: str) -> ProcessSessionDeleteReport:
        """Remove every grant of the session (all its scopes), clear wake targets pointing at it
        and drop its pending wake deliveries (``deleted_wake_count`` counts both; acknowledged
        wakes stay acknowledged). Processes are never cancelled: the live ones left with no
        grant are reported orphaned, the live ones still granted elsewhere preserved."""
        if blank(session_id):
            raise LocalProtocolError(
                codes.PROCESS_SESSION_INVALID, "delete_session needs a non-blank session id"
            )
        touched, revoked = self._revoke_session_grants(session_id)
        woken = self._wake_targets.pop(session_id, set())
        for pid in woken:
            process = self._processes[pid]
            process.record = attrs.evolve(process.record, wake_target=None)
            self._changes.record(pid)
        dropped = [i for i, w in self._wakes.items() if w.target_session_id == session_id]
        for wake_id in dropped:
            del self._wakes[wake_id]
            self._changes.wake(wake_id, dropped=True)
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
