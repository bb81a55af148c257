"""gunicorn's settings for the Procfile's `web` command (gunicorn reads this file from the
working directory): uvicorn worker processes serving volx.asgi.

Environment: PORT (default 8000), WEB_CONCURRENCY (worker processes, default one per
CPU: a worker is one event loop, which keeps hundreds of requests in flight),
WEB_TIMEOUT, WEB_GRACEFUL_TIMEOUT, WEB_KEEPALIVE (seconds).
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
worker_class = "uvicorn_worker.UvicornWorker"
# A worker that has not told the arbiter it is alive for this long is killed and replaced
# (an async worker reports between requests; its event loop must never block this long).
timeout = int(os.environ.get("WEB_TIMEOUT", 60))
# On SIGTERM (a deploy, a scale-down) a worker stops accepting and gets this long to
# finish the requests in flight: more than AI_TIMEOUT, so a running AI action ends.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", 45))
# Idle keep-alive connections (a browser, a proxy in front) are kept this long.
keepalive = int(os.environ.get("WEB_KEEPALIVE", 5))
accesslog = "-"
errorlog = "-"
# Load the app once in the arbiter: a worker that crashes comes back in milliseconds.
preload_app = True
