"""AI actions over HTTP with the local engine: the production server (the Procfile's `web:`
command, bench/server.py) and the whole stack, loaded by wrk, beside a bare view.

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

import re
import subprocess
import tempfile

from bench import server

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


def measure(url: str, tokens: dict[str, list[str]], *, seconds: int) -> tuple[dict, dict]:
    """wrk figures for both servers: {(server, mode, connections): {rps, p50, p99, errors}},
    and what served them: {command, source, web_concurrency, workers}."""
    results = {}
    env = {"AI_PROVIDER": "local", "LOG_LEVEL": "ERROR"}
    for name, path in (("app", "/api/ai/generate-seo-title"), ("floor", "/bench/floor")):
        with server.running(url, env=env, name=f"wrk-{name}") as app:
            served_by = {
                "command": app.command,
                "source": app.source,
                "web_concurrency": app.web_concurrency or "the server's default",
                "workers": len(app.workers()),
                "worker_class": app.worker_class,
            }
            for mode in ("hot", "spread"):
                for connections in (32, 4):
                    results[name, mode, connections] = wrk(
                        app.base, path, tokens[mode], connections=connections, seconds=seconds
                    )
    return results, served_by


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
