"""AI_PROVIDER=openai against a chat-completions server started by the test (no network,
articles/tests/chat_server.py)."""

import json
import time

import pytest

from articles.tests.chat_server import ChatServer
from articles.tests.factories import ARTICLE_TEXT
from tokens.models import TokenHold, TokenUsage
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db

SEO_TITLE = "/api/ai/generate-seo-title"
FREE = {"balance": 10_000, "ledger_sum": 10_000, "usage_rows": 0, "open_holds": 0}


@pytest.fixture
def chat_server(settings):
    server = ChatServer().start()
    settings.AI_PROVIDER = "openai"
    settings.AI_BASE_URL = server.base_url
    settings.AI_API_KEY = ""
    settings.AI_MODEL = "test-model"
    settings.AI_TIMEOUT = 10.0  # generous: a loaded CI machine must not time an answer out
    yield server
    server.stop()


def test_success_charges_the_price_and_records_the_providers_tokens(
    api, user, wallet_state, chat_server
):
    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "action": "generate_seo_title",
        "result": "Home Coffee Brewing: Grind Size and Water",
        "tokens_used": 300,  # the price list's cost, not the provider's 123
        "tokens_remaining": 9_700,
    }
    assert wallet_state(user) == {
        "balance": 9_700,
        "ledger_sum": 9_700,
        "usage_rows": 1,
        "open_holds": 0,
    }
    usage = TokenUsage.objects.get(user=user)
    assert (usage.tokens_used, usage.provider_tokens) == (300, 123)

    [request] = chat_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "test-model"
    assert request["body"]["messages"][-1] == {"role": "user", "content": ARTICLE_TEXT}
    assert request["authorization"] == "Bearer none"


def test_a_long_answer_is_cut_to_the_titles_limit(api, chat_server):
    chat_server.content = '"' + "Brewing coffee at home " * 5 + '"'

    title = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json").json()["result"]

    assert len(title) <= 60
    assert title.startswith("Brewing coffee at home") and title.endswith("…")


def test_find_image_reads_the_json_answer(api, chat_server):
    chat_server.content = '```json\n{"query": "coffee grinder", "suggestions": ["kettle"]}\n```'

    response = api.post("/api/ai/find-image", {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 200
    assert response.json()["result"] == {"query": "coffee grinder", "suggestions": ["kettle"]}


@pytest.mark.parametrize(
    ("mode", "path"),
    [
        ("error", SEO_TITLE),
        ("not-json", SEO_TITLE),
        ("no-choices", SEO_TITLE),
        ("ok", "/api/ai/find-image"),  # a title where JSON was asked for
    ],
)
def test_a_provider_failure_is_502_and_costs_nothing(
    api, user, wallet_state, chat_server, mode, path
):
    chat_server.mode = mode

    response = api.post(path, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 502
    assert response.json()["error"]
    assert wallet_state(user) == FREE
    assert TokenHold.objects.get(user=user).status == TokenHold.Status.RELEASED


def test_a_provider_error_names_its_http_status(api, chat_server):
    chat_server.mode = "error"

    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.json() == {"error": "The AI provider failed (HTTP 500)."}


def test_a_slow_provider_is_504_and_costs_nothing(api, user, wallet_state, chat_server, settings):
    chat_server.mode = "slow"  # answers after 1.5 s
    settings.AI_TIMEOUT = 0.5

    started = time.monotonic()
    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 504
    assert response.json() == {"error": "The AI provider did not answer within 0.5 s."}
    assert time.monotonic() - started < 1.4  # gave up at AI_TIMEOUT, no retry
    assert wallet_state(user) == FREE


def test_an_unreachable_provider_is_502_and_costs_nothing(api, user, wallet_state, chat_server):
    chat_server.shutdown()
    chat_server.server_close()  # nothing listens on the port any more

    response = api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert response.status_code == 502
    assert wallet_state(user) == FREE


def test_the_api_key_is_sent_when_configured(api, chat_server, settings):
    settings.AI_API_KEY = "sk-test"

    api.post(SEO_TITLE, {"text": ARTICLE_TEXT}, format="json")

    assert chat_server.requests[0]["authorization"] == "Bearer sk-test"


# --- streamed ------------------------------------------------------------------------


def events(response) -> list[tuple[str, dict]]:
    """The server-sent events of a streamed answer: (event name, data)."""
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response).decode()  # the test client collects the whole stream
    parsed = []
    for block in filter(None, body.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((fields.get("event", "message"), json.loads(fields["data"])))
    return parsed


REWRITE = "/api/ai/rewrite"


def test_a_streamed_rewrite_sends_each_chunk_then_done(api, user, wallet_state, chat_server):
    response = api.post(REWRITE, {"text": ARTICLE_TEXT, "stream": True}, format="json")

    assert response.status_code == 200
    cost = 500 + -(-len(ARTICLE_TEXT) // 10)
    assert events(response) == [
        ("message", {"delta": "Slow providers "}),
        ("message", {"delta": "need fast "}),
        ("message", {"delta": "wallets"}),
        (
            "done",
            {
                "action": "rewrite",
                "result": "Slow providers need fast wallets",
                "tokens_used": cost,
                "tokens_remaining": 10_000 - cost,
            },
        ),
    ]
    assert wallet_state(user) == {
        "balance": 10_000 - cost,
        "ledger_sum": 10_000 - cost,
        "usage_rows": 1,
        "open_holds": 0,
    }
    # The usage the provider reported in its last chunk (stream_options.include_usage).
    assert TokenUsage.objects.get(user=user).provider_tokens == 123
    assert chat_server.requests[0]["body"]["stream_options"] == {"include_usage": True}


def test_a_stream_cut_off_midway_is_an_error_event_and_free(api, user, wallet_state, chat_server):
    chat_server.break_after = 2

    response = api.post(REWRITE, {"text": ARTICLE_TEXT, "stream": True}, format="json")

    assert response.status_code == 200  # the stream had begun
    sent = events(response)
    assert sent[:2] == [
        ("message", {"delta": "Slow providers "}),
        ("message", {"delta": "need fast "}),
    ]
    assert sent[2][0] == "error" and sent[2][1]["error"]
    assert len(sent) == 3
    assert wallet_state(user) == FREE
    assert TokenHold.objects.get(user=user).status == TokenHold.Status.RELEASED


def test_a_stream_that_fails_before_it_begins_is_an_error_event(
    api, user, wallet_state, chat_server
):
    chat_server.mode = "error"

    response = api.post(REWRITE, {"text": ARTICLE_TEXT, "stream": True}, format="json")

    assert events(response) == [("error", {"error": "The AI provider failed (HTTP 500)."})]
    assert wallet_state(user) == FREE


def test_what_is_known_before_the_stream_is_ordinary_json(api, user, chat_server):
    Wallet(user).debit(9_900)

    response = api.post(REWRITE, {"text": ARTICLE_TEXT, "stream": True}, format="json")

    assert response.status_code == 402
    assert response["Content-Type"] == "application/json"
    assert response.json()["missing"] > 0
    assert chat_server.requests == []
