"""The state the registry's parts share: each process's record and log, and the base class
that owns the process table (see :mod:`lash_core.process.registry` for how the parts
combine)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from lash_core import codes
from lash_core.effects.replay_keys import PROCESS_CANCEL_REQUESTED, process_event_payload_hash
from lash_core.errors import LashError
from lash_core.process.events import ProcessEvent
from lash_core.process.records import ProcessRecord

__all__ = ["ChangeFeed", "ChangeLog", "EventLog", "ProcessState", "RegistryBase"]


class ProcessState:
    """One process: its record, its log, the replay keys of its log and, per event type, how
    many events of that type the log holds (``counts``), which of its type each event is
    (``ordinals``, 1-based, by log index), so a signal's ordinal is read in O(1), and the
    sequences of each type in order (``by_type``), so events are counted through a sequence
    in O(log n)."""

    __slots__ = (
        "acked_wakes",
        "by_type",
        "cancel_requested",
        "counts",
        "events",
        "ordinals",
        "record",
        "replays",
        "types",
    )

    def __init__(self, record: ProcessRecord) -> None:
        self.record = record
        self.types = {t.name: t for t in record.event_types}
        self.events: list[ProcessEvent] = []
        self.replays: dict[str, tuple[str, int]] = {}
        self.counts: dict[str, int] = {}
        self.ordinals: list[int] = []
        self.by_type: dict[str, list[int]] = {}
        self.cancel_requested = False
        self.acked_wakes: set[int] = set()

    def log(self, event: ProcessEvent, digest: str | None = None) -> None:
        """Append ``event``; ``digest`` is its payload hash (computed here when not given, as
        for restored events; an append computes it before it changes anything)."""
        replay = event.invocation.replay
        if replay is not None and digest is None:
            digest = process_event_payload_hash(event.event_type, event.payload)
        self.events.append(event)
        if replay is not None:
            assert digest is not None
            self.replays[replay.key] = (digest, len(self.events) - 1)
        count = self.counts.get(event.event_type, 0) + 1
        self.counts[event.event_type] = count
        self.ordinals.append(count)
        self.by_type.setdefault(event.event_type, []).append(event.sequence)
        if event.event_type == PROCESS_CANCEL_REQUESTED:
            self.cancel_requested = True


class EventLog(Sequence[ProcessEvent]):
    """A read-only, live view of one process's log (no copy): its events in order, and
    :meth:`ordinal`, which of its type an event is, read in O(1)."""

    __slots__ = ("_process",)

    def __init__(self, process: ProcessState) -> None:
        self._process = process

    def __len__(self) -> int:
        return len(self._process.events)

    @overload
    def __getitem__(self, index: int) -> ProcessEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ProcessEvent]: ...
    def __getitem__(self, index: int | slice) -> ProcessEvent | Sequence[ProcessEvent]:
        return self._process.events[index]

    def ordinal(self, sequence: int) -> int:
        """How many events of the type of event ``sequence`` the log holds up to and including
        it (``IndexError`` for a sequence the log does not hold)."""
        if not 1 <= sequence <= len(self._process.events):
            raise IndexError(sequence)
        return self._process.ordinals[sequence - 1]


class ChangeFeed:
    """The change feed's state: a counter bumped by every change of a process (its record, its
    log, its lease, its pruning) and, per process, the counter of its latest change, kept in
    that order (a changed process moves to the end), so the processes changed after a cursor
    are read from the end in proportion to how many there are."""

    __slots__ = ("cursor", "latest")

    def __init__(self) -> None:
        self.cursor = 0
        self.latest: dict[str, int] = {}

    def touch(self, process_id: str) -> None:
        self.cursor += 1
        self.latest.pop(process_id, None)
        self.latest[process_id] = self.cursor


class ChangeLog:
    """The keys changed since the last drain (each in first-change order). Marks are dropped
    while ``tracking`` is off (a registry nobody saves keeps no log); the change ``feed``
    (kept across drains) is fed either way."""

    __slots__ = (
        "acked_events",
        "dropped_wakes",
        "events",
        "feed",
        "grants",
        "leases",
        "pruned_ids",
        "records",
        "tracking",
        "wakes",
    )

    def __init__(self, tracking: bool = False, feed: ChangeFeed | None = None) -> None:
        self.tracking = tracking
        self.feed = ChangeFeed() if feed is None else feed
        self.records: dict[str, None] = {}
        self.events: dict[tuple[str, int], None] = {}
        self.grants: dict[tuple[str, str], None] = {}
        self.wakes: dict[str, None] = {}
        self.dropped_wakes: dict[str, None] = {}
        self.leases: dict[str, None] = {}
        self.acked_events: dict[tuple[str, int], None] = {}
        self.pruned_ids: dict[str, None] = {}

    def record(self, process_id: str) -> None:
        self.feed.touch(process_id)
        if self.tracking:
            self.records[process_id] = None

    def event(self, process_id: str, sequence: int) -> None:
        if self.tracking:
            self.events[(process_id, sequence)] = None

    def grant(self, scope_id: str, process_id: str) -> None:
        if self.tracking:
            self.grants[(scope_id, process_id)] = None

    def wake(self, wake_id: str, *, added: bool = False, dropped: bool = False) -> None:
        """Mark a wake changed; one ``added`` to the pending wakes moves to the end of the
        marks, so the marks of pending wakes keep their delivery order."""
        if self.tracking:
            if added:
                self.wakes.pop(wake_id, None)
            self.wakes[wake_id] = None
            if dropped:
                self.dropped_wakes[wake_id] = None

    def lease(self, process_id: str) -> None:
        self.feed.touch(process_id)
        if self.tracking:
            self.leases[process_id] = None

    def acked_event(self, process_id: str, sequence: int) -> None:
        if self.tracking:
            self.acked_events[(process_id, sequence)] = None

    def pruned(self, process_id: str) -> None:
        """Mark a process pruned: its record, log and acknowledgements are deleted, and the
        marks of its rows made before are forgotten (a process registered again under the id
        is marked afresh)."""
        self.feed.touch(process_id)
        if self.tracking:
            self.pruned_ids[process_id] = None
            self.records.pop(process_id, None)
            for marks in (self.events, self.acked_events):
                for key in [k for k in marks if k[0] == process_id]:
                    del marks[key]


class RegistryBase:
    """The process table every part of the registry reads, and the log of changed rows every
    part marks (see :mod:`lash_core.process._changes`). Each part (mixin) initialises its own
    state in ``__init__`` and calls ``super().__init__()``."""

    def __init__(self) -> None:
        self._processes: dict[str, ProcessState] = {}
        self._changes = ChangeLog()

    def _get(self, process_id: str) -> ProcessState:
        process = self._processes.get(process_id) if isinstance(process_id, str) else None
        if process is None:
            raise LashError(codes.PROCESS_UNKNOWN, f"unknown process `{process_id}`")
        return process
