"""Password reset by e-mail, page and API (README, Accounts): the same answer whether or
not the address has an account, a link that works once, every session and JWT issued
before it ended, the login lockout lifted."""

import re

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-42"
NEW_PASSWORD = "Brand-New-Secret-77"
LINK = re.compile(r"http://127\.0\.0\.1:8000/reset/(?P<uid>[\w-]+)/(?P<token>[\w-]+)/")


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", email="ana@example.com", password=PASSWORD)


def reset_link(mail) -> re.Match:
    match = LINK.search(mail.body)
    assert match, mail.body
    return match


@pytest.fixture(autouse=True)
def _committed(committed):
    global COMMITTED
    COMMITTED = committed


def ask(api_client, email):
    with COMMITTED():
        return api_client.post("/api/auth/password-reset", {"email": email}, format="json")


def page_ask(client, email):
    with COMMITTED():
        return client.post("/password-reset/", {"email": email})


def confirm(api_client, uid, token, password=NEW_PASSWORD):
    return api_client.post(
        "/api/auth/password-reset/confirm",
        {"uid": uid, "token": token, "password": password},
        format="json",
    )


def api_login(api_client, password):
    return api_client.post("/api/auth/login", {"login": "ana", "password": password}, format="json")


# --- API ------------------------------------------------------------------------------


def test_the_answer_is_the_same_whether_or_not_the_address_exists(ana, api_client, mailoutbox):
    known = ask(api_client, "ANA@example.com")
    unknown = ask(api_client, "nobody@example.com")

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json() == unknown.json()
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ana@example.com"]
    assert mailoutbox[0].subject == "Reset your Volx password"
    assert reset_link(mailoutbox[0])
    assert reset_link(mailoutbox[0]).group(0) in mailoutbox[0].alternatives[0][0]


def test_a_deactivated_account_gets_no_email(ana, api_client, mailoutbox):
    User.objects.filter(pk=ana.pk).update(is_active=False)
    assert ask(api_client, "ana@example.com").status_code == 202
    assert mailoutbox == []


def test_the_link_sets_a_new_password_once(ana, api_client, mailoutbox):
    ask(api_client, "ana@example.com")
    link = reset_link(mailoutbox[0])

    response = confirm(api_client, link["uid"], link["token"])

    assert response.status_code == 200
    assert api_login(api_client, NEW_PASSWORD).status_code == 200
    assert api_login(api_client, PASSWORD).status_code == 401
    again = confirm(api_client, link["uid"], link["token"], "Another-Secret-99")
    assert again.status_code == 400
    assert (
        again.json()["error"] == "This reset link is invalid, has expired or has already been used."
    )


@pytest.mark.parametrize(
    ("uid", "token"),
    [("MQ", "wrong-token"), ("!!!", "x"), ("", "x"), ("OTk5OTk", "abc-def")],
)
def test_a_wrong_link_is_a_400_and_changes_nothing(ana, api_client, uid, token):
    response = confirm(api_client, uid, token)
    assert response.status_code == 400 and "error" in response.json()
    ana.refresh_from_db()
    assert ana.check_password(PASSWORD)


def test_a_weak_password_is_a_400_and_the_link_still_works(ana, api_client, mailoutbox):
    ask(api_client, "ana@example.com")
    link = reset_link(mailoutbox[0])

    weak = confirm(api_client, link["uid"], link["token"], "12345678")

    assert weak.status_code == 400
    assert weak.json()["password"] == [
        "This password is too common.",
        "This password is entirely numeric.",
    ]
    assert weak.json()["error"].startswith("password: ")
    assert confirm(api_client, link["uid"], link["token"]).status_code == 200


def test_a_reset_ends_every_token_and_session_issued_before(ana, api_client, mailoutbox):
    before = api_login(api_client, PASSWORD).json()
    browser = Client()
    browser.force_login(ana)
    assert browser.get("/dashboard/").status_code == 200

    ask(api_client, "ana@example.com")
    link = reset_link(mailoutbox[0])
    assert confirm(api_client, link["uid"], link["token"]).status_code == 200

    refreshed = api_client.post("/api/auth/refresh", {"refresh": before["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert refreshed.json()["error"] == "The password was changed since this token was issued."
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {before['token']}")
    assert api_client.get("/api/auth/me").status_code == 401
    assert browser.get("/dashboard/").status_code == 302  # signed out: to the login page

    after = api_login(APIClient(), NEW_PASSWORD).json()
    fresh = APIClient().post("/api/auth/refresh", {"refresh": after["refresh"]}, format="json")
    assert fresh.status_code == 200


def test_a_reset_lifts_the_login_lockout(ana, api_client, mailoutbox, settings):
    statuses = [
        api_login(api_client, "wrong").status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429
    assert api_login(api_client, PASSWORD).status_code == 429  # locked: the right one too

    ask(api_client, "ana@example.com")
    link = reset_link(mailoutbox[0])
    assert confirm(api_client, link["uid"], link["token"]).status_code == 200

    assert not AccessAttempt.objects.filter(username="ana").exists()
    assert api_login(api_client, NEW_PASSWORD).status_code == 200


def test_asking_is_throttled_per_client_address(ana, api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "password_reset": "2/hour",
        },
    }
    statuses = [ask(api_client, "ana@example.com").status_code for _ in range(3)]
    assert statuses == [202, 202, 429]


def test_the_email_is_in_the_users_language(api_client, mailoutbox):
    UserFactory(email="lan@example.com", language="vi")
    ask(api_client, "lan@example.com")
    assert mailoutbox[0].subject == "Đặt lại mật khẩu Volx của bạn"


# --- pages ----------------------------------------------------------------------------


def test_the_login_page_links_to_the_reset_page(client):
    html = client.get("/login/").content.decode()
    assert 'href="/password-reset/"' in html
    assert "Forgot your password?" in html


def test_the_lockout_page_links_to_the_reset_page(ana, client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post("/login/", {"username": "ana", "password": "wrong"})
    assert response.status_code == 429
    html = response.content.decode()
    assert 'href="/password-reset/"' in html
    assert "change it once you are back in" not in html


def test_the_page_flow_from_the_form_to_a_new_password(ana, client, mailoutbox):
    assert client.get("/password-reset/").status_code == 200
    response = page_ask(client, "ana@example.com")
    assert response.status_code == 302 and response.url == "/password-reset/sent/"
    assert "Check your inbox" in client.get(response.url).content.decode()

    link = reset_link(mailoutbox[0])
    opened = client.get(link.group(0).removeprefix("http://127.0.0.1:8000"))
    assert opened.status_code == 302  # Django moves the token out of the address bar
    form_page = client.get(opened.url)
    assert 'name="new_password1"' in form_page.content.decode()

    done = client.post(opened.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done.status_code == 302 and done.url == "/reset/done/"
    ana.refresh_from_db()
    assert ana.check_password(NEW_PASSWORD)
    again = Client().get(link.group(0).removeprefix("http://127.0.0.1:8000"), follow=True)
    assert "This link does not work" in again.content.decode()


def test_the_page_answers_the_same_for_an_unknown_address(client, mailoutbox):
    response = page_ask(client, "nobody@example.com")
    assert response.status_code == 302 and response.url == "/password-reset/sent/"
    assert mailoutbox == []


def test_a_page_reset_lifts_the_lockout(ana, client, mailoutbox, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "ana", "password": "wrong"})
    page_ask(client, "ana@example.com")
    link = reset_link(mailoutbox[0])
    opened = client.get(link.group(0).removeprefix("http://127.0.0.1:8000"))
    client.post(opened.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    response = client.post("/login/", {"username": "ana", "password": NEW_PASSWORD})
    assert response.status_code == 302 and response.url == "/dashboard/"


def test_the_pages_are_in_vietnamese(client):
    client.cookies["django_language"] = "vi"
    html = client.get("/password-reset/").content.decode()
    assert "Đặt lại mật khẩu" in html
