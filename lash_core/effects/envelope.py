"""Effect envelopes: ``{invocation, command}``, validated on :meth:`EffectEnvelope.build`.

Plain construction (and decoding from JSON) does not validate, as in the reference: a recorded
envelope is taken as it was written. :meth:`EffectEnvelope.canonical` gives the canonical JSON
and its SHA-256, the identity durable hosts journal and compare on replay.
"""

from __future__ import annotations

import attrs

from lash_core import codes
from lash_core.canonical import sha256_hex
from lash_core.effects.commands import (
    DurableStepCommand,
    EffectCommand,
    ToolAttemptCommand,
    ToolBatchCommand,
)
from lash_core.effects.invocation import EffectKind, EffectSubject, Invocation
from lash_core.errors import LashError, LocalProtocolError
from lash_core.wire import canonical_json

__all__ = ["CanonicalEnvelope", "EffectEnvelope", "validate_envelope"]


@attrs.frozen
class CanonicalEnvelope:
    """An envelope's canonical JSON and the lowercase hex SHA-256 of its UTF-8 bytes.

    Durable hosts store the pair as one unit: ``{"json": ..., "hash": ...}``.
    """

    json: str
    hash: str


@attrs.frozen
class EffectEnvelope:
    """One effect: who asks (``invocation``) and what for (``command``). Exactly two keys."""

    invocation: Invocation
    command: EffectCommand

    @classmethod
    def build(cls, invocation: Invocation, command: EffectCommand) -> EffectEnvelope:
        """A validated envelope; raises ``LocalProtocolError`` (see :func:`validate_envelope`)."""
        envelope = cls(invocation, command)
        validate_envelope(envelope)
        return envelope

    def validate(self) -> None:
        """Raise ``LocalProtocolError`` if this envelope breaks a construction rule."""
        validate_envelope(self)

    @property
    def kind(self) -> EffectKind:
        """The command's kind."""
        return self.command.kind

    @property
    def replay_key(self) -> str | None:
        """The invocation's replay key."""
        return self.invocation.replay_key

    def canonical(self) -> CanonicalEnvelope:
        """The canonical JSON and its hash, computed afresh on every call.

        Raises ``LashError`` with code ``runtime_effect_envelope_hash`` if the envelope cannot
        be written as canonical JSON (a non-JSON value or a lone surrogate in a string).
        """
        try:
            text = canonical_json(self)
            data = text.encode("utf-8")
        except (LashError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            detail = exc.message if isinstance(exc, LashError) else str(exc)
            raise LashError(
                codes.RUNTIME_EFFECT_ENVELOPE_HASH,
                f"failed to serialize runtime effect envelope: {detail}",
            ) from None
        return CanonicalEnvelope(text, sha256_hex(data))

    def stable_hash(self) -> str:
        """The hash of :meth:`canonical`."""
        return self.canonical().hash


def _blank(value: str) -> bool:
    return not value.strip()


def _fail(code: str, message: str) -> LocalProtocolError:
    return LocalProtocolError(code, message)


def validate_envelope(envelope: EffectEnvelope) -> None:
    """Check the construction rules, in order, raising ``LocalProtocolError`` on the first
    broken one:

    1. the subject is an effect (``runtime_effect_invocation_subject``);
    2. its effect id is not blank (same code);
    3. its kind is the command's (``runtime_effect_invocation_kind``);
    4. there is a non-empty replay key (``runtime_effect_replay_required``; not trimmed);
    5. a durable step has a non-blank step id (``runtime_effect_durable_step_id``);
    6. a tool attempt has a non-blank call id (``runtime_effect_tool_attempt_call_id``) and
       ``1 <= attempt <= max_attempts`` (``runtime_effect_tool_attempt_index``);
    7. a tool batch has a non-blank id (``runtime_effect_tool_batch_id``), at least one call
       (``runtime_effect_tool_batch_empty``), and each call in turn a non-blank call id
       (``runtime_effect_tool_batch_call_id``) and replay suffix
       (``runtime_effect_tool_batch_call_replay``).

    "Blank" means empty after trimming whitespace.
    """
    invocation, command = envelope.invocation, envelope.command
    subject = invocation.subject
    if not isinstance(subject, EffectSubject):
        raise _fail(
            codes.RUNTIME_EFFECT_INVOCATION_SUBJECT,
            "runtime effect envelope subject must be an effect",
        )
    if _blank(subject.effect_id):
        raise _fail(
            codes.RUNTIME_EFFECT_INVOCATION_SUBJECT,
            "runtime effect envelope effect id must be non-empty",
        )
    if subject.kind != command.kind:
        raise _fail(
            codes.RUNTIME_EFFECT_INVOCATION_KIND,
            f"runtime effect invocation kind {subject.kind.value} does not match command kind "
            f"{command.kind.value}",
        )
    if invocation.replay is None or invocation.replay.key == "":
        raise _fail(
            codes.RUNTIME_EFFECT_REPLAY_REQUIRED, "runtime effect envelope requires replay.key"
        )
    if isinstance(command, DurableStepCommand):
        if _blank(command.step_id):
            raise _fail(
                codes.RUNTIME_EFFECT_DURABLE_STEP_ID,
                "runtime effect durable step id must be non-empty",
            )
    elif isinstance(command, ToolAttemptCommand):
        if _blank(command.call.call_id):
            raise _fail(
                codes.RUNTIME_EFFECT_TOOL_ATTEMPT_CALL_ID,
                "runtime effect tool attempt requires a non-empty call id",
            )
        attempt, max_attempts = command.attempt, command.max_attempts
        if attempt == 0 or max_attempts == 0 or attempt > max_attempts:
            raise _fail(
                codes.RUNTIME_EFFECT_TOOL_ATTEMPT_INDEX,
                "runtime effect tool attempt must satisfy 1 <= attempt <= max_attempts, "
                f"got {attempt}/{max_attempts}",
            )
    elif isinstance(command, ToolBatchCommand):
        batch = command.batch
        if _blank(batch.batch_id):
            raise _fail(
                codes.RUNTIME_EFFECT_TOOL_BATCH_ID, "runtime effect tool batch id must be non-empty"
            )
        if not batch.calls:
            raise _fail(
                codes.RUNTIME_EFFECT_TOOL_BATCH_EMPTY,
                "runtime effect tool batch must contain at least one prepared call",
            )
        for index, batch_call in enumerate(batch.calls):
            if _blank(batch_call.call.call_id):
                raise _fail(
                    codes.RUNTIME_EFFECT_TOOL_BATCH_CALL_ID,
                    f"runtime effect tool batch call {index} has an empty call id",
                )
            if _blank(batch_call.replay_suffix):
                raise _fail(
                    codes.RUNTIME_EFFECT_TOOL_BATCH_CALL_REPLAY,
                    f"runtime effect tool batch call {index} has an empty replay suffix",
                )
