"""The durable rows of a process registry: what a store writes and what it gives back."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from lash_core.process.events import ProcessEvent, ProcessWakeDelivery
from lash_core.process.grants import ProcessHandleGrant
from lash_core.process.leases import ProcessLease
from lash_core.process.records import ProcessRecord, SessionScope
from lash_core.wire import from_json

__all__ = ["ProcessRows"]


@attrs.frozen
class ProcessRows:
    """The durable rows of a :class:`~lash_core.process.ProcessRegistry`, in the shape
    :meth:`~lash_core.process.ProcessRegistry.restore` takes them: records, events in log order,
    ``(scope, grant)`` pairs, pending wake deliveries in delivery order, acknowledged wake ids,
    current leases, ``(process id, sequence)`` of acknowledged wake events, and
    ``(process id, fencing token)``: the last token issued per process, kept after its lease
    ends so the next holder never reuses a token.

    A change set (:meth:`~lash_core.process.ProcessRegistry.drain_changes`) also names what to
    delete: ``removed_grants`` as ``(scope id, process id)``, ``dropped_wakes`` (pending wakes
    dropped unacknowledged; one pending again is listed in ``pending_wakes`` too, and goes to
    the end of the delivery order), ``released_leases`` (process ids) and ``pruned_processes``
    (process ids whose record, events and acknowledged wake events are deleted; their grants,
    wakes and leases are named in the other deletions, their fence stays).

    :meth:`DurableStore.save_process_rows` applies them in one transaction: the deletions
    first, then the upserts (a record, grant, lease or fence replaces the stored one with its
    key; an event, a wake or an acknowledgement is written once);
    :meth:`DurableStore.process_rows` reads every row back (with no deletions).
    """

    records: tuple[ProcessRecord, ...] = ()
    events: tuple[ProcessEvent, ...] = ()
    grants: tuple[tuple[SessionScope, ProcessHandleGrant], ...] = ()
    pending_wakes: tuple[ProcessWakeDelivery, ...] = ()
    acknowledged_wakes: tuple[str, ...] = ()
    leases: tuple[ProcessLease, ...] = ()
    acknowledged_wake_events: tuple[tuple[str, int], ...] = ()
    fences: tuple[tuple[str, int], ...] = ()
    removed_grants: tuple[tuple[str, str], ...] = ()
    dropped_wakes: tuple[str, ...] = ()
    released_leases: tuple[str, ...] = ()
    pruned_processes: tuple[str, ...] = ()

    @property
    def row_count(self) -> int:
        """How many rows these are (upserts and deletions): what saving them costs."""
        return sum(len(part) for part in attrs.astuple(self, recurse=False))


def decode_process_rows(
    *,
    records: Iterable[tuple[str]],
    events: Iterable[tuple[str]],
    grants: Iterable[tuple[str, str]],
    pending_wakes: Iterable[tuple[str]],
    acknowledged_wakes: Iterable[tuple[str]],
    leases: Iterable[tuple[str]],
    acknowledged_wake_events: Iterable[tuple[str, int]],
    fences: Iterable[tuple[str, int]],
) -> ProcessRows:
    """The :class:`ProcessRows` a store's tables hold, from the rows its queries return in
    order: one JSON text per record, event, pending wake and lease, ``(scope JSON, grant JSON)``
    per grant, a wake id per acknowledged wake, ``(process id, sequence)`` per acknowledged wake
    event and ``(process id, fencing token)`` per fence. A text that does not decode raises the
    wire's :class:`~lash_core.errors.WireDecodeError` (a store reports it as corrupt)."""
    return ProcessRows(
        records=tuple(from_json(text, ProcessRecord) for (text,) in records),
        events=tuple(from_json(text, ProcessEvent) for (text,) in events),
        grants=tuple(
            (from_json(scope, SessionScope), from_json(grant, ProcessHandleGrant))
            for scope, grant in grants
        ),
        pending_wakes=tuple(from_json(text, ProcessWakeDelivery) for (text,) in pending_wakes),
        acknowledged_wakes=tuple(wake_id for (wake_id,) in acknowledged_wakes),
        leases=tuple(from_json(text, ProcessLease) for (text,) in leases),
        acknowledged_wake_events=tuple((pid, seq) for pid, seq in acknowledged_wake_events),
        fences=tuple((pid, token) for pid, token in fences),
    )
