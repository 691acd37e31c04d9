"""A process's lifecycle rules, shared by the registry's parts: the core event types, which
terminal event carries which await output, and the validation of ids, timestamps and
registrations.

Everything here is a pure function of its arguments; nothing holds registry state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import attrs

from lash_core import codes, wire
from lash_core.canonical import normalize_json_value
from lash_core.effects.invocation import Replay
from lash_core.effects.replay_keys import PROCESS_CANCEL_REQUESTED, normalized_payload_hash
from lash_core.errors import LashError, LocalProtocolError
from lash_core.process.events import ProcessEventAppendRequest, ProcessEventTerminal
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
    SessionScope,
    SuccessOutput,
    ToolCallInput,
)
from lash_core.process.schemas import schema_problem
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
    "is_signal",
    "payload_error",
    "status_of",
    "strict_json",
    "terminal_event_type",
    "terminal_status",
    "validate_process_id",
    "wire_form",
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


def is_signal(event_type: str) -> bool:
    """Whether ``event_type`` is a signal's (``signal.{name}``)."""
    return event_type.startswith("signal.")


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


def argument_error(what: str, value: object) -> LocalProtocolError:
    """A ``process_argument_invalid`` error: ``what`` the argument must be, and what it was."""
    return LocalProtocolError(
        codes.PROCESS_ARGUMENT_INVALID, f"{what} (got {type(value).__name__} {value!r:.80})"
    )


def check_cursor(value: object, what: str) -> int:
    """``value`` if it is an int (not a bool); ``process_argument_invalid`` otherwise."""
    if type(value) is not int:
        raise argument_error(f"{what} is a whole number", value)
    return value


def check_bool_filter(value: object, what: str) -> bool | None:
    """``value`` if it is ``True``, ``False`` or ``None``; ``process_argument_invalid``
    otherwise."""
    if value is not None and type(value) is not bool:
        raise argument_error(f"{what} is true, false or None", value)
    return value


def check_scope(scope: object) -> SessionScope:
    """``scope`` if it is a session scope with a non-blank session id and a string (or no)
    agent frame, both encodable as UTF-8 (``process_session_invalid`` otherwise)."""
    if type(scope) is not SessionScope or blank(scope.session_id):
        raise LocalProtocolError(
            codes.PROCESS_SESSION_INVALID, "a session scope needs a non-blank session id"
        )
    frame = scope.agent_frame
    if frame is not None and type(frame) is not str:
        raise LocalProtocolError(
            codes.PROCESS_SESSION_INVALID,
            f"a session scope's agent frame is a string or None (got {type(frame).__name__})",
        )
    try:
        normalize_json_value([scope.session_id, frame])
    except ValueError as exc:
        raise LocalProtocolError(
            codes.PROCESS_SESSION_INVALID, f"a session scope is not valid text: {exc}"
        ) from None
    return scope


_T = TypeVar("_T")


def checked_value(value: object, tp: type[_T], code: str, what: str) -> _T:
    """``value``, typed as ``tp``, if its wire form encodes and decodes back as a ``tp``: the
    decoded value (free-form JSON normalised). Raises ``code`` for anything else, before the
    caller changes any state: a value of another type, a field of the wrong type, a payload
    that is not JSON (NaN, a non-string key, an object), or one nested too deeply."""
    data = wire_form(value, code, what)
    try:
        strict_json(data)
        wire.stable_hash(value)
        return wire.from_wire(data, tp)
    except (LashError, RecursionError, ValueError) as exc:
        detail = exc.message if isinstance(exc, LashError) else str(exc) or "nested too deeply"
        raise LocalProtocolError(code, f"{what} is malformed: {detail}") from None


def wire_form(value: object, code: str, what: str) -> JsonValue:
    """The wire form of ``value``, or ``code`` when it has none (a field of the wrong type, a
    value nested too deeply)."""
    try:
        return wire.to_wire(value)  # type: ignore[no-any-return]
    except (LashError, TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        # Any of these means the value has no wire form: user data, refused with a code.
        detail = exc.message if isinstance(exc, LashError) else f"{type(exc).__name__}: {exc}"
        raise LocalProtocolError(code, f"{what} is malformed: {detail}") from None


def strict_json(value: object) -> JsonValue:
    """``value`` normalised as a free-form JSON value (see
    :func:`~lash_core.canonical.normalize_json_value`, which refuses NaN and infinities too:
    JSON has no such numbers, and the canonical form writes them as ``null``, so a logged event
    holding one would differ from the event a store reads back). Raises ``ValueError`` (or
    ``RecursionError`` for a value nested too deeply)."""
    return normalize_json_value(value)  # type: ignore[no-any-return]


@attrs.frozen
class CheckedRequest:
    """An append request whose parts were checked: its payload normalised and hashed."""

    event_type: str
    payload: JsonValue
    replay: Replay | None
    target: SessionScope | None
    digest: str


def check_append_request(pid: str, request: object) -> CheckedRequest:
    """Check an append request, normalise its payload and hash ``[event_type, payload]`` (the
    hash a replay key is recorded with), so nothing can fail once the append starts changing
    state: ``process_event_payload_invalid`` for a request that is not a
    ``ProcessEventAppendRequest``, a replay that is not a ``Replay`` with a string key, or a
    payload that is not JSON or cannot be hashed (NaN, infinity, a lone surrogate, nesting too
    deep); ``process_event_type_undeclared`` for a non-string event type;
    ``process_session_invalid`` for a malformed wake target scope."""
    if type(request) is not ProcessEventAppendRequest:
        raise LocalProtocolError(
            codes.PROCESS_EVENT_PAYLOAD_INVALID,
            f"expected a ProcessEventAppendRequest, got {type(request).__name__}",
        )
    event_type = request.event_type
    if type(event_type) is not str:
        raise LocalProtocolError(
            codes.PROCESS_EVENT_TYPE_UNDECLARED,
            f"process `{pid}`: an event type is a string (got {type(event_type).__name__})",
        )
    replay = request.replay
    if replay is not None and (type(replay) is not Replay or type(replay.key) is not str):
        raise payload_error(pid, event_type, "has a replay that is not a Replay with a string key")
    try:
        payload = strict_json(request.payload)
        digest = normalized_payload_hash(event_type, payload)
        if replay is not None and not replay.key.isascii():
            normalize_json_value(replay.key)  # a lone surrogate cannot be stored
    except ValueError as exc:
        raise payload_error(pid, event_type, f"is not JSON: {exc}") from None
    except LashError as exc:
        raise payload_error(pid, event_type, f"cannot be hashed: {exc.message}") from None
    except RecursionError:
        raise payload_error(pid, event_type, "nests too deeply") from None
    target = request.wake_target_scope
    if target is not None:
        check_scope(target)
    return CheckedRequest(event_type, payload, replay, target, digest)


def _registration_error(message: str) -> LocalProtocolError:
    return LocalProtocolError(codes.PROCESS_REGISTRATION_INVALID, message)


def with_core_event_types(registration: ProcessRegistration) -> ProcessRegistration:
    """The registration, validated, with the missing core event types appended."""
    if type(registration) is not ProcessRegistration:
        raise _registration_error(
            f"expected a ProcessRegistration, got {type(registration).__name__}"
        )
    registration = checked_value(
        registration, ProcessRegistration, codes.PROCESS_REGISTRATION_INVALID, "a registration"
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
        if declared.payload_schema is not None:
            problem = schema_problem(declared.payload_schema)
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
    pid: str,
    declared: ProcessEventType,
    payload: JsonValue,
    known: ProcessAwaitOutput | None = None,
) -> tuple[ProcessStatus, ProcessEventTerminal]:
    """The status a terminal event ends in and its materialised semantics. ``known`` is the
    typed await output the payload's ``await_output`` is the wire form of, when the caller
    built the payload from it (then it is not decoded and encoded again)."""
    name = declared.name
    if not declared.await_output:
        output: ProcessAwaitOutput = SuccessOutput(payload)
        output_wire = wire.to_wire(output)
    elif known is not None and isinstance(payload, dict):
        output, output_wire = known, payload["await_output"]
    else:
        if not isinstance(payload, dict) or "await_output" not in payload:
            raise payload_error(pid, name, "needs an await_output")
        try:
            output = wire.from_wire(payload["await_output"], ProcessAwaitOutput)
        except LashError as exc:
            raise payload_error(pid, name, f"has an invalid await_output: {exc.message}") from None
        output_wire = wire.to_wire(output)
    state = _STATE_BY_CORE_EVENT.get(name) or _STATE_BY_CORE_EVENT[_EVENT_BY_OUTPUT[type(output)]]
    return _STATUS_BY_STATE[state](output), ProcessEventTerminal(state, output_wire)


def status_of(terminal: ProcessEventTerminal) -> ProcessStatus:
    """The status a recorded terminal event ended its process in."""
    output = wire.from_wire(terminal.await_output, ProcessAwaitOutput)
    return _STATUS_BY_STATE[terminal.state](output)
