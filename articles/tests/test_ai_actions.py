"""The four AI actions with the local provider: prices, balances, 402s, bad input."""

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from articles.actions import ACTIONS, TEXT_MAX_CHARS
from articles.api import insufficient_tokens_payload
from articles.providers import ProviderError
from articles.providers.local import LocalProvider
from articles.tests.factories import ARTICLE_TEXT, ArticleFactory
from subscriptions.models import Plan
from tokens.models import TokenHold, TokenUsage
from tokens.wallet import InsufficientTokens, Wallet

pytestmark = pytest.mark.django_db

SEO_TITLE = "/api/ai/generate-seo-title"
ROUTES = [
    "/api/ai/generate-seo-title",
    "/api/ai/generate-meta-description",
    "/api/ai/rewrite",
    "/api/ai/find-image",
]


def set_balance(user, balance: int) -> None:
    Wallet(user).debit(Wallet(user).balance() - balance)


@pytest.mark.parametrize(
    ("path", "action", "cost"),
    [
        (SEO_TITLE, "generate_seo_title", 300),
        ("/api/ai/generate-meta-description", "generate_meta_description", 400),
        ("/api/ai/find-image", "find_image", 100),
    ],
)
def test_fixed_price_action_charges_its_cost(api, user, wallet_state, path, action, cost):
    response = api.post(path, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 200
    assert response.json()["action"] == action
    assert response.json()["tokens_used"] == cost
    assert response.json()["tokens_remaining"] == 10_000 - cost
    assert wallet_state(user) == {
        "balance": 10_000 - cost,
        "ledger_sum": 10_000 - cost,
        "usage_rows": 1,
        "open_holds": 0,
    }
    usage = TokenUsage.objects.get(user=user)
    assert (usage.action, usage.tokens_used, usage.provider_tokens) == (action, cost, None)


@pytest.mark.parametrize(
    ("length", "cost"),
    [(1_000, 600), (12_345, 1_735), (TEXT_MAX_CHARS, 2_000)],  # 500 + ceil(len / 10) ≤ 2000
)
def test_rewrite_is_priced_by_length(api, user, wallet_state, length, cost):
    # Text the engine changes: a rewrite that comes back unchanged is not charged.
    text = ((ARTICLE_TEXT + " ") * (length // len(ARTICLE_TEXT) + 1))[: length - 1] + "."

    response = api.post("/api/ai/rewrite", {"text": text}, format="json")

    assert response.status_code == 200
    assert response.json()["tokens_used"] == cost
    assert wallet_state(user)["balance"] == 10_000 - cost
    assert TokenUsage.objects.get(user=user).tokens_used == cost


def test_rewrite_cost_formula():
    rewrite = ACTIONS["rewrite"]
    assert [rewrite.cost("x" * n) for n in (1, 10, 11, 1_000, 14_999, 15_000, 20_000)] == [
        501,
        501,
        502,
        600,
        2_000,
        2_000,
        2_000,
    ]


def test_the_client_cannot_set_the_price(api, user, wallet_state):
    response = api.post(
        SEO_TITLE, {"text": ARTICLE_TEXT, "cost": 1, "tokens_used": 1}, format="json"
    )

    assert response.json()["tokens_used"] == 300
    assert wallet_state(user)["balance"] == 9_700


def test_results_have_the_promised_shapes(api):
    title = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json").json()["result"]
    meta = api.post(
        "/api/ai/generate-meta-description", {"text": ARTICLE_TEXT}, format="json"
    ).json()["result"]
    rewritten = api.post("/api/ai/rewrite", {"text": ARTICLE_TEXT}, format="json").json()["result"]
    image = api.post("/api/ai/find-image", {"text": ARTICLE_TEXT}, format="json").json()["result"]

    assert 0 < len(title) <= 60
    assert 0 < len(meta) <= 160
    assert rewritten and rewritten != ARTICLE_TEXT
    assert image["query"] and isinstance(image["suggestions"], list)


@pytest.mark.parametrize(
    ("balance", "missing"),
    [(0, 300), (299, 1)],
)
def test_not_enough_tokens_is_402_with_the_numbers(api, user, wallet_state, balance, missing):
    set_balance(user, balance)

    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 402
    assert response.json() == {
        "error": "Insufficient tokens",
        "remaining": balance,
        "required": 300,
        "missing": missing,
        "plan_type": "free",
        "tokens_limit": 10_000,
        "suggested_plan": {
            "slug": "starter",
            "name": "Starter",
            "tokens": 400_000,
            "price_monthly": "9.00",
        },
    }
    assert wallet_state(user) == {
        "balance": balance,
        "ledger_sum": balance,
        "usage_rows": 0,
        "open_holds": 0,
    }


def test_exactly_enough_tokens_spends_down_to_zero(api, user, wallet_state):
    set_balance(user, 300)

    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 200
    assert response.json()["tokens_remaining"] == 0
    assert wallet_state(user) == {"balance": 0, "ledger_sum": 0, "usage_rows": 1, "open_holds": 0}
    assert api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json").status_code == 402


@pytest.mark.parametrize(
    ("missing", "plan"),
    [(1, "starter"), (400_000, "starter"), (400_001, "grow"), (6_500_000, "enterprise")],
)
def test_suggested_plan_is_the_smallest_that_covers_the_shortfall(user, missing, plan):
    payload = insufficient_tokens_payload(user, InsufficientTokens(remaining=0, required=missing))

    assert payload["suggested_plan"]["slug"] == plan


def test_a_plan_that_cannot_be_bought_is_never_suggested(user):
    Plan.objects.filter(slug="starter").update(price_monthly=0)
    shortfall = InsufficientTokens(remaining=0, required=1)

    assert insufficient_tokens_payload(user, shortfall)["suggested_plan"]["slug"] == "grow"


def test_no_plan_is_suggested_when_none_covers_the_shortfall(user):
    shortfall = InsufficientTokens(remaining=0, required=6_500_001)

    assert insufficient_tokens_payload(user, shortfall)["suggested_plan"] is None


def test_usage_is_recorded_against_the_callers_article(api, user):
    article = ArticleFactory(user=user)

    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT, "article_id": article.pk}, format="json")

    assert response.status_code == 200
    assert TokenUsage.objects.get(user=user).article_id == article.pk


@pytest.mark.parametrize("whose", ["another user's", "nobody's", "out of range"])
def test_an_article_that_is_not_the_callers_is_404_and_free(api, user, wallet_state, whose):
    article_id = {
        "another user's": lambda: ArticleFactory(user=UserFactory()).pk,
        "nobody's": lambda: 999_999,
        "out of range": lambda: 10**20,
    }[whose]()

    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT, "article_id": article_id}, format="json")

    assert response.status_code == 404
    assert "error" in response.json()
    assert wallet_state(user) == {
        "balance": 10_000,
        "ledger_sum": 10_000,
        "usage_rows": 0,
        "open_holds": 0,
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   \n\t "},
        {"text": None},
        {"text": 12345},
        {"text": ["a list"]},
        {"text": "x" * (TEXT_MAX_CHARS + 1)},
        {"text": ARTICLE_TEXT, "article_id": "not a number"},
        {"text": "\u200b" * 50},
        {"text": " \u200b\u200c\u200d\u2060\ufeff\u00ad\u180e \u3164\u2800\u034f "},
        {"text": "\u202e\u2066\U000e0041\ufe0f\u0301"},
    ],
    ids=[
        "missing", "empty", "whitespace", "null", "number", "list", "too-long", "bad-article",
        "zero-width", "invisible", "marks-only",
    ],
)  # fmt: skip
@pytest.mark.parametrize("path", ROUTES)
def test_bad_input_is_400_and_free(api, user, wallet_state, path, body):
    response = api.post(path, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]
    assert wallet_state(user)["balance"] == 10_000
    assert wallet_state(user)["usage_rows"] == 0


@pytest.mark.parametrize("raw", [b'{"text": "unterminated', b"not json", b"[1, 2]"])
def test_malformed_json_is_400_and_free(api, user, wallet_state, raw):
    response = api.post(SEO_TITLE, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]
    assert wallet_state(user)["balance"] == 10_000


@pytest.mark.parametrize(
    "body",
    [b"text=%FF%FE%FD", b"text=caf%E9", b"text=\xff\xfe", "text=café".encode("latin-1")],
    ids=["percent-escaped", "latin-1-escaped", "raw-bytes", "raw-latin-1"],
)
@pytest.mark.parametrize("path", ROUTES)
def test_a_form_body_that_is_not_utf8_is_400_and_free(api, user, wallet_state, path, body):
    response = api.post(path, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400, response.content
    assert "UTF-8" in response.json()["error"].upper().replace("UTF8", "UTF-8")
    assert wallet_state(user) == {
        "balance": 10_000, "ledger_sum": 10_000, "usage_rows": 0, "open_holds": 0,
    }  # fmt: skip


def test_a_multipart_body_that_is_not_utf8_is_400_and_free(api, user, wallet_state):
    boundary = "volxboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n'.encode()
        + b"\xff\xfe not text\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    response = api.post(SEO_TITLE, body, content_type=f"multipart/form-data; boundary={boundary}")

    assert response.status_code == 400, response.content
    assert wallet_state(user)["balance"] == 10_000


def test_a_valid_form_body_is_accepted(api, user):
    response = api.post(
        SEO_TITLE, "text=Caf%C3%A9+Volx+writes", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "text", ["\u200bVolx\u200b", "\u05d0\u05d1", "\u0915\u094d\u0937", "🙂", "e\u0301"]
)
def test_text_with_something_visible_is_accepted(api, text):
    assert api.post(SEO_TITLE, {"text": text}, format="json").status_code == 200


def test_text_at_the_maximum_is_accepted(api):
    text = "x" * TEXT_MAX_CHARS
    assert api.post(SEO_TITLE, {"text": text}, format="json").status_code == 200


def test_text_is_measured_after_stripping(api):
    text = "  " + "x" * TEXT_MAX_CHARS + "\n\n"
    assert api.post(SEO_TITLE, {"text": text}, format="json").status_code == 200


@pytest.mark.parametrize("path", ROUTES)
def test_unauthenticated_is_401(api_client, path):
    response = api_client.post(path, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]


def test_only_post_is_allowed(api):
    assert api.get(SEO_TITLE).status_code == 405


def test_any_failure_of_the_provider_releases_the_hold(api, user, wallet_state, monkeypatch):
    """Not only the provider's own errors: a bug or an interrupt must not cost tokens."""

    def explode(self, action, text):
        raise RuntimeError("bug in the provider")

    monkeypatch.setattr("articles.providers.local.LocalProvider.run", explode)

    with pytest.raises(RuntimeError):
        api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert wallet_state(user) == {
        "balance": 10_000,
        "ledger_sum": 10_000,
        "usage_rows": 0,
        "open_holds": 0,
    }
    assert TokenHold.objects.get(user=user).status == TokenHold.Status.RELEASED


def test_a_provider_error_is_502_and_free(api, user, wallet_state, monkeypatch):
    def fail(self, action, text):
        raise ProviderError("The AI provider failed (HTTP 500).")

    monkeypatch.setattr("articles.providers.local.LocalProvider.run", fail)

    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 502
    assert response.json() == {"error": "The AI provider failed (HTTP 500)."}
    assert wallet_state(user)["balance"] == 10_000
    assert wallet_state(user)["usage_rows"] == 0


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_no_row_lock_is_held_while_the_provider_runs(client_for, monkeypatch):
    """An open transaction would keep the user's row locked (all their other requests
    waiting) for as long as the provider takes: while it runs, another connection
    changes the row at once."""
    user = UserFactory()
    run = LocalProvider.run
    changed = []

    def spy(self, action, text):  # on a thread of its own, with a connection of its own
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
                cursor.execute("UPDATE users SET bio = 'edited' WHERE id = %s", [user.pk])
                changed.append(cursor.rowcount)
        finally:
            connection.close()
        return run(self, action, text)

    monkeypatch.setattr(LocalProvider, "run", spy)

    response = client_for(user).post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 200
    assert changed == [1]
    user.refresh_from_db()
    assert (user.bio, user.tokens_remaining) == ("edited", 10_000 - 300)
