"""The process registry's wakes part: :class:`WakesMixin`, mixed into
:class:`~lash_core.process.registry.ProcessRegistry` over its shared state: the pending wake
deliveries per session scope, the acknowledged wake ids, and each process's own stream of
wake events with their acknowledgements."""

from __future__ import annotations

from lash_core import codes
from lash_core.errors import LocalProtocolError
from lash_core.process._state import RegistryBase
from lash_core.process.events import ProcessEvent, ProcessWakeDelivery
from lash_core.process.lifecycle import argument_error, check_cursor, check_scope
from lash_core.process.records import SessionScope

__all__ = ["WakesMixin"]


class WakesMixin(RegistryBase):
    """The wakes of :class:`~lash_core.process.registry.ProcessRegistry`."""

    def __init__(self) -> None:
        super().__init__()
        # wake id -> its pending delivery (in delivery order); acknowledged wake ids.
        self._wakes: dict[str, ProcessWakeDelivery] = {}
        self._acknowledged_wakes: set[str] = set()

    def pending_wakes(self, scope: SessionScope) -> tuple[ProcessWakeDelivery, ...]:
        """The wake deliveries for exactly this scope not acknowledged yet, in delivery order
        (one per wake id: a later event with the same dedupe key is not delivered again)."""
        scope_id = check_scope(scope).id
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
        self._changes.wake(wake_id)
        return delivery

    def wake_events_after(self, process_id: str, after: int = 0) -> tuple[ProcessEvent, ...]:
        """The process's events that materialised a wake, with a sequence above ``after`` and
        not acknowledged with :meth:`ack_wake`, in order (whether or not a session was
        targeted: this is the process's own stream of wakes)."""
        process = self._get(process_id)
        start = max(check_cursor(after, "after"), 0)
        return tuple(
            e
            for e in process.events[start:]
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
        if sequence not in process.acked_wakes:
            process.acked_wakes.add(sequence)
            self._changes.acked_event(process_id, sequence)

    def is_wake_acknowledged(self, wake_id: str) -> bool:
        """Whether the wake with this id was acknowledged."""
        if type(wake_id) is not str:
            raise argument_error("a wake id is a string", wake_id)
        return wake_id in self._acknowledged_wakes
