"""A process's lifecycle rules, shared by the registry's parts: the core event types, which
terminal event carries which await output, and the validation of ids, timestamps and
registrations.

Everything here is a pure function of its arguments; nothing holds registry state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from lash_core import codes, wire
from lash_core.effects.replay_keys import PROCESS_CANCEL_REQUESTED
from lash_core.errors import LashError, LocalProtocolError
from lash_core.process.events import ProcessEventTerminal
from lash_core.process.records import (
    AbandonedOutput,
    AbandonedStatus,
    CancelledOutput,
    CancelledStatus,
    CompletedStatus,
    EngineInput,
    FailedStatus,
    FailureOutput,
    ProcessAwaitOutput,
    ProcessEventType,
    ProcessRegistration,
    ProcessStatus,
    SuccessOutput,
    ToolCallInput,
)
from lash_core.process.wakes import validate_wake_spec
from lash_core.wire import JsonValue

__all__ = [
    "CORE_EVENT_TYPES",
    "PROCESS_COMPLETED",
    "PROCESS_RESUMED",
    "PROCESS_WAITING",
    "blank",
    "check_now",
    "is_await_output",
    "payload_error",
    "status_of",
    "terminal_event_type",
    "terminal_status",
    "validate_process_id",
    "with_core_event_types",
]

PROCESS_WAITING: Final = "process.waiting"
PROCESS_RESUMED: Final = "process.resumed"
PROCESS_COMPLETED: Final = "process.completed"
_PROCESS_FAILED: Final = "process.failed"
_PROCESS_CANCELLED: Final = "process.cancelled"
_PROCESS_ABANDONED: Final = "process.abandoned"

CORE_EVENT_TYPES: Final[tuple[ProcessEventType, ...]] = (
    ProcessEventType(PROCESS_CANCEL_REQUESTED),
    ProcessEventType(PROCESS_WAITING),
    ProcessEventType(PROCESS_RESUMED),
    ProcessEventType(PROCESS_COMPLETED, terminal=True, await_output=True),
    ProcessEventType(_PROCESS_FAILED, terminal=True, await_output=True),
    ProcessEventType(_PROCESS_CANCELLED, terminal=True, await_output=True),
    ProcessEventType(_PROCESS_ABANDONED, terminal=True, await_output=True),
)
"""The seven event types every process has, appended to a registration when missing."""

_CORE_BY_NAME: Final = {t.name: t for t in CORE_EVENT_TYPES}

_STATUS_BY_STATE: Final[dict[str, Callable[[ProcessAwaitOutput], ProcessStatus]]] = {
    "completed": CompletedStatus,
    "failed": FailedStatus,
    "cancelled": CancelledStatus,
    "abandoned": AbandonedStatus,
}
_STATE_BY_CORE_EVENT: Final = {
    PROCESS_COMPLETED: "completed",
    _PROCESS_FAILED: "failed",
    _PROCESS_CANCELLED: "cancelled",
    _PROCESS_ABANDONED: "abandoned",
}
_EVENT_BY_OUTPUT: Final[dict[type[ProcessAwaitOutput], str]] = {
    SuccessOutput: PROCESS_COMPLETED,
    FailureOutput: _PROCESS_FAILED,
    CancelledOutput: _PROCESS_CANCELLED,
    AbandonedOutput: _PROCESS_ABANDONED,
}


def is_await_output(output: object) -> bool:
    """Whether ``output`` is one of the four await outputs (exactly, not a subclass)."""
    return type(output) in _EVENT_BY_OUTPUT


def terminal_event_type(output: ProcessAwaitOutput) -> str:
    """The core terminal event type that carries ``output`` (``process.completed`` for a
    success, ``process.failed``, ``process.cancelled``, ``process.abandoned``)."""
    return _EVENT_BY_OUTPUT[type(output)]


# -- validation ------------------------------------------------------------------------------


def blank(value: object) -> bool:
    """True unless ``value`` is a string with a non-space character."""
    return not isinstance(value, str) or not value.strip()


def validate_process_id(process_id: object) -> str:
    """``process_id``, if it is non-blank and free of the reserved separator ``#``
    (``process_id_invalid`` otherwise)."""
    if blank(process_id):
        raise LocalProtocolError(codes.PROCESS_ID_INVALID, "process ids must not be blank")
    assert isinstance(process_id, str)
    if "#" in process_id:
        raise LocalProtocolError(
            codes.PROCESS_ID_INVALID,
            f"process id {process_id!r} contains the reserved segment separator '#'",
        )
    return process_id


def check_now(now_ms: object) -> None:
    """Raise ``process_timestamp_invalid`` unless ``now_ms`` is a non-negative int."""
    if type(now_ms) is not int or now_ms < 0:
        raise LocalProtocolError(
            codes.PROCESS_TIMESTAMP_INVALID,
            f"timestamps are whole milliseconds since the epoch (got {now_ms!r})",
        )


def _registration_error(message: str) -> LocalProtocolError:
    return LocalProtocolError(codes.PROCESS_REGISTRATION_INVALID, message)


def with_core_event_types(registration: ProcessRegistration) -> ProcessRegistration:
    """The registration, validated, with the missing core event types appended."""
    if type(registration) is not ProcessRegistration:
        raise _registration_error(
            f"expected a ProcessRegistration, got {type(registration).__name__}"
        )
    pid = validate_process_id(registration.id)
    needs_env = isinstance(registration.input, ToolCallInput | EngineInput)
    if needs_env and blank(registration.env_ref):
        raise _registration_error(
            f"process {pid!r}: a {registration.input.type} input needs an env_ref"
        )
    if not needs_env and registration.env_ref is not None:
        raise _registration_error(
            f"process {pid!r}: a {registration.input.type} input takes no env_ref"
        )
    seen: set[str] = set()
    for declared in registration.event_types:
        name = declared.name
        if blank(name):
            raise _registration_error(f"process {pid!r}: event type names must not be blank")
        if name in seen:
            raise _registration_error(f"process {pid!r}: event type {name!r} is declared twice")
        seen.add(name)
        core = _CORE_BY_NAME.get(name)
        if core is not None and declared != core:
            raise _registration_error(
                f"process {pid!r}: core event type {name!r} is redeclared differently"
            )
        if declared.await_output and not declared.terminal:
            raise _registration_error(
                f"process {pid!r}: only terminal event types carry an await_output"
            )
        if declared.wake is not None:
            problem = validate_wake_spec(declared.wake)
            if problem is not None:
                raise _registration_error(f"process {pid!r}: event type {name!r}: {problem}")
    missing = tuple(t for t in CORE_EVENT_TYPES if t.name not in seen)
    if not missing:
        return registration
    return attrs.evolve(registration, event_types=registration.event_types + missing)


def payload_error(pid: str, event_type: str, detail: str) -> LocalProtocolError:
    """A ``process_event_payload_invalid`` error about an event of ``pid``."""
    return LocalProtocolError(
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        f"process {pid!r}: {event_type} payload {detail}",
    )


def terminal_status(
    pid: str, declared: ProcessEventType, payload: JsonValue
) -> tuple[ProcessStatus, ProcessEventTerminal]:
    """The status a terminal event ends in and its materialised semantics."""
    name = declared.name
    if not declared.await_output:
        output: ProcessAwaitOutput = SuccessOutput(payload)
    else:
        if not isinstance(payload, dict) or "await_output" not in payload:
            raise payload_error(pid, name, "needs an await_output")
        try:
            output = wire.from_wire(payload["await_output"], ProcessAwaitOutput)
        except LashError as exc:
            raise payload_error(pid, name, f"has an invalid await_output: {exc.message}") from None
    state = _STATE_BY_CORE_EVENT.get(name) or _STATE_BY_CORE_EVENT[_EVENT_BY_OUTPUT[type(output)]]
    return _STATUS_BY_STATE[state](output), ProcessEventTerminal(state, wire.to_wire(output))


def status_of(terminal: ProcessEventTerminal) -> ProcessStatus:
    """The status a recorded terminal event ended its process in."""
    output = wire.from_wire(terminal.await_output, ProcessAwaitOutput)
    return _STATUS_BY_STATE[terminal.state](output)
