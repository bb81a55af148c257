"""Refunds reverse a grant, renewals grant again, expiry drops to free (docs/rules.md, Refund,
Renewal, Expiry)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from payments.models import Payment, PaymentAlreadyDecided
from payments.tests.factories import PaymentFactory
from subscriptions.models import UserSubscription
from tokens.models import LedgerEntry
from tokens.wallet import Wallet


def state(user) -> tuple[int, int, str]:
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return user.tokens_remaining, user.subscription.tokens_limit, user.subscription.plan_type


def approved(**kwargs) -> Payment:
    payment = PaymentFactory(**kwargs)
    payment.confirm()
    return payment


@pytest.mark.django_db
class TestRefund:
    def test_refund_reverses_the_grant_and_restores_the_plan(self, ledger_sum):
        payment = approved()
        assert state(payment.user) == (2_010_000, 2_010_000, "professional")

        assert payment.refund(reason="customer asked") is True

        assert state(payment.user) == (10_000, 10_000, "free")
        assert payment.status == "refunded"
        sub = payment.user.subscription
        assert (sub.expires_at, sub.payment_id) == (None, "")
        reversal = LedgerEntry.objects.get(user=payment.user, kind="refund")
        assert reversal.delta == -2_000_000
        assert ledger_sum(payment.user) == 10_000

    def test_refund_puts_back_the_period_of_the_plan_it_replaced(self):
        user = UserFactory()
        free_since = timezone.now() - timedelta(days=40)
        UserSubscription.objects.filter(user=user).update(plan_started_at=free_since)
        payment = approved(user=user)
        assert UserSubscription.objects.get(user=user).plan_started_at > free_since

        payment.refund()

        assert UserSubscription.objects.get(user=user).plan_started_at == free_since

    def test_refund_never_goes_below_zero_and_records_the_shortfall(self, ledger_sum):
        payment = approved()
        Wallet(payment.user).debit(2_009_000)

        payment.refund()

        assert state(payment.user) == (0, 10_000, "free")
        reversal = LedgerEntry.objects.get(user=payment.user, kind="refund")
        assert reversal.delta == -1_000
        assert "shortfall 1999000" in reversal.note
        assert ledger_sum(payment.user) == 0

    def test_refund_twice_reverses_once(self):
        payment = approved()
        assert payment.refund() is True
        assert payment.refund() is False
        assert state(payment.user) == (10_000, 10_000, "free")

    def test_refund_before_confirmation_means_the_confirmation_grants_nothing(self):
        payment = PaymentFactory()
        payment.refund()
        with pytest.raises(PaymentAlreadyDecided):
            payment.confirm()
        assert state(payment.user) == (10_000, 10_000, "free")
        assert payment.status == "refunded"

    def test_refunding_an_older_payment_keeps_the_newer_plan(self):
        user = UserFactory()
        older = approved(user=user, plan="starter")
        approved(user=user, plan="business")
        assert state(user) == (4_410_000, 4_410_000, "business")

        older.refund()

        assert state(user) == (4_010_000, 4_410_000, "business")


@pytest.mark.django_db
class TestRenewal:
    def test_renewal_grants_again_and_extends_one_cycle_once_per_key(self):
        payment = approved()
        sub = payment.user.subscription
        expires = sub.expires_at

        assert sub.renew(reference="invoice in_1", idempotency_key="stripe-invoice:in_1")
        assert not sub.renew(reference="invoice in_1", idempotency_key="stripe-invoice:in_1")

        sub.refresh_from_db()
        assert state(payment.user) == (4_010_000, 4_010_000, "professional")
        assert sub.expires_at - expires == timedelta(days=30)


def expire_now() -> str:
    out = StringIO()
    call_command("expire_subscriptions", stdout=out)
    return out.getvalue()


def make_expired(payment: Payment, *, days_ago: int = 1, auto_renew: bool = False) -> None:
    UserSubscription.objects.filter(user=payment.user).update(
        expires_at=timezone.now() - timedelta(days=days_ago), auto_renew=auto_renew
    )


@pytest.mark.django_db
class TestExpiry:
    def test_expired_paid_plan_drops_to_free_and_keeps_the_wallet(self):
        payment = approved()
        make_expired(payment)
        running = approved(plan="grow")  # not expired: untouched

        assert "Expired 1 subscription(s)." in expire_now()

        assert state(payment.user) == (2_010_000, 10_000, "free")
        sub = User.objects.get(pk=payment.user_id).subscription
        assert (sub.articles_limit, sub.expires_at) == (2, None)
        assert state(running.user)[2] == "grow"
        assert "Expired 0 subscription(s)." in expire_now()  # idempotent

    def test_forfeit_policy_takes_the_wallet_in_the_ledger(self, settings, ledger_sum):
        settings.EXPIRED_TOKENS_POLICY = "forfeit"
        payment = approved()
        make_expired(payment)

        expire_now()

        assert state(payment.user) == (0, 10_000, "free")
        assert LedgerEntry.objects.get(user=payment.user, kind="forfeit").delta == -2_010_000
        assert ledger_sum(payment.user) == 0

    def test_auto_renew_waits_for_the_grace_period(self, settings):
        settings.AUTO_RENEW_GRACE_HOURS = 72
        payment = approved()
        make_expired(payment, days_ago=1, auto_renew=True)
        assert "Expired 0" in expire_now()
        make_expired(payment, days_ago=4, auto_renew=True)
        assert "Expired 1" in expire_now()
        assert state(payment.user)[2] == "free"


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_expiry_runs_handle_each_subscription_once(settings):
    settings.EXPIRED_TOKENS_POLICY = "forfeit"  # one ledger entry per expiry: countable
    payments = [approved() for _ in range(30)]
    for payment in payments:
        make_expired(payment)
    start = threading.Barrier(2)

    def run(_):
        start.wait()
        try:
            return UserSubscription.expire_due()
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(run, range(2)))

    assert sum(counts) == 30
    assert LedgerEntry.objects.filter(kind="forfeit").count() == 30
    assert UserSubscription.objects.filter(plan_type="free").count() == 30
    assert UserSubscription.expire_due() == 0
