"""AI_PROVIDER=openai against a chat-completions server started by the test (no network).

The server answers the way the test asks: a completion with usage, an HTTP 500, an
answer slower than AI_TIMEOUT, or something that is not a completion.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from articles.tests.factories import ARTICLE_TEXT
from tokens.models import TokenHold, TokenUsage

pytestmark = pytest.mark.django_db

SEO_TITLE = "/api/ai/generate-seo-title"
FREE = {"balance": 10_000, "ledger_sum": 10_000, "usage_rows": 0, "open_holds": 0}


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.mode = "ok"
        self.content = "Home Coffee Brewing: Grind Size and Water"
        self.total_tokens = 123
        self.requests: list[dict] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "body": body, "authorization": self.headers["Authorization"]}
        )
        mode = self.server.mode
        if mode == "error":
            return self.answer(500, {"error": {"message": "model crashed", "type": "server"}})
        if mode == "slow":
            time.sleep(1.5)
        if mode == "not-json":
            return self.answer(200, b"<html>gateway</html>", content_type="text/html")
        if mode == "no-choices":
            return self.answer(200, {"id": "x", "object": "chat.completion", "choices": []})
        self.answer(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.server.content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": self.server.total_tokens - 100,
                    "total_tokens": self.server.total_tokens,
                },
            },
        )

    def answer(self, status: int, body, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def chat_server(settings):
    server = ChatServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.AI_PROVIDER = "openai"
    settings.AI_BASE_URL = server.base_url
    settings.AI_API_KEY = ""
    settings.AI_MODEL = "test-model"
    settings.AI_TIMEOUT = 0.5
    yield server
    server.shutdown()
    server.server_close()


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


def test_a_slow_provider_is_504_and_costs_nothing(api, user, wallet_state, chat_server):
    chat_server.mode = "slow"

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
