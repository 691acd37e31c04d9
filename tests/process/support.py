"""Builders shared by the process tests."""

from __future__ import annotations

from lash_core.effects.invocation import Replay
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.records import (
    EngineInput,
    ExternalInput,
    HostOriginator,
    ProcessEventType,
    ProcessIdentity,
    ProcessInput,
    ProcessProvenance,
    ProcessRegistration,
    RecoveryDisposition,
    SessionScope,
)
from lash_core.wire import JsonValue

SIGNAL_TYPES = (ProcessEventType("signal.go"), ProcessEventType("note"))


def registration(
    pid: str,
    kind: str = "job",
    payload: JsonValue = None,
    *,
    event_types: tuple[ProcessEventType, ...] = SIGNAL_TYPES,
    wake_target: SessionScope | None = None,
    process_input: ProcessInput | None = None,
) -> ProcessRegistration:
    """An engine process of ``kind`` (env ``env:test``) declaring ``signal.go`` and ``note``."""
    chosen = EngineInput(kind, payload) if process_input is None else process_input
    return ProcessRegistration(
        id=pid,
        input=chosen,
        disposition=RecoveryDisposition.RERUNNABLE,
        identity=ProcessIdentity(kind),
        event_types=event_types,
        provenance=ProcessProvenance(HostOriginator()),
        env_ref=None if isinstance(chosen, ExternalInput) else "env:test",
        wake_target=wake_target,
    )


def note(payload: JsonValue = None, key: str | None = None) -> ProcessEventAppendRequest:
    """A ``note`` event (keyed when ``key`` is given)."""
    return ProcessEventAppendRequest("note", payload, None if key is None else Replay(key))


def scope(session_id: str, frame: str | None = None) -> SessionScope:
    return SessionScope(session_id, frame)
