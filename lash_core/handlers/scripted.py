"""A model handler that plays a script: :class:`ScriptedModel`, :func:`reply`, :func:`call` and
:func:`error_reply`.

A :class:`ScriptedModel` answers each model call with the next reply of its script, written as
plain data::

    ScriptedModel([reply(tool_calls=[call("send_report", to="ops")]), reply("Sent.")])
    ScriptedModel([{"tool_calls": [{"name": "send_report", "args": {"to": "ops"}}]}, "Sent."])

It has the shape of any model handler (``async def (envelope) -> LlmCallOutcome``), so it runs
on trio, asyncio and the simulator, and it answers ``direct`` calls too. It checks each reply
against the request it answers (a call to a tool the request does not offer, a reply's own
``expect`` check, running out of replies) and fails that model call with a coded error naming
the reply. Call ids not given are ``call-1``, ``call-2``, ... in script order; usage not given is
estimated from the text (about four characters a token).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from lash_core import codes
from lash_core.canonical import canonical_text_of
from lash_core.effects.commands import DirectCommand, LlmCallCommand
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.llm import (
    LlmCallError,
    LlmErrorKind,
    LlmRequest,
    LlmResponse,
    Message,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from lash_core.effects.outcomes import DirectOutcome, LlmCallOutcome
from lash_core.errors import LashError, LocalProtocolError
from lash_core.wire import Err, JsonValue, Ok, to_json

__all__ = [
    "Expect",
    "ScriptItem",
    "ScriptedCall",
    "ScriptedError",
    "ScriptedModel",
    "ScriptedReply",
    "call",
    "error_reply",
    "reply",
]

Expect: TypeAlias = Callable[[LlmRequest], object]
"""A reply's check of the request it answers: it fails by returning ``False`` or raising (an
``assert`` inside works); anything else passes."""


def _invalid(message: str) -> LocalProtocolError:
    return LocalProtocolError(codes.SCRIPTED_REPLY_INVALID, message)


@attrs.frozen
class ScriptedCall:
    """A scripted tool call: ``call_id`` ``None`` gets one assigned by the model."""

    tool_name: str
    args: JsonValue
    call_id: str | None = None


def call(
    tool_name: str,
    args: Mapping[str, JsonValue] | None = None,
    /,
    *,
    call_id: str | None = None,
    **kwargs: JsonValue,
) -> ScriptedCall:
    """A tool call for a scripted reply: ``call("weather", city="Oslo")``, or
    ``call("weather", {"city": "Oslo"})`` (for argument names that are not Python names)."""
    if not isinstance(tool_name, str) or not tool_name:
        raise _invalid(f"a tool call needs a tool name, got {tool_name!r}")
    if args is not None and not isinstance(args, Mapping):
        raise _invalid(f"the arguments of a call to {tool_name!r} must be a mapping")
    merged: dict[str, JsonValue] = {**(args or {}), **kwargs}
    return ScriptedCall(tool_name, merged, call_id)


@attrs.frozen
class ScriptedReply:
    """One scripted answer (build it with :func:`reply`)."""

    text: str | None = None
    tool_calls: tuple[ScriptedCall | ToolCallPart, ...] = ()
    usage: Usage | None = None
    stop_reason: StopReason | None = None
    expect: Expect | None = attrs.field(default=None, eq=False)


@attrs.frozen
class ScriptedError:
    """One scripted failure (build it with :func:`error_reply`)."""

    error: LlmCallError
    expect: Expect | None = attrs.field(default=None, eq=False)


def reply(
    text: str | None = None,
    /,
    *,
    tool_calls: Iterable[ScriptedCall | ToolCallPart] = (),
    usage: Usage | None = None,
    stop_reason: StopReason | None = None,
    expect: Expect | None = None,
) -> ScriptedReply:
    """A scripted answer: its ``text``, its ``tool_calls`` (:func:`call`); ``stop_reason``
    defaults to ``tool_use`` with tool calls and ``stop`` without; ``usage`` defaults to an
    estimate; ``expect`` checks the request this reply answers."""
    return ScriptedReply(text, tuple(tool_calls), usage, stop_reason, expect)


def error_reply(
    message: str,
    /,
    *,
    retryable: bool = False,
    kind: LlmErrorKind = LlmErrorKind.UNKNOWN,
    code: str | None = None,
    expect: Expect | None = None,
) -> ScriptedError:
    """A scripted failure of the model call: ``retryable`` ones are retried under the turn's
    ``model_retry`` policy (each retry takes the script's next reply), permanent ones stop
    the turn as ``provider_error``."""
    return ScriptedError(LlmCallError(message, retryable, kind, code=code), expect)


ScriptItem: TypeAlias = (
    ScriptedReply | ScriptedError | str | Mapping[str, Any] | LlmResponse | LlmCallError
)
"""What a script may hold: a :func:`reply`, an :func:`error_reply`, a plain string (a text
reply), a dict (``text``, ``tool_calls``, ``usage``, ``stop_reason``, ``expect``; or
``error``, ``retryable``, ``kind``, ``code``), an :class:`LlmResponse` or an
:class:`LlmCallError`."""

_REPLY_KEYS = ("text", "tool_calls", "usage", "stop_reason", "expect")
_ERROR_KEYS = ("error", "retryable", "kind", "code", "expect")


def _from_dict(item: Mapping[str, Any], where: str) -> ScriptedReply | ScriptedError:
    keys = _ERROR_KEYS if "error" in item else _REPLY_KEYS
    unknown = [key for key in item if key not in keys]
    if unknown:
        raise _invalid(f"{where}: unknown key {unknown[0]!r} (expected: {', '.join(keys)})")
    try:
        if "error" in item:
            kind = LlmErrorKind(item.get("kind", "unknown"))
            return error_reply(
                item["error"],
                retryable=bool(item.get("retryable", False)),
                kind=kind,
                code=item.get("code"),
                expect=item.get("expect"),
            )
        calls = [_call_from(raw, where) for raw in item.get("tool_calls", ())]
        usage = item.get("usage")
        if isinstance(usage, Mapping):
            usage = Usage(**usage)
        stop = item.get("stop_reason")
        return reply(
            item.get("text"),
            tool_calls=calls,
            usage=usage,
            stop_reason=None if stop is None else StopReason(stop),
            expect=item.get("expect"),
        )
    except (TypeError, ValueError) as exc:
        raise _invalid(f"{where}: {exc}") from exc


def _call_from(raw: object, where: str) -> ScriptedCall | ToolCallPart:
    if isinstance(raw, ScriptedCall | ToolCallPart):
        return raw
    if not isinstance(raw, Mapping):
        raise _invalid(f"{where}: a tool call must be call(...) or a dict, got {raw!r}")
    unknown = [key for key in raw if key not in ("name", "args", "id")]
    if unknown:
        raise _invalid(f"{where}: unknown tool call key {unknown[0]!r} (expected: name, args, id)")
    return call(raw.get("name"), raw.get("args"), call_id=raw.get("id"))  # type: ignore[arg-type]


@attrs.frozen
class _Step:
    """One reply of the script, normalized: its response or its error, and its check."""

    response: LlmResponse | None
    error: LlmCallError | None
    expect: Expect | None
    usage_given: bool


def _estimate(chars: int) -> int:
    """Tokens for ``chars`` characters: about four characters a token, at least one."""
    return max(1, chars // 4)


def _message_chars(message: Message) -> int:
    chars = 0
    for part in message.parts:
        if isinstance(part, TextPart):
            chars += len(part.text)
        elif isinstance(part, ToolCallPart):
            chars += len(part.tool_name) + len(canonical_text_of(part.args))
        else:
            chars += len(canonical_text_of(part.output))
    return chars


def _request_chars(request: LlmRequest) -> int:
    """What the model reads: the system prompt, the messages and the tools on offer."""
    chars = len(request.system or "") + sum(_message_chars(m) for m in request.messages)
    return chars + sum(len(t.name) + len(t.description) for t in request.tools)


class ScriptedModel:
    """A model handler that answers model calls with the replies of a script, in order.

    ``requests`` lists every request it was asked, in order; ``remaining`` is how many replies
    are left. Raises ``scripted_reply_invalid`` as it is built for a malformed reply.
    """

    __slots__ = ("_steps", "requests")

    def __init__(self, replies: Iterable[ScriptItem]) -> None:
        items = list(replies)
        normalized: list[ScriptedReply | ScriptedError | LlmResponse] = []
        for index, item in enumerate(items, 1):
            where = f"reply {index}"
            if isinstance(item, str):
                item = reply(item)
            elif isinstance(item, LlmCallError):
                item = ScriptedError(item)
            elif isinstance(item, Mapping):
                item = _from_dict(item, where)
            elif not isinstance(item, ScriptedReply | ScriptedError | LlmResponse):
                raise _invalid(
                    f"{where}: expected reply(...), error_reply(...), a str or a "
                    f"dict, got {type(item).__name__}"
                )
            normalized.append(item)
        self._steps = _assign_ids(normalized)
        self.requests: list[LlmRequest] = []

    @property
    def replies(self) -> tuple[LlmResponse | LlmCallError, ...]:
        """The script as it will be played: each reply's response (call ids assigned; where
        usage was not given, its output tokens estimated, its input tokens estimated per
        request) or error."""
        return tuple(_played(step) for step in self._steps)

    @property
    def remaining(self) -> int:
        """How many replies of the script are still to be given."""
        return max(0, len(self._steps) - len(self.requests))

    async def __call__(self, envelope: EffectEnvelope) -> LlmCallOutcome | DirectOutcome:
        command = envelope.command
        if not isinstance(command, LlmCallCommand | DirectCommand):
            raise LashError(
                codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH,
                f"a scripted model answers llm_call and direct envelopes, not {command.kind}",
            )
        request = command.request
        number = len(self.requests) + 1
        self.requests.append(request)
        if number > len(self._steps):
            raise LashError(
                codes.SCRIPTED_MODEL_EXHAUSTED,
                f"model call {number} asked for a reply, but the script has only "
                f"{len(self._steps)} (the conversation ends with: {_last(request)})",
            )
        step = self._steps[number - 1]
        where = f"reply {number} of {len(self._steps)}"
        _check_expect(step.expect, request, where)
        if step.error is not None:
            result: Ok[LlmResponse] | Err[LlmCallError] = Err(step.error)
        else:
            response = step.response
            assert response is not None
            offered = [spec.name for spec in request.tools]
            for part in response.message.tool_calls:
                if part.tool_name not in offered:
                    raise LashError(
                        codes.SCRIPTED_MODEL_UNKNOWN_TOOL,
                        f"{where} calls tool {part.tool_name!r}, which the request does not "
                        f"offer (its tools: {', '.join(map(repr, offered)) or 'none'})",
                    )
            if not step.usage_given:
                usage = Usage(_estimate(_request_chars(request)), response.usage.output_tokens)
                response = attrs.evolve(response, usage=usage)
            result = Ok(response)
        if isinstance(command, DirectCommand):
            return DirectOutcome(result)
        return LlmCallOutcome(result, text_streamed=False)


def _played(step: _Step) -> LlmResponse | LlmCallError:
    played = step.response if step.response is not None else step.error
    assert played is not None
    return played


def _check_expect(expect: Expect | None, request: LlmRequest, where: str) -> None:
    if expect is None:
        return
    try:
        verdict = expect(request)
    except Exception as exc:
        raise LashError(
            codes.SCRIPTED_MODEL_EXPECTATION_FAILED,
            f"{where}: its expect check raised {type(exc).__name__}: {exc} "
            f"(the conversation ends with: {_last(request)})",
        ) from exc
    if verdict is False:
        raise LashError(
            codes.SCRIPTED_MODEL_EXPECTATION_FAILED,
            f"{where}: its expect check returned False "
            f"(the conversation ends with: {_last(request)})",
        )


def _last(request: LlmRequest) -> str:
    if not request.messages:
        return "no message"
    last = request.messages[-1]
    text = to_json(last)
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"a {last.role.value} message {text}"


def _assign_ids(items: list[ScriptedReply | ScriptedError | LlmResponse]) -> tuple[_Step, ...]:
    taken: set[str] = set()
    for index, item in enumerate(items, 1):
        if isinstance(item, ScriptedReply):
            for part in item.tool_calls:
                given = part.call_id
                if given is None:
                    continue
                if given in taken:
                    raise _invalid(f"reply {index}: the call id {given!r} is used twice")
                taken.add(given)
    counter = 0

    def fresh() -> str:
        nonlocal counter
        while True:
            counter += 1
            candidate = f"call-{counter}"
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    steps: list[_Step] = []
    for index, item in enumerate(items, 1):
        try:
            steps.append(_step(item, fresh))
        except LashError as exc:  # a value of the wrong type (a text that is not a str, ...)
            raise _invalid(f"reply {index}: {exc.message}") from exc
    return tuple(steps)


def _step(item: ScriptedReply | ScriptedError | LlmResponse, fresh: Callable[[], str]) -> _Step:
    if isinstance(item, LlmResponse):
        return _Step(item, None, None, True)
    if isinstance(item, ScriptedError):
        return _Step(None, item.error, item.expect, True)
    parts = [
        part
        if isinstance(part, ToolCallPart)
        else ToolCallPart(part.call_id or fresh(), part.tool_name, part.args)
        for part in item.tool_calls
    ]
    # Usage not given: output tokens estimated here, input tokens per request.
    response = LlmResponse.reply(
        item.text, tool_calls=parts, usage=item.usage, stop_reason=item.stop_reason
    )
    if item.usage is None:
        output = Usage(output_tokens=_estimate(_message_chars(response.message)))
        response = attrs.evolve(response, usage=output)
    return _Step(response, None, item.expect, item.usage is not None)
