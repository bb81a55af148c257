"""/api/articles and /api/ai/* (the README's API section; docs/rules.md, Article limit,
Charging for AI actions, Streaming and clients that leave)."""

import asyncio
import json
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import VerifiedEmailIfRequired
from articles.actions import TEXT_MAX_CHARS, Action, Outcome, Run, hold
from articles.models import Article, ArticleLimitReached
from articles.providers import ProviderError, ProviderTimeout
from articles.providers.base import OnDelta
from subscriptions.models import Plan, UserSubscription
from tokens.models import IdempotencyRecord, TokenHold
from tokens.wallet import InsufficientTokens
from volx import idempotency
from volx.api import ErrorSerializer
from volx.db import in_database
from volx.idempotency import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES

logger = logging.getLogger(__name__)


def error_response(status_code: int, error: str, **details) -> Response:
    return Response({"error": error, **details}, status=status_code)


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (DRF field errors too)."),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    404: OpenApiResponse(ErrorSerializer, description="No such article of yours."),
}


# --- articles -------------------------------------------------------------------


class ArticleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Article
        fields = [
            "id",
            "title",
            "content",
            "seo_title",
            "meta_description",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class ArticleLimitSerializer(ErrorSerializer):
    limit = serializers.IntegerField(help_text="The plan's articles_limit.")
    used = serializers.IntegerField(help_text="Articles created in the current plan period.")


@extend_schema_view(
    get=extend_schema(
        summary="Your articles, newest first", responses={200: ArticleSerializer, 401: ERRORS[401]}
    ),
    post=extend_schema(
        summary="Create an article",
        description=(
            "Counts against the plan's `articles_limit` for the current plan period (a "
            "billing cycle of a paid plan, the whole stay on the free plan). Creations are "
            "counted: deleting an article does not give its place back."
        ),
        responses={
            201: ArticleSerializer,
            400: ERRORS[400],
            401: ERRORS[401],
            402: OpenApiResponse(ArticleLimitSerializer, description="Article limit reached."),
        },
    ),
)
class ArticleListView(generics.ListCreateAPIView):
    serializer_class = ArticleSerializer

    def get_queryset(self):
        return Article.objects.filter(user=self.request.user).order_by("-created_at", "-id")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            article = Article.objects.create_within_limit(request.user, **serializer.validated_data)
        except ArticleLimitReached as limit:
            return error_response(
                status.HTTP_402_PAYMENT_REQUIRED,
                "Article limit reached",
                limit=limit.limit,
                used=limit.used,
            )
        return Response(self.get_serializer(article).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="One of your articles",
        responses={200: ArticleSerializer, 401: ERRORS[401], 404: ERRORS[404]},
    ),
    patch=extend_schema(
        summary="Change one of your articles",
        responses={200: ArticleSerializer, **ERRORS},
    ),
    delete=extend_schema(
        summary="Delete one of your articles",
        responses={204: None, 401: ERRORS[401], 404: ERRORS[404]},
    ),
)
class ArticleDetailView(generics.RetrieveUpdateDestroyAPIView):
    """Another user's article answers 404, as if it did not exist."""

    serializer_class = ArticleSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Article.objects.filter(user=self.request.user)


# --- AI actions -----------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# What renders as nothing: controls, format characters (zero-width space and joiners,
# BOM, bidi controls, tags), spaces and separators, and marks with nothing to sit on.
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn", "Me"}
# Letters and symbols that are drawn blank: Hangul fillers, the braille blank.
BLANK_CHARACTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def has_visible_character(text: str) -> bool:
    return any(
        char not in BLANK_CHARACTERS and unicodedata.category(char) not in INVISIBLE_CATEGORIES
        for char in text
    )


class AIActionRequestSerializer(serializers.Serializer):
    text = StrictCharField(
        max_length=TEXT_MAX_CHARS,
        help_text=(
            f"The text to work on: required, not blank, at most {TEXT_MAX_CHARS:,} characters "
            "after stripping surrounding whitespace."
        ),
    )
    article_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="One of your articles, recorded with the usage (another user's → 404).",
    )
    stream = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "Text actions only: answer text/event-stream, the text as it is written "
            "(see the description)."
        ),
    )

    def validate_text(self, text: str) -> str:
        # Zero-width spaces and the like would be charged for and give the provider nothing.
        if not has_visible_character(text):
            raise serializers.ValidationError("This field must contain visible text.")
        return text

    def validate_stream(self, stream: bool) -> bool:
        action = self.context.get("action")
        if stream and action is not None and not action.streams:
            raise serializers.ValidationError(f"{action.slug} answers as a whole, not a stream.")
        return stream


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "title, meta description or rewritten text"},
            {
                "type": "object",
                "description": "find-image: image search queries",
                "properties": {
                    "query": {"type": "string"},
                    "suggestions": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["query", "suggestions"],
            },
        ]
    }
)
class ResultField(serializers.JSONField):
    pass


class AIActionAnswerSerializer(serializers.Serializer):
    action = serializers.CharField()
    result = ResultField()
    tokens_used = serializers.IntegerField()
    tokens_remaining = serializers.IntegerField()
    note = serializers.CharField(
        required=False,
        help_text="Why nothing was charged (tokens_used 0): a rewrite that came back unchanged.",
    )


class SuggestedPlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ["slug", "name", "tokens", "price_monthly"]


class InsufficientTokensSerializer(ErrorSerializer):
    remaining = serializers.IntegerField()
    required = serializers.IntegerField()
    missing = serializers.IntegerField()
    plan_type = serializers.CharField(allow_null=True)
    tokens_limit = serializers.IntegerField(allow_null=True)
    suggested_plan = SuggestedPlanSerializer(
        allow_null=True,
        help_text="The smallest paid plan whose tokens cover the missing ones, if any.",
    )


def insufficient_tokens_payload(user, shortfall: InsufficientTokens) -> dict:
    """The 402 body the insufficient-tokens dialog shows (README, API and Pages)."""
    subscription = UserSubscription.objects.filter(user=user).first()
    plan = (
        Plan.objects.buyable()
        .filter(tokens__gte=shortfall.missing)
        .order_by("tokens", "pk")
        .first()
    )
    return {
        "error": "Insufficient tokens",
        "remaining": shortfall.remaining,
        "required": shortfall.required,
        "missing": shortfall.missing,
        "plan_type": subscription.plan_type if subscription else None,
        "tokens_limit": subscription.tokens_limit if subscription else None,
        "suggested_plan": SuggestedPlanSerializer(plan).data if plan else None,
    }


class AIActionSchema(AutoSchema):
    """Each route's description states its own price, from the cost table."""

    def get_description(self):
        action: Action = self.view.ai_action
        text = (
            f"{action.describe_cost()} The tokens are held before the provider runs and "
            "charged only when it answers; a failed action (502, 504) costs nothing."
        )
        if action.streams:
            text += STREAMING_DESCRIPTION
        return text

    def get_operation_id(self):
        return f"ai_{self.view.ai_action.name}"


STREAMING_DESCRIPTION = """

**Streaming.** With `"stream": true` the answer is `200 text/event-stream`: one
`data: {"delta": "…"}` event per piece of text as the provider sends it, then
`event: done` with `data: {action, result, tokens_used, tokens_remaining}` (`result` is
the final text, which may be tidied: quotes taken off, cut to length). A failure after
the stream began is `event: error` with `data: {"error": "…"}`, and nothing is charged.
What is known before the stream starts (400, 401, 402, 404, 409, 422, 429) is an ordinary
JSON answer with its status.

**Charging when the client leaves.** Before the provider's first piece (not streamed: its
answer) the provider call is cancelled and nothing is charged. From then on the action
runs to the end and is charged even if the client has gone; with an `Idempotency-Key`, a
retry with the same key and body gets the whole result as ordinary JSON, charged once."""


@dataclass(frozen=True)
class Started:
    """An admitted request: its tokens are held; the provider has not run yet."""

    hold: TokenHold
    text: str
    article_id: int | None
    stream: bool
    record: IdempotencyRecord | None  # the Idempotency-Key's in-progress record, if any


class AIActionView(APIView):
    """POST /api/ai/<action>: everything known before the provider runs (who, how often,
    what, the hold) is DRF on a database thread; the provider call is awaited, so a
    slow model holds no thread, no connection and no transaction while it works."""

    ai_action: Action | None = None  # set per route: as_view(ai_action=…)
    throttle_scope = "ai"  # per user, all four actions together: THROTTLE_AI
    # Checked by DRF's initial() in start(), before the hold: AI_REQUIRES_VERIFIED_EMAIL.
    permission_classes = [permissions.IsAuthenticated, VerifiedEmailIfRequired]
    schema = AIActionSchema()
    http_method_names = ["post", "options"]

    async def dispatch(self, request, *args, **kwargs):
        if request.method != "POST":
            return await in_database(super().dispatch, request, *args, **kwargs)
        started = await in_database(self.start, request)
        # A duplicate of a request still running: wait for it without holding a thread.
        deadline = time.monotonic() + settings.AI_TIMEOUT + 10
        while started is None:
            if time.monotonic() >= deadline:
                started = await in_database(self.answer_error, idempotency.StillInProgress())
                break
            await asyncio.sleep(idempotency.POLL_SECONDS)
            started = await in_database(self.claim_and_hold)
        if not isinstance(started, Started):
            return started  # an answer already: an error, a 402 or a replay
        self.started = started
        return await self.post(self.request)

    def start(self, request) -> HttpResponseBase | Started | None:
        """DRF's dispatch up to the handler (authentication, throttling), then the checks
        of the request and the hold. None: a request with this Idempotency-Key runs."""
        self.args, self.kwargs = (), {}
        self.request = self.initialize_request(request)
        self.headers = self.default_response_headers
        try:
            self.initial(self.request)
            serializer = AIActionRequestSerializer(
                data=self.request.data, context={"action": self.ai_action}
            )
            serializer.is_valid(raise_exception=True)
            self.validated = serializer.validated_data
            article_id = self.validated.get("article_id")
            if article_id is not None:
                get_object_or_404(Article, pk=article_id, user=self.request.user)
        except Exception as error:
            return self.answer_error(error)
        return self.claim_and_hold()

    def claim_and_hold(self) -> HttpResponseBase | Started | None:
        request, record = self.request, None
        try:
            key = request.headers.get(idempotency.HEADER)
            if key is not None:
                record = idempotency.claim(request, key)
                if record is None or isinstance(record, Response):
                    return record if record is None else self.finalize_response(request, record)
            text = self.validated["text"]
            try:
                held = hold(request.user, self.ai_action, text)
            except InsufficientTokens as shortfall:
                if record:
                    record.abandon()
                return self.finalize_response(
                    request,
                    Response(
                        insufficient_tokens_payload(request.user, shortfall),
                        status=status.HTTP_402_PAYMENT_REQUIRED,
                    ),
                )
        except Exception as error:
            if record:
                record.abandon()
            return self.answer_error(error)
        return Started(
            held, text, self.validated.get("article_id"), self.validated["stream"], record
        )

    def answer_error(self, error: Exception) -> HttpResponseBase:
        return self.finalize_response(self.request, self.handle_exception(error))

    @extend_schema(
        request=AIActionRequestSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            (200, "application/json"): AIActionAnswerSerializer,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description='With "stream": true (text actions only).'
            ),
            **ERRORS,
            402: OpenApiResponse(InsufficientTokensSerializer, description="Not enough tokens."),
            403: OpenApiResponse(
                ErrorSerializer, description="AI_REQUIRES_VERIFIED_EMAIL: address not verified."
            ),
            **IDEMPOTENCY_RESPONSES,
            502: OpenApiResponse(ErrorSerializer, description="The AI provider failed."),
            504: OpenApiResponse(ErrorSerializer, description="The AI provider timed out."),
        },
    )
    async def post(self, request):
        """Run the held action (self.started); the answer, or the stream of it."""
        started: Started = self.started
        record = started.record
        settled = failed = None
        if record is not None:

            def settled(outcome: Outcome) -> None:
                record.complete(status.HTTP_200_OK, outcome.as_json())

            failed = record.abandon
        if started.stream:
            response = StreamingHttpResponse(
                events(lambda on_delta: self._run(started, on_delta, settled, failed)),
                content_type="text/event-stream; charset=utf-8",
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
            return response
        run = self._run(started, None, settled, failed)
        try:
            outcome = await asyncio.shield(run.task)
        except asyncio.CancelledError:  # the client has gone
            run.client_left()
            raise
        except ProviderTimeout as error:
            response = error_response(status.HTTP_504_GATEWAY_TIMEOUT, str(error))
        except ProviderError as error:
            response = error_response(status.HTTP_502_BAD_GATEWAY, str(error))
        else:
            response = Response(outcome.as_json())
        return self.finalize_response(request, response)

    def _run(self, started: Started, on_delta, settled, failed) -> Run:
        return Run(
            started.hold,
            self.ai_action,
            started.text,
            article_id=started.article_id,
            on_delta=on_delta,
            settled=settled,
            failed=failed,
        )


async def events(start: Callable[[OnDelta], Run]):
    """The server-sent events of a streamed action: a `data: {"delta"}` per piece as it
    arrives, then `event: done`, or `event: error` when the action failed.

    The run starts with the first event asked for, in the event loop that sends the
    stream (the test client sends it from another loop than the view's).
    """
    deltas: asyncio.Queue[str | None] = asyncio.Queue()
    run = start(deltas.put_nowait)
    run.task.add_done_callback(lambda task: deltas.put_nowait(None))
    try:
        while (delta := await deltas.get()) is not None:
            yield server_sent_event({"delta": delta})
        try:
            outcome = run.task.result()
        except ProviderError as error:
            yield server_sent_event({"error": str(error)}, event="error")
            return
        except Exception:
            logger.exception("AI action %s failed", run.action.name)
            yield server_sent_event({"error": "The action failed; nothing was charged."}, "error")
            return
        yield server_sent_event(outcome.as_json(), event="done")
    finally:
        if not run.task.done():
            run.client_left()  # the client has gone: the stream was cancelled or closed


def server_sent_event(data: dict, event: str | None = None) -> bytes:
    lines = f"event: {event}\n" if event else ""
    return f"{lines}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
