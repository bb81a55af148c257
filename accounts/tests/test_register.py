from unittest import mock

import pytest

from accounts.models import User
from subscriptions.models import UserSubscription
from tokens.models import LedgerEntry

URL = "/api/auth/register"
GOOD = {"email": "Ana@Example.com", "username": "ana", "password": "Correct-Horse-42"}


def nothing_written():
    return not (
        User.objects.exists() or UserSubscription.objects.exists() or LedgerEntry.objects.exists()
    )


@pytest.mark.django_db
def test_register_creates_user_free_plan_and_10000_tokens(api_client):
    response = api_client.post(URL, {**GOOD, "full_name": "Ana Silva"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["token"] and body["refresh"]
    me = body["user"]
    assert me["email"] == "ana@example.com"
    assert me["username"] == "ana"
    assert me["full_name"] == "Ana Silva"
    assert me["role"] == "user"
    assert me["is_verified"] is False
    assert me["tokens_remaining"] == 10_000
    assert me["subscription"]["plan_type"] == "free"
    assert me["subscription"]["tokens_limit"] == 10_000
    assert me["subscription"]["articles_limit"] == 2
    assert "password" not in me

    user = User.objects.get(username="ana")
    assert user.check_password("Correct-Horse-42")
    [grant] = LedgerEntry.objects.filter(user=user)
    assert (grant.kind, grant.delta, grant.balance_after) == ("grant", 10_000, 10_000)


@pytest.mark.django_db
def test_the_returned_token_authenticates(api_client):
    token = api_client.post(URL, GOOD, format="json").json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.get("/api/auth/me").json()["username"] == "ana"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [
        ({"email": None}, "email"),
        ({"username": None}, "username"),
        ({"password": None}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"username": "has space"}, "username"),
        ({"password": "short"}, "password"),
        ({"password": "12345678901"}, "password"),  # numeric only
        ({"password": "password123"}, "password"),  # common
        ({"password": "ana@example.com"}, "password"),  # too similar to the e-mail
    ],
)
def test_bad_input_is_400_with_field_errors_and_writes_nothing(api_client, change, field):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}

    response = api_client.post(URL, data, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert response.json()["error"]
    assert nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "second, field",
    [
        ({"email": "ANA@example.com", "username": "other"}, "email"),
        ({"email": "other@example.com", "username": "ANA"}, "username"),
    ],
)
def test_duplicate_email_or_username_is_400(api_client, second, field):
    assert api_client.post(URL, GOOD, format="json").status_code == 201

    response = api_client.post(URL, {**GOOD, **second}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_malformed_json_is_400(api_client):
    response = api_client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()
    assert nothing_written()


@pytest.mark.django_db(transaction=True)
def test_a_failure_in_the_wallet_grant_leaves_no_row_behind(api_client):
    failing = mock.patch("tokens.wallet.Wallet.credit", side_effect=RuntimeError("disk full"))
    with failing, pytest.raises(RuntimeError):
        api_client.post(URL, GOOD, format="json")
    assert nothing_written()


@pytest.mark.django_db(transaction=True)
def test_a_failure_creating_the_subscription_leaves_no_row_behind(api_client):
    failing = mock.patch.object(UserSubscription.objects, "create", side_effect=RuntimeError("x"))
    with failing, pytest.raises(RuntimeError):
        api_client.post(URL, GOOD, format="json")
    assert nothing_written()
