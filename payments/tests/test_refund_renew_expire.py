"""Refunds reverse a grant, renewals grant again, expiry drops to free (docs/rules.md, Refund,
Renewal, Expiry)."""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

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

    def test_refunding_an_older_payment_keeps_the_newer_plan_without_its_tokens(self):
        user = UserFactory()
        older = approved(user=user, plan="starter")
        newer = approved(user=user, plan="business")
        assert state(user) == (4_410_000, 4_410_000, "business")
        business_ends = UserSubscription.objects.get(user=user).expires_at

        older.refund()

        # The allowance loses what the wallet gave back: nothing shows as used.
        assert state(user) == (4_010_000, 4_010_000, "business")
        # Business started a period of its own; the starter time had ended with it.
        assert UserSubscription.objects.get(user=user).expires_at == business_ends

        newer.refund()  # puts back what business replaced: not the refunded starter

        assert state(user) == (10_000, 10_000, "free")
        assert UserSubscription.objects.get(user=user).expires_at is None


def subscription_of(user) -> UserSubscription:
    return UserSubscription.objects.get(user=user)


@pytest.mark.django_db
class TestRefundOfAPaymentALaterOneExtended:
    """Buy starter twice (the second extends the first), refund the first: the red team
    found 410,000 remaining / 810,000 allowance, 400,000 "used" that nobody spent, and 60
    days of plan for one month's money (docs/rules.md, Refund)."""

    def buy_starter(self, user, times: int) -> list[Payment]:
        payments = [approved(user=user, plan="starter") for _ in range(times)]
        assert state(user) == (10_000 + 400_000 * times,) * 2 + ("starter",)
        return payments

    def test_the_refund_takes_back_its_allowance_and_its_period(self, ledger_sum):
        user = UserFactory()
        first, second = self.buy_starter(user, 2)
        ends = subscription_of(user).expires_at

        first.refund()

        assert state(user) == (410_000, 410_000, "starter")
        subscription = subscription_of(user)
        assert subscription.expires_at == ends - timedelta(days=30)
        assert subscription.payment_id == str(second.pk)
        assert ledger_sum(user) == 410_000

        second.refund()  # puts back the free plan, not the refunded first starter

        assert state(user) == (10_000, 10_000, "free")
        assert subscription_of(user).expires_at is None
        assert ledger_sum(user) == 10_000

    def test_the_latest_refunded_first_ends_the_same(self):
        user = UserFactory()
        first, second = self.buy_starter(user, 2)
        first_ends = subscription_of(user).expires_at - timedelta(days=30)

        second.refund()
        assert state(user) == (410_000, 410_000, "starter")
        assert subscription_of(user).expires_at == first_ends
        assert subscription_of(user).payment_id == str(first.pk)

        first.refund()
        assert state(user) == (10_000, 10_000, "free")
        assert subscription_of(user).expires_at is None

    @pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
    def test_any_order_of_refunds_of_three_purchases_never_shows_unspent_tokens_as_used(
        self, order, ledger_sum
    ):
        user = UserFactory()
        payments = self.buy_starter(user, 3)
        last_ends = subscription_of(user).expires_at

        for done, index in enumerate(order, start=1):
            payments[index].refund()
            left = 3 - done
            remaining, limit, plan = state(user)
            assert remaining == limit == 10_000 + 400_000 * left  # nothing shown as used
            assert remaining == ledger_sum(user)
            if left:
                assert plan == "starter"
                assert subscription_of(user).expires_at == last_ends - timedelta(days=30 * done)
        assert state(user) == (10_000, 10_000, "free")
        assert subscription_of(user).expires_at is None

    def test_spent_tokens_stay_used(self):
        """The allowance loses what the wallet gave back, so "used" stays what was spent."""
        user = UserFactory()
        first, _second = self.buy_starter(user, 2)
        Wallet(user).debit(500_000)
        assert state(user) == (310_000, 810_000, "starter")  # 500,000 used

        first.refund()  # 400,000 to take back, 310,000 there: the shortfall is recorded

        assert state(user) == (0, 500_000, "starter")  # still 500,000 used
        reversal = LedgerEntry.objects.get(user=user, kind="refund")
        assert (reversal.delta, "shortfall 90000" in reversal.note) == (-310_000, True)

    def test_an_annual_purchase_takes_back_a_year(self):
        user = UserFactory()
        annual = approved(user=user, plan="starter", billing_cycle="annual")
        approved(user=user, plan="starter")
        ends = subscription_of(user).expires_at

        annual.refund()

        assert state(user) == (410_000, 410_000, "starter")
        assert subscription_of(user).expires_at == ends - timedelta(days=365)

    def test_a_payment_whose_plan_expired_leaves_the_free_allowance(self):
        """After the drop to free the allowance is the free plan's; the payment's tokens
        are in the kept wallet only, and come back out of it."""
        payment = approved(plan="starter")
        make_expired(payment)
        expire_now()
        assert state(payment.user) == (410_000, 10_000, "free")

        payment.refund()

        assert state(payment.user) == (10_000, 10_000, "free")
        assert subscription_of(payment.user).expires_at is None

    def test_a_plan_bought_again_after_expiry_keeps_its_own_period(self):
        user = UserFactory()
        expired = approved(user=user, plan="starter")
        make_expired(expired)
        expire_now()
        again = approved(user=user, plan="starter")  # a new period, not an extension
        ends = subscription_of(user).expires_at

        expired.refund()

        assert state(user) == (410_000, 410_000, "starter")
        assert subscription_of(user).expires_at == ends  # the refunded time had passed

        again.refund()

        assert state(user) == (10_000, 10_000, "free")


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


purchases = st.lists(
    st.tuples(
        st.sampled_from(["starter", "grow", "business"]), st.sampled_from(["monthly", "annual"])
    ),
    min_size=1,
    max_size=4,
)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bought=purchases, data=st.data())
def test_refunds_in_any_order_never_leave_an_allowance_nobody_paid_for(bought, data, ledger_sum):
    """Purchases of any plans and cycles, refunded one by one in any order: after every
    refund the allowance equals the wallet (nothing was spent, so nothing shows as used),
    and after the last one the user is on the free plan they started with."""
    user = UserFactory()
    started = subscription_of(user).plan_started_at
    payments = [approved(user=user, plan=plan, billing_cycle=cycle) for plan, cycle in bought]
    order = data.draw(st.permutations(payments))

    for payment in order:
        payment.refund()
        remaining, limit, _plan = state(user)
        assert remaining == limit == ledger_sum(user)

    subscription = subscription_of(user)
    assert state(user) == (10_000, 10_000, "free")
    assert (subscription.expires_at, subscription.plan_started_at) == (None, started)


@pytest.mark.django_db
def test_refund_of_an_approved_payment_without_a_decision_time_still_reverses_it():
    """A row approved by hand in the database, with no decided_at."""
    payment = approved()
    Payment.objects.filter(pk=payment.pk).update(decided_at=None)
    payment.refresh_from_db()

    assert payment.refund() is True

    assert state(payment.user) == (10_000, 10_000, "free")
