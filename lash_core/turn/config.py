"""The configuration of a turn: model, prompt, tools, limits and retry policies."""

from __future__ import annotations

import attrs

from lash_core import codes
from lash_core.effects.llm import ToolSpec
from lash_core.errors import LocalProtocolError
from lash_core.wire import U32, omit_if_empty, omit_if_none

__all__ = ["RetryPolicy", "TurnConfig"]

_MAX_SHIFT = 62


@attrs.frozen
class RetryPolicy:
    """At most ``max_attempts`` attempts (1 means no retry), with a deterministic exponential
    backoff between them: the sleep after failed attempt ``n`` lasts
    ``min(base_delay_ms * 2**(n-1), max_delay_ms)`` milliseconds."""

    max_attempts: U32 = 1
    base_delay_ms: int = 1000
    max_delay_ms: int = 30_000

    def delay_ms(self, attempt: int) -> int:
        """The sleep in milliseconds after failed attempt ``attempt`` (from 1)."""
        shift = max(attempt - 1, 0)
        if shift > _MAX_SHIFT:
            return self.max_delay_ms
        return min(self.base_delay_ms << shift, self.max_delay_ms)


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

    model: str
    system_prompt: str | None = omit_if_none()
    tools: tuple[ToolSpec, ...] = omit_if_empty()
    max_output_tokens: int | None = omit_if_none()
    max_iterations: U32 = 20
    model_retry: RetryPolicy = RetryPolicy(max_attempts=3)
    tool_retry: RetryPolicy = RetryPolicy()
    sync_execution_environment: bool = False
    checkpoint_after_work: bool = False
    checkpoint_before_completion: bool = False
    code_tool_name: str | None = omit_if_none()
    code_language: str = "python"
    max_context_tokens: int | None = omit_if_none()

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
