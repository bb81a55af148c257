import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payments.signals import payment_confirmed, payment_refunded, payment_rejected
from subscriptions.models import (
    BillingCycle,
    Plan,
    UserSubscription,
    parse_plan_state,
    period_paid_by,
    plan_state_after_refund,
    serialize_plan_state,
)
from tokens import references
from tokens.models import LedgerEntry
from tokens.wallet import Wallet
from volx.db import retry_transaction

# No 0/O/1/I: the code is typed by hand into a bank transfer memo.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_reference_code() -> str:
    return "VOLX-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


class PaymentAlreadyDecided(Exception):
    """The payment is no longer pending: a repeated or concurrent decision changes nothing."""

    def __init__(self, payment: "Payment"):
        self.payment = payment
        super().__init__(f"payment {payment.pk} is already {payment.status}")


class NotApprovedByHand(Exception):
    """Only a bank transfer is approved by a person; the providers' payments are confirmed
    by their verified notifications alone (docs/rules.md, Approval by hand)."""

    def __init__(self, payment: "Payment"):
        self.payment = payment
        super().__init__(
            f"{payment.get_method_display()} payments are confirmed by the provider's "
            "verified notification, not by hand."
        )


class PlanNotGranted(Exception):
    """A confirmed payment for a plan with tokens wrote no grant: the receiver of
    `payment_confirmed` that applies the plan did not run. Raised inside the confirmation,
    so it rolls back and the payment stays pending instead of approved for nothing."""

    def __init__(self, payment: "Payment"):
        self.payment = payment
        super().__init__(
            f"payment {payment.pk} for {payment.to_plan} was confirmed but granted no tokens: "
            "is subscriptions.apply_paid_plan connected to payment_confirmed?"
        )


class PaymentPending(Exception):
    """The user already has a payment for this plan that can still be paid. A second one
    could be paid as well, twice for one plan, so it is refused (HTTP 409)."""

    def __init__(self, payment: "Payment"):
        self.payment = payment
        until = payment.payable_until
        wait = (
            f"until its checkout expires at {until:%Y-%m-%d %H:%M} UTC"
            if until
            else "until an administrator approves or rejects it"
        )
        super().__init__(
            f"A payment for the {payment.to_plan} plan is already pending: "
            f"{payment.reference_code} ({payment.get_method_display()}, "
            f"{payment.get_billing_cycle_display()}). Pay it, or wait {wait}, before "
            "starting another."
        )


class PaymentQuerySet(models.QuerySet):
    def still_payable(self, *, now: datetime | None = None) -> "PaymentQuerySet":
        """Pending payments the buyer can still pay: a bank transfer until it is decided,
        a provider's checkout until the provider expires it (CHECKOUT_LIFETIME)."""
        now = now or timezone.now()
        payable = models.Q(method=Payment.Method.BANK_TRANSFER)
        for method, lifetime in Payment.CHECKOUT_LIFETIME.items():
            payable |= models.Q(method=method, created_at__gt=now - lifetime)
        return self.filter(payable, status=Payment.Status.PENDING)


class Payment(models.Model):
    # The labels are what the pages and the admin show, in the reader's language.
    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        STRIPE = "stripe", _("Card (Stripe)")
        PAYPAL = "paypal", _("PayPal")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        REFUNDED = "refunded", _("Refunded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    # How long a buyer can pay a checkout the provider opened: Stripe expires a Checkout
    # Session after 24 hours, PayPal a payment nobody approved after 3 hours.
    CHECKOUT_LIFETIME = {Method.STRIPE: timedelta(hours=24), Method.PAYPAL: timedelta(hours=3)}

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payments"
    )
    from_plan = models.CharField(max_length=20)
    to_plan = models.CharField(max_length=20)
    billing_cycle = models.CharField(max_length=7, choices=BillingCycle.choices)
    # From the plan's price when the payment was created; what the provider must match.
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=20, choices=Method.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reference_code = models.CharField(max_length=20, unique=True, default=new_reference_code)
    # Provider references: Stripe Checkout Session id / PayPal payment id; the money
    # movement (Stripe PaymentIntent, PayPal sale); Stripe subscription for renewals.
    provider_reference = models.CharField(max_length=255, blank=True, default="", db_index=True)
    provider_transaction_id = models.CharField(
        max_length=255, blank=True, default="", db_index=True
    )
    provider_subscription_id = models.CharField(
        max_length=255, blank=True, default="", db_index=True
    )
    checkout_url = models.URLField(max_length=2000, blank=True, default="")
    needs_review = models.BooleanField(
        default=False, help_text="The provider's amount or currency did not match: no grant."
    )
    reason = models.CharField(max_length=255, blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The admin who approved or rejected it (empty when a provider confirmed it).",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Filled at confirmation, used by a refund: the tokens granted and the subscription
    # as it was before, so the refund can put both back (docs/rules.md, Refund).
    granted_tokens = models.IntegerField(default=0)
    previous_subscription = models.JSONField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # Set at confirmation: the billing cycle it paid for, and its receipt's number, the
    # year's next (ReceiptCounter), shown as receipt_number.
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    receipt_year = models.PositiveSmallIntegerField(null=True, blank=True)
    receipt_sequence = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        db_table = "payments"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="payments_user_created_idx"),
            models.Index(fields=["status", "method", "created_at"], name="payments_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["receipt_year", "receipt_sequence"], name="payments_receipt_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reference_code} {self.to_plan} {self.amount} {self.currency} ({self.status})"

    @classmethod
    @retry_transaction
    def start(cls, user, plan: Plan, *, billing_cycle: str, method: str) -> "Payment":
        """A pending payment for `plan` at the plan's current price. Grants nothing.

        Raises PaymentPending while another payment of the user for the same plan can
        still be paid (whatever its cycle or method): one pending purchase per plan.
        """
        Wallet(user).lock()  # two purchases by one user check and create one at a time
        if pending := cls.objects.filter(user=user, to_plan=plan.slug).still_payable().first():
            raise PaymentPending(pending)
        return cls.objects.create(
            user=user,
            from_plan=UserSubscription.of_user(user).plan_type,
            to_plan=plan.slug,
            billing_cycle=billing_cycle,
            amount=plan.price(billing_cycle),
            currency=plan.currency,
            method=method,
        )

    @property
    def payable_until(self) -> datetime | None:
        """When the provider's checkout expires; None for a bank transfer (no end)."""
        lifetime = self.CHECKOUT_LIFETIME.get(self.method)
        return self.created_at + lifetime if lifetime else None

    @property
    def plan(self) -> Plan:
        return Plan.objects.get(slug=self.to_plan)

    @property
    def ledger_key(self) -> str:
        return references.payment(self.pk)

    @property
    def receipt_number(self) -> str:
        """ "2026-000042": the year's 42nd confirmed payment; "" before the confirmation."""
        if self.receipt_sequence is None:
            return ""
        return f"{self.receipt_year}-{self.receipt_sequence:06d}"

    @retry_transaction
    def ensure_receipt_number(self) -> str:
        """The receipt number of a confirmed payment, given now to one confirmed before
        receipts were numbered (the next of its confirmation's year)."""
        if self.receipt_sequence is None and self.decided_at is not None:
            Wallet(self.user_id).lock()  # lock order: the user row, the payment, the counter
            payment = Payment.objects.select_for_update().get(pk=self.pk)
            if payment.receipt_sequence is None:
                payment._number_receipt()
                payment.save(update_fields=["receipt_year", "receipt_sequence"])
            self.refresh_from_db()
        return self.receipt_number

    def _number_receipt(self) -> None:
        self.receipt_year = self.decided_at.year
        self.receipt_sequence = ReceiptCounter.next_number(self.receipt_year)

    @retry_transaction
    def confirm(self, *, by=None, transaction_id: str = "") -> None:
        """Verified money: pending → approved, the plan change and its grant, exactly once.

        Every confirmation path (admin approval, Stripe webhook, PayPal execution or
        webhook) ends here. Raises PaymentAlreadyDecided if the payment is not pending.
        """
        Wallet(self.user_id).lock()  # lock order: the user row first
        payment = self._locked_pending()
        # Read under the lock, not from `self.user`: a cached subscription may be older
        # than the lock, or left changed by an attempt that was rolled back and retried.
        subscription = UserSubscription.objects.get(user_id=self.user_id)
        payment.previous_subscription = subscription.snapshot()
        payment.status = self.Status.APPROVED
        payment.decided_by = by
        payment.decided_at = timezone.now()
        if transaction_id:
            payment.provider_transaction_id = transaction_id
        # The subscription app applies the plan change (docs/rules.md, Paid plan change) and the
        # billing period, in this transaction.
        payment_confirmed.send(sender=Payment, payment=payment)
        grant = LedgerEntry.objects.filter(
            user_id=self.user_id, idempotency_key=payment.ledger_key
        ).first()
        if grant is None and payment.plan.tokens > 0:
            raise PlanNotGranted(payment)
        payment.granted_tokens = grant.delta if grant else 0
        payment.period_start, payment.period_end = period_paid_by(payment) or (None, None)
        payment._number_receipt()  # last: the counter row is locked last, after the plan's
        payment.save()
        self.refresh_from_db()

    def approve(self, *, by) -> None:
        """An admin confirms that a bank transfer arrived: `confirm()`, recording who.

        Raises NotApprovedByHand for any other method, PaymentAlreadyDecided if decided.
        """
        if self.method != self.Method.BANK_TRANSFER:
            raise NotApprovedByHand(self)
        self.confirm(by=by)

    @retry_transaction
    def reject(self, *, by=None, reason: str = "", status: str = Status.REJECTED) -> None:
        """Pending → rejected (or failed / cancelled); nothing is granted."""
        payment = self._locked_pending()
        payment.status = status
        payment.decided_by = by
        payment.decided_at = timezone.now()
        payment.reason = reason[:255]
        payment.save(update_fields=["status", "decided_by", "decided_at", "reason", "updated_at"])
        payment_rejected.send(sender=Payment, payment=payment)
        self.refresh_from_db()

    @retry_transaction
    def refund(self, *, reason: str = "") -> bool:
        """Reverse the grant (never below 0) and take the payment out of the plan: its
        allowance and its period, or the plan it replaced put back, by one rule for every
        method and every payment, the latest or one a later payment built on
        (`plan_state_after_refund`; docs/rules.md, Refund). Idempotent.

        A refund that arrives before the confirmation (providers do not promise an order)
        marks the pending payment refunded, so the later confirmation grants nothing and
        both orders end in the same state. Returns False if already refunded.
        """
        Wallet(self.user_id).lock()
        payment = Payment.objects.select_for_update().get(pk=self.pk)
        if payment.status == self.Status.REFUNDED:
            return False
        was_approved = payment.status == self.Status.APPROVED
        payment.status = self.Status.REFUNDED
        payment.refunded_at = timezone.now()
        payment.reason = reason[:255]
        payment.save(update_fields=["status", "refunded_at", "reason", "updated_at"])
        if was_approved:
            taken = 0
            if payment.granted_tokens > 0:
                reversal = Wallet(self.user_id).debit_up_to(
                    payment.granted_tokens,
                    kind=LedgerEntry.Kind.REFUND,
                    reference=payment.ledger_key,
                    idempotency_key=references.refund(payment.pk),
                    note=f"refund of {payment.reference_code}",
                )
                taken = -reversal.delta
            # The plan without this payment, by one rule (plan_state_after_refund): the
            # subscription now, in the subscriptions app, and the plans that the payments
            # confirmed after it would put back if they were refunded in their turn.
            payment_refunded.send(sender=Payment, payment=payment, tokens_taken=taken)
            payment._refund_later_snapshots(tokens_taken=taken)
        self.refresh_from_db()
        return True

    def _refund_later_snapshots(self, *, tokens_taken: int) -> None:
        """The payments confirmed after this refunded one recorded plans that included it;
        take it out of them too. Called holding the user's row lock."""
        if self.decided_at is None:
            return  # a hand-made approved row: no time to tell later payments by
        later = (
            Payment.objects.select_for_update()
            .filter(
                user_id=self.user_id, status=self.Status.APPROVED, decided_at__gt=self.decided_at
            )
            .exclude(previous_subscription=None)
            .order_by("pk")
        )
        for payment in later:
            state = parse_plan_state(payment.previous_subscription)
            state = plan_state_after_refund(state, self, tokens_taken=tokens_taken)
            payment.previous_subscription = serialize_plan_state(state)
            payment.save(update_fields=["previous_subscription", "updated_at"])

    def flag_for_review(self, reason: str) -> None:
        """The provider reported money that is not this payment's (`money_mismatch`): the
        status stays as it is, nothing is granted or taken back, and a person looks at it
        (the admin's "needs review" filter)."""
        Payment.objects.filter(pk=self.pk).update(
            needs_review=True, reason=reason[:255], updated_at=timezone.now()
        )
        self.refresh_from_db()

    def _locked_pending(self) -> "Payment":
        payment = Payment.objects.select_for_update().get(pk=self.pk)
        if payment.status != self.Status.PENDING:
            raise PaymentAlreadyDecided(payment)
        return payment


class ReceiptCounter(models.Model):
    """The last receipt number of each year. Taking the next is a conditional UPDATE that
    locks the year's row until the confirmation commits, so numbers are sequential and a
    confirmation rolled back leaves no gap."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "receipt_counters"

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"

    @classmethod
    def next_number(cls, year: int) -> int:
        if not cls.objects.filter(year=year).update(last=models.F("last") + 1):
            try:
                with transaction.atomic():  # the year's first receipt
                    cls.objects.create(year=year, last=1)
                    return 1
            except IntegrityError:  # another confirmation made the row first
                cls.objects.filter(year=year).update(last=models.F("last") + 1)
        return cls.objects.values_list("last", flat=True).get(year=year)


class WebhookEvent(models.Model):
    """Every provider event, stored under its unique id before it is processed.

    A duplicate delivery finds the row and is ignored; a failure is recorded here and the
    event can be processed again.
    """

    class Provider(models.TextChoices):
        STRIPE = "stripe"
        PAYPAL = "paypal"

    provider = models.CharField(max_length=10, choices=Provider.choices)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "webhook_events"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="webhook_events_unique_event"
            )
        ]
        indexes = [models.Index(fields=["received_at"], name="webhook_events_received_idx")]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"
