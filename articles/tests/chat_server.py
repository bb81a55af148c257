"""A chat-completions server for tests (AI_PROVIDER=openai, no network), in a thread.

It answers the way the test asks (`mode`): a completion with usage, an HTTP 500, an
answer slower than AI_TIMEOUT, or something that is not a completion. A request with
`"stream": true` is answered as OpenAI streams: one `data:` chunk per item of `chunks`,
`chunk_delay` seconds apart, then the usage chunk and `data: [DONE]`; `break_after` cuts
the connection after that many chunks. `gate` (a threading.Event) holds every answer
until it is set; `barrier` (a threading.Barrier) holds them until that many requests
wait together. `disconnected` counts the answers the client did not stay for.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the listen backlog: tests open dozens of calls at once

    def __init__(self, host: str = "127.0.0.1"):
        super().__init__((host, 0), ChatHandler)
        self.mode = "ok"
        self.content = "Home Coffee Brewing: Grind Size and Water"
        self.total_tokens = 123
        self.chunks = ["Slow providers ", "need fast ", "wallets"]
        self.chunk_delay = 0.0
        self.break_after: int | None = None
        self.gate: threading.Event | None = None
        self.barrier: threading.Barrier | None = None
        self.requests: list[dict] = []
        self.received = threading.Semaphore(0)  # released once per request received
        self.disconnected = 0

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ChatServer:
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.shutdown()
        self.server_close()


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "body": body, "authorization": self.headers["Authorization"]}
        )
        self.server.received.release()
        if self.server.barrier is not None:
            self.server.barrier.wait()
        if self.server.gate is not None:
            self.server.gate.wait()
        try:
            if body.get("stream"):
                self.stream(body)
            else:
                self.complete(body)
        except (BrokenPipeError, ConnectionResetError):
            self.server.disconnected += 1

    def complete(self, body: dict) -> None:
        mode = self.server.mode
        if mode == "error":
            return self.answer(500, {"error": {"message": "model crashed", "type": "server"}})
        if mode == "slow":
            time.sleep(1.5)
        if mode == "not-json":
            return self.answer(200, b"<html>gateway</html>", content_type="text/html")
        if mode == "no-choices":
            return self.answer(200, {"id": "x", "object": "chat.completion", "choices": []})
        message = {"role": "assistant", "content": self.server.content}
        self.answer(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": self.usage(),
            },
        )

    def stream(self, body: dict) -> None:
        if self.server.mode == "error":
            return self.answer(500, {"error": {"message": "model crashed", "type": "server"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0}
        base["model"] = body["model"]
        for number, piece in enumerate(self.server.chunks):
            if number == self.server.break_after:
                self.connection.shutdown(2)  # cut off mid-answer
                return
            if number:
                time.sleep(self.server.chunk_delay)
            delta = {"content": piece} if number else {"role": "assistant", "content": piece}
            self.event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self.event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if body.get("stream_options", {}).get("include_usage"):
            self.event({**base, "choices": [], "usage": self.usage()})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def event(self, data: dict) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def usage(self) -> dict:
        total = self.server.total_tokens
        return {"prompt_tokens": 100, "completion_tokens": total - 100, "total_tokens": total}

    def answer(self, status: int, body, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass
