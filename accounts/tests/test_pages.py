"""Register, log in, log out, and the site-wide pages: language switcher, error pages."""

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import include, path
from django.utils import translation
from django.views.defaults import permission_denied, server_error

from accounts.models import User
from subscriptions.models import UserSubscription
from tokens.models import LedgerEntry

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-42"  # accounts.tests.factories.UserFactory's


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def csrf_token(client: Client, url: str) -> str:
    client.get(url)
    return client.cookies[settings.CSRF_COOKIE_NAME].value


def signed_in_user_id(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value else None


# --- register -------------------------------------------------------------------------


def test_register_page_renders_for_anonymous(client):
    response = client.get("/register/")

    assert response.status_code == 200
    html = response.content.decode()
    for field in ("email", "username", "password", "csrfmiddlewaretoken"):
        assert f'name="{field}"' in html


def test_register_creates_user_free_plan_and_10000_tokens_and_signs_in(client):
    response = client.post(
        "/register/",
        {"email": "New@Example.com", "username": "newbie", "password": PASSWORD},
    )

    assert response.status_code == 302
    assert response.url == "/dashboard/"
    user = User.objects.get(username="newbie")
    assert user.email == "new@example.com"
    assert user.tokens_remaining == 10_000
    subscription = UserSubscription.objects.get(user=user)
    assert (subscription.plan_type, subscription.tokens_limit, subscription.articles_limit) == (
        "free",
        10_000,
        2,
    )
    assert LedgerEntry.objects.filter(user=user).count() == 1
    assert signed_in_user_id(client) == user.pk
    dashboard = client.get("/dashboard/").content.decode()
    assert "⚡ 10,000 Token" in dashboard
    assert "Welcome to Volx! You have 10,000 free tokens." in dashboard


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"email": "USER0@example.com"}, "email", "A user with this e-mail already exists."),
        ({"username": "User0"}, "username", "A user with this username already exists."),
        ({"password": "12345678"}, "password", "This password is entirely numeric."),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
    ],
)
def test_register_refuses_invalid_input_and_creates_nothing(client, data, field, message):
    User.objects.create_user("user0", "user0@example.com", PASSWORD)
    users_before = User.objects.count()

    response = client.post(
        "/register/",
        {"email": "fresh@example.com", "username": "fresh", "password": PASSWORD, **data},
    )

    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert message in response.content.decode()
    assert User.objects.count() == users_before
    assert signed_in_user_id(client) is None


def test_register_errors_are_in_vietnamese_for_a_vietnamese_user(client):
    User.objects.create_user("user0", "user0@example.com", PASSWORD)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    response = client.post(
        "/register/", {"email": "user0@example.com", "username": "x1", "password": PASSWORD}
    )

    assert "Đã có người dùng với e-mail này." in response.content.decode()


def test_register_post_without_csrf_token_is_refused(csrf_client):
    response = csrf_client.post(
        "/register/", {"email": "a@example.com", "username": "a", "password": PASSWORD}
    )

    assert response.status_code == 403
    assert not User.objects.filter(username="a").exists()


def test_register_with_csrf_token_works_on_a_csrf_checking_client(csrf_client):
    token = csrf_token(csrf_client, "/register/")

    response = csrf_client.post(
        "/register/",
        {"email": "a@example.com", "username": "a", "password": PASSWORD},
        HTTP_X_CSRFTOKEN=token,
    )

    assert response.status_code == 302
    assert User.objects.filter(username="a").exists()


def test_register_page_sends_a_signed_in_user_to_the_dashboard(client, user):
    client.force_login(user)

    response = client.get("/register/")

    assert (response.status_code, response.url) == (302, "/dashboard/")


# --- login and logout -----------------------------------------------------------------


def test_login_page_renders_with_username_and_password_fields(client):
    response = client.get("/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert "csrfmiddlewaretoken" in html


@pytest.mark.parametrize("login", ["email", "email_upper", "username"])
def test_login_by_email_or_username(client, user, login):
    value = {"email": user.email, "email_upper": user.email.upper(), "username": user.username}

    response = client.post("/login/", {"username": value[login], "password": PASSWORD})

    assert (response.status_code, response.url) == (302, "/dashboard/")
    assert signed_in_user_id(client) == user.pk


def test_login_follows_next(client, user):
    response = client.post(
        "/login/?next=/usage/", {"username": user.username, "password": PASSWORD, "next": "/usage/"}
    )

    assert response.url == "/usage/"


def test_login_does_not_follow_next_to_another_site(client, user):
    response = client.post(
        "/login/",
        {"username": user.username, "password": PASSWORD, "next": "https://evil.example/"},
    )

    assert response.url == "/dashboard/"


@pytest.mark.parametrize("login", ["user-does-not-exist", "USER"])
def test_bad_login_shows_an_error_and_signs_nobody_in(client, user, login):
    response = client.post(
        "/login/", {"username": user.username if login == "USER" else login, "password": "wrong"}
    )

    assert response.status_code == 200
    assert "The e-mail or username and the password do not match." in response.content.decode()
    assert signed_in_user_id(client) is None


def test_bad_login_error_in_vietnamese(client, user):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    response = client.post("/login/", {"username": user.username, "password": "wrong"})

    assert "E-mail hoặc tên đăng nhập và mật khẩu không khớp." in response.content.decode()


def test_an_inactive_user_cannot_log_in(client, user):
    User.objects.filter(pk=user.pk).update(is_active=False)

    client.post("/login/", {"username": user.username, "password": PASSWORD})

    assert signed_in_user_id(client) is None


def test_login_post_without_csrf_token_is_refused(csrf_client, user):
    response = csrf_client.post("/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 403
    assert signed_in_user_id(csrf_client) is None


def test_logout_signs_out_on_post_only(client, user):
    client.force_login(user)

    assert client.get("/logout/").status_code == 405
    assert signed_in_user_id(client) == user.pk

    response = client.post("/logout/")

    assert (response.status_code, response.url) == (302, "/login/")
    assert signed_in_user_id(client) is None
    assert client.get("/dashboard/").status_code == 302


def test_logout_post_without_csrf_token_is_refused(csrf_client, user):
    csrf_client.force_login(user)

    response = csrf_client.post("/logout/")

    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert signed_in_user_id(csrf_client) == user.pk


def test_the_header_has_a_logout_form_with_a_csrf_token(client, user):
    client.force_login(user)

    html = client.get("/dashboard/").content.decode()

    logout_form = html[html.index('action="/logout/"') :]
    logout_form = logout_form[: logout_form.index("</form>")]
    assert 'method="post"' in html and "csrfmiddlewaretoken" in logout_form


# --- site-wide: root, language switcher, error pages ---------------------------------


def test_root_sends_anonymous_users_to_login_and_signed_in_users_to_the_dashboard(client, user):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/login/?next=/dashboard/"

    client.force_login(user)
    assert client.get("/").url == "/dashboard/"


def test_language_switcher_sets_vietnamese(csrf_client, user):
    csrf_client.force_login(user)
    token = csrf_token(csrf_client, "/dashboard/")
    html = csrf_client.get("/dashboard/").content.decode()
    assert 'action="/i18n/setlang/"' in html and 'value="vi"' in html

    response = csrf_client.post(
        "/i18n/setlang/", {"language": "vi", "next": "/dashboard/"}, HTTP_X_CSRFTOKEN=token
    )

    assert (response.status_code, response.url) == (302, "/dashboard/")
    assert csrf_client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "vi"
    page = csrf_client.get("/dashboard/").content.decode()
    assert '<html lang="vi">' in page
    assert "Bạn có" in page


def test_language_switcher_without_csrf_token_is_refused(csrf_client):
    response = csrf_client.post("/i18n/setlang/", {"language": "vi", "next": "/login/"})

    assert response.status_code == 403
    assert settings.LANGUAGE_COOKIE_NAME not in csrf_client.cookies


def test_login_page_in_vietnamese(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = client.get("/login/").content.decode()

    assert '<html lang="vi">' in html
    assert "Đăng nhập" in html
    assert "E-mail hoặc tên đăng nhập" in html


def test_pages_load_no_asset_from_another_site(client, user):
    client.force_login(user)

    for url in ("/login/", "/dashboard/"):
        html = client.get(url).content.decode()
        assert 'src="http' not in html and 'href="http' not in html and "//cdn" not in html


def test_404_page(client, user):
    client.force_login(user)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'id="token-badge"' in html  # the site's layout, signed in


def test_404_page_in_vietnamese(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "Không tìm thấy trang" in response.content.decode()


def test_403_page():
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()

    with translation.override("en"):
        response = permission_denied(request, PermissionDenied())

    assert response.status_code == 403
    assert "Access denied" in response.content.decode()


def test_500_page_renders_without_a_request_context():
    request = RequestFactory().get("/")

    with translation.override("vi"):
        response = server_error(request)

    assert response.status_code == 500
    assert "Đã xảy ra lỗi" in response.content.decode()


def boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("boom/", boom), path("", include("volx.urls"))]


@pytest.mark.urls(__name__)
def test_an_unhandled_error_shows_the_500_page(client):
    client.raise_request_exception = False

    response = client.get("/boom/")

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
