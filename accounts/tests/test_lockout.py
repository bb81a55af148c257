"""Login lockout (django-axes): 30 wrong passwords lock the account for the cool-off, on
the API, the login page and the admin's login alike; the right password is refused too."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db.models import F

from accounts.tests.factories import AdminFactory, UserFactory

PASSWORD = "Correct-Horse-42"
LIMIT = 30


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", email="ana@example.com", password=PASSWORD)


def api_login(client, login, password):
    return client.post("/api/auth/login", {"login": login, "password": password}, format="json")


def page_login(client, login, password, path="/login/"):
    return client.post(path, {"username": login, "password": password})


def fail(times, login, password="wrong-password", *, via, client):
    return [via(client, login, password).status_code for _ in range(times)]


def after_the_cool_off(settings):
    """Time travel: every recorded failure happened longer ago than the cool-off."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(minutes=1)
    )


def test_the_limits_come_from_the_environment_with_safe_defaults(settings):
    assert settings.AXES_FAILURE_LIMIT == LIMIT  # LOGIN_LOCKOUT_FAILURES
    # LOGIN_LOCKOUT_COOLOFF_MINUTES
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 30 * 60


def test_api_locks_after_30_wrong_passwords_and_refuses_the_right_one(ana, api_client):
    statuses = fail(LIMIT, "ana", via=api_login, client=api_client)
    assert statuses == [401] * (LIMIT - 1) + [429]

    response = api_login(api_client, "ana", PASSWORD)

    assert response.status_code == 429
    assert "locked" in response.json()["error"]
    assert "token" not in response.json()


def test_e_mail_and_username_of_one_account_count_together(ana, api_client):
    fail(LIMIT // 2, "ana", via=api_login, client=api_client)
    fail(LIMIT // 2, "ANA@Example.com", via=api_login, client=api_client)

    assert api_login(api_client, "ana@example.com", PASSWORD).status_code == 429
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {"ana"}


def test_another_account_is_not_locked(ana, api_client):
    UserFactory(username="bob", password=PASSWORD)
    fail(LIMIT, "ana", via=api_login, client=api_client)

    assert api_login(api_client, "bob", PASSWORD).status_code == 200


def test_after_the_cool_off_the_right_password_works(ana, api_client, settings):
    fail(LIMIT, "ana", via=api_login, client=api_client)
    assert api_login(api_client, "ana", PASSWORD).status_code == 429

    after_the_cool_off(settings)

    assert api_login(api_client, "ana", PASSWORD).status_code == 200


def test_attempts_while_locked_do_not_extend_the_lock(ana, api_client, settings):
    fail(LIMIT, "ana", via=api_login, client=api_client)
    after_the_cool_off(settings)  # the lock would be over now …
    fail(5, "ana", via=api_login, client=api_client)  # … and these are new failures

    assert api_login(api_client, "ana", PASSWORD).status_code == 200


def test_a_successful_login_before_the_limit_starts_the_count_again(ana, api_client):
    fail(LIMIT - 1, "ana", via=api_login, client=api_client)
    assert api_login(api_client, "ana", PASSWORD).status_code == 200

    assert fail(LIMIT - 1, "ana", via=api_login, client=api_client) == [401] * (LIMIT - 1)
    assert api_login(api_client, "ana", PASSWORD).status_code == 200


def test_the_login_page_shows_the_lock_and_refuses_the_right_password(ana, client):
    statuses = fail(LIMIT, "ana@example.com", via=page_login, client=client)
    assert statuses == [200] * (LIMIT - 1) + [429]

    response = page_login(client, "ana", PASSWORD)

    assert response.status_code == 429
    assert b'id="account-locked"' in response.content
    assert b"try again in up to 30 minutes" in response.content.lower()
    assert client.get("/dashboard/").status_code == 302  # not signed in


def test_the_login_page_works_again_after_the_cool_off(ana, client, settings):
    fail(LIMIT, "ana", via=page_login, client=client)

    after_the_cool_off(settings)

    assert page_login(client, "ana", PASSWORD).status_code == 302
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.django_db
def test_the_admin_login_is_locked_too(client):
    AdminFactory(username="boss", password=PASSWORD)
    assert page_login(client, "boss", PASSWORD, "/admin/login/").status_code == 302
    client.logout()

    fail(LIMIT, "boss", via=lambda c, u, p: page_login(c, u, p, "/admin/login/"), client=client)
    response = page_login(client, "boss", PASSWORD, "/admin/login/")

    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302  # to the login form


def test_an_admin_unlocks_an_account(ana, api_client):
    fail(LIMIT, "ana", via=api_login, client=api_client)

    call_command("axes_reset_username", "ana", verbosity=0)

    assert api_login(api_client, "ana", PASSWORD).status_code == 200


def test_unknown_logins_are_limited_too(ana, api_client):
    statuses = fail(LIMIT, "Nobody@Example.com", via=api_login, client=api_client)

    assert statuses[-1] == 429
    assert api_login(api_client, "ana", PASSWORD).status_code == 200


def test_an_admin_unlocks_an_account_in_the_admin(ana, api_client, client):
    fail(LIMIT, "ana", via=api_login, client=api_client)
    client.force_login(AdminFactory())
    assert b"ana" in client.get("/admin/axes/accessattempt/").content

    attempt = AccessAttempt.objects.get(username="ana")
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert api_login(api_client, "ana", PASSWORD).status_code == 200
