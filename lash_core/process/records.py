"""A process's registration and durable record: the session scope, what a process runs, its
identity, the event types it declares (with their wake declarations and value selectors), who
started it, its current wait, its await output and its lifecycle status.

Shapes follow the reference's process model. Where the reference's own type is not part of
this library, the field holds free-form JSON (``SessionTurnInput``'s fields,
``ProcessIdentity.definition``, ``ProcessRecord.first_started`` and ``abandon_request``, the
``control`` of an await output). :class:`ProcessEventType` (with its wake declaration and value
selectors) is lash's own compact shape.
"""

from __future__ import annotations

import enum
from typing import ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.effects.invocation import CausalRef
from lash_core.effects.tools import PreparedToolCall
from lash_core.keys import AwaitEventKey
from lash_core.wire import JsonValue, omit_if_none, renamed

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
    "HostOriginator",
    "PayloadSelector",
    "PointerSelector",
    "PresentSelector",
    "ProcessAwaitOutput",
    "ProcessEventType",
    "ProcessExternalRef",
    "ProcessIdentity",
    "ProcessInput",
    "ProcessOriginator",
    "ProcessProvenance",
    "ProcessRecord",
    "ProcessRegistration",
    "ProcessStatus",
    "ProcessValueSelector",
    "ProcessWakeSpec",
    "RecoveryDisposition",
    "RunningStatus",
    "SessionOriginator",
    "SessionScope",
    "SessionTurnInput",
    "SignalWait",
    "SuccessOutput",
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
    type's events wake a session; ``payload_schema`` (left out when ``None``) is the JSON schema
    (the subset of :mod:`lash_core.process.schemas`) every payload of the type must match.
    """

    name: str
    terminal: bool = False
    await_output: bool = False
    wake: ProcessWakeSpec | None = omit_if_none()
    payload_schema: JsonValue = omit_if_none()


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

    def touched(self, now_ms: int) -> ProcessRecord:
        """This record updated at ``now_ms`` (an event was logged)."""
        return self._with(self.status, self.wait, now_ms)

    def ended(self, status: ProcessStatus, now_ms: int) -> ProcessRecord:
        """This record ended in ``status`` at ``now_ms``, waiting for nothing."""
        return self._with(status, None, now_ms)

    def _with(self, status: ProcessStatus, wait: WaitState | None, now_ms: int) -> ProcessRecord:
        # ``attrs.evolve`` spelled out: the append path runs it once per event, and evolve
        # reads every field through ``getattr`` (a test checks both build the same record).
        return ProcessRecord(
            id=self.id,
            registration_hash=self.registration_hash,
            input=self.input,
            disposition=self.disposition,
            identity=self.identity,
            event_types=self.event_types,
            provenance=self.provenance,
            env_ref=self.env_ref,
            wake_target=self.wake_target,
            created_at_ms=self.created_at_ms,
            updated_at_ms=now_ms,
            external_ref=self.external_ref,
            first_started=self.first_started,
            abandon_request=self.abandon_request,
            wait=wait,
            status=status,
        )
