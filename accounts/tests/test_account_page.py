"""The account page /account/ and its API twins (README, Accounts): profile, e-mail
change, password change, language and time zone, data export, deletion."""

import json
import re
import zoneinfo

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone, translation
from rest_framework.test import APIClient

from accounts.middleware import AccountPreferencesMiddleware
from accounts.models import User
from accounts.tests.factories import UserFactory
from articles.models import Article
from payments.tests.factories import PaymentFactory
from tokens.models import LedgerEntry, TokenUsage
from tokens.sync import sync_report
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-42"
NEW_PASSWORD = "Brand-New-Secret-77"
LINK = re.compile(r"http://127\.0\.0\.1:8000/verify-email/(?P<token>[\w-]+)/")


def post(client, form: str, **data):
    return client.post("/account/", {"form": form, **{f"{form}-{k}": v for k, v in data.items()}})


def test_the_page_needs_a_login(client):
    response = client.get("/account/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_the_page_shows_every_section(signed_in):
    html = signed_in.get("/account/").content.decode()
    for section in ("profile", "email", "password", "preferences", "data", "delete"):
        assert f'id="{section}"' in html
    assert 'href="/account/export/"' in html and 'href="/account/delete/"' in html


def test_the_profile_is_saved(signed_in, user):
    response = post(
        signed_in,
        "profile",
        full_name="Ana Lima",
        avatar_url="https://img.example/a.png",
        bio="Writer.",
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.full_name, user.avatar_url, user.bio) == (
        "Ana Lima",
        "https://img.example/a.png",
        "Writer.",
    )


def test_a_bad_avatar_url_is_refused(signed_in, user):
    response = post(signed_in, "profile", full_name="x", avatar_url="javascript:alert(1)", bio="")
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.avatar_url == ""


# --- e-mail change ----------------------------------------------------------------------


def test_an_email_change_takes_effect_once_the_new_address_confirms(
    signed_in, user, committed, mailoutbox
):
    old = user.email
    with committed():
        response = post(signed_in, "email", email="New.Address@Example.com", password=PASSWORD)

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.email, user.pending_email) == (old, "new.address@example.com")
    (mail,) = mailoutbox
    assert mail.to == ["new.address@example.com"]
    assert mail.subject == "Confirm your new e-mail address for Volx"
    assert "Waiting for confirmation" in signed_in.get("/account/").content.decode()

    signed_in.post(f"/verify-email/{LINK.search(mail.body)['token']}/")

    user.refresh_from_db()
    assert (user.email, user.pending_email, user.is_verified) == (
        "new.address@example.com",
        "",
        True,
    )


@pytest.mark.parametrize(
    ("email", "password", "error"),
    [
        ("other@example.com", "wrong", "The password is not correct."),
        ("taken@example.com", PASSWORD, "A user with this e-mail already exists."),
        ("user0@example.com", PASSWORD, "This is already your e-mail address."),
    ],
)
def test_an_email_change_is_refused(client, committed, mailoutbox, email, password, error):
    user = UserFactory(username="user0", email="user0@example.com")
    UserFactory(email="taken@example.com")
    client.force_login(user)
    with committed():
        response = post(client, "email", email=email, password=password)
    assert response.status_code == 400
    assert error in response.content.decode()
    user.refresh_from_db()
    assert user.pending_email == "" and mailoutbox == []


def test_an_address_taken_before_the_link_is_opened_is_not_applied(user, committed):
    token = User.objects.get(pk=user.pk).new_verification_token(email="race@example.com")
    UserFactory(email="race@example.com")
    assert User.verify_email(token) is None
    user.refresh_from_db()
    assert user.email != "race@example.com"


# --- password change ---------------------------------------------------------------------


def test_a_password_change_keeps_this_session_and_ends_the_others(user, client):
    client.force_login(user)
    other = Client()
    other.force_login(user)
    api = APIClient()
    tokens = api.post(
        "/api/auth/login", {"login": user.username, "password": PASSWORD}, format="json"
    ).json()

    response = post(
        client,
        "password",
        old_password=PASSWORD,
        new_password1=NEW_PASSWORD,
        new_password2=NEW_PASSWORD,
    )

    assert response.status_code == 302
    assert client.get("/account/").status_code == 200  # still signed in here
    assert other.get("/account/").status_code == 302  # signed out there
    assert (
        api.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code
        == 401
    )
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")
    assert api.get("/api/auth/me").status_code == 401


def test_a_wrong_old_password_changes_nothing(signed_in, user):
    response = post(
        signed_in,
        "password",
        old_password="wrong",
        new_password1=NEW_PASSWORD,
        new_password2=NEW_PASSWORD,
    )
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_api_changes_the_password_and_answers_new_tokens(user):
    api = APIClient()
    old = api.post(
        "/api/auth/login", {"login": user.username, "password": PASSWORD}, format="json"
    ).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {old['token']}")

    response = api.post(
        "/api/auth/password",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    assert api.get("/api/auth/me").status_code == 401  # the old access token
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    assert fresh.get("/api/auth/me").status_code == 200
    assert (
        fresh.post("/api/auth/refresh", {"refresh": old["refresh"]}, format="json").status_code
        == 401
    )
    weak = fresh.post(
        "/api/auth/password", {"old_password": NEW_PASSWORD, "new_password": "123"}, format="json"
    )
    assert weak.status_code == 400 and "new_password" in weak.json()


# --- language and time zone ----------------------------------------------------------------


def test_the_language_is_stored_and_used_for_pages_and_emails(
    signed_in, user, committed, mailoutbox
):
    response = post(signed_in, "preferences", language="vi", time_zone="Asia/Ho_Chi_Minh")
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("vi", "Asia/Ho_Chi_Minh")

    page = signed_in.get("/account/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="vi">' in page
    with committed():
        Wallet(user).debit(9_500, action="seo_title")
    assert mailoutbox[0].subject == "Số dư token Volx của bạn sắp hết"


def test_the_header_switcher_stores_the_language_on_the_account(signed_in, user):
    signed_in.post("/i18n/setlang/", {"language": "vi", "next": "/dashboard/"})
    user.refresh_from_db()
    assert user.language == "vi"


def test_an_unknown_time_zone_is_refused(signed_in, user):
    assert (
        post(signed_in, "preferences", language="en", time_zone="Mars/Olympus").status_code == 400
    )


def test_pages_are_in_the_users_time_zone(user):
    User.objects.filter(pk=user.pk).update(time_zone="Asia/Ho_Chi_Minh", language="vi")
    request = RequestFactory().get("/dashboard/")
    request.user = User.objects.get(pk=user.pk)
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone()
        seen["language"] = translation.get_language()
        return None

    AccountPreferencesMiddleware(view)(request)

    assert seen == {"zone": zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"), "language": "vi"}
    assert timezone.get_current_timezone() == timezone.get_default_timezone()  # not kept


# --- export ----------------------------------------------------------------------------


@pytest.fixture
def customer(user):
    payment = PaymentFactory(user=user)
    payment.approve(by=UserFactory(role=User.Role.ADMIN))
    Wallet(user).debit(300, action="generate_seo_title")
    return user


def test_the_api_exports_profile_payments_ledger_and_usage(customer, client_for):
    response = client_for(customer).get("/api/auth/me/export")

    assert response.status_code == 200
    data = response.json()
    assert data["profile"]["email"] == customer.email
    assert data["subscription"]["plan_type"] == "professional"
    assert [p["status"] for p in data["payments"]] == ["approved"]
    assert (
        sum(e["delta"] for e in data["ledger"]) == data["profile"]["tokens_remaining"] == 2_009_700
    )
    assert [u["tokens_used"] for u in data["usage"]] == [300]
    assert "password" not in json.dumps(data["profile"])


def test_the_page_downloads_the_same_export(customer, client):
    client.force_login(customer)
    response = client.get("/account/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="volx-account.json"'
    assert json.loads(response.content)["payments"][0]["to_plan"] == "professional"


def test_the_export_is_the_users_own(customer, client_for):
    other = UserFactory()
    data = client_for(other).get("/api/auth/me/export").json()
    assert data["payments"] == [] and len(data["ledger"]) == 1


# --- deletion ----------------------------------------------------------------------------


def test_the_api_deletes_the_account_and_keeps_the_books(customer, client_for):
    api = client_for(customer)
    Article.objects.create(user=customer, title="My draft")
    assert api.delete("/api/auth/me", {"password": "wrong"}, format="json").status_code == 400

    response = api.delete("/api/auth/me", {"password": PASSWORD}, format="json")

    assert response.status_code == 204
    gone = User.objects.get(pk=customer.pk)
    assert gone.email == f"deleted-{gone.pk}@deleted.invalid"
    assert gone.username == f"deleted-{gone.pk}"
    assert (gone.full_name, gone.bio, gone.avatar_url, gone.is_active) == ("", "", "", False)
    assert not gone.has_usable_password()
    assert not Article.objects.filter(user_id=gone.pk).exists()
    assert gone.payments.count() == 1
    assert LedgerEntry.objects.filter(user=gone).count() == 3  # free grant, plan, debit
    assert TokenUsage.objects.filter(user=gone).count() == 1
    assert sync_report().clean
    assert api.get("/api/auth/me").status_code == 401  # the old access token


def test_the_old_address_and_username_are_free_again(user, client_for):
    email, username = user.email, user.username
    client_for(user).delete("/api/auth/me", {"password": PASSWORD}, format="json")
    UserFactory(email=email, username=username)


def test_the_page_asks_for_the_password_then_deletes(signed_in, user):
    page = signed_in.get("/account/delete/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    assert signed_in.post("/account/delete/", {"password": "wrong"}).status_code == 400
    assert User.objects.get(pk=user.pk).is_active

    response = signed_in.post("/account/delete/", {"password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == "/login/"
    assert "Your account is deleted." in response.content.decode()
    assert not User.objects.get(pk=user.pk).is_active
    assert signed_in.get("/account/").status_code == 302
    login = signed_in.post("/login/", {"username": user.username, "password": PASSWORD})
    assert login.status_code == 200  # the old login no longer works


def test_the_pages_are_in_vietnamese(signed_in, user):
    User.objects.filter(pk=user.pk).update(language="vi")
    html = signed_in.get("/account/").content.decode()
    assert "Tài khoản của bạn" in html and "Tải dữ liệu của tôi" in html


def test_a_browsers_own_language_choice_wins_over_the_accounts(signed_in, user):
    """The language cookie (the header's switcher, also before logging in) is this
    browser's choice; without one, the account's language."""
    User.objects.filter(pk=user.pk).update(language="vi")
    assert '<html lang="vi">' in signed_in.get("/dashboard/").content.decode()

    signed_in.cookies["django_language"] = "en"
    assert '<html lang="en">' in signed_in.get("/dashboard/").content.decode()


def test_saving_the_language_sets_this_browsers_choice_too(signed_in, user):
    signed_in.cookies["django_language"] = "en"
    post(signed_in, "preferences", language="vi", time_zone="UTC")
    assert signed_in.cookies["django_language"].value == "vi"
    assert '<html lang="vi">' in signed_in.get("/dashboard/").content.decode()


def test_an_insert_written_for_the_old_schema_still_works(db):
    """SPEC §4: the new columns have database defaults, so old SQL naming only the old
    columns keeps working."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users (email, username, password, full_name, avatar_url, bio,"
            " is_active, is_verified, role, tokens_remaining, verification_token,"
            " created_at, updated_at) VALUES ('old@example.com', 'old', '!', '', '', '',"
            " 1, 0, 'user', 0, NULL, '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
        )
    user = User.objects.get(username="old")
    assert (user.language, user.time_zone, user.pending_email) == ("en", "UTC", "")
