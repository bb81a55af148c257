from __future__ import annotations

from dataclasses import dataclass

# What an action returns: a string, or for find_image {"query": str, "suggestions": [str]}.
Result = str | dict


@dataclass(frozen=True)
class ProviderAnswer:
    result: Result
    # The provider's own token count (usage.total_tokens), when it reports one. Stored on
    # the usage row for the operator; the user is charged the cost table's price.
    provider_tokens: int | None = None


class ProviderError(Exception):
    """The provider failed or answered something unusable (HTTP 502)."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within AI_TIMEOUT (HTTP 504)."""


class Provider:
    """One method per AI action, named like the action (see articles.actions.ACTIONS)."""

    def run(self, action: str, text: str) -> ProviderAnswer:
        return getattr(self, action)(text)

    def generate_seo_title(self, text: str) -> ProviderAnswer:
        raise NotImplementedError

    def generate_meta_description(self, text: str) -> ProviderAnswer:
        raise NotImplementedError

    def rewrite(self, text: str) -> ProviderAnswer:
        raise NotImplementedError

    def find_image(self, text: str) -> ProviderAnswer:
        raise NotImplementedError


# Length limits of the answers, the usual ones for search result snippets.
TITLE_MAX = 60
DESCRIPTION_MAX = 160


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word boundary and marked with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + "…"
