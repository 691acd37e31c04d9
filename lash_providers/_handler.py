"""The model handler both adapters build on: one envelope in, one outcome out, streaming or
not, with every provider failure answered as an ``LlmCallError`` outcome."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from types import ModuleType, TracebackType
from typing import Any, Protocol, Self

from lash_core.effects import (
    DirectOutcome,
    EffectEnvelope,
    LlmCallOutcome,
    LlmRequest,
    LlmResponse,
)
from lash_core.turn import TextEvent
from lash_providers._common import ResponseInvalid, TextSink, outcome_for, request_of
from lash_providers._errors import error_from_exception, response_invalid

__all__ = ["ProviderModel", "StreamAssembler"]


class StreamAssembler(Protocol):
    """What a provider's stream is folded into: ``feed`` returns each event's text delta."""

    def feed(self, event: Mapping[str, Any]) -> str: ...

    def response(self) -> LlmResponse: ...


class ProviderModel:
    """A model handler: ``await model(envelope)`` answers an ``llm_call`` envelope with an
    :class:`~lash_core.effects.LlmCallOutcome` (and a ``direct`` one with a
    :class:`~lash_core.effects.DirectOutcome`). Give it to ``TurnHandlers(model=...)``.

    Subclasses say how to call their SDK (:meth:`_create`, :meth:`_stream`)."""

    provider: str = ""
    _sdk: ModuleType
    _client: Any

    def __init__(self, model: str | None, on_text: TextSink | None, stream: bool | None) -> None:
        self.model = model
        """The provider's model name (``None``: each request's own ``model``)."""
        self.on_text = on_text
        """Where text deltas go while the answer streams (``None``: nowhere)."""
        self.stream = stream
        """Stream the answer (``None``: stream exactly when :attr:`on_text` is set)."""

    @property
    def client(self) -> Any:
        """The SDK's async client this handler calls."""
        return self._client

    def model_name(self, request: LlmRequest) -> str:
        """The model a request goes to: :attr:`model`, else the request's own."""
        return self.model if self.model is not None else request.model

    async def __call__(self, envelope: EffectEnvelope) -> LlmCallOutcome | DirectOutcome:
        request, direct = request_of(envelope)
        sink = None if direct else self.on_text
        streaming = self.stream if self.stream is not None else sink is not None
        prefix = f"{envelope.replay_key or 'call'}:call-"
        streamed = False
        try:
            if not streaming:
                response = await self._create(request, prefix)
            else:
                assembler = self._assembler(prefix)
                async with aclosing(self._stream(request)) as events:
                    async for event in events:
                        delta = assembler.feed(event)
                        if delta and sink is not None:
                            streamed = True
                            sink(TextEvent(delta))
                response = assembler.response()
        except ResponseInvalid as exc:
            invalid = response_invalid(self.provider, str(exc), retryable=exc.retryable)
            return outcome_for(direct, invalid, streamed)
        except Exception as exc:
            error = error_from_exception(self.provider, self._sdk, exc)
            if error is None:
                raise
            return outcome_for(direct, error, streamed)
        return outcome_for(direct, response, streamed)

    async def _create(self, request: LlmRequest, call_id_prefix: str) -> LlmResponse:
        raise NotImplementedError

    def _stream(self, request: LlmRequest) -> AsyncGenerator[Mapping[str, Any]]:
        raise NotImplementedError

    def _assembler(self, call_id_prefix: str) -> StreamAssembler:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the SDK client (its connections). The handler cannot be used afterwards."""
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
