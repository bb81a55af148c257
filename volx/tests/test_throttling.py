"""API throttles (volx/throttling.py): registrations per client address, AI actions per
user. Over the rate: 429 with `error` and Retry-After, and nothing done."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import User
from accounts.tests.factories import UserFactory
from articles.tests.factories import ARTICLE_TEXT
from tokens.models import LedgerEntry, TokenUsage
from volx import settings as project_settings
from volx.models import ThrottleWindow
from volx.throttling import ScopedRateThrottle


@pytest.fixture
def rates(settings):
    """Small real rates (conftest.py makes them generous for the other tests)."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"register": "3/hour", "ai": "2/minute"},
    }


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
def test_a_long_forwarded_address_is_counted_like_any_other(rates, api_client, settings):
    """Behind a proxy, the address is an X-Forwarded-For entry, as long as a client made
    it when the request bypassed the proxy: it is counted under its digest, never a 500."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    forwarded = {"HTTP_X_FORWARDED_FOR": "2001:db8::" + "f" * 300}

    statuses = [register(api_client, n, **forwarded).status_code for n in range(4)]

    assert statuses == [201, 201, 201, 429]


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


@pytest.mark.django_db
def test_a_new_window_counts_from_zero(rates, user, client_for, monkeypatch):
    """Fixed windows: 2/minute admits two requests in each clock minute; the refusal says
    how long until the next one begins."""
    clock = [60 * 1_000_000 + 45.0]  # 45 s into a minute
    monkeypatch.setattr(ScopedRateThrottle, "timer", lambda self: clock[0])
    api = client_for(user)

    def find_image():
        return api.post("/api/ai/find-image", {"text": ARTICLE_TEXT}, format="json")

    assert [find_image().status_code for _ in range(3)] == [200, 200, 429]
    assert find_image()["Retry-After"] == "15"
    clock[0] += 15  # the next minute
    assert [find_image().status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_are_counted_exactly():
    """60 requests at once on a key that has no row yet, 20 allowed: exactly 20 pass (the
    UPDATE's row lock orders them; the first ones race to insert the row)."""
    threads, requests, limit = 12, 60, 20
    start = threading.Barrier(threads)

    def client(share: int) -> int:
        start.wait()
        try:
            return sum(ThrottleWindow.objects.count_request("k", 0, limit) for _ in range(share))
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        passed = sum(pool.map(client, [requests // threads] * threads))

    assert passed == limit
    assert ThrottleWindow.objects.get(key="k").hits == limit
