"""E-mail verification (README, Accounts): a link at registration and on request, the
banner until then, and AI_REQUIRES_VERIFIED_EMAIL."""

import re

import pytest

from accounts.models import User, token_digest
from tokens.models import TokenUsage

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-42"
LINK = re.compile(r"http://127\.0\.0\.1:8000/verify-email/(?P<token>[\w-]+)/")


def token_in(mail) -> str:
    match = LINK.search(mail.body)
    assert match, mail.body
    return match["token"]


def register(api_client, committed, **headers):
    with committed():
        return api_client.post(
            "/api/auth/register",
            {"email": "new@example.com", "username": "newbie", "password": PASSWORD},
            format="json",
            **headers,
        )


def verify(api_client, token):
    return api_client.post("/api/auth/verify-email", {"token": token}, format="json")


def test_registration_sends_the_welcome_email_with_a_link(api_client, committed, mailoutbox):
    response = register(api_client, committed)

    assert response.status_code == 201
    assert response.json()["user"]["is_verified"] is False
    assert response.json()["user"]["tokens_remaining"] == 10_000  # rule 1, verified or not
    (mail,) = mailoutbox
    assert mail.to == ["new@example.com"]
    assert mail.subject == "Welcome to Volx: please confirm your e-mail"
    assert "Your free plan is ready, with 10,000 tokens for the AI tools." in mail.body
    user = User.objects.get(username="newbie")
    assert user.verification_token == token_digest(token_in(mail))  # only the digest is kept


def test_registration_takes_the_requests_language(api_client, committed, mailoutbox):
    register(api_client, committed, HTTP_ACCEPT_LANGUAGE="vi-VN,vi;q=0.9")

    assert User.objects.get(username="newbie").language == "vi"
    assert mailoutbox[0].subject == "Chào mừng bạn đến với Volx: hãy xác nhận e-mail của bạn"
    assert "kèm 10.000 token cho các công cụ AI" in mailoutbox[0].body


def test_the_register_page_sends_it_too(client, committed, mailoutbox):
    with committed():
        client.post(
            "/register/", {"email": "page@example.com", "username": "pager", "password": PASSWORD}
        )
    assert [m.to for m in mailoutbox] == [["page@example.com"]]


def test_the_api_verifies_the_address_once(api_client, committed, mailoutbox):
    register(api_client, committed)
    token = token_in(mailoutbox[0])

    response = verify(api_client, token)

    assert response.status_code == 200
    assert response.json() == {"email": "new@example.com", "is_verified": True}
    user = User.objects.get(username="newbie")
    assert (user.is_verified, user.verification_token) == (True, None)
    again = verify(api_client, token)
    assert again.status_code == 400
    assert again.json()["error"] == "This verification link is invalid or has already been used."


@pytest.mark.parametrize("token", ["nope", "x" * 128, "x" * 129])
def test_a_wrong_token_is_a_400(user, api_client, token):
    response = verify(api_client, token)
    assert response.status_code == 400 and "error" in response.json()


def test_resend_replaces_the_link(user, client_for, committed, mailoutbox):
    api = client_for(user)
    with committed():
        first = api.post("/api/auth/verify-email/resend")
    with committed():
        second = api.post("/api/auth/verify-email/resend")

    assert (first.status_code, second.status_code) == (202, 202)
    old, new = (token_in(mail) for mail in mailoutbox)
    assert mailoutbox[0].subject == "Confirm your e-mail address for Volx"
    assert verify(api, old).status_code == 400
    assert verify(api, new).status_code == 200


def test_resend_when_verified_is_a_409(user, client_for):
    User.objects.filter(pk=user.pk).update(is_verified=True)
    response = client_for(user).post("/api/auth/verify-email/resend")
    assert response.status_code == 409 and "already verified" in response.json()["error"]


def test_resend_needs_a_login(api_client):
    assert api_client.post("/api/auth/verify-email/resend").status_code == 401


def test_resend_is_throttled_per_user(user, client_for, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "verify_email": "2/hour"},
    }
    api = client_for(user)
    statuses = [api.post("/api/auth/verify-email/resend").status_code for _ in range(3)]
    assert statuses == [202, 202, 429]


# --- pages ------------------------------------------------------------------------------


def test_the_banner_offers_to_resend_until_verified(signed_in, user, committed, mailoutbox):
    page = signed_in.get("/dashboard/").content.decode()
    assert 'id="verify-banner"' in page
    assert f"open the link we sent to {user.email}" in page

    with committed():
        response = signed_in.post("/verify-email/resend/", {"next": "/usage/"})
    assert response.status_code == 302 and response.url == "/usage/"
    token = token_in(mailoutbox[0])

    assert "Confirm my address" in signed_in.get(f"/verify-email/{token}/").content.decode()
    user.refresh_from_db()
    assert not user.is_verified  # a GET (a mail scanner) verifies nothing
    confirmed = signed_in.post(f"/verify-email/{token}/", follow=True)
    assert f"Thank you: {user.email} is verified." in confirmed.content.decode()
    user.refresh_from_db()
    assert user.is_verified
    assert 'id="verify-banner"' not in signed_in.get("/dashboard/").content.decode()


def test_the_link_works_signed_out(client, user, committed):
    token = user.new_verification_token()
    response = client.post(f"/verify-email/{token}/")
    assert response.status_code == 302 and response.url == "/login/"
    user.refresh_from_db()
    assert user.is_verified


def test_a_used_link_shows_why(client, user):
    response = client.post("/verify-email/unknown-token/")
    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()


def test_resend_redirects_only_to_this_site(signed_in, committed):
    with committed():
        response = signed_in.post("/verify-email/resend/", {"next": "https://evil.example/"})
    assert response.url == "/account/"


# --- AI_REQUIRES_VERIFIED_EMAIL ---------------------------------------------------------


def test_ai_actions_need_a_verified_address_when_the_operator_says_so(user, client_for, settings):
    settings.AI_REQUIRES_VERIFIED_EMAIL = True
    api = client_for(user)

    refused = api.post(
        "/api/ai/generate-seo-title", {"text": "Slow providers need fast wallets."}, format="json"
    )

    assert refused.status_code == 403
    assert refused.json()["error"].startswith("Verify your e-mail address first")
    assert refused.json()["code"] == "email_not_verified"  # the tools page shows `error`
    in_vietnamese = api.post(
        "/api/ai/find-image", {"text": "Ví nhanh"}, format="json", HTTP_ACCEPT_LANGUAGE="vi"
    )
    assert in_vietnamese.json()["error"].startswith("Hãy xác nhận địa chỉ e-mail trước")
    user.refresh_from_db()
    assert user.tokens_remaining == 10_000 and not TokenUsage.objects.exists()

    User.objects.filter(pk=user.pk).update(is_verified=True)
    allowed = api.post(
        "/api/ai/generate-seo-title", {"text": "Slow providers need fast wallets."}, format="json"
    )
    assert allowed.status_code == 200 and allowed.json()["tokens_remaining"] == 9_700


def test_by_default_unverified_users_may_use_ai(user, client_for):
    response = client_for(user).post(
        "/api/ai/find-image", {"text": "A red bicycle."}, format="json"
    )
    assert response.status_code == 200


def test_an_unverified_registration_still_gets_10000_tokens(api_client, committed, settings):
    settings.AI_REQUIRES_VERIFIED_EMAIL = True
    assert register(api_client, committed).json()["user"]["tokens_remaining"] == 10_000
