"""The load generator of the LLM-latency benchmark: N users, each with its own connection.

asyncio on raw sockets, HTTP/1.1 with keep-alive: one process keeps hundreds of users
busy for little CPU, and, unlike wrk, every user stops after the request it is making at
the deadline, so every request is accounted for (status, latency, what it was charged).

Users connect first, then start one after another over `stagger` seconds (by default
the provider's latency): the requests arrive at an even rate, as from independent
people, instead of in one burst per second. A user that gets a closed connection or a
socket error reconnects and counts the error; a request unanswered after TIMEOUT
seconds counts as "timeout".
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

TIMEOUT = 60.0
DELTA = b'{"delta"'


@dataclass
class Sample:
    user: int
    status: int | str  # the HTTP status, or "timeout", "connection error", …
    started: float  # perf_counter when the request was written
    finished: float
    charged: bool = False  # a 200 with the action's result: the user paid for it
    first_delta: float | None = None  # perf_counter of the first `data: {"delta": …}` event
    streamed: bool = False  # answered text/event-stream

    @property
    def latency(self) -> float:
        return self.finished - self.started


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, request: bytes, *, watch: bool) -> tuple[int, dict, bytes, float]:
        """Send `request`; (status, headers, body, time of the first delta event or 0)."""
        if self.writer is None:
            await self.open()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        first = 0.0
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailers
                    break
                data = (await self.reader.readexactly(size + 2))[:-2]
                parts.append(data)
                if watch and not first and DELTA in data:
                    first = time.perf_counter()
            body = b"".join(parts)
            if watch and not first and DELTA in body:  # an event split across chunks
                first = time.perf_counter()
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body, first


def request_bytes(host: str, port: int, path: str, token: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def _outcome(status: int, headers: dict, body: bytes) -> tuple[bool, bool, int | str]:
    """(charged, streamed, status as reported) of one answer."""
    streamed = headers.get("content-type", "").startswith("text/event-stream")
    if status != 200:
        return False, streamed, status
    if not streamed:
        return b'"result"' in body, False, 200
    if b"event: done" in body:
        return True, True, 200
    if b"event: error" in body:
        return False, True, "200 stream, event: error"
    return False, True, "200 stream without done"


async def _run(
    base: str,
    path: str,
    tokens: list[str],
    body: dict,
    *,
    seconds: float | None,
    rounds: int | None,
    stagger: float,
    watch: bool,
) -> tuple[list[Sample], float]:
    host, port = base.removeprefix("http://").split(":")
    port = int(port)
    requests = [request_bytes(host, port, path, token, body) for token in tokens]
    connections = [Connection(host, port) for _ in tokens]
    # A connection that cannot be opened now is tried again by its user's first request,
    # which then counts the error.
    opened = await asyncio.gather(
        *(connection.open() for connection in connections), return_exceptions=True
    )
    for connection, error in zip(connections, opened, strict=True):
        if isinstance(error, Exception):
            connection.close()
    samples: list[Sample] = []
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else float("inf")

    async def user(index: int) -> None:
        await asyncio.sleep(stagger * index / len(tokens))
        connection = connections[index]
        done = 0
        while time.perf_counter() < deadline and (rounds is None or done < rounds):
            sent = time.perf_counter()
            try:
                status, headers, answer, first = await asyncio.wait_for(
                    connection.exchange(requests[index], watch=watch), TIMEOUT
                )
                charged, streamed, reported = _outcome(status, headers, answer)
                sample = Sample(
                    index, reported, sent, time.perf_counter(), charged, first or None, streamed
                )
            except TimeoutError:
                connection.close()
                sample = Sample(index, "timeout", sent, time.perf_counter())
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                connection.close()
                name = (
                    "connection closed"
                    if isinstance(error, asyncio.IncompleteReadError)
                    else (f"connection error ({type(error).__name__})")
                )
                sample = Sample(index, name, sent, time.perf_counter())
                await asyncio.sleep(0.1)  # a refusing server is not hammered in a tight loop
            samples.append(sample)
            done += 1
        connection.close()

    await asyncio.gather(*(user(index) for index in range(len(tokens))))
    return samples, started


def run(
    base: str,
    path: str,
    tokens: list[str],
    body: dict,
    *,
    seconds: float | None = None,
    rounds: int | None = None,
    stagger: float = 1.0,
    watch: bool = False,
) -> tuple[list[Sample], float]:
    """Every user posts `body` to `path` until `seconds` have passed or it made `rounds`
    requests; (all samples, perf_counter when the users started)."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is in requirements.txt
        runner = asyncio.run
    return runner(
        _run(
            base,
            path,
            tokens,
            body,
            seconds=seconds,
            rounds=rounds,
            stagger=stagger,
            watch=watch,
        )
    )
