"""The registry's change stream: which durable rows each operation changed, so a durable host
writes only those after each operation (in one transaction), never the whole registry.

Every part of the registry marks what it changes (a record, an event, a grant, a wake, a lease,
an acknowledged wake event) in the :class:`~lash_core.process._state.ChangeLog` that
:class:`~lash_core.process._state.RegistryBase` holds. :meth:`ChangesMixin.drain_changes` turns
the marks into :class:`~lash_core.process.rows.ProcessRows` by reading the current state of each
marked key (present: upsert it; gone: delete it), so a key changed many times is written once,
and a drain costs in proportion to what changed. Parked awaiters are not durable (their ids
belong to the running process) and are never marked.
"""

from __future__ import annotations

from lash_core.process._state import ChangeLog, RegistryBase
from lash_core.process.events import ProcessWakeDelivery
from lash_core.process.grants import ProcessHandleGrant
from lash_core.process.leases import ProcessLease
from lash_core.process.lifecycle import argument_error, check_cursor
from lash_core.process.records import SessionScope
from lash_core.process.results import ProcessChange, ProcessChanges
from lash_core.process.rows import ProcessRows

__all__ = ["ChangesMixin"]


class ChangesMixin(RegistryBase):
    """The change stream of :class:`~lash_core.process.registry.ProcessRegistry`. It reads the
    state the other parts own (declared here for the type checker only)."""

    _grants: dict[str, dict[str, ProcessHandleGrant]]
    _scopes: dict[str, SessionScope]
    _wakes: dict[str, ProcessWakeDelivery]
    _acknowledged_wakes: set[str]
    _leases: dict[str, ProcessLease]
    _fences: dict[str, int]

    @property
    def tracks_changes(self) -> bool:
        """Whether the registry records its changes for :meth:`drain_changes`."""
        return self._changes.tracking

    def drain_changes(self) -> ProcessRows:
        """The rows changed since the last drain, as upserts and deletions for
        :meth:`~lash_core.store.DurableStore.save_process_rows`; the log is then empty.

        A registry that was not tracking its changes answers every row (the whole registry,
        once) and tracks them from then on."""
        log = self._changes
        if not log.tracking:
            self._changes = ChangeLog(tracking=True, feed=log.feed)
            return self.all_rows()
        self._changes = ChangeLog(tracking=True, feed=log.feed)
        processes = self._processes
        grants: list[tuple[SessionScope, ProcessHandleGrant]] = []
        removed: list[tuple[str, str]] = []
        for scope_id, pid in log.grants:
            grant = self._grants.get(scope_id, {}).get(pid)
            if grant is None:
                removed.append((scope_id, pid))
            else:
                grants.append((self._scopes[scope_id], grant))
        leases = [self._leases[pid] for pid in log.leases if pid in self._leases]
        return ProcessRows(
            records=tuple(processes[pid].record for pid in log.records),
            events=tuple(processes[pid].events[seq - 1] for pid, seq in log.events),
            grants=tuple(grants),
            # A marked wake still pending was added since the last drain, and the log keeps
            # those in the order they were added: the delivery order.
            pending_wakes=tuple(self._wakes[w] for w in log.wakes if w in self._wakes),
            acknowledged_wakes=tuple(w for w in log.wakes if w in self._acknowledged_wakes),
            leases=tuple(leases),
            acknowledged_wake_events=tuple(log.acked_events),
            fences=tuple((pid, self._fences[pid]) for pid in log.leases if pid in self._fences),
            removed_grants=tuple(removed),
            dropped_wakes=tuple(w for w in log.dropped_wakes if w not in self._acknowledged_wakes),
            released_leases=tuple(pid for pid in log.leases if pid not in self._leases),
            pruned_processes=tuple(log.pruned_ids),
        )

    @property
    def change_cursor(self) -> int:
        """The change feed's cursor now: :meth:`changes_after` it answers what changes next."""
        return self._changes.feed.cursor

    def changes_after(self, cursor: int, limit: int | None = None) -> ProcessChanges:
        """The change feed: the processes that changed after ``cursor`` (their record, log,
        lease or pruning), each once with its latest change and its current record (``None``:
        pruned), oldest change first, at most ``limit`` of them; and the cursor to read on
        from. Cursors count changes since this registry was built: a registry restored from a
        store starts a new feed, in which every restored process has changed once."""
        cursor = check_cursor(cursor, "a change cursor")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise argument_error("a change limit is a positive int or None", limit)
        feed = self._changes.feed
        newer: list[tuple[str, int]] = []
        for pid in reversed(feed.latest):
            changed = feed.latest[pid]
            if changed <= cursor:
                break
            newer.append((pid, changed))
        newer.reverse()
        if limit is not None:
            newer = newer[:limit]
        changes = tuple(
            ProcessChange(
                changed, pid, None if pid not in self._processes else self._processes[pid].record
            )
            for pid, changed in newer
        )
        last = changes[-1].cursor if limit is not None and changes else max(cursor, feed.cursor)
        return ProcessChanges(changes, last)

    def all_rows(self) -> ProcessRows:
        """Every durable row of the registry (what :meth:`restore` rebuilds it from)."""
        processes = self._processes.values()
        return ProcessRows(
            records=tuple(p.record for p in processes),
            events=tuple(e for p in processes for e in p.events),
            grants=tuple(
                (self._scopes[scope_id], grant)
                for scope_id, by_pid in self._grants.items()
                for grant in by_pid.values()
            ),
            pending_wakes=tuple(self._wakes.values()),
            acknowledged_wakes=tuple(sorted(self._acknowledged_wakes)),
            leases=tuple(self._leases.values()),
            acknowledged_wake_events=tuple(
                (p.record.id, seq) for p in processes for seq in sorted(p.acked_wakes)
            ),
            fences=tuple(self._fences.items()),
        )
