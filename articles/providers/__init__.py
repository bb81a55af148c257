"""AI providers (docs/rules.md, Charging for AI actions), chosen by the AI_PROVIDER setting:

- "local" (the default): `local.LocalProvider`, an offline, deterministic extractive
  engine for development, tests and demos; no network;
- "openai": `openai_compatible.OpenAICompatibleProvider`, any OpenAI-compatible
  chat-completions server at AI_BASE_URL (AI_API_KEY, AI_MODEL, AI_TIMEOUT).
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from articles.providers.base import Provider, ProviderAnswer, ProviderError, ProviderTimeout

PROVIDERS = ("local", "openai")

__all__ = [
    "PROVIDERS",
    "Provider",
    "ProviderAnswer",
    "ProviderError",
    "ProviderTimeout",
    "get_provider",
]


def get_provider() -> Provider:
    """The configured provider, read per call so that a settings change applies at once.

    Imported on first use: the openai library is slow to import and "local" needs none of it.
    """
    if settings.AI_PROVIDER == "local":
        from articles.providers.local import LocalProvider

        return LocalProvider()
    if settings.AI_PROVIDER == "openai":
        from articles.providers.openai_compatible import OpenAICompatibleProvider

        return OpenAICompatibleProvider()
    raise ImproperlyConfigured(
        f"AI_PROVIDER must be one of {PROVIDERS}, not {settings.AI_PROVIDER!r}"
    )
