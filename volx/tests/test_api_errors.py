"""Every answer under /api/ that is an error is JSON with an `error` string, whatever the
input and whatever broke: bodies nested too deep, bodies too large, text in no valid
encoding, an unknown path, a server error (a lost database connection). The pages keep
their HTML error pages."""

import json

import pytest
from django.db import OperationalError
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.tests.factories import AdminFactory, UserFactory
from tokens import api as tokens_api
from tokens import views as tokens_views
from tokens.models import LedgerEntry
from volx.api import MAX_JSON_DEPTH
from volx.tests.faults import database_rows

pytestmark = pytest.mark.django_db

DEEP = 5_000


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int = DEEP) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}


def assert_json_error(response, status: int | tuple[int, ...]) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body["error"], str) and body["error"], body
    return body


@pytest.mark.parametrize("body", [deep_json(), deep_object()], ids=["array", "object"])
@pytest.mark.parametrize(
    "path, signed_in",
    [
        ("/api/auth/login", False),
        ("/api/auth/register", False),
        ("/api/auth/refresh", False),
        ("/api/ai/generate-seo-title", True),
        ("/api/articles", True),
    ],
)
def test_json_nested_too_deep_is_a_400(path, signed_in, body):
    user = UserFactory()
    headers = bearer(user) if signed_in else {}
    before = database_rows()

    response = Client().post(path, body, content_type="application/json", **headers)

    assert "nested too deep" in assert_json_error(response, 400)["error"]
    assert database_rows() == before


def test_json_nested_too_deep_is_a_400_on_the_admin_api():
    admin, user = AdminFactory(), UserFactory()
    response = Client().post(
        f"/api/admin/users/{user.pk}/bonus",
        deep_object(),
        content_type="application/json",
        **bearer(admin),
    )
    assert_json_error(response, 400)
    assert not LedgerEntry.objects.filter(user=user, kind="bonus").exists()


def test_json_nested_within_the_limit_is_parsed():
    user = UserFactory()
    nested = json.loads(deep_json(MAX_JSON_DEPTH - 1))  # inside the body's own object
    body = json.dumps({"text": "Volx writes SEO titles.", "nested": nested})
    response = Client().post(
        "/api/ai/generate-seo-title", body, content_type="application/json", **bearer(user)
    )
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/ai/rewrite", "/api/articles"])
def test_a_body_over_the_limit_is_a_json_413(settings, path, content_type):
    user = UserFactory()
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    if content_type == "application/json":
        body = json.dumps({"text": "x" * size})
    else:
        body = "text=" + "x" * size
    before = database_rows()

    response = Client().post(path, body, content_type=content_type, **bearer(user))

    assert "too large" in assert_json_error(response, 413)["error"]
    assert database_rows() == before


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/payments/stripe/webhook"])
def test_a_content_length_over_the_limit_is_a_json_413_before_reading(settings, path):
    """Said by the header, answered before the body is read (a client sending it slowly
    holds nothing)."""
    response = Client().post(
        path,
        "{}",
        content_type="application/json",
        CONTENT_LENGTH=str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
    )
    assert_json_error(response, 413)


def test_too_many_form_fields_is_a_json_400(settings):
    user = UserFactory()
    body = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = Client().post(
        "/api/articles", body, content_type="application/x-www-form-urlencoded", **bearer(user)
    )
    assert_json_error(response, 400)


def test_a_page_over_the_limit_keeps_its_html_400(settings, client, user):
    client.force_login(user)
    body = "title=" + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = Client(raise_request_exception=False).post(
        "/login/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def a_bug(*args, **kwargs):
    raise OperationalError(1054, "Unknown column 'secret_column' in 'field list'")


def test_a_server_error_under_api_is_json(monkeypatch):
    monkeypatch.setattr(tokens_api, "balance_summary", a_bug)
    user = UserFactory()

    response = Client(raise_request_exception=False).get("/api/tokens/balance", **bearer(user))

    body = assert_json_error(response, 500)
    assert "secret_column" not in json.dumps(body)  # nothing of the exception is shown


def test_a_server_error_in_an_ai_action_is_json(monkeypatch):
    from articles import api as articles_api

    monkeypatch.setattr(articles_api, "hold", a_bug)
    user = UserFactory()

    response = Client(raise_request_exception=False).post(
        "/api/ai/generate-seo-title",
        {"text": "Volx writes SEO titles."},
        content_type="application/json",
        **bearer(user),
    )

    assert_json_error(response, 500)
    assert User.objects.get(pk=user.pk).tokens_remaining == 10_000


def test_a_server_error_on_a_page_keeps_the_html_500(monkeypatch, user):
    monkeypatch.setattr(tokens_views.UsageChart, "for_user", a_bug)
    client = Client(raise_request_exception=False)
    client.force_login(user)

    response = client.get("/dashboard/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/no-such-thing", "/api/payments/x/approve", "/api/"])
def test_an_unknown_api_path_is_a_json_404(path):
    assert_json_error(Client().get(path), 404)


def test_an_unknown_page_keeps_the_html_404():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_refresh_token_of_a_deleted_user_is_a_401():
    user = UserFactory()
    refresh = str(RefreshToken.for_user(user))
    User.objects.filter(pk=user.pk).delete()

    response = Client().post(
        "/api/auth/refresh", {"refresh": refresh}, content_type="application/json"
    )

    assert_json_error(response, 401)


@pytest.mark.parametrize("path, method", [("/api/auth/me", "patch"), ("/api/articles", "post")])
def test_a_lone_surrogate_in_json_is_a_400(path, method):
    """Valid JSON, but no text: saving it raised UnicodeEncodeError (a 500)."""
    user = UserFactory()
    body = '{"bio": "\\ud800", "title": "a\\udfffb"}'
    before = database_rows()

    response = getattr(Client(), method)(
        path, body, content_type="application/json", **bearer(user)
    )

    assert "not valid Unicode" in assert_json_error(response, 400)["error"]
    assert database_rows() == before


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer not-a-token", "Basic eA=="])
def test_the_docs_page_ignores_an_unreadable_authorization_header(authorization):
    """The Swagger page rendered its 405 through a template that read request.user, and
    simplejwt raised there, after DRF's exception handling: a 500."""
    client = Client(HTTP_AUTHORIZATION=authorization)
    assert client.get("/api/docs/").status_code == 200
    assert_json_error(client.post("/api/docs/", "{}", content_type="application/json"), 405)


def test_a_login_password_is_bounded():
    response = Client().post(
        "/api/auth/login",
        {"login": "ana", "password": "x" * 5_000},
        content_type="application/json",
    )
    assert_json_error(response, 400)
