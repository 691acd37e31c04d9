"""The effect kinds, in one table: what each kind's envelope carries, what answers it, how a
failure is reported, and who runs it.

:data:`KINDS` has one :class:`KindSpec` per kind that has a command (every kind but
``trigger``, which this library does not model):

* ``command`` and ``outcome``: the command class an envelope of the kind carries and the
  outcome class that answers it (:func:`check_outcome` refuses any other outcome with
  ``runtime_effect_wrong_outcome``; the turn machine and the host both check through it);
* ``family``: who runs it (:class:`Family`): a user handler, the host's sleep on the loop's
  clock, the await-event registry (read now, or parked until the terminal) or the process
  registry. The host routes an envelope by its family and nothing else;
* ``runners``: the named handler runners of the reference (``turn``, ``direct``, ``tool``,
  ``durable_step``) allowed to run it (:func:`runner_kinds` gives a runner's kinds);
* ``error_outcome``: how a failure (a refusal, a handler's exception) becomes the kind's own
  outcome, so the turn decides what to do with it; ``None`` for kinds whose failure is not an
  outcome (it propagates);
* ``check``: what an outcome of the right class must also hold (:func:`check_contents`):
  usable fields and JSON values (``runtime_effect_invalid_outcome``, ``wire_too_deep``) and, for
  a tool attempt's pending launch, the key of that very call (``tool_completion_key_mismatch``).

Everything that once dispatched on the kind in several places (the host's routing, its outcome
check, ``run_turn``'s choice of executor and its error outcomes, the machine's expected outcome)
reads this table.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from lash_core import codes
from lash_core.effects.checks import _QUICK, check_outcome_contents
from lash_core.effects.commands import (
    AwaitEventCommand,
    CheckpointCommand,
    DirectCommand,
    DurableStepCommand,
    EffectCommand,
    ExecCodeCommand,
    LlmCallCommand,
    PeekAwaitEventCommand,
    ProcessEffectCommand,
    SleepCommand,
    SyncExecutionEnvironmentCommand,
    ToolAttemptCommand,
    ToolBatchCommand,
)
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.errors import ControllerError
from lash_core.effects.invocation import EffectKind
from lash_core.effects.llm import LlmCallError
from lash_core.effects.outcomes import (
    AwaitEventOutcome,
    CheckpointOutcome,
    DirectOutcome,
    DurableStepOutcome,
    EffectOutcome,
    ExecCodeOutcome,
    LlmCallOutcome,
    PeekAwaitEventOutcome,
    ProcessOutcome,
    SleepOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolAttemptOutcome,
    ToolBatchOutcome,
    wrong_outcome,
)
from lash_core.effects.tools import ToolAttemptLaunchDone, ToolCallRecord, ToolLaunchPending
from lash_core.errors import LashError
from lash_core.resolution import ExternalCompletionError, ResolutionErr
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.wire import Err, JsonValue

__all__ = [
    "KINDS",
    "ErrorOutcome",
    "Family",
    "KindSpec",
    "check_contents",
    "check_outcome",
    "error_outcome",
    "runner_kinds",
]


class Family(enum.StrEnum):
    """Who runs an envelope of a kind."""

    HANDLER = "handler"
    """A user handler (through a local executor that has one)."""
    SLEEP = "sleep"
    """The host, sleeping on the loop's clock."""
    PEEK = "peek"
    """The host's await-event registry, read at once."""
    AWAIT = "await"
    """The host's await-event registry, parked until the key's terminal or its deadline."""
    PROCESS = "process"
    """The host's process registry."""


ErrorOutcome = Callable[[EffectEnvelope, LashError], EffectOutcome | None]
"""How a failure of an envelope becomes its outcome (``None``: it is not an outcome)."""

ContentsCheck = Callable[[EffectEnvelope, EffectOutcome], None]
"""What an outcome of the right class must also hold; raises a
:class:`~lash_core.errors.LashError` naming the path of the first unusable field."""


def _contents(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
    check_outcome_contents(outcome)


def _tool_attempt_contents(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
    """Usable fields, and a pending launch's key is the ``ToolCompletion`` key of this call
    in this turn's scope: a key minted for another call or turn would make another call's
    resolution this call's result."""
    check_outcome_contents(outcome)
    launch = outcome.launch if isinstance(outcome, ToolAttemptOutcome) else None
    if not isinstance(launch, ToolLaunchPending):
        return
    command = envelope.command
    assert isinstance(command, ToolAttemptCommand)
    call_id = command.call.call_id
    where = envelope.invocation.scope
    key = launch.key
    expected_wait = ToolCompletion(call_id)
    # A tool attempt outside a turn (no turn id) is checked on its wait alone.
    expected_scope = (
        key.scope if where.turn_id is None else TurnScope(where.session_id, where.turn_id)
    )
    if key.wait != expected_wait or key.scope != expected_scope:
        raise LashError(
            codes.TOOL_COMPLETION_KEY_MISMATCH,
            f"launch.key: the pending launch of call {call_id!r} has a key for {key.wait!r} in "
            f"{key.scope!r}; mint it with host.await_event_key({expected_scope!r}, "
            f"{expected_wait!r})",
        )


@attrs.frozen
class KindSpec:
    """One row of :data:`KINDS`."""

    kind: EffectKind
    command: type[EffectCommand]
    outcome: type[EffectOutcome]
    family: Family
    runners: frozenset[str]
    error_outcome: ErrorOutcome
    check: ContentsCheck = _contents
    quick: Callable[[Any], bool] | None = None
    """The check's fast path, if it has one: ``True`` only for an outcome of exactly the kind's
    class that ``check`` accepts (``False`` says nothing: run ``check``)."""


def _text(error: LashError) -> str:
    return f"{error.code}: {error.message}"


def _llm_error(error: LashError) -> LlmCallError:
    return LlmCallError(message=_text(error), retryable=False, code=error.code)


def _llm_call_error(envelope: EffectEnvelope, error: LashError) -> EffectOutcome:
    return LlmCallOutcome(Err(_llm_error(error)), text_streamed=False)


def _direct_error(envelope: EffectEnvelope, error: LashError) -> EffectOutcome:
    return DirectOutcome(Err(_llm_error(error)))


def _tool_attempt_error(envelope: EffectEnvelope, error: LashError) -> EffectOutcome:
    command = envelope.command
    assert isinstance(command, ToolAttemptCommand)
    call = command.call
    detail: JsonValue = {"error": {"code": error.code, "message": error.message}}
    record = ToolCallRecord(
        call_id=call.call_id,
        tool_name=call.tool_name,
        args=call.args,
        output=detail,
        model_return=detail,
        duration_ms=0,
        attempt=command.attempt,
        success=False,
    )
    return ToolAttemptOutcome(ToolAttemptLaunchDone(record))


def _exec_code_error(envelope: EffectEnvelope, error: LashError) -> EffectOutcome:
    return ExecCodeOutcome(Err(_text(error)))


def _checkpoint_error(envelope: EffectEnvelope, error: LashError) -> EffectOutcome:
    return CheckpointOutcome(Err(ControllerError(code=error.code, message=error.message)))


def _sync_error(envelope: EffectEnvelope, error: LashError) -> EffectOutcome:
    return SyncExecutionEnvironmentOutcome(Err(_text(error)))


def _await_event_error(envelope: EffectEnvelope, error: LashError) -> EffectOutcome | None:
    """A failed wait is the completion's error, except a turn-control wait's (it propagates)."""
    if error.code.startswith("turn_control"):
        return None
    return AwaitEventOutcome(ResolutionErr(ExternalCompletionError(error.code, error.message)))


def _propagates(envelope: EffectEnvelope, error: LashError) -> EffectOutcome | None:
    return None


def _spec(
    command: type[EffectCommand],
    outcome: type[EffectOutcome],
    family: Family,
    runners: tuple[str, ...],
    error: ErrorOutcome,
    check: ContentsCheck = _contents,
) -> KindSpec:
    assert command.kind is outcome.kind
    return KindSpec(
        command.kind,
        command,
        outcome,
        family,
        frozenset(runners),
        error,
        check,
        _QUICK.get(outcome),
    )


_H, _S, _P, _A, _PR = Family.HANDLER, Family.SLEEP, Family.PEEK, Family.AWAIT, Family.PROCESS

KINDS: Final[Mapping[EffectKind, KindSpec]] = {
    spec.kind: spec
    for spec in (
        _spec(LlmCallCommand, LlmCallOutcome, _H, ("turn",), _llm_call_error),
        _spec(DirectCommand, DirectOutcome, _H, ("direct",), _direct_error),
        _spec(
            ToolAttemptCommand,
            ToolAttemptOutcome,
            _H,
            ("tool",),
            _tool_attempt_error,
            _tool_attempt_contents,
        ),
        _spec(ToolBatchCommand, ToolBatchOutcome, _H, ("turn", "tool"), _propagates),
        _spec(ProcessEffectCommand, ProcessOutcome, _PR, (), _propagates),
        _spec(ExecCodeCommand, ExecCodeOutcome, _H, ("turn",), _exec_code_error),
        _spec(CheckpointCommand, CheckpointOutcome, _H, ("turn",), _checkpoint_error),
        _spec(
            SyncExecutionEnvironmentCommand,
            SyncExecutionEnvironmentOutcome,
            _H,
            ("turn",),
            _sync_error,
        ),
        _spec(SleepCommand, SleepOutcome, _S, ("turn", "direct"), _propagates),
        _spec(AwaitEventCommand, AwaitEventOutcome, _A, (), _await_event_error),
        _spec(PeekAwaitEventCommand, PeekAwaitEventOutcome, _P, (), _propagates),
        _spec(DurableStepCommand, DurableStepOutcome, _H, ("durable_step",), _propagates),
    )
}
"""Every kind with a command (all but ``trigger``), by kind."""

_RUNNERS: Final[Mapping[str, frozenset[EffectKind]]] = {
    runner: frozenset(spec.kind for spec in KINDS.values() if runner in spec.runners)
    for runner in sorted({runner for spec in KINDS.values() for runner in spec.runners})
}


def runner_kinds(runner: str) -> frozenset[EffectKind] | None:
    """The kinds the named handler runner may run (``None``: not a runner of the reference)."""
    return _RUNNERS.get(runner)


def check_outcome(kind: EffectKind, outcome: object) -> EffectOutcome:
    """``outcome`` if it answers an envelope of ``kind``; else ``runtime_effect_wrong_outcome``
    (``expected sleep outcome, got durable_step``)."""
    expected = KINDS[kind].outcome
    if type(outcome) is expected or isinstance(outcome, expected):
        return outcome
    raise wrong_outcome(kind, outcome)


def check_contents(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
    """Refuse an outcome of ``envelope``'s kind whose contents are unusable (the kind's
    ``check``): ``runtime_effect_invalid_outcome`` or ``wire_too_deep`` naming the path
    (``result.Ok: expected a LlmResponse, got None``), ``tool_completion_key_mismatch`` for a
    pending launch with another call's key."""
    KINDS[envelope.command.kind].check(envelope, outcome)


def error_outcome(envelope: EffectEnvelope, error: LashError) -> EffectOutcome | None:
    """The outcome that reports ``error`` for ``envelope`` (``None`` for kinds whose failure is
    not an outcome: a sleep, a registry read, a turn-control wait)."""
    return KINDS[envelope.command.kind].error_outcome(envelope, error)
