"""Generated from the URL configuration: every route that takes an object's id, called by
another user (signed in, not an admin) for the owner's object, is refused (403/404, or the
admin site's redirect to its login) and shows nothing of the object, for every method it
serves. A new id-taking route fails here until the `objects` fixture knows which
object it takes."""

import re

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from articles.tests.factories import ArticleFactory
from payments.models import WebhookEvent
from payments.tests.factories import PaymentFactory
from subscriptions.models import Plan
from tokens.models import IdempotencyRecord, LedgerEntry, TokenHold, TokenUsage

# Every value of the owner's that a leak would show contains this.
MARKER = "quokka7731"

# Routes whose parameter names no object of a user: what they take and why that is safe.
NOT_OBJECTS = {
    "admin:app_list": "an app label; the admin site refuses non-staff users anyway",
    "admin/(?P<url>.*)$": "the admin site's catch-all; refuses non-staff users anyway",
    "payments:upgrade": "a plan's slug from the public catalogue (GET /api/plans)",
    "accounts:password-reset-confirm": "an e-mailed uid and token: only the token Django "
    "signed for that user's current password works (accounts/tests/test_password_reset.py)",
    "accounts:verify-email": "an e-mailed token, of which only a digest is stored: a guessed "
    "one finds no user (accounts/tests/test_verification.py)",
}
VIEW_ON_SITE = "admin:view_on_site"


def routes(patterns=None, prefix="", namespace=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from routes(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern) and pattern.pattern.regex.groupindex:
            key = f"{namespace}:{pattern.name}" if pattern.name else route
            yield key, route, pattern.callback


def methods(callback) -> list[str]:
    """The methods a DRF view serves; pages and the admin site are tried with GET and POST."""
    view_class = getattr(callback, "cls", None)
    if view_class is None:
        return ["get", "post"]
    served = ("get", "post", "put", "patch", "delete")
    return [m for m in served if hasattr(view_class, m) and m in view_class.http_method_names]


CALLS = [
    pytest.param(key, route, method, id=f"{method.upper()} {route}")
    for key, route, callback in routes()
    if key not in NOT_OBJECTS
    for method in methods(callback)
]


def confirmed_payment(owner):
    payment = PaymentFactory(user=owner, plan="grow", reason=f"{MARKER} reason")
    payment.confirm()
    return payment


@pytest.fixture
def owner(db):
    return UserFactory(
        username=MARKER, email=f"{MARKER}@owner.example", full_name=f"{MARKER.title()} Owner"
    )


@pytest.fixture
def objects(owner):
    """One object of the owner per kind, made on demand (by model label for the admin)."""
    article = ArticleFactory(user=owner, title=f"{MARKER} draft", content=f"{MARKER} text")
    payment = PaymentFactory(user=owner, reason=f"{MARKER} reason")
    admin_objects = {
        "accounts.user": lambda: owner,
        "articles.article": lambda: article,
        "payments.payment": lambda: payment,
        "payments.webhookevent": lambda: WebhookEvent.objects.create(
            provider="stripe",
            event_id=f"evt_{MARKER}",
            type="checkout.session.completed",
            payload={"customer_email": owner.email},
        ),
        "subscriptions.plan": lambda: Plan.objects.create(
            slug=MARKER, name=MARKER, tokens=1, articles_limit=1, price_monthly=1, price_annual=1
        ),
        "subscriptions.usersubscription": lambda: owner.subscription,
        "tokens.ledgerentry": lambda: LedgerEntry.objects.filter(user=owner).first(),
        "tokens.tokenusage": lambda: TokenUsage.objects.create(
            user=owner, tokens_used=300, action=f"{MARKER} action"
        ),
        "tokens.tokenhold": lambda: TokenHold.objects.create(
            user=owner, amount=300, action=f"{MARKER} action"
        ),
        "tokens.idempotencyrecord": lambda: IdempotencyRecord.objects.create(
            user=owner, key=f"{MARKER} key", fingerprint="0" * 64
        ),
        "axes.accessattempt": lambda: AccessAttempt.objects.create(
            username=MARKER,
            ip_address="203.0.113.9",
            user_agent=f"{MARKER} agent",
            failures_since_start=3,
            get_data="",
            post_data=f"username={MARKER}",
        ),
    }
    api_and_pages = {
        "articles:detail": article,
        "articles:editor": article,
        "payments:detail": payment,
        "payments:detail-page": payment,
        "payments:cancelled": payment,
        "payments:cancel": payment,
        "payments:receipt": lambda: confirmed_payment(owner),  # a pending one has none
        "payments:approve": payment,
        "payments:reject": payment,
        "tokens:bonus": owner,
    }

    def object_for(key: str, route: str):
        if key == VIEW_ON_SITE:
            return article
        if route.startswith("admin/"):
            app_label, model_name = route.split("/")[1:3]
            label = apps.get_model(app_label, model_name)._meta.label_lower
            assert label in admin_objects, f"{label} is in the admin: add it to admin_objects"
            return admin_objects[label]()
        assert key in api_and_pages, f"{route} takes an id: say which object in this test"
        found = api_and_pages[key]
        return found() if callable(found) else found

    return object_for


@pytest.fixture
def intruder(db):
    """Another user, signed in both ways: session (pages, admin) and JWT (API)."""
    user = UserFactory()
    client = APIClient()
    client.force_login(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def fill(route: str, key: str, obj) -> str:
    if key == VIEW_ON_SITE:
        content_type = ContentType.objects.get_for_model(obj)
        return f"/admin/r/{content_type.pk}/{obj.pk}/"
    return "/" + re.sub(r"<[^>]+>", str(obj.pk), route)


def snapshot(obj) -> dict:
    return type(obj).objects.filter(pk=obj.pk).values().get()


def test_the_id_routes_are_found():
    found = {route for _, route, _ in routes()}
    assert {"api/articles/<int:pk>", "api/payments/<int:pk>", "payments/<int:pk>/"} <= found
    assert "admin/accounts/user/<path:object_id>/change/" in found


@pytest.mark.parametrize("key, route, method", CALLS)
def test_another_users_object_is_refused_and_not_shown(
    key, route, method, objects, owner, intruder
):
    obj = objects(key, route)
    before, owner_before = snapshot(obj), snapshot(owner)
    path = fill(route, key, obj)

    response = getattr(intruder, method)(path, {"tokens": 5, "reason": "x"}, format="json")

    body = response.content.decode(errors="replace")
    if route.startswith("admin/"):
        assert response.status_code == 302, body
        assert response["Location"].startswith("/admin/login/")
        body += intruder.get(response["Location"]).content.decode()
    else:
        assert response.status_code in (403, 404, 405), body
    assert MARKER not in body.lower()
    assert snapshot(obj) == before
    assert snapshot(owner) == owner_before  # balance, role, …
