"""The effect journal's rules: what :meth:`~lash_core.store.DurableStore.begin`,
``complete`` and ``abandon`` answer and write, given the stored row (fence already checked).

* a replay key recorded with the same envelope hash answers :class:`Recorded` (a recorded
  failure too: the outcome JSON is whatever the host stored);
* one recorded (or running) with another hash answers :class:`Diverged`, with the JSON-path diff;
* a new key answers :class:`Started` (attempt 1);
* a ``running`` row left by an older fencing token is *in doubt* (its owner died between running
  and recording): it answers ``Started(attempt + 1, in_doubt=True)``, and the effect runs again
  under the same replay key, which a handler can offer as an idempotency key.
"""

from __future__ import annotations

import enum
import json
from typing import Final, TypeAlias

import attrs

from lash_core import codes
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.errors import LashError, LocalProtocolError, ReplayMismatchError
from lash_core.replay import EnvelopeDiff, envelope_diff, validate_replayed_effect_envelope
from lash_core.store.envelopes import envelope_member

__all__ = [
    "DIVERGE",
    "BeginResult",
    "Diverged",
    "EffectState",
    "EffectStatus",
    "Recorded",
    "Started",
    "abandon_allowed",
    "begin_transition",
    "complete_transition",
    "envelope_identity",
    "envelope_replay_key",
    "envelope_session_id",
]


class EffectStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


@attrs.frozen
class EffectState:
    """A stored effect row, as the rules see it."""

    status: EffectStatus
    envelope_hash: str
    attempt: int
    fencing_token: int
    outcome_json: str | None = None
    due_at_ms: int | None = None


@attrs.frozen
class Recorded:
    """The effect is recorded: use ``outcome_json`` (whatever the host stored, a failure
    included) and run nothing."""

    outcome_json: str
    attempt: int


@attrs.frozen
class Diverged:
    """The replay key was recorded with another envelope: the code changed between the run and
    its replay. Terminal: never run or retry it. ``diff`` names the divergent JSON paths."""

    recorded: CanonicalEnvelope
    reconstructed: CanonicalEnvelope

    @property
    def diff(self) -> EnvelopeDiff:
        return envelope_diff(self.recorded, self.reconstructed)

    def error(self) -> ReplayMismatchError:
        """The :class:`~lash_core.errors.ReplayMismatchError` a host raises for this."""
        try:
            validate_replayed_effect_envelope(self.recorded, self.reconstructed)
        except ReplayMismatchError as exc:
            return exc
        raise LashError(  # pragma: no cover - a Diverged always holds two different envelopes
            codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT,
            "a divergence between two identical envelopes",
        )


@attrs.frozen
class Started:
    """Run the effect now (``attempt`` from 1). ``in_doubt``: an earlier attempt may have run
    its side effect without being recorded (its owner died); the replay key is the same on every
    attempt, so offer it as an idempotency key. ``due_at_ms`` is the first attempt's (a sleep
    resumes to its original due time)."""

    attempt: int
    in_doubt: bool
    due_at_ms: int | None = None


BeginResult: TypeAlias = Recorded | Diverged | Started


@attrs.frozen
class _Diverge:
    """The rule's verdict before the store loads the recorded envelope."""


DIVERGE: Final = _Diverge()


def begin_transition(
    row: EffectState | None, envelope_hash: str, fencing_token: int, due_at_ms: int | None
) -> Recorded | Started | _Diverge:
    """What :meth:`DurableStore.begin` answers, given the stored row (fence already checked).

    ``Started`` means the store writes (or rewrites) the row as running under
    ``fencing_token`` with that attempt; the other answers write nothing.
    """
    if row is None:
        return Started(1, False, due_at_ms)
    if row.envelope_hash != envelope_hash:
        return DIVERGE
    if row.status is EffectStatus.COMPLETED:
        assert row.outcome_json is not None
        return Recorded(row.outcome_json, row.attempt)
    if row.status is EffectStatus.RUNNING:
        if row.fencing_token >= fencing_token:
            raise LocalProtocolError(
                codes.EFFECT_JOURNAL_ENTRY_IN_FLIGHT,
                "an effect with this replay key is already running under this lease",
            )
        return Started(row.attempt + 1, True, row.due_at_ms)
    return Started(row.attempt + 1, False, row.due_at_ms)


def complete_transition(row: EffectState | None, outcome_json: str, fencing_token: int) -> bool:
    """Whether :meth:`DurableStore.complete` writes (``False``: the same outcome is already
    recorded). Refuses a key with no running row (``store_effect_not_started``), another
    outcome for a recorded key (``effect_journal_entry_exists``), and a row another holder
    began again since (``lease_lost``)."""
    if row is None or row.status is EffectStatus.ABANDONED:
        raise LocalProtocolError(
            codes.STORE_EFFECT_NOT_STARTED,
            "no running effect under this replay key: call begin first",
        )
    if row.status is EffectStatus.COMPLETED:
        if row.outcome_json == outcome_json:
            return False
        raise LocalProtocolError(
            codes.EFFECT_JOURNAL_ENTRY_EXISTS,
            "this replay key is already recorded with another outcome",
        )
    if row.fencing_token != fencing_token:
        raise LashError(
            codes.LEASE_LOST,
            f"the effect was begun again under fence {row.fencing_token}; this lease "
            f"(fence {fencing_token}) may not complete it",
        )
    return True


def abandon_allowed(row: EffectState | None, fencing_token: int) -> bool:
    """Whether :meth:`DurableStore.abandon` marks the row abandoned (only a running row of
    this fence is)."""
    return (
        row is not None
        and row.status is EffectStatus.RUNNING
        and row.fencing_token == fencing_token
    )


def _envelope_field(json_text: str, *path: str) -> object:
    """A field of the envelope's ``invocation`` (only the members up to it are parsed, not
    the command after it, which holds a model request's whole conversation)."""
    try:
        value: object = envelope_member(json_text, path[0])
    except ValueError:
        try:
            value = json.loads(json_text)
        except ValueError:
            raise LocalProtocolError(
                codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_DECODE, "the canonical envelope is not JSON"
            ) from None
        value = value.get(path[0]) if isinstance(value, dict) else None
    for name in path[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def envelope_replay_key(envelope: CanonicalEnvelope) -> str:
    """The replay key of a canonical envelope (``runtime_effect_replay_required`` if none)."""
    key = _envelope_field(envelope.json, "invocation", "replay", "key")
    if not isinstance(key, str) or not key:
        raise LocalProtocolError(
            codes.RUNTIME_EFFECT_REPLAY_REQUIRED, "a journaled effect requires replay.key"
        )
    return key


def envelope_identity(envelope: CanonicalEnvelope) -> tuple[str, str | None]:
    """:func:`envelope_replay_key` and :func:`envelope_session_id` at once (the envelope's
    ``invocation`` parsed once)."""
    invocation = _envelope_field(envelope.json, "invocation")
    replay = invocation.get("replay") if isinstance(invocation, dict) else None
    key = replay.get("key") if isinstance(replay, dict) else None
    if not isinstance(key, str) or not key:
        raise LocalProtocolError(
            codes.RUNTIME_EFFECT_REPLAY_REQUIRED, "a journaled effect requires replay.key"
        )
    scope = invocation.get("scope") if isinstance(invocation, dict) else None
    session_id = scope.get("session_id") if isinstance(scope, dict) else None
    return key, session_id if isinstance(session_id, str) else None


def envelope_session_id(envelope: CanonicalEnvelope) -> str | None:
    """The session id in a canonical envelope's scope, if it has one."""
    value = _envelope_field(envelope.json, "invocation", "scope", "session_id")
    return value if isinstance(value, str) else None
