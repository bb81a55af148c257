"""A user the old system left without a `user_subscriptions` row is on the free plan: a
purchase creates that row, in the purchase's transaction, and grants nothing for it."""

import pytest

from payments.models import Payment
from subscriptions.models import UserSubscription
from tokens.models import LedgerEntry


@pytest.fixture
def legacy_user(user):
    UserSubscription.objects.filter(user=user).delete()
    return user


@pytest.mark.parametrize("method", ["bank_transfer", "stripe", "paypal"])
def test_upgrade_plan_for_a_user_without_a_subscription(
    method, legacy_user, client_for, bank_configured, fake_stripe, fake_paypal
):
    entries = LedgerEntry.objects.filter(user=legacy_user).count()

    answer = client_for(legacy_user).post(
        "/api/auth/upgrade-plan",
        {"plan": "starter", "billing_cycle": "monthly", "payment_method": method},
        format="json",
    )

    assert answer.status_code == 201, answer.content
    payment = Payment.objects.get(pk=answer.json()["payment"]["id"])
    assert (payment.status, payment.from_plan) == ("pending", "free")
    subscription = UserSubscription.objects.get(user=legacy_user)
    assert (subscription.plan_type, subscription.tokens_limit) == ("free", 10_000)
    legacy_user.refresh_from_db()
    assert legacy_user.tokens_remaining == 10_000  # what the user had; nothing granted
    assert LedgerEntry.objects.filter(user=legacy_user).count() == entries


def test_the_upgrade_page_starts_a_purchase_for_them_too(legacy_user, client, bank_configured):
    client.force_login(legacy_user)

    response = client.post(
        "/plans/starter/upgrade/", {"billing_cycle": "monthly", "payment_method": "bank_transfer"}
    )

    assert response.status_code == 302
    assert Payment.objects.get(user=legacy_user).from_plan == "free"
    assert UserSubscription.objects.get(user=legacy_user).plan_type == "free"


def test_a_purchase_that_fails_creates_no_subscription(legacy_user, client_for, fake_stripe):
    Payment.objects.create(
        user=legacy_user, from_plan="free", to_plan="starter", billing_cycle="monthly",
        amount=1, currency="USD", method="stripe", checkout_url="https://checkout.stripe.com/x",
    )  # fmt: skip
    answer = client_for(legacy_user).post(
        "/api/auth/upgrade-plan",
        {"plan": "starter", "billing_cycle": "monthly", "payment_method": "stripe"},
        format="json",
    )

    assert answer.status_code == 409
    assert not UserSubscription.objects.filter(user=legacy_user).exists()
