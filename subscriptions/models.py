from django.conf import settings
from django.db import models, transaction

from tokens.models import LedgerEntry
from tokens.wallet import Wallet

FREE_PLAN = "free"


class Plan(models.Model):
    """A plan of the catalogue. Seeded by a migration; the operator edits it in the admin."""

    slug = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=50)
    tokens = models.IntegerField(help_text="Tokens granted per billing period.")
    articles_limit = models.IntegerField(help_text="Articles per billing period.")
    price_monthly = models.DecimalField(max_digits=10, decimal_places=2)
    price_annual = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    features = models.JSONField(default=list, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "plans"
        ordering = ["sort_order", "tokens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tokens__gte=0, articles_limit__gte=0),
                name="plans_amounts_not_negative",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def price(self, billing_cycle: str):
        return self.price_annual if billing_cycle == BillingCycle.ANNUAL else self.price_monthly


class BillingCycle(models.TextChoices):
    MONTHLY = "monthly"
    ANNUAL = "annual"


class UserSubscription(models.Model):
    class PlanType(models.TextChoices):
        FREE = "free", "Free"
        STARTER = "starter", "Starter"
        GROW = "grow", "Grow"
        PROFESSIONAL = "professional", "Professional"
        BUSINESS = "business", "Business"
        ENTERPRISE = "enterprise", "Enterprise"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscription"
    )
    plan_type = models.CharField(max_length=20, choices=PlanType.choices, default=PlanType.FREE)
    # The allowance of the current plan period. Changes only by a plan change (SPEC I3).
    tokens_limit = models.IntegerField()
    articles_limit = models.IntegerField()
    features = models.JSONField(default=list, blank=True)
    billing_cycle = models.CharField(
        max_length=7, choices=BillingCycle.choices, default=BillingCycle.MONTHLY
    )
    is_active = models.BooleanField(default=True)
    auto_renew = models.BooleanField(default=False)
    payment_method = models.CharField(max_length=20, blank=True, default="")
    payment_id = models.CharField(max_length=100, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_subscriptions"
        # Signed INT + CHECK, not UNSIGNED: the handbook's `tokens_limit - tokens_remaining`
        # must be allowed to go negative (a bonus) without MySQL's out-of-range error.
        constraints = [
            models.CheckConstraint(
                condition=models.Q(billing_cycle__in=["monthly", "annual"]),
                name="user_subscriptions_billing_cycle_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(tokens_limit__gte=0, articles_limit__gte=0),
                name="user_subscriptions_limits_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.plan_type}"

    @classmethod
    def start_free(cls, user) -> "UserSubscription":
        """Registration (rule 1): the free plan and its tokens, in the caller's transaction."""
        plan = Plan.objects.get(slug=FREE_PLAN)
        subscription = cls.objects.create(
            user=user,
            plan_type=plan.slug,
            tokens_limit=plan.tokens,
            articles_limit=plan.articles_limit,
            features=plan.features,
        )
        Wallet(user).credit(
            plan.tokens,
            kind=LedgerEntry.Kind.GRANT,
            reference=f"plan:{plan.slug}",
            idempotency_key="registration",
            note="free tokens on registration",
        )
        return subscription

    def change_plan(
        self,
        plan: Plan,
        *,
        reference: str,
        idempotency_key: str | None = None,
        actor=None,
        **period,
    ) -> bool:
        """Move to `plan` by SPEC §2 rule 3; returns False if `idempotency_key` was applied.

        "add" (default): new = remaining + plan.tokens, and both the wallet and the
        allowance become `new`. "reset": both become plan.tokens and the old balance is
        forfeited in the ledger. `period` sets billing fields (billing_cycle, expires_at,
        payment_method, payment_id, auto_renew).
        """
        with transaction.atomic():
            wallet = Wallet(self.user_id)
            balance = wallet.lock()
            if idempotency_key and wallet.has_entry(idempotency_key):
                return False
            note = f"plan {self.plan_type} → {plan.slug}"
            if settings.TOKENS_ON_PLAN_CHANGE == "reset":
                wallet.forfeit(reference=reference, note=f"{note} (reset policy)", actor=actor)
                balance = 0
            if plan.tokens:
                entry = wallet.credit(
                    plan.tokens,
                    kind=LedgerEntry.Kind.GRANT,
                    reference=reference,
                    idempotency_key=idempotency_key,
                    actor=actor,
                    note=note,
                )
                balance = entry.balance_after

            locked = type(self).objects.select_for_update().get(pk=self.pk)
            locked.plan_type = plan.slug
            locked.tokens_limit = balance
            locked.articles_limit = plan.articles_limit
            locked.features = plan.features
            locked.is_active = True
            for field, value in period.items():
                setattr(locked, field, value)
            fields = ["plan_type", "tokens_limit", "articles_limit", "features", "is_active"]
            locked.save(update_fields=[*fields, *period, "updated_at"])
            self.refresh_from_db()
            return True
