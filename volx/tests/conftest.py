"""The app as production runs it: the Procfile's `web` command (gunicorn with uvicorn
worker processes, gunicorn.conf.py), against the pytest test database.

`gunicorn_server(**env)` starts a server on a free port and returns a `Server` (`.url`)
once it answers; call it twice for two app hosts. The servers are stopped after the test
(SIGTERM, then SIGKILL after 10 s). They run with the test database as DATABASE_URL, the
test's SECRET_KEY (so the JWTs a test signs verify), AI_PROVIDER=local, DEBUG=false, every
THROTTLE_* rate that volx/settings.py reads raised out of reach, and `env` on top. Tests
that use it need committed rows, so it requests `transactional_db`; mark them
`@pytest.mark.locks` (MariaDB) and `@pytest.mark.django_db(transaction=True)`.

4 worker processes (WEB_CONCURRENCY): requests race between processes, each with its own
connections, and inside each process between its event loop's requests, whose database
work runs on several threads (DB_THREADS).

Each server's output goes to a log file; when a test fails, the logs are added to its
report (section "gunicorn …").
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

WORKERS = 4
BOOT_SECONDS = 60
STOP_SECONDS = 10
# Far above anything these tests send: a throttle would answer 429 and spoil the counts.
UNTHROTTLED = "1000000/second"

_servers = pytest.StashKey[list]()


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: gunicorn's graceful shutdown

    def wait_or_kill(self) -> None:
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)


def _database_url() -> str:
    """The test database this pytest run created, as a DATABASE_URL for the server."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "root", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 3306
    return f"mysql://{credentials}@{host}:{port}/{db['NAME']}"


def web_command() -> list[str]:
    """The Procfile's `web` command, its program from this virtualenv."""
    procfile = (Path(settings.BASE_DIR) / "Procfile").read_text()
    line = next(line for line in procfile.splitlines() if line.startswith("web:"))
    program, *arguments = shlex.split(line.removeprefix("web:"))
    return [str(Path(sys.executable).with_name(program)), *arguments]


def throttle_variables() -> list[str]:
    """The THROTTLE_* variables volx/settings.py reads, found in its source so that a rate
    added there later is raised here too."""
    source = (Path(settings.BASE_DIR) / "volx" / "settings.py").read_text()
    return sorted(set(re.findall(r"""env\.\w+\(\s*["'](THROTTLE_\w+)["']""", source)))


def server_environment(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        # The JWTs the tests sign must verify on the server.
        "SECRET_KEY": settings.SECRET_KEY,
        "AI_PROVIDER": "local",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_URL": "dummymail://",  # low-balance notices would flood the log
        "WEB_CONCURRENCY": str(WORKERS),
        **dict.fromkeys(throttle_variables(), UNTHROTTLED),
        **extra,
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


def _wait_until_answering(server: Server) -> None:
    """Until the plan list comes back: a worker has loaded the app and reads the test
    database (the plan catalogue is seeded there)."""
    deadline = time.monotonic() + BOOT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}")
        try:
            answer = requests.get(f"{server.url}/api/plans", timeout=10)
        except requests.RequestException:  # not listening yet, or no worker booted yet
            answer = None
        if answer is not None and answer.ok:
            return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer GET /api/plans within {BOOT_SECONDS}s")


@pytest.fixture
def gunicorn_server(request, transactional_db, tmp_path) -> Iterator[Callable[..., Server]]:
    """Start gunicorn servers on free ports: `gunicorn_server(**env)` → Server."""
    servers: list[Server] = []
    request.node.stash[_servers] = servers

    def start(**env: str) -> Server:
        # The socket is bound here and handed over (fd://): no other process can take the
        # free port between choosing it and gunicorn binding it, and the readiness probe
        # cannot reach somebody else's server.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            port = listener.getsockname()[1]
            log = tmp_path / f"gunicorn-{port}.log"
            command = [
                *web_command(),
                f"--bind=fd://{listener.fileno()}",
                "--graceful-timeout=5",
                # Its default path is one per machine: servers would take it from each other.
                "--no-control-socket",
            ]
            with log.open("wb") as output:
                process = subprocess.Popen(
                    command,
                    cwd=settings.BASE_DIR,
                    env=server_environment(**env),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    pass_fds=[listener.fileno()],
                )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        servers.append(server)
        _wait_until_answering(server)
        return server

    yield start
    for server in servers:  # all at once: each takes a moment to shut down
        server.terminate()
    for server in servers:
        server.wait_or_kill()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for server in item.stash.get(_servers, []):
            text = server.log.read_text(errors="replace") if server.log.exists() else ""
            report.sections.append((f"gunicorn {server.url}", text or "(empty log)"))
    return report
