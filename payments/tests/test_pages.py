"""Buying a plan from the pages, the payments list, the payment page, cancelled payments."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import UserFactory
from payments.models import Payment
from payments.tests.factories import PaymentFactory
from subscriptions.models import Plan, UserSubscription
from tokens.models import LedgerEntry
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_configured(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_volx"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_volx"


@pytest.fixture
def nothing_configured(settings):
    for name in (
        "BANK_TRANSFER_BANK_NAME",
        "BANK_TRANSFER_ACCOUNT_NAME",
        "BANK_TRANSFER_ACCOUNT_NUMBER",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "PAYPAL_CLIENT_ID",
        "PAYPAL_CLIENT_SECRET",
        "PAYPAL_WEBHOOK_ID",
    ):
        setattr(settings, name, "")


def wallet_and_plan(user) -> tuple:
    user.refresh_from_db()
    subscription = UserSubscription.objects.get(user=user)
    return (
        user.tokens_remaining,
        subscription.plan_type,
        subscription.tokens_limit,
        LedgerEntry.objects.filter(user=user).count(),
    )


@pytest.mark.parametrize(
    "url",
    ["/payments/", "/payments/1/", "/payments/1/cancelled/", "/plans/professional/upgrade/"],
)
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url)

    assert (response.status_code, response.url) == (302, f"/login/?next={url}")


# --- upgrade ----------------------------------------------------------------------------


def test_upgrade_offers_only_the_configured_methods(signed_in, nothing_configured, bank_configured):
    html = signed_in.get("/plans/professional/upgrade/").content.decode()

    assert 'value="bank_transfer"' in html
    assert 'value="stripe"' not in html and 'value="paypal"' not in html
    assert 'value="monthly"' in html and 'value="annual"' in html
    assert "Monthly · 50 USD" in html and "Annual · 500 USD" in html
    assert "csrfmiddlewaretoken" in html


def test_upgrade_offers_stripe_when_stripe_is_configured(
    signed_in, nothing_configured, stripe_configured
):
    html = signed_in.get("/plans/professional/upgrade/").content.decode()

    assert 'value="stripe"' in html
    assert 'value="bank_transfer"' not in html and 'value="paypal"' not in html


def test_upgrade_without_any_configured_method_says_so(signed_in, nothing_configured):
    response = signed_in.get("/plans/professional/upgrade/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="no-payment-methods"' in html
    assert "no payment method" in html
    assert '<form method="post" action="/plans/professional/upgrade/"' not in html
    assert "STRIPE_SECRET_KEY" not in html  # setting names are for the operator only


def test_the_operator_sees_which_settings_are_missing(client, admin_user, nothing_configured):
    client.force_login(admin_user)

    html = client.get("/plans/professional/upgrade/").content.decode()

    assert "BANK_TRANSFER_ACCOUNT_NUMBER" in html and "STRIPE_SECRET_KEY" in html


def test_upgrade_shows_the_tokens_after_the_payment(signed_in):
    html = signed_in.get("/plans/professional/upgrade/").content.decode()

    assert 'id="tokens-after">2,010,000<' in html


def test_upgrade_shows_what_the_reset_policy_leaves(signed_in, user, settings, bank_configured):
    """The preview and the confirmation compute the outcome with one function."""
    settings.TOKENS_ON_PLAN_CHANGE = "reset"
    Wallet(user).debit(300)

    html = signed_in.get("/plans/professional/upgrade/").content.decode()
    assert 'id="tokens-after">2,000,000<' in html

    PaymentFactory(user=user).confirm()
    assert wallet_and_plan(user)[:3] == (2_000_000, "professional", 2_000_000)


def test_a_plan_without_a_price_cannot_be_bought(signed_in, bank_configured):
    Plan.objects.filter(slug="starter").update(price_monthly=0, price_annual=0)

    assert signed_in.get("/plans/starter/upgrade/").status_code == 404
    assert 'href="/plans/starter/upgrade/"' not in signed_in.get("/plans/").content.decode()


@pytest.mark.parametrize("slug", ["free", "no-such-plan"])
def test_only_paid_plans_can_be_bought(signed_in, bank_configured, slug):
    assert signed_in.get(f"/plans/{slug}/upgrade/").status_code == 404
    response = signed_in.post(
        f"/plans/{slug}/upgrade/", {"billing_cycle": "monthly", "payment_method": "bank_transfer"}
    )
    assert response.status_code == 404
    assert Payment.objects.count() == 0


def test_bank_transfer_upgrade_creates_a_pending_payment_and_shows_how_to_pay(
    signed_in, user, bank_configured
):
    before = wallet_and_plan(user)

    response = signed_in.post(
        "/plans/professional/upgrade/",
        {"billing_cycle": "monthly", "payment_method": "bank_transfer"},
    )

    payment = Payment.objects.get(user=user)
    assert (response.status_code, response.url) == (302, f"/payments/{payment.pk}/")
    assert (payment.status, payment.method, payment.from_plan, payment.to_plan) == (
        "pending",
        "bank_transfer",
        "free",
        "professional",
    )
    assert (payment.amount, payment.currency, payment.billing_cycle) == (
        Decimal("50.00"),
        "USD",
        "monthly",
    )
    html = signed_in.get(response.url).content.decode()
    assert 'id="bank-transfer-instructions"' in html
    assert f'id="reference-code">{payment.reference_code}<' in html
    assert 'id="transfer-amount">50 USD<' in html
    for detail in ("Volx Test Bank", "Volx Ltd", "0123456789", "VOLXVNVX"):
        assert detail in html
    assert "⚡ 10,000 Token" in html
    assert wallet_and_plan(user) == before  # no plan, no tokens, no ledger entry


def test_annual_bank_transfer_upgrade(signed_in, user, bank_configured):
    signed_in.post(
        "/plans/business/upgrade/", {"billing_cycle": "annual", "payment_method": "bank_transfer"}
    )

    payment = Payment.objects.get(user=user)
    assert (payment.to_plan, payment.billing_cycle, payment.amount) == (
        "business",
        "annual",
        Decimal("890.00"),
    )


def test_an_unconfigured_method_is_refused(signed_in, user, nothing_configured, bank_configured):
    response = signed_in.post(
        "/plans/professional/upgrade/", {"billing_cycle": "monthly", "payment_method": "stripe"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["payment_method"]
    assert Payment.objects.count() == 0


def test_upgrade_post_without_csrf_token_is_refused(user, bank_configured):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(
        "/plans/professional/upgrade/",
        {"billing_cycle": "monthly", "payment_method": "bank_transfer"},
    )

    assert response.status_code == 403
    assert Payment.objects.count() == 0


def test_stripe_upgrade_redirects_to_the_checkout_page(signed_in, user, fake_stripe):
    before = wallet_and_plan(user)

    response = signed_in.post(
        "/plans/professional/upgrade/", {"billing_cycle": "monthly", "payment_method": "stripe"}
    )

    payment = Payment.objects.get(user=user)
    assert response.status_code == 302
    assert response.url == payment.checkout_url
    assert response.url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert payment.status == "pending"
    assert wallet_and_plan(user) == before


def test_a_checkout_the_provider_refuses_fails_the_payment_and_says_so(
    signed_in, user, fake_stripe
):
    fake_stripe.fail_with = (500, {"error": {"type": "api_error", "message": "Stripe is down"}})
    before = wallet_and_plan(user)

    response = signed_in.post(
        "/plans/professional/upgrade/", {"billing_cycle": "monthly", "payment_method": "stripe"}
    )

    assert response.status_code == 200
    assert "could not start the payment. Nothing was charged" in response.content.decode()
    assert Payment.objects.get(user=user).status == "failed"
    assert wallet_and_plan(user) == before


def test_a_second_purchase_of_a_pending_plan_shows_the_first(signed_in, user, bank_configured):
    form = {"billing_cycle": "monthly", "payment_method": "bank_transfer"}
    first = signed_in.post("/plans/professional/upgrade/", form)
    payment = Payment.objects.get(user=user)

    again = signed_in.post("/plans/professional/upgrade/", form, follow=True)

    assert again.redirect_chain == [(first.url, 302)]
    html = again.content.decode()
    assert "already waiting" in html and payment.reference_code in html
    assert Payment.objects.filter(user=user).count() == 1


def on_annual_professional(user, days_left: int) -> None:
    PaymentFactory(user=user, billing_cycle="annual").confirm()
    UserSubscription.objects.filter(user=user).update(
        expires_at=timezone.now() + timedelta(days=days_left, hours=1)
    )


def test_switching_plans_says_first_that_the_rest_of_the_period_ends(
    signed_in, user, bank_configured
):
    """Another paid plan starts its own period on confirmation; the unused days of the
    running plan are not carried over, and the page says so before the user pays."""
    on_annual_professional(user, days_left=300)

    html = signed_in.get("/plans/business/upgrade/").content.decode()

    assert 'id="period-notice"' in html
    assert "300 days" in html and "are not carried over" in html
    assert (
        'id="period-notice"' not in signed_in.get("/plans/professional/upgrade/").content.decode()
    )


def test_switching_plans_notice_in_vietnamese(signed_in, user, bank_configured):
    on_annual_professional(user, days_left=300)
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get("/plans/business/upgrade/").content.decode()

    assert "300 ngày" in html and "không được chuyển sang" in html


def test_upgrade_page_in_vietnamese(signed_in, bank_configured):
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get("/plans/professional/upgrade/").content.decode()

    assert "Chuyển khoản ngân hàng" in html
    assert "Hàng tháng · 50 USD" in html
    assert 'id="tokens-after">2.010.000<' in html


# --- /payments/ -------------------------------------------------------------------------


def test_payments_list_shows_the_users_payments_with_status(signed_in, user):
    pending = PaymentFactory(user=user)
    approved = PaymentFactory(user=user, plan="starter", status=Payment.Status.APPROVED)
    theirs = PaymentFactory(user=UserFactory())

    html = signed_in.get("/payments/").content.decode()

    assert html.count('class="payment-row"') == 2
    assert pending.reference_code in html and approved.reference_code in html
    assert theirs.reference_code not in html
    assert "Pending" in html and "Approved" in html
    assert f'href="/payments/{pending.pk}/"' in html


def test_payments_list_without_payments(signed_in):
    assert "No payments yet." in signed_in.get("/payments/").content.decode()


def test_payment_page_of_another_user_is_404(signed_in):
    theirs = PaymentFactory(user=UserFactory())

    assert signed_in.get(f"/payments/{theirs.pk}/").status_code == 404
    assert signed_in.get(f"/payments/{theirs.pk}/cancelled/").status_code == 404
    assert signed_in.get("/payments/999999/").status_code == 404


def test_an_approved_bank_transfer_shows_no_instructions(signed_in, user, bank_configured):
    payment = PaymentFactory(user=user, status=Payment.Status.APPROVED)

    html = signed_in.get(f"/payments/{payment.pk}/").content.decode()

    assert 'id="bank-transfer-instructions"' not in html
    assert "Payment confirmed" in html


def test_returning_from_the_provider_shows_that_the_payment_is_being_confirmed(signed_in, user):
    payment = PaymentFactory(user=user, method=Payment.Method.STRIPE)

    html = signed_in.get(f"/payments/?paid={payment.pk}").content.decode()

    assert "The payment is being confirmed by the provider" in html


def test_returning_with_another_users_payment_id_shows_nothing_about_it(signed_in):
    theirs = PaymentFactory(user=UserFactory(), method=Payment.Method.STRIPE)

    html = signed_in.get(f"/payments/?paid={theirs.pk}").content.decode()

    assert "being confirmed" not in html and theirs.reference_code not in html


def test_a_paypal_error_on_return_is_explained(signed_in):
    html = signed_in.get("/payments/?paid=1&error=paypal").content.decode()

    assert "PayPal could not complete the payment." in html


def test_cancelled_page(signed_in, user):
    payment = PaymentFactory(user=user, method=Payment.Method.STRIPE)

    response = signed_in.get(f"/payments/{payment.pk}/cancelled/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Payment cancelled" in html
    assert payment.reference_code in html
    assert "You were not charged" in html


def test_bank_transfer_instructions_in_vietnamese(signed_in, user, bank_configured):
    payment = PaymentFactory(user=user)
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get(f"/payments/{payment.pk}/").content.decode()

    assert "Nội dung chuyển khoản" in html and payment.reference_code in html
    assert "Đang chờ" in html


def test_status_method_and_cycle_labels_come_from_the_models_choices(signed_in, user):
    PaymentFactory(user=user, method="stripe", status="refunded", billing_cycle="annual")

    english = signed_in.get("/payments/").content.decode()
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"
    vietnamese = signed_in.get("/payments/").content.decode()

    assert all(label in english for label in ("Refunded", "Card (Stripe)", "(Annual)"))
    assert all(label in vietnamese for label in ("Đã hoàn tiền", "Thẻ (Stripe)", "(Hàng năm)"))
