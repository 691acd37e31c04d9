"""The turn-control values, pure: the cancel gate, the terminal, and what they decide.

A turn under control has two reserved await-event keys (see :mod:`lash_core.turn.control`, which
holds the operations that read and write them on a host). This module holds what those keys
carry and the decisions that need no host: :func:`decode_gate` and :func:`decode_terminal` read
a resolution, :func:`cancel_message` words a cancel, :func:`committed_result` says which result
a settled gate commits. The turn machine uses these; it imports no host code.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeAlias

import attrs

from lash_core import codes, wire
from lash_core.effects.errors import ControllerError
from lash_core.errors import LashError
from lash_core.resolution import Resolution, ResolutionOk
from lash_core.scope import TurnScope
from lash_core.turn.events import TurnOutcome, TurnResult, TurnStopped, TurnStopReason
from lash_core.wire import omit_if_none

__all__ = [
    "CancelAlreadyRequested",
    "CancelRequested",
    "CompletionWonRace",
    "ControlUnknownOrRevoked",
    "GateCancelRequested",
    "GateCompletionSealed",
    "TerminalCommitted",
    "TerminalFailed",
    "TurnAddress",
    "TurnCancelOutcome",
    "TurnCancelRequest",
    "TurnCancellation",
    "TurnGateTerminal",
    "TurnTerminalRecord",
    "cancel_message",
    "committed_result",
    "decode_gate",
    "decode_terminal",
]

# -- wire values -----------------------------------------------------------------------------


@attrs.frozen
class TurnAddress:
    """Which turn: a session and a turn id."""

    session_id: str
    turn_id: str

    @property
    def scope(self) -> TurnScope:
        return TurnScope(self.session_id, self.turn_id)


@attrs.frozen
class TurnCancellation:
    """The evidence of a cancel request: who asked (``request_id``), from where, and why."""

    request_id: str
    origin: str | None = omit_if_none()
    reason: str | None = omit_if_none()


@attrs.frozen
class TurnCancelRequest:
    """A request to cancel the turn at ``address`` (``request_id`` must not be blank)."""

    address: TurnAddress
    request_id: str
    origin: str | None = None
    reason: str | None = None

    @property
    def evidence(self) -> TurnCancellation:
        return TurnCancellation(self.request_id, self.origin, self.reason)


@attrs.frozen
class GateCancelRequested:
    """The gate's terminal when a cancel came first."""

    state: ClassVar[str] = "cancel_requested"
    cancellation: TurnCancellation


@attrs.frozen
class GateCompletionSealed:
    """The gate's terminal when the turn sealed its completion first."""

    state: ClassVar[str] = "completion_sealed"


TurnGateTerminal: TypeAlias = GateCancelRequested | GateCompletionSealed
"""What won the cancel gate (tag ``state``, content ``cancellation``)."""

wire.tagged_union(
    TurnGateTerminal,
    "state",
    {"cancel_requested": GateCancelRequested, "completion_sealed": GateCompletionSealed},
    content="cancellation",
)


@attrs.frozen
class CancelRequested:
    """This request won the gate: the turn will stop."""

    outcome: ClassVar[str] = "requested"
    cancellation: TurnCancellation


@attrs.frozen
class CancelAlreadyRequested:
    """An earlier request won the gate; ``cancellation`` is that first request's evidence."""

    outcome: ClassVar[str] = "already_requested"
    cancellation: TurnCancellation


@attrs.frozen
class CompletionWonRace:
    """The turn had sealed its completion first: it was not cancelled."""

    outcome: ClassVar[str] = "completion_won_race"


@attrs.frozen
class ControlUnknownOrRevoked:
    """The turn's session was revoked (or the key refused): nothing was written."""

    outcome: ClassVar[str] = "unknown_or_revoked"


TurnCancelOutcome: TypeAlias = (
    CancelRequested | CancelAlreadyRequested | CompletionWonRace | ControlUnknownOrRevoked
)
"""What a cancel request achieved (tag ``outcome``, content ``cancellation``)."""

wire.tagged_union(
    TurnCancelOutcome,
    "outcome",
    {
        "requested": CancelRequested,
        "already_requested": CancelAlreadyRequested,
        "completion_won_race": CompletionWonRace,
        "unknown_or_revoked": ControlUnknownOrRevoked,
    },
    content="cancellation",
)


@attrs.frozen
class TerminalCommitted:
    """The turn committed ``outcome``; ``cancellation`` is the evidence of the cancel that won
    its gate, if one did."""

    status: ClassVar[str] = "committed"
    outcome: TurnOutcome
    cancellation: TurnCancellation | None = omit_if_none()
    session_revision: int | None = omit_if_none()


@attrs.frozen
class TerminalFailed:
    """The turn failed before it could commit an outcome."""

    status: ClassVar[str] = "failed"
    error: ControllerError


TurnTerminalRecord: TypeAlias = TerminalCommitted | TerminalFailed
"""How a turn ended, as published on its terminal key (tag ``status``)."""

wire.tagged_union(
    TurnTerminalRecord, "status", {"committed": TerminalCommitted, "failed": TerminalFailed}
)


# -- decoding and decisions ----------------------------------------------------------------


def _decode_ok(resolution: Resolution, tp: object, what: str, not_ok: str, bad: str) -> Any:
    """The wire value of type ``tp`` an ``ok`` resolution holds, else ``not_ok``/``bad``."""
    if not isinstance(resolution, ResolutionOk):
        raise LashError(not_ok, f"{what} holds a {type(resolution).__name__} resolution, not ok")
    try:
        return wire.from_wire(resolution.payload, tp)
    except LashError as exc:
        raise LashError(bad, f"{what}'s payload does not decode: {exc}") from None


def decode_gate(resolution: Resolution) -> TurnGateTerminal:
    """The gate terminal a resolution holds (``turn_cancel_gate_invalid_terminal`` if it is not
    ``ok``, ``turn_cancel_gate_decode`` if its payload is not a gate terminal)."""
    gate: TurnGateTerminal = _decode_ok(
        resolution,
        TurnGateTerminal,
        "the cancel gate",
        codes.TURN_CANCEL_GATE_INVALID_TERMINAL,
        codes.TURN_CANCEL_GATE_DECODE,
    )
    return gate


def decode_terminal(resolution: Resolution) -> TurnTerminalRecord:
    """The terminal record a resolution holds (``turn_terminal_invalid_resolution`` if it is not
    ``ok``, ``turn_terminal_decode`` if its payload is not a terminal record)."""
    record: TurnTerminalRecord = _decode_ok(
        resolution,
        TurnTerminalRecord,
        "the turn terminal",
        codes.TURN_TERMINAL_INVALID_RESOLUTION,
        codes.TURN_TERMINAL_DECODE,
    )
    return record


def cancel_message(cancellation: TurnCancellation) -> str:
    """The message of a turn stopped by a cancel request."""
    why = f": {cancellation.reason}" if cancellation.reason else ""
    return f"the turn was cancelled by request {cancellation.request_id!r}{why}"


def committed_result(result: TurnResult, winner: TurnGateTerminal) -> TurnResult:
    """The result to commit once the gate is settled: the turn's own, unless a cancel won the
    gate and the turn did not already stop as cancelled."""
    if isinstance(winner, GateCompletionSealed):
        return result
    outcome = result.outcome
    if isinstance(outcome, TurnStopped) and outcome.reason is TurnStopReason.CANCELLED:
        return result
    error = ControllerError(codes.TURN_CANCELLED, cancel_message(winner.cancellation))
    return attrs.evolve(result, outcome=TurnStopped(TurnStopReason.CANCELLED, error=error))
