"""AI_PROVIDER=openai: any server that speaks OpenAI's chat-completions protocol
(OpenAI itself, vLLM, llama.cpp, Ollama, LM Studio…) through the official client.

Every failure becomes ProviderError (HTTP 502) or ProviderTimeout (HTTP 504); the caller
releases the hold. The call is awaited through `AsyncOpenAI`: a process keeps hundreds
of answers in flight without a thread each. Streamed, it asks for the usage in the last
chunk (`stream_options.include_usage`), so the provider's token count is stored either way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref

import aiohttp
import httpx2
from django.conf import settings
from openai import (
    APIStatusError,
    APITimeoutError,
    AsyncOpenAI,
    DefaultAioHttpClient,
    OpenAIError,
)

from articles.providers.base import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    OnDelta,
    Provider,
    ProviderAnswer,
    ProviderError,
    ProviderTimeout,
    shorten,
)

logger = logging.getLogger(__name__)

SAME_LANGUAGE = "Write in the language of the text."
PROMPTS = {
    "generate_seo_title": (
        f"You write SEO titles. Write one title for the text, at most {TITLE_MAX} "
        f"characters. {SAME_LANGUAGE} Answer with the title only."
    ),
    "generate_meta_description": (
        f"You write SEO meta descriptions. Write one description of the text, at most "
        f"{DESCRIPTION_MAX} characters. {SAME_LANGUAGE} Answer with the description only."
    ),
    "rewrite": (
        "You are an editor. Rewrite the text so that it reads better, keeping its meaning, "
        f"facts and paragraphs. {SAME_LANGUAGE} Answer with the rewritten text only."
    ),
    "find_image": (
        "You help find a stock photo for an article. Suggest image search queries for the "
        'text. Answer with JSON only: {"query": "<the best query>", "suggestions": '
        '["<another query>", ...]} with two to four suggestions. ' + SAME_LANGUAGE
    ),
}
CODE_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class OpenAICompatibleProvider(Provider):
    async def answer(
        self, action: str, text: str, on_delta: OnDelta | None = None
    ) -> ProviderAnswer:
        messages = [
            {"role": "system", "content": PROMPTS[action]},
            {"role": "user", "content": text},
        ]
        try:
            # AI_TIMEOUT bounds the whole answer, a streamed one too (the client's own
            # timeout only bounds each read).
            async with asyncio.timeout(settings.AI_TIMEOUT):
                if on_delta is None:
                    completion = await client().chat.completions.create(
                        model=settings.AI_MODEL, messages=messages
                    )
                    content, tokens = _content(completion), _total_tokens(completion)
                else:
                    content, tokens = await _streamed(messages, on_delta)
        except (TimeoutError, APITimeoutError) as error:
            if _refused(error):
                logger.warning("AI provider call failed: %r", error)
                raise ProviderError("The AI provider could not be reached or failed.") from error
            raise ProviderTimeout(
                f"The AI provider did not answer within {settings.AI_TIMEOUT:g} s."
            ) from error
        except APIStatusError as error:
            logger.warning("AI provider answered HTTP %s: %s", error.status_code, error.message)
            raise ProviderError(f"The AI provider failed (HTTP {error.status_code}).") from error
        # Connection refused, unreadable JSON, a stream cut off midway (httpx's own error).
        except (OpenAIError, httpx2.HTTPError, ValueError) as error:
            logger.warning("AI provider call failed: %r", error)
            raise ProviderError("The AI provider could not be reached or failed.") from error
        return ProviderAnswer(FINISH[action](content), tokens)


def client() -> AsyncOpenAI:
    """The process's client for the configured server: one per event loop (a server
    process has one), kept with its pool of open connections to the provider.

    Retries are off: a retry would double the user's wait behind a request that holds
    their tokens, and the user can simply try again.
    """
    config = (settings.AI_BASE_URL, settings.AI_API_KEY, settings.AI_TIMEOUT)
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    if config not in clients:
        clients[config] = AsyncOpenAI(
            base_url=settings.AI_BASE_URL,
            api_key=settings.AI_API_KEY or "none",  # local servers often need no key
            timeout=settings.AI_TIMEOUT,
            max_retries=0,
            # aiohttp as the transport (the library's `aiohttp` extra): with hundreds of
            # calls in flight, httpx's pool checked every pooled connection for each
            # request, a quarter of the event loop's time (make bench, py-spy).
            http_client=DefaultAioHttpClient(timeout=settings.AI_TIMEOUT),
        )
    return clients[config]


_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _refused(error: BaseException) -> bool:
    """A connection the provider refused, which the aiohttp transport reports as a
    connect timeout (its error map picks httpx's ConnectTimeout for aiohttp's
    ClientConnectorError): an outage (502), not a slow answer (504)."""
    while error is not None:
        if isinstance(error, aiohttp.ClientConnectorError) and not isinstance(error, TimeoutError):
            return True
        error = error.__cause__
    return False


async def _streamed(messages: list[dict], on_delta: OnDelta) -> tuple[str, int | None]:
    """The answer streamed: each piece to `on_delta` as it arrives; the whole and usage."""
    stream = await client().chat.completions.create(
        model=settings.AI_MODEL,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    tokens = finish_reason = None
    async with stream:
        async for chunk in stream:
            tokens = _total_tokens(chunk) if chunk.usage else tokens
            if not chunk.choices:
                continue
            finish_reason = chunk.choices[0].finish_reason or finish_reason
            if delta := chunk.choices[0].delta.content:
                pieces.append(delta)
                on_delta(delta)
    if finish_reason is None:  # the connection ended before the model did
        raise ProviderError("The AI provider's answer was cut off.")
    content = "".join(pieces).strip()
    if not content:
        raise ProviderError("The AI provider sent an empty answer.")
    return content, tokens


def _content(completion) -> str:
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as error:
        raise ProviderError("The AI provider sent an answer without a message.") from error
    if not isinstance(content, str) or not content.strip():
        raise ProviderError("The AI provider sent an empty answer.")
    return content.strip()


def _total_tokens(completion) -> int | None:
    total = getattr(getattr(completion, "usage", None), "total_tokens", None)
    return total if isinstance(total, int) and total >= 0 else None


def _unquote(text: str) -> str:
    """Models like to wrap a title in quotes."""
    return text.strip().strip("\"'“”«»").strip()


def _image_queries(content: str) -> dict:
    try:
        answer = json.loads(CODE_FENCE.sub("", content.strip()))
        query = answer["query"]
        suggestions = answer.get("suggestions", [])
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ProviderError("The AI provider's answer is not the JSON asked for.") from error
    if not isinstance(query, str) or not query.strip() or not isinstance(suggestions, list):
        raise ProviderError("The AI provider's answer is not the JSON asked for.")
    suggestions = [s.strip() for s in suggestions if isinstance(s, str) and s.strip()]
    return {"query": query.strip(), "suggestions": suggestions[:4]}


# The model's answer as Volx returns it, per action.
FINISH = {
    "generate_seo_title": lambda content: shorten(_unquote(content), TITLE_MAX),
    "generate_meta_description": lambda content: shorten(_unquote(content), DESCRIPTION_MAX),
    "rewrite": lambda content: content,
    "find_image": lambda content: _image_queries(content),
}
