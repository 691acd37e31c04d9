"""Builders shared by the process tests."""

from __future__ import annotations

from typing import Any

from lash_core import JsonValue
from lash_core.effects.invocation import Replay
from lash_core.process import ProcessRegistry
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


def snapshot(registry: ProcessRegistry) -> Any:
    """Everything the registry holds, as comparable values: each process's record, log,
    replay keys, per-type counts and ordinals, cancel flag and acknowledged wake events; the
    grants, wake targets, pending and acknowledged wakes, leases, fences and awaiters."""
    processes = {
        pid: (
            p.record,
            tuple(p.events),
            dict(p.replays),
            dict(p.counts),
            tuple(p.ordinals),
            p.cancel_requested,
            set(p.acked_wakes),
        )
        for pid, p in registry._processes.items()
    }
    return (
        processes,
        {k: dict(v) for k, v in registry._grants.items()},
        {k: set(v) for k, v in registry._session_scopes.items()},
        {k: set(v) for k, v in registry._holders.items()},
        {k: set(v) for k, v in registry._wake_targets.items()},
        list(registry._wakes.items()),
        set(registry._acknowledged_wakes),
        dict(registry._leases),
        dict(registry._fences),
        dict(registry._awaiters),
        {k: set(v) for k, v in registry._awaiting.items()},
        registry._next_waiter,
    )
