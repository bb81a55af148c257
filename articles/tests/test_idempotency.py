"""Idempotency-Key on AI actions: one charge per key, the first answer replayed."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from accounts.tests.factories import UserFactory
from articles.api import AIActionView
from articles.providers import ProviderError
from articles.tests.factories import ARTICLE_TEXT, ArticleFactory
from tokens.models import IdempotencyRecord, TokenUsage
from tokens.wallet import Wallet
from volx.idempotency import StillInProgress, request_fingerprint, run_once

SEO_TITLE = "/api/ai/generate-seo-title"
BODY = {"text": ARTICLE_TEXT}


def post(client, body=BODY, key="key-1", path=SEO_TITLE):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
class TestSequential:
    def test_a_repeat_replays_the_first_answer_and_charges_once(self, api, user, wallet_state):
        first = post(api)
        second = post(api)

        assert first.status_code == second.status_code == 200
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert not first.has_header("Idempotent-Replayed")
        assert wallet_state(user)["balance"] == 9_700
        assert wallet_state(user)["usage_rows"] == 1

    def test_the_same_json_in_another_key_order_is_the_same_request(self, api, user):
        body = {"text": ARTICLE_TEXT, "article_id": ArticleFactory(user=user).pk}
        first = api.post(
            SEO_TITLE,
            json.dumps(body, indent=2),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k",
        )
        second = post(api, body=dict(reversed(body.items())), key="k")

        assert second.json() == first.json()
        assert TokenUsage.objects.filter(user=user).count() == 1

    def test_the_same_key_with_another_body_is_422(self, api, user, wallet_state):
        post(api)

        response = post(api, body={"text": "Something else entirely."})

        assert response.status_code == 422
        assert response.json()["error"]
        assert wallet_state(user)["balance"] == 9_700

    def test_the_same_key_on_another_action_is_422(self, api, user, wallet_state):
        post(api)

        response = post(api, path="/api/ai/find-image")

        assert response.status_code == 422
        assert wallet_state(user)["balance"] == 9_700

    def test_keys_belong_to_their_user(self, api, user, client_for, wallet_state):
        other = UserFactory()

        assert post(api).status_code == 200
        assert post(client_for(other)).status_code == 200

        assert wallet_state(user)["balance"] == 9_700
        assert wallet_state(other)["balance"] == 9_700

    def test_without_a_key_every_request_runs(self, api, user, wallet_state):
        api.post(SEO_TITLE, BODY, format="json")
        api.post(SEO_TITLE, BODY, format="json")

        assert wallet_state(user)["balance"] == 9_400

    def test_different_keys_are_different_requests(self, api, user, wallet_state):
        post(api, key="a")
        post(api, key="b")

        assert wallet_state(user)["balance"] == 9_400

    def test_an_error_answer_is_not_kept_so_a_retry_runs(self, api, user, wallet_state):
        """402 now, tokens bought, the same retry (same key) goes through."""
        Wallet(user).debit(10_000)
        assert post(api).status_code == 402

        Wallet(user).credit(1_000)
        response = post(api)

        assert response.status_code == 200
        assert wallet_state(user)["balance"] == 700

    def test_a_failed_provider_call_is_not_kept(self, api, user, wallet_state, monkeypatch):
        def fail(self, action, text):
            raise ProviderError("down")

        monkeypatch.setattr("articles.providers.local.LocalProvider.run", fail)
        assert post(api).status_code == 502
        monkeypatch.undo()

        assert post(api).status_code == 200
        assert wallet_state(user)["balance"] == 9_700

    def test_an_exception_drops_the_record(self, api, user, monkeypatch):
        def explode(self, action, text):
            raise RuntimeError("bug")

        monkeypatch.setattr("articles.providers.local.LocalProvider.run", explode)
        with pytest.raises(RuntimeError):
            post(api)

        assert not IdempotencyRecord.objects.filter(user=user).exists()

    def test_bad_input_with_a_key_is_400_and_not_kept(self, api, user):
        assert post(api, body={"text": " "}).status_code == 400
        assert (
            api.post(
                SEO_TITLE, b"{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
            ).status_code
            == 400
        )

        assert not IdempotencyRecord.objects.filter(user=user).exists()

    @pytest.mark.parametrize("key", ["", "x" * 256])
    def test_a_key_must_be_1_to_255_characters(self, api, user, wallet_state, key):
        response = post(api, key=key)

        assert response.status_code == 400
        assert wallet_state(user)["balance"] == 10_000

    def test_a_key_is_kept_24_hours(self, api, user, wallet_state):
        post(api)
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23))

        assert post(api)["Idempotent-Replayed"] == "true"
        assert wallet_state(user)["balance"] == 9_700

    def test_after_24_hours_the_key_may_be_used_again(self, api, user, wallet_state):
        post(api)
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))

        response = post(api, body={"text": "A new request under an old key."})

        assert response.status_code == 200
        assert wallet_state(user)["balance"] == 9_400
        assert IdempotencyRecord.objects.get(user=user).created_at > timezone.now() - timedelta(
            minutes=1
        )

    def test_purge_deletes_expired_records_only(self, api, user):
        post(api, key="old")
        post(api, key="new")
        IdempotencyRecord.objects.filter(key="old").update(
            created_at=timezone.now() - timedelta(hours=25)
        )

        assert IdempotencyRecord.purge_expired() == 1
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]

    def test_a_record_abandoned_by_a_dead_process_is_taken_over(self, api, user, wallet_state):
        fingerprint = _fingerprint(user, BODY)
        IdempotencyRecord.objects.create(
            user=user,
            key="key-1",
            fingerprint=fingerprint,
            created_at=timezone.now() - timedelta(minutes=11),
        )

        assert post(api).status_code == 200
        assert wallet_state(user)["balance"] == 9_700


@pytest.mark.django_db
def test_a_duplicate_gives_up_with_409_while_the_first_still_runs(user):
    request = _request(user, BODY)
    IdempotencyRecord.objects.create(user=user, key="k", fingerprint=request_fingerprint(request))
    ran = []

    with pytest.raises(StillInProgress) as raised:
        run_once(request, "k", lambda: ran.append(1) or Response({}), wait=0.2)

    assert raised.value.status_code == 409
    assert ran == []


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_run_once_and_all_get_the_first_answer(client_for, wallet_state):
    user = UserFactory()
    authorization = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    start = threading.Barrier(10)

    def send(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=authorization)
        start.wait()  # all ten arrive together, like a burst of retries
        try:
            response = post(client, key="double-click")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(send, range(10)))

    assert [status for status, _ in answers] == [200] * 10
    assert all(body == answers[0][1] for _, body in answers)
    assert answers[0][1]["tokens_remaining"] == 9_700
    assert wallet_state(user) == {
        "balance": 9_700,
        "ledger_sum": 9_700,
        "usage_rows": 1,
        "open_holds": 0,
    }
    assert IdempotencyRecord.objects.get(user=user).status == IdempotencyRecord.Status.DONE


# --- helpers --------------------------------------------------------------------------


def _request(user, body) -> Request:
    django_request = APIRequestFactory().post(SEO_TITLE, body, format="json")
    force_authenticate(django_request, user=user)
    return AIActionView().initialize_request(django_request)


def _fingerprint(user, body) -> str:
    return request_fingerprint(_request(user, body))
