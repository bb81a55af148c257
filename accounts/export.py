"""The data export of the account page and GET /api/auth/me/export: what Volx holds
about one user, as JSON."""

from django.utils import timezone

from accounts.models import User

PROFILE_FIELDS = [
    "id",
    "email",
    "pending_email",
    "username",
    "full_name",
    "avatar_url",
    "bio",
    "is_verified",
    "role",
    "language",
    "time_zone",
    "tokens_remaining",
    "created_at",
    "last_login",
]
PAYMENT_FIELDS = [
    "id",
    "status",
    "method",
    "from_plan",
    "to_plan",
    "billing_cycle",
    "amount",
    "currency",
    "reference_code",
    "reason",
    "granted_tokens",
    "created_at",
    "decided_at",
    "refunded_at",
]
LEDGER_FIELDS = ["id", "delta", "balance_after", "kind", "reference", "note", "created_at"]
USAGE_FIELDS = ["id", "action", "tokens_used", "article_id", "created_at"]
SUBSCRIPTION_FIELDS = [
    "plan_type",
    "tokens_limit",
    "articles_limit",
    "billing_cycle",
    "is_active",
    "auto_renew",
    "payment_method",
    "plan_started_at",
    "expires_at",
]


def export(user: User) -> dict:
    """The user's profile, subscription, payments, token ledger and usage history. Values
    are JSON-ready through DRF's encoder (dates as ISO 8601, amounts as strings)."""
    # The apps above accounts, imported here as User.adjust_tokens does.
    from payments.models import Payment
    from subscriptions.models import UserSubscription
    from tokens.models import LedgerEntry, TokenUsage

    return {
        "exported_at": timezone.now(),
        "profile": User.objects.filter(pk=user.pk).values(*PROFILE_FIELDS).get(),
        "subscription": UserSubscription.objects.filter(user=user)
        .values(*SUBSCRIPTION_FIELDS)
        .first(),
        "payments": list(
            Payment.objects.filter(user=user).order_by("created_at", "pk").values(*PAYMENT_FIELDS)
        ),
        "ledger": list(LedgerEntry.objects.filter(user=user).order_by("pk").values(*LEDGER_FIELDS)),
        "usage": list(TokenUsage.objects.filter(user=user).order_by("pk").values(*USAGE_FIELDS)),
    }
