import pytest
from django.core.management import call_command

from accounts.models import User

LOGIN = "/api/auth/login"
PASSWORD = "Correct-Horse-42"


@pytest.mark.django_db
@pytest.mark.parametrize("login", ["ana", "ana@example.com", "ANA@Example.com"])
def test_login_with_email_or_username(api_client, login):
    User.objects.create_user("ana", "ana@example.com", PASSWORD)

    response = api_client.post(LOGIN, {"login": login, "password": PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["token"] and body["refresh"]
    assert body["user"]["username"] == "ana"
    assert body["user"]["tokens_remaining"] == 10_000


@pytest.mark.django_db
@pytest.mark.parametrize(
    "login, password", [("ana", "wrong-password"), ("nobody", PASSWORD), ("", PASSWORD)]
)
def test_bad_credentials(api_client, login, password):
    User.objects.create_user("ana", "ana@example.com", PASSWORD)

    response = api_client.post(LOGIN, {"login": login, "password": password}, format="json")

    assert response.status_code in (400, 401) if not login else response.status_code == 401
    assert "token" not in response.json()
    assert response.json()["error"]


@pytest.mark.django_db
def test_inactive_user_cannot_log_in(api_client):
    User.objects.create_user("ana", "ana@example.com", PASSWORD, is_active=False)
    response = api_client.post(LOGIN, {"login": "ana", "password": PASSWORD}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_refresh_gives_a_working_access_token(api_client):
    User.objects.create_user("ana", "ana@example.com", PASSWORD)
    refresh = api_client.post(LOGIN, {"login": "ana", "password": PASSWORD}, format="json").json()[
        "refresh"
    ]

    response = api_client.post("/api/auth/refresh", {"refresh": refresh}, format="json")

    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    assert api_client.get("/api/auth/me").status_code == 200


@pytest.mark.django_db
def test_refresh_with_a_bad_token_is_401(api_client):
    response = api_client.post("/api/auth/refresh", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_an_access_token_is_not_a_refresh_token(api_client, user, client_for):
    from rest_framework_simplejwt.tokens import RefreshToken

    access = str(RefreshToken.for_user(user).access_token)
    response = api_client.post("/api/auth/refresh", {"refresh": access}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_me_shows_the_documented_shape(user, client_for):
    me = client_for(user).get("/api/auth/me").json()

    assert set(me) >= {
        "id", "email", "username", "full_name", "role", "is_verified", "tokens_remaining",
        "subscription",
    }  # fmt: skip
    assert set(me["subscription"]) == {
        "plan_type", "tokens_limit", "articles_limit", "billing_cycle", "is_active",
        "auto_renew", "expires_at", "payment_method",
    }  # fmt: skip


@pytest.mark.django_db
def test_patch_me_changes_only_profile_fields(user, client_for):
    response = client_for(user).patch(
        "/api/auth/me",
        {
            "full_name": "New Name",
            "bio": "Writes about SEO.",
            "avatar_url": "https://example.com/a.png",
            # none of these may be applied:
            "role": "admin",
            "tokens_remaining": 9_999_999,
            "email": "evil@example.com",
            "username": "root",
            "is_verified": True,
            "subscription": {"plan_type": "enterprise", "tokens_limit": 9_999_999},
        },
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.full_name, user.bio, user.avatar_url) == (
        "New Name",
        "Writes about SEO.",
        "https://example.com/a.png",
    )
    assert user.role == "user"
    assert user.tokens_remaining == 10_000
    assert user.email.endswith("@example.com") and user.email != "evil@example.com"
    assert user.username != "root"
    assert user.is_verified is False
    assert user.subscription.plan_type == "free"
    assert user.subscription.tokens_limit == 10_000


@pytest.mark.django_db
def test_patch_me_validates(user, client_for):
    response = client_for(user).patch("/api/auth/me", {"avatar_url": "not a url"}, format="json")
    assert response.status_code == 400
    assert "avatar_url" in response.json()


@pytest.mark.django_db
def test_put_is_not_allowed_on_me(user, client_for):
    assert client_for(user).put("/api/auth/me", {}, format="json").status_code == 405


@pytest.mark.django_db
def test_createsuperuser_noinput_gives_role_admin_wallet_and_admin_site(monkeypatch, client):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "boss@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "An-Admin-Pass-77")

    call_command("createsuperuser", "--noinput", verbosity=0)

    boss = User.objects.get(username="boss")
    assert boss.role == "admin"
    assert boss.tokens_remaining == 10_000
    assert boss.subscription.plan_type == "free"
    # Through the admin's own login form: the lockout backend needs the request, which
    # Client.login() does not pass.
    response = client.post("/admin/login/", {"username": "boss", "password": "An-Admin-Pass-77"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_plain_user_is_kept_out_of_the_admin_site(user, client):
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
