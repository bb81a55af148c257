import os

import pytest


def pytest_collection_modifyitems(config, items):
    """Tests marked `locks` need MySQL/MariaDB row locks. Locally on SQLite they are
    skipped; in CI a run that would skip them is an error, so the proof always runs."""
    if os.environ.get("DATABASE_URL", "").startswith("mysql"):
        return
    lock_tests = [item for item in items if "locks" in item.keywords]
    if lock_tests and os.environ.get("CI") == "true":
        raise pytest.UsageError("CI=true: lock tests need DATABASE_URL=mysql://… (MariaDB)")
    for item in lock_tests:
        item.add_marker(pytest.mark.skip(reason="needs MySQL/MariaDB row locks (DATABASE_URL)"))


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def client_for():
    """An API client authenticated as the given user with a real JWT bearer token."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        return client

    return make


@pytest.fixture
def wallet_state():
    """What a user would check after an action: balance, ledger sum, usage rows, open holds."""
    from django.db.models import Sum

    from tokens.models import LedgerEntry, TokenHold, TokenUsage

    def state(user) -> dict:
        user.refresh_from_db()
        return {
            "balance": user.tokens_remaining,
            "ledger_sum": LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"],
            "usage_rows": TokenUsage.objects.filter(user=user).count(),
            "open_holds": TokenHold.objects.filter(user=user, status=TokenHold.Status.HELD).count(),
        }

    return state


@pytest.fixture
def signed_in(client, user):
    """The pages' test client, logged in as `user` (a session, as a browser has)."""
    client.force_login(user)
    return client


# pytest-django's own `admin_user` (username "admin", made by create_superuser, so role
# admin with the free plan and its tokens) and `admin_client` are used as they are.


def _ledger_sum(user) -> int:
    from django.db.models import Sum

    from tokens.models import LedgerEntry

    user_id = getattr(user, "pk", user)
    return LedgerEntry.objects.filter(user_id=user_id).aggregate(s=Sum("delta"))["s"] or 0


@pytest.fixture
def ledger_sum():
    """SUM(delta) of a user's ledger (0 without entries): what the balance must equal
    (docs/rules.md, Balance equals the ledger)."""
    return _ledger_sum


@pytest.fixture
def grants_for():
    """How many ledger entries a payment's grant key has: exactly one once confirmed."""
    from tokens.models import LedgerEntry

    def count(payment) -> int:
        return LedgerEntry.objects.filter(
            user_id=payment.user_id, idempotency_key=payment.ledger_key
        ).count()

    return count


@pytest.fixture
def assert_ledger_matches():
    """The payer's balance equals their ledger sum (docs/rules.md, Balance equals the ledger),
    after whatever a provider sent."""

    def check(payment) -> None:
        payment.user.refresh_from_db()
        assert _ledger_sum(payment.user) == payment.user.tokens_remaining

    return check


@pytest.fixture
def assert_granted_once(grants_for):
    """A free user's professional payment, confirmed by exactly one grant: the seed
    numbers 2,010,000 / 2,010,000 of the paid plan change, and a ledger that sums to them."""
    from payments.models import Payment

    def check(payment) -> None:
        payment.refresh_from_db()
        user = payment.user
        user.refresh_from_db()
        assert payment.status == Payment.Status.APPROVED
        assert (user.tokens_remaining, user.subscription.tokens_limit) == (2_010_000, 2_010_000)
        assert grants_for(payment) == 1
        assert _ledger_sum(user) == 2_010_000

    return check


@pytest.fixture(autouse=True)
def _plan_catalogue(request):
    """Transactional tests flush the database, and with it the plan catalogue that the
    data migration seeded; put it back by running that migration's own seed function."""
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        import importlib

        from django.apps import apps

        request.getfixturevalue("transactional_db")
        importlib.import_module("subscriptions.migrations.0002_seed_plans").seed(apps, None)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashers are slow by design; the tests check behaviour, not hashing cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _generous_throttles(settings):
    """The suites send hundreds of registrations and AI actions from one client within
    seconds; only volx/tests/test_throttling.py tests the real rates."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(rates, "1000000/minute"),
    }
