import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from payments.gateways import GatewayError
from payments.gateways import stripe as stripe_gateway
from payments.models import Payment, WebhookEvent
from payments.tests.factories import PaymentFactory
from payments.tests.fakes import SITE_URL
from payments.webhooks import IGNORED
from tokens.models import LedgerEntry

URL = "/api/payments/stripe/webhook"
SECRET = "whsec_test_volx"


def sign(payload: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header as Stripe builds it: v1 is the hex HMAC-SHA256, keyed
    with the endpoint's secret, of "<timestamp>.<raw body>"."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def event(event_type: str, obj: dict, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2025-08-27.basil",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": obj},
        }
    )


def session(payment: Payment, **fields) -> dict:
    return {
        "id": "cs_test_volx1",
        "object": "checkout.session",
        "mode": "payment",
        "client_reference_id": str(payment.pk),
        "metadata": {"payment_id": str(payment.pk), "reference_code": payment.reference_code},
        "amount_total": 5000,
        "currency": "usd",
        "payment_status": "paid",
        "status": "complete",
        "payment_intent": "pi_volx1",
        "subscription": None,
        **fields,
    }


def charge(payment: Payment, **fields) -> dict:
    return {
        "id": "ch_volx1",
        "object": "charge",
        "amount": 5000,
        "amount_refunded": 5000,
        "refunded": True,
        "currency": "usd",
        "payment_intent": "pi_volx1",
        "metadata": {"payment_id": str(payment.pk)},
        **fields,
    }


def invoice(billing_reason: str, invoice_id: str = "in_volx1", **fields) -> dict:
    return {
        "id": invoice_id,
        "object": "invoice",
        "billing_reason": billing_reason,
        "subscription": "sub_volx1",
        "amount_paid": 5000,
        "currency": "usd",
        **fields,
    }


def deliver(payload: str, signature: str | None = "sign", client: Client | None = None):
    headers = {}
    if signature == "sign":
        signature = sign(payload)
    if signature is not None:
        headers["HTTP_STRIPE_SIGNATURE"] = signature
    return (client or Client()).post(URL, payload, content_type="application/json", **headers)


def state(payment: Payment) -> tuple:
    payment.refresh_from_db()
    user = payment.user
    user.refresh_from_db()
    subscription = user.subscription
    subscription.refresh_from_db()
    return (
        payment.status,
        user.tokens_remaining,
        subscription.tokens_limit,
        subscription.plan_type,
    )


@pytest.fixture
def payment(db, fake_stripe):
    return PaymentFactory(method=Payment.Method.STRIPE)


# --- Checkout Session ------------------------------------------------------------------


def test_start_checkout_creates_the_session_on_stripe(payment, fake_stripe):
    url = stripe_gateway.start_checkout(payment)

    assert fake_stripe.routes() == ["POST /v1/checkout/sessions"]
    sent = fake_stripe.requests[0]
    assert sent.headers["authorization"] == "Bearer sk_test_volx"
    form = sent.form()
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == str(payment.pk)
    assert form["metadata[payment_id]"] == str(payment.pk)
    assert form["metadata[reference_code]"] == payment.reference_code
    assert form["payment_intent_data[metadata][payment_id]"] == str(payment.pk)
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][unit_amount]"] == "5000"  # 50.00 USD in cents
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][product_data][name]"] == "Professional (monthly)"
    assert form["success_url"] == f"{SITE_URL}/payments/?paid={payment.pk}"
    assert form["cancel_url"] == f"{SITE_URL}/payments/{payment.pk}/cancelled/"

    session_id = next(iter(fake_stripe.sessions))
    payment.refresh_from_db()
    assert url == f"https://checkout.stripe.com/c/pay/{session_id}"
    assert (payment.provider_reference, payment.checkout_url) == (session_id, url)
    assert payment.status == Payment.Status.PENDING


def test_start_checkout_raises_gateway_error_when_stripe_refuses(payment, fake_stripe):
    fake_stripe.fail_with = (
        400,
        {"error": {"type": "invalid_request_error", "message": "Invalid currency: xyz"}},
    )
    with pytest.raises(GatewayError, match="Invalid currency"):
        stripe_gateway.start_checkout(payment)
    payment.refresh_from_db()
    assert (payment.provider_reference, payment.checkout_url) == ("", "")


def test_upgrade_plan_answers_with_the_stripe_checkout_url(user, client_for, fake_stripe):
    answer = client_for(user).post(
        "/api/auth/upgrade-plan",
        {"plan": "professional", "billing_cycle": "monthly", "payment_method": "stripe"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    payment = Payment.objects.get(pk=answer.json()["payment"]["id"])
    assert answer.json()["checkout_url"] == payment.checkout_url
    assert payment.checkout_url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert state(payment) == ("pending", 10_000, 10_000, "free")


def test_a_checkout_still_open_blocks_a_second_one_for_the_plan(user, client_for, fake_stripe):
    api = client_for(user)
    body = {"plan": "professional", "billing_cycle": "monthly", "payment_method": "stripe"}
    first = api.post("/api/auth/upgrade-plan", body, format="json").json()

    again = api.post("/api/auth/upgrade-plan", body, format="json")

    assert again.status_code == 409
    assert again.json()["checkout_url"] == first["checkout_url"]  # where to finish paying
    assert "already pending" in again.json()["error"]
    assert fake_stripe.routes() == ["POST /v1/checkout/sessions"]  # no second session


def test_a_checkout_past_its_lifetime_no_longer_blocks(user, client_for, fake_stripe):
    """Stripe expires a Checkout Session after 24 hours: nobody can pay it any more."""
    api = client_for(user)
    body = {"plan": "professional", "billing_cycle": "monthly", "payment_method": "stripe"}
    first = api.post("/api/auth/upgrade-plan", body, format="json").json()["payment"]
    Payment.objects.filter(pk=first["id"]).update(
        created_at=timezone.now() - Payment.CHECKOUT_LIFETIME["stripe"]
    )

    assert api.post("/api/auth/upgrade-plan", body, format="json").status_code == 201


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_upgrades_to_one_plan_start_one_payment(client_for, fake_stripe):
    """Without the user's row lock, each request finds no pending payment and starts one."""
    user = UserFactory()
    authorization = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    body = {"plan": "professional", "billing_cycle": "monthly", "payment_method": "stripe"}
    start = threading.Barrier(5)

    def send(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=authorization)
        start.wait()
        try:
            return client.post("/api/auth/upgrade-plan", body, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = sorted(pool.map(send, range(5)))

    assert statuses == [201, 409, 409, 409, 409]
    assert Payment.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    "currency, amount, expected", [("USD", "50.00", 5000), ("VND", "1250000", 1250000)]
)
def test_minor_units(currency, amount, expected):
    assert stripe_gateway.minor_units(Decimal(amount), currency) == expected
    assert stripe_gateway.from_minor_units(expected, currency) == Decimal(amount)


# --- verification ----------------------------------------------------------------------


def forged(case: str, payload: str) -> tuple[str, str | None]:
    """(body, Stripe-Signature) for each way an event can fail verification."""
    now = int(time.time())
    if case == "no header":
        return payload, None
    if case == "wrong secret":
        return payload, sign(payload, secret="whsec_someone_else")
    if case == "one byte changed":
        changed = payload.replace('"amount_total": 5000', '"amount_total": 5001')
        assert changed != payload and len(changed) == len(payload)
        return changed, sign(payload)
    # Twice the 300 s tolerance: at 301 s a second of a loaded machine let one through.
    if case == "too old":
        return payload, sign(payload, timestamp=now - 600)
    if case == "too far in the future":
        return payload, sign(payload, timestamp=now + 600)
    if case == "no v1 signature":
        return payload, sign(payload).replace("v1=", "v0=")
    assert case == "garbage header"
    return payload, "t=soon,v1=deadbeef"


@pytest.mark.parametrize(
    "case",
    [
        "no header",
        "wrong secret",
        "one byte changed",
        "too old",
        "too far in the future",
        "no v1 signature",
        "garbage header",
    ],
)
def test_unverified_events_change_nothing(payment, fake_stripe, case, grants_for):
    body, signature = forged(case, event("checkout.session.completed", session(payment)))

    answer = deliver(body, signature)

    assert answer.status_code == 400
    assert "error" in answer.json()
    assert state(payment) == ("pending", 10_000, 10_000, "free")
    assert WebhookEvent.objects.count() == 0
    assert grants_for(payment) == 0


def test_a_timestamp_within_the_tolerance_is_accepted(payment, fake_stripe):
    payload = event("checkout.session.completed", session(payment))
    answer = deliver(payload, sign(payload, timestamp=int(time.time()) + 200))
    assert answer.status_code == 200
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")


@pytest.mark.parametrize("missing", ["STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY"])
def test_not_configured_answers_503_naming_the_setting(payment, settings, missing):
    setattr(settings, missing, "")
    payload = event("checkout.session.completed", session(payment))
    answer = deliver(payload)
    assert answer.status_code == 503
    assert answer.json()["missing_settings"] == [missing]
    assert missing in answer.json()["error"]
    assert WebhookEvent.objects.count() == 0


# --- confirmation ----------------------------------------------------------------------


def test_the_same_completed_event_five_times_grants_once(
    payment, fake_stripe, assert_ledger_matches, grants_for
):
    payload = event("checkout.session.completed", session(payment))

    answers = [deliver(payload) for _ in range(5)]

    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["status"] for a in answers] == ["processed"] + ["duplicate"] * 4
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert grants_for(payment) == 1
    assert payment.provider_transaction_id == "pi_volx1"
    assert payment.granted_tokens == 2_000_000
    stored = WebhookEvent.objects.get()
    assert (stored.provider, stored.type, stored.error) == (
        "stripe",
        "checkout.session.completed",
        "",
    )
    assert stored.processed_at is not None
    assert stored.payload["data"]["object"]["client_reference_id"] == str(payment.pk)
    assert_ledger_matches(payment)
    assert fake_stripe.requests == []  # the signed event is the proof: no call back


def test_other_events_for_the_same_session_grant_nothing_more(payment, fake_stripe, grants_for):
    deliver(event("checkout.session.completed", session(payment)))
    deliver(event("checkout.session.async_payment_succeeded", session(payment)))
    deliver(event("checkout.session.completed", session(payment)))  # a new event id
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert grants_for(payment) == 1


def deliver_concurrently(payloads: list[str]) -> list:
    start = threading.Barrier(len(payloads))

    def send(payload):
        start.wait()
        try:
            answer = deliver(payload)
            return answer.status_code, answer.json().get("status")
        finally:
            connection.close()

    with ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(send, payloads))


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_the_same_event_five_times_concurrently_grants_once(
    fake_stripe, assert_ledger_matches, grants_for
):
    payment = PaymentFactory(method=Payment.Method.STRIPE)
    payload = event("checkout.session.completed", session(payment))

    results = deliver_concurrently([payload] * 5)

    assert sorted(results) == [(200, "duplicate")] * 4 + [(200, "processed")]
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert grants_for(payment) == 1
    assert WebhookEvent.objects.count() == 1
    assert_ledger_matches(payment)


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_five_different_events_for_one_payment_concurrently_grant_once(
    fake_stripe, assert_ledger_matches, grants_for
):
    payment = PaymentFactory(method=Payment.Method.STRIPE)
    payloads = [event("checkout.session.completed", session(payment)) for _ in range(5)]

    results = deliver_concurrently(payloads)

    assert results == [(200, "processed")] * 5
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert grants_for(payment) == 1
    assert_ledger_matches(payment)


@pytest.mark.parametrize(
    "fields", [{"amount_total": 100}, {"currency": "eur"}, {"amount_total": 500000}]
)
def test_amount_or_currency_mismatch_grants_nothing_and_needs_review(payment, fields, grants_for):
    answer = deliver(event("checkout.session.completed", session(payment, **fields)))

    assert answer.status_code == 200
    assert state(payment) == ("pending", 10_000, 10_000, "free")
    assert payment.needs_review
    assert "expected 50.00 USD" in payment.reason
    assert grants_for(payment) == 0


def test_unpaid_completion_waits_for_the_async_payment(payment):
    deliver(event("checkout.session.completed", session(payment, payment_status="unpaid")))
    assert state(payment) == ("pending", 10_000, 10_000, "free")

    deliver(event("checkout.session.async_payment_succeeded", session(payment)))
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")


def test_async_payment_failed_fails_the_payment(payment):
    deliver(event("checkout.session.completed", session(payment, payment_status="unpaid")))
    deliver(event("checkout.session.async_payment_failed", session(payment)))
    assert state(payment) == ("failed", 10_000, 10_000, "free")


def test_money_for_a_cancelled_payment_is_flagged_not_granted(payment):
    payment.reject(status=Payment.Status.CANCELLED, reason="changed my mind")
    deliver(event("checkout.session.completed", session(payment)))
    assert state(payment) == ("cancelled", 10_000, 10_000, "free")
    assert payment.needs_review
    assert "cancelled payment" in payment.reason


def test_a_session_that_is_not_a_volx_checkout_is_ignored(payment):
    foreign = session(payment, client_reference_id=None, metadata={})
    answer = deliver(event("checkout.session.completed", foreign))
    assert (answer.status_code, answer.json()["status"]) == (200, "processed")
    assert state(payment) == ("pending", 10_000, 10_000, "free")


def test_unknown_event_types_are_stored_and_acknowledged(payment):
    answer = deliver(event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert (answer.status_code, answer.json()["status"]) == (200, "processed")
    assert WebhookEvent.objects.get().type == "customer.created"


# --- refunds ---------------------------------------------------------------------------


def test_charge_refunded_after_completion_reverses_the_grant(payment, assert_ledger_matches):
    deliver(event("checkout.session.completed", session(payment)))
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")

    answer = deliver(event("charge.refunded", charge(payment, metadata={})))

    assert answer.status_code == 200
    assert state(payment) == ("refunded", 10_000, 10_000, "free")
    assert payment.refunded_at is not None
    assert_ledger_matches(payment)
    assert LedgerEntry.objects.filter(user_id=payment.user_id, kind="refund").count() == 1


def test_a_partial_refund_is_flagged_not_reversed(payment):
    deliver(event("checkout.session.completed", session(payment)))
    deliver(event("charge.refunded", charge(payment, refunded=False, amount_refunded=1000)))
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert payment.needs_review
    assert "partially refunded" in payment.reason


UNKNOWN_OBJECTS = {
    "a charge of no payment": lambda payment: event(
        "charge.refunded", charge(payment, payment_intent="pi_other", metadata={})
    ),
    "a charge naming no payment": lambda payment: event(
        "charge.refunded", charge(payment, payment_intent="pi_other", metadata={"payment_id": "9"})
    ),
    "an invoice of no subscription": lambda payment: event(
        "invoice.paid", invoice("subscription_cycle", subscription="sub_other")
    ),
    "a session naming no payment": lambda payment: event(
        "checkout.session.completed",
        session(payment, client_reference_id="999999", metadata={"payment_id": "999999"}),
    ),
}


@pytest.mark.parametrize("unknown", UNKNOWN_OBJECTS)
def test_an_event_about_an_object_volx_does_not_know_is_acknowledged_and_ignored(payment, unknown):
    """Answered 500, Stripe would deliver it for days and then disable the endpoint."""
    before = state(payment)
    payload = UNKNOWN_OBJECTS[unknown](payment)

    answers = [deliver(payload), deliver(payload)]

    assert [(a.status_code, a.json()["status"]) for a in answers] == [(200, "ignored")] * 2
    stored = WebhookEvent.objects.get()
    assert stored.error.startswith(IGNORED) and "no payment" in stored.error
    assert stored.processed_at is None
    assert state(payment) == before
    assert LedgerEntry.objects.filter(user_id=payment.user_id).count() == 1


def test_an_ignored_refund_delivered_again_once_its_payment_is_known_reverses_it(payment):
    refund = event("charge.refunded", charge(payment, metadata={}))
    assert deliver(refund).json()["status"] == "ignored"

    deliver(event("checkout.session.completed", session(payment)))
    again = deliver(refund)  # sent again by hand, from Stripe's dashboard

    assert (again.status_code, again.json()["status"]) == (200, "processed")
    stored = WebhookEvent.objects.get(type="charge.refunded")
    assert stored.processed_at is not None and stored.error == ""
    assert state(payment) == ("refunded", 10_000, 10_000, "free")


EVENTS = ["completed", "invoice.paid", "refunded"]


@pytest.mark.parametrize("order", list(itertools.permutations(EVENTS)), ids="→".join)
def test_every_order_of_completion_invoice_and_refund_ends_the_same(
    payment, order, assert_ledger_matches
):
    payloads = {
        "completed": event(
            "checkout.session.completed", session(payment, subscription="sub_volx1")
        ),
        "invoice.paid": event("invoice.paid", invoice("subscription_create")),
        "refunded": event("charge.refunded", charge(payment)),
    }

    answers = [deliver(payloads[name]) for name in order]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert state(payment) == ("refunded", 10_000, 10_000, "free")
    assert (payment.provider_transaction_id, payment.provider_subscription_id) == (
        "pi_volx1",
        "sub_volx1",
    )
    assert not payment.needs_review
    subscription = payment.user.subscription
    assert (subscription.auto_renew, subscription.expires_at) == (False, None)
    assert WebhookEvent.objects.filter(processed_at__isnull=False, error="").count() == 3
    assert_ledger_matches(payment)


# --- subscriptions ---------------------------------------------------------------------


def test_invoice_paid_for_a_new_period_renews_once(payment, assert_ledger_matches):
    deliver(event("checkout.session.completed", session(payment, subscription="sub_volx1")))
    payment.user.subscription.refresh_from_db()
    first_period_ends = payment.user.subscription.expires_at
    assert payment.user.subscription.auto_renew is True

    cycle = event("invoice.paid", invoice("subscription_cycle", "in_volx2"))
    # The same invoice in the newer API shape, under another event id.
    newer = event(
        "invoice.paid",
        invoice(
            "subscription_cycle",
            "in_volx2",
            subscription=None,
            parent={"subscription_details": {"subscription": "sub_volx1"}},
        ),
    )
    answers = [deliver(cycle), deliver(cycle), deliver(newer)]

    assert [a.json()["status"] for a in answers] == ["processed", "duplicate", "processed"]
    assert state(payment) == ("approved", 4_010_000, 4_010_000, "professional")
    subscription = payment.user.subscription
    assert subscription.expires_at == first_period_ends + timedelta(days=30)
    assert (
        LedgerEntry.objects.filter(
            user_id=payment.user_id, idempotency_key="stripe-invoice:in_volx2"
        ).count()
        == 1
    )
    assert_ledger_matches(payment)


def test_invoice_paid_after_a_refund_renews_nothing(payment):
    deliver(event("checkout.session.completed", session(payment, subscription="sub_volx1")))
    deliver(event("charge.refunded", charge(payment)))

    answer = deliver(event("invoice.paid", invoice("subscription_cycle", "in_volx3")))

    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")
    assert "no longer the one payment" in WebhookEvent.objects.get(type="invoice.paid").error
    assert state(payment) == ("refunded", 10_000, 10_000, "free")


def test_subscription_deleted_turns_auto_renew_off(payment):
    deliver(event("checkout.session.completed", session(payment, subscription="sub_volx1")))
    payment.user.subscription.refresh_from_db()
    assert payment.user.subscription.auto_renew is True

    answer = deliver(
        event("customer.subscription.deleted", {"id": "sub_volx1", "object": "subscription"})
    )

    assert answer.status_code == 200
    payment.user.subscription.refresh_from_db()
    assert payment.user.subscription.auto_renew is False
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")


NOT_A_PAID_CYCLE = {
    "a 1-cent EUR proration": {
        "billing_reason": "subscription_update",
        "amount_paid": 1,
        "currency": "eur",
    },
    "a proration of the right amount": {"billing_reason": "subscription_update"},
    "a manual invoice": {"billing_reason": "manual"},
    "a usage threshold": {"billing_reason": "subscription_threshold"},
    "no billing reason": {"billing_reason": None},
    "a cycle of 1 cent": {"amount_paid": 1},
    "a cycle in another currency": {"currency": "eur"},
    "a cycle of the annual price": {"amount_paid": 50000},
}


@pytest.mark.parametrize("case", NOT_A_PAID_CYCLE)
def test_an_invoice_that_is_not_the_plans_price_for_a_cycle_grants_nothing_and_needs_review(
    payment, case, assert_ledger_matches
):
    """The red team's 1-cent EUR proration added 400,000 tokens: a renewal grants a period
    only for a subscription_cycle invoice of the price the plan was bought at."""
    deliver(event("checkout.session.completed", session(payment, subscription="sub_volx1")))
    payment.user.subscription.refresh_from_db()
    period_ends = payment.user.subscription.expires_at

    fields = invoice("subscription_cycle", "in_volx9") | NOT_A_PAID_CYCLE[case]
    answers = [deliver(event("invoice.paid", fields)) for _ in range(2)]

    assert [(a.status_code, a.json()["status"]) for a in answers] == [
        (200, "processed"),
        (200, "processed"),
    ]  # acknowledged: Stripe stops delivering it
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert payment.user.subscription.expires_at == period_ends
    assert payment.needs_review
    assert "in_volx9" in payment.reason
    assert not LedgerEntry.objects.filter(idempotency_key="stripe-invoice:in_volx9").exists()
    assert_ledger_matches(payment)


def test_the_invoice_that_created_the_subscription_grants_nothing_more(payment, grants_for):
    """subscription_create pays the first period, which the checkout already granted."""
    deliver(event("checkout.session.completed", session(payment, subscription="sub_volx1")))

    answer = deliver(event("invoice.paid", invoice("subscription_create", "in_volx0")))

    assert (answer.status_code, answer.json()["status"]) == (200, "processed")
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert not payment.needs_review
    assert grants_for(payment) == 1


def test_refunding_a_checkout_a_later_one_extended_takes_back_its_allowance_and_period(
    payment, assert_ledger_matches
):
    deliver(event("checkout.session.completed", session(payment)))
    again = PaymentFactory(user=payment.user, method=Payment.Method.STRIPE)
    deliver(event("checkout.session.completed", session(again, payment_intent="pi_volx2")))
    assert state(again) == ("approved", 4_010_000, 4_010_000, "professional")
    ends = again.user.subscription.expires_at

    answer = deliver(event("charge.refunded", charge(payment)))  # the first one's charge

    assert answer.status_code == 200
    assert state(payment) == ("refunded", 2_010_000, 2_010_000, "professional")
    assert payment.user.subscription.expires_at == ends - timedelta(days=30)
    assert_ledger_matches(payment)


def test_a_refunded_charge_in_another_currency_is_flagged_not_reversed(payment):
    deliver(event("checkout.session.completed", session(payment)))

    answer = deliver(event("charge.refunded", charge(payment, currency="eur")))

    assert (answer.status_code, answer.json()["status"]) == (200, "processed")
    assert state(payment) == ("approved", 2_010_000, 2_010_000, "professional")
    assert payment.needs_review
    assert "50.00 EUR, expected 50.00 USD" in payment.reason


def test_refunding_the_first_charge_of_a_renewed_subscription_keeps_the_renewal(
    payment, assert_ledger_matches
):
    """The renewal's period was paid by its own invoice: the refund takes back the first
    period only, and the allowance follows the wallet."""
    deliver(event("checkout.session.completed", session(payment, subscription="sub_volx1")))
    deliver(event("invoice.paid", invoice("subscription_cycle", "in_volx2")))
    assert state(payment) == ("approved", 4_010_000, 4_010_000, "professional")
    ends = payment.user.subscription.expires_at

    deliver(event("charge.refunded", charge(payment)))

    assert state(payment) == ("refunded", 2_010_000, 2_010_000, "professional")
    assert payment.user.subscription.expires_at == ends - timedelta(days=30)
    assert_ledger_matches(payment)

    deliver(event("invoice.paid", invoice("subscription_cycle", "in_volx3")))  # still billed

    assert state(payment) == ("refunded", 4_010_000, 4_010_000, "professional")


def test_an_event_whose_database_is_gone_is_503_and_delivered_again(
    payment, fake_stripe, monkeypatch, grants_for
):
    """Not a 500 with the error recorded on the event (which would fail too): a 503 with
    Retry-After, and the provider's next delivery processes it."""
    payload = event("checkout.session.completed", session(payment))
    real_process = stripe_gateway.process_event

    def gone(event):
        raise OperationalError(2013, "Lost connection to server during query")

    monkeypatch.setattr(stripe_gateway, "process_event", gone)
    client = Client(raise_request_exception=False)
    first = deliver(payload, client=client)
    monkeypatch.setattr(stripe_gateway, "process_event", real_process)
    second = deliver(payload, client=client)

    assert (first.status_code, first["Retry-After"]) == (503, "5")
    assert (second.status_code, second.json()["status"]) == (200, "processed")
    assert grants_for(payment) == 1
