"""Generated from the URL configuration: every route is sent hostile bodies (nested too
deep, numbers too large for any column, text in no valid encoding, lone surrogates, the
wrong shapes and types, too large) with POST, PUT and PATCH, and hostile query strings
with GET. No answer is a server error, every error under /api/ is JSON with `error`, and
nothing is written: the row count of every table is unchanged.

The caller is a signed-in user who is not an admin, so that a route which ignores its
body and writes by design (approving a payment) is refused; the admin API routes that
read a body (bonus, reject) are walked as an admin too. DELETE takes no body and is left
out. Not counted: the login lockout's tables (a failed login is recorded, as it must be)
and the sessions (logging out ends one). The admin site is left out, as in
test_mass_assignment.py: it is the operator's own form.
"""

import json

import pytest
from django.db import connection
from django.test import Client

from accounts.models import User
from volx.tests.test_mass_assignment import World, routes

# Written by refusing too: the lockout's failures, sessions, the throttles' counters.
NOT_COUNTED = {
    "axes_accessattempt", "axes_accessfailurelog", "axes_accesslog", "django_session",
    "volx_throttle",
}  # fmt: skip

# Names of the fields the routes read, each given the same hostile value.
FIELDS = [
    "text", "article_id", "stream", "tokens", "reason", "login", "password", "refresh",
    "email", "username", "full_name", "bio", "avatar_url", "title", "content", "status",
    "plan", "billing_cycle", "payment_method", "amount", "grant_id", "language",
]  # fmt: skip


def every_field(value) -> bytes:
    return json.dumps(dict.fromkeys(FIELDS, value)).encode()


def raw_json_fields(literal: str) -> bytes:
    """Every field set to `literal` as written, for what json.dumps would not write."""
    return ("{" + ",".join(f'"{name}": {literal}' for name in FIELDS) + "}").encode()


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEEP = 5_000

BODIES = {
    "deep array": (JSON, ("[" * DEEP + "]" * DEEP).encode()),
    "deep object": (JSON, ('{"text":' * DEEP + '"x"' + "}" * DEEP).encode()),
    "deep in every field": (JSON, raw_json_fields("[" * 40 + "]" * 40)),
    "huge integers": (JSON, every_field(10**400)),
    "integer past the digit limit": (JSON, raw_json_fields("1" * 5_000)),
    "huge negative integers": (JSON, every_field(-(10**30))),
    "huge floats": (JSON, raw_json_fields("1e999999")),
    "NaN and Infinity": (JSON, raw_json_fields("NaN")),
    "lone surrogates": (JSON, raw_json_fields('"\\ud800x\\udfff"')),
    "NUL characters": (JSON, every_field("\x00")),
    "zero-width text": (JSON, every_field("\u200b\u200c\ufeff")),
    "strings too long": (JSON, every_field("x" * 100_000)),
    "not UTF-8": (JSON, b'{"text": "\xff\xfe", "login": "\xc3\x28", "title": "\xed\xa0\x80"}'),
    "a list": (JSON, b"[1, 2, 3]"),
    "a string": (JSON, b'"text"'),
    "null": (JSON, b"null"),
    "empty": (JSON, b""),
    "truncated": (JSON, b'{"text": "abc'),
    "BOM first": (JSON, b'\xef\xbb\xbf{"text": 1}'),
    "unknown charset": (f"{JSON}; charset=utf-1234", b'{"text": 1}'),
    "UTF-16 as said": (f"{JSON}; charset=utf-16", '{"text": 1}'.encode("utf-16")),
    "form not UTF-8": (FORM, "&".join(f"{name}=%FF%FE" for name in FIELDS).encode()),
    "form raw bytes": (FORM, b"text=\xff&login=\xc3\x28&title=\xed\xa0\x80"),
    "form too many fields": (FORM, "&".join(f"f{n}=1" for n in range(1_100)).encode()),
    "multipart without a boundary": ("multipart/form-data", b"--x\r\n\r\n"),
    "xml": ("application/xml", b"<text>x</text>"),
    "no content type": ("", b'{"text": "x"}'),
    "too large": (JSON, every_field("x" * 60_000)),
}

QUERIES = [
    "page=99999999999999999999999999",
    "page=-1",
    "page=%FF",
    "date_from=0001-01-01&date_to=9999-12-31",
    "date_to=9999-12-31&format=csv",
    "date_from=2024-02-30",
    "action=%00",
    "payment=99999999999999999999999999",
    "payment=%FF&token=%00",
    "paymentId=x&PayerID=y&payment=1",
]

WALK = [
    pytest.param(key, route, method, id=f"{method.upper()} {route}")
    for key, route in routes()
    for method in ("get", "post", "put", "patch")
]
ADMIN_READS_A_BODY = {"tokens:bonus", "payments:reject"}


def row_counts() -> dict[str, int]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            if table not in NOT_COUNTED:
                cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
                counts[table] = cursor.fetchone()[0]
    return counts


def balances() -> list:
    return list(User.objects.order_by("pk").values_list("pk", "tokens_remaining", "role"))


def check(response, path: str, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]}"
    if path.startswith("/api/") and response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), what
        assert response.json()["error"], what


@pytest.fixture
def world(db, settings):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_volx", "whsec_volx"
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = "client", "secret"
    settings.PAYPAL_WEBHOOK_ID = "WH-VOLX-TEST"
    settings.BANK_TRANSFER_BANK_NAME = "Volx Test Bank"
    settings.BANK_TRANSFER_ACCOUNT_NAME = "Volx Ltd"
    settings.BANK_TRANSFER_ACCOUNT_NUMBER = "0123456789"
    return World()


def signed_in(user) -> Client:
    from rest_framework_simplejwt.tokens import RefreshToken

    client = Client(
        raise_request_exception=False,
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}",
    )
    client.force_login(user)
    return client


@pytest.mark.parametrize("key, route, method", WALK)
def test_hostile_input_is_refused_and_writes_nothing(world, key, route, method):
    path = world.path(key, route)
    callers = [signed_in(world.user), Client(raise_request_exception=False)]
    if key in ADMIN_READS_A_BODY:
        callers.append(signed_in(world.admin))
    before, users = row_counts(), balances()
    for caller in callers:
        if method == "get":
            for query in QUERIES:
                check(caller.get(f"{path}?{query}"), path, f"GET ?{query}")
            continue
        for name, (content_type, body) in BODIES.items():
            response = caller.generic(method.upper(), path, body, content_type=content_type)
            check(response, path, name)
    assert row_counts() == before
    assert balances() == users
