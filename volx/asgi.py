"""The production application: Django under an ASGI server (the Procfile's `web` command,
gunicorn managing uvicorn workers, settings in gunicorn.conf.py).

An AI action is an async view: while the model writes, the request holds no thread and no
database connection. The database connections of a worker process are bounded by
configuration, not by the requests in flight:

- the async views' database work (the hold before the provider call, the settlement
  after it) runs on DB_THREADS threads, each keeping one persistent connection;
- Django runs every other (sync) view in a thread of its own with a connection of its
  own. At most SYNC_VIEWS of them run at once; the others wait here, without a thread,
  and each closes its connection when it ends (its thread ends with it).

So a worker holds at most DB_THREADS + SYNC_VIEWS connections, and the whole service
WEB_CONCURRENCY × (DB_THREADS + SYNC_VIEWS) (README, "Production").
"""

import asyncio
import functools
import os
import warnings

from asgiref.sync import iscoroutinefunction
from django.core.asgi import get_asgi_application
from django.core.signals import request_finished
from django.db import connections
from django.urls import Resolver404, resolve

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volx.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (settings are configured by the line above)

from volx.db import use_database_threads  # noqa: E402

use_database_threads(settings.DB_THREADS)


def close_connections(**kwargs) -> None:
    """A sync view's thread ends with its request: its connection is closed with it
    rather than left to the garbage collector (request_finished runs on that thread)."""
    connections.close_all()


request_finished.connect(close_connections, dispatch_uid="volx.asgi.close_connections")

# Static files and the usage CSV are sync iterators, which Django's ASGI handler reads
# whole on a thread before sending, warning each time. Static files are small; a CSV of
# a user's whole history is held in memory once (a few MB for 100,000 rows).
warnings.filterwarnings(
    "ignore", "StreamingHttpResponse must consume synchronous iterators", Warning
)


@functools.lru_cache(maxsize=4096)
def is_async_view(path: str) -> bool:
    try:
        return iscoroutinefunction(resolve(path).func)
    except Resolver404:
        return False


class VolxApplication:
    """Django's ASGI application, with a thread per request only where one is needed.

    Django gives every request a thread of its own for its synchronous parts
    (asgiref's ThreadSensitiveContext), started with the request and joined when it ends.
    A sync view needs it: the view runs there, with its connection. An async view (an AI
    action) uses it only for the middleware's few microseconds of header work; there,
    starting and joining a thread was the event loop's largest cost (make bench, py-spy:
    1.4 threads started per request, the join 11% of the loop's time). So an async view's
    request goes to Django's handler without that context: its sync middleware parts run
    on the process's one shared thread, and its database work on the database threads.

    Requests for sync views are let into Django at most `sync_views` at once.
    """

    def __init__(self, django, sync_views: int):
        self.django, self.sync_views = django, sync_views
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and is_async_view(scope["path"]):
            return await self.django.handle(scope, receive, send)
        if self._slots is None:  # made in the worker's event loop
            self._slots = asyncio.Semaphore(self.sync_views)
        async with self._slots:
            return await self.django(scope, receive, send)


application = VolxApplication(django_application, settings.SYNC_VIEWS)
