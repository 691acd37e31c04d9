"""Turn control on the keyed-promise seam: stopping a turn, and learning how it ended.

Every turn has two reserved await-event keys in its ``turn`` scope:

* the **cancel gate** (``turn_cancel_gate``), written once, by whoever comes first: a cancel
  request (``cancel_requested`` with its evidence) or the turn itself sealing its completion
  (``completion_sealed``). First writer wins, so a cancel and a completion racing each other
  always agree on one answer;
* the **terminal** (``turn_terminal``), where the turn publishes how it ended (``committed``
  with its outcome, or ``failed``). Anyone may await it, before or after it is published.

:func:`request_cancel` is what a "stop" button calls. :func:`settle_before_commit` is what the
turn's owner calls before committing its outcome (``run_turn`` does it), and the gate's winner
decides the committed outcome (:func:`committed_result`). :func:`publish_terminal` and
:func:`await_terminal` write and read the terminal. The functions take the host whose registry
holds the keys (the values and the pure decisions are in :mod:`lash_core.turn.gate`); a running
turn learns of a cancel that won its gate through the host's
:attr:`~lash_core.host.InlineHost.cancel_watchers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from lash_core import codes, wire
from lash_core.effects.errors import ControllerError
from lash_core.errors import LashError, LocalProtocolError
from lash_core.host import DurabilityTier, InlineHost
from lash_core.keys import AwaitEventKey
from lash_core.resolution import AlreadyResolved, ResolveOutcome, UnknownOrRevoked, ok
from lash_core.scope import TurnCancelGate, TurnTerminal
from lash_core.turn.events import TurnResult, TurnStopped, TurnStopReason
from lash_core.turn.gate import CancelAlreadyRequested as CancelAlreadyRequested
from lash_core.turn.gate import CancelRequested as CancelRequested
from lash_core.turn.gate import CompletionWonRace as CompletionWonRace
from lash_core.turn.gate import ControlUnknownOrRevoked as ControlUnknownOrRevoked
from lash_core.turn.gate import GateCancelRequested as GateCancelRequested
from lash_core.turn.gate import GateCompletionSealed as GateCompletionSealed
from lash_core.turn.gate import TerminalCommitted as TerminalCommitted
from lash_core.turn.gate import TerminalFailed as TerminalFailed
from lash_core.turn.gate import TurnAddress as TurnAddress
from lash_core.turn.gate import TurnCancellation as TurnCancellation
from lash_core.turn.gate import TurnCancelOutcome as TurnCancelOutcome
from lash_core.turn.gate import TurnCancelRequest as TurnCancelRequest
from lash_core.turn.gate import TurnGateTerminal as TurnGateTerminal
from lash_core.turn.gate import TurnTerminalRecord as TurnTerminalRecord
from lash_core.turn.gate import cancel_message as cancel_message
from lash_core.turn.gate import committed_result as committed_result
from lash_core.turn.gate import decode_gate as decode_gate
from lash_core.turn.gate import decode_terminal

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
    "TurnCancelReceipt",
    "TurnCancelRequest",
    "TurnCancellation",
    "TurnGateTerminal",
    "TurnTerminalRecord",
    "await_terminal",
    "cancel_message",
    "commit_turn",
    "committed_result",
    "decode_gate",
    "fail_turn",
    "gate_key",
    "publish_terminal",
    "request_cancel",
    "request_cancel_threadsafe",
    "settle_before_commit",
    "terminal_key",
    "watch_cancel",
]


@attrs.frozen
class TurnCancelReceipt:
    """The answer to :func:`request_cancel`, with the host's durability tier."""

    durability_tier: DurabilityTier
    outcome: TurnCancelOutcome


# -- keys and decoding -----------------------------------------------------------------------

_GATE: Final = TurnCancelGate()
_TERMINAL: Final = TurnTerminal()


def gate_key(host: InlineHost, address: TurnAddress) -> AwaitEventKey:
    """The turn's cancel-gate key (give it to the turn machine as ``cancel_gate``)."""
    return host.await_event_key(address.scope, _GATE)


def terminal_key(host: InlineHost, address: TurnAddress) -> AwaitEventKey:
    """The turn's terminal key."""
    return host.await_event_key(address.scope, _TERMINAL)


def _propose(
    host: InlineHost, address: TurnAddress, wait: TurnCancelGate | TurnTerminal, value: object
) -> ResolveOutcome:
    """Resolve one of the turn's control keys with ``ok(value)``; a key that cannot be minted
    (its session was revoked) answers ``unknown_or_revoked`` like a refused resolve."""
    try:
        key = host.await_event_key(address.scope, wait)
    except LashError as exc:
        if exc.code != codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED:
            raise
        return UnknownOrRevoked()
    return host.resolve_await_event(key, ok(wire.to_wire(value)))


# -- the operations --------------------------------------------------------------------------


def _check_request(request: object) -> TurnCancelRequest:
    if not isinstance(request, TurnCancelRequest) or not isinstance(request.address, TurnAddress):
        raise LocalProtocolError(
            codes.INVALID_TURN_CANCEL_REQUEST, "expected a TurnCancelRequest with a TurnAddress"
        )
    fields = (request.address.session_id, request.address.turn_id, request.request_id)
    if not all(isinstance(f, str) and f.strip() for f in fields):
        raise LocalProtocolError(
            codes.INVALID_TURN_CANCEL_REQUEST,
            "a turn cancel request needs a non-blank session id, turn id and request id",
        )
    return request


def request_cancel(host: InlineHost, request: TurnCancelRequest) -> TurnCancelReceipt:
    """Ask the turn at ``request.address`` to stop (it may not have started yet).

    Answers ``requested`` (this request won the gate), ``already_requested`` (with the first
    request's evidence), ``completion_won_race`` (the turn had sealed its completion) or
    ``unknown_or_revoked`` (its session was revoked). Raises ``invalid_turn_cancel_request``
    for blank ids. Never waits.
    """
    request = _check_request(request)
    tier = host.durability_tier
    evidence = request.evidence
    answer = _propose(host, request.address, _GATE, GateCancelRequested(evidence))
    if isinstance(answer, UnknownOrRevoked):
        return TurnCancelReceipt(tier, ControlUnknownOrRevoked())
    if isinstance(answer, AlreadyResolved):
        winner = decode_gate(answer.terminal)
        if isinstance(winner, GateCancelRequested):
            return TurnCancelReceipt(tier, CancelAlreadyRequested(winner.cancellation))
        return TurnCancelReceipt(tier, CompletionWonRace())
    host.cancel_watchers.notify(request.address.session_id, request.address.turn_id, evidence)
    return TurnCancelReceipt(tier, CancelRequested(evidence))


def watch_cancel(
    host: InlineHost, address: TurnAddress, on_cancel: Callable[[TurnCancellation], None]
) -> Callable[[], None]:
    """Call ``on_cancel(evidence)`` at once, synchronously, when a :func:`request_cancel` on
    ``host`` wins the gate of the turn at ``address``; returns the function that stops watching.

    ``run_turn`` watches the turn it runs, so a cancel takes effect in the same step as the
    request: no effect of the turn can complete between the two.
    """
    return host.cancel_watchers.watch(address.session_id, address.turn_id, on_cancel)


def request_cancel_threadsafe(host: InlineHost, request: TurnCancelRequest) -> TurnCancelReceipt:
    """:func:`request_cancel` from another OS thread (blocks until the loop ran it)."""
    return host.primitives.call_threadsafe(lambda: request_cancel(host, request))


def settle_before_commit(
    host: InlineHost,
    address: TurnAddress,
    *,
    locally_cancelled: bool,
    origin: str | None = None,
) -> TurnGateTerminal:
    """Write the turn's side of its gate and return the gate's winner.

    A turn that was cancelled locally proposes ``cancel_requested`` with the evidence
    ``request_id="internal:{turn_id}"`` (and ``origin``); otherwise it proposes
    ``completion_sealed``. Whatever won (this proposal, or a cancel request that came first)
    decides the committed outcome. Raises ``turn_control_unknown_or_revoked`` if the session was
    revoked.
    """
    proposal: TurnGateTerminal = (
        GateCancelRequested(TurnCancellation(f"internal:{address.turn_id}", origin))
        if locally_cancelled
        else GateCompletionSealed()
    )
    answer = _propose(host, address, _GATE, proposal)
    if isinstance(answer, UnknownOrRevoked):
        raise LashError(
            codes.TURN_CONTROL_UNKNOWN_OR_REVOKED,
            f"the cancel gate of turn {address.turn_id!r} is unknown or its session was revoked",
        )
    if isinstance(answer, AlreadyResolved):
        return decode_gate(answer.terminal)
    return proposal


def commit_turn(host: InlineHost, address: TurnAddress, result: TurnResult) -> TurnResult:
    """Settle the gate for a finished turn, decide the committed result and publish it.

    A turn that stopped as ``cancelled`` proposes a cancel (evidence ``internal:{turn_id}``),
    any other proposes to seal its completion; the gate's winner decides
    (:func:`committed_result`), and the terminal is published with the winning cancel's
    evidence. A revoked session: ``turn_control_unknown_or_revoked``.
    """
    outcome = result.outcome
    cancelled = isinstance(outcome, TurnStopped) and outcome.reason is TurnStopReason.CANCELLED
    winner = settle_before_commit(host, address, locally_cancelled=cancelled)
    committed = committed_result(result, winner)
    cancellation = winner.cancellation if isinstance(winner, GateCancelRequested) else None
    _publish_quietly(host, address, TerminalCommitted(committed.outcome, cancellation))
    return committed


def fail_turn(host: InlineHost, address: TurnAddress, error: Exception) -> None:
    """Publish a ``failed`` terminal for a turn whose run raised ``error``."""
    code = error.code if isinstance(error, LashError) else codes.RUNTIME_EFFECT_HANDLER_FAILED
    message = error.message if isinstance(error, LashError) else f"{type(error).__name__}: {error}"
    _publish_quietly(host, address, TerminalFailed(ControllerError(code, message)))


def _publish_quietly(host: InlineHost, address: TurnAddress, record: TurnTerminalRecord) -> None:
    """Publish, ignoring a revoked session (nobody can attach to its terminal any more)."""
    try:
        publish_terminal(host, address, record)
    except LashError as exc:
        if exc.code != codes.TURN_TERMINAL_UNKNOWN_OR_REVOKED:
            raise


def publish_terminal(host: InlineHost, address: TurnAddress, record: TurnTerminalRecord) -> bool:
    """Publish how the turn ended on its terminal key (archiving its control keys). Returns
    whether it was written now (``False``: a terminal was already there, which stays).
    Raises ``turn_terminal_unknown_or_revoked`` if the session was revoked."""
    answer = _propose(host, address, _TERMINAL, record)
    if isinstance(answer, UnknownOrRevoked):
        raise LashError(
            codes.TURN_TERMINAL_UNKNOWN_OR_REVOKED,
            f"the terminal of turn {address.turn_id!r} is unknown or its session was revoked",
        )
    return not isinstance(answer, AlreadyResolved)


async def await_terminal(
    host: InlineHost, address: TurnAddress, *, timeout: float | None = None
) -> TurnTerminalRecord:
    """Wait for the turn's terminal (published before or after this call) and return it.

    ``timeout`` (seconds on the host's clock) raises ``turn_terminal_await_timeout`` and writes
    nothing, so a later publication and a later wait still work.
    """
    key = terminal_key(host, address)
    try:
        resolution = await host.wait_for_event(key, timeout=timeout)
    except LashError as exc:
        if exc.code == codes.TURN_CONTROL_WAIT_TIMEOUT:
            raise LashError(
                codes.TURN_TERMINAL_AWAIT_TIMEOUT,
                f"turn {address.turn_id!r} published no terminal within {timeout} s",
            ) from None
        raise
    return decode_terminal(resolution)
