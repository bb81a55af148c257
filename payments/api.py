from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import MeSerializer, me_payload
from payments.gateways import GatewayError
from payments.methods import bank_details, missing_settings
from payments.models import NotApprovedByHand, Payment, PaymentAlreadyDecided, PaymentPending
from payments.services import (
    AutoRenewUnavailable,
    set_auto_renew,
    start_purchase,
    stripe_subscription_of,
)
from subscriptions.models import BillingCycle, Plan, UserSubscription
from volx.api import ErrorSerializer, IsAdmin
from volx.idempotency import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENCY_RESPONSES, idempotent


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = [
            "id", "status", "method", "from_plan", "to_plan", "billing_cycle", "amount",
            "currency", "reference_code", "checkout_url", "needs_review", "created_at",
        ]  # fmt: skip


class UpgradeSerializer(serializers.Serializer):
    plan = serializers.SlugRelatedField(slug_field="slug", queryset=Plan.objects.buyable())
    billing_cycle = serializers.ChoiceField(choices=BillingCycle.choices)
    payment_method = serializers.ChoiceField(choices=Payment.Method.choices)


class EndsRunningPlanSerializer(serializers.Serializer):
    plan_type = serializers.CharField()
    expires_at = serializers.DateTimeField()
    unused_days = serializers.IntegerField(help_text="Whole days left of the running plan.")


class UpgradeAnswerSerializer(serializers.Serializer):
    payment = PaymentSerializer()
    checkout_url = serializers.CharField(allow_null=True)
    bank_transfer = serializers.DictField(required=False)
    ends_running_plan = EndsRunningPlanSerializer(
        allow_null=True,
        help_text=(
            "The paid plan the user is on, if confirming this payment ends it early: the new "
            "plan's period starts on confirmation and the unused time is not carried over."
        ),
    )


def ends_running_plan(user, plan: Plan) -> dict | None:
    subscription = UserSubscription.objects.get(user=user)
    unused = subscription.time_ended_by(plan)
    if unused is None:
        return None
    return EndsRunningPlanSerializer(
        {
            "plan_type": subscription.plan_type,
            "expires_at": subscription.expires_at,
            "unused_days": unused.days,
        }
    ).data


class PendingPaymentSerializer(ErrorSerializer):
    pending_payment = PaymentSerializer(help_text="The payment for this plan still to pay.")
    checkout_url = serializers.CharField(allow_null=True)
    bank_transfer = serializers.DictField(required=False)


def how_to_pay(payment: Payment) -> dict:
    """Where the user pays `payment`: the provider's page, or the bank transfer details."""
    answer = {"checkout_url": payment.checkout_url or None}
    if payment.method == Payment.Method.BANK_TRANSFER:
        answer["bank_transfer"] = {**bank_details(), "reference_code": payment.reference_code}
    return answer


class UpgradePlanView(APIView):
    """Start a plan purchase: a pending payment. It never changes a plan or a balance;
    only verified money does (docs/rules.md, Only verified money grants tokens)."""

    @extend_schema(
        request=UpgradeSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: UpgradeAnswerSerializer,
            400: OpenApiResponse(description="Unknown plan, cycle or method"),
            409: OpenApiResponse(
                PendingPaymentSerializer,
                description="A payment for this plan is pending and can still be paid.",
            ),
            502: ErrorSerializer,
            503: ErrorSerializer,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    @idempotent
    def post(self, request):
        serializer = UpgradeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = serializer.validated_data["payment_method"]
        if missing := missing_settings(method):
            return Response(
                {"error": f"{method} is not configured: set {', '.join(missing)}.",
                 "missing_settings": missing},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )  # fmt: skip
        try:
            payment, checkout_url = start_purchase(
                request.user,
                serializer.validated_data["plan"],
                billing_cycle=serializer.validated_data["billing_cycle"],
                method=method,
            )
        except PaymentPending as pending:
            answer = {
                "error": str(pending),
                "pending_payment": PaymentSerializer(pending.payment).data,
                **how_to_pay(pending.payment),
            }
            return Response(answer, status=status.HTTP_409_CONFLICT)
        except GatewayError as error:
            return Response({"error": f"{method}: {error}"}, status=status.HTTP_502_BAD_GATEWAY)
        payment.refresh_from_db()
        answer = {
            "payment": PaymentSerializer(payment).data,
            **how_to_pay(payment),
            "ends_running_plan": ends_running_plan(request.user, payment.plan),
        }
        return Response(answer, status=status.HTTP_201_CREATED)


class PaymentListView(generics.ListAPIView):
    serializer_class = PaymentSerializer

    def get_queryset(self):
        return Payment.objects.filter(user=self.request.user)


class PaymentDetailView(generics.RetrieveAPIView):
    serializer_class = PaymentSerializer

    def get_queryset(self):
        return Payment.objects.filter(user=self.request.user)  # another user's → 404


class ApproveAnswerSerializer(serializers.Serializer):
    payment = PaymentSerializer()
    user = MeSerializer()


def decided(payment: Payment) -> Response:
    return Response(
        {"error": f"Payment is already {payment.status}.", "status": payment.status},
        status=status.HTTP_409_CONFLICT,
    )


class ApprovePaymentView(APIView):
    """An admin confirms that a bank transfer arrived. Exactly once: 409 if decided."""

    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses={200: ApproveAnswerSerializer, 409: ErrorSerializer})
    def post(self, request, pk: int):
        payment = get_object_or_404(Payment, pk=pk)
        try:
            payment.approve(by=request.user)
        except NotApprovedByHand as error:
            return Response({"error": str(error)}, status=status.HTTP_409_CONFLICT)
        except PaymentAlreadyDecided as error:
            return decided(error.payment)
        return Response(
            {"payment": PaymentSerializer(payment).data, "user": me_payload(payment.user)}
        )


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class RejectPaymentView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=RejectSerializer,
        responses={200: inline_serializer("RejectAnswer", {"payment": PaymentSerializer()}),
                   409: ErrorSerializer},
    )  # fmt: skip
    def post(self, request, pk: int):
        payment = get_object_or_404(Payment, pk=pk)
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            payment.reject(by=request.user, reason=serializer.validated_data["reason"])
        except PaymentAlreadyDecided as error:
            return decided(error.payment)
        return Response({"payment": PaymentSerializer(payment).data})


# --- the subscription ------------------------------------------------------------------
# Here rather than in subscriptions: turning auto-renew off reaches the Stripe
# subscription, which the payments know (payments.services.set_auto_renew).


class SubscriptionSerializer(serializers.Serializer):
    plan_type = serializers.CharField()
    plan_name = serializers.CharField()
    tokens_limit = serializers.IntegerField(help_text="The allowance of the plan period.")
    articles_limit = serializers.IntegerField()
    billing_cycle = serializers.CharField()
    period_start = serializers.DateTimeField(help_text="When the current plan period began.")
    period_end = serializers.DateTimeField(
        allow_null=True, help_text="When the paid plan ends; null on the free plan."
    )
    auto_renew = serializers.BooleanField()
    can_auto_renew = serializers.BooleanField(
        help_text="A Stripe subscription bills the plan, so auto-renew can be turned on."
    )
    payment_method = serializers.CharField()


def subscription_payload(subscription: UserSubscription) -> dict:
    plan = Plan.objects.filter(slug=subscription.plan_type).first()
    return SubscriptionSerializer(
        {
            "plan_type": subscription.plan_type,
            "plan_name": plan.name if plan else subscription.plan_type,
            "tokens_limit": subscription.tokens_limit,
            "articles_limit": subscription.articles_limit,
            "billing_cycle": subscription.billing_cycle,
            "period_start": subscription.period_start(),
            "period_end": subscription.expires_at,
            "auto_renew": subscription.auto_renew,
            "can_auto_renew": bool(stripe_subscription_of(subscription)),
            "payment_method": subscription.payment_method,
        }
    ).data


class AutoRenewSerializer(serializers.Serializer):
    auto_renew = serializers.BooleanField()


class SubscriptionView(APIView):
    """GET /api/subscription: the user's plan and period. PATCH changes `auto_renew` only."""

    http_method_names = ["get", "patch", "options"]

    @extend_schema(responses={200: SubscriptionSerializer})
    def get(self, request):
        return Response(subscription_payload(UserSubscription.of_user(request.user)))

    @extend_schema(
        request=AutoRenewSerializer,
        responses={200: SubscriptionSerializer, 400: ErrorSerializer, 502: ErrorSerializer},
    )
    def patch(self, request):
        data = request.data
        if not hasattr(data, "keys"):
            return Response({"error": 'Send an object: {"auto_renew": true|false}.'}, status=400)
        if others := sorted(set(data.keys()) - {"auto_renew"}):
            return Response(
                {"error": f"Only auto_renew can be changed, not {', '.join(others)[:200]}."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        serializer = AutoRenewSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        try:
            subscription = set_auto_renew(request.user, serializer.validated_data["auto_renew"])
        except AutoRenewUnavailable as error:
            return Response({"error": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        except GatewayError as error:
            return Response({"error": f"stripe: {error}"}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(subscription_payload(subscription))
