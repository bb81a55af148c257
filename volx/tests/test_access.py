"""Generated from the URL configuration: every API route that needs a user answers 401
to an anonymous caller, for every method it serves, and changes nothing."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tokens.models import LedgerEntry

PUBLIC = {
    "api/auth/register",
    "api/auth/login",
    "api/auth/refresh",
    # the e-mailed links' tokens are the proof, for callers who cannot log in
    "api/auth/password-reset",
    "api/auth/password-reset/confirm",
    "api/auth/verify-email",
    "api/plans",
    "api/schema/",
    "api/docs/",
}
PUBLIC_PREFIXES = ("api/payments/stripe/", "api/payments/paypal/")  # signed webhooks


def api_routes(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/"):
            yield route, pattern.callback


def protected_calls():
    for route, view in api_routes():
        if route in PUBLIC or route.startswith(PUBLIC_PREFIXES):
            continue
        path = "/" + route.replace("<int:", "<").replace("<pk>", "1")
        while "<" in path:
            start, end = path.index("<"), path.index(">")
            path = path[:start] + "1" + path[end + 1 :]
        view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
        for method in ("get", "post", "patch", "put", "delete"):
            if hasattr(view_class, method) and method in view_class.http_method_names:
                yield pytest.param(method, path, id=f"{method.upper()} {path}")


CALLS = list(protected_calls())


def test_the_api_has_protected_routes():
    assert len(CALLS) >= 6  # me, balance, history, bonus, token-sync, …


@pytest.mark.django_db
@pytest.mark.parametrize("method, path", CALLS)
def test_anonymous_caller_gets_401(api_client, user, method, path):
    ledger_before = LedgerEntry.objects.count()

    response = getattr(api_client, method)(path, {}, format="json")

    assert response.status_code == 401, response.content
    assert response.json()["error"]
    assert LedgerEntry.objects.count() == ledger_before


@pytest.mark.django_db
@pytest.mark.parametrize("method, path", CALLS)
def test_a_bad_bearer_token_gets_401(api_client, method, path):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert getattr(api_client, method)(path, {}, format="json").status_code == 401
