"""A rewrite that gives the text back unchanged is not charged: the hold is released and
the answer says so (tokens_used 0, a note)."""

import json

import pytest

from articles.actions import UNCHANGED_NOTE
from articles.providers.base import ProviderAnswer
from articles.providers.local import LocalProvider
from articles.tests.factories import ARTICLE_TEXT
from tokens.models import IdempotencyRecord, TokenHold, TokenUsage

pytestmark = pytest.mark.django_db


@pytest.fixture
def echoing_provider(monkeypatch):
    async def echo(self, action, text, on_delta=None):
        if on_delta:
            on_delta(text)
        return ProviderAnswer("  " + text.replace(" ", "  ") + "\n")  # only spacing differs

    monkeypatch.setattr(LocalProvider, "answer", echo)


def test_an_unchanged_rewrite_costs_nothing(api, user, wallet_state, echoing_provider):
    response = api.post("/api/ai/rewrite", {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["tokens_used"], body["tokens_remaining"], body["note"]) == (
        0,
        10_000,
        UNCHANGED_NOTE,
    )
    assert wallet_state(user) == {
        "balance": 10_000,
        "ledger_sum": 10_000,
        "usage_rows": 0,
        "open_holds": 0,
    }
    assert TokenHold.objects.get(user=user).status == TokenHold.Status.RELEASED


def test_streamed_the_done_event_says_so(api, user, echoing_provider):
    response = api.post("/api/ai/rewrite", {"text": ARTICLE_TEXT, "stream": True}, format="json")

    done = b"".join(response).decode().split("event: done\ndata: ")[1]
    assert json.loads(done)["tokens_used"] == 0
    assert not TokenUsage.objects.filter(user=user).exists()


def test_a_retry_with_the_key_replays_it_free(api, user, echoing_provider):
    first = api.post(
        "/api/ai/rewrite", {"text": ARTICLE_TEXT}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    again = api.post(
        "/api/ai/rewrite", {"text": ARTICLE_TEXT}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert first.json() == again.json()
    assert IdempotencyRecord.objects.get(user=user).status == IdempotencyRecord.Status.DONE
    assert TokenHold.objects.filter(user=user).count() == 1


def test_a_changed_rewrite_is_charged_as_before(api, user):
    response = api.post("/api/ai/rewrite", {"text": ARTICLE_TEXT}, format="json")

    assert response.json()["result"] != ARTICLE_TEXT
    assert response.json()["tokens_used"] == 500 + -(-len(ARTICLE_TEXT) // 10)
    assert "note" not in response.json()


@pytest.mark.parametrize("action", ["/api/ai/generate-seo-title", "/api/ai/find-image"])
def test_other_actions_are_charged_whatever_they_answer(api, user, echoing_provider, action):
    response = api.post(action, {"text": "Coffee"}, format="json")

    assert response.json()["tokens_used"] > 0
