"""Execution scopes (who owns a wait) and wait identities (what is waited for)."""

from __future__ import annotations

from typing import ClassVar, Final, TypeAlias

import attrs

from lash_core import codes, wire
from lash_core._fields import is_str, is_uint
from lash_core.errors import LocalProtocolError

__all__ = [
    "Custom",
    "ExecutionScope",
    "ProcessScope",
    "ProcessSignal",
    "QueueDrainScope",
    "RuntimeOperationScope",
    "SessionDeleteScope",
    "ToolCompletion",
    "TurnCancelGate",
    "TurnScope",
    "TurnTerminal",
    "WaitIdentity",
    "validate_scope",
    "validate_wait",
]


def _blank(value: object) -> bool:
    """Empty after trimming (anything that is not a string counts as blank)."""
    return not isinstance(value, str) or not value.strip()


_U64_MAX: Final = 2**64 - 1

# Wrong types are refused as they are built; blank ids by ``validate()`` (minting calls it).
_SCOPE_ID: Final = is_str(codes.MISSING_EXECUTION_SCOPE_ID)
_WAIT_FIELD: Final = is_str(codes.INVALID_AWAIT_EVENT_WAIT_IDENTITY)


_SCOPE_MESSAGE: Final = "execution scopes require non-empty stable ids"


def _scope_error() -> LocalProtocolError:
    return LocalProtocolError(codes.MISSING_EXECUTION_SCOPE_ID, _SCOPE_MESSAGE)


@attrs.frozen
class TurnScope:
    """One turn of one session. ``id`` is the turn id."""

    kind: ClassVar[str] = "turn"
    session_id: str = attrs.field(validator=_SCOPE_ID)
    turn_id: str = attrs.field(validator=_SCOPE_ID)

    @property
    def id(self) -> str:
        return self.turn_id

    def validate(self) -> None:
        if _blank(self.session_id) or _blank(self.turn_id):
            raise _scope_error()


@attrs.frozen
class ProcessScope:
    """A background process. It has no session: session revocation never reaches it."""

    kind: ClassVar[str] = "process"
    process_id: str = attrs.field(validator=_SCOPE_ID)

    @property
    def id(self) -> str:
        return self.process_id

    @property
    def session_id(self) -> None:
        return None

    @property
    def turn_id(self) -> None:
        return None

    def validate(self) -> None:
        if _blank(self.process_id):
            raise _scope_error()


@attrs.frozen
class QueueDrainScope:
    """A drain of a session's queued input. ``id`` is the drain id."""

    kind: ClassVar[str] = "queue_drain"
    session_id: str = attrs.field(validator=_SCOPE_ID)
    drain_id: str = attrs.field(validator=_SCOPE_ID)

    @property
    def id(self) -> str:
        return self.drain_id

    @property
    def turn_id(self) -> None:
        return None

    def validate(self) -> None:
        if _blank(self.session_id) or _blank(self.drain_id):
            raise _scope_error()


@attrs.frozen
class SessionDeleteScope:
    """The deletion of a session. ``id`` is the session id."""

    kind: ClassVar[str] = "session_delete"
    session_id: str = attrs.field(validator=_SCOPE_ID)

    @property
    def id(self) -> str:
        return self.session_id

    @property
    def turn_id(self) -> None:
        return None

    def validate(self) -> None:
        if _blank(self.session_id):
            raise _scope_error()


@attrs.frozen
class RuntimeOperationScope:
    """A host-level operation outside any session. ``id`` is the operation id."""

    kind: ClassVar[str] = "runtime_operation"
    operation_id: str = attrs.field(validator=_SCOPE_ID)

    @property
    def id(self) -> str:
        return self.operation_id

    @property
    def session_id(self) -> None:
        return None

    @property
    def turn_id(self) -> None:
        return None

    def validate(self) -> None:
        if _blank(self.operation_id):
            raise _scope_error()


ExecutionScope: TypeAlias = (
    TurnScope | ProcessScope | QueueDrainScope | SessionDeleteScope | RuntimeOperationScope
)
"""Who owns a wait. Every variant has ``id``, ``session_id`` (or ``None``) and ``turn_id``
(or ``None``), and ``validate()`` (``missing_execution_scope_id``)."""

wire.tagged_union(
    ExecutionScope,
    "type",
    {
        "turn": TurnScope,
        "process": ProcessScope,
        "queue_drain": QueueDrainScope,
        "session_delete": SessionDeleteScope,
        "runtime_operation": RuntimeOperationScope,
    },
)


_SCOPE_CLASSES: Final = frozenset(
    (TurnScope, ProcessScope, QueueDrainScope, SessionDeleteScope, RuntimeOperationScope)
)


def validate_scope(scope: ExecutionScope) -> None:
    """Raise ``missing_execution_scope_id`` if ``scope`` is not a scope or has a blank id."""
    if type(scope) not in _SCOPE_CLASSES:
        raise LocalProtocolError(
            codes.MISSING_EXECUTION_SCOPE_ID,
            f"expected an execution scope, got {type(scope).__name__}",
        )
    scope.validate()


# -- wait identities -------------------------------------------------------------------------


def _wait_error(message: str) -> LocalProtocolError:
    return LocalProtocolError(codes.INVALID_AWAIT_EVENT_WAIT_IDENTITY, message)


@attrs.frozen
class ToolCompletion:
    """A deferred tool call completing from outside (a webhook, another task)."""

    kind: ClassVar[str] = "tool_completion"
    is_turn_control: ClassVar[bool] = False
    tool_call_id: str = attrs.field(validator=_WAIT_FIELD)

    def validate(self) -> None:
        if _blank(self.tool_call_id):
            raise _wait_error("tool completion waits require a non-empty tool_call_id")


@attrs.frozen
class ProcessSignal:
    """The ``ordinal``-th (from 1) wait of a process for a named signal."""

    kind: ClassVar[str] = "process_signal"
    is_turn_control: ClassVar[bool] = False
    process_id: str = attrs.field(validator=_WAIT_FIELD)
    signal_name: str = attrs.field(validator=_WAIT_FIELD)
    ordinal: int = attrs.field(validator=is_uint(codes.INVALID_AWAIT_EVENT_WAIT_IDENTITY))

    def validate(self) -> None:
        if _blank(self.process_id) or _blank(self.signal_name):
            raise _wait_error("process signal waits require a process_id and a signal_name")
        if type(self.ordinal) is not int or not 1 <= self.ordinal <= _U64_MAX:
            raise _wait_error("process signal ordinals start at 1 (and fit in 64 bits)")


@attrs.frozen
class TurnCancelGate:
    """A turn's cancel gate: the first writer of cancel or completion wins."""

    kind: ClassVar[str] = "turn_cancel_gate"
    is_turn_control: ClassVar[bool] = True

    def validate(self) -> None:
        return None


@attrs.frozen
class TurnTerminal:
    """Where a turn's terminal outcome is published."""

    kind: ClassVar[str] = "turn_terminal"
    is_turn_control: ClassVar[bool] = True

    def validate(self) -> None:
        return None


@attrs.frozen
class Custom:
    """Any other wait, named by a host-chosen key."""

    kind: ClassVar[str] = "custom"
    is_turn_control: ClassVar[bool] = False
    key: str = attrs.field(validator=_WAIT_FIELD)

    def validate(self) -> None:
        if _blank(self.key):
            raise _wait_error("custom waits require a non-empty key")


WaitIdentity: TypeAlias = ToolCompletion | ProcessSignal | TurnCancelGate | TurnTerminal | Custom
"""What a key waits for. ``is_turn_control`` is true for the cancel gate and the terminal."""

wire.tagged_union(
    WaitIdentity,
    "type",
    {
        "tool_completion": ToolCompletion,
        "process_signal": ProcessSignal,
        "turn_cancel_gate": TurnCancelGate,
        "turn_terminal": TurnTerminal,
        "custom": Custom,
    },
)


_WAIT_CLASSES: Final = frozenset(
    (ToolCompletion, ProcessSignal, TurnCancelGate, TurnTerminal, Custom)
)


def validate_wait(wait: WaitIdentity) -> None:
    """Raise ``invalid_await_event_wait_identity`` if ``wait`` is not a wait identity or has a
    blank field."""
    if type(wait) not in _WAIT_CLASSES:
        raise _wait_error(f"expected a wait identity, got {type(wait).__name__}")
    wait.validate()
