import json
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from payments.gateways import GatewayError
from payments.gateways import paypal as paypal_gateway
from payments.models import Payment, WebhookEvent
from payments.tests.factories import PaymentFactory
from payments.tests.fakes import SITE_URL
from payments.webhooks import IGNORED

WEBHOOK = "/api/payments/paypal/webhook"
CERT_URL = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"


@pytest.fixture
def payment(db, fake_paypal):
    return PaymentFactory(method=Payment.Method.PAYPAL)


@pytest.fixture
def started(payment):
    """A payment whose PayPal payment exists on the fake (the buyer is at PayPal)."""
    paypal_gateway.start_checkout(payment)
    payment.refresh_from_db()
    return payment


@pytest.fixture
def buyer(started) -> Client:
    client = Client()
    client.force_login(started.user)
    return client


def state(payment: Payment) -> tuple:
    payment.refresh_from_db()
    user = payment.user
    user.refresh_from_db()
    user.subscription.refresh_from_db()
    return (
        payment.status,
        user.tokens_remaining,
        user.subscription.tokens_limit,
        user.subscription.plan_type,
    )


def return_url(payment: Payment, payer_id: str = "BUYER42", paypal_id: str | None = None) -> str:
    paypal_id = payment.provider_reference if paypal_id is None else paypal_id
    return f"/payments/paypal/return?payment={payment.pk}&paymentId={paypal_id}&PayerID={payer_id}"


# --- checkout and return ---------------------------------------------------------------


def test_start_checkout_creates_the_payment_on_paypal(payment, fake_paypal):
    url = paypal_gateway.start_checkout(payment)

    assert fake_paypal.routes() == ["POST /v1/oauth2/token", "POST /v1/payments/payment"]
    created = fake_paypal.requests[1].json()
    assert created["intent"] == "sale"
    assert created["payer"] == {"payment_method": "paypal"}
    assert created["transactions"][0]["amount"] == {"total": "50.00", "currency": "USD"}
    assert created["transactions"][0]["invoice_number"] == payment.reference_code
    assert created["redirect_urls"] == {
        "return_url": f"{SITE_URL}/payments/paypal/return?payment={payment.pk}",
        "cancel_url": f"{SITE_URL}/payments/paypal/cancel?payment={payment.pk}",
    }
    paypal_id = next(iter(fake_paypal.payments))
    payment.refresh_from_db()
    assert url.startswith("https://www.sandbox.paypal.com/checkoutnow?token=EC-FAKE")
    assert (payment.provider_reference, payment.checkout_url) == (paypal_id, url)
    assert state(payment) == ("pending", 10_000, 10_000, "free")


def test_start_checkout_raises_gateway_error_when_paypal_refuses(payment, fake_paypal):
    fake_paypal.fail_with = (500, {"name": "INTERNAL_SERVICE_ERROR"})
    with pytest.raises(GatewayError):
        paypal_gateway.start_checkout(payment)
    fake_paypal.fail_with = (400, {"name": "VALIDATION_ERROR", "message": "Invalid request"})
    with pytest.raises(GatewayError, match="VALIDATION_ERROR"):
        paypal_gateway.start_checkout(payment)
    payment.refresh_from_db()
    assert (payment.provider_reference, payment.checkout_url) == ("", "")


def test_upgrade_plan_answers_with_the_paypal_approval_url(user, client_for, fake_paypal):
    answer = client_for(user).post(
        "/api/auth/upgrade-plan",
        {"plan": "professional", "billing_cycle": "monthly", "payment_method": "paypal"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    payment = Payment.objects.get(pk=answer.json()["payment"]["id"])
    assert answer.json()["checkout_url"] == payment.checkout_url
    assert payment.checkout_url.startswith("https://www.sandbox.paypal.com/checkoutnow")


def test_return_executes_and_grants_once(
    started, buyer, fake_paypal, assert_ledger_matches, grants_for
):
    fake_paypal.requests.clear()

    first = buyer.get(return_url(started))
    second = buyer.get(return_url(started))  # a reload of the return page

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/payments/?paid={started.pk}"
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert grants_for(started) == 1
    sale = fake_paypal.payments[started.provider_reference]["transactions"][0]
    assert started.provider_transaction_id == sale["related_resources"][0]["sale"]["id"]
    execute = f"POST /v1/payments/payment/{started.provider_reference}/execute"
    assert fake_paypal.routes().count(execute) == 1
    assert fake_paypal.requests[-1].json() == {"payer_id": "BUYER42"}
    assert_ledger_matches(started)


def test_return_after_an_earlier_execution_reads_the_result(started, buyer, fake_paypal):
    # Executed at PayPal, but the first return's answer was lost before the confirmation.
    fake_paypal.execute(fake_paypal.payments[started.provider_reference], {"payer_id": "B"})

    answer = buyer.get(return_url(started))

    assert answer["Location"] == f"/payments/?paid={started.pk}"
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert not any(route.endswith("/execute") for route in fake_paypal.routes())


def test_amount_mismatch_on_execute_grants_nothing_and_needs_review(
    started, buyer, fake_paypal, grants_for
):
    transaction = fake_paypal.payments[started.provider_reference]["transactions"][0]
    transaction["amount"] = {"total": "1.00", "currency": "USD"}

    answer = buyer.get(return_url(started))

    assert answer["Location"] == f"/payments/?paid={started.pk}"
    assert state(started) == ("pending", 10_000, 10_000, "free")
    assert started.needs_review
    assert "PayPal reported 1.00 USD, expected 50.00 USD" in started.reason
    assert grants_for(started) == 0


def test_a_paypal_error_on_return_leaves_the_payment_pending(started, buyer, fake_paypal):
    fake_paypal.fail_with = (500, {"name": "INTERNAL_SERVICE_ERROR"})

    answer = buyer.get(return_url(started))

    assert answer["Location"] == f"/payments/?paid={started.pk}&error=paypal"
    assert state(started) == ("pending", 10_000, 10_000, "free")
    assert not started.needs_review


def test_return_with_another_paypal_payment_id_executes_nothing(started, buyer, fake_paypal):
    fake_paypal.requests.clear()

    answer = buyer.get(return_url(started, paypal_id="PAYID-SOMEONE-ELSES"))

    assert answer["Location"] == f"/payments/?paid={started.pk}&error=paypal"
    assert fake_paypal.requests == []
    assert state(started) == ("pending", 10_000, 10_000, "free")


def test_return_needs_a_login(started, fake_paypal):
    url = return_url(started)
    answer = Client().get(url)
    assert answer.status_code == 302
    assert answer["Location"] == f"/login/?next={quote(url, safe='/')}"
    assert state(started) == ("pending", 10_000, 10_000, "free")


def test_return_for_another_users_payment_is_404(started, fake_paypal):
    fake_paypal.requests.clear()
    stranger = Client()
    stranger.force_login(UserFactory())

    assert stranger.get(return_url(started)).status_code == 404
    assert stranger.get(f"/payments/paypal/cancel?payment={started.pk}").status_code == 404
    assert fake_paypal.requests == []
    assert state(started) == ("pending", 10_000, 10_000, "free")


def checkout_token(payment: Payment) -> str:
    """The token PayPal put in the approval URL, which it adds to the cancel URL too."""
    return parse_qs(urlsplit(payment.checkout_url).query)["token"][0]


def test_cancel_cancels_the_pending_payment(started, buyer):
    token = checkout_token(started)
    assert token.startswith("EC-FAKE")
    answer = buyer.get(f"/payments/paypal/cancel?payment={started.pk}&token={token}")

    assert answer.status_code == 302
    assert answer["Location"] == f"/payments/{started.pk}/cancelled/"
    assert state(started) == ("cancelled", 10_000, 10_000, "free")
    # Coming back through return_url afterwards takes no money.
    assert buyer.get(return_url(started))["Location"] == f"/payments/?paid={started.pk}"
    assert state(started) == ("cancelled", 10_000, 10_000, "free")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "&token=",
        "&token=EC-SOMEONE-ELSES",
        "&token=EC-FAKE",
        "&token={token}x",
        "&TOKEN={token}",
        "&token=%C3%A9",
    ],
)
def test_a_cancel_link_without_paypals_token_cancels_nothing(started, buyer, query):
    """A link on any site could cancel a buyer's pending payment by its id alone."""
    url = f"/payments/paypal/cancel?payment={started.pk}" + query.format(
        token=checkout_token(started)
    )

    answer = buyer.get(url)

    assert answer.status_code == 400
    assert started.reference_code in answer.content.decode()
    assert "was not cancelled" in answer.content.decode()
    assert state(started) == ("pending", 10_000, 10_000, "free")


def test_the_refused_cancel_page_is_in_vietnamese_too(started, buyer, settings):
    buyer.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"
    answer = buyer.get(f"/payments/paypal/cancel?payment={started.pk}")
    assert answer.status_code == 400
    assert f"thanh toán {started.reference_code} chưa bị hủy" in answer.content.decode()


def test_a_cancel_link_for_a_payment_paypal_never_opened_cancels_nothing(payment, fake_paypal):
    buyer = Client()
    buyer.force_login(payment.user)
    answer = buyer.get(f"/payments/paypal/cancel?payment={payment.pk}&token=")
    assert answer.status_code == 400
    assert state(payment) == ("pending", 10_000, 10_000, "free")


# --- webhooks --------------------------------------------------------------------------


def headers(cert_url: str = CERT_URL, **overrides) -> dict:
    values = {
        "HTTP_PAYPAL_TRANSMISSION_ID": str(uuid.uuid4()),
        "HTTP_PAYPAL_TRANSMISSION_TIME": "2025-11-20T10:00:00Z",
        "HTTP_PAYPAL_TRANSMISSION_SIG": "bm90IGEgcmVhbCBzaWduYXR1cmU=",
        "HTTP_PAYPAL_CERT_URL": cert_url,
        "HTTP_PAYPAL_AUTH_ALGO": "SHA256withRSA",
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def webhook_event(event_type: str, resource: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"WH-{uuid.uuid4().hex[:20].upper()}",
        "event_version": "1.0",
        "create_time": "2025-11-20T10:00:00Z",
        "resource_type": "sale" if event_type == "PAYMENT.SALE.COMPLETED" else "refund",
        "event_type": event_type,
        "summary": event_type,
        "resource": resource,
    }


def sale(payment: Payment, total: str = "50.00", sale_id: str = "SALE-WEBHOOK1") -> dict:
    return {
        "id": sale_id,
        "state": "completed",
        "amount": {"total": total, "currency": "USD"},
        "parent_payment": payment.provider_reference,
    }


def refund(payment: Payment, total: str = "-50.00", sale_id: str = "SALE-WEBHOOK1") -> dict:
    return {
        "id": "REFUND-1",
        "state": "completed",
        "amount": {"total": total, "currency": "USD"},
        "sale_id": sale_id,
        "parent_payment": payment.provider_reference,
    }


def post(event: dict, **header_values):
    return Client().post(
        WEBHOOK, json.dumps(event), content_type="application/json", **header_values
    )


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example/cert.pem",
        "https://paypal.com.evil.example/x",
        "https://evilpaypal.com/cert.pem",
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@evil.example/cert.pem",
        "https://api.paypal.com:8443/cert.pem",
        "https://evil.example\\@api.paypal.com/cert.pem",
        "ftp://api.paypal.com/cert.pem",
        "not a url",
    ],
)
def test_a_certificate_url_off_paypal_is_refused_without_any_outbound_call(
    started, fake_paypal, network_guard, cert_url
):
    fake_paypal.requests.clear()

    answer = post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers(cert_url))

    assert answer.status_code == 400
    assert "PAYPAL-CERT-URL" in answer.json()["error"]
    assert fake_paypal.requests == []
    assert network_guard.blocked == []
    assert WebhookEvent.objects.count() == 0
    assert state(started) == ("pending", 10_000, 10_000, "free")


@pytest.mark.parametrize(
    "missing",
    [
        "HTTP_PAYPAL_TRANSMISSION_ID",
        "HTTP_PAYPAL_TRANSMISSION_TIME",
        "HTTP_PAYPAL_TRANSMISSION_SIG",
        "HTTP_PAYPAL_CERT_URL",
        "HTTP_PAYPAL_AUTH_ALGO",
    ],
)
def test_a_missing_signature_header_is_refused_without_any_outbound_call(
    started, fake_paypal, missing
):
    fake_paypal.requests.clear()

    answer = post(
        webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers(**{missing: None})
    )

    assert answer.status_code == 400
    assert fake_paypal.requests == []
    assert WebhookEvent.objects.count() == 0


def test_a_signature_paypal_does_not_verify_is_refused(started, fake_paypal):
    fake_paypal.requests.clear()
    fake_paypal.verification_status = "FAILURE"
    event = webhook_event("PAYMENT.SALE.COMPLETED", sale(started))
    sent_headers = headers()

    answer = post(event, **sent_headers)

    assert answer.status_code == 400
    assert "FAILURE" in answer.json()["error"]
    # The checkout's token (started) is kept: no second token request.
    assert fake_paypal.routes() == ["POST /v1/notifications/verify-webhook-signature"]
    assert fake_paypal.requests[0].json() == {
        "auth_algo": "SHA256withRSA",
        "cert_url": CERT_URL,
        "transmission_id": sent_headers["HTTP_PAYPAL_TRANSMISSION_ID"],
        "transmission_sig": sent_headers["HTTP_PAYPAL_TRANSMISSION_SIG"],
        "transmission_time": "2025-11-20T10:00:00Z",
        "webhook_id": "WH-VOLX-TEST",
        "webhook_event": event,
    }
    assert WebhookEvent.objects.count() == 0
    assert state(started) == ("pending", 10_000, 10_000, "free")


def test_verification_unavailable_answers_502_so_paypal_retries(started, fake_paypal):
    fake_paypal.fail_with = (503, {"name": "SERVICE_UNAVAILABLE"})
    answer = post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())
    assert answer.status_code == 502
    assert WebhookEvent.objects.count() == 0
    assert state(started) == ("pending", 10_000, 10_000, "free")


@pytest.mark.parametrize("missing", ["PAYPAL_WEBHOOK_ID", "PAYPAL_CLIENT_SECRET"])
def test_not_configured_answers_503_naming_the_setting(started, fake_paypal, settings, missing):
    fake_paypal.requests.clear()
    setattr(settings, missing, "")
    answer = post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())
    assert answer.status_code == 503
    assert answer.json()["missing_settings"] == [missing]
    assert missing in answer.json()["error"]
    assert fake_paypal.requests == []


def test_sale_completed_twice_grants_once(started, fake_paypal, assert_ledger_matches, grants_for):
    event = webhook_event("PAYMENT.SALE.COMPLETED", sale(started))

    answers = [post(event, **headers()), post(event, **headers())]

    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["status"] for a in answers] == ["processed", "duplicate"]
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert started.provider_transaction_id == "SALE-WEBHOOK1"
    assert grants_for(started) == 1
    stored = WebhookEvent.objects.get()
    assert (stored.provider, stored.type) == ("paypal", "PAYMENT.SALE.COMPLETED")
    assert stored.processed_at is not None
    assert_ledger_matches(started)


def test_sale_completed_after_the_return_grants_nothing_more(
    started, buyer, fake_paypal, grants_for
):
    buyer.get(return_url(started))
    started.refresh_from_db()
    event = webhook_event(
        "PAYMENT.SALE.COMPLETED", sale(started, sale_id=started.provider_transaction_id)
    )

    assert post(event, **headers()).status_code == 200
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert grants_for(started) == 1


def test_sale_completed_with_another_amount_grants_nothing(started, fake_paypal):
    post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started, total="5.00")), **headers())
    assert state(started) == ("pending", 10_000, 10_000, "free")
    assert started.needs_review


def test_sale_for_an_unknown_payment_is_acknowledged_and_ignored(started, fake_paypal):
    """Answered 500, PayPal would deliver it again and again for nothing."""
    orphan = sale(started) | {"parent_payment": "PAYID-UNKNOWN"}
    answer = post(webhook_event("PAYMENT.SALE.COMPLETED", orphan), **headers())
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")
    stored = WebhookEvent.objects.get()
    assert (
        stored.error == f"{IGNORED}no payment for PayPal payment PAYID-UNKNOWN (sale SALE-WEBHOOK1)"
    )
    assert state(started) == ("pending", 10_000, 10_000, "free")


def test_sale_refunded_reverses_the_grant(started, fake_paypal, assert_ledger_matches):
    post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")

    answer = post(webhook_event("PAYMENT.SALE.REFUNDED", refund(started)), **headers())

    assert answer.status_code == 200
    assert state(started) == ("refunded", 10_000, 10_000, "free")
    assert_ledger_matches(started)


def test_a_refund_before_the_sale_completed_ends_the_same(started, fake_paypal, grants_for):
    post(webhook_event("PAYMENT.SALE.REFUNDED", refund(started)), **headers())
    post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())

    assert state(started) == ("refunded", 10_000, 10_000, "free")
    assert started.provider_transaction_id == "SALE-WEBHOOK1"
    assert not started.needs_review
    assert grants_for(started) == 0


def test_a_partial_refund_is_flagged_not_reversed(started, fake_paypal):
    post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())
    post(webhook_event("PAYMENT.SALE.REFUNDED", refund(started, total="-10.00")), **headers())
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert started.needs_review


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://api.paypal.com/v1/notifications/certs/CERT-1", True),
        ("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1", True),
        ("https://paypal.com/cert.pem", True),
        ("https://API.PayPal.com/cert.pem", True),
        ("https://paypal.com.evil.example/x", False),
        ("https://evilpaypal.com/x", False),
        ("https://api.paypal.com./x", False),
        ("http://paypal.com/x", False),
        ("", False),
    ],
)
def test_is_paypal_url(url, expected):
    assert paypal_gateway.is_paypal_url(url) is expected


def test_refunding_a_sale_a_later_one_extended_takes_back_its_allowance_and_period(
    started, fake_paypal, assert_ledger_matches
):
    post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())
    again = PaymentFactory(user=started.user, method=Payment.Method.PAYPAL)
    paypal_gateway.start_checkout(again)
    again.refresh_from_db()
    post(webhook_event("PAYMENT.SALE.COMPLETED", sale(again, sale_id="SALE-2")), **headers())
    assert state(again) == ("approved", 4_010_000, 4_010_000, "professional")
    ends = again.user.subscription.expires_at

    answer = post(webhook_event("PAYMENT.SALE.REFUNDED", refund(started)), **headers())

    assert answer.status_code == 200
    assert state(started) == ("refunded", 2_010_000, 2_010_000, "professional")
    assert started.user.subscription.expires_at == ends - timedelta(days=30)
    assert_ledger_matches(started)


@pytest.mark.parametrize(
    "amount", [{"total": "-50.00", "currency": "EUR"}, {"total": "-50.00", "currency": "JPY"}]
)
def test_a_refund_in_another_currency_is_flagged_not_reversed(
    started, fake_paypal, amount, assert_ledger_matches
):
    post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())

    answer = post(
        webhook_event("PAYMENT.SALE.REFUNDED", refund(started) | {"amount": amount}), **headers()
    )

    assert (answer.status_code, answer.json()["status"]) == (200, "processed")
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert started.needs_review
    assert f"50.00 {amount['currency']}, expected 50.00 USD" in started.reason
    assert_ledger_matches(started)


# --- the OAuth token -------------------------------------------------------------------


def test_one_oauth_token_serves_every_webhook_forged_or_not(started, fake_paypal):
    """PayPal rate-limits token requests: a new one per webhook let anyone posting forged
    webhooks get Volx's own calls refused."""
    assert fake_paypal.token_requests() == 1  # the checkout's
    fake_paypal.verification_status = "FAILURE"
    forged = [
        post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers()) for _ in range(5)
    ]
    fake_paypal.verification_status = "SUCCESS"
    verified = post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())

    assert [answer.status_code for answer in forged] == [400] * 5
    assert verified.status_code == 200
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert fake_paypal.routes().count("POST /v1/notifications/verify-webhook-signature") == 6
    assert fake_paypal.token_requests() == 1
    sent = [r.headers["authorization"] for r in fake_paypal.requests if "oauth2" not in r.path]
    assert set(sent) == {f"Bearer {fake_paypal.TOKEN}"}


def test_a_token_is_renewed_shortly_before_it_expires(payment, fake_paypal):
    """Not at the second PayPal expires it: a request sent with it could arrive too late."""
    fake_paypal.token_lifetime = paypal_gateway.TOKEN_RENEWAL_MARGIN  # expires "shortly"

    for _ in range(3):
        post(webhook_event("PAYMENT.SALE.COMPLETED", sale(payment)), **headers())

    assert fake_paypal.token_requests() == 3


def test_a_token_paypal_no_longer_accepts_is_replaced(started, fake_paypal):
    """PayPal may revoke a token before its time: the SDK asks for a new one on the 401."""
    fake_paypal.TOKEN = "A21AAfake-token-2"  # the cached one is refused from now on

    answer = post(webhook_event("PAYMENT.SALE.COMPLETED", sale(started)), **headers())

    assert answer.status_code == 200
    assert state(started) == ("approved", 2_010_000, 2_010_000, "professional")
    assert fake_paypal.token_requests() == 2
