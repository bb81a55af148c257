import pytest

from accounts.tests.factories import AdminFactory, UserFactory
from tokens.models import MAX_BALANCE, IdempotencyRecord, LedgerEntry
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db


def test_balance(user, client_for):
    Wallet(user).debit(300, action="seo_title")

    body = client_for(user).get("/api/tokens/balance").json()

    assert body == {
        "tokens_remaining": 9_700,
        "tokens_limit": 10_000,
        "tokens_used": 300,
        "plan_type": "free",
    }


def test_balance_used_is_never_negative_after_a_bonus(user, client_for):
    Wallet(user).credit(5_000, kind="bonus")
    body = client_for(user).get("/api/tokens/balance").json()
    assert (body["tokens_remaining"], body["tokens_limit"], body["tokens_used"]) == (
        15_000,
        10_000,
        0,
    )


def test_history_is_paginated_newest_first_and_own_only(user, client_for):
    other = UserFactory()
    Wallet(other).debit(100, action="find_image")
    for action in ["seo_title"] * 22 + ["rewrite"]:
        Wallet(user).debit(100, action=action)

    page1 = client_for(user).get("/api/tokens/history").json()
    page2 = client_for(user).get("/api/tokens/history?page=2").json()

    assert page1["count"] == 23
    assert len(page1["results"]) == 20 and len(page2["results"]) == 3
    assert page1["next"] and page1["previous"] is None
    assert page1["results"][0]["action"] == "rewrite"
    assert set(page1["results"][0]) == {"id", "action", "tokens_used", "article_id", "created_at"}
    ids = [r["id"] for r in page1["results"] + page2["results"]]
    assert ids == sorted(ids, reverse=True)
    other_ids = set(other.token_usage.values_list("id", flat=True))
    assert not other_ids & set(ids)


def test_history_page_out_of_range_is_404(user, client_for):
    assert client_for(user).get("/api/tokens/history?page=9").status_code == 404


class TestBonus:
    def url(self, user):
        return f"/api/admin/users/{user.pk}/bonus"

    def test_non_admin_is_403_and_nothing_changes(self, user, client_for):
        other = UserFactory()
        response = client_for(user).post(
            self.url(other), {"tokens": 100, "reason": "x"}, format="json"
        )
        assert response.status_code == 403
        other.refresh_from_db()
        assert other.tokens_remaining == 10_000

    @pytest.mark.parametrize(
        "body",
        [
            {"tokens": 0, "reason": "x"},
            {"tokens": -5, "reason": "x"},
            {"tokens": "many", "reason": "x"},
            {"tokens": 100},
            {"tokens": 100, "reason": ""},
            {"reason": "x"},
        ],
    )
    def test_bad_input_is_400_and_grants_nothing(self, user, admin_user, client_for, body):
        response = client_for(admin_user).post(self.url(user), body, format="json")
        assert response.status_code == 400
        assert response.json()["error"]
        user.refresh_from_db()
        assert user.tokens_remaining == 10_000
        assert not LedgerEntry.objects.filter(kind="bonus").exists()

    def test_a_bonus_past_the_balance_columns_range_is_400(self, user, admin_user, client_for):
        """users.tokens_remaining and the ledger's balance_after are INT: MariaDB refused
        the UPDATE (a 500); SQLite stored a balance no MySQL column could hold."""
        Wallet(user).credit(MAX_BALANCE - 10_000 - 10, kind="bonus")
        entries = LedgerEntry.objects.count()

        response = client_for(admin_user).post(
            self.url(user), {"tokens": 11, "reason": "x"}, format="json"
        )

        assert response.status_code == 400
        assert "2,147,483,647" in response.json()["error"]
        user.refresh_from_db()
        assert user.tokens_remaining == MAX_BALANCE - 10
        assert LedgerEntry.objects.count() == entries

    def test_a_bonus_up_to_the_balance_columns_range_is_granted(self, user, admin_user, client_for):
        Wallet(user).credit(MAX_BALANCE - 10_000 - 10, kind="bonus")
        response = client_for(admin_user).post(
            self.url(user), {"tokens": 10, "reason": "x"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["tokens_remaining"] == MAX_BALANCE

    def test_an_admin_with_the_longest_username_fits_the_reference(self, user, client_for):
        admin = AdminFactory(username="a" * 150)
        response = client_for(admin).post(
            self.url(user), {"tokens": 5, "reason": "x"}, format="json"
        )
        assert response.status_code == 200
        entry = LedgerEntry.objects.get(user=user, kind="bonus")
        assert entry.reference.startswith("bonus by aaaa")
        assert len(entry.reference) <= LedgerEntry._meta.get_field("reference").max_length

    def test_a_retried_grant_with_the_same_idempotency_key_lands_once(
        self, user, admin_user, client_for
    ):
        api = client_for(admin_user)
        body = {"tokens": 5_000, "reason": "sorry for the outage"}

        first = api.post(self.url(user), body, format="json", HTTP_IDEMPOTENCY_KEY="bonus-1")
        again = api.post(self.url(user), body, format="json", HTTP_IDEMPOTENCY_KEY="bonus-1")

        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        user.refresh_from_db()
        assert user.tokens_remaining == 15_000
        assert LedgerEntry.objects.filter(user=user, kind="bonus").count() == 1

    def test_the_ledger_key_holds_when_the_answer_is_no_longer_stored(
        self, user, admin_user, client_for
    ):
        """Idempotency-Key records are purged after a day; the ledger's key is kept."""
        api = client_for(admin_user)
        body = {"tokens": 5_000, "reason": "x"}
        api.post(self.url(user), body, format="json", HTTP_IDEMPOTENCY_KEY="bonus-2")
        IdempotencyRecord.objects.all().delete()

        again = api.post(self.url(user), body, format="json", HTTP_IDEMPOTENCY_KEY="bonus-2")

        assert again.status_code == 200
        assert again.json()["tokens_remaining"] == 15_000
        assert LedgerEntry.objects.filter(user=user, kind="bonus").count() == 1

    def test_without_a_key_each_request_grants(self, user, admin_user, client_for):
        api = client_for(admin_user)
        for _ in range(2):
            api.post(self.url(user), {"tokens": 100, "reason": "x"}, format="json")
        user.refresh_from_db()
        assert user.tokens_remaining == 10_200

    def test_unknown_user_is_404(self, admin_user, client_for):
        response = client_for(admin_user).post(
            "/api/admin/users/999999/bonus", {"tokens": 5, "reason": "x"}, format="json"
        )
        assert response.status_code == 404


def test_token_sync_api_is_admin_only(user, admin_user, client_for):
    assert client_for(user).get("/api/admin/token-sync").status_code == 403
    body = client_for(admin_user).get("/api/admin/token-sync").json()
    assert body["clean"] is True
    assert body["statuses"]["Synced"] == 2
