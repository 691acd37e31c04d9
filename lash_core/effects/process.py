"""The ``process`` effect: its commands (tag ``op``) and outcomes (tag ``op``).

The values they carry (registrations, records, events, grants, leases) live in
:mod:`lash_core.process` (``records``, ``events``, ``grants``, ``leases``); shapes follow the
reference's process model.
"""

from __future__ import annotations

from typing import ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.canonical import canonical_bytes_of, sha256_hex
from lash_core.effects.invocation import Invocation
from lash_core.errors import LashError
from lash_core.process.events import ProcessEvent, ProcessEventAppendRequest
from lash_core.process.grants import (
    ProcessHandleGrant,
    ProcessListMode,
    ProcessSessionDeleteReport,
    ProcessStartGrant,
)
from lash_core.process.records import (
    ProcessAwaitOutput,
    ProcessRecord,
    ProcessRegistration,
    SessionScope,
)
from lash_core.wire import omit_if_none

__all__ = [
    "ProcessAwait",
    "ProcessAwaited",
    "ProcessCancel",
    "ProcessCancelled",
    "ProcessCommand",
    "ProcessDeleteSession",
    "ProcessEffectOutcome",
    "ProcessExecutionContext",
    "ProcessList",
    "ProcessListed",
    "ProcessSessionDeleted",
    "ProcessSignalSend",
    "ProcessSignalled",
    "ProcessStart",
    "ProcessStarted",
    "ProcessTransfer",
    "ProcessTransferred",
]


@attrs.frozen
class ProcessExecutionContext:
    """Execution-local context of a start: the invocation that caused it."""

    causal_invocation: Invocation | None = omit_if_none()


# -- commands (tag op) -----------------------------------------------------------------------


def _empty_context_to_none(start: ProcessStart) -> None:
    context = start.execution_context
    if context is not None and context.causal_invocation is None:
        object.__setattr__(start, "execution_context", None)


@attrs.frozen
class ProcessStart:
    """Register and start a process.

    ``execution_context`` is left out when it carries no invocation: an empty context is
    represented as ``None`` (a context without an invocation is normalised to ``None`` on
    construction and on decoding).
    """

    op: ClassVar[str] = "start"
    registration: ProcessRegistration
    grant: ProcessStartGrant | None = omit_if_none()
    execution_context: ProcessExecutionContext | None = omit_if_none()

    def __attrs_post_init__(self) -> None:
        _empty_context_to_none(self)

    @property
    def effect_id(self) -> str:
        return f"process:start:{self.registration.id}"


@attrs.frozen
class ProcessList:
    """List the processes granted to a session scope."""

    op: ClassVar[str] = "list"
    session_scope: SessionScope
    mode: ProcessListMode = ProcessListMode.LIVE

    @property
    def effect_id(self) -> str:
        return f"process:list:{self.session_scope.id}:{self.mode.value}"


def _process_ids_digest(process_ids: tuple[str, ...]) -> str:
    try:
        return sha256_hex(canonical_bytes_of(list(process_ids)))
    except LashError:
        return "unhashable"


@attrs.frozen
class ProcessTransfer:
    """Move the grants of ``process_ids`` from one session scope to another."""

    op: ClassVar[str] = "transfer"
    from_scope: SessionScope
    to_scope: SessionScope
    process_ids: tuple[str, ...]

    @property
    def effect_id(self) -> str:
        """``process:transfer:{from}:{to}:{sha256 of the JSON id list}`` (the digest is
        ``unhashable`` if the list cannot be encoded)."""
        digest = _process_ids_digest(self.process_ids)
        return f"process:transfer:{self.from_scope.id}:{self.to_scope.id}:{digest}"


@attrs.frozen
class ProcessDeleteSession:
    """Delete a session's process state (grants and wakes; processes are kept)."""

    op: ClassVar[str] = "delete_session"
    session_id: str

    @property
    def effect_id(self) -> str:
        return f"process:delete-session:{self.session_id}"


@attrs.frozen
class ProcessAwait:
    """Wait for a process to finish."""

    op: ClassVar[str] = "await"
    process_id: str

    @property
    def effect_id(self) -> str:
        return f"process:await:{self.process_id}"


@attrs.frozen
class ProcessCancel:
    """Request cancellation of a process. ``reason`` is always written."""

    op: ClassVar[str] = "cancel"
    process_id: str
    reason: str | None = None

    @property
    def effect_id(self) -> str:
        return f"process:cancel:{self.process_id}"


@attrs.frozen
class ProcessSignalSend:
    """Send a named signal to a process by appending ``request`` to its log."""

    op: ClassVar[str] = "signal"
    process_id: str
    signal_name: str
    signal_id: str
    request: ProcessEventAppendRequest

    @property
    def effect_id(self) -> str:
        return f"process:signal:{self.process_id}:signal.{self.signal_name}:{self.signal_id}"


ProcessCommand: TypeAlias = (
    ProcessStart
    | ProcessList
    | ProcessTransfer
    | ProcessDeleteSession
    | ProcessAwait
    | ProcessCancel
    | ProcessSignalSend
)
"""The command of a ``process`` effect (tag ``op``). Each has an ``effect_id``."""

wire.tagged_union(
    ProcessCommand,
    "op",
    {
        "start": ProcessStart,
        "list": ProcessList,
        "transfer": ProcessTransfer,
        "delete_session": ProcessDeleteSession,
        "await": ProcessAwait,
        "cancel": ProcessCancel,
        "signal": ProcessSignalSend,
    },
)


# -- outcomes (tag op) -----------------------------------------------------------------------


@attrs.frozen
class ProcessStarted:
    """The started (or already registered) process."""

    op: ClassVar[str] = "start"
    record: ProcessRecord


@attrs.frozen
class ProcessListed:
    """``(grant, record)`` pairs, sorted by process id; each is a 2-item JSON array."""

    op: ClassVar[str] = "list"
    entries: tuple[tuple[ProcessHandleGrant, ProcessRecord], ...]


@attrs.frozen
class ProcessTransferred:
    """The grants moved: ``{"op":"transfer"}``."""

    op: ClassVar[str] = "transfer"


@attrs.frozen
class ProcessSessionDeleted:
    """What deleting the session's process state did."""

    op: ClassVar[str] = "delete_session"
    report: ProcessSessionDeleteReport


@attrs.frozen
class ProcessAwaited:
    """The finished process's await output."""

    op: ClassVar[str] = "await"
    output: ProcessAwaitOutput


@attrs.frozen
class ProcessCancelled:
    """The process record after the cancel request was appended."""

    op: ClassVar[str] = "cancel"
    record: ProcessRecord


@attrs.frozen
class ProcessSignalled:
    """The appended signal event."""

    op: ClassVar[str] = "signal"
    event: ProcessEvent


ProcessEffectOutcome: TypeAlias = (
    ProcessStarted
    | ProcessListed
    | ProcessTransferred
    | ProcessSessionDeleted
    | ProcessAwaited
    | ProcessCancelled
    | ProcessSignalled
)
"""The outcome of a ``process`` effect (tag ``op``)."""

wire.tagged_union(
    ProcessEffectOutcome,
    "op",
    {
        "start": ProcessStarted,
        "list": ProcessListed,
        "transfer": ProcessTransferred,
        "delete_session": ProcessSessionDeleted,
        "await": ProcessAwaited,
        "cancel": ProcessCancelled,
        "signal": ProcessSignalled,
    },
)
