"""What the registry's operations answer: a registration, an append, the start of an await."""

from __future__ import annotations

from typing import Final, TypeAlias

import attrs

from lash_core.process.events import ProcessEvent, ProcessWakeDelivery
from lash_core.process.records import ProcessAwaitOutput, ProcessRecord

__all__ = [
    "NO_WAKE",
    "Appended",
    "AwaitParked",
    "AwaitReady",
    "AwaitStart",
    "EventAwaitStart",
    "EventReady",
    "ProcessChange",
    "ProcessChanges",
    "ProcessPruneReport",
    "Registered",
]

NO_WAKE: Final[frozenset[int]] = frozenset()
"""No awaiter to wake."""


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
    """Not terminal yet: wait for the awaiter's wake, then
    :meth:`~lash_core.process.registry.ProcessRegistry.end_await`."""

    waiter_id: int


AwaitStart: TypeAlias = AwaitReady | AwaitParked


@attrs.frozen
class ProcessPruneReport:
    """What pruning finished processes removed: their ids (sorted), and how many leases,
    handle grants and pending wake deliveries went with them (their wake targets go too)."""

    pruned_process_ids: tuple[str, ...]
    released_lease_count: int
    revoked_grant_count: int
    dropped_wake_count: int


@attrs.frozen
class EventReady:
    """An event await that finished at once: the first matching event after the cursor, or
    ``None`` when the process is terminal and its log holds no match."""

    event: ProcessEvent | None


EventAwaitStart: TypeAlias = EventReady | AwaitParked
"""What :meth:`~lash_core.process.registry.ProcessRegistry.begin_event_await` answers."""


@attrs.frozen
class ProcessChange:
    """One process in the change feed: the cursor of its latest change, its id and its
    current record (``None`` when it was pruned)."""

    cursor: int
    process_id: str
    record: ProcessRecord | None


@attrs.frozen
class ProcessChanges:
    """What changed after a cursor, oldest first, and the cursor to read on from."""

    changes: tuple[ProcessChange, ...]
    cursor: int
