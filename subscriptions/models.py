from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from accounts import emails
from accounts.models import User
from tokens import references
from tokens.models import LedgerEntry
from tokens.wallet import Wallet
from volx.db import retry_transaction

FREE_PLAN = "free"


class PlanQuerySet(models.QuerySet):
    def buyable(self) -> "PlanQuerySet":
        """The plans a user can pay for: every plan with a price, never the free one."""
        return self.exclude(slug=FREE_PLAN).filter(price_monthly__gt=0)


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

    objects = PlanQuerySet.as_manager()

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

    @property
    def is_buyable(self) -> bool:
        """The test of `Plan.objects.buyable()`, for a plan already loaded."""
        return self.slug != FREE_PLAN and self.price_monthly > 0


class BillingCycle(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    ANNUAL = "annual", _("Annual")


def cycle_length(billing_cycle: str) -> timedelta:
    """One billing period: 30 days monthly, 365 days annual (docs/rules.md, Billing cycle)."""
    return timedelta(days=365 if billing_cycle == BillingCycle.ANNUAL else 30)


# The low-balance e-mail goes out when spending takes the balance below this share of the
# plan allowance (tokens_limit).
LOW_BALANCE_PERCENT = 10


def crosses_low_balance_line(
    tokens_limit: int | None, balance_before: int, balance_after: int
) -> bool:
    """Whether spending from `balance_before` to `balance_after` went below
    LOW_BALANCE_PERCENT of `tokens_limit`: from at or above the line to under it.

    No allowance (None, or 0 on a broken row) has no share of it. Compared as balance × 100
    against limit × percent, so no rounding decides it.
    """
    if not tokens_limit or tokens_limit <= 0:
        return False
    line = tokens_limit * LOW_BALANCE_PERCENT
    return balance_before * 100 >= line > balance_after * 100


@dataclass(frozen=True)
class TokensOnPlanChange:
    """What a paid plan change does to the wallet and the allowance (docs/rules.md, Paid plan
    change).

    Computed from the balance before the change: `UserSubscription.change_plan()` applies
    it and the upgrade page shows it before the user pays, so the two cannot disagree.
    """

    forfeit: int  # the "reset" policy takes the old balance first (a ledger entry); else 0
    grant: int  # the plan's tokens, added to what is left
    after: int  # the balance afterwards, which is also the new tokens_limit

    @classmethod
    def of(cls, balance: int, plan: "Plan") -> "TokensOnPlanChange":
        forfeit = balance if settings.TOKENS_ON_PLAN_CHANGE == "reset" else 0
        return cls(forfeit=forfeit, grant=plan.tokens, after=balance - forfeit + plan.tokens)


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
    # The allowance of the current plan period. Changes only by a plan change
    # (docs/rules.md, The allowance changes only with the plan).
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
    # When the current plan began: registration, a confirmed payment for another plan,
    # the drop to free at expiry. Its periods start from here (period_start()). The
    # database default serves INSERTs written against the old schema, which lack it.
    plan_started_at = models.DateTimeField(default=timezone.now, db_default=Now())
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    low_balance_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the low-balance e-mail was last sent; once per plan period.",
    )

    class Meta:
        db_table = "user_subscriptions"
        # For the admin's filters on a million subscriptions (plan, allowance, expiry).
        indexes = [
            models.Index(fields=["plan_type"], name="user_subs_plan_type_idx"),
            models.Index(fields=["tokens_limit"], name="user_subs_tokens_limit_idx"),
            models.Index(fields=["expires_at"], name="user_subs_expires_at_idx"),
        ]
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
        """The free plan and its tokens, in the caller's transaction (docs/rules.md,
        Registration)."""
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
            reference=references.plan(plan.slug),
            idempotency_key=references.REGISTRATION,
            note="free tokens on registration",
        )
        return subscription

    @classmethod
    def of_user(cls, user) -> "UserSubscription":
        """The user's subscription. A user the old system left without one is on the free
        plan: its row is created now, in the caller's transaction, without the
        registration's tokens (the wallet is the user's as it stands)."""
        try:
            return cls.objects.get(user=user)
        except cls.DoesNotExist:
            plan = Plan.objects.get(slug=FREE_PLAN)
            return cls.objects.create(
                user=user,
                plan_type=plan.slug,
                tokens_limit=plan.tokens,
                articles_limit=plan.articles_limit,
                features=plan.features,
            )

    @retry_transaction
    def change_plan(
        self,
        plan: Plan,
        *,
        reference: str,
        idempotency_key: str | None = None,
        actor=None,
        **period,
    ) -> bool:
        """Move to `plan` (docs/rules.md, Paid plan change); returns False if
        `idempotency_key` was applied.

        "add" (default): new = remaining + plan.tokens, and both the wallet and the
        allowance become `new`. "reset": both become plan.tokens and the old balance is
        forfeited in the ledger. `period` sets billing fields (billing_cycle, expires_at,
        payment_method, payment_id, auto_renew).
        """
        wallet = Wallet(self.user_id)
        balance = wallet.lock()
        if idempotency_key and wallet.has_entry(idempotency_key):
            return False
        tokens = TokensOnPlanChange.of(balance, plan)
        note = f"plan {self.plan_type} → {plan.slug}"
        if tokens.forfeit:
            wallet.forfeit(reference=reference, note=f"{note} (reset policy)", actor=actor)
        if tokens.grant:
            wallet.credit(
                tokens.grant,
                kind=LedgerEntry.Kind.GRANT,
                reference=reference,
                idempotency_key=idempotency_key,
                actor=actor,
                note=note,
            )

        locked = type(self).objects.select_for_update().get(pk=self.pk)
        locked.plan_type = plan.slug
        locked.tokens_limit = tokens.after
        locked.articles_limit = plan.articles_limit
        locked.features = plan.features
        locked.is_active = True
        for field, value in period.items():
            setattr(locked, field, value)
        fields = ["plan_type", "tokens_limit", "articles_limit", "features", "is_active"]
        locked.save(update_fields=[*fields, *period, "updated_at"])
        self.refresh_from_db()
        return True

    def period_start(self, now: datetime | None = None) -> datetime:
        """When the current plan period began: what the plan's articles_limit counts from.

        A plan without an end (free) has one period, since the plan started. A paid plan's
        periods are billing cycles (cycle_length) counted back from `expires_at`: buying
        the running plan again or a renewal adds a cycle at the end and does not start the
        next period early. No period begins before its plan did, so the articles of an
        earlier plan never count against this one. Past `expires_at` (an auto-renewal's
        grace hours) the last cycle goes on.
        """
        if self.expires_at is None:
            return self.plan_started_at
        now = now or timezone.now()
        cycle = cycle_length(self.billing_cycle)
        cycles_left = max(1, -((now - self.expires_at) // cycle))  # ⌈(expires − now) / cycle⌉
        return max(self.plan_started_at, self.expires_at - cycles_left * cycle)

    def time_ended_by(self, plan: Plan, *, now: datetime | None = None) -> timedelta | None:
        """The unused time of the running paid plan that a confirmed payment for `plan`
        would end, or None when it ends nothing.

        Another plan starts a period of its own on confirmation and the rest of the
        running one is not carried over (docs/rules.md, Changing to another paid plan):
        the upgrade page and the upgrade-plan answer say so before the user pays. The
        running plan bought again is extended instead, and the free plan has no paid time
        to lose.
        """
        now = now or timezone.now()
        if self.plan_type == FREE_PLAN or plan.slug == self.plan_type:
            return None
        if self.expires_at is None or self.expires_at <= now:
            return None
        return self.expires_at - now

    # --- the low-balance e-mail ---------------------------------------------------

    def notice_low_balance(self, *, balance_before: int, balance_after: int) -> bool:
        """Queue the low-balance e-mail if spending just took the balance below
        LOW_BALANCE_PERCENT of the allowance and none was sent for this allowance.

        Once per allowance, not per billing period (`period_start()`): every plan change,
        renewal, expiry and refund sets a new allowance and saves `updated_at`, while
        recording the notice is a queryset update that leaves it alone. So the notice goes
        out once per paid period or renewal and once per stay on the free plan, and a new
        plan allows one again (so does an operator's hand edit of the subscription in the
        admin, which saves it).
        Called by the wallet's `balance_lowered` signal while the user's row is locked, so
        two concurrent debits cannot both send it. The e-mail leaves after the commit: a
        debit that is rolled back sends nothing. Returns True when the e-mail was queued.
        """
        limit = self.tokens_limit
        if not crosses_low_balance_line(limit, balance_before, balance_after):
            return False
        if self.low_balance_notified_at and self.low_balance_notified_at >= self.updated_at:
            return False
        # Never before updated_at, even if this host's clock is behind the one that changed
        # the plan: the comparison above must see this period as notified.
        notified_at = max(timezone.now(), self.updated_at)
        type(self).objects.filter(pk=self.pk).update(low_balance_notified_at=notified_at)
        self.low_balance_notified_at = notified_at
        # Queued for after the commit (accounts.emails); a mail server that fails is
        # logged, it does not fail the paid request.
        send_low_balance_email(self.user, balance_after, limit)
        return True

    # --- paid periods: confirmation, refund, renewal, expiry ------------------

    SNAPSHOT_FIELDS = [
        "plan_type", "tokens_limit", "articles_limit", "features", "billing_cycle",
        "auto_renew", "payment_method", "payment_id", "expires_at", "plan_started_at",
    ]  # fmt: skip
    SNAPSHOT_TIMES = ["expires_at", "plan_started_at"]

    def plan_state(self) -> dict:
        """The plan fields as they are now (what `plan_state_after_refund` works on)."""
        return {field: getattr(self, field) for field in self.SNAPSHOT_FIELDS}

    def snapshot(self) -> dict:
        """The plan fields as they are now, as JSON, for a refund to put back."""
        return serialize_plan_state(self.plan_state())

    def apply_payment(self, payment) -> None:
        """A confirmed payment (docs/rules.md, Paid plan change): its plan, its grant, its
        billing period.

        An unexpired period of the same plan is extended rather than restarted. The period
        is reckoned from the payment's confirmation time (`decided_at`), so that a refund
        can tell which plan periods the payment paid for (`plan_state_after_refund`).
        """
        plan = Plan.objects.get(slug=payment.to_plan)
        now = payment.decided_at or timezone.now()
        same_plan_running = (
            self.plan_type == plan.slug and self.expires_at and self.expires_at > now
        )
        start = self.expires_at if same_plan_running else now
        self.change_plan(
            plan,
            reference=payment.ledger_key,
            idempotency_key=payment.ledger_key,
            actor=payment.decided_by,
            billing_cycle=payment.billing_cycle,
            expires_at=start + cycle_length(payment.billing_cycle),
            plan_started_at=self.plan_started_at if same_plan_running else now,
            payment_method=payment.method,
            payment_id=str(payment.pk),
        )

    def revert_payment(self, payment, *, tokens_taken: int) -> None:
        """`payment` was refunded and the wallet gave back `tokens_taken`: the plan without
        it (docs/rules.md, Refund, by `plan_state_after_refund`)."""
        locked = type(self).objects.select_for_update().get(pk=self.pk)
        before = locked.plan_state()
        after = plan_state_after_refund(before, payment, tokens_taken=tokens_taken)
        changed = [field for field, value in after.items() if before.get(field) != value]
        if not changed:
            return
        for field in changed:
            setattr(locked, field, after[field])
        locked.save(update_fields=[*changed, "updated_at"])
        self.refresh_from_db()

    def renew(self, *, reference: str, idempotency_key: str) -> bool:
        """The plan's tokens again and one more billing period (docs/rules.md, Renewal).

        Returns False when `idempotency_key` (e.g. the provider's invoice id) was applied.
        """
        plan = Plan.objects.get(slug=self.plan_type)
        now = timezone.now()
        start = self.expires_at if self.expires_at and self.expires_at > now else now
        return self.change_plan(
            plan,
            reference=reference,
            idempotency_key=idempotency_key,
            expires_at=start + cycle_length(self.billing_cycle),
        )

    def expire(self, *, now: datetime, policy: str) -> bool:
        """A paid period that ended drops to the free plan (docs/rules.md, Expiry). Call
        it holding the
        user's row lock; re-checks under the subscription's lock, so it applies once.

        policy "keep" leaves the wallet alone; "forfeit" takes it (a ledger entry).
        """
        locked = type(self).objects.select_for_update().get(pk=self.pk)
        if locked.plan_type == FREE_PLAN or not locked.expires_at or locked.expires_at > now:
            return False
        if policy == "forfeit":
            Wallet(self.user_id).forfeit(
                reference=references.expiry(locked.plan_type), note="paid period ended"
            )
        free = Plan.objects.get(slug=FREE_PLAN)
        locked.plan_type = free.slug
        locked.tokens_limit = free.tokens
        locked.articles_limit = free.articles_limit
        locked.features = free.features
        locked.billing_cycle = BillingCycle.MONTHLY
        locked.auto_renew = False
        locked.expires_at = None
        locked.plan_started_at = now  # the free plan's period starts here, with its limit
        locked.save(
            update_fields=[
                "plan_type",
                "tokens_limit",
                "articles_limit",
                "features",
                "billing_cycle",
                "auto_renew",
                "expires_at",
                "plan_started_at",
                "updated_at",
            ]  # fmt: skip
        )
        self.refresh_from_db()
        return True

    @classmethod
    def expire_due(cls, *, now: datetime | None = None) -> int:
        """Expire every paid subscription past its period (docs/rules.md, Expiry); returns how
        many.

        Safe on several hosts at once: a user row another run holds is skipped (SKIP
        LOCKED) and the expiry re-checks under the lock, so each one is handled once.
        An auto-renewing subscription gets AUTO_RENEW_GRACE_HOURS for its renewal to arrive.
        """
        now = now or timezone.now()
        grace = timedelta(hours=settings.AUTO_RENEW_GRACE_HOURS)
        due = (
            cls.objects.exclude(plan_type=FREE_PLAN)
            .filter(expires_at__lte=now)
            .filter(models.Q(auto_renew=False) | models.Q(expires_at__lte=now - grace))
            .values_list("pk", "user_id")
        )
        return sum(cls._expire_one(pk, user_id, now) for pk, user_id in list(due))

    @classmethod
    @retry_transaction
    def _expire_one(cls, pk: int, user_id: int, now: datetime) -> bool:
        """One user's expiry, in its own transaction under the user's row lock."""
        users = User.objects.select_for_update(skip_locked=True).filter(pk=user_id)
        if users.values_list("pk", flat=True).first() is None:
            return False  # another host holds this user: it handles the expiry
        subscription = cls.objects.get(pk=pk)
        return subscription.expire(now=now, policy=settings.EXPIRED_TOKENS_POLICY)

    # --- expiry reminders --------------------------------------------------------

    def expiry_reminder_due(self, *, now: datetime) -> int | None:
        """Which reminder this subscription is due, in days before its end (7 or 1), or None:
        only a paid plan that will not renew by itself, and only the nearest one (a plan
        found with 20 hours left gets the 1-day reminder, not both)."""
        if self.plan_type == FREE_PLAN or self.auto_renew or self.expires_at is None:
            return None
        left = self.expires_at - now
        if left <= timedelta(0):
            return None  # past its end: expire_subscriptions' work, not a reminder's
        return next((days for days in sorted(REMINDER_DAYS) if left <= timedelta(days=days)), None)

    @classmethod
    def send_expiry_reminders(cls, *, now: datetime | None = None) -> int:
        """E-mail each plan that ends within 7 days, and again within 1 day, and does not
        auto-renew (docs/rules.md, Expiry reminders); returns how many were queued.

        Each reminder goes once per plan period (the period's end, `expires_at`): an
        ExpiryReminder row, unique per subscription, end and reminder, is claimed in the
        transaction that queues the e-mail. Safe to run every hour on several hosts: a
        second run, or one racing this one, finds the row and sends nothing.
        """
        now = now or timezone.now()
        due = (
            cls.objects.exclude(plan_type=FREE_PLAN)
            .filter(auto_renew=False, expires_at__gt=now)
            .filter(expires_at__lte=now + timedelta(days=max(REMINDER_DAYS)))
            .values_list("pk", "user_id")
        )
        return sum(cls._remind_one(pk, user_id, now) for pk, user_id in list(due))

    @classmethod
    def _remind_one(cls, pk: int, user_id: int, now: datetime) -> bool:
        try:
            return cls._claim_reminder(pk, user_id, now)
        except IntegrityError:
            return False  # a run on another host claimed it between our check and insert

    @classmethod
    @retry_transaction
    def _claim_reminder(cls, pk: int, user_id: int, now: datetime) -> bool:
        """One reminder, in its own transaction: checked under the user's row lock (what
        every plan change takes first, so the plan, its end and auto-renew are read as they
        are), claimed by its row, and its e-mail queued for the commit of that claim."""
        User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).first()
        subscription = cls.objects.select_related("user").get(pk=pk)
        days = subscription.expiry_reminder_due(now=now)
        if days is None:
            return False
        claim = {"subscription": subscription, "expires_at": subscription.expires_at}
        if ExpiryReminder.objects.filter(**claim, days_before=days).exists():
            return False
        ExpiryReminder.objects.create(**claim, days_before=days, sent_at=now)
        send_expiry_reminder_email(subscription, days)
        return True


# Reminders before a plan that does not renew ends, in days (docs/rules.md, Expiry reminders),
# and their subjects (whole sentences: a lazy string formatted here would be translated in
# the language of the run, not the user's).
REMINDER_SUBJECTS = {
    7: _("Your Volx plan ends in 7 days"),
    1: _("Your Volx plan ends in 1 day"),
}
REMINDER_DAYS = tuple(REMINDER_SUBJECTS)


class ExpiryReminder(models.Model):
    """An expiry reminder sent: the claim that makes it once per plan period, whatever the
    number of runs and hosts (the unique constraint)."""

    subscription = models.ForeignKey(
        UserSubscription, on_delete=models.CASCADE, related_name="expiry_reminders"
    )
    # The end of the period it was sent for: a renewal or a purchase moves the end, and
    # the new period gets its own reminders.
    expires_at = models.DateTimeField()
    days_before = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "subscription_expiry_reminders"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "expires_at", "days_before"],
                name="expiry_reminder_once_per_period",
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.days_before} day(s) before {self.expires_at}"


def serialize_plan_state(state: dict) -> dict:
    """A plan state as JSON (a payment's `previous_subscription`)."""
    data = dict(state)
    for field in UserSubscription.SNAPSHOT_TIMES:
        if field in data:
            data[field] = data[field].isoformat() if data[field] else None
    return data


def parse_plan_state(data: dict) -> dict:
    """A payment's `previous_subscription` as a plan state. Snapshots taken before
    `plan_started_at` existed lack it, and leave the subscription's own alone."""
    state = dict(data)
    for field in UserSubscription.SNAPSHOT_TIMES:
        if field in state:
            state[field] = parse_datetime(state[field] or "") or None
    if state.get("plan_started_at") is None:
        state.pop("plan_started_at", None)
    return state


def plan_state_after_refund(state: dict, payment, *, tokens_taken: int) -> dict:
    """The plan state `state`, reached after `payment` was confirmed, without `payment`:
    the one rule for every refund, whatever the method and whichever payment is refunded
    (docs/rules.md, Refund). The wallet has given back `tokens_taken` (up to the grant,
    never below 0).

    - If `payment` set this state (its plan, with it as the subscription's payment) and
      nothing paid for time after its period: the plan it replaced is put back, with that
      plan's allowance and period (its snapshot).
    - Otherwise a later payment or a renewal built on it. The allowance loses what the
      wallet gave back, so "Used" (allowance − wallet) stays what was spent; the free
      plan's own allowance is not made of paid tokens and stays. While the plan `payment`
      bought still runs in the same period (bought again or renewed since, which extends
      it), the period loses the billing cycle `payment` paid for. A plan started later,
      or another plan, has a period of its own that `payment` did not pay for.

    `Payment.refund()` applies it to the subscription (`revert_payment`) and to the
    snapshots of the payments confirmed after `payment`, which are states reached after it
    too: a later refund of one of those then puts back a plan without `payment` in it.
    """
    if (
        state.get("payment_id") == str(payment.pk)
        and state.get("plan_type") == payment.to_plan
        and payment.previous_subscription
    ):
        replaced = parse_plan_state(payment.previous_subscription)
        paid = period_paid_by(payment, replaced)
        if paid is None or state["expires_at"] is None or state["expires_at"] <= paid[1]:
            return replaced
    state = dict(state)
    if state["plan_type"] != FREE_PLAN:
        state["tokens_limit"] = max(0, state["tokens_limit"] - tokens_taken)
    started = state.get("plan_started_at")
    same_period = state["plan_type"] == payment.to_plan and (
        started is None or payment.decided_at is None or started <= payment.decided_at
    )
    if same_period and state["expires_at"]:
        state["expires_at"] -= cycle_length(payment.billing_cycle)
    return state


def period_paid_by(payment, replaced: dict | None = None) -> tuple[datetime, datetime] | None:
    """The billing cycle `payment` paid for, as `apply_payment` reckons it from the plan it
    replaced (its snapshot): from the end of the same plan running at its confirmation,
    else from the confirmation. None for a payment confirmed without a time or snapshot."""
    if replaced is None and payment.previous_subscription:
        replaced = parse_plan_state(payment.previous_subscription)
    if payment.decided_at is None or replaced is None:
        return None
    running = replaced.get("expires_at")
    extended = (
        replaced.get("plan_type") == payment.to_plan and running and running > payment.decided_at
    )
    start = running if extended else payment.decided_at
    return start, start + cycle_length(payment.billing_cycle)


def send_low_balance_email(user: User, balance: int, limit: int) -> None:
    """The low-balance e-mail (templates/emails/low_balance.*), in the user's language."""
    context = {
        "balance": balance,
        "limit": limit,
        "percent": LOW_BALANCE_PERCENT,
        "plans_url": emails.site_url("/plans/"),
    }
    emails.send(user, "low_balance", _("Your Volx token balance is running low"), context)


def send_expiry_reminder_email(subscription: UserSubscription, days: int) -> None:
    """The plan-expiring e-mail (templates/emails/plan_expiring.*), in the user's language."""
    name = Plan.objects.filter(slug=subscription.plan_type).values_list("name", flat=True).first()
    context = {
        "plan": _(name) if name else subscription.plan_type,  # lazy: the user's language
        "expires_at": subscription.expires_at,
        "days": days,
        "forfeit": settings.EXPIRED_TOKENS_POLICY == "forfeit",
        "plans_url": emails.site_url("/plans/"),
        "subscription_url": emails.site_url("/subscription/"),
    }
    emails.send(subscription.user, "plan_expiring", REMINDER_SUBJECTS[days], context)
