"""What both provider adapters share: the SDK import, the envelope's request and outcome, tool
arguments and results as text, and a response that cannot be read."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, TypeAlias

from lash_core import codes
from lash_core.effects import (
    DirectCommand,
    DirectOutcome,
    EffectEnvelope,
    LlmCallCommand,
    LlmCallError,
    LlmCallOutcome,
    LlmRequest,
    LlmResponse,
    ToolResultPart,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.turn import TextEvent
from lash_core.wire import Err, JsonValue, Ok, check_json_value

__all__ = [
    "ResponseInvalid",
    "TextSink",
    "arguments_text",
    "check_model_name",
    "check_options",
    "outcome_for",
    "parse_arguments",
    "request_of",
    "require_sdk",
    "result_text",
]

TextSink: TypeAlias = Callable[[TextEvent], None]
"""Where a streaming handler sends each text delta, as a :class:`~lash_core.turn.TextEvent`."""


class ResponseInvalid(Exception):
    """A success response whose body cannot be read (becomes ``provider_response_invalid``);
    ``retryable`` for a stream that ended early (cut off, not wrong)."""

    def __init__(self, detail: str, *, retryable: bool = False) -> None:
        super().__init__(detail)
        self.retryable = retryable


def require_sdk(module: str, extra: str) -> ModuleType:
    """Import the provider's SDK, or say which extra installs it (``provider_sdk_missing``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LashError(
            codes.PROVIDER_SDK_MISSING,
            f"the {module!r} package is not installed; install it with "
            f"pip install 'lash-effects[{extra}]'",
        ) from exc


def check_model_name(model: object) -> str | None:
    """``model`` as given (``None``: use each request's model), or ``provider_config_invalid``."""
    if model is None:
        return None
    if not isinstance(model, str) or not model.strip():
        raise LocalProtocolError(
            codes.PROVIDER_CONFIG_INVALID,
            f"model must be a non-blank str or None (use the request's model), got {model!r}",
        )
    return model


def check_options(
    options: Mapping[str, JsonValue] | None, reserved: frozenset[str]
) -> dict[str, Any]:
    """Extra request fields, checked: a mapping of str keys, none of them a field the adapter
    writes itself."""
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise LocalProtocolError(
            codes.PROVIDER_CONFIG_INVALID,
            f"options must be a mapping of str keys to JSON values, got {options!r}",
        )
    check_json_value(dict(options), what="options", code=codes.PROVIDER_CONFIG_INVALID)
    clash = sorted(set(options) & reserved)
    if clash:
        raise LocalProtocolError(
            codes.PROVIDER_CONFIG_INVALID,
            f"options may not set {', '.join(clash)}: the adapter writes them from the request",
        )
    return dict(options)


def request_of(envelope: EffectEnvelope) -> tuple[LlmRequest, bool]:
    """The request of an ``llm_call`` or ``direct`` envelope, and whether it is ``direct``."""
    command = envelope.command
    if isinstance(command, LlmCallCommand):
        return command.request, False
    if isinstance(command, DirectCommand):
        return command.request, True
    raise LocalProtocolError(
        codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH,
        f"a model handler answers llm_call and direct envelopes, not {command.kind.value}",
    )


def outcome_for(
    direct: bool, result: LlmResponse | LlmCallError, text_streamed: bool
) -> LlmCallOutcome | DirectOutcome:
    """The outcome of the envelope's kind for ``result``."""
    wrapped: Ok[LlmResponse] | Err[LlmCallError] = (
        Err(result) if isinstance(result, LlmCallError) else Ok(result)
    )
    if direct:
        return DirectOutcome(wrapped)
    return LlmCallOutcome(wrapped, text_streamed=text_streamed)


def parse_arguments(text: object) -> JsonValue:
    """A tool call's arguments as the model wrote them: the JSON value, ``{}`` for none, and
    the text itself when it is not JSON (the tool then sees a string and can say so)."""
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        raise ResponseInvalid(f"tool call arguments are not text: {text!r}")
    try:
        value: JsonValue = json.loads(text)
    except ValueError:
        return text
    return value


def arguments_text(args: JsonValue) -> str:
    """A tool call's arguments as JSON text (a string that was not JSON goes back verbatim)."""
    if isinstance(args, str):
        return args
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))


def result_text(part: ToolResultPart) -> str:
    """A tool result as the text the model reads: a string as it is, anything else as JSON."""
    output = part.output
    if isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, separators=(",", ":"))
