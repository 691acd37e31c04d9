"""Model handlers for real providers: OpenAI chat completions (and the OpenAI-compatible
servers run locally: vLLM, llama.cpp, Ollama) and Anthropic messages, through their official
SDKs, which are optional extras (``pip install 'lash-effects[openai]'``,
``'lash-effects[anthropic]'``). Each handler answers ``llm_call`` envelopes
(``TurnHandlers(model=...)``) and ``direct`` ones, streams text deltas when asked, and answers
every provider failure with an ``LlmCallError`` that says whether a retry can help.

:mod:`lash_providers.testing` has a fake provider server for tests.
"""

from __future__ import annotations

from lash_providers._common import TextSink as TextSink
from lash_providers._errors import classify_http_error as classify_http_error
from lash_providers._handler import ProviderModel as ProviderModel
from lash_providers.anthropic_messages import DEFAULT_MAX_TOKENS as DEFAULT_MAX_TOKENS
from lash_providers.anthropic_messages import AnthropicModel as AnthropicModel
from lash_providers.openai_chat import LOCAL_API_KEY as LOCAL_API_KEY
from lash_providers.openai_chat import OpenAIChatModel as OpenAIChatModel
from lash_providers.spec import PROVIDERS as PROVIDERS
from lash_providers.spec import model_from_spec as model_from_spec

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "LOCAL_API_KEY",
    "PROVIDERS",
    "AnthropicModel",
    "OpenAIChatModel",
    "ProviderModel",
    "TextSink",
    "classify_http_error",
    "model_from_spec",
]
