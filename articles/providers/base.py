from __future__ import annotations

from collections.abc import Callable
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


# Called with each piece of the result as the provider sends it (a streamed action).
OnDelta = Callable[[str], None]


class Provider:
    """Answers AI actions; `answer` is awaited, so a slow model holds no thread."""

    async def answer(
        self, action: str, text: str, on_delta: OnDelta | None = None
    ) -> ProviderAnswer:
        """The result of `action` (a name of articles.actions.ACTIONS) on `text`.

        With `on_delta`, a text result is also handed over piece by piece as it is made;
        the returned result is the final one (it may be tidied: quotes, length).
        """
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
