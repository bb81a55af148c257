"""AI actions at a real model's pace, against the production server (the Procfile's web
command) and a chat-completions server that answers as slowly, or as oddly, as a test
asks (articles/tests/chat_server.py): requests in flight together, streams, clients that
leave (docs/rules.md, Streaming and clients that leave)."""

import json
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from articles.actions import ACTIONS
from articles.tests.chat_server import ChatServer
from articles.tests.factories import ARTICLE_TEXT
from tokens.models import TokenHold

pytestmark = [pytest.mark.locks, pytest.mark.django_db(transaction=True)]

TIMEOUT = 120  # seconds per request: the machine is shared, slow is not wrong
REWRITE_COST = ACTIONS["rewrite"].cost(ARTICLE_TEXT)
FREE = {"balance": 10_000, "ledger_sum": 10_000, "usage_rows": 0, "open_holds": 0}


@pytest.fixture
def chat():
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(gunicorn_server, chat):
    """The server, its AI provider the chat server; call with more environment."""

    def start(**env):
        return gunicorn_server(
            AI_PROVIDER="openai", AI_BASE_URL=chat.base_url, AI_TIMEOUT="90", **env
        )

    return start


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def post(url: str, user, path: str, body: dict, **kwargs) -> requests.Response:
    headers = {**bearer(user), **kwargs.pop("headers", {})}
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.post(f"{url}{path}", json=body, headers=headers, **kwargs)


def read_events(response: requests.Response):
    """The server-sent events of a stream as they arrive: (event name, data)."""
    event = "message"
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, json.loads(line.removeprefix("data: "))
            event = "message"


def eventually(check, seconds: float = 15):
    """`check()` once it holds: the server settles or releases after the client has gone."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)
    return check()


def test_one_worker_keeps_32_ai_actions_in_flight(server, chat, wallet_state):
    """The provider answers only once 32 requests wait on it together. A server that
    held a thread or worker per request, fewer than 32, would never get there: the
    barrier breaks after 60 s and the requests answer 502."""
    chat.barrier = threading.Barrier(32, timeout=60)
    app = server(WEB_CONCURRENCY="1", DB_THREADS="2")
    users = [UserFactory() for _ in range(32)]

    def title(user) -> int:
        return post(app.url, user, "/api/ai/generate-seo-title", {"text": ARTICLE_TEXT}).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = Counter(pool.map(title, users))

    assert statuses == {200: 32}
    assert [wallet_state(user)["balance"] for user in users] == [9_700] * 32


def test_200_titles_in_flight_at_once_on_one_wallet(server, chat, wallet_state):
    """Every request waits on the provider at the same time, so every hold is taken
    before any settles: 33 of 300 tokens fit in 10,000."""
    chat.gate = threading.Event()
    app = server()
    user = UserFactory()

    def title(_) -> int:
        return post(app.url, user, "/api/ai/generate-seo-title", {"text": ARTICLE_TEXT}).status_code

    with ThreadPoolExecutor(max_workers=200) as pool:
        calls = [pool.submit(title, n) for n in range(200)]
        # Once the 33 holds' provider calls have arrived, the 167 others have been refused.
        for _ in range(33):
            assert chat.received.acquire(timeout=TIMEOUT)
        chat.gate.set()
        statuses = Counter(call.result() for call in calls)

    assert statuses == {200: 33, 402: 167}
    assert wallet_state(user) == {
        "balance": 100,
        "ledger_sum": 100,
        "usage_rows": 33,
        "open_holds": 0,
    }


def test_a_stream_sends_deltas_as_they_come_then_done(server, chat, wallet_state):
    chat.chunk_delay = 0.2
    app = server()
    user = UserFactory()

    with post(
        app.url, user, "/api/ai/rewrite", {"text": ARTICLE_TEXT, "stream": True}, stream=True
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        arrivals = [(time.monotonic(), event) for event in read_events(response)]

    events = [event for _, event in arrivals]
    assert events == [
        ("message", {"delta": "Slow providers "}),
        ("message", {"delta": "need fast "}),
        ("message", {"delta": "wallets"}),
        (
            "done",
            {
                "action": "rewrite",
                "result": "Slow providers need fast wallets",
                "tokens_used": REWRITE_COST,
                "tokens_remaining": 10_000 - REWRITE_COST,
            },
        ),
    ]
    # Each piece came when the provider sent it, not all at the end.
    assert arrivals[1][0] - arrivals[0][0] >= 0.15
    assert wallet_state(user) == {
        "balance": 10_000 - REWRITE_COST,
        "ledger_sum": 10_000 - REWRITE_COST,
        "usage_rows": 1,
        "open_holds": 0,
    }


def test_a_stream_that_breaks_midway_ends_in_an_error_and_costs_nothing(server, chat, wallet_state):
    chat.break_after = 1
    app = server()
    user = UserFactory()

    with post(
        app.url, user, "/api/ai/rewrite", {"text": ARTICLE_TEXT, "stream": True}, stream=True
    ) as response:
        events = list(read_events(response))

    assert events == [
        ("message", {"delta": "Slow providers "}),
        ("error", {"error": "The AI provider's answer was cut off."}),
    ]
    assert wallet_state(user) == FREE
    assert TokenHold.objects.get(user=user).status == TokenHold.Status.RELEASED


def test_a_client_gone_before_the_first_chunk_pays_nothing(server, chat, wallet_state):
    chat.gate = threading.Event()  # the provider has not begun to answer
    app = server()
    user = UserFactory()

    response = post(
        app.url, user, "/api/ai/rewrite", {"text": ARTICLE_TEXT, "stream": True}, stream=True
    )
    assert response.status_code == 200
    assert chat.received.acquire(timeout=TIMEOUT)  # the provider call is under way
    response.close()  # the user closed the page

    def released() -> bool:
        return TokenHold.objects.filter(user=user, status=TokenHold.Status.RELEASED).exists()

    assert eventually(released)
    assert wallet_state(user) == FREE


def test_a_client_gone_after_the_answer_pays_once_and_the_key_replays_it(
    server, chat, wallet_state
):
    app = server()
    user = UserFactory()
    body = {"text": ARTICLE_TEXT, "stream": True}
    key = {"Idempotency-Key": "rewrite-1"}

    with post(app.url, user, "/api/ai/rewrite", body, headers=key, stream=True) as response:
        first = next(read_events(response))
    assert first == ("message", {"delta": "Slow providers "})  # then the client left

    assert eventually(lambda: wallet_state(user)["usage_rows"] == 1)
    again = post(app.url, user, "/api/ai/rewrite", body, headers=key)

    assert again.status_code == 200
    assert again.headers["Content-Type"] == "application/json"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {
        "action": "rewrite",
        "result": "Slow providers need fast wallets",
        "tokens_used": REWRITE_COST,
        "tokens_remaining": 10_000 - REWRITE_COST,
    }
    assert len(chat.requests) == 1
    assert wallet_state(user) == {
        "balance": 10_000 - REWRITE_COST,
        "ledger_sum": 10_000 - REWRITE_COST,
        "usage_rows": 1,
        "open_holds": 0,
    }


def test_a_client_gone_while_waiting_for_a_whole_answer_pays_nothing(server, chat, wallet_state):
    chat.gate = threading.Event()
    app = server()
    user = UserFactory()
    body = json.dumps({"text": ARTICLE_TEXT}).encode()
    host, port = app.url.removeprefix("http://").split(":")
    request = (
        f"POST /api/ai/generate-seo-title HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {bearer(user)['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()

    with socket.create_connection((host, int(port))) as client:
        client.sendall(request + body)
        assert chat.received.acquire(timeout=TIMEOUT)  # the provider is working on it
    # The client has gone before the answer.

    assert eventually(lambda: wallet_state(user)["open_holds"] == 0)
    chat.gate.set()
    assert wallet_state(user) == FREE


def test_database_connections_are_bounded_by_configuration_not_requests(server, chat, wallet_state):
    """64 AI actions wait on the provider at once on one worker with DB_THREADS=2: the
    worker holds at most 2 connections (sync views, such as the readiness probe, close
    theirs when they end)."""
    chat.gate = threading.Event()
    app = server(WEB_CONCURRENCY="1", DB_THREADS="2", SYNC_VIEWS="2")
    users = [UserFactory() for _ in range(64)]

    def title(user) -> int:
        return post(app.url, user, "/api/ai/generate-seo-title", {"text": ARTICLE_TEXT}).status_code

    with ThreadPoolExecutor(max_workers=64) as pool:
        calls = [pool.submit(title, user) for user in users]
        for _ in users:
            assert chat.received.acquire(timeout=TIMEOUT)  # all 64 are in flight
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.processlist "
                "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            )
            [(server_connections,)] = cursor.fetchall()
        chat.gate.set()
        statuses = Counter(call.result() for call in calls)

    assert server_connections <= 2
    assert statuses == {200: 64}
    assert {wallet_state(user)["balance"] for user in users} == {9_700}
