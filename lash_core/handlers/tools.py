"""Typed Python functions as tools: :func:`tool`, :class:`ToolContext` and :class:`Toolbox`.

``@tool`` turns a function (sync or async) into a :class:`Tool`: a
:class:`~lash_core.effects.llm.ToolSpec` whose JSON schema comes from the function's type hints
and whose descriptions come from its docstring, and a way to run it for a ``tool_attempt``
envelope. A :class:`Toolbox` holds several tools: ``toolbox.specs`` go into
``TurnConfig.tools``, ``toolbox.handler(host)`` is the one ``TurnHandlers.tools`` handler.

What the model gets back:

* the function's return value (JSON data; a dataclass as its fields), as both the record's
  ``output`` and ``model_return``; or the outcome it returns itself (``ctx.pending()``,
  ``ctx.done(...)``);
* arguments that do not fit the signature: the function does not run, and the model is given
  a ``tool_arguments_invalid`` error result (so it can correct itself);
* a call to a tool the toolbox does not have: a ``tool_unknown`` error result;
* an exception raised by the function: the call fails with ``runtime_effect_handler_failed``
  (the model is given the error result), and the exception, with its traceback, is that
  error's ``__cause__``, reported through ``run_turn(..., on_handler_error=...)`` and
  ``TurnHooks.on_handler_error``.

A sync function runs on the event loop's thread: keep it quick (await an async function for
I/O). Nothing here does I/O itself.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol, overload

from lash_core import codes
from lash_core.effects.commands import ToolAttemptCommand
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.llm import ToolSpec
from lash_core.effects.outcomes import ToolAttemptOutcome
from lash_core.effects.tools import CancelPolicy, TimeoutPolicy, ToolCallRecord
from lash_core.errors import LashError
from lash_core.handlers.schema import ArgumentsInvalid, Signature, plain_json, signature_of
from lash_core.keys import AwaitEventKey
from lash_core.scope import ExecutionScope, ToolCompletion, TurnScope, WaitIdentity
from lash_core.wire import JsonValue

__all__ = ["KeyMinter", "Tool", "ToolContext", "Toolbox", "tool"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAME: Any = object()


class KeyMinter(Protocol):
    """What a toolbox needs of a host: minting a signed await-event key (every host has it)."""

    def await_event_key(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey: ...


class ToolContext:
    """What a tool function may ask about its call: give a parameter this annotation
    (``ctx: ToolContext``, or ``ctx: ToolContext | None = None`` to keep the function callable
    without one) and the toolbox passes it (it is not part of the tool's schema).

    ``ctx.key`` is the call's completion key (minted on first use on the host the toolbox's
    handler was built with): hand it to whoever completes the work. ``ctx.pending()`` answers
    "this call completes later, when the key is resolved".
    """

    __slots__ = ("_host", "_key", "envelope")

    def __init__(self, envelope: EffectEnvelope, host: KeyMinter | None) -> None:
        self.envelope = envelope
        """The ``tool_attempt`` envelope being answered."""
        self._host = host
        self._key: AwaitEventKey | None = None

    @property
    def command(self) -> ToolAttemptCommand:
        """The attempt's command (its call, attempt number and maximum)."""
        command = self.envelope.command
        assert isinstance(command, ToolAttemptCommand)
        return command

    @property
    def call_id(self) -> str:
        """The model's id of this call."""
        return self.command.call.call_id

    @property
    def tool_name(self) -> str:
        """The tool the model called."""
        return self.command.call.tool_name

    @property
    def args(self) -> JsonValue:
        """The arguments as the model wrote them (before conversion)."""
        return self.command.call.args

    @property
    def attempt(self) -> int:
        """This attempt's number, from 1."""
        return self.command.attempt

    @property
    def session_id(self) -> str:
        """The session the turn belongs to."""
        return self.envelope.invocation.scope.session_id

    @property
    def turn_id(self) -> str | None:
        """The turn making the call (``None`` outside a turn)."""
        return self.envelope.invocation.scope.turn_id

    @property
    def key(self) -> AwaitEventKey:
        """The call's completion key: ``ToolCompletion(call_id)`` in this turn's scope, signed
        by the host (the same key on every use). Raises ``tool_pending_unavailable`` when the
        handler has no host or the call is not part of a turn."""
        if self._key is None:
            turn_id = self.turn_id
            if self._host is None or turn_id is None:
                why = (
                    "the toolbox's handler was built without a host: use toolbox.handler(host)"
                    if self._host is None
                    else "the attempt is not part of a turn"
                )
                raise LashError(
                    codes.TOOL_PENDING_UNAVAILABLE,
                    f"tool {self.tool_name!r} (call {self.call_id!r}) asked for its completion "
                    f"key, but {why}",
                )
            scope = TurnScope(self.session_id, turn_id)
            self._key = self._host.await_event_key(scope, ToolCompletion(self.call_id))
        return self._key

    def pending(
        self,
        *,
        deadline_ms: int | None = None,
        on_timeout: TimeoutPolicy = TimeoutPolicy.ERROR_AS_RESULT,
        on_cancel: CancelPolicy = CancelPolicy.CANCEL_EXTERNAL_WORK,
    ) -> ToolAttemptOutcome:
        """The outcome "this call completes later": the turn waits on :attr:`key` (at most
        ``deadline_ms``, then ``on_timeout`` applies) and takes its resolution as the tool's
        result (``ok(payload)``: the payload; ``err(...)``: an error result)."""
        return ToolAttemptOutcome.pending(
            self.key, deadline_ms=deadline_ms, on_timeout=on_timeout, on_cancel=on_cancel
        )

    def done(
        self,
        output: JsonValue,
        *,
        model_return: JsonValue = _SAME,
        success: bool = True,
        duration_ms: int = 0,
    ) -> ToolAttemptOutcome:
        """The outcome "finished with ``output``"; the model is given ``model_return`` (the
        same value unless given). ``success=False`` reports a failure (retried under the
        turn's ``tool_retry`` policy, then given to the model as an error result)."""
        record = ToolCallRecord.for_attempt(
            self.command,
            output,
            model_return=output if model_return is _SAME else model_return,
            success=success,
            duration_ms=duration_ms,
        )
        return ToolAttemptOutcome.done(record)

    def error(self, code: str, message: str) -> ToolAttemptOutcome:
        """The outcome "failed": the model is given ``{"error": {"code", "message"}}``."""
        detail: JsonValue = {"error": {"code": code, "message": message}}
        return self.done(detail, success=False)


class Tool:
    """A typed function as a tool: :attr:`spec` describes it to the model, :meth:`run` answers
    a ``tool_attempt`` envelope with it. Calling the tool calls the function unchanged."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        name = getattr(fn, "__name__", None) if name is None else name
        if not callable(fn):
            raise LashError(codes.TOOL_DEFINITION_INVALID, f"a tool must be a function, got {fn!r}")
        if name is None:
            raise LashError(
                codes.TOOL_DEFINITION_INVALID,
                f"{fn!r} has no __name__: name the tool with tool(name=...)",
            )
        if not isinstance(name, str) or not _NAME.match(name):
            raise LashError(
                codes.TOOL_DEFINITION_INVALID,
                f"tool name {name!r}: use 1 to 64 letters, digits, '_' or '-'",
            )
        self.__wrapped__ = fn
        self.__name__ = name
        self.__qualname__ = getattr(fn, "__qualname__", name)
        self.__doc__ = fn.__doc__
        self.signature: Signature = signature_of(fn, f"tool {name!r}", ToolContext)
        text = self.signature.description if description is None else description
        self.spec = ToolSpec(name, text, self.signature.schema())
        """The tool as the model sees it: name, description, JSON schema of its arguments."""

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.spec.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    async def run(
        self, envelope: EffectEnvelope, host: KeyMinter | None = None
    ) -> ToolAttemptOutcome:
        """Answer a ``tool_attempt`` envelope: check the model's arguments, call the function
        (awaiting it if it is async) and turn what it returns into the outcome."""
        context = ToolContext(envelope, host)
        try:
            args, kwargs = self.signature.bind(context.args, context)
        except ArgumentsInvalid as exc:
            message = f"tool {self.name!r} was called with invalid arguments: {exc}"
            return context.error(codes.TOOL_ARGUMENTS_INVALID, message)
        try:
            value = self.__wrapped__(*args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        except LashError:
            raise
        except Exception as exc:
            raise LashError(
                codes.RUNTIME_EFFECT_HANDLER_FAILED,
                f"tool {self.name!r} (call {context.call_id!r}) raised {type(exc).__name__}: {exc}",
            ) from exc
        if isinstance(value, ToolAttemptOutcome):
            return value
        return context.done(plain_json(value))  # type: ignore[arg-type]


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a typed function a :class:`Tool` (``@tool``, or ``@tool(name=..., description=...)``
    to override the function's name and docstring). Raises ``tool_definition_invalid`` for a
    function it cannot describe."""
    if fn is not None:
        return Tool(fn, name=name, description=description)

    def decorate(inner: Callable[..., Any]) -> Tool:
        return Tool(inner, name=name, description=description)

    return decorate


class Toolbox:
    """Several tools: :attr:`specs` for ``TurnConfig.tools`` and :meth:`handler` for
    ``TurnHandlers.tools`` (dispatching by tool name). Plain functions are made tools as with
    ``@tool``; two tools with the same name are ``tool_definition_invalid``."""

    __slots__ = ("_tools",)

    def __init__(self, *tools: Tool | Callable[..., Any]) -> None:
        by_name: dict[str, Tool] = {}
        for item in tools:
            made = item if isinstance(item, Tool) else Tool(item)
            if made.name in by_name:
                raise LashError(codes.TOOL_DEFINITION_INVALID, f"two tools are named {made.name!r}")
            by_name[made.name] = made
        self._tools = by_name

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools' specs, in the order given (for ``TurnConfig(tools=...)``)."""
        return tuple(tool.spec for tool in self._tools.values())

    @property
    def names(self) -> tuple[str, ...]:
        """The tools' names, in order."""
        return tuple(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(tuple(self._tools.values()))

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def handler(
        self, host: KeyMinter | None = None
    ) -> Callable[[EffectEnvelope], Coroutine[Any, Any, ToolAttemptOutcome]]:
        """The ``tool_attempt`` handler for ``TurnHandlers(tools=...)``. ``host`` (the host the
        turn runs on) mints the keys of tools that go pending (``ctx.key``,
        ``ctx.pending()``); tools that never do need none."""
        tools = self._tools

        async def toolbox(envelope: EffectEnvelope) -> ToolAttemptOutcome:
            command = envelope.command
            if not isinstance(command, ToolAttemptCommand):
                raise LashError(
                    codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH,
                    f"a toolbox answers tool_attempt envelopes, not {command.kind}",
                )
            found = tools.get(command.call.tool_name)
            if found is None:
                context = ToolContext(envelope, host)
                offered = ", ".join(repr(name) for name in tools) or "none"
                message = (
                    f"there is no tool named {command.call.tool_name!r} (the tools are: {offered})"
                )
                return context.error(codes.TOOL_UNKNOWN, message)
            return await found.run(envelope, host)

        return toolbox
