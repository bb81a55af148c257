"""`Idempotency-Key` for API views that spend or grant (docs/rules.md, Exactly once; the
header in the README's API section).

The same user sending the same key with the same request (method, path, JSON body) gets
the first answer again, with the same status and JSON, and the work is done once, even
when the duplicates arrive together (a double click, a client retrying on a timeout):

- the first request inserts an in-progress `IdempotencyRecord` (UNIQUE(user, key) picks
  the winner), runs the view and stores its answer;
- concurrent duplicates poll the record until it is done and then replay it. They do
  not lock it: the first request must not keep a transaction open while it runs (an AI
  provider call takes seconds);
- the same key with another request → 422; still running after `wait` seconds → 409.

Only successful (2xx) answers are stored. An error answer or an exception means nothing
was done (views using this must keep that promise), so the record is dropped and a retry
with the same key runs again: after topping up tokens, after a provider outage.

Usage on an APIView method::

    @extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER], responses={..., **IDEMPOTENCY_RESPONSES})
    @idempotent(wait=60)
    def post(self, request): ...
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from tokens.models import IdempotencyRecord
from volx.db import retry_on_a_new_connection

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length
POLL_SECONDS = 0.05


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = f"This {HEADER} was already used for a different request."
    default_code = "idempotency_key_reused"


class StillInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = f"A request with this {HEADER} is still in progress; retry later."
    default_code = "idempotency_key_in_progress"


def idempotent(method: Callable | None = None, *, wait: float | Callable[[], float] = 30.0):
    """Decorate an APIView handler (`post`, …) to honour the `Idempotency-Key` header.

    `wait`: how long a duplicate waits for the first request to finish, in seconds (or a
    callable returning it, read per request so that settings overrides apply). Requests
    without the header run as usual, and so do anonymous ones: keys belong to a user.
    """

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(view, request: Request, *args, **kwargs) -> Response:
            key = request.headers.get(HEADER)
            if key is None or not request.user.is_authenticated:
                return handler(view, request, *args, **kwargs)
            return run_once(
                request,
                key,
                lambda: handler(view, request, *args, **kwargs),
                wait=wait() if callable(wait) else wait,
            )

        return wrapper

    return decorate(method) if method is not None else decorate


def run_once(request: Request, key: str, handler: Callable[[], Response], *, wait: float):
    """Run `handler` once for (request.user, key) and the request's fingerprint."""
    deadline = time.monotonic() + wait
    while (claimed := claim(request, key)) is None:
        if time.monotonic() >= deadline:
            raise StillInProgress()
        time.sleep(POLL_SECONDS)
    if isinstance(claimed, Response):
        return claimed
    try:
        response = handler()
    except BaseException:
        claimed.abandon()
        raise
    if status.is_success(response.status_code):
        body = _as_json(response.data)
        # The work is done: its answer must be stored, or the key stays in progress.
        retry_on_a_new_connection(lambda: claimed.complete(response.status_code, body))
    else:
        claimed.abandon()
    return response


def claim(request: Request, key: str) -> IdempotencyRecord | Response | None:
    """One try at becoming the request that runs for (request.user, key).

    Returns the new in-progress record when this request runs (the caller then calls
    `record.complete(status, body)` with a success, `record.abandon()` otherwise); the
    first answer, to send again, when the same request has been answered; None while
    another request with the key is running (the caller waits and tries again). The same
    key with another request raises KeyReused.
    """
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise exceptions.ValidationError(
            {HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} characters long."]}
        )
    fingerprint = request_fingerprint(request)
    record, created = IdempotencyRecord.claim(request.user, key, fingerprint)
    if created:
        return record
    if record is None:  # just cleared (outdated): the next try claims it
        return None
    if record.fingerprint != fingerprint:
        raise KeyReused()
    if record.status == IdempotencyRecord.Status.DONE:
        return Response(
            record.response_body, status=record.response_status, headers={REPLAY_HEADER: "true"}
        )
    return None


def request_fingerprint(request: Request) -> str:
    """sha256 of the method, the path and the body as canonical JSON (sorted keys), so
    that key order and whitespace do not make the same request look different."""
    data = request.data  # malformed JSON raises ParseError (400) before anything is stored
    if hasattr(data, "lists"):  # form data: a QueryDict
        data = dict(data.lists())
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    payload = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _as_json(data):
    """The body exactly as the client received it (Decimals, dates → JSON strings)."""
    return json.loads(json.dumps(data, cls=JSONEncoder))


# --- OpenAPI ------------------------------------------------------------------

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        f"Optional, 1–{MAX_KEY_LENGTH} characters, kept at least 24 hours. The same key and "
        "body from the same user replays the first successful answer (header "
        f"`{REPLAY_HEADER}: true`) and does the work once; the same key with another body "
        "→ 422. Error answers are not stored: a retry with the same key runs again."
    ),
)


class IdempotencyErrorSerializer(serializers.Serializer):
    error = serializers.CharField()


IDEMPOTENCY_RESPONSES = {
    409: OpenApiResponse(
        IdempotencyErrorSerializer, description="The first request with this key is still running."
    ),
    422: OpenApiResponse(
        IdempotencyErrorSerializer, description="The key was already used for a different request."
    ),
}
