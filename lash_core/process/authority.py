"""Completion authority: who may write a process's terminal without holding its lease.

A terminal written under the process's lease (:meth:`ProcessRegistry.complete_leased
<lash_core.process.ProcessRegistry.complete_leased>`) needs nothing more. A terminal written
without one carries, for an ``owner_bound`` process, an explicit
:data:`ProcessCompletionAuthority` in its payload's ``completion_authority`` (tag
``authority``):

* ``external_owner{granted_to}``: the owner outside lash that the work was granted to (only
  for an ``externally_owned`` process);
* ``workflow_key{workflow_key}``: the workflow that owns the process, by its key;
* ``reconciled_abandon``: a reconciliation that found the process abandoned (only for the
  ``process.abandoned`` terminal).

An authority that is given is checked whatever the disposition, so an authority never claims
more than it may. A refusal is ``process_completion_unauthorized`` and logs nothing.
"""

from __future__ import annotations

from typing import ClassVar, TypeAlias

import attrs

from lash_core import codes, wire
from lash_core.errors import LashError
from lash_core.process.lifecycle import payload_error
from lash_core.process.records import ProcessRecord, RecoveryDisposition
from lash_core.wire import JsonValue

__all__ = [
    "AUTHORITY_TYPES",
    "ExternalOwnerAuthority",
    "ProcessCompletionAuthority",
    "ReconciledAbandonAuthority",
    "WorkflowKeyAuthority",
    "check_completion_authority",
]

_ABANDONED = "process.abandoned"


@attrs.frozen
class ExternalOwnerAuthority:
    """The work was granted to an owner outside lash, who completes it."""

    authority: ClassVar[str] = "external_owner"
    granted_to: str


@attrs.frozen
class WorkflowKeyAuthority:
    """The workflow with this key owns the process and completes it."""

    authority: ClassVar[str] = "workflow_key"
    workflow_key: str


@attrs.frozen
class ReconciledAbandonAuthority:
    """A reconciliation found the process abandoned and writes its abandonment."""

    authority: ClassVar[str] = "reconciled_abandon"


ProcessCompletionAuthority: TypeAlias = (
    ExternalOwnerAuthority | WorkflowKeyAuthority | ReconciledAbandonAuthority
)
"""Who may complete a process without its lease (tag ``authority``)."""

wire.tagged_union(
    ProcessCompletionAuthority,
    "authority",
    {
        "external_owner": ExternalOwnerAuthority,
        "workflow_key": WorkflowKeyAuthority,
        "reconciled_abandon": ReconciledAbandonAuthority,
    },
)


AUTHORITY_TYPES = (ExternalOwnerAuthority, WorkflowKeyAuthority, ReconciledAbandonAuthority)
"""The classes of :data:`ProcessCompletionAuthority` (for ``isinstance``)."""


def _refused(pid: str, detail: str) -> LashError:
    return LashError(
        codes.PROCESS_COMPLETION_UNAUTHORIZED,
        f"process `{pid}`: cannot write its terminal {detail}",
    )


def check_completion_authority(
    record: ProcessRecord, event_type: str, payload: JsonValue, *, leased: bool
) -> None:
    """Raise unless a new terminal ``event_type`` with ``payload`` may be written for the
    process of ``record``: ``leased`` when it is written under the process's current lease."""
    pid = record.id
    raw = payload.get("completion_authority") if isinstance(payload, dict) else None
    if raw is None:
        if not leased and record.disposition is RecoveryDisposition.OWNER_BOUND:
            raise _refused(
                pid,
                "without its lease: an owner_bound process is completed under its lease or "
                "with a completion_authority",
            )
        return
    try:
        authority = wire.from_wire(raw, ProcessCompletionAuthority)
    except LashError as exc:
        detail = f"has an invalid completion_authority: {exc.message}"
        raise payload_error(pid, event_type, detail) from None
    if isinstance(authority, ReconciledAbandonAuthority) and event_type != _ABANDONED:
        raise _refused(pid, f"as {event_type}: reconciled_abandon only writes an abandonment")
    if (
        isinstance(authority, ExternalOwnerAuthority)
        and record.disposition is not RecoveryDisposition.EXTERNALLY_OWNED
    ):
        raise _refused(
            pid,
            f"with external_owner authority: its disposition is {record.disposition.value}, "
            "not externally_owned",
        )
