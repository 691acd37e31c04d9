"""A model handler for the Anthropic messages API, through the official ``anthropic`` SDK."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from lash_core import codes
from lash_core.effects import LlmRequest, LlmResponse
from lash_core.errors import LocalProtocolError
from lash_core.wire import JsonValue
from lash_providers._anthropic_wire import (
    EventAssembler,
    message_tools,
    messages_and_system,
    response_from_message,
)
from lash_providers._common import TextSink, check_model_name, check_options, require_sdk
from lash_providers._handler import ProviderModel

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicModel"]

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` of a request that sets no ``max_output_tokens`` (the API requires one)."""

_RESERVED = frozenset({"model", "messages", "system", "tools", "max_tokens", "stream"})


class AnthropicModel(ProviderModel):
    """Answers model calls with Anthropic messages.

    * ``model``: the model name sent (``None``: each request's ``model``).
    * ``api_key``, ``base_url``: as the SDK takes them (defaults: ``ANTHROPIC_API_KEY``,
      ``ANTHROPIC_BASE_URL`` and the SDK's other credential sources). Or give a ready
      ``client`` (an ``anthropic.AsyncAnthropic``).
    * ``on_text``, ``stream``: stream the answer, each text delta to ``on_text`` as a
      ``TextEvent`` (the outcome then says ``text_streamed``).
    * ``options``: more request fields (``temperature``, ``top_k``, ``stop_sequences``,
      ``metadata``, ...), sent as they are.
    * ``default_max_tokens``: ``max_tokens`` when the request has no ``max_output_tokens``.
    * ``timeout`` (seconds) and ``max_retries`` (0: the turn's ``model_retry`` retries)
      configure the client this builds.
    """

    provider = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any = None,
        on_text: TextSink | None = None,
        stream: bool | None = None,
        options: Mapping[str, JsonValue] | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        timeout: float = 600.0,
        max_retries: int = 0,
    ) -> None:
        super().__init__(check_model_name(model), on_text, stream)
        self._sdk = require_sdk("anthropic", "anthropic")
        self.options = check_options(options, _RESERVED)
        if type(default_max_tokens) is not int or default_max_tokens < 1:
            raise LocalProtocolError(
                codes.PROVIDER_CONFIG_INVALID,
                f"default_max_tokens must be an int >= 1, got {default_max_tokens!r}",
            )
        self.default_max_tokens = default_max_tokens
        if client is None:
            try:
                client = self._sdk.AsyncAnthropic(
                    api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
                )
            except (ValueError, self._sdk.AnthropicError) as exc:
                raise LocalProtocolError(
                    codes.PROVIDER_CONFIG_INVALID,
                    f"the Anthropic client refused its options: {exc}",
                ) from exc
        self._client = client

    def request_body(self, request: LlmRequest, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body sent for ``request`` (what the server receives)."""
        messages, system = messages_and_system(request)
        body: dict[str, Any] = {
            "model": self.model_name(request),
            "max_tokens": request.max_output_tokens or self.default_max_tokens,
            "messages": messages,
        }
        if system is not None:
            body["system"] = system
        if request.tools:
            body["tools"] = message_tools(request)
        body.update(self.options)
        if stream:
            body["stream"] = True
        return body

    def _call_args(self, request: LlmRequest, stream: bool) -> dict[str, Any]:
        body = self.request_body(request, stream=stream)
        args = {name: body.pop(name) for name in ("model", "max_tokens", "messages")}
        if stream:
            args["stream"] = body.pop("stream")
        args["extra_body"] = body
        return args

    async def _create(self, request: LlmRequest, call_id_prefix: str) -> LlmResponse:
        message = await self._client.messages.create(**self._call_args(request, False))
        return response_from_message(message.to_dict())

    async def _stream(self, request: LlmRequest) -> AsyncGenerator[Mapping[str, Any]]:
        stream = await self._client.messages.create(**self._call_args(request, True))
        async with stream:
            async for event in stream:
                yield event.to_dict()

    def _assembler(self, call_id_prefix: str) -> EventAssembler:
        return EventAssembler(call_id_prefix)
