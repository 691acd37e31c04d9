"""The process registry's wire types: registrations, records, events, grants, and the
``process`` effect's commands (tag ``op``) and outcomes (tag ``op``).

Shapes follow the reference's process model. Where the reference's own type is not part of
this library, the field holds free-form JSON (``SessionTurnInput``'s fields,
``ProcessIdentity.definition``, ``ProcessRecord.first_started`` and ``abandon_request``, the
``control`` of an await output). :class:`ProcessEventType` (with its wake declaration and value
selectors), the ``terminal`` field of :class:`ProcessEventSemantics` and :class:`ProcessLease`
are lash's own compact shapes; a wake (:class:`ProcessEventWake`) and a wake delivery
(:class:`ProcessWakeDelivery`) keep the reference's fields.
"""

from __future__ import annotations

import enum
from typing import ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.canonical import canonical_bytes_of, sha256_hex
from lash_core.effects.invocation import CausalRef, Invocation, Replay
from lash_core.effects.tools import PreparedToolCall
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey
from lash_core.wire import U32, JsonValue, omit_if_none, renamed

__all__ = [
    "AbandonEvidence",
    "AbandonWriter",
    "AbandonedOutput",
    "AbandonedStatus",
    "CancelledOutput",
    "CancelledStatus",
    "CompletedStatus",
    "ConstSelector",
    "EngineInput",
    "ExternalInput",
    "FailedStatus",
    "FailureOutput",
    "HandleDescriptor",
    "HostOriginator",
    "PayloadSelector",
    "PointerSelector",
    "PresentSelector",
    "ProcessAwait",
    "ProcessAwaitOutput",
    "ProcessAwaited",
    "ProcessCancel",
    "ProcessCancelled",
    "ProcessCommand",
    "ProcessDeleteSession",
    "ProcessEffectOutcome",
    "ProcessEvent",
    "ProcessEventAppendRequest",
    "ProcessEventSemantics",
    "ProcessEventTerminal",
    "ProcessEventType",
    "ProcessEventWake",
    "ProcessExecutionContext",
    "ProcessExternalRef",
    "ProcessHandleGrant",
    "ProcessIdentity",
    "ProcessInput",
    "ProcessLease",
    "ProcessLeaseCompletion",
    "ProcessList",
    "ProcessListMode",
    "ProcessListed",
    "ProcessOriginator",
    "ProcessProvenance",
    "ProcessRecord",
    "ProcessRegistration",
    "ProcessSessionDeleteReport",
    "ProcessSessionDeleted",
    "ProcessSignalSend",
    "ProcessSignalled",
    "ProcessStart",
    "ProcessStartGrant",
    "ProcessStarted",
    "ProcessStatus",
    "ProcessTransfer",
    "ProcessTransferred",
    "ProcessValueSelector",
    "ProcessWakeDelivery",
    "ProcessWakeOrigin",
    "ProcessWakeSpec",
    "ProcessWakeTurnCause",
    "RecoveryDisposition",
    "RunningStatus",
    "SessionOriginator",
    "SessionScope",
    "SessionTurnInput",
    "SignalWait",
    "SuccessOutput",
    "SystemTime",
    "TemplateField",
    "TemplateSelector",
    "ToolCallInput",
    "WaitKind",
    "WaitState",
]


@attrs.frozen
class SessionScope:
    """A session, optionally narrowed to one agent frame of it."""

    session_id: str
    agent_frame: str | None = omit_if_none()

    @property
    def id(self) -> str:
        """``session:{sid}``, or ``session:{sid}/frame:{frame}`` for a non-empty frame."""
        if self.agent_frame:
            return f"session:{self.session_id}/frame:{self.agent_frame}"
        return f"session:{self.session_id}"


class ProcessListMode(enum.StrEnum):
    """Which processes a list returns: ``live`` ones (not terminal) or ``all``."""

    LIVE = "live"
    ALL = "all"


# -- inputs ----------------------------------------------------------------------------------


@attrs.frozen
class ToolCallInput:
    """A process that runs one tool call."""

    type: ClassVar[str] = "tool_call"
    call: PreparedToolCall


@attrs.frozen
class EngineInput:
    """A process run by an engine of kind ``kind``; ``payload`` is always written."""

    type: ClassVar[str] = "engine"
    kind: str
    payload: JsonValue = None


@attrs.frozen
class SessionTurnInput:
    """A process that runs a turn of a child session (the three fields are opaque here)."""

    type: ClassVar[str] = "session_turn"
    create_request: JsonValue
    turn_input: JsonValue
    output_contract: JsonValue


@attrs.frozen
class ExternalInput:
    """A process whose work is owned outside lash; ``metadata`` is always written."""

    type: ClassVar[str] = "external"
    metadata: JsonValue = None


ProcessInput: TypeAlias = ToolCallInput | EngineInput | SessionTurnInput | ExternalInput
"""What a process runs (tag ``type``)."""

wire.tagged_union(
    ProcessInput,
    "type",
    {
        "tool_call": ToolCallInput,
        "engine": EngineInput,
        "session_turn": SessionTurnInput,
        "external": ExternalInput,
    },
)


class RecoveryDisposition(enum.StrEnum):
    """What recovery may do with a process whose owner vanished."""

    RERUNNABLE = "rerunnable"
    OWNER_BOUND = "owner_bound"
    EXTERNALLY_OWNED = "externally_owned"


@attrs.frozen
class ProcessIdentity:
    """A human-facing identity derived from the input (``tool`` + tool name, an engine kind,
    ``session_turn``, ``external`` + a metadata label)."""

    kind: str
    label: str | None = omit_if_none()
    definition: JsonValue = omit_if_none()


# -- value selectors and wake declarations --------------------------------------------------


@attrs.frozen
class PayloadSelector:
    """The whole event payload."""

    select: ClassVar[str] = "payload"


@attrs.frozen
class PointerSelector:
    """The payload value at a JSON pointer (``""`` is the whole payload, else it starts with
    ``/``); appending an event whose payload has no value there is refused."""

    select: ClassVar[str] = "pointer"
    pointer: str


@attrs.frozen
class ConstSelector:
    """A constant value, whatever the payload."""

    select: ClassVar[str] = "const"
    value: JsonValue


@attrs.frozen
class PresentSelector:
    """``true`` when the payload has a value at the JSON pointer, else ``false``."""

    select: ClassVar[str] = "present"
    pointer: str


@attrs.frozen
class TemplateField:
    """A ``{name}`` placeholder of a template and the selector that fills it."""

    name: str
    selector: ProcessValueSelector


@attrs.frozen
class TemplateSelector:
    """A string: ``template`` with every ``{name}`` replaced by its field's value (a string
    as is, any other value as compact JSON)."""

    select: ClassVar[str] = "template"
    template: str
    fields: tuple[TemplateField, ...] = ()


ProcessValueSelector: TypeAlias = (
    PayloadSelector | PointerSelector | ConstSelector | PresentSelector | TemplateSelector
)
"""Picks a value out of an event payload (tag ``select``)."""

wire.tagged_union(
    ProcessValueSelector,
    "select",
    {
        "payload": PayloadSelector,
        "pointer": PointerSelector,
        "const": ConstSelector,
        "present": PresentSelector,
        "template": TemplateSelector,
    },
)


@attrs.frozen
class ProcessWakeSpec:
    """What an event of a wake-declaring type wakes a session with (lash's compact shape).

    ``input`` selects the wake's input (a string as is, any other value as compact JSON);
    ``when``, if given, must select a truthy value (not ``null``, ``false``, ``""``, ``[]`` or
    ``{}``) for the event to wake at all; ``dedupe_key`` selects the wake's dedupe key, and
    without it the key is the event's identity ``{process_id}:{sequence}``.
    """

    input: ProcessValueSelector
    when: ProcessValueSelector | None = omit_if_none()
    dedupe_key: ProcessValueSelector | None = omit_if_none()


@attrs.frozen
class ProcessEventType:
    """An event type a process declares (lash's own compact shape).

    ``terminal`` events end the process; ``await_output`` says the payload carries the
    process's await output under ``await_output``; ``wake`` (left out when ``None``) makes the
    type's events wake a session.
    """

    name: str
    terminal: bool = False
    await_output: bool = False
    wake: ProcessWakeSpec | None = omit_if_none()


# -- provenance and registration -------------------------------------------------------------


@attrs.frozen
class HostOriginator:
    """Started by the host, optionally on behalf of a session scope."""

    type: ClassVar[str] = "host"
    scope: SessionScope | None = omit_if_none()


@attrs.frozen
class SessionOriginator:
    """Started from a session."""

    type: ClassVar[str] = "session"
    scope: SessionScope


ProcessOriginator: TypeAlias = HostOriginator | SessionOriginator
"""Who started a process (tag ``type``)."""

wire.tagged_union(ProcessOriginator, "type", {"host": HostOriginator, "session": SessionOriginator})


@attrs.frozen
class ProcessProvenance:
    """Who started a process and, optionally, what caused it."""

    originator: ProcessOriginator
    caused_by: CausalRef | None = omit_if_none()


@attrs.frozen(kw_only=True)
class ProcessRegistration:
    """Everything needed to start (or recover) a process. ``event_types`` is always written
    and defaults to empty on input. Keyword-only (a defaulted field precedes required ones)."""

    id: str
    input: ProcessInput
    disposition: RecoveryDisposition
    identity: ProcessIdentity
    event_types: tuple[ProcessEventType, ...] = ()
    provenance: ProcessProvenance
    env_ref: str | None = omit_if_none()
    wake_target: SessionScope | None = omit_if_none()


# -- waits, await outputs, status ------------------------------------------------------------


@attrs.frozen
class SignalWait:
    """Waiting for the ``ordinal``-th ``name`` signal, delivered through ``key``."""

    kind: ClassVar[str] = "signal"
    name: str
    event_type: str
    key: AwaitEventKey
    ordinal: int


WaitKind: TypeAlias = SignalWait
"""What a process waits for (tag ``kind``; one variant, ``signal``)."""

wire.tagged_union(WaitKind, "kind", {"signal": SignalWait})


@attrs.frozen
class WaitState:
    """A process's current wait: a facet of its record, not a lifecycle status."""

    kind: WaitKind
    since_ms: int


class AbandonWriter(enum.StrEnum):
    """Who wrote an abandonment."""

    OWNER_DRAIN = "owner_drain"
    SWEEP = "sweep"
    RECONCILED_REQUEST = "reconciled_request"


@attrs.frozen(kw_only=True)
class AbandonEvidence:
    """Why a process was declared abandoned. Keyword-only (``owner`` is optional and precedes
    ``epoch_ms``)."""

    writer: AbandonWriter
    owner: str | None = omit_if_none()
    epoch_ms: int


@attrs.frozen
class SuccessOutput:
    """The process completed with ``value``."""

    type: ClassVar[str] = "success"
    value: JsonValue
    control: JsonValue = omit_if_none()


@attrs.frozen(kw_only=True)
class FailureOutput:
    """The process failed. ``class_`` (the failure class) is written as ``class``.
    Keyword-only."""

    type: ClassVar[str] = "failure"
    class_: str = renamed("class")
    code: str
    message: str
    raw: JsonValue = omit_if_none()
    control: JsonValue = omit_if_none()


@attrs.frozen
class CancelledOutput:
    """The process was cancelled."""

    type: ClassVar[str] = "cancelled"
    message: str
    raw: JsonValue = omit_if_none()
    control: JsonValue = omit_if_none()


@attrs.frozen
class AbandonedOutput:
    """The process was abandoned."""

    type: ClassVar[str] = "abandoned"
    evidence: AbandonEvidence
    control: JsonValue = omit_if_none()


ProcessAwaitOutput: TypeAlias = SuccessOutput | FailureOutput | CancelledOutput | AbandonedOutput
"""What awaiting a finished process gives (tag ``type``)."""

wire.tagged_union(
    ProcessAwaitOutput,
    "type",
    {
        "success": SuccessOutput,
        "failure": FailureOutput,
        "cancelled": CancelledOutput,
        "abandoned": AbandonedOutput,
    },
)


@attrs.frozen
class RunningStatus:
    """Not terminal yet."""

    state: ClassVar[str] = "running"


@attrs.frozen
class CompletedStatus:
    """Completed; ``await_output`` is what an await returns."""

    state: ClassVar[str] = "completed"
    await_output: ProcessAwaitOutput


@attrs.frozen
class FailedStatus:
    """Failed."""

    state: ClassVar[str] = "failed"
    await_output: ProcessAwaitOutput


@attrs.frozen
class CancelledStatus:
    """Cancelled."""

    state: ClassVar[str] = "cancelled"
    await_output: ProcessAwaitOutput


@attrs.frozen
class AbandonedStatus:
    """Abandoned (a written terminal)."""

    state: ClassVar[str] = "abandoned"
    await_output: ProcessAwaitOutput


ProcessStatus: TypeAlias = (
    RunningStatus | CompletedStatus | FailedStatus | CancelledStatus | AbandonedStatus
)
"""A process's lifecycle status (tag ``state``)."""

wire.tagged_union(
    ProcessStatus,
    "state",
    {
        "running": RunningStatus,
        "completed": CompletedStatus,
        "failed": FailedStatus,
        "cancelled": CancelledStatus,
        "abandoned": AbandonedStatus,
    },
)


@attrs.frozen
class ProcessExternalRef:
    """Where a process's work lives in an outside backend."""

    backend: str
    id: str
    metadata: JsonValue = omit_if_none()


@attrs.frozen(kw_only=True)
class ProcessRecord:
    """The durable row of a process. Keyword-only (optional fields precede required ones).

    ``event_types``, ``created_at_ms``, ``updated_at_ms`` and ``status`` are always written
    and default (to empty, 0, 0 and running) when absent on input.
    """

    id: str
    registration_hash: str
    input: ProcessInput
    disposition: RecoveryDisposition
    identity: ProcessIdentity
    event_types: tuple[ProcessEventType, ...] = ()
    provenance: ProcessProvenance
    env_ref: str | None = omit_if_none()
    wake_target: SessionScope | None = omit_if_none()
    created_at_ms: int = 0
    updated_at_ms: int = 0
    external_ref: ProcessExternalRef | None = omit_if_none()
    first_started: JsonValue = omit_if_none()
    abandon_request: JsonValue = omit_if_none()
    wait: WaitState | None = omit_if_none()
    status: ProcessStatus = RunningStatus()

    @property
    def is_terminal(self) -> bool:
        """True unless the status is running."""
        return not isinstance(self.status, RunningStatus)


# -- events ----------------------------------------------------------------------------------


@attrs.frozen
class SystemTime:
    """A wall-clock instant as the reference writes it."""

    secs_since_epoch: int
    nanos_since_epoch: U32

    @classmethod
    def from_ms(cls, epoch_ms: int) -> SystemTime:
        """The instant ``epoch_ms`` milliseconds after the Unix epoch."""
        secs, rest = divmod(epoch_ms, 1000)
        return cls(secs, rest * 1_000_000)

    def to_ms(self) -> int:
        """Whole milliseconds since the epoch."""
        return self.secs_since_epoch * 1000 + self.nanos_since_epoch // 1_000_000


@attrs.frozen
class ProcessEventTerminal:
    """The terminal meaning of an event: the status it ended in and its await output."""

    state: str
    await_output: JsonValue


@attrs.frozen
class ProcessEventWake:
    """A wake an event delivers to a session: its input text and the dedupe key of the wake."""

    input: str
    dedupe_key: str


@attrs.frozen
class ProcessEventSemantics:
    """What an appended event means, materialised when it is appended: ``terminal`` when it
    ended the process, ``wake`` when it wakes a session. Both are left out when ``None``."""

    terminal: ProcessEventTerminal | None = omit_if_none()
    wake: ProcessEventWake | None = omit_if_none()


@attrs.frozen
class ProcessEvent:
    """One event of a process's log; ``sequence`` counts from 1."""

    process_id: str
    sequence: int
    event_type: str
    payload: JsonValue
    invocation: Invocation
    semantics: ProcessEventSemantics
    occurred_at: SystemTime


@attrs.frozen
class ProcessEventAppendRequest:
    """A request to append an event. A ``replay`` key makes the append idempotent."""

    event_type: str
    payload: JsonValue
    replay: Replay | None = omit_if_none()
    wake_target_scope: SessionScope | None = omit_if_none()


@attrs.frozen
class ProcessWakeOrigin:
    """Where a wake turn's message comes from: one event of a process."""

    type: ClassVar[str] = "process"
    process_id: str
    event_type: str
    sequence: int
    wake_id: str | None = omit_if_none()
    caused_by: CausalRef | None = omit_if_none()


wire.tagged_union(ProcessWakeOrigin, "type", {"process": ProcessWakeOrigin})


@attrs.frozen
class ProcessWakeTurnCause:
    """Why a session runs a turn for a wake: the wake id, the event type, the origin and
    the model-visible text."""

    id: str
    event_type: str
    origin: ProcessWakeOrigin
    text: str


@attrs.frozen(kw_only=True)
class ProcessWakeDelivery:
    """A wake materialised for a target session scope.

    ``wake_id`` is ``wake:`` + the SHA-256 of the canonical JSON
    ``[target_scope_id, dedupe_key]``, so events with one dedupe key wake a scope once.
    Keyword-only (the optional ``process_caused_by`` precedes required fields).
    """

    wake_id: str
    target_session_id: str
    target_scope_id: str
    process_id: str
    sequence: int
    event_type: str
    event_invocation: Invocation
    process_caused_by: CausalRef | None = omit_if_none()
    dedupe_key: str
    input: str
    created_at_ms: int

    @property
    def text(self) -> str:
        """The wake as model-visible context: process, event and wake input."""
        return (
            f"Background process wake\nProcess: {self.process_id}\n"
            f"Event: {self.event_type} #{self.sequence}\nWake input:\n{self.input}"
        )

    @property
    def cause(self) -> ProcessWakeTurnCause:
        """The cause of the turn that delivers this wake (its id is the wake id)."""
        origin = ProcessWakeOrigin(
            self.process_id, self.event_type, self.sequence, self.wake_id, self.process_caused_by
        )
        return ProcessWakeTurnCause(self.wake_id, self.event_type, origin, self.text)


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


@attrs.frozen
class ProcessLease:
    """The right of one owner to run a process until ``expires_at_ms`` (lash's compact shape).

    ``fencing_token`` grows by one with every new holder (a claim after a release or an expiry,
    or a reclaim), never on renewal; ``lease_token`` is ``{owner}:{fencing_token}``. Writers
    present their lease, and a lease that is not the current one is refused.
    """

    process_id: str
    owner: str
    lease_token: str
    fencing_token: int
    claimed_at_ms: int
    expires_at_ms: int

    def completion(self) -> ProcessLeaseCompletion:
        """What the holder presents to release this lease (or to complete under it)."""
        return ProcessLeaseCompletion(
            self.process_id, self.owner, self.lease_token, self.fencing_token
        )


@attrs.frozen
class ProcessLeaseCompletion:
    """The lease a holder releases, or completes its process under."""

    process_id: str
    owner: str
    lease_token: str
    fencing_token: int


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
