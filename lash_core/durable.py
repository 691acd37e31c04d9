"""Durable steps and direct model calls: host code's nondeterministic work, run as effects.

A replaying host must not read the clock again, draw another random id, or call the model or
an HTTP API a second time: it must get back what the first run got. Each such piece of work
runs here as an effect envelope with a stable replay key, and :func:`run_effect` answers it from
an :class:`~lash_core.journal.EffectJournal` when the journal holds it, running it (and
recording the outcome) only when it does not. Without a journal of their own they run through
``host.execute_recorded``: on a durable host that is the store's journal (fenced by the
session's lease), so another process replays them.

* :func:`durable_step` runs a function of yours (sync or async, returning a JSON value) as a
  ``durable_step`` effect through a ``durable_step`` local executor.
* :func:`direct_call` runs a model request outside a turn as a ``direct`` effect through a
  ``direct`` local executor, with the reference runtime's replay key (a hash of the request, or
  an explicit replay id, prefixed by what caused the call).

Replay keys of durable steps (lash's own scheme; the reference leaves it to the caller):

* with a ``parent`` invocation (the effect that runs the step): a child of it, effect id
  ``{parent effect id}:durable:{step_id}``, replay key ``{parent replay key}:durable:{step_id}``,
  caused by the parent, in the parent's scope;
* otherwise a root effect of the session: effect id ``durable:{step_id}``, replay key
  ``{session}:durable:{step_id}`` (``{session}:{turn}:durable:{step_id}`` with a ``turn_id``),
  scope ``{session_id, turn_id?}``.

A step id names one step: a loop gives each iteration its own (``poll:{i}``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeAlias

from lash_core import codes
from lash_core.canonical import _PathError, canonical_text_of, normalize_json_value, sort_json_value
from lash_core.effects.commands import DirectCommand, DurableStepCommand
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.invocation import (
    CausalRef,
    EffectKind,
    Invocation,
    InvocationScope,
)
from lash_core.effects.llm import LlmCallError, LlmRequest, LlmResponse
from lash_core.effects.outcomes import (
    DurableStepOutcome,
    EffectOutcome,
    into_direct_response,
    into_durable_step,
)
from lash_core.effects.replay_keys import ChildInvocations, direct_discriminator, direct_invocation
from lash_core.errors import LashError
from lash_core.host import InlineHost
from lash_core.journal import EffectJournal
from lash_core.routing import EffectHandler, HandlerExecutor, LocalExecutor
from lash_core.wire import Err, JsonValue, parse_json

__all__ = [
    "DirectCallError",
    "StepFunction",
    "direct_call",
    "direct_call_envelope",
    "durable_step",
    "durable_step_envelope",
    "durable_step_invocation",
    "run_effect",
]

DURABLE_STEP_PREFIX: Final = "durable"

StepFunction: TypeAlias = Callable[[], JsonValue | Awaitable[JsonValue]]
"""The work of a durable step: no arguments, returns (or resolves to) a JSON value."""


async def run_effect(
    host: InlineHost,
    envelope: EffectEnvelope,
    executor: LocalExecutor,
    *,
    journal: EffectJournal | None = None,
) -> EffectOutcome:
    """Run one envelope on ``host``, answering from ``journal`` when it can.

    With a journal: a recorded replay key gives its recorded outcome without running anything
    (after a scheduling checkpoint); a replay key recorded with another envelope raises the
    :class:`~lash_core.errors.ReplayMismatchError`; a new one runs through ``executor`` and its
    outcome is recorded. An effect that raises records nothing, so a replay runs it again.

    Without one, ``host.execute_recorded``: on an inline host the envelope simply runs; a
    durable host applies the same rules with its store's journal (``begin`` and ``complete``
    under the session's lease, as a turn's effects), so another process replays it.
    """
    if journal is None:
        return await host.execute_recorded(envelope, executor)
    recorded = journal.begin(envelope)
    if recorded is not None:
        await host.primitives.checkpoint()
        return recorded
    try:
        outcome = await host.execute_effect(envelope, executor)
    except BaseException:
        journal.abandon(envelope)
        raise
    journal.record(envelope, outcome)
    return outcome


# -- durable steps ---------------------------------------------------------------------------


def durable_step_invocation(
    session_id: str,
    step_id: str,
    *,
    turn_id: str | None = None,
    parent: Invocation | None = None,
) -> Invocation:
    """The invocation of step ``step_id`` (see the module documentation for the scheme)."""
    suffix = f"{DURABLE_STEP_PREFIX}:{step_id}"
    if parent is not None:
        return ChildInvocations(parent).derived("effect", EffectKind.DURABLE_STEP, suffix)
    key = f"{session_id}:{turn_id}:{suffix}" if turn_id else f"{session_id}:{suffix}"
    return Invocation.effect(
        InvocationScope(session_id, turn_id or None), suffix, EffectKind.DURABLE_STEP, key
    )


def durable_step_envelope(
    session_id: str,
    step_id: str,
    input: JsonValue = None,
    *,
    turn_id: str | None = None,
    parent: Invocation | None = None,
) -> EffectEnvelope:
    """The validated envelope of a durable step (``runtime_effect_durable_step_id`` for a blank
    ``step_id``)."""
    invocation = durable_step_invocation(session_id, step_id, turn_id=turn_id, parent=parent)
    return EffectEnvelope.build(invocation, DurableStepCommand(step_id, input))


def _reject_non_finite(value: Any, path: str) -> None:
    if type(value) is float and not math.isfinite(value):
        raise _PathError(path, f"{value} is not a JSON number")
    if type(value) is dict:
        for k, v in value.items():
            _reject_non_finite(v, f"{path}.{k}")
    elif type(value) is list:
        for i, v in enumerate(value):
            _reject_non_finite(v, f"{path}[{i}]")


def _step_value(step_id: str, value: object) -> JsonValue:
    """``value`` as the JSON value a replay reads back (tuples as lists, object keys sorted);
    ``durable_step_value_not_json`` if it is not JSON."""
    try:
        normalized = normalize_json_value(value)
        _reject_non_finite(normalized, "")
        text = canonical_text_of(sort_json_value(normalized))
    except (_PathError, LashError, RecursionError) as exc:
        where = exc.path if isinstance(exc, _PathError) else ""
        detail = "it nests too deeply" if isinstance(exc, RecursionError) else exc.message
        raise LashError(
            codes.DURABLE_STEP_VALUE_NOT_JSON,
            f"durable step {step_id!r} returned a value that is not JSON (at ${where}): {detail}",
        ) from None
    return parse_json(text)  # type: ignore[no-any-return]


async def durable_step(
    host: InlineHost,
    step_id: str,
    fn: StepFunction,
    input: JsonValue = None,
    *,
    session_id: str,
    turn_id: str | None = None,
    parent: Invocation | None = None,
    journal: EffectJournal | None = None,
) -> JsonValue:
    """Run ``fn`` once as durable step ``step_id`` and return its JSON value.

    ``input`` is recorded in the envelope: a replay that asks the same step id with another
    input is a replay mismatch. With a ``journal`` that holds the step (or, without one, on a
    durable host whose store holds it), the recorded value is returned and ``fn`` is not
    called. ``fn`` may be sync or async; a value that is not JSON is
    refused (``durable_step_value_not_json``); an exception of ``fn`` becomes
    ``runtime_effect_handler_failed`` (a library error keeps its code) and nothing is recorded.
    """
    envelope = durable_step_envelope(session_id, step_id, input, turn_id=turn_id, parent=parent)

    async def run(_: EffectEnvelope) -> DurableStepOutcome:
        result = fn()
        if inspect.isawaitable(result):
            result = await result
        return DurableStepOutcome(_step_value(step_id, result))

    executor = HandlerExecutor("durable_step", {EffectKind.DURABLE_STEP: run})
    outcome = await run_effect(host, envelope, executor, journal=journal)
    return into_durable_step(outcome)


# -- direct model calls ----------------------------------------------------------------------


class DirectCallError(LashError):
    """A direct model call answered with an error (code ``direct_call_failed``); ``llm_error``
    is that error, with its own ``kind``, ``code`` and ``retryable``."""

    def __init__(self, llm_error: LlmCallError) -> None:
        detail = (
            llm_error.message
            if llm_error.code is None
            else (f"{llm_error.code}: {llm_error.message}")
        )
        super().__init__(
            codes.DIRECT_CALL_FAILED,
            f"direct model call failed ({llm_error.kind.value}): {detail}",
        )
        self.llm_error = llm_error

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.llm_error,))


def direct_call_envelope(
    request: LlmRequest,
    *,
    session_id: str,
    usage_source: str,
    turn_id: str | None = None,
    caused_by: CausalRef | None = None,
    replay_id: str | None = None,
) -> EffectEnvelope:
    """The validated envelope of a direct call: effect id = the discriminator
    (``{cause}request:{replay_id}``, else ``{cause}sha256:{request hash}``), replay key
    ``{session}[:{turn}]:direct:{usage_source}:{discriminator}``."""
    discriminator = direct_discriminator(request, replay_id, caused_by)
    invocation = direct_invocation(
        session_id, usage_source, discriminator, turn_id=turn_id, caused_by=caused_by
    )
    return EffectEnvelope.build(invocation, DirectCommand(request, usage_source))


async def direct_call(
    host: InlineHost,
    request: LlmRequest,
    model: EffectHandler,
    *,
    session_id: str,
    usage_source: str,
    turn_id: str | None = None,
    caused_by: CausalRef | None = None,
    replay_id: str | None = None,
    journal: EffectJournal | None = None,
) -> LlmResponse:
    """Call the model outside a turn and return its response.

    ``model`` answers the ``direct`` envelope with a
    :class:`~lash_core.effects.DirectOutcome`. ``usage_source`` names who the call is for
    (``title``, ``summary``); ``replay_id`` replaces the request hash in the replay key, so two
    calls with the same request can be told apart; ``caused_by`` prefixes the key with what led
    to the call. With a ``journal`` holding the call, the recorded outcome is returned and
    ``model`` is not called. An error answer raises :class:`DirectCallError`
    (``direct_call_failed``); it is recorded like a response, so a replay raises it again.
    """
    envelope = direct_call_envelope(
        request,
        session_id=session_id,
        usage_source=usage_source,
        turn_id=turn_id,
        caused_by=caused_by,
        replay_id=replay_id,
    )
    executor = HandlerExecutor("direct", {EffectKind.DIRECT: model})
    result = into_direct_response(await run_effect(host, envelope, executor, journal=journal))
    if isinstance(result, Err):
        raise DirectCallError(result.error)
    return result.value
