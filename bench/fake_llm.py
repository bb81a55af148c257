"""A fake OpenAI-compatible chat-completions server that answers at a real model's pace.

    .venv/bin/python -m bench.fake_llm [--port 8100] [--latency 1.0] [--first-chunk 0.1]
                                       [--chunks 20]

(or FAKE_LLM_LATENCY, FAKE_LLM_FIRST_CHUNK, FAKE_LLM_CHUNKS in the environment).

`POST /v1/chat/completions` (and `/chat/completions`) answers after LATENCY seconds with
a body shaped like OpenAI's (`choices[0].message.content`, `usage`). With `"stream": true`
it answers `text/event-stream`: CHUNKS chunks `data: {"choices": [{"delta": {"content":
…}}]}`, the first after FIRST_CHUNK seconds and the last after LATENCY, evenly spaced;
then, when `stream_options.include_usage` is true, a chunk with empty choices and
`usage`; then `data: [DONE]`. The text is short and plausible for the action the system
prompt names (an SEO title fits in 60 characters, a meta description in 160).
`GET /stats` answers the requests seen and the most in flight at once, so a benchmark
can tell whether the app overlapped its provider calls.

A raw ASGI app under uvicorn with uvloop and httptools, one process: every answer is
encoded once at start-up, a request costs one small `json.loads` and timers, so hundreds
of requests in flight stay cheap on a machine that also runs the app under test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LATENCY = float(os.environ.get("FAKE_LLM_LATENCY", 1.0))
FIRST_CHUNK = float(os.environ.get("FAKE_LLM_FIRST_CHUNK", 0.1))
CHUNKS = int(os.environ.get("FAKE_LLM_CHUNKS", 20))
PATHS = {"/v1/chat/completions", "/chat/completions"}
MODEL = "fake-llm"

# What a model might answer, by the kind of action the system prompt asks for.
ANSWERS = {
    "title": "Slow Providers Need Fast Wallets: Token Billing Done Right",
    "description": (
        "How a token wallet keeps every charge exact while AI answers take seconds: "
        "short transactions, held tokens and a ledger that always adds up."
    ),
    "image": '{"query": "wallet ledger", "suggestions": ["coins on a desk", "receipt"]}',
    "text": (
        "Slow providers need fast wallets. While a model takes a second or more to "
        "answer, the service holds the tokens the action costs, lets go of the database, "
        "and waits without keeping a worker busy. When the answer arrives it settles the "
        "charge in one short transaction, so the balance a user sees is always the sum "
        "of what they bought and what they used."
    ),
}


def _kind(system_prompt: str) -> str:
    prompt = system_prompt.lower()
    for word, kind in (("title", "title"), ("meta description", "description"), ("json", "image")):
        if word in prompt:
            return kind
    return "text"


def _pieces(text: str, count: int) -> list[str]:
    """`text` cut into `count` pieces of about equal length (none empty if it can be)."""
    count = max(1, min(count, len(text)))
    bounds = [round(i * len(text) / count) for i in range(count + 1)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _event(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class Answers:
    """Every byte the server sends, encoded once."""

    def __init__(self, chunks: int):
        self.chunks = chunks
        self.body, self.stream, self.usage = {}, {}, {}
        created = int(time.time())
        for kind, text in ANSWERS.items():
            completion_tokens = max(1, len(text) // 4)
            usage = {
                "prompt_tokens": 100,
                "completion_tokens": completion_tokens,
                "total_tokens": 100 + completion_tokens,
            }
            common = {"id": f"chatcmpl-fake-{kind}", "created": created, "model": MODEL}
            self.body[kind] = json.dumps(
                {
                    **common,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            ).encode()
            pieces = _pieces(text, chunks)
            self.stream[kind] = [
                _event(
                    {
                        **common,
                        "object": "chat.completion.chunk",
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": piece}
                                if i == 0
                                else {"content": piece},
                                "finish_reason": "stop" if i == len(pieces) - 1 else None,
                            }
                        ],
                    }
                )
                for i, piece in enumerate(pieces)
            ]
            self.usage[kind] = _event(
                {**common, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            )


class FakeLLM:
    """The ASGI app."""

    def __init__(self, *, latency: float, first_chunk: float, chunks: int):
        self.latency, self.first_chunk = latency, first_chunk
        self.answers = Answers(chunks)
        self.requests = self.streams = self.in_flight = self.max_in_flight = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] in ("/stats", "/health"):
            stats = {
                "requests": self.requests,
                "streams": self.streams,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }
            if scope["path"] == "/stats" and scope.get("query_string") == b"reset=1":
                self.requests = self.streams = 0
                self.max_in_flight = self.in_flight
            return await _send(send, 200, b"application/json", json.dumps(stats).encode())
        if scope["method"] != "POST" or scope["path"] not in PATHS:
            return await _send(send, 404, b"application/json", b'{"error": "not found"}')
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            request = json.loads(body)
            messages = request["messages"]
            kind = _kind(next((m["content"] for m in messages if m["role"] == "system"), ""))
        except (ValueError, KeyError, TypeError):
            return await _send(send, 400, b"application/json", b'{"error": "bad request"}')
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.get("stream"):
                self.streams += 1
                usage = (request.get("stream_options") or {}).get("include_usage")
                await self._stream(send, kind, bool(usage))
            else:
                await asyncio.sleep(self.latency)
                await _send(send, 200, b"application/json", self.answers.body[kind])
        finally:
            self.in_flight -= 1

    async def _stream(self, send, kind: str, usage: bool) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        chunks = self.answers.stream[kind]
        step = (self.latency - self.first_chunk) / max(1, len(chunks) - 1)
        for index, chunk in enumerate(chunks):
            delay = started + self.first_chunk + index * step - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        tail = (self.answers.usage[kind] if usage else b"") + b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail})


async def _send(send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve(*, host: str, port: int, latency: float, first_chunk: float, chunks: int) -> None:
    import uvicorn

    app = FakeLLM(latency=latency, first_chunk=first_chunk, chunks=chunks)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=4096,
        timeout_keep_alive=120,
    )


class running:
    """The fake server in a child process on a free port, as a context manager.

    `with running() as server:` gives `server.base_url` (ending in /v1), `server.stats()`,
    and the process id (`server.pid`) for CPU accounting.
    """

    def __init__(self, *, latency=LATENCY, first_chunk=FIRST_CHUNK, chunks=CHUNKS):
        self.latency, self.first_chunk, self.chunks = latency, first_chunk, chunks

    def __enter__(self) -> running:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_llm", "--port", str(self.port)]
            + ["--latency", str(self.latency), "--first-chunk", str(self.first_chunk)]
            + ["--chunks", str(self.chunks)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.pid = self.process.pid
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.stats()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("the fake LLM server did not start") from None
                time.sleep(0.1)

    def stats(self, *, reset: bool = False) -> dict:
        url = f"http://127.0.0.1:{self.port}/stats" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.load(answer)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--latency", type=float, default=LATENCY, help="seconds to the answer")
    parser.add_argument("--first-chunk", type=float, default=FIRST_CHUNK, help="seconds")
    parser.add_argument("--chunks", type=int, default=CHUNKS, help="chunks of a stream")
    options = parser.parse_args()
    serve(
        host=options.host,
        port=options.port,
        latency=options.latency,
        first_chunk=options.first_chunk,
        chunks=options.chunks,
    )


if __name__ == "__main__":
    main()
