"""A process's event log entries and what they mean: the event, its materialised semantics
(terminal, wake), an append request, and the wake delivery an event materialises for a session.

The ``terminal`` field of :class:`ProcessEventSemantics` is lash's own compact shape; a wake
(:class:`ProcessEventWake`) and a wake delivery (:class:`ProcessWakeDelivery`) keep the
reference's fields.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from lash_core import wire
from lash_core.effects.invocation import CausalRef, Invocation, Replay
from lash_core.process.records import SessionScope
from lash_core.wire import U32, JsonValue, omit_if_none

__all__ = [
    "ProcessEvent",
    "ProcessEventAppendRequest",
    "ProcessEventSemantics",
    "ProcessEventTerminal",
    "ProcessEventWake",
    "ProcessWakeDelivery",
    "ProcessWakeOrigin",
    "ProcessWakeTurnCause",
    "SystemTime",
]


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
