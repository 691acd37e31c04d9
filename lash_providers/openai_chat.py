"""A model handler for the OpenAI chat completions API, through the official ``openai`` SDK:
OpenAI itself and the OpenAI-compatible servers people run locally (vLLM, llama.cpp's server,
Ollama), which take the same requests at another ``base_url``."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from lash_core import codes
from lash_core.effects import LlmRequest, LlmResponse
from lash_core.errors import LocalProtocolError
from lash_core.wire import JsonValue
from lash_providers._common import (
    TextSink,
    check_model_name,
    check_options,
    require_sdk,
)
from lash_providers._handler import ProviderModel
from lash_providers._openai_wire import (
    ChunkAssembler,
    chat_messages,
    chat_tools,
    response_from_completion,
)

__all__ = ["LOCAL_API_KEY", "OpenAIChatModel"]

LOCAL_API_KEY = "not-needed"
"""The API key sent to a server given by ``base_url`` when no key is set anywhere: local
servers ignore it, and the SDK needs one."""

_RESERVED = frozenset({"model", "messages", "tools", "stream", "stream_options"})
_MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens")
_OPENAI_HOST = "api.openai.com"


class OpenAIChatModel(ProviderModel):
    """Answers model calls with OpenAI chat completions.

    * ``model``: the model name sent (``None``: each request's ``model``, the turn config's).
    * ``base_url``, ``api_key``: where to and as whom (defaults: ``OPENAI_BASE_URL`` and
      ``OPENAI_API_KEY``, as the SDK reads them; with a ``base_url`` and no key anywhere,
      :data:`LOCAL_API_KEY`). Or give a ready ``client`` (an ``openai.AsyncOpenAI``).
    * ``on_text``, ``stream``: stream the answer, sending each text delta to ``on_text`` as a
      ``TextEvent``; the outcome then says ``text_streamed``, so the turn does not send the
      text again.
    * ``options``: more request fields, sent as they are (``temperature``, ``top_p``,
      ``seed``, a local server's own such as ``top_k``).
    * ``max_tokens_field``: the field that carries the request's ``max_output_tokens``:
      by default ``max_completion_tokens`` when the client talks to ``api.openai.com``, else
      ``max_tokens`` (what compatible servers know).
    * ``stream_usage``: ask a stream for its usage (``stream_options.include_usage``).
    * ``timeout`` (seconds) and ``max_retries`` configure the client this builds.
      ``max_retries`` is 0: the turn's ``model_retry`` policy retries on virtual-time-friendly,
      deterministic sleeps, and a retry the SDK made would be invisible to it.
    """

    provider = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: Any = None,
        on_text: TextSink | None = None,
        stream: bool | None = None,
        options: Mapping[str, JsonValue] | None = None,
        max_tokens_field: str | None = None,
        stream_usage: bool = True,
        timeout: float = 600.0,
        max_retries: int = 0,
    ) -> None:
        super().__init__(check_model_name(model), on_text, stream)
        self._sdk = require_sdk("openai", "openai")
        self.options = check_options(options, _RESERVED)
        if max_tokens_field is not None and max_tokens_field not in _MAX_TOKENS_FIELDS:
            raise LocalProtocolError(
                codes.PROVIDER_CONFIG_INVALID,
                f"max_tokens_field must be one of {', '.join(_MAX_TOKENS_FIELDS)}, "
                f"got {max_tokens_field!r}",
            )
        self.stream_usage = stream_usage
        if client is None:
            if api_key is None and not os.environ.get("OPENAI_API_KEY"):
                if base_url is None and not os.environ.get("OPENAI_BASE_URL"):
                    raise LocalProtocolError(
                        codes.PROVIDER_CONFIG_INVALID,
                        "no OpenAI API key: pass api_key=... or set OPENAI_API_KEY (a local "
                        "server given by base_url or OPENAI_BASE_URL needs none)",
                    )
                api_key = LOCAL_API_KEY
            try:
                client = self._sdk.AsyncOpenAI(
                    api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
                )
            except (ValueError, self._sdk.OpenAIError) as exc:
                raise LocalProtocolError(
                    codes.PROVIDER_CONFIG_INVALID, f"the OpenAI client refused its options: {exc}"
                ) from exc
        self._client = client
        if max_tokens_field is None:
            official = _OPENAI_HOST in str(getattr(client, "base_url", _OPENAI_HOST))
            max_tokens_field = "max_completion_tokens" if official else "max_tokens"
        self.max_tokens_field = max_tokens_field
        """Where the request's ``max_output_tokens`` goes."""

    def request_body(self, request: LlmRequest, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body sent for ``request`` (what the server receives)."""
        body: dict[str, Any] = {
            "model": self.model_name(request),
            "messages": chat_messages(request),
        }
        if request.tools:
            body["tools"] = chat_tools(request)
        if request.max_output_tokens is not None:
            body[self.max_tokens_field] = request.max_output_tokens
        body.update(self.options)
        if stream:
            body["stream"] = True
            if self.stream_usage:
                body["stream_options"] = {"include_usage": True}
        return body

    def _call_args(self, request: LlmRequest, stream: bool) -> dict[str, Any]:
        body = self.request_body(request, stream=stream)
        args = {"model": body.pop("model"), "messages": body.pop("messages")}
        if stream:
            args["stream"] = body.pop("stream")
        # Everything else goes as it is (the SDK would refuse a server's own fields).
        args["extra_body"] = body
        return args

    async def _create(self, request: LlmRequest, call_id_prefix: str) -> LlmResponse:
        completion = await self._client.chat.completions.create(**self._call_args(request, False))
        return response_from_completion(completion.to_dict(), call_id_prefix)

    async def _stream(self, request: LlmRequest) -> AsyncGenerator[Mapping[str, Any]]:
        stream = await self._client.chat.completions.create(**self._call_args(request, True))
        async with stream:
            async for chunk in stream:
                yield chunk.to_dict()

    def _assembler(self, call_id_prefix: str) -> ChunkAssembler:
        return ChunkAssembler(call_id_prefix)
