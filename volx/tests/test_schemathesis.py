"""Fuzzing the API from its own OpenAPI schema (schemathesis): whatever a client sends to
any operation, the answer is never a server error. The webhooks are not in the schema
(they are signed provider events, not API operations), so they get their own fuzz test:
an unverifiable delivery is a 400, never a 500."""

import json
import re
from datetime import date
from urllib.parse import quote_from_bytes

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
    # A streamed AI action ("stream": true) is read to its end, as a WSGI server would.
    return [b"".join(response) if response.streaming else response.content]


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
    for plan in ("starter", "grow", "professional"):  # one pending payment per plan
        ArticleFactory(user=caller)
        PaymentFactory(user=caller, plan=plan)
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


# --- beyond schemathesis's defaults ---------------------------------------------------
# Schemathesis sends what the schema describes, so it never tries a body nested 5,000
# deep, an integer of 400 digits, bytes that are not UTF-8, a lone surrogate, a day at the
# end of the calendar, or odd headers. These send them to every route under /api/ (and
# the usage pages, which take dates) as a signed-in admin, who may reach every route.

FIELDS = [
    "text", "article_id", "stream", "tokens", "reason", "login", "password", "refresh",
    "email", "username", "full_name", "bio", "avatar_url", "title", "content", "status",
    "plan", "billing_cycle", "payment_method",
]  # fmt: skip
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
UNUSUAL_DAYS = st.dates().map(date.isoformat) | st.sampled_from(
    ["0000-00-00", "9999-12-31", "0001-01-01", "2024-02-30", "2024-13-01", "99999-01-01"]
)


def _as_json(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN, Infinity too


def _nested(depth: int, wrap: str) -> bytes:
    opening, closing = {"list": ("[", "]"), "object": ('{"text":', "}")}[wrap]
    return (opening * depth + ("1" if wrap == "object" else "") + closing * depth).encode()


HOSTILE_BODIES = st.one_of(
    JSON_VALUES.map(_as_json),
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, JSON_VALUES)).map(_as_json),
    st.builds(_nested, st.integers(1, 6_000), st.sampled_from(["list", "object"])),
    st.integers(min_value=2**31 - 10, max_value=10**400).map(
        lambda n: _as_json(dict.fromkeys(["tokens", "article_id", "amount", "text"], n))
    ),
    st.text(alphabet="0123456789", min_size=4_000, max_size=6_000).map(
        lambda digits: f'{{"tokens": {digits}}}'.encode()
    ),
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(FIELDS), st.binary(max_size=20), max_size=4).map(
        lambda fields: "&".join(f"{k}={quote_from_bytes(v)}" for k, v in fields.items()).encode()
    ),
    st.builds(
        lambda field, code: f'{{"{field}": "\\u{code:04x}"}}'.encode(),
        st.sampled_from(FIELDS),
        st.integers(0xD800, 0xDFFF),
    ),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "application/json; charset=nonsense",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=volx",
        "multipart/form-data",
        "text/plain",
        "",
        "application/json; " + "a=b; " * 200,
    ]
)
# Header bytes reach Django decoded as Latin-1 (WSGI, and Django's ASGI handler alike).
ODD_HEADER = st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=300)
HOSTILE_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_IDEMPOTENCY_KEY": ODD_HEADER | st.text(min_size=250, max_size=300),
        "HTTP_ACCEPT": ODD_HEADER
        | st.sampled_from(["text/html", "application/xml", "*/*;q=nan", "application/json;q=2"]),
        "HTTP_ACCEPT_LANGUAGE": ODD_HEADER | st.just("vi;q=0.5, en;q=abc, *;q=-1"),
        "HTTP_AUTHORIZATION": st.sampled_from(["Bearer", "Bearer ", "Basic eA==", "Bearer a.b.c"])
        | ODD_HEADER.map("Bearer {}".format),
        "HTTP_X_FORWARDED_FOR": ODD_HEADER,
        "HTTP_COOKIE": ODD_HEADER,
        "HTTP_HOST": st.sampled_from(["testserver", "testserver:99999", "[::1", "a" * 300]),
    },
)


def api_routes() -> list[tuple[str, list[str]]]:
    """Each /api/ route of the URLconf (ids filled in) and the usage pages, with the
    methods to send: the fuzz runs as an admin, so the ids are the admin's own objects."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield "/" + re.sub(r"<[^>]+>", "1", route)

    paths = [p for p in walk(get_resolver().url_patterns) if p.startswith("/api/")]
    return [*paths, "/usage/", "/usage/export.csv"]


@pytest.fixture
def admin_client_with_objects(db, providers):
    """An admin with a large balance, an article and a payment (ids in api_routes: 1)."""
    caller = AdminFactory()
    Wallet(caller).credit(100_000_000, kind=LedgerEntry.Kind.BONUS, reference="fuzzing")
    ArticleFactory(user=caller)
    PaymentFactory(user=caller)
    token = RefreshToken.for_user(caller).access_token
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_bodies_and_headers_never_answer_a_server_error(admin_client_with_objects, data):
    path = data.draw(st.sampled_from(api_routes()), label="path")
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]), label="method")
    headers = data.draw(HOSTILE_HEADERS, label="headers")
    body = data.draw(HOSTILE_BODIES, label="body")
    content_type = data.draw(CONTENT_TYPES, label="content type")
    if method == "GET":
        day = data.draw(UNUSUAL_DAYS, label="day")
        path += f"?date_from={day}&date_to={day}&page={data.draw(st.integers(), label='page')}"
        body = b""
    response = admin_client_with_objects.generic(
        method, path, body, content_type=content_type, **headers
    )
    assert response.status_code < 500, (method, path, response.content[:300])
    if path.startswith("/api/") and response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), response.content[:300]
        assert response.json()["error"]
