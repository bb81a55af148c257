"""Where a request's time goes: pyinstrument over AI actions served in-process."""

from __future__ import annotations

from pyinstrument import Profiler

PATH = "/api/ai/generate-seo-title"


def run(*, requests: int = 300) -> str:
    """Profile `requests` seo-title calls through the WSGI stack; the call tree as text."""
    from django.test import Client
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from bench.http import TEXT

    user = User.objects.get(username="bench-http-0")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    body = {"text": TEXT}
    for _ in range(20):  # warm up: imports, connections, caches
        client.post(PATH, body, content_type="application/json")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(requests):
        response = client.post(PATH, body, content_type="application/json")
        assert response.status_code == 200, response.content
    profiler.stop()
    return profiler.output_text(unicode=False, color=False, show_all=False, flat=True)
