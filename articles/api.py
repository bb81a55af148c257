"""/api/articles and /api/ai/* (SPEC §5, §6)."""

from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from articles.actions import TEXT_MAX_CHARS, Action, perform
from articles.models import Article, ArticleLimitReached
from articles.providers import ProviderError, ProviderTimeout
from subscriptions.models import FREE_PLAN, Plan, UserSubscription
from tokens.idempotency import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES, idempotent
from tokens.wallet import InsufficientTokens
from volx.api import ErrorSerializer


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
        fields = ["id", "title", "content", "status", "created_at", "updated_at"]
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
            "Counts against the plan's `articles_limit` for the current plan period (from "
            "`expires_at` minus one billing cycle, or since the subscription began when it "
            "has no end)."
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
    """The 402 body the insufficient-tokens dialog shows (SPEC §5, §8)."""
    subscription = UserSubscription.objects.filter(user=user).first()
    # The free plan cannot be bought, so it is never the suggestion.
    plan = (
        Plan.objects.exclude(slug=FREE_PLAN)
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
        return (
            f"{action.describe_cost()} The tokens are held before the provider runs and "
            "charged only when it answers; a failed action (502, 504) costs nothing."
        )

    def get_operation_id(self):
        return f"ai_{self.view.ai_action.name}"


# Even with ATOMIC_REQUESTS on, the hold must commit before the provider runs, or the
# user's row would stay locked (and their other requests blocked) for the whole call.
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class AIActionView(APIView):
    """POST /api/ai/<action>: validate, hold the cost, run the provider, settle."""

    ai_action: Action | None = None  # set per route: as_view(ai_action=…)
    throttle_scope = "ai"  # per user, all four actions together: THROTTLE_AI
    schema = AIActionSchema()

    @extend_schema(
        request=AIActionRequestSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            200: AIActionAnswerSerializer,
            **ERRORS,
            402: OpenApiResponse(InsufficientTokensSerializer, description="Not enough tokens."),
            **IDEMPOTENCY_RESPONSES,
            502: OpenApiResponse(ErrorSerializer, description="The AI provider failed."),
            504: OpenApiResponse(ErrorSerializer, description="The AI provider timed out."),
        },
    )
    # A duplicate waits for the first request as long as the provider may take.
    @idempotent(wait=lambda: settings.AI_TIMEOUT + 10)
    def post(self, request):
        serializer = AIActionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        article_id = serializer.validated_data.get("article_id")
        if article_id is not None:
            get_object_or_404(Article, pk=article_id, user=request.user)
        try:
            outcome = perform(
                request.user,
                self.ai_action,
                serializer.validated_data["text"],
                article_id=article_id,
            )
        except InsufficientTokens as shortfall:
            return Response(
                insufficient_tokens_payload(request.user, shortfall),
                status=status.HTTP_402_PAYMENT_REQUIRED,
            )
        except ProviderTimeout as error:
            return error_response(status.HTTP_504_GATEWAY_TIMEOUT, str(error))
        except ProviderError as error:
            return error_response(status.HTTP_502_BAD_GATEWAY, str(error))
        return Response(
            {
                "action": outcome.action,
                "result": outcome.result,
                "tokens_used": outcome.tokens_used,
                "tokens_remaining": outcome.tokens_remaining,
            }
        )
