"""Replay keys and the invocations that carry them.

Pure string builders for every replay-key format of the reference runtime. Parts are inserted
raw (no escaping). Where the reference builds a whole invocation (scope, subject, cause and
replay key) the builder here returns an :class:`~lash_core.effects.invocation.Invocation`;
otherwise it returns the string.

A *child* effect copies its parent's scope, is caused by the parent, has an effect id prefixed
by the parent's effect id, and a replay key ``{base}:{suffix}`` where ``base`` is the parent's
replay key, else its effect id, else ``effect``.
"""

from __future__ import annotations

from typing import Final

from lash_core import codes
from lash_core._unchecked import unchecked
from lash_core.canonical import (
    canonical_bytes_of,
    sha256_hex,
    sort_json_value,
    sorted_text_of_normalized,
    utf8,
)
from lash_core.effects.invocation import (
    CausalRef,
    EffectCause,
    EffectKind,
    EffectSubject,
    Invocation,
    InvocationScope,
    ProcessCause,
    ProcessEventCause,
    ProcessEventSubject,
    Replay,
    ToolCallCause,
    TriggerOccurrenceCause,
    TurnCause,
)
from lash_core.effects.llm import LlmRequest
from lash_core.errors import LashError
from lash_core.wire import JsonValue, canonical_bytes

__all__ = [
    "PROCESS_CANCEL_REQUESTED",
    "PROCESS_EVENT_SESSION",
    "TURN_CANCEL_POST_ABORT_GATE",
    "TURN_CANCEL_START_GATE",
    "ChildInvocations",
    "causal_discriminator",
    "child_effect_invocation",
    "child_replay_base",
    "direct_discriminator",
    "direct_invocation",
    "direct_replay_key",
    "direct_request_hash",
    "normalized_payload_hash",
    "pending_tool_completion_invocation",
    "process_cancel_requested_replay_key",
    "process_effect_invocation",
    "process_event_invocation",
    "process_event_payload_hash",
    "process_signal_wait_invocation",
    "process_sleep_invocation",
    "process_terminal_replay_key",
    "process_tool_prefix",
    "tool_attempt_invocation",
    "tool_batch_attempt_invocation",
    "tool_batch_invocation",
    "tool_batch_retry_sleep_invocation",
    "tool_retry_sleep_invocation",
    "trigger_occurrence_replay_key",
    "turn_cancel_post_abort_gate_invocation",
    "turn_cancel_start_gate_invocation",
    "turn_effect_in_scope",
    "turn_effect_invocation",
    "turn_effect_replay_key",
    "wake_id",
]

TURN_CANCEL_START_GATE: Final = "turn_cancel.start_gate"
"""Effect id and replay key of the cancel-gate peek journaled before any other turn effect."""
TURN_CANCEL_POST_ABORT_GATE: Final = "turn_cancel.post_abort_gate"
"""Effect id and replay key of the cancel-gate peek after an abort."""
PROCESS_EVENT_SESSION: Final = "runtime"
"""The session id of process-event invocations."""
PROCESS_CANCEL_REQUESTED: Final = "process.cancel_requested"
"""The event type of a cancel request."""


# -- turn and child effects ------------------------------------------------------------------


def turn_effect_replay_key(
    session_id: str,
    turn_id: str,
    turn_index: int,
    protocol_iteration: int,
    kind: EffectKind,
    effect_id: int | str,
) -> str:
    """``{session}:{turn}:{turn_index}:{protocol_iteration}:{kind}:{effect_id}``."""
    return f"{session_id}:{turn_id}:{turn_index}:{protocol_iteration}:{kind._value_}:{effect_id}"


def turn_effect_invocation(
    session_id: str,
    turn_id: str,
    turn_index: int,
    protocol_iteration: int,
    kind: EffectKind,
    effect_id: int | str,
) -> Invocation:
    """A turn effect (llm_call, checkpoint, sync_execution_environment, exec_code, tool_batch):
    full turn scope, effect id = the turn-local effect number as decimal text."""
    scope = InvocationScope.for_turn(session_id, turn_id, turn_index, protocol_iteration)
    return turn_effect_in_scope(scope, kind, effect_id)


def turn_effect_in_scope(
    scope: InvocationScope, kind: EffectKind, effect_id: int | str
) -> Invocation:
    """:func:`turn_effect_invocation` in a turn scope built once (every coordinate set), for
    callers that emit several effects in the same protocol iteration."""
    turn_id, turn_index, iteration = scope.turn_id, scope.turn_index, scope.protocol_iteration
    assert turn_id is not None and turn_index is not None and iteration is not None
    effect = str(effect_id)
    key = turn_effect_replay_key(scope.session_id, turn_id, turn_index, iteration, kind, effect)
    return _invocation(scope, _subject(effect, kind), None, _replay(key))


def child_replay_base(parent: Invocation) -> str:
    """The parent's replay key, else its effect id, else ``effect``."""
    return parent.replay_key or parent.effect_id or "effect"


_TOOL_ATTEMPT: Final = EffectKind.TOOL_ATTEMPT  # looked up once: one per tool call
# The parts of the invocations built below are the machine's own (a validated scope, counted
# ids, text made of them): built without running __init__.
_invocation: Final = unchecked(Invocation)
_subject: Final = unchecked(EffectSubject)
_replay: Final = unchecked(Replay)


class ChildInvocations:
    """The children of one parent invocation, with the parent's parts (scope, causal reference,
    replay base, effect id) worked out once: a tool round builds every attempt, retry sleep and
    pending wait of its calls through one of these."""

    __slots__ = ("_base", "_effect_id", "attempt_id_prefix", "cause", "key_prefix", "scope")

    def __init__(self, parent: Invocation) -> None:
        self.scope = parent.scope
        """The parent's scope, every child's."""
        self.cause = parent.causal_ref()
        """The reference to the parent, every child's cause."""
        self._base = child_replay_base(parent)
        self._effect_id = parent.effect_id
        self.attempt_id_prefix = f"{self._effect_id or 'tool-batch'}:"
        """What a tool attempt's effect id starts with (then its ``{suffix}:attempt:{n}``)."""
        self.key_prefix = f"{self._base}:"
        """What every child's replay key starts with (then its replay suffix)."""

    def child(self, effect_id: str, kind: EffectKind, replay_suffix: str) -> Invocation:
        """An effect caused by the parent in its scope, replayed as ``{base}:{replay_suffix}``."""
        return Invocation(
            self.scope,
            EffectSubject(effect_id, kind),
            self.cause,
            Replay(f"{self._base}:{replay_suffix}"),
        )

    def derived(self, fallback: str, kind: EffectKind, suffix: str) -> Invocation:
        """A child whose effect id is ``{parent effect id or fallback}:{suffix}``."""
        return self.child(f"{self._effect_id or fallback}:{suffix}", kind, suffix)

    def tool_attempt(self, replay_suffix: str, attempt: int) -> Invocation:
        """See :func:`tool_batch_attempt_invocation` (the parent is the batch)."""
        # `derived("tool-batch", TOOL_ATTEMPT, suffix)`, inlined: one per tool call.
        suffix = f"{replay_suffix}:attempt:{attempt}"
        return self.tool_attempt_of(suffix, self.key_prefix + suffix)

    def tool_attempt_of(self, suffix: str, key: str) -> Invocation:
        """:meth:`tool_attempt` given its ``{replay suffix}:attempt:{n}`` and its replay key
        (``key_prefix + suffix``), for a caller that made them."""
        return _invocation(
            self.scope,
            _subject(self.attempt_id_prefix + suffix, _TOOL_ATTEMPT),
            self.cause,
            _replay(key),
        )

    def tool_retry_sleep(self, replay_suffix: str, attempt: int) -> Invocation:
        """See :func:`tool_batch_retry_sleep_invocation` (the parent is the batch)."""
        return self.derived(
            "tool-batch", EffectKind.SLEEP, f"{replay_suffix}:attempt:{attempt}:sleep"
        )

    def pending_completion(self, call_id: str) -> Invocation:
        """See :func:`pending_tool_completion_invocation` (the parent is the batch)."""
        return self.derived("effect", EffectKind.AWAIT_EVENT, f"{call_id}:await")


def child_effect_invocation(
    parent: Invocation, effect_id: str, kind: EffectKind, replay_suffix: str
) -> Invocation:
    """An effect caused by ``parent`` in its scope, replayed as ``{base}:{replay_suffix}``."""
    return ChildInvocations(parent).child(effect_id, kind, replay_suffix)


def _child(parent: Invocation, fallback: str, kind: EffectKind, suffix: str) -> Invocation:
    """A child whose effect id is ``{parent effect id or fallback}:{suffix}``."""
    return ChildInvocations(parent).derived(fallback, kind, suffix)


def _root(session_id: str, key: str, kind: EffectKind) -> Invocation:
    """A session-scoped effect whose effect id and replay key are both ``key``."""
    return Invocation.effect(InvocationScope.new(session_id), key, kind, key)


# -- tools -----------------------------------------------------------------------------------


def tool_batch_invocation(
    session_id: str, execution_scope_id: str, batch_id: str, parent: Invocation | None = None
) -> Invocation:
    """A tool batch outside the turn loop.

    With a parent: a child with suffix ``tool-batch:{batch_id}``. Without: effect id
    ``tool-batch:{batch_id}``, replay ``{execution_scope_id}:tool-batch:{batch_id}``, scope
    the session.
    """
    suffix = f"tool-batch:{batch_id}"
    if parent is not None:
        return _child(parent, "effect", EffectKind.TOOL_BATCH, suffix)
    return Invocation.effect(
        InvocationScope.new(session_id),
        suffix,
        EffectKind.TOOL_BATCH,
        f"{execution_scope_id}:{suffix}",
    )


def tool_batch_attempt_invocation(
    batch: Invocation, replay_suffix: str, attempt: int
) -> Invocation:
    """Attempt ``attempt`` of the batch call with ``replay_suffix`` (``child:{i}:{call_id}``):
    effect id ``{batch_effect_id}:{replay_suffix}:attempt:{n}``, replay
    ``{batch_replay}:{replay_suffix}:attempt:{n}``."""
    return ChildInvocations(batch).tool_attempt(replay_suffix, attempt)


def tool_batch_retry_sleep_invocation(
    batch: Invocation, replay_suffix: str, attempt: int
) -> Invocation:
    """The sleep before retrying a batch call: the attempt's ids with ``:sleep`` added."""
    return ChildInvocations(batch).tool_retry_sleep(replay_suffix, attempt)


def pending_tool_completion_invocation(batch: Invocation, call_id: str) -> Invocation:
    """The wait for a deferred call of a turn's batch: an ``await_event`` child with effect id
    ``{turn_effect_id}:{call_id}:await`` and suffix ``{call_id}:await``."""
    return ChildInvocations(batch).pending_completion(call_id)


def process_tool_prefix(process_id: str, tool_name: str) -> str:
    """``process:{pid}:tool:{tool_name}``: the attempt prefix of a process's tool call."""
    return f"process:{process_id}:tool:{tool_name}"


def tool_attempt_invocation(
    session_id: str,
    call_id: str,
    attempt: int,
    *,
    parent: Invocation | None = None,
    process_id: str | None = None,
    tool_name: str = "",
) -> Invocation:
    """A scalar tool attempt (one call outside a batch).

    The suffix is ``{prefix}:attempt:{n}`` where the prefix is the call id, or
    :func:`process_tool_prefix` for a process's tool call (``process_id`` and ``tool_name``).
    With a parent it is a child (effect id ``{parent_effect_id or "tool"}:{suffix}``); without
    one, effect id = replay key = ``tool:{suffix}`` in the session's scope.
    """
    prefix = call_id if process_id is None else process_tool_prefix(process_id, tool_name)
    suffix = f"{prefix}:attempt:{attempt}"
    if parent is not None:
        return _child(parent, "tool", EffectKind.TOOL_ATTEMPT, suffix)
    return _root(session_id, f"tool:{suffix}", EffectKind.TOOL_ATTEMPT)


def tool_retry_sleep_invocation(
    session_id: str,
    call_id: str,
    tool_name: str,
    attempt: int,
    *,
    parent: Invocation | None = None,
) -> Invocation:
    """The sleep before retrying a scalar tool call.

    With a parent: a child with suffix ``{tool_name}:attempt:{n}:sleep``. Without: effect id =
    replay key = ``lash-tool:{session}:{call_id}:{tool_name}:attempt:{n}:sleep``.
    """
    if parent is not None:
        return _child(parent, "effect", EffectKind.SLEEP, f"{tool_name}:attempt:{attempt}:sleep")
    key = f"lash-tool:{session_id}:{call_id}:{tool_name}:attempt:{attempt}:sleep"
    return _root(session_id, key, EffectKind.SLEEP)


# -- processes -------------------------------------------------------------------------------


def process_effect_invocation(
    session_id: str, effect_id: str, parent: Invocation | None = None
) -> Invocation:
    """A process admin effect; ``effect_id`` is the command's ``effect_id``.

    With a parent: caused by it, replay ``{parent replay key or "process"}:{effect_id}``, scope
    the session with the parent's turn coordinates when the parent has a turn. Without:
    replay ``{session}:{effect_id}``, scope the session.
    """
    if parent is None:
        return Invocation.effect(
            InvocationScope.new(session_id),
            effect_id,
            EffectKind.PROCESS,
            f"{session_id}:{effect_id}",
        )
    pscope = parent.scope
    scope = (
        InvocationScope(session_id, pscope.turn_id, pscope.turn_index, pscope.protocol_iteration)
        if pscope.turn_id is not None
        else InvocationScope.new(session_id)
    )
    return Invocation.effect(
        scope,
        effect_id,
        EffectKind.PROCESS,
        f"{parent.replay_key or 'process'}:{effect_id}",
        caused_by=parent.causal_ref(),
    )


def _child_or_root(
    session_id: str, suffix: str, kind: EffectKind, parent: Invocation | None
) -> Invocation:
    if parent is not None:
        return _child(parent, "effect", kind, suffix)
    return _root(session_id, suffix, kind)


def process_sleep_invocation(
    session_id: str, scope: str, sequence: int, parent: Invocation | None = None
) -> Invocation:
    """A process's sleep: suffix ``process:{scope}:sleep:{sequence}`` (``scope`` is usually
    ``process:{pid}`` and ``sequence`` a per-process counter from 0)."""
    suffix = f"process:{scope}:sleep:{sequence}"
    return _child_or_root(session_id, suffix, EffectKind.SLEEP, parent)


def process_signal_wait_invocation(
    session_id: str,
    process_id: str,
    signal_name: str,
    ordinal: int,
    parent: Invocation | None = None,
) -> Invocation:
    """A process's wait for its ``ordinal``-th ``signal_name`` signal (an ``await_event``):
    suffix ``process:{pid}:signal.{name}:await:{ordinal}``."""
    suffix = f"process:{process_id}:signal.{signal_name}:await:{ordinal}"
    return _child_or_root(session_id, suffix, EffectKind.AWAIT_EVENT, parent)


def process_event_invocation(
    process_id: str,
    sequence: int,
    event_type: str,
    replay: Replay | None = None,
    session_id: str = PROCESS_EVENT_SESSION,
) -> Invocation:
    """The invocation recorded on a process event: subject ``process_event``, caused by the
    process, replayed with the append request's replay (if any)."""
    return Invocation(
        InvocationScope.new(session_id),
        ProcessEventSubject(process_id, sequence, event_type),
        ProcessCause(process_id),
        replay,
    )


def process_event_payload_hash(event_type: str, payload: JsonValue) -> str:
    """Hex SHA-256 of the canonical JSON ``[event_type, payload]`` (payload keys sorted)."""
    return sha256_hex(canonical_bytes_of([event_type, sort_json_value(payload)]))


def normalized_payload_hash(event_type: str, payload: JsonValue) -> str:
    """:func:`process_event_payload_hash` of a payload ``normalize_json_value`` returned (an
    append request's, once checked), without building its sorted copy."""
    return sha256_hex(utf8(sorted_text_of_normalized([event_type, payload])))


def process_cancel_requested_replay_key(process_id: str, reason: str | None) -> str:
    """``process:{pid}:cancel_requested:{hash}`` where the hash is
    :func:`process_event_payload_hash` of ``process.cancel_requested`` and
    ``{"reason": reason}``: identical cancels dedupe, different reasons do not."""
    try:
        digest = process_event_payload_hash(PROCESS_CANCEL_REQUESTED, {"reason": reason})
    except LashError:
        digest = f"process:{process_id}:cancel_requested"
    return f"process:{process_id}:cancel_requested:{digest}"


def process_terminal_replay_key(process_id: str, event_type: str) -> str:
    """``process:{pid}:terminal:{event_type}``."""
    return f"process:{process_id}:terminal:{event_type}"


def wake_id(target_scope_id: str, dedupe_key: str) -> str:
    """``wake:`` + hex SHA-256 of the canonical JSON ``[target_scope_id, dedupe_key]``."""
    return "wake:" + sha256_hex(canonical_bytes_of([target_scope_id, dedupe_key]))


def trigger_occurrence_replay_key(occurrence_id: str) -> str:
    """``trigger:{occurrence_id}``."""
    return f"trigger:{occurrence_id}"


# -- direct LLM calls ------------------------------------------------------------------------


def causal_discriminator(cause: CausalRef) -> str:
    """The prefix a cause adds to a direct-call discriminator (ends with ``:``).

    A trigger occurrence uses the long form ``cause:trigger:{occ}:{sub}:{inc}:{rev}:`` (absent
    parts empty) when it names a subscription id, else ``cause:trigger:{occ}:``.
    """
    if isinstance(cause, TurnCause):
        return f"cause:turn:{cause.session_id}:{cause.turn_id}:"
    if isinstance(cause, EffectCause):
        return f"cause:effect:{cause.session_id}:{cause.turn_id or ''}:{cause.effect_id}:"
    if isinstance(cause, ToolCallCause):
        return f"cause:tool_call:{cause.session_id}:{cause.call_id}:"
    if isinstance(cause, ProcessCause):
        return f"cause:process:{cause.process_id}:"
    if isinstance(cause, ProcessEventCause):
        return f"cause:process_event:{cause.process_id}:{cause.sequence}:"
    if isinstance(cause, TriggerOccurrenceCause):
        if cause.subscription_id is None:
            return f"cause:trigger:{cause.occurrence_id}:"
        incarnation = cause.subscription_incarnation or ""
        revision = "" if cause.subscription_revision is None else cause.subscription_revision
        return (
            f"cause:trigger:{cause.occurrence_id}:{cause.subscription_id}:{incarnation}:{revision}:"
        )
    return f"cause:session_node:{cause.session_id}:{cause.node_id}:"


def direct_request_hash(request: LlmRequest) -> str:
    """Hex SHA-256 of the request's canonical JSON; ``runtime_effect_discriminator`` if it
    cannot be written."""
    try:
        return sha256_hex(canonical_bytes(request))
    except LashError as exc:
        raise LashError(
            codes.RUNTIME_EFFECT_DISCRIMINATOR,
            f"failed to serialize runtime effect discriminator: {exc.message}",
        ) from None


def direct_discriminator(
    request: LlmRequest,
    explicit_replay: str | None = None,
    caused_by: CausalRef | None = None,
) -> str:
    """``{cause}request:{explicit_replay}`` for a non-empty explicit replay key, else
    ``{cause}sha256:{request hash}``; ``{cause}`` is :func:`causal_discriminator` or empty."""
    cause = "" if caused_by is None else causal_discriminator(caused_by)
    if explicit_replay:
        return f"{cause}request:{explicit_replay}"
    return f"{cause}sha256:{direct_request_hash(request)}"


def direct_replay_key(
    session_id: str, usage_source: str, discriminator: str, turn_id: str | None = None
) -> str:
    """``{session}:{turn}:direct:{usage_source}:{disc}`` with a non-empty turn, else
    ``{session}:direct:{usage_source}:{disc}``."""
    if turn_id:
        return f"{session_id}:{turn_id}:direct:{usage_source}:{discriminator}"
    return f"{session_id}:direct:{usage_source}:{discriminator}"


def direct_invocation(
    session_id: str,
    usage_source: str,
    discriminator: str,
    *,
    turn_id: str | None = None,
    caused_by: CausalRef | None = None,
) -> Invocation:
    """A direct LLM call: effect id = the discriminator, scope ``{session_id, turn_id?}``."""
    return Invocation.effect(
        InvocationScope(session_id, turn_id),
        discriminator,
        EffectKind.DIRECT,
        direct_replay_key(session_id, usage_source, discriminator, turn_id),
        caused_by=caused_by,
    )


# -- turn control ----------------------------------------------------------------------------


def _turn_control_peek(session_id: str, turn_id: str, key: str) -> Invocation:
    return Invocation.effect(
        InvocationScope(session_id, turn_id), key, EffectKind.PEEK_AWAIT_EVENT, key
    )


def turn_cancel_start_gate_invocation(session_id: str, turn_id: str) -> Invocation:
    """The cancel-gate peek journaled before any other effect of a turn."""
    return _turn_control_peek(session_id, turn_id, TURN_CANCEL_START_GATE)


def turn_cancel_post_abort_gate_invocation(session_id: str, turn_id: str) -> Invocation:
    """The cancel-gate peek after a turn's abort."""
    return _turn_control_peek(session_id, turn_id, TURN_CANCEL_POST_ABORT_GATE)
