"""AI actions over HTTP: gunicorn + the whole stack, loaded by wrk, beside a bare view.

Two servers on the same database, measured in turn with the same wrk settings:

- **app**: `POST /api/ai/generate-seo-title` with the local engine — JWT auth, DRF
  validation, hold, the provider, settle, the balance;
- **floor**: a bare DRF view with JWT auth that runs only the baseline SQL
  (bench/urls.py, served only by the benchmark), i.e. what the framework costs before
  Volx adds anything.

wrk runs 32 connections for throughput and 4 connections for latency (p99), hot (every
request spends from one user) and spread (requests rotate over 32 users).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import common

WORKERS = int(os.environ.get("BENCH_WORKERS", 2 * (os.cpu_count() or 1) + 1))
SPREAD_USERS = 32
START_BALANCE = 2_000_000_000
TEXT = (
    "Volx keeps every token movement in a ledger written in the same transaction as the "
    "balance, so a paying user always sees a correct number."
)
LUA = """
tokens = {%(tokens)s}
local i = 0
wrk.method = "POST"
wrk.body = '{"text": "%(text)s"}'
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[(i %% #tokens) + 1]
  return wrk.format(nil, "%(path)s")
end
"""


def prepare_users() -> dict[str, list[str]]:
    """JWT access tokens: one hot user, SPREAD_USERS spread users, each well funded."""
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from tokens.wallet import Wallet

    tokens = {"hot": [], "spread": []}
    for index in range(SPREAD_USERS + 1):
        username = f"bench-http-{index}"
        user = User.objects.create_user(username, f"{username}@bench.local", "x")
        Wallet(user).credit(START_BALANCE - Wallet(user).balance(), kind="bonus")
        tokens["hot" if index == 0 else "spread"].append(str(AccessToken.for_user(user)))
    return tokens


def measure(url: str, tokens: dict[str, list[str]], *, seconds: int) -> dict:
    """wrk figures for both servers: {(server, mode, connections): {rps, p50, p99, errors}}."""
    results = {}
    for server, path in (("app", "/api/ai/generate-seo-title"), ("floor", "/bench/floor")):
        with gunicorn(url) as base:
            for mode in ("hot", "spread"):
                for connections in (32, 4):
                    results[server, mode, connections] = wrk(
                        base, path, tokens[mode], connections=connections, seconds=seconds
                    )
    return results


def wrk(base: str, path: str, tokens: list[str], *, connections: int, seconds: int) -> dict:
    text = TEXT.replace('"', "")
    script = LUA % {"tokens": ", ".join(f'"{t}"' for t in tokens), "text": text, "path": path}
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        threads = min(connections, 2)
        output = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s"]
            + [lua.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict:
    def millis(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": millis("50"),
        "p99": millis("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


class gunicorn:
    """A gunicorn server on a free port for the benchmark database, as a context manager."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self) -> str:
        port = _free_port()
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log")
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            "AI_PROVIDER": "local",
            "LOG_LEVEL": "ERROR",
        }
        self.process = subprocess.Popen(
            [str(Path(os.sys.executable).parent / "gunicorn"), "volx.wsgi:application"]
            + ["--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"]
            + ["--worker-class", "sync", "--access-logfile", "-", "--log-level", "warning"],
            cwd=common.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base + "/api/plans", self.process, self.log)
        return base

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, process, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"gunicorn exited:\n{log.read()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer {url} within 60 s")
