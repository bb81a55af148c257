"""The subscription: GET/PATCH /api/subscription and the /subscription/ page (SPEC §13).

Auto-renew off with a Stripe subscription goes through stripe-python to the local fake
Stripe (`cancel_at_period_end`).
"""

from datetime import timedelta

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from payments.models import Payment
from payments.tests.factories import PaymentFactory
from payments.tests.test_stripe import deliver, event, session
from subscriptions.models import UserSubscription

URL = "/api/subscription"

pytestmark = pytest.mark.django_db


def subscribed_with_stripe(user=None) -> Payment:
    """A professional plan bought by a Stripe checkout that created subscription sub_volx1."""
    payment = PaymentFactory(user=user or UserFactory(), method=Payment.Method.STRIPE)
    deliver(event("checkout.session.completed", session(payment, subscription="sub_volx1")))
    payment.refresh_from_db()
    assert payment.status == "approved"
    return payment


def plan_fields(user) -> tuple:
    subscription = UserSubscription.objects.get(user=user)
    return (
        subscription.plan_type,
        subscription.tokens_limit,
        subscription.expires_at,
        subscription.auto_renew,
    )


# --- the API ---------------------------------------------------------------------------


def test_get_answers_the_plan_allowance_period_and_auto_renew(user, client_for):
    answer = client_for(user).get(URL)

    assert answer.status_code == 200
    subscription = UserSubscription.objects.get(user=user)
    assert answer.json() == {
        "plan_type": "free",
        "plan_name": "Free",
        "tokens_limit": 10_000,
        "articles_limit": 2,
        "billing_cycle": "monthly",
        "period_start": subscription.plan_started_at.isoformat().replace("+00:00", "Z"),
        "period_end": None,
        "auto_renew": False,
        "can_auto_renew": False,
        "payment_method": "",
    }


def test_get_a_paid_plan_gives_its_period(user, client_for):
    PaymentFactory(user=user).confirm()
    subscription = UserSubscription.objects.get(user=user)

    body = client_for(user).get(URL).json()

    assert (body["plan_type"], body["tokens_limit"]) == ("professional", 2_010_000)
    assert body["period_end"] == subscription.expires_at.isoformat().replace("+00:00", "Z")
    start = subscription.expires_at - timedelta(days=30)
    assert body["period_start"] == start.isoformat().replace("+00:00", "Z")
    assert (body["payment_method"], body["can_auto_renew"]) == ("bank_transfer", False)


def test_the_api_needs_a_login(db):
    assert Client().get(URL).status_code == 401
    assert (
        Client().patch(URL, {"auto_renew": False}, content_type="application/json").status_code
        == 401
    )


def test_auto_renew_off_sets_cancel_at_period_end_at_stripe(fake_stripe, client_for):
    payment = subscribed_with_stripe()
    api = client_for(payment.user)
    assert api.get(URL).json()["auto_renew"] is True
    before = plan_fields(payment.user)

    answer = api.patch(URL, {"auto_renew": False}, format="json")

    assert answer.status_code == 200, answer.content
    assert (answer.json()["auto_renew"], answer.json()["can_auto_renew"]) == (False, True)
    assert fake_stripe.routes() == ["POST /v1/subscriptions/sub_volx1"]
    assert fake_stripe.requests[0].form() == {"cancel_at_period_end": "true"}
    assert plan_fields(payment.user) == before[:3] + (False,)  # the period runs to its end

    again = api.patch(URL, {"auto_renew": True}, format="json")

    assert again.status_code == 200
    assert fake_stripe.requests[1].form() == {"cancel_at_period_end": "false"}
    assert plan_fields(payment.user) == before


def test_stripe_refusing_changes_nothing(fake_stripe, client_for):
    payment = subscribed_with_stripe()
    fake_stripe.fail_with = (
        400,
        {"error": {"type": "invalid_request_error", "message": "No such subscription"}},
    )

    answer = client_for(payment.user).patch(URL, {"auto_renew": False}, format="json")

    assert answer.status_code == 502
    assert "No such subscription" in answer.json()["error"]
    assert plan_fields(payment.user)[3] is True


def test_auto_renew_on_without_a_stripe_subscription_is_refused(user, client_for, fake_stripe):
    PaymentFactory(user=user).confirm()  # a bank transfer: nothing renews it
    before = plan_fields(user)

    answer = client_for(user).patch(URL, {"auto_renew": True}, format="json")

    assert answer.status_code == 400
    assert "buying it again" in answer.json()["error"]
    assert plan_fields(user) == before
    assert fake_stripe.requests == []


def test_auto_renew_off_without_a_stripe_subscription_needs_no_stripe(user, client_for):
    UserSubscription.objects.filter(user=user).update(auto_renew=True)  # a legacy row
    answer = client_for(user).patch(URL, {"auto_renew": False}, format="json")
    assert (answer.status_code, answer.json()["auto_renew"]) == (200, False)


@pytest.mark.parametrize(
    "body",
    [
        {"plan_type": "enterprise"},
        {"auto_renew": False, "tokens_limit": 999_999_999},
        {"expires_at": "2099-01-01T00:00:00Z"},
        {"auto_renew": "maybe"},
        {"auto_renew": None},
        {},
        [True],
    ],
    ids=str,
)
def test_patch_takes_auto_renew_only(fake_stripe, client_for, body):
    payment = subscribed_with_stripe()
    before = plan_fields(payment.user)

    answer = client_for(payment.user).patch(URL, body, format="json")

    assert answer.status_code == 400
    assert "error" in answer.json()
    assert plan_fields(payment.user) == before
    assert fake_stripe.requests == []


# --- the page --------------------------------------------------------------------------

PAGE = "/subscription/"


def test_the_page_shows_the_plan_its_period_and_the_history(signed_in, user):
    PaymentFactory(user=user).confirm()
    pending = PaymentFactory(user=user, plan="grow")
    subscription = UserSubscription.objects.get(user=user)

    page = signed_in.get(PAGE)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Professional" in html
    assert "⚡ 2,010,000 Token" in html
    assert f'datetime="{subscription.expires_at.isoformat()}"' in html
    assert 'id="auto-renew-state">Off' in html
    assert "renewed by buying it again" in html  # a bank transfer: no switch to turn it on
    assert html.count('class="payment-row"') == 2
    assert f'action="/payments/{pending.pk}/cancel/"' in html  # only the pending one
    assert html.count("/cancel/") == 1


def test_the_page_is_in_vietnamese_too(signed_in, user, settings):
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"
    html = signed_in.get(PAGE).content.decode()
    assert "Gói đăng ký của bạn" in html
    assert "Lịch sử thanh toán" in html


def test_the_page_needs_a_login(db):
    assert Client().get(PAGE)["Location"].startswith("/login/")


def test_the_page_turns_auto_renew_off_and_on_at_stripe(fake_stripe, client):
    payment = subscribed_with_stripe()
    client.force_login(payment.user)
    assert 'id="auto-renew-state">On' in client.get(PAGE).content.decode()

    off = client.post(PAGE, {"auto_renew": "off"}, follow=True)

    assert "Auto-renew is off" in off.content.decode()
    assert 'id="auto-renew-state">Off' in off.content.decode()
    assert fake_stripe.requests[-1].form() == {"cancel_at_period_end": "true"}
    assert plan_fields(payment.user)[3] is False

    on = client.post(PAGE, {"auto_renew": "on"}, follow=True)

    assert 'id="auto-renew-state">On' in on.content.decode()
    assert fake_stripe.requests[-1].form() == {"cancel_at_period_end": "false"}


def test_a_page_post_without_a_choice_changes_nothing(fake_stripe, client):
    payment = subscribed_with_stripe()
    client.force_login(payment.user)
    answer = client.post(PAGE, {"auto_renew": "maybe"}, follow=True)
    assert "Choose whether the plan renews." in answer.content.decode()
    assert plan_fields(payment.user)[3] is True
    assert fake_stripe.requests == []


# --- cancelling a pending payment --------------------------------------------------------


def test_cancel_cancels_the_users_own_pending_bank_transfer(signed_in, user, wallet_state):
    payment = PaymentFactory(user=user)
    before = wallet_state(user)

    answer = signed_in.post(f"/payments/{payment.pk}/cancel/", follow=True)

    payment.refresh_from_db()
    assert payment.status == "cancelled"
    assert f"Payment {payment.reference_code} cancelled" in answer.content.decode()
    assert wallet_state(user) == before
    assert plan_fields(user)[:2] == ("free", 10_000)


def test_cancel_closes_a_stripe_checkout_at_stripe_first(fake_stripe, client, user):
    from payments.gateways import stripe as stripe_gateway

    payment = PaymentFactory(user=user, method=Payment.Method.STRIPE)
    stripe_gateway.start_checkout(payment)
    payment.refresh_from_db()
    client.force_login(user)

    client.post(f"/payments/{payment.pk}/cancel/")

    assert (
        fake_stripe.routes()[-1]
        == f"POST /v1/checkout/sessions/{payment.provider_reference}/expire"
    )
    payment.refresh_from_db()
    assert payment.status == "cancelled"


def test_cancel_leaves_the_payment_pending_when_stripe_cannot_close_the_checkout(
    fake_stripe, client, user
):
    from payments.gateways import stripe as stripe_gateway

    payment = PaymentFactory(user=user, method=Payment.Method.STRIPE)
    stripe_gateway.start_checkout(payment)
    fake_stripe.fail_with = (500, {"error": {"type": "api_error", "message": "down"}})
    client.force_login(user)

    answer = client.post(f"/payments/{payment.pk}/cancel/", follow=True)

    assert "could not be reached" in answer.content.decode()
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_cancel_changes_nothing_on_a_decided_payment(signed_in, user):
    payment = PaymentFactory(user=user)
    payment.confirm()

    answer = signed_in.post(f"/payments/{payment.pk}/cancel/", follow=True)

    payment.refresh_from_db()
    assert payment.status == "approved"
    assert "no longer pending" in answer.content.decode()
    assert plan_fields(user)[:2] == ("professional", 2_010_000)


def test_cancel_of_another_users_payment_is_404(signed_in):
    payment = PaymentFactory()
    assert signed_in.post(f"/payments/{payment.pk}/cancel/").status_code == 404
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_cancel_is_a_post(signed_in, user):
    payment = PaymentFactory(user=user)
    assert signed_in.get(f"/payments/{payment.pk}/cancel/").status_code == 405
    payment.refresh_from_db()
    assert payment.status == "pending"
