"""The process registry's retirement part: :class:`PruneMixin`, mixed into
:class:`~lash_core.process.registry.ProcessRegistry` over its shared state: abandon requests
on live processes, and pruning finished processes with everything that still points at them.

An **abandon request** is a durable note on a live process's record (``abandon_request``)
that someone wants it given up: the process's owner drains and writes its abandonment, or a
reconciler that finds the request writes ``process.abandoned`` with evidence
``reconciled_request`` under the ``reconciled_abandon`` completion authority.

**Pruning** removes a finished process for good: its record, its log and its acknowledged
wake events, and it releases what still refers to it: its lease, the handle grants on it, its
pending wake deliveries and its wake target. The last fencing token issued for it is kept, so
a process registered again under the same id never hands out a token an old holder has.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from lash_core import codes
from lash_core.errors import LashError
from lash_core.process._state import RegistryBase
from lash_core.process.events import ProcessWakeDelivery
from lash_core.process.grants import ProcessHandleGrant
from lash_core.process.leases import ProcessLease
from lash_core.process.lifecycle import argument_error, blank, check_now
from lash_core.process.records import ProcessRecord
from lash_core.process.results import ProcessPruneReport
from lash_core.wire import JsonValue

__all__ = ["PruneMixin"]


class PruneMixin(RegistryBase):
    """Abandon requests and pruning (reads the state the other parts own, declared here for
    the type checker only)."""

    _grants: dict[str, dict[str, ProcessHandleGrant]]
    _holders: dict[str, set[str]]
    _leases: dict[str, ProcessLease]
    _wakes: dict[str, ProcessWakeDelivery]
    _wake_targets: dict[str, set[str]]
    _awaiters: dict[int, str]

    def _drop_grant(self, scope_id: str, session_id: str, process_id: str) -> None:
        raise NotImplementedError  # pragma: no cover - GrantsMixin's

    def _drop_lease(self, process_id: str) -> None:
        raise NotImplementedError  # pragma: no cover - LeasesMixin's

    def _event_awaited(self) -> set[str]:
        raise NotImplementedError  # pragma: no cover - EventWaitsMixin's

    def request_abandon(
        self, process_id: str, requested_by: str, reason: str | None, now_ms: int
    ) -> ProcessRecord:
        """Record on a live process's record that ``requested_by`` asks for it to be abandoned
        (``abandon_request``: ``{"requested_by", "reason", "requested_at_ms"}``). The first
        request stands: asking again returns the record unchanged. A finished process takes no
        request (``process_already_terminal``)."""
        check_now(now_ms)
        process = self._get(process_id)
        if blank(requested_by):
            raise argument_error(
                "an abandon request names who asks (a non-blank string)", requested_by
            )
        if reason is not None and type(reason) is not str:
            raise argument_error("an abandon reason is a string or None", reason)
        if process.record.is_terminal:
            raise LashError(
                codes.PROCESS_ALREADY_TERMINAL,
                f"process `{process_id}` is already terminal: there is nothing to abandon",
            )
        if process.record.abandon_request is None:
            request: dict[str, JsonValue] = {
                "requested_by": requested_by,
                "reason": reason,
                "requested_at_ms": now_ms,
            }
            process.record = attrs.evolve(
                process.record, abandon_request=request, updated_at_ms=now_ms
            )
            self._changes.record(process_id)
        return process.record

    def abandon_requested(self) -> tuple[ProcessRecord, ...]:
        """The live processes with an abandon request, sorted by id (what a reconciler
        abandons)."""
        return tuple(
            self._processes[pid].record
            for pid in sorted(self._processes)
            if self._processes[pid].record.abandon_request is not None
            and not self._processes[pid].record.is_terminal
        )

    def prune_processes(self, process_ids: Iterable[str]) -> ProcessPruneReport:
        """Remove these finished processes and release their leases, grants and wakes, all or
        none: ``process_unknown`` for an id not registered, ``process_not_prunable`` for a
        process still running or with a woken awaiter not ended yet (nothing is pruned then)."""
        if isinstance(process_ids, str | bytes):
            raise argument_error("process ids are an iterable of strings", process_ids)
        try:
            wanted = sorted(set(process_ids))
        except TypeError:
            raise argument_error("process ids are an iterable of strings", process_ids) from None
        awaited = set(self._awaiters.values()) | self._event_awaited()
        for pid in wanted:
            if type(pid) is not str:
                raise argument_error("a process id is a string", pid)
            if not self._get(pid).record.is_terminal:
                raise LashError(
                    codes.PROCESS_NOT_PRUNABLE,
                    f"process `{pid}` is still running: only finished processes are pruned",
                )
            if pid in awaited:
                raise LashError(
                    codes.PROCESS_NOT_PRUNABLE,
                    f"process `{pid}` has an awaiter that has not ended its await yet: end it "
                    "first (end_await), then prune",
                )
        leases = grants = wakes = 0
        for pid in wanted:
            leases += pid in self._leases
            self._drop_lease(pid)
            for scope_id in sorted(self._holders.get(pid, ())):
                session_id = self._grants[scope_id][pid].session_id
                self._drop_grant(scope_id, session_id, pid)
                grants += 1
            for wake_id in [w for w, d in self._wakes.items() if d.process_id == pid]:
                del self._wakes[wake_id]
                self._changes.wake(wake_id, dropped=True)
                wakes += 1
            target = self._processes[pid].record.wake_target
            if target is not None:
                targets = self._wake_targets[target.session_id]
                targets.discard(pid)
                if not targets:
                    del self._wake_targets[target.session_id]
            del self._processes[pid]
            self._changes.pruned(pid)
        return ProcessPruneReport(tuple(wanted), leases, grants, wakes)

    def prune_finished(self, before_ms: int) -> ProcessPruneReport:
        """Prune every finished process whose record was last updated (by its terminal, or
        later) before ``before_ms``, as :meth:`prune_processes` does."""
        check_now(before_ms)
        return self.prune_processes(
            pid
            for pid, p in self._processes.items()
            if p.record.is_terminal and p.record.updated_at_ms < before_ms
        )
