"""The sans-IO turn machine.

A turn is a pure function of its inputs: :class:`TurnMachine` never does I/O and never reads a
clock. ``next()`` hands out the envelopes that may run now, ``send(replay_key, outcome)`` feeds
one outcome back, ``drain_events()`` returns the stream events. Every call decides whether it
is refused before it changes anything, so a refused call leaves the machine exactly as it was.

The machine works on a :class:`~lash_core.turn._live.Live` state (:mod:`lash_core.turn._live`):
the fields of the frozen :class:`~lash_core.turn.state.TurnState` with the collections a
transition changes held as a list or a dict (queued envelopes, handed-out envelopes by replay
key, a tool round's slots, undrained events), plus the replay keys a tool round's unsettled
calls wait on. A ``send`` therefore changes a few items whatever the size of the round, and
``checkpoint()`` builds the frozen state only when asked (keeping it until the next change). The
transitions (what each outcome does to the state) are in :mod:`lash_core.turn._transitions`; this
module holds the public surface and its refusals.

Replay keys (``lash_core.effects.replay_keys``): turn effects (``sync_execution_environment``,
``llm_call``, ``tool_batch``, ``exec_code``, ``checkpoint``) are
``{session}:{turn}:{turn_index}:{protocol_iteration}:{kind}:{effect_id}`` with effect ids from 1
per turn. A round's tool attempts are children of its ``tool_batch`` invocation
(``...:child:{i}:{call_id}:attempt:{n}``), the sleep after failed attempt ``n`` adds ``:sleep``,
a pending completion's wait is ``...:{call_id}:await``. The ``tool_batch`` invocation itself is
never emitted as an envelope: the machine runs the batch's attempts itself. A model call's retry
``n >= 2`` is a child of attempt 1 (``{llm key}:attempt:{n}``) and the sleep after failed
attempt ``n`` is ``{llm key}:attempt:{n}:sleep``.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable

import attrs

from lash_core import codes
from lash_core._unchecked import unchecked
from lash_core.effects.errors import ControllerError
from lash_core.effects.kinds import KINDS, check_outcome
from lash_core.effects.llm import Message
from lash_core.effects.outcomes import EffectOutcome
from lash_core.errors import LocalProtocolError
from lash_core.keys import AwaitEventKey
from lash_core.scope import TurnCancelGate, TurnScope
from lash_core.turn._live import Live, ToolRound, planned
from lash_core.turn._transitions import _on_tool_outcome
from lash_core.turn._transitions import apply as _apply
from lash_core.turn._transitions import start as _start
from lash_core.turn._transitions import stop as _stop
from lash_core.turn.config import TurnConfig, check_turn_arguments, turn_messages
from lash_core.turn.events import (
    NeedOutcomes,
    RunEffects,
    TurnEvent,
    TurnFinished,
    TurnResult,
    TurnStep,
    TurnStopReason,
)
from lash_core.turn.state import CheckingGate, TurnDone, TurnState

__all__ = ["TurnMachine"]

_evolve = attrs.evolve
_run_effects = unchecked(RunEffects)  # one per step: a tuple of the machine's own envelopes
_turn_finished = unchecked(TurnFinished)  # the turn's own result
_OUTCOME_OF = {kind: spec.outcome for kind, spec in KINDS.items()}
"""Each kind's outcome class (``KINDS[kind].outcome``), looked up once per outcome fed."""


class TurnMachine:
    """One agent turn as a pure state machine (h11 style).

    ``next()`` returns :class:`RunEffects` (envelopes that may run now, concurrently),
    :class:`NeedOutcomes` (still waiting; calling ``next()`` again never re-emits) or
    :class:`TurnFinished`. ``send(replay_key, outcome)`` feeds one outcome of an envelope
    handed out by ``next()``. Misuse raises :class:`~lash_core.errors.LocalProtocolError` and
    an outcome of the wrong kind ``LashError`` ``runtime_effect_wrong_outcome``; both are
    decided before anything changes, so they leave the machine unchanged. Any other exception
    is a bug in lash: the machine then refuses every further call with ``turn_machine_broken``
    (restore a checkpoint taken earlier to go on).
    """

    __slots__ = ("_broken", "_frozen", "_live")

    _live: Live
    _frozen: TurnState | None
    _broken: BaseException | None

    def __init__(
        self,
        config: TurnConfig,
        *,
        session_id: str,
        turn_id: str,
        turn_index: int,
        messages: Iterable[Message],
        cancel_gate: AwaitEventKey | None = None,
    ) -> None:
        check_turn_arguments(config, session_id, turn_id, turn_index)
        config.validate()
        if not session_id.strip() or not turn_id.strip():
            raise LocalProtocolError(
                codes.TURN_CONFIG_INVALID, "session_id and turn_id must be non-empty"
            )
        if turn_index < 0:
            raise LocalProtocolError(codes.TURN_CONFIG_INVALID, "turn_index must not be negative")
        if cancel_gate is not None and (
            not isinstance(cancel_gate, AwaitEventKey)
            or cancel_gate.scope != TurnScope(session_id, turn_id)
            or not isinstance(cancel_gate.wait, TurnCancelGate)
        ):
            raise LocalProtocolError(
                codes.TURN_CONFIG_INVALID,
                "cancel_gate must be the turn_cancel_gate key of this turn's scope",
            )
        conversation = turn_messages(messages)
        # `Live(TurnState(config=..., system=config.system_prompt, tools=config.tools,
        # messages=conversation, progress_cursor=len(conversation), ...))`, without building
        # the TurnState.
        self._live = Live.fresh(config, session_id, turn_id, turn_index, cancel_gate, conversation)
        self._frozen = None
        self._broken = None
        self._change(_start)

    # -- checkpoint and restore -------------------------------------------------------------

    def checkpoint(self) -> TurnState:
        """The whole state as a wire value (``lash_core.wire.to_json`` writes it).

        Built on demand (and kept until the next change), so transitions never pay for it.
        """
        if self._broken is not None:
            self._refuse()
        frozen = self._frozen
        if frozen is None:
            frozen = self._frozen = self._live.freeze()
        return frozen

    @classmethod
    def restore(cls, checkpoint: TurnState) -> TurnMachine:
        """A machine continuing from ``checkpoint``. Envelopes that were handed out and not
        answered are handed out again by the next ``next()``, identical (same replay keys,
        same hashes)."""
        if not isinstance(checkpoint, TurnState):
            raise LocalProtocolError(codes.TURN_CONFIG_INVALID, "restore needs a TurnState")
        checkpoint.config.validate()
        machine = cls.__new__(cls)
        machine._live = Live(
            _evolve(checkpoint, outbox=checkpoint.inflight + checkpoint.outbox, inflight=())
        )
        machine._frozen = None
        machine._broken = None
        return machine

    # -- driving ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The turn is over."""
        return isinstance(self._live.phase, TurnDone)

    @property
    def session_id(self) -> str:
        return self._live.session_id

    @property
    def turn_id(self) -> str:
        return self._live.turn_id

    @property
    def result(self) -> TurnResult | None:
        """The turn's result once it is over, else ``None``."""
        phase = self._live.phase
        return phase.result if isinstance(phase, TurnDone) else None

    @property
    def cancel_gate(self) -> AwaitEventKey | None:
        """The turn's cancel-gate key, if it runs under turn control."""
        return self._live.cancel_gate

    @property
    def gate_checked(self) -> bool:
        """The start gate has been read (or there is none): a cancel must now be watched for."""
        return not isinstance(self._live.phase, CheckingGate)

    @property
    def awaiting(self) -> tuple[str, ...]:
        """Replay keys of the envelopes handed out and not yet answered."""
        return tuple(self._live.inflight)

    def is_awaiting(self, replay_key: str) -> bool:
        """Whether the envelope with ``replay_key`` was handed out and not yet answered."""
        return replay_key in self._live.inflight

    def next(self) -> TurnStep:
        """What the driver does next (see the class docstring)."""
        if self._broken is not None:
            self._refuse()
        live = self._live
        if live.outbox:
            effects = planned(live)
            self._frozen = None
            # The queued envelopes are handed out (this cannot fail: `_change` need not guard it).
            live.inflight.update(live.outbox)
            live.outbox = {}
            return _run_effects(effects)
        phase = live.phase
        if isinstance(phase, TurnDone):
            return _turn_finished(phase.result)
        return NeedOutcomes(tuple(live.inflight))

    def send(self, replay_key: str, outcome: EffectOutcome) -> None:
        """Feed the outcome of the handed-out envelope with ``replay_key``.

        Raises ``LocalProtocolError`` (``turn_finished`` after the end,
        ``turn_unknown_replay_key`` for a key not awaited) or ``LashError``
        (``runtime_effect_wrong_outcome``); the machine is then unchanged.
        """
        if self._broken is not None:
            self._refuse()
        live = self._live
        phase = live.phase
        if type(phase) is not ToolRound and isinstance(phase, TurnDone):
            raise LocalProtocolError(codes.TURN_FINISHED, "the turn is already finished")
        envelope = live.inflight.get(replay_key) if type(replay_key) is str else None
        if envelope is None:
            queued = type(replay_key) is str and replay_key in live.outbox
            why = "has not been handed out by next() yet" if queued else "is not awaited"
            raise LocalProtocolError(
                codes.TURN_UNKNOWN_REPLAY_KEY, f"replay key {replay_key!r} {why}"
            )
        kind = envelope.command.kind
        if type(outcome) is not _OUTCOME_OF[kind]:
            outcome = check_outcome(kind, outcome)
        self._frozen = None
        try:
            del live.inflight[replay_key]
            if type(phase) is ToolRound:  # `_apply`'s first case, inlined: most outcomes
                _on_tool_outcome(live, phase, replay_key, outcome)
            else:
                _apply(live, replay_key, outcome)
        except BaseException as exc:
            self._broken = exc
            raise

    def drain_events(self) -> tuple[TurnEvent, ...]:
        """The stream events since the last drain, in order."""
        if self._broken is not None:
            self._refuse()
        live = self._live
        events = live.events
        if not events:
            return ()
        self._frozen = None
        live.events = []
        return tuple(events)

    def _listen(self, listening: bool) -> None:
        """Whether transitions build stream events. A runner nobody listens to (it would drain
        them and drop them unread) turns them off for its run, and back on as it ends; the
        state a checkpoint holds is the same either way, as events are drained at once."""
        self._live.listening = listening

    def cancel(self, message: str = "the turn was cancelled") -> None:
        """End the turn now as stopped (``cancelled``); outstanding envelopes are dropped
        (their outcomes are then refused with ``turn_finished``)."""
        if self._broken is not None:
            self._refuse()
        if isinstance(self._live.phase, TurnDone):
            raise LocalProtocolError(codes.TURN_FINISHED, "the turn is already finished")
        error = ControllerError(codes.TURN_CANCELLED, message)
        self._change(lambda live: _stop(live, TurnStopReason.CANCELLED, error=error))

    def _refuse(self) -> typing.NoReturn:
        broken = self._broken
        raise LocalProtocolError(
            codes.TURN_MACHINE_BROKEN,
            f"an earlier call failed inside a transition ({type(broken).__name__}: "
            f"{broken}); restore a checkpoint taken before it",
        )

    def _change(self, change: Callable[[Live], None]) -> None:
        """Apply ``change`` to the live state (every refusal has happened before)."""
        self._frozen = None
        try:
            change(self._live)
        except BaseException as exc:
            self._broken = exc
            raise
