"""Stored turns and their rules: opened once with their start, then finished (with a result)
or diverged (their replay met changed code), never both."""

from __future__ import annotations

import enum

import attrs

from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError
from lash_core.store.envelopes import text_hash
from lash_core.store.leases import is_blank

__all__ = [
    "TurnRef",
    "TurnRow",
    "TurnStatus",
    "diverge_turn_transition",
    "finish_turn_transition",
    "open_turn_transition",
]


@attrs.frozen
class TurnRef:
    """Names a turn in a store."""

    session_id: str
    turn_id: str


class TurnStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    DIVERGED = "diverged"


@attrs.frozen
class TurnRow:
    """A stored turn: how it started, and its result or divergence once known."""

    ref: TurnRef
    status: TurnStatus
    start_json: str
    result_json: str | None = None
    divergence_json: str | None = None


def open_turn_transition(existing: TurnRow | None, ref: TurnRef, start_json: str) -> TurnRow:
    """The turn row :meth:`DurableStore.open_turn` answers (write it if ``existing`` is
    ``None``). Opening again with the same start is harmless; another start is
    ``store_turn_conflict``."""
    if is_blank(ref.turn_id) or not isinstance(start_json, str):
        raise LocalProtocolError(
            codes.STORE_TURN_UNKNOWN, "a turn needs a non-blank turn id and a start JSON string"
        )
    if existing is None:
        return TurnRow(ref, TurnStatus.RUNNING, start_json)
    if existing.start_json != start_json:
        raise LashError(
            codes.STORE_TURN_CONFLICT,
            f"turn {ref.turn_id!r} of session {ref.session_id!r} was opened with another start",
        )
    return existing


def _unknown_turn(ref: TurnRef) -> LocalProtocolError:
    return LocalProtocolError(
        codes.STORE_TURN_UNKNOWN,
        f"turn {ref.turn_id!r} of session {ref.session_id!r} was never opened",
    )


def finish_turn_transition(existing: TurnRow | None, ref: TurnRef, result_json: str) -> bool:
    """Whether :meth:`DurableStore.finish_turn` writes: finishing again with the same result
    (compared by hash) is harmless; another result, or a diverged turn, is
    ``store_turn_conflict``."""
    if existing is None:
        raise _unknown_turn(ref)
    if existing.status is TurnStatus.RUNNING:
        return True
    if (
        existing.status is TurnStatus.FINISHED
        and existing.result_json is not None
        and text_hash(existing.result_json) == text_hash(result_json)
    ):
        return False
    raise LashError(
        codes.STORE_TURN_CONFLICT,
        f"turn {ref.turn_id!r} of session {ref.session_id!r} is already {existing.status.value}"
        " with another result",
    )


def diverge_turn_transition(existing: TurnRow | None, ref: TurnRef) -> bool:
    """Whether :meth:`DurableStore.mark_diverged` writes (the first divergence is kept; a
    finished turn cannot diverge: ``store_turn_conflict``)."""
    if existing is None:
        raise _unknown_turn(ref)
    if existing.status is TurnStatus.RUNNING:
        return True
    if existing.status is TurnStatus.DIVERGED:
        return False
    raise LashError(
        codes.STORE_TURN_CONFLICT,
        f"turn {ref.turn_id!r} of session {ref.session_id!r} is finished; it cannot diverge",
    )
