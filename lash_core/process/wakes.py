"""Wakes: what an event of a wake-declaring type delivers to a session.

An event type declares a wake with a :class:`~lash_core.process.records.ProcessWakeSpec`. When
such an event is appended, its wake (input text and dedupe key) is materialised from the payload
into the event's semantics; when the process has a wake target (or the append request names
one), a :class:`~lash_core.process.events.ProcessWakeDelivery` is recorded for that scope, with
the id ``wake:`` + SHA-256 of ``[target_scope_id, dedupe_key]``.

Everything here is a pure function of its arguments.
"""

from __future__ import annotations

from typing import Final

from lash_core import codes
from lash_core.canonical import canonical_text_of, sort_json_value
from lash_core.effects.invocation import CausalRef
from lash_core.effects.replay_keys import wake_id
from lash_core.errors import LocalProtocolError
from lash_core.process.events import (
    ProcessEvent,
    ProcessEventWake,
    ProcessWakeDelivery,
)
from lash_core.process.records import (
    ConstSelector,
    PayloadSelector,
    PointerSelector,
    PresentSelector,
    ProcessValueSelector,
    ProcessWakeSpec,
    SessionScope,
    TemplateSelector,
)
from lash_core.wire import JsonValue

__all__ = [
    "materialize_wake",
    "select_value",
    "validate_wake_spec",
    "value_text",
    "wake_delivery",
    "wake_input_from_payload",
]

_MISSING: Final = object()


def _pointer_get(payload: JsonValue, pointer: str) -> object:
    """The value at a JSON pointer (RFC 6901), or ``_MISSING``."""
    if pointer == "":
        return payload
    current: object = payload
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                return _MISSING
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                return _MISSING
            index = int(token)
            if index >= len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def value_text(value: JsonValue) -> str:
    """A selected value as text: a string as is, anything else as compact canonical JSON."""
    return value if isinstance(value, str) else _json_text(value)


def _json_text(value: JsonValue) -> str:
    return canonical_text_of(sort_json_value(value))


def _payload_error(process_id: str, event_type: str, detail: str) -> LocalProtocolError:
    return LocalProtocolError(
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        f"process {process_id!r}: {event_type} payload {detail}",
    )


def select_value(
    payload: JsonValue, selector: ProcessValueSelector, process_id: str = "", event_type: str = ""
) -> JsonValue:
    """The value ``selector`` picks out of ``payload`` (``process_event_payload_invalid`` when
    a pointer matches nothing)."""
    if isinstance(selector, PayloadSelector):
        return payload
    if isinstance(selector, PointerSelector):
        found = _pointer_get(payload, selector.pointer)
        if found is _MISSING:
            detail = f"has no value at {selector.pointer!r}"
            raise _payload_error(process_id, event_type, detail)
        return found  # type: ignore[return-value]
    if isinstance(selector, ConstSelector):
        return selector.value
    if isinstance(selector, PresentSelector):
        return _pointer_get(payload, selector.pointer) is not _MISSING
    rendered = selector.template
    for field in selector.fields:
        value = select_value(payload, field.selector, process_id, event_type)
        rendered = rendered.replace("{" + field.name + "}", value_text(value))
    return rendered


def _truthy(value: JsonValue) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return True
    return len(value) > 0


def _check_selector(selector: object, where: str) -> str | None:
    """Why ``selector`` is malformed, or ``None``."""
    if isinstance(selector, PointerSelector | PresentSelector):
        pointer = selector.pointer
        if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
            return f"{where}: a JSON pointer is empty or starts with '/' (got {pointer!r})"
        return None
    if isinstance(selector, TemplateSelector):
        if not isinstance(selector.template, str):
            return f"{where}: a template is a string"
        names: set[str] = set()
        for field in selector.fields:
            name = getattr(field, "name", None)
            if not isinstance(name, str) or not name or name in names:
                return f"{where}: template field names are non-empty and unique"
            names.add(name)
            problem = _check_selector(field.selector, f"{where} field {name!r}")
            if problem is not None:
                return problem
        return None
    if isinstance(selector, PayloadSelector | ConstSelector):
        return None
    return f"{where}: expected a value selector, got {type(selector).__name__}"


def validate_wake_spec(spec: object) -> str | None:
    """Why a declared wake is malformed, or ``None`` when it is well formed."""
    if type(spec) is not ProcessWakeSpec:
        return f"expected a ProcessWakeSpec, got {type(spec).__name__}"
    for where, selector in (
        ("input", spec.input),
        ("when", spec.when),
        ("dedupe_key", spec.dedupe_key),
    ):
        if selector is None and where != "input":
            continue
        problem = _check_selector(selector, f"wake {where}")
        if problem is not None:
            return problem
    return None


def materialize_wake(
    process_id: str, sequence: int, event_type: str, payload: JsonValue, spec: ProcessWakeSpec
) -> ProcessEventWake | None:
    """The wake an event carries, or ``None`` when its ``when`` selects a falsy value."""
    if spec.when is not None and not _truthy(
        select_value(payload, spec.when, process_id, event_type)
    ):
        return None
    text = value_text(select_value(payload, spec.input, process_id, event_type))
    if spec.dedupe_key is None:
        dedupe_key = f"{process_id}:{sequence}"
    else:
        dedupe_key = value_text(select_value(payload, spec.dedupe_key, process_id, event_type))
    return ProcessEventWake(text, dedupe_key)


def wake_delivery(
    target: SessionScope, event: ProcessEvent, process_caused_by: CausalRef | None
) -> ProcessWakeDelivery | None:
    """The delivery of ``event``'s wake to ``target``, or ``None`` if the event has no wake."""
    wake = event.semantics.wake
    if wake is None:
        return None
    scope_id = target.id
    return ProcessWakeDelivery(
        wake_id=wake_id(scope_id, wake.dedupe_key),
        target_session_id=target.session_id,
        target_scope_id=scope_id,
        process_id=event.process_id,
        sequence=event.sequence,
        event_type=event.event_type,
        event_invocation=event.invocation,
        process_caused_by=process_caused_by,
        dedupe_key=wake.dedupe_key,
        input=wake.input,
        created_at_ms=event.occurred_at.to_ms(),
    )


def wake_input_from_payload(payload: JsonValue) -> str:
    """The model-facing input of a generic wake payload: its ``text``, else its ``value``
    (a string as is, anything else as compact JSON), else the whole payload as JSON."""
    for pointer in ("/text", "/value"):
        found = _pointer_get(payload, pointer)
        if found is not _MISSING:
            return value_text(found)  # type: ignore[arg-type]
    return _json_text(payload)
