"""``provider:model`` strings, as the command line takes them."""

from __future__ import annotations

from lash_core import codes
from lash_core.errors import LocalProtocolError
from lash_providers._common import TextSink
from lash_providers._handler import ProviderModel

__all__ = ["PROVIDERS", "model_from_spec"]

PROVIDERS = ("openai", "anthropic")
"""The provider prefixes :func:`model_from_spec` knows."""


def model_from_spec(
    spec: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    on_text: TextSink | None = None,
) -> ProviderModel:
    """The model handler that ``spec`` names: ``openai:NAME`` (OpenAI, or the compatible server
    at ``base_url`` / ``OPENAI_BASE_URL``) or ``anthropic:NAME``. Keys and URLs not given come
    from the environment, as each SDK reads them. ``provider_config_invalid`` for anything
    else."""
    provider, sep, name = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not sep or provider not in PROVIDERS or not name.strip():
        raise LocalProtocolError(
            codes.PROVIDER_CONFIG_INVALID,
            f"a model spec is PROVIDER:MODEL with PROVIDER one of {', '.join(PROVIDERS)} "
            f"(openai:gpt-4o-mini, anthropic:claude-sonnet-4-5), got {spec!r}",
        )
    if provider == "openai":
        from lash_providers.openai_chat import OpenAIChatModel

        return OpenAIChatModel(name, base_url=base_url, api_key=api_key, on_text=on_text)
    from lash_providers.anthropic_messages import AnthropicModel

    return AnthropicModel(name, base_url=base_url, api_key=api_key, on_text=on_text)
