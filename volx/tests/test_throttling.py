"""API throttles (volx/throttling.py): registrations per client address, AI actions per
user. Over the rate: 429 with `error` and Retry-After, and nothing done."""

import pytest
from django.core.cache import cache

from accounts.models import User
from accounts.tests.factories import UserFactory
from articles.tests.factories import ARTICLE_TEXT
from tokens.models import LedgerEntry, TokenUsage
from volx import settings as project_settings


@pytest.fixture
def rates(settings):
    """Small real rates (conftest.py makes them generous for the other tests) and an empty
    cache, so that earlier tests' requests do not count."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"register": "3/hour", "ai": "2/minute"},
    }
    cache.clear()
    yield
    cache.clear()


def register(client, n: int, **extra):
    return client.post(
        "/api/auth/register",
        {"email": f"user{n}@example.com", "username": f"user{n}", "password": "Correct-Horse-42"},
        format="json",
        **extra,
    )


def test_the_default_rates_come_from_the_environment():
    assert project_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "register": "20/hour",  # THROTTLE_REGISTER
        "ai": "120/minute",  # THROTTLE_AI
        "password_reset": "10/hour",  # THROTTLE_PASSWORD_RESET
        "verify_email": "5/hour",  # THROTTLE_VERIFY_EMAIL
    }


@pytest.mark.django_db
def test_registrations_over_the_rate_from_one_address_are_refused(rates, api_client):
    assert [register(api_client, n).status_code for n in range(3)] == [201, 201, 201]

    response = register(api_client, 3)

    assert response.status_code == 429
    assert response.json()["error"]
    assert int(response["Retry-After"]) > 0
    assert not User.objects.filter(username="user3").exists()
    # Another address is not affected.
    assert register(api_client, 4, REMOTE_ADDR="192.0.2.7").status_code == 201


@pytest.mark.django_db
def test_the_sign_up_page_counts_in_the_same_budget(rates, api_client, client):
    for n in range(2):
        register(api_client, n)
    page = {"email": "page@example.com", "username": "page", "password": "Correct-Horse-42"}
    assert client.post("/register/", page).status_code == 302
    client.logout()

    response = client.post("/register/", {**page, "email": "x@example.com", "username": "x"})

    assert response.status_code == 429
    assert b"Too many sign-ups" in response.content
    assert not User.objects.filter(username="x").exists()


@pytest.mark.django_db
def test_a_forged_forwarded_for_header_does_not_reset_the_count(rates, api_client):
    for n in range(3):
        register(api_client, n)

    response = register(api_client, 3, HTTP_X_FORWARDED_FOR="198.51.100.3")

    assert response.status_code == 429  # no proxy is trusted unless NUM_PROXIES says so


@pytest.mark.django_db
def test_ai_actions_over_the_rate_are_refused_and_cost_nothing(rates, user, client_for):
    api = client_for(user)
    for path in ("/api/ai/generate-seo-title", "/api/ai/find-image"):
        assert api.post(path, {"text": ARTICLE_TEXT}, format="json").status_code == 200
    user.refresh_from_db()
    balance, entries, usage = (
        user.tokens_remaining,
        LedgerEntry.objects.filter(user=user).count(),
        TokenUsage.objects.filter(user=user).count(),
    )

    response = api.post("/api/ai/rewrite", {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 429
    assert response.json()["error"]
    assert int(response["Retry-After"]) > 0
    user.refresh_from_db()
    assert user.tokens_remaining == balance
    assert LedgerEntry.objects.filter(user=user).count() == entries
    assert TokenUsage.objects.filter(user=user).count() == usage


@pytest.mark.django_db
def test_the_ai_rate_is_per_user(rates, client_for):
    first, second = UserFactory(), UserFactory()
    for _ in range(2):
        client_for(first).post("/api/ai/find-image", {"text": ARTICLE_TEXT}, format="json")

    response = client_for(second).post("/api/ai/find-image", {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 200


def test_the_default_cache_keeps_every_active_users_count(db):
    """The database cache culls a third of its rows once it holds MAX_ENTRIES (Django's
    default 300): with more active users than that, their throttle counts would vanish
    and the rates would not hold. The default keeps a million."""
    from django.core.cache.backends.db import DatabaseCache

    default = project_settings.CACHES["default"]
    assert default["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    counts = DatabaseCache(default["LOCATION"], default)
    for user in range(1_000):
        counts.set(f"throttle_ai_{user}", [1.0], 60)

    assert counts.get("throttle_ai_0") == [1.0]
