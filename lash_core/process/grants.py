"""Handle grants: which session scopes may address which processes, as values and as the
registry's grant part lives in :mod:`lash_core.process._registry_grants`."""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from lash_core import codes
from lash_core.errors import LocalProtocolError
from lash_core.process.lifecycle import argument_error, check_scope, checked_value
from lash_core.process.records import SessionScope
from lash_core.wire import omit_if_none

__all__ = [
    "HandleDescriptor",
    "ProcessHandleGrant",
    "ProcessListMode",
    "ProcessSessionDeleteReport",
    "ProcessStartGrant",
    "check_list",
    "check_transfer",
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


def check_list(scope: object, mode: object) -> ProcessListMode:
    """The mode, if a ``list`` of ``scope`` is well formed (the registry's errors otherwise):
    for a host that keeps a session's grants apart from the processes' registry."""
    check_scope(scope)
    return _check_mode(mode)


def check_transfer(from_scope: object, to_scope: object, process_ids: object) -> tuple[str, ...]:
    """The ids (in order, deduplicated) if a ``transfer`` is well formed (the registry's errors
    otherwise, before it looks at any grant): for a host that keeps a session's grants apart
    from the processes' registry."""
    check_scope(from_scope)
    check_scope(to_scope)
    return tuple(_check_ids(process_ids))


# -- the registry's grant part ---------------------------------------------------------------
