"""Fuzzing the API from its own OpenAPI schema (schemathesis): whatever a client sends to
any operation, the answer is never a server error. The webhooks are not in the schema
(they are signed provider events, not API operations), so they get their own fuzz test:
an unverifiable delivery is a 400, never a 500."""

import pytest
import schemathesis
from django.test import Client
from django.test.client import ClientHandler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error

from accounts.tests.factories import AdminFactory
from articles.tests.factories import ArticleFactory
from payments.tests.factories import PaymentFactory
from payments.tests.fakes import SITE_URL, FakePayPal, FakeStripe
from tokens.models import LedgerEntry
from tokens.wallet import Wallet

# Bounded so that the module stays within a few minutes on SQLite and on MariaDB.
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))


HANDLER = ClientHandler(enforce_csrf_checks=True)


def application(environ, start_response):
    """The project as a WSGI app that runs inside the test's transaction: Django's test
    client handler, which, unlike volx.wsgi's, does not close the database connection
    at the start and end of each request."""
    response = HANDLER(environ)
    start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
    return [response.content]


schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def providers(settings):
    """Every payment method configured, Stripe and PayPal as local fakes: upgrade-plan and
    the webhooks run their real code instead of answering 503."""
    stripe, paypal = FakeStripe().start(), FakePayPal().start()
    settings.SITE_URL = SITE_URL
    settings.BANK_TRANSFER_BANK_NAME = "Volx Test Bank"
    settings.BANK_TRANSFER_ACCOUNT_NAME = "Volx Ltd"
    settings.BANK_TRANSFER_ACCOUNT_NUMBER = "0123456789"
    settings.STRIPE_SECRET_KEY = "sk_test_volx"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_volx"
    settings.STRIPE_API_BASE = stripe.url
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = FakePayPal.CLIENT
    settings.PAYPAL_WEBHOOK_ID = "WH-VOLX-TEST"
    settings.PAYPAL_API_BASE = paypal.url
    yield
    stripe.stop()
    paypal.stop()


@pytest.fixture
def authorization(db, providers):
    """A real JWT of an admin (so the admin operations run too) with a large balance, and
    objects of theirs for the id-taking operations to find."""
    caller = AdminFactory()
    Wallet(caller).credit(100_000_000, kind=LedgerEntry.Kind.BONUS, reference="fuzzing")
    for _ in range(3):
        ArticleFactory(user=caller)
        PaymentFactory(user=caller)
    return {"Authorization": f"Bearer {RefreshToken.for_user(caller).access_token}"}


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_no_operation_answers_a_server_error(case, authorization):
    case.call_and_validate(headers=authorization, checks=[not_a_server_error])


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
STRIPE_SIGNATURES = st.one_of(
    st.none(),
    HEADER_TEXT,
    st.builds("t={},v1={}".format, st.integers(), st.text("0123456789abcdef", max_size=64)),
)
PAYPAL_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "PAYPAL-AUTH-ALGO",
            "PAYPAL-CERT-URL",
            "PAYPAL-TRANSMISSION-ID",
            "PAYPAL-TRANSMISSION-SIG",
            "PAYPAL-TRANSMISSION-TIME",
        ]
    ),
    HEADER_TEXT,
)
BODIES = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode))


@pytest.mark.django_db
@FUZZ
@given(body=BODIES, signature=STRIPE_SIGNATURES)
def test_an_unverifiable_stripe_delivery_is_refused_not_a_server_error(providers, body, signature):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    response = Client().post(
        "/api/payments/stripe/webhook", body, content_type="application/json", **headers
    )
    assert response.status_code == 400, response.content


@pytest.mark.django_db
@FUZZ
@given(body=BODIES, headers=PAYPAL_HEADERS)
def test_an_unverifiable_paypal_delivery_is_refused_not_a_server_error(providers, body, headers):
    meta = {"HTTP_" + name.replace("-", "_"): value for name, value in headers.items()}
    response = Client().post(
        "/api/payments/paypal/webhook", body, content_type="application/json", **meta
    )
    assert response.status_code == 400, response.content
