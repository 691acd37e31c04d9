"""The configuration of a turn: model, prompt, tools, limits and retry policies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from lash_core import codes
from lash_core._fields import (
    U32_MAX,
    U64_MAX,
    describe,
    is_bool,
    is_instance,
    is_int,
    is_str,
    is_uint,
    omitted_if_empty,
    omitted_if_none,
    optional,
    tuple_of,
)
from lash_core.effects.llm import Message, ToolSpec
from lash_core.errors import LocalProtocolError
from lash_core.wire import U32

_CODE = codes.TURN_CONFIG_INVALID
_U32 = is_uint(_CODE, U32_MAX)
_INT = is_int(_CODE)
_BOOL = is_bool(_CODE)


def _optional_str() -> Any:
    return omitted_if_none(optional(_CODE, "a str", lambda value: isinstance(value, str)))


def _optional_u64() -> Any:
    return omitted_if_none(
        optional(_CODE, "an int from 0 to 2**64-1", lambda v: type(v) is int and 0 <= v <= U64_MAX)
    )


__all__ = ["RetryPolicy", "TurnConfig", "check_turn_arguments", "turn_messages"]

_MAX_SHIFT = 62


@attrs.frozen
class RetryPolicy:
    """At most ``max_attempts`` attempts (1 means no retry), with a deterministic exponential
    backoff between them: the sleep after failed attempt ``n`` lasts
    ``min(base_delay_ms * 2**(n-1), max_delay_ms)`` milliseconds."""

    max_attempts: U32 = attrs.field(default=1, validator=_U32)
    # A negative delay is an int all the same: ``validate()`` refuses it with the others.
    base_delay_ms: int = attrs.field(default=1000, validator=_INT)
    max_delay_ms: int = attrs.field(default=30_000, validator=_INT)

    def delay_ms(self, attempt: int) -> int:
        """The sleep in milliseconds after failed attempt ``attempt`` (from 1)."""
        shift = max(attempt - 1, 0)
        if shift > _MAX_SHIFT:
            return self.max_delay_ms
        return min(self.base_delay_ms << shift, self.max_delay_ms)


_POLICY = is_instance(_CODE, "a RetryPolicy", RetryPolicy)


@attrs.frozen(kw_only=True)
class TurnConfig:
    """What a turn runs with. A wire value (it is part of every checkpoint).

    * ``model``, ``system_prompt``, ``tools`` and ``max_output_tokens`` go into every
      :class:`~lash_core.effects.llm.LlmRequest` (a ``sync_execution_environment`` result may
      replace the prompt and the tools).
    * ``max_iterations``: the turn stops (``max_iterations``) instead of starting a model call
      at protocol iteration ``max_iterations`` or later; iterations count from 0.
    * ``model_retry``: retries of model calls that fail with a retryable ``LlmCallError``
      (default: 3 attempts). ``tool_retry``: retries of tool attempts whose record says
      ``success=False`` (default: 1 attempt, no retry; tools need not be idempotent).
    * ``sync_execution_environment``: emit a ``sync_execution_environment`` effect before the
      model call of every iteration.
    * ``checkpoint_after_work`` / ``checkpoint_before_completion``: emit ``checkpoint`` effects
      after each round of tool results and before finishing with a final answer.
    * ``code_tool_name``: calls to this tool run as ``exec_code`` effects (args
      ``{"code": str, "language"?: str}``, language defaulting to ``code_language``).
    * ``max_context_tokens``: lets an output-limit response that produced no output with input
      tokens at or above 95% of it count as a context overflow.
    """

    model: str = attrs.field(validator=is_str(_CODE))
    system_prompt: str | None = _optional_str()
    tools: tuple[ToolSpec, ...] = omitted_if_empty(tuple_of(_CODE, "ToolSpec", ToolSpec))
    max_output_tokens: int | None = _optional_u64()
    max_iterations: U32 = attrs.field(default=20, validator=_U32)
    model_retry: RetryPolicy = attrs.field(default=RetryPolicy(max_attempts=3), validator=_POLICY)
    tool_retry: RetryPolicy = attrs.field(default=RetryPolicy(), validator=_POLICY)
    sync_execution_environment: bool = attrs.field(default=False, validator=_BOOL)
    checkpoint_after_work: bool = attrs.field(default=False, validator=_BOOL)
    checkpoint_before_completion: bool = attrs.field(default=False, validator=_BOOL)
    code_tool_name: str | None = _optional_str()
    code_language: str = attrs.field(default="python", validator=is_str(_CODE))
    max_context_tokens: int | None = _optional_u64()

    def validate(self) -> None:
        """Raise ``LocalProtocolError`` (``turn_config_invalid``) for an unusable config."""
        problems = []
        if not self.model.strip():
            problems.append("model must be non-empty")
        if self.max_iterations < 1:
            problems.append("max_iterations must be at least 1")
        for name, policy in (("model_retry", self.model_retry), ("tool_retry", self.tool_retry)):
            if policy.max_attempts < 1:
                problems.append(f"{name}.max_attempts must be at least 1")
            if policy.base_delay_ms < 0 or policy.max_delay_ms < 0:
                problems.append(f"{name} delays must not be negative")
        if problems:
            raise LocalProtocolError(codes.TURN_CONFIG_INVALID, "; ".join(problems))


def check_turn_arguments(
    config: object, session_id: object, turn_id: object, index: object
) -> None:
    """Raise ``turn_config_invalid`` if a turn machine's arguments have the wrong types."""
    if not isinstance(config, TurnConfig):
        raise LocalProtocolError(_CODE, f"config must be a TurnConfig, got {describe(config)}")
    for name, value in (("session_id", session_id), ("turn_id", turn_id)):
        if not isinstance(value, str):
            raise LocalProtocolError(_CODE, f"{name} must be a str, got {describe(value)}")
    if type(index) is not int:
        raise LocalProtocolError(_CODE, f"turn_index must be an int, got {describe(index)}")


def turn_messages(messages: object) -> tuple[Message, ...]:
    """``messages`` (any iterable of :class:`Message`) as a tuple (``turn_config_invalid``
    otherwise: a str, a dict, a list holding a str...)."""
    conversation: tuple[Any, ...]
    if type(messages) is tuple or type(messages) is list:
        # Iterables that are not text nor mappings: no ABC checks for them.
        conversation = tuple(messages)
    elif isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
        raise LocalProtocolError(
            _CODE, f"messages must be an iterable of Message, got {describe(messages)}"
        )
    else:
        conversation = tuple(messages)
    for index, message in enumerate(conversation):
        if not isinstance(message, Message):
            raise LocalProtocolError(
                _CODE,
                f"messages must be Message values, got {describe(message)} at index {index} "
                "(build one with Message(Role.USER, (TextPart(text),)))",
            )
    return conversation
