from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import MeSerializer, me_payload
from accounts.models import User
from tokens.models import MAX_BALANCE, TokenUsage
from tokens.sync import sync_report
from tokens.wallet import Wallet, balance_summary
from volx.api import IsAdmin
from volx.idempotency import HEADER, IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES, idempotent


class BalanceSerializer(serializers.Serializer):
    tokens_remaining = serializers.IntegerField()
    tokens_limit = serializers.IntegerField()
    tokens_used = serializers.IntegerField(help_text="max(0, tokens_limit − tokens_remaining)")
    plan_type = serializers.CharField()


class BalanceView(APIView):
    @extend_schema(responses=BalanceSerializer)
    def get(self, request):
        summary = balance_summary(request.user)
        subscription = summary["subscription"]
        return Response(
            {
                "tokens_remaining": summary["remaining"],
                "tokens_limit": summary["limit"],
                "tokens_used": summary["used"],
                "plan_type": subscription.plan_type if subscription else None,
            }
        )


class UsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = TokenUsage
        fields = ["id", "action", "tokens_used", "article_id", "created_at"]


class HistoryView(generics.ListAPIView):
    """The user's token usage, newest first."""

    serializer_class = UsageSerializer

    def get_queryset(self):
        return TokenUsage.objects.filter(user=self.request.user).order_by("-created_at", "-id")


class BonusSerializer(serializers.Serializer):
    tokens = serializers.IntegerField(min_value=1, max_value=1_000_000_000)
    reason = serializers.CharField(max_length=255)

    def validate_tokens(self, tokens: int) -> int:
        room = bonus_room([self.context["user"]])
        if tokens > room:
            raise serializers.ValidationError(
                f"At most {room:,}: a balance cannot exceed {MAX_BALANCE:,} tokens."
            )
        return tokens


def bonus_room(users) -> int:
    """The largest bonus that keeps each of `users` within MAX_BALANCE."""
    return MAX_BALANCE - max(Wallet(user).balance() for user in users)


class BonusView(APIView):
    """Admins give a user extra tokens; the allowance is untouched (docs/rules.md, Admin bonus).

    With an Idempotency-Key a retried grant lands once: the first answer is replayed,
    and the key also goes into the ledger, so even after the stored answer is purged the
    same key grants nothing more.
    """

    permission_classes = [IsAdmin]

    @extend_schema(
        request=BonusSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: MeSerializer, **IDEMPOTENCY_RESPONSES},
    )
    @idempotent
    def post(self, request, user_id: int):
        user = get_object_or_404(User, pk=user_id)
        serializer = BonusSerializer(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        key = request.headers.get(HEADER)
        user.adjust_tokens(
            serializer.validated_data["tokens"],
            reason=serializer.validated_data["reason"],
            by=request.user,
            # Keys are the admin's own (as the stored answers are): another admin's
            # same key is another grant.
            key=f"api:{request.user.pk}:{key}" if key else None,
        )
        return Response(me_payload(user))


class TokenSyncView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=dict)
    def get(self, request):
        return Response(sync_report().as_dict())
