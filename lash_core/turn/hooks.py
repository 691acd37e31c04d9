"""A turn's user side: the handlers that answer its envelopes (:class:`TurnHandlers`), the hooks
that observe (and may replay) them (:class:`TurnHooks`), and the callbacks ``run_turn`` takes,
as hooks (:func:`callback_hooks`). :class:`~lash_core.turn.run.TurnRunner` calls them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.kinds import KINDS
from lash_core.effects.outcomes import EffectOutcome
from lash_core.errors import LashError
from lash_core.loop import CancelToken
from lash_core.routing import EffectHandler
from lash_core.turn.events import TurnEvent, TurnResult
from lash_core.turn.machine import TurnMachine

__all__ = ["TurnHandlers", "TurnHooks", "TurnJournaling", "callback_hooks", "error_outcome"]


@attrs.frozen
class TurnHandlers:
    """Your side of a turn: async functions from an envelope to its outcome.

    ``model`` answers ``llm_call`` envelopes (an :class:`~lash_core.effects.LlmCallOutcome`),
    ``tools`` answers ``tool_attempt`` envelopes (dispatch on ``envelope.command.call.tool_name``;
    a tool that completes later returns a ``ToolLaunchPending`` with a key from
    ``host.await_event_key``), ``code`` answers ``exec_code``, ``checkpoint`` answers
    ``checkpoint`` (deliver queued user messages here), ``environment`` answers
    ``sync_execution_environment``. A missing handler makes its envelopes fail with
    ``runtime_effect_local_executor_unavailable``.
    """

    model: EffectHandler
    tools: EffectHandler | None = None
    code: EffectHandler | None = None
    checkpoint: EffectHandler | None = None
    environment: EffectHandler | None = None
    by_kind: Mapping[EffectKind, EffectHandler] = attrs.field(init=False, repr=False, eq=False)
    """The handler of each kind, built once (what the host's ``run_envelope`` is given)."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "by_kind", _by_kind(self))


def error_outcome(envelope: EffectEnvelope, error: LashError) -> EffectOutcome | None:
    """The outcome that reports ``error`` for ``envelope`` (``None`` for kinds whose failure is
    not an outcome: a sleep or a turn-control wait). The kind's row of
    :data:`~lash_core.effects.kinds.KINDS` decides."""
    return KINDS[envelope.command.kind].error_outcome(envelope, error)


def _by_kind(handlers: TurnHandlers) -> Mapping[EffectKind, EffectHandler]:
    by_kind: dict[EffectKind, EffectHandler] = {EffectKind.LLM_CALL: handlers.model}
    if handlers.tools is not None:
        by_kind[EffectKind.TOOL_ATTEMPT] = handlers.tools
    if handlers.code is not None:
        by_kind[EffectKind.EXEC_CODE] = handlers.code
    if handlers.checkpoint is not None:
        by_kind[EffectKind.CHECKPOINT] = handlers.checkpoint
    if handlers.environment is not None:
        by_kind[EffectKind.SYNC_EXECUTION_ENVIRONMENT] = handlers.environment
    return by_kind


class TurnHooks:
    """What a :class:`TurnRunner` tells an observer of its turn (every method is a no-op here:
    subclass and override what you need).

    The hooks are called synchronously, in the loop's task that reaches them; none may await.
    """

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        """``envelope`` is about to run; ``timeout_ms`` is its relative deadline (see
        :class:`~lash_core.turn.events.AwaitDeadline`). Called once per envelope the machine
        hands out, in the order of its batch, as the batch is handed out (before the stream
        events of that step are delivered and before any envelope of the batch runs).

        Return ``None`` to let it run, or an outcome to use instead of running it (a replay:
        the envelope is not run, and the outcome is fed to the machine as if it had).
        """
        return None

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        """``envelope``'s outcome arrived (run, failed into its kind's error outcome, or
        supplied by :meth:`before_effect`); called once per outcome, as it arrives and before
        the machine is fed it."""
        return None

    def on_checkpoint(self, machine: TurnMachine) -> None:
        """The machine's state changed: an outcome was fed (and the turn committed, if it
        finished). ``machine.checkpoint()`` is the state to persist now."""
        return None

    def on_handler_error(self, envelope: EffectEnvelope, error: LashError) -> None:
        """A handler failed and its failure became ``envelope``'s error outcome (it raised, or
        returned an unusable outcome, or there was none). ``error`` is the library error the
        outcome reports; when the handler raised, ``error.__cause__`` is its exception, with
        its traceback. Called before :meth:`after_outcome` of that outcome."""
        return None


class TurnJournaling(Protocol):
    """What a durable host gives :func:`run_turn`: a way to run a turn journaled in its store
    (``hooks`` are the caller's own, called after the journal's)."""

    async def run_journaled(
        self,
        machine: TurnMachine,
        handlers: TurnHandlers,
        *,
        hooks: TurnHooks | None,
        on_event: Callable[[TurnEvent], None] | None,
        cancel: CancelToken | None,
    ) -> TurnResult: ...


class _Callbacks(TurnHooks):
    """``run_turn``'s ``on_effect`` and ``on_handler_error`` as hooks; ``inner`` (a caller's
    own hooks, as ``resume_turn`` takes them) is called after each callback."""

    __slots__ = ("_inner", "_on_effect", "_on_handler_error")

    def __init__(
        self,
        on_effect: Callable[[EffectEnvelope, EffectOutcome], None] | None,
        on_handler_error: Callable[[EffectEnvelope, LashError], None] | None = None,
        inner: TurnHooks | None = None,
    ) -> None:
        self._on_effect = on_effect
        self._on_handler_error = on_handler_error
        self._inner = inner

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        inner = self._inner
        return None if inner is None else inner.before_effect(envelope, timeout_ms)

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        if self._on_effect is not None:
            self._on_effect(envelope, outcome)
        if self._inner is not None:
            self._inner.after_outcome(envelope, outcome)

    def on_checkpoint(self, machine: TurnMachine) -> None:
        if self._inner is not None:
            self._inner.on_checkpoint(machine)

    def on_handler_error(self, envelope: EffectEnvelope, error: LashError) -> None:
        if self._on_handler_error is not None:
            self._on_handler_error(envelope, error)
        if self._inner is not None:
            self._inner.on_handler_error(envelope, error)


def callback_hooks(
    on_effect: Callable[[EffectEnvelope, EffectOutcome], None] | None,
    on_handler_error: Callable[[EffectEnvelope, LashError], None] | None,
    hooks: TurnHooks | None = None,
) -> TurnHooks | None:
    """``on_effect`` and ``on_handler_error`` as hooks, called before ``hooks``' own (``hooks``
    alone when there is no callback; ``None`` when there is nothing)."""
    if on_effect is None and on_handler_error is None:
        return hooks
    return _Callbacks(on_effect, on_handler_error, hooks)
