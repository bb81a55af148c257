"""Generated from the URL configuration: every route is sent POST, PUT and PATCH with fields
a client must never set (balance, role, owner, price, status, …). Where it writes, it
ignores them (or answers 400) and changes only what it is for; elsewhere it answers 405
and changes nothing. A route that accepts a write without a case here fails the test.

The admin site is left out: it is the operator's own form (an admin may set a role
there), checked by the apps' admin tests; the balance is read-only in it.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.tests.factories import AdminFactory, UserFactory
from articles.actions import ACTIONS
from articles.models import Article
from articles.tests.factories import ARTICLE_TEXT, ArticleFactory
from payments.models import Payment
from payments.tests.factories import PaymentFactory
from subscriptions.models import Plan
from tokens.models import LedgerEntry

PASSWORD = "Correct-Horse-42"
OTHER_ID = 999_999  # stands for "somebody else's" in the forged fields


def forged() -> dict:
    return {
        "tokens_remaining": 999_999_999, "balance": 999_999_999, "tokens_limit": 999_999_999,
        "granted_tokens": 999_999_999, "tokens_used": 0, "cost": 0, "amount": "0.01",
        "role": "admin", "is_staff": True, "is_superuser": True, "plan_type": "enterprise",
        "status": "approved", "user": OTHER_ID, "user_id": OTHER_ID, "id": OTHER_ID,
    }  # fmt: skip


def routes(patterns=None, prefix="", namespace=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route != "admin/":
                inner = ":".join(filter(None, [namespace, pattern.namespace]))
                yield from routes(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            yield ":".join(filter(None, [namespace, pattern.name])), route


WRITES = [
    pytest.param(key, route, method, id=f"{method.upper()} {route}")
    for key, route in routes()
    for method in ("post", "put", "patch")
]


class World:
    """A user with an article and a pending bank transfer, another user, an admin."""

    def __init__(self):
        self.user = UserFactory(password=PASSWORD)
        self.other = UserFactory()
        self.admin = AdminFactory()
        self.article = ArticleFactory(user=self.user)
        self.payment = PaymentFactory(user=self.user)
        self.as_user, self.as_admin = self.client(self.user), self.client(self.admin)

    @staticmethod
    def client(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        return client

    def path(self, key: str, route: str) -> str:
        """The route's URL for this world's objects; a new id-taking route fails here."""
        if "<" not in route:
            return "/" + route
        payment_routes = [
            "detail", "detail-page", "cancelled", "cancel", "receipt", "approve", "reject",
        ]  # fmt: skip
        ids = {
            "articles:detail": self.article.pk,
            "articles:editor": self.article.pk,
            "tokens:bonus": self.user.pk,
            "payments:upgrade": "grow",  # not professional: a payment for it is pending
            # e-mailed links with tokens nobody sent
            "accounts:password-reset-confirm": "MQ",
            "accounts:verify-email": "forged-token",
            **{f"payments:{name}": self.payment.pk for name in payment_routes},
        }
        assert key in ids, f"{route} takes an id: say whose in this test"
        return "/" + re.sub(r"<[^>]+>", str(ids[key]), route)

    @staticmethod
    def state() -> dict:
        """What forged fields could change: balances, roles, plans, owners, prices."""
        return {
            "users": list(
                User.objects.order_by("pk").values_list("pk", "role", "tokens_remaining", "email")
            ),
            "plans": list(
                User.objects.order_by("pk").values_list(
                    "subscription__plan_type", "subscription__tokens_limit"
                )
            ),
            "payments": list(
                Payment.objects.order_by("pk").values_list("pk", "user", "amount", "status")
            ),
            "articles": list(Article.objects.order_by("pk").values_list("pk", "user")),
            "ledger": LedgerEntry.objects.count(),
        }

    def balance(self, user) -> int:
        return User.objects.get(pk=user.pk).tokens_remaining


CASES = {}


def case(*keys: str, methods=("post",)):
    def register(check):
        CASES.update({(key, method): check for key in keys for method in methods})
        return check

    return register


@case("accounts:register")
def _api_register(world, method, path):
    body = {**forged(), "email": "new@example.com", "username": "new", "password": PASSWORD}
    assert world.as_user.post(path, body, format="json").status_code == 201
    assert_fresh_user("new")


@case("accounts:register-page")
def _page_register(world, method, path):
    body = {**forged(), "email": "new@example.com", "username": "new", "password": PASSWORD}
    assert APIClient().post(path, body).status_code == 302
    assert_fresh_user("new")


def assert_fresh_user(username):
    user = User.objects.select_related("subscription").get(username=username)
    assert (user.role, user.is_admin, user.tokens_remaining) == ("user", False, 10_000)
    assert (user.subscription.plan_type, user.subscription.tokens_limit) == ("free", 10_000)
    assert user.pk != OTHER_ID


@case("accounts:login", "accounts:refresh", "accounts:logout")
@case("home", "set_language", "accounts:login-page", methods=("post", "put", "patch"))
@case("payments:stripe-webhook", "payments:paypal-webhook")
def _changes_nothing(world, method, path):
    """Signing in and out, refreshing a token, the language, unsigned webhooks, the home
    page's redirect: none of them may change anything a forged field names."""
    refresh = str(RefreshToken.for_user(world.user))
    body = {**forged(), "login": world.user.username, "password": PASSWORD, "refresh": refresh}
    body["username"] = world.user.username
    before = world.state()
    response = getattr(APIClient(), method)(path, body, format="json")
    assert response.status_code < 500
    assert world.state() == before


@case(
    "accounts:password-reset",
    "accounts:password-reset-confirm-api",
    "accounts:password-change",
    "accounts:verify-email-api",
    "accounts:verify-email-resend-api",
    "accounts:verify-email",
    "accounts:verify-email-resend",
    "accounts:account",
    "accounts:account-delete",
)
@case("accounts:password-reset-page", methods=("post", "put"))
# Django's view answers an invalid link's page whatever the method.
@case("accounts:password-reset-confirm", methods=("post", "put", "patch"))
def _own_account_only(world, method, path):
    """The account's own flows (password reset and change, verification, the account
    page, deletion with a wrong password): whatever the forged fields say, no balance,
    role, plan, owner, price or address changes."""
    body = {
        **forged(),
        "email": world.user.email,
        "password": "wrong",
        "old_password": "wrong",
        "new_password": "Brand-New-Secret-77",
        "token": "forged-token",
        "uid": "MQ",
        "form": "profile",
        "profile-full_name": "Renamed",
    }
    before = world.state()
    api = path.startswith("/api/")
    response = getattr(world.as_user, method)(path, body, format="json" if api else None)
    assert response.status_code < 500
    assert world.state() == before


@case("accounts:me", methods=("patch",))
def _me(world, method, path):
    before = world.state()
    response = world.as_user.patch(path, {**forged(), "bio": "hello"}, format="json")
    assert response.status_code == 200
    assert response.json()["bio"] == "hello"
    assert world.state() == before


@case("payments:subscription", methods=("patch",))
def _subscription(world, method, path):
    """auto_renew only: with anything else beside it the whole body is refused."""
    before = world.state()
    response = world.as_user.patch(path, {**forged(), "auto_renew": False}, format="json")
    assert response.status_code == 400
    assert world.as_user.patch(path, {"auto_renew": False}, format="json").status_code == 200
    assert world.state() == before


@case("payments:subscription-page")
def _subscription_page(world, method, path):
    before = world.state()
    assert world.as_user.post(path, {**forged(), "auto_renew": "off"}).status_code == 302
    assert world.state() == before  # the plan, its allowance and the payments as they were


@case("payments:cancel")
def _cancel_payment(world, method, path):
    """The buyer's own pending payment, cancelled: its status only, whatever else is sent."""
    before = world.state()
    assert world.as_user.post(path, forged()).status_code == 302
    after = world.state()
    cancelled = [(pk, user, amount, "cancelled") for pk, user, amount, _ in before["payments"]]
    assert after == {**before, "payments": cancelled}


def article_fields() -> dict:
    """The forged fields but `status`, which is the article's own (draft/published)."""
    return {k: v for k, v in forged().items() if k != "status"}


@case("articles:list")
def _article_create(world, method, path):
    response = world.as_user.post(path, {**article_fields(), "title": "Mine"}, format="json")
    assert response.status_code == 201
    article = Article.objects.get(title="Mine")
    assert (article.user_id, article.pk != OTHER_ID) == (world.user.pk, True)


@case("articles:detail", methods=("patch",))
def _article_update(world, method, path):
    response = world.as_user.patch(path, {**article_fields(), "title": "Renamed"}, format="json")
    assert response.status_code == 200
    article = Article.objects.get(pk=world.article.pk)
    assert (article.user_id, article.title) == (world.user.pk, "Renamed")


@case("articles:new-page")
def _article_create_page(world, method, path):
    body = {**article_fields(), "title": "Mine", "content": "Text."}
    assert world.as_user.post(path, body).status_code == 302
    article = Article.objects.get(title="Mine")
    assert (article.user_id, article.pk != OTHER_ID) == (world.user.pk, True)


@case("articles:editor")
def _article_editor(world, method, path):
    before = {k: v for k, v in world.state().items() if k != "articles"}
    assert world.as_user.post(path, {**article_fields(), "title": "Renamed"}).status_code == 302
    article = Article.objects.get(pk=world.article.pk)
    assert (article.user_id, article.title) == (world.user.pk, "Renamed")
    assert {k: v for k, v in world.state().items() if k != "articles"} == before


@case(*(f"articles:{action.name}" for action in ACTIONS.values()))
def _ai_action(world, method, path):
    action = next(a for a in ACTIONS.values() if path == f"/api/ai/{a.slug}")
    balance, other = world.balance(world.user), world.balance(world.other)
    response = world.as_user.post(path, {**forged(), "text": ARTICLE_TEXT}, format="json")
    assert response.status_code == 200
    assert response.json()["tokens_used"] == action.cost(ARTICLE_TEXT)
    assert world.balance(world.user) == balance - action.cost(ARTICLE_TEXT)
    assert world.balance(world.other) == other


@case("payments:upgrade-plan", "payments:upgrade")
def _upgrade(world, method, path):
    before = world.state()
    # Grow: the world's pending payment for professional would refuse a second one (409).
    body = {**forged(), "plan": "grow", "billing_cycle": "monthly"}
    body["payment_method"] = Payment.Method.BANK_TRANSFER
    response = world.as_user.post(path, body, format="json" if path.startswith("/api") else None)
    assert response.status_code in (201, 302)
    payment = Payment.objects.exclude(pk__in=[p[0] for p in before["payments"]]).get()
    price = Plan.objects.get(slug="grow").price_monthly
    assert (payment.user_id, payment.amount, payment.status) == (world.user.pk, price, "pending")
    assert {k: v for k, v in world.state().items() if k != "payments"} == {
        k: v for k, v in before.items() if k != "payments"
    }


@case("payments:approve")
def _approve(world, method, path):
    balance, other = world.balance(world.user), world.balance(world.other)
    amount = world.payment.amount
    assert world.as_admin.post(path, forged(), format="json").status_code == 200
    payment = Payment.objects.get(pk=world.payment.pk)
    assert (payment.user_id, payment.amount, payment.status) == (world.user.pk, amount, "approved")
    assert world.balance(world.user) == balance + Plan.objects.get(slug="professional").tokens
    assert world.balance(world.other) == other


@case("payments:reject")
def _reject(world, method, path):
    before = world.state()
    response = world.as_admin.post(path, {**forged(), "reason": "no money"}, format="json")
    assert response.status_code == 200
    payment = Payment.objects.get(pk=world.payment.pk)
    assert (payment.status, payment.amount) == ("rejected", world.payment.amount)
    assert {k: v for k, v in world.state().items() if k != "payments"} == {
        k: v for k, v in before.items() if k != "payments"
    }


@case("tokens:bonus")
def _bonus(world, method, path):
    balance, other = world.balance(world.user), world.balance(world.other)
    body = {**forged(), "tokens": 500, "reason": "thanks"}
    response = world.as_admin.post(path, body, format="json")
    assert response.status_code == 200
    assert User.objects.get(pk=world.user.pk).role == "user"
    assert world.balance(world.user) == balance + 500
    assert world.balance(world.other) == other


@pytest.fixture
def world(db, settings):
    settings.BANK_TRANSFER_BANK_NAME = "Volx Test Bank"
    settings.BANK_TRANSFER_ACCOUNT_NAME = "Volx Ltd"
    settings.BANK_TRANSFER_ACCOUNT_NUMBER = "0123456789"
    # Configured, so that the webhooks verify (and refuse) the unsigned deliveries.
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_volx", "whsec_volx"
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = "client", "secret"
    settings.PAYPAL_WEBHOOK_ID = "WH-VOLX-TEST"
    return World()


def test_the_writable_routes_are_found():
    found = {(key, method) for key, _, method in (p.values for p in WRITES)}
    assert set(CASES) <= found  # every case still has its route


@pytest.mark.parametrize("key, route, method", WRITES)
def test_forged_fields_are_ignored(key, route, method, world):
    path = world.path(key, route)
    check = CASES.get((key, method))
    if check:
        check(world, method, path)
        return
    before = world.state()
    # As an admin, who may reach every route, so that only 405 means "does not write".
    response = getattr(world.as_admin, method)(path, forged(), format="json")
    assert response.status_code == 405, (
        f"{method.upper()} {route} accepts a write ({response.status_code}): add a case "
        "saying what it may change"
    )
    assert world.state() == before
