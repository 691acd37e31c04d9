"""The process registry's grants part: :class:`GrantsMixin`, mixed into
:class:`~lash_core.process.registry.ProcessRegistry` over its shared state."""

from __future__ import annotations

from collections.abc import Iterable

from lash_core import codes
from lash_core.errors import LashError
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessHandleGrant,
    ProcessListMode,
    _check_ids,
    _check_mode,
    validate_grant,
)
from lash_core.process.lifecycle import check_scope
from lash_core.process.records import ProcessRecord, SessionScope
from lash_core.process.state import RegistryBase

__all__ = ["GrantsMixin"]


class GrantsMixin(RegistryBase):
    """The handle grants of :class:`~lash_core.process.registry.ProcessRegistry`: which session
    scopes may address which processes."""

    def __init__(self) -> None:
        super().__init__()
        # scope id -> process id -> grant; session id -> its scope ids holding grants;
        # process id -> the scope ids holding a grant on it.
        self._grants: dict[str, dict[str, ProcessHandleGrant]] = {}
        self._session_scopes: dict[str, set[str]] = {}
        self._holders: dict[str, set[str]] = {}
        # scope id -> the scope its grants were last given to (what a store writes with them).
        self._scopes: dict[str, SessionScope] = {}

    def _put_grant(self, scope: SessionScope, grant: ProcessHandleGrant) -> None:
        scope_id = scope.id
        self._grants.setdefault(scope_id, {})[grant.process_id] = grant
        self._scopes[scope_id] = scope
        self._changes.grant(scope_id, grant.process_id)
        self._session_scopes.setdefault(scope.session_id, set()).add(scope_id)
        self._holders.setdefault(grant.process_id, set()).add(scope_id)

    def _drop_grant(self, scope_id: str, session_id: str, process_id: str) -> None:
        grants = self._grants[scope_id]
        del grants[process_id]
        self._changes.grant(scope_id, process_id)
        if not grants:
            del self._grants[scope_id]
            del self._scopes[scope_id]
            scopes = self._session_scopes[session_id]
            scopes.discard(scope_id)
            if not scopes:
                del self._session_scopes[session_id]
        holders = self._holders[process_id]
        holders.discard(scope_id)
        if not holders:
            del self._holders[process_id]

    def _revoke_session_grants(self, session_id: str) -> tuple[set[str], int]:
        """Drop every grant of the session's scopes: the process ids touched and the count."""
        touched: set[str] = set()
        revoked = 0
        for scope_id in sorted(self._session_scopes.get(session_id, ())):
            for pid in list(self._grants[scope_id]):
                self._drop_grant(scope_id, session_id, pid)
                touched.add(pid)
                revoked += 1
        return touched, revoked

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
        check_scope(scope)
        live = _check_mode(mode) is ProcessListMode.LIVE
        grants = self._grants.get(scope.id)
        if not grants:
            return ()
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
        check_scope(from_scope)
        check_scope(to_scope)
        wanted = _check_ids(process_ids)
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
