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
def admin_user(db):
    from accounts.tests.factories import AdminFactory

    return AdminFactory()


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
