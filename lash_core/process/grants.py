"""Handle grants: which session scopes may address which processes, as values and as the
registry's grant part (:class:`GrantsMixin`)."""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError
from lash_core.process.lifecycle import argument_error, check_scope, checked_value
from lash_core.process.records import ProcessRecord, SessionScope
from lash_core.process.state import RegistryBase
from lash_core.wire import omit_if_none

__all__ = [
    "GrantsMixin",
    "HandleDescriptor",
    "ProcessHandleGrant",
    "ProcessListMode",
    "ProcessSessionDeleteReport",
    "ProcessStartGrant",
    "validate_grant",
]


class ProcessListMode(enum.StrEnum):
    """Which processes a list returns: ``live`` ones (not terminal) or ``all``."""

    LIVE = "live"
    ALL = "all"


# -- grants ----------------------------------------------------------------------------------


@attrs.frozen
class HandleDescriptor:
    """How a session shows a process handle."""

    kind: str | None = omit_if_none()
    label: str | None = omit_if_none()


@attrs.frozen
class ProcessHandleGrant:
    """A session scope's right to address a process."""

    session_id: str
    process_id: str
    descriptor: HandleDescriptor


@attrs.frozen
class ProcessStartGrant:
    """The grant to create together with a started process."""

    session_scope: SessionScope
    descriptor: HandleDescriptor


@attrs.frozen
class ProcessSessionDeleteReport:
    """What deleting a session's process state did. Processes are never cancelled: the
    non-terminal ones left without any grant are ``orphaned``, the ones still granted
    elsewhere ``preserved``."""

    session_id: str
    revoked_handle_count: int
    deleted_wake_count: int
    orphaned_process_ids: tuple[str, ...]
    preserved_process_ids: tuple[str, ...]


# -- validation ------------------------------------------------------------------------------


def validate_grant(scope: object, descriptor: object) -> None:
    """Raise ``process_session_invalid`` unless ``scope`` is a session scope with a non-blank
    session id and ``descriptor`` a handle descriptor (its kind and label strings or None)."""
    check_scope(scope)
    if type(descriptor) is not HandleDescriptor:
        raise LocalProtocolError(
            codes.PROCESS_SESSION_INVALID,
            f"expected a HandleDescriptor, got {type(descriptor).__name__}",
        )
    checked_value(descriptor, HandleDescriptor, codes.PROCESS_SESSION_INVALID, "a descriptor")


def _check_mode(mode: object) -> ProcessListMode:
    if type(mode) is not ProcessListMode:
        raise argument_error("a list mode is a ProcessListMode", mode)
    return mode


def _check_ids(process_ids: object) -> list[str]:
    """The ids, in order and deduplicated, if ``process_ids`` is an iterable of strings (and
    not a string itself)."""
    if isinstance(process_ids, str | bytes) or not isinstance(process_ids, Iterable):
        raise argument_error("process ids are an iterable of strings", process_ids)
    ids = list(process_ids)
    for pid in ids:
        if type(pid) is not str:
            raise argument_error("process ids are an iterable of strings", pid)
    return list(dict.fromkeys(ids))


# -- the registry's grant part ---------------------------------------------------------------


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
