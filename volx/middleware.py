"""Middleware of Volx's own."""

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, which serves /static/, able to run in an async middleware chain.

    WhiteNoise's middleware is sync only: under ASGI, Django would then run every request,
    an AI action too, through a thread that waits for the rest of the chain, the provider
    call included. Finding a static file is a dictionary lookup; serving it is the same
    response either way.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._serve_or_pass_async(request)
        return super().__call__(request)

    async def _serve_or_pass_async(self, request):
        static_file = self._static_file(request)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)

    def _static_file(self, request):
        if self.autorefresh:
            return self.find_file(request.path_info)
        return self.files.get(request.path_info)


class APIErrors:
    """Under /api/, every error is JSON with an `error` string, wherever it arose.

    DRF answers its own errors so; this covers the rest: a body larger than
    DATA_UPLOAD_MAX_MEMORY_SIZE (413, answered from the Content-Length before anything
    reads the body), Django's own answers (404 for an unknown path, 405 of a plain view,
    400 for a suspicious request) and the 500 of an exception, such as a lost database
    connection, which Django turns into its HTML page before it reaches this middleware.
    First in MIDDLEWARE, so that it sees what every other middleware answers. Pages keep
    their HTML error pages.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._call_async(request)
        if not is_api(request):
            return self.get_response(request)
        return too_large(request) or as_json_error(self.get_response(request))

    async def _call_async(self, request):
        if not is_api(request):
            return await self.get_response(request)
        return too_large(request) or as_json_error(await self.get_response(request))


def is_api(request) -> bool:
    return request.path_info.startswith("/api/")


def too_large(request) -> HttpResponse | None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None  # Django reads such a body as empty
    if limit is None or length <= limit:
        return None
    return JsonResponse({"error": f"Request body too large: at most {limit:,} bytes."}, status=413)


def as_json_error(response: HttpResponseBase) -> HttpResponseBase:
    if response.status_code < 400 or response.streaming:
        return response
    content_type = response.get("Content-Type", "")
    if content_type.startswith("application/json") or content_type.startswith(
        "application/problem+json"
    ):
        return response
    # In place: the headers (Allow, Retry-After, WWW-Authenticate) and cookies stay.
    response.content = json.dumps({"error": f"{response.reason_phrase}."})
    response["Content-Type"] = "application/json"
    return response
