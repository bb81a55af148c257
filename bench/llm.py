"""The realistic figures: AI actions at a real model's pace, through the production server.

The server under test is the Procfile's `web:` command (bench/server.py) on the benchmark
database, with `AI_PROVIDER=openai` pointed at the fake OpenAI-compatible server of
bench/fake_llm.py (answers after 1 s; streams 20 chunks, the first at 0.1 s), DEBUG off
and the AI throttle raised. bench/llm_load.py drives it:

- **loop**, for each N of USERS: N users, each with its own JWT and connection, post
  `POST /api/ai/generate-seo-title` in a loop for SECONDS. Completed actions per second
  over the steady window (from the last user's start to the deadline) against the ideal
  N / provider latency; the latency Volx adds to the provider's (latency − 1 s) p50 and
  p99; errors by status.
- **stream**: STREAM_USERS users post `POST /api/ai/rewrite` with `"stream": true`,
  STREAM_ROUNDS each: time to the first `data: {"delta": …}` event minus the provider's
  first-chunk delay, p50 and p99.

During each run a separate connection counts the MariaDB connections to the benchmark
database every 50 ms (information_schema.PROCESSLIST; the monitor's own connection has
no database, so it is not counted); the CPU time of the app, the fake provider, the
load generator and MariaDB is read from /proc. After each run the charges are checked
user by user against what each user was answered: balance change == cost × its 200
answers, usage rows == those answers, ledger sum == balance, no hold left open.
First, the calibration: the load generator straight against the fake provider with
the largest N, the harness's own floor. Last, a run like the first loop run (at most
PROFILE_SECONDS) with py-spy sampling every worker, for the profile section; its
figures are not the table's (py-spy takes CPU).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench import common, fake_llm, llm_load, server

SECONDS = float(os.environ.get("BENCH_LLM_SECONDS", 30))
USERS = [int(n) for n in os.environ.get("BENCH_USERS", "128,512").split(",") if n.strip()]
STREAM_USERS = int(os.environ.get("BENCH_STREAM_USERS", 64))
STREAM_ROUNDS = int(os.environ.get("BENCH_STREAM_ROUNDS", 5))
PROFILE = os.environ.get("BENCH_PROFILE", "1") != "0"
PROFILE_RATE = 50  # py-spy samples per second and thread
PROFILE_SECONDS = 20
CALIBRATION_SECONDS = 10
DATABASE = "volx_bench_llm"  # `python -m bench.llm` alone; `make bench` passes its own
START_BALANCE = 2_000_000_000
SEO_TEXT = (
    "Volx keeps every token movement in a ledger written in the same transaction as the "
    "balance, so a paying user always sees a correct number, even while the AI provider "
    "takes seconds to answer."
)
REWRITE_TEXT = " ".join([SEO_TEXT] * 3)
# Issue 13's targets: per N of the loop runs, the ratio (at least) and the added p99 (at
# most); the streamed first delta's p99 (at most); MariaDB connections (at most).
TARGETS = {
    128: {"ratio": 0.9, "added_p99_ms": 100},
    512: {"ratio": 0.8, "added_p99_ms": 250},
    "stream_first_delta_p99_ms": 100,
    "connections": 100,
}


def run(url: str, database: str) -> dict:
    """Every realistic run; the figures, for section() and the profile."""
    from articles.actions import ACTIONS

    ids = prepare_users(max([*USERS, STREAM_USERS]))
    costs = {
        "seo": ACTIONS["generate_seo_title"].cost(SEO_TEXT),
        "rewrite": ACTIONS["rewrite"].cost(REWRITE_TEXT),
    }
    results = {"costs": costs, "loops": {}, "seconds": SECONDS}
    results["statements"] = statements_per_action()
    with fake_llm.running() as fake:
        if USERS:
            print(f"  calibration: {max(USERS)} users straight to the fake provider …", flush=True)
            results["calibration"] = calibrate(fake, users=max(USERS), seconds=CALIBRATION_SECONDS)
        env = {"AI_PROVIDER": "openai", "AI_BASE_URL": fake.base_url, "AI_API_KEY": "x"}
        with server.running(url, env=env, name="llm") as app:
            results["server"] = {
                "command": app.command,
                "source": app.source,
                "web_concurrency": app.web_concurrency or "the server's default",
                "workers": len(app.workers()),
                "worker_class": app.worker_class,
            }
            results["fake"] = {
                "latency": fake.latency,
                "first_chunk": fake.first_chunk,
                "chunks": fake.chunks,
            }
            print("  warm-up …", flush=True)
            llm_load.run(
                app.base,
                "/api/ai/generate-seo-title",
                # As many users as the first run: every worker opens its database
                # threads and connections before the measured runs.
                tokens(ids[: USERS[0] if USERS else 32]),
                {"text": SEO_TEXT},
                rounds=2,
                stagger=fake.latency,
            )
            _settle(fake)
            for users in USERS:
                print(f"  {users} users × {SECONDS:g} s, seo-title …", flush=True)
                results["loops"][users] = measure(
                    app,
                    fake,
                    database,
                    ids[:users],
                    path="/api/ai/generate-seo-title",
                    body={"text": SEO_TEXT},
                    cost=costs["seo"],
                    seconds=SECONDS,
                )
            print(f"  {STREAM_USERS} users × {STREAM_ROUNDS} streamed rewrites …", flush=True)
            results["stream"] = measure(
                app,
                fake,
                database,
                ids[:STREAM_USERS],
                path="/api/ai/rewrite",
                body={"text": REWRITE_TEXT, "stream": True},
                cost=costs["rewrite"],
                rounds=STREAM_ROUNDS,
                watch=True,
            )
            if PROFILE and USERS:
                # A run of its own: py-spy takes CPU from the app, so the figures of the
                # table are measured without it.
                users, seconds = USERS[0], min(SECONDS, PROFILE_SECONDS)
                print(f"  {users} users × {seconds:g} s, seo-title, profiled …", flush=True)
                results["profiled"] = measure(
                    app,
                    fake,
                    database,
                    ids[:users],
                    path="/api/ai/generate-seo-title",
                    body={"text": SEO_TEXT},
                    cost=costs["seo"],
                    seconds=seconds,
                    profile=True,
                )
    return results


def statements_per_action() -> tuple[list[str], int]:
    """The statements one seo-title action sends as Django logs them, and how many
    statements MariaDB received (its session's Questions), in process: Django's test
    client and the local engine, whose hold and settlement are the same as any provider's."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    user = User.objects.get(username="bench-llm-0")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens([user.pk])[0]}")
    path, body = "/api/ai/generate-seo-title", {"text": SEO_TEXT}
    client.post(path, body, content_type="application/json")  # warm: caches, connection
    questions = "SHOW SESSION STATUS LIKE 'Questions'"
    with connection.cursor() as cursor:
        cursor.execute(questions)
        sent = int(cursor.fetchone()[1])
        with CaptureQueriesContext(connection) as captured:
            answer = client.post(path, body, content_type="application/json")
        cursor.execute(questions)
        sent = int(cursor.fetchone()[1]) - sent - 1  # the first SHOW counts itself
    assert answer.status_code == 200, answer.content
    return [_statement(query["sql"]) for query in captured.captured_queries], sent


def _statement(sql: str) -> str:
    """`UPDATE users`, `INSERT token_ledger`, `COMMIT`: the verb and the first table."""
    verb = sql.split(None, 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+`?(\w+)`?", sql, re.IGNORECASE)
    return f"{verb} {table.group(1)}" if table else verb


def prepare_users(count: int) -> list[int]:
    """`count` users bench-llm-<i>, each with START_BALANCE tokens (no password: fast)."""
    from accounts.models import User
    from tokens.wallet import Wallet

    ids = []
    for index in range(count):
        username = f"bench-llm-{index}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username, f"{username}@bench.local")
            Wallet(user).credit(START_BALANCE - Wallet(user).balance(), kind="bonus")
        ids.append(user.pk)
    return ids


def tokens(ids: list[int]) -> list[str]:
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    users = User.objects.in_bulk(ids)
    return [str(AccessToken.for_user(users[pk])) for pk in ids]


def calibrate(fake, *, users: int, seconds: float) -> dict:
    """The load generator straight against the fake provider: the floor of the harness
    itself (its own latency and rate on this machine, with nothing of Volx's in between)."""
    body = {
        "model": "fake",
        "messages": [
            {"role": "system", "content": "You write SEO titles."},
            {"role": "user", "content": SEO_TEXT},
        ],
    }
    base = fake.base_url.removesuffix("/v1")
    samples, started = llm_load.run(
        base, "/v1/chat/completions", ["none"] * users, body, seconds=seconds, stagger=fake.latency
    )
    ok = [s for s in samples if s.status == 200]
    window = (started + fake.latency, started + seconds)
    completed = sum(1 for s in ok if window[0] <= s.finished <= window[1])
    rate = completed / (window[1] - window[0])
    return {
        "users": users,
        "seconds": seconds,
        "requests": len(samples),
        "ok": len(ok),
        "ratio": rate / (users / fake.latency),
        "added_ms": _percentiles([1000 * (s.latency - fake.latency) for s in ok]),
    }


def measure(
    app,
    fake,
    database,
    ids,
    *,
    path,
    body,
    cost,
    seconds=None,
    rounds=None,
    watch=False,
    profile=False,
) -> dict:
    """One run: load, connections, CPU, the charge check and (optionally) a profile."""
    user_tokens = tokens(ids)
    before = snapshot(ids)
    fake.stats(reset=True)
    mark = app.mark()
    monitor = ConnectionMonitor(database)
    cpu = CpuMeter(app, fake)
    monitor.start()
    cpu.start()
    spy = None
    if profile and seconds:
        spy = Profiler(app.workers(), delay=fake.latency, seconds=seconds - fake.latency - 1)
    samples, started = llm_load.run(
        app.base,
        path,
        user_tokens,
        body,
        seconds=seconds,
        rounds=rounds,
        stagger=fake.latency,
        watch=watch,
    )
    elapsed = time.perf_counter() - started
    cpu.stop()
    _settle(fake)
    monitor.stop()
    figures = {
        "users": len(ids),
        "seconds": seconds,
        "elapsed": elapsed,
        "requests": len(samples),
        "statuses": Counter(str(s.status) for s in samples),
        "connections": monitor.max_count,
        "connections_samples": monitor.samples,
        "cpu": cpu.seconds,
        "cpu_window": cpu.elapsed,
        "cpu_threads": cpu.threads,
        "provider": fake.stats(),
        "charges": check_charges(ids, before, samples, cost),
        "problems": app.problems(since=mark),
    }
    ok = [s for s in samples if s.charged]
    latency = fake.latency
    figures["ok"] = len(ok)
    figures["added_ms"] = _percentiles([1000 * (s.latency - latency) for s in ok])
    if seconds:
        window = (started + latency, started + seconds)
        completed = sum(1 for s in ok if window[0] <= s.finished <= window[1])
        figures["rate"] = completed / (window[1] - window[0])
        figures["ideal"] = len(ids) / latency
        figures["ratio"] = figures["rate"] / figures["ideal"]
    if watch:
        streamed = [s for s in ok if s.first_delta is not None]
        figures["streamed"] = len(streamed)
        figures["not_streamed"] = len(ok) - len(streamed)
        figures["first_delta_ms"] = _percentiles(
            [1000 * (s.first_delta - s.started - fake.first_chunk) for s in streamed]
        )
    if spy is not None:
        figures["profile"] = spy.result()
    return figures


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": common.percentile(values, 50),
        "p99": common.percentile(values, 99),
        "max": max(values),
    }


def _settle(fake, timeout: float = 90) -> None:
    """Wait until the provider has no request in flight (a timed-out client's request may
    still be running on the server), then a moment for the settlements after it."""
    deadline = time.monotonic() + timeout
    while fake.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)


# --- the charge check ------------------------------------------------------------

SNAPSHOT_SQL = """
SELECT u.id, u.tokens_remaining,
  (SELECT COUNT(*) FROM token_usage_history t WHERE t.user_id = u.id),
  (SELECT COALESCE(SUM(l.delta), 0) FROM token_ledger l WHERE l.user_id = u.id),
  (SELECT COUNT(*) FROM token_holds h WHERE h.user_id = u.id AND h.status = 'held')
FROM users u WHERE u.id IN ({})
"""


def snapshot(ids: list[int]) -> dict[int, tuple[int, int, int, int]]:
    """{user id: (balance, usage rows, ledger sum, open holds)}, read in autocommit."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(SNAPSHOT_SQL.format(", ".join(["%s"] * len(ids))), ids)
        rows = cursor.fetchall()
    return {row[0]: tuple(None if v is None else int(v) for v in row[1:]) for row in rows}


def check_charges(ids, before, samples, cost: int) -> dict:
    """Each user's balance, usage rows, ledger and holds against the answers it got."""
    after = snapshot(ids)
    answered = Counter(ids[s.user] for s in samples if s.charged)
    problems = Counter()
    tokens_off = 0
    for pk in ids:
        balance_0, usage_0, _, holds_0 = before[pk]
        balance, usage, ledger, holds = after[pk]
        spent = balance_0 - balance
        if spent != cost * answered[pk]:
            problems["balance change ≠ cost × 200 answers"] += 1
            tokens_off += spent - cost * answered[pk]
        if usage - usage_0 != answered[pk]:
            problems["usage rows ≠ 200 answers"] += 1
        if ledger != balance:
            problems["ledger sum ≠ balance"] += 1
        if holds:
            problems["holds left open"] += holds
    return {
        "exact": not problems,
        "problems": dict(problems),
        "tokens_off": tokens_off,  # > 0: charged more than the answers given
        "answered": sum(answered.values()),
    }


# --- what runs beside the load ---------------------------------------------------


class ConnectionMonitor(threading.Thread):
    """The most MariaDB connections to `database` at once, sampled every `interval` s."""

    def __init__(self, database: str, interval: float = 0.05):
        super().__init__(daemon=True)
        self.database, self.interval = database, interval
        self.max_count = 0
        self.samples = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        connection = common._connect(None)  # no database: not counted in its own query
        connection.autocommit(True)
        cursor = connection.cursor()
        try:
            while not self._stopping.is_set():
                cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s",
                    [self.database],
                )
                self.max_count = max(self.max_count, int(cursor.fetchone()[0]))
                self.samples += 1
                self._stopping.wait(self.interval)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join()


class CpuMeter:
    """CPU seconds used during the run by the app, the fake provider, this process (the
    load generator and the monitor), MariaDB, and the whole machine (busy time); and the
    app workers' by thread: the main thread (the event loop), the threads that lived
    through the run (the database threads), and the threads born or ended during it (the
    rest of the process's time)."""

    def __init__(self, app, fake):
        self.workers = app.workers()
        self.groups = {
            "app": lambda: app.pids(),
            "fake provider": lambda: server.descendants(fake.pid, include_self=True),
            "MariaDB (shared)": lambda: server.pids_named("mariadbd", "mysqld"),
        }

    def _read(self) -> dict:
        values = {
            name: {pid: server.cpu_seconds(pid) for pid in pids()}
            for name, pids in self.groups.items()
        }
        times = os.times()
        values["load generator"] = {0: times.user + times.system}
        values["machine"] = {0: _machine_busy()}
        return values

    def _threads(self) -> dict:
        return {
            pid: (server.cpu_seconds(pid), server.thread_cpu_seconds(pid)) for pid in self.workers
        }

    def start(self) -> None:
        self._start, self._t0 = self._read(), time.perf_counter()
        self._threads_start = self._threads()

    def stop(self) -> None:
        end, threads = self._read(), self._threads()
        self.elapsed = time.perf_counter() - self._t0
        self.seconds = {
            name: sum(t - self._start[name].get(pid, 0.0) for pid, t in pids.items())
            for name, pids in end.items()
        }
        split = Counter()
        for pid, (total, tasks) in threads.items():
            total_0, tasks_0 = self._threads_start[pid]
            loop = tasks.get(pid, 0.0) - tasks_0.get(pid, 0.0)
            lasting = sum(t - tasks_0[tid] for tid, t in tasks.items() if tid in tasks_0)
            split["event loop"] += loop
            split["database threads (lived through the run)"] += lasting - loop
            split["threads born or ended in the run (per request)"] += max(
                0.0, (total - total_0) - lasting
            )
        self.threads = dict(split)


def _machine_busy() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Profiler:
    """py-spy on every worker for `seconds`, starting after `delay` (when every user is
    running): each thread's stack PROFILE_RATE times a second, idle or not (`--idle`), so
    the samples are wall time and say what each thread is doing or waiting for."""

    def __init__(self, pids: list[int], *, delay: float, seconds: float):
        self.pids = pids
        self.seconds = max(2, int(seconds))
        self.outputs = [common.OUT / f"llm-profile-{pid}.txt" for pid in pids]
        for output in self.outputs:
            output.unlink(missing_ok=True)
        venv_bin = str(Path(sys.executable).parent)
        self.spy = shutil.which("py-spy", path=venv_bin) or shutil.which("py-spy")
        self.error = None if self.spy else "py-spy is not installed (pip install py-spy)"
        self.processes = []
        if self.spy:
            self.thread = threading.Thread(target=self._record, args=(delay,), daemon=True)
            self.thread.start()

    def _record(self, delay: float) -> None:
        time.sleep(delay)
        self.processes = [
            subprocess.Popen(
                [self.spy, "record", "--pid", str(pid), "--duration", str(self.seconds)]
                + ["--rate", str(PROFILE_RATE), "--format", "raw", "--threads", "--idle"]
                + ["--nonblocking", "--output", str(output)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for pid, output in zip(self.pids, self.outputs, strict=True)
        ]
        for process in self.processes:
            process.communicate()

    def result(self) -> dict:
        if self.error:
            return {"error": self.error}
        self.thread.join()
        stacks = []
        for process, output in zip(self.processes, self.outputs, strict=True):
            if process.returncode != 0 or not output.exists():
                return {"error": f"py-spy failed: {(process.stdout.read() or '')[-500:]}"}
            for line in output.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if stack and count.isdigit():
                    stacks.append((stack.split(";"), int(count)))
        return {
            "pids": self.pids,
            "seconds": self.seconds,
            "rate": PROFILE_RATE,
            "stacks": stacks,
        }


# --- the profile, in words ---------------------------------------------------------

# What a thread does when its innermost frame is…: idle (an event loop in epoll, a pool
# thread waiting for work) or in the MariaDB client library (C calls that release the
# GIL: mostly waiting for the server's answer).
IDLE = ("Runner.run (asyncio/runners.py", "_worker (concurrent/futures/thread.py")
MARIADB = ("MySQLdb/", "_commit (django/db/backends/base/base.py", "is_usable (django/db/backends")
# The rest is Python at work. A busy sample belongs to the first category one of its
# frames matches from the innermost up, so json.dumps called by DRF's renderer is JSON.
CATEGORIES = [
    ("JWT (PyJWT, simplejwt)", ("jwt/", "rest_framework_simplejwt/")),
    ("JSON", ("json/",)),
    ("HTTP client to the provider (openai and its transport)",
     ("openai/", "httpx", "httpcore", "h11/", "aiohttp/", "yarl/", "multidict/",
      "aiohappyeyeballs/")),
    ("ORM and DB backend in Python", ("django/db/",)),
    ("threads: hand-off, start, stop (asgiref, concurrent.futures, threading)",
     ("asgiref/", "concurrent/futures/", "threading.py", "queue.py")),
    ("HTTP server (uvicorn, gunicorn)", ("uvicorn", "gunicorn/", "httptools")),
    ("logging (access log)", ("logging/",)),
    ("event loop (asyncio, anyio)", ("asyncio/", "anyio/", "sniffio/")),
    ("Volx code", ("tokens/", "articles/", "accounts/", "volx/", "payments/", "subscriptions/")),
    ("DRF (views, serializers, throttles)", ("rest_framework/",)),
    ("Django (handler, middleware, URLs, signals)", ("django/",)),
]  # fmt: skip


def _thread_kind(label: str) -> str:
    name = label.partition(": ")[2]
    if name == "MainThread":
        return "event loop"
    if name.startswith("volx-db"):
        return "database threads"
    if name.startswith("ThreadPoolExecutor-"):
        return "asgiref's sync threads (sync middleware, sync views)"
    if name.startswith("uvloop_"):
        return "the event loop's executor (getaddrinfo)"
    return "other threads"


def categorise(stacks: list[tuple[list[str], int]]) -> dict:
    """Samples by thread kind and state, busy samples by category and by own function."""
    states, busy, leaves, threads = Counter(), Counter(), Counter(), {}
    for frames, count in stacks:
        kind = _thread_kind(frames[0])
        threads.setdefault(kind, set()).add(frames[0])
        leaf = frames[-1]
        if len(frames) == 1 or leaf.startswith(IDLE):
            states[kind, "idle"] += count
            continue
        if any(mark in leaf for mark in MARIADB):
            states[kind, "in the MariaDB client"] += count
            continue
        states[kind, "Python"] += count
        leaves[kind, leaf] += count
        for frame in reversed(frames[1:]):
            category = next(
                (name for name, marks in CATEGORIES if any(m in frame for m in marks)), None
            )
            if category:
                busy[kind, category] += count
                break
        else:
            busy[kind, "other"] += count
    return {
        "states": states,
        "busy": busy,
        "leaf": leaves,
        "threads": {kind: len(labels) for kind, labels in threads.items()},
    }


# --- the report ----------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:.1f} ms"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else "met" if ok else "**not met**"


def section(results: dict) -> str:
    """The main section of BENCHMARKS.md: the target table, the runs, the profile."""
    srv, fake = results["server"], results["fake"]
    loops, stream = results["loops"], results["stream"]
    rows = []
    for users, run in loops.items():
        target = TARGETS.get(users, {})
        ratio_target, p99_target = target.get("ratio"), target.get("added_p99_ms")
        added = run["added_ms"]
        p99_ok = None
        if p99_target:
            p99_ok = added["p99"] is not None and added["p99"] <= p99_target
        rows.append(
            f"| N = {users}: AI actions/s as a ratio of the ideal {run['ideal']:.0f}/s | "
            f"**{run['ratio']:.2f}** ({run['rate']:.1f}/s) | | "
            f"{f'≥ {ratio_target}' if ratio_target else '—'} | "
            f"{_verdict(run['ratio'] >= ratio_target if ratio_target else None)} |"
        )
        rows.append(
            f"| N = {users}: latency Volx adds to the provider's | **{_ms(added['p99'])}** | "
            f"{_ms(added['p50'])} | {f'≤ {p99_target} ms' if p99_target else '—'} | "
            f"{_verdict(p99_ok)} |"
        )
    first = stream["first_delta_ms"]
    first_target = TARGETS["stream_first_delta_p99_ms"]
    first_ok = first["p99"] is not None and first["p99"] <= first_target
    rows.append(
        f"| {stream['users']} streamed rewrites: first delta − the provider's "
        f"{fake['first_chunk']:g} s | **{_ms(first['p99'])}** | {_ms(first['p50'])} | "
        f"≤ {first_target} ms | {_verdict(first_ok)} |"
    )
    calibration = results.get("calibration")
    if calibration:
        added = calibration["added_ms"]
        rows.append(
            f"| the harness alone: {calibration['users']} users straight to the fake "
            f"provider, ratio; added latency | {calibration['ratio']:.2f}; {_ms(added['p99'])} | "
            f"{_ms(added['p50'])} | — | |"
        )
    runs = [*loops.values(), stream, *([results["profiled"]] if "profiled" in results else [])]
    connections = max(run["connections"] for run in runs)
    rows.append(
        f"| MariaDB connections during the runs, max | **{connections}** | | "
        f"≤ {TARGETS['connections']} | {_verdict(connections <= TARGETS['connections'])} |"
    )
    exact = all(run["charges"]["exact"] for run in runs)
    rows.append(
        f"| charges | **{'exact' if exact else 'not exact'}** | | exact | {_verdict(exact)} |"
    )
    lines = [
        "## AI actions at a real model's latency",
        f"The production server: `{srv['command']}` ({srv['source']}), WEB_CONCURRENCY="
        f"{srv['web_concurrency']} ({srv['workers']} worker processes, "
        f"{srv['worker_class']}), on MariaDB, DEBUG "
        f"off, `AI_PROVIDER=openai` against bench/fake_llm.py, which answers after "
        f"{fake['latency']:g} s and streams {fake['chunks']} chunks from {fake['first_chunk']:g} "
        f"s to {fake['latency']:g} s. N users, each with its own JWT and keep-alive "
        f"connection, post `/api/ai/generate-seo-title` back to back for {results['seconds']:g} "
        "s, starting one after another over the first second; every user finishes the "
        "request it is making at the deadline (bench/llm_load.py). AI actions/s counts the "
        "200 answers completed from the last user's start to the deadline; the ideal is N ÷ "
        "the provider's latency. Added latency = a 200 answer's latency − the provider's. "
        f'Streamed: {stream["users"]} users post `/api/ai/rewrite` with `"stream": true`, '
        f'{STREAM_ROUNDS} each, back to back; the time to the first `data: {{"delta": …}}` '
        "event minus the provider's first-chunk delay. Connections: every 50 ms, the "
        "connections to the benchmark database (information_schema.PROCESSLIST). Charges: "
        "after each run, user by user, balance change = cost × the 200 answers that user got, "
        "usage rows = those answers, ledger sum = balance, no hold left open.",
        "",
        "| figure | measured (p99) | p50 | target | |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
        "Each run (CPU from /proc: the app's processes, the fake provider, this process — "
        "the load generator and the connection monitor —, MariaDB, which other work on "
        "the machine shares; machine busy: all cores, /proc/stat, and in brackets the part "
        "none of those used, i.e. other processes on this shared VM):",
        "",
        "| run | requests | 200 | other answers | added p50 / p99 / max | DB conns | "
        "provider in flight, max | app CPU per request | "
        "CPU s: app / provider / load gen / MariaDB | "
        "machine busy (other processes) |",
        "|---|---:|---:|---|---|---:|---:|---:|---|---:|",
    ]
    named = [
        (f"{users} users, seo-title, {results['seconds']:g} s", run) for users, run in loops.items()
    ]
    named.append((f"{stream['users']} users × {STREAM_ROUNDS} streamed rewrites", stream))
    profiled = results.get("profiled")
    if profiled:
        name = f"{profiled['users']} users, seo-title, {profiled['seconds']:g} s, py-spy attached"
        named.append((name, profiled))
    for name, run in named:
        others = ", ".join(
            f"{status}: {n}" for status, n in run["statuses"].items() if status != "200"
        )
        if run.get("not_streamed"):
            others = ", ".join(filter(None, [others, f"200 not streamed: {run['not_streamed']}"]))
        added = run["added_ms"]
        cpu = run["cpu"]
        busy = cpu["machine"] / run["cpu_window"] / (os.cpu_count() or 1)
        ours = sum(t for name, t in cpu.items() if name != "machine")
        elsewhere = max(0.0, cpu["machine"] - ours) / run["cpu_window"] / (os.cpu_count() or 1)
        lines.append(
            f"| {name} | {run['requests']} | {run['ok']} | {others or '—'} | "
            f"{_ms(added['p50'])} / {_ms(added['p99'])} / {_ms(added['max'])} | "
            f"{run['connections']} | {run['provider']['max_in_flight']} | "
            f"{1000 * cpu['app'] / max(1, run['requests']):.1f} ms | "
            f"{cpu['app']:.1f} / {cpu['fake provider']:.1f} / {cpu['load generator']:.1f} / "
            f"{cpu['MariaDB (shared)']:.1f} | {100 * busy:.0f}% ({100 * elsewhere:.0f}%) |"
        )
    lines += ["", *_ceiling_lines(loops), "", *_charges_lines(named), *_log_lines(named)]
    if profiled:
        measured = loops.get(profiled["users"], profiled)
        lines += ["", *profile_lines(profiled, measured)]
    statements, sent = results["statements"]
    lines += [
        "",
        f"An AI action sends MariaDB {sent} statements, each a round trip (in process, with "
        f"the local engine; MariaDB's Questions counter). Django logs {len(statements)}: "
        + ", ".join(f"`{sql}`" for sql in statements)
        + "; its BEGIN is `SET autocommit=0` on the wire, and a COMMIT is followed by `SET "
        "autocommit=1`. CONN_HEALTH_CHECKS adds a ping when a request reuses a connection.",
    ]
    return "\n".join(lines)


def _ceiling_lines(loops: dict) -> list[str]:
    """What this machine's CPUs allow at most: every process of the run shares them, so
    at the CPU an AI action cost in the run, all of them busy serve at most this many."""
    cores = os.cpu_count() or 1
    lines = [
        f"The machine's ceiling: the app, MariaDB, the fake provider and the load generator "
        f"share its {cores} CPUs, so at the CPU one AI action cost in the run (all four "
        f"together) it serves at most {cores} CPU-s ÷ that, with every CPU busy and no "
        "other process:",
        "",
    ]
    for users, run in loops.items():
        cpu = run["cpu"]
        per_action = sum(t for name, t in cpu.items() if name != "machine") / max(1, run["ok"])
        ceiling = cores / per_action
        ratio = min(1.0, ceiling / run["ideal"])
        lines.append(
            f"- N = {users}: {1000 * per_action:.1f} ms of CPU per AI action → at most "
            f"{ceiling:.0f} AI actions/s, a ratio of at most {ratio:.2f} of the ideal "
            f"{run['ideal']:.0f}/s."
        )
    return lines


def _charges_lines(named) -> list[str]:
    lines = []
    for name, run in named:
        charges = run["charges"]
        if charges["exact"]:
            continue
        what = "; ".join(f"{problem}: {n} users" for problem, n in charges["problems"].items())
        lines.append(
            f"- Charges of *{name}* not exact: {what}; {charges['tokens_off']:+,} tokens "
            "against the answers given (positive: charged for answers not received)."
        )
    return lines or ["Charges exact in every run."]


def _log_lines(named) -> list[str]:
    lines = []
    for name, run in named:
        problems = run["problems"]
        for kind, count in problems["counts"].items():
            lines.append(
                f"- Server log during *{name}*: {count} × {kind}, e.g. "
                f"`{problems['examples'][kind]}`"
            )
    return ["", *lines] if lines else ["", "The server logged no error or warning."]


def profile_lines(run: dict, measured: dict) -> list[str]:
    """The profiled `run`, with the CPU split of the `measured` run of as many users."""
    profile = run["profile"]
    if "error" in profile:
        return ["### Where the time goes", f"No profile: {profile['error']}."]
    found = categorise(profile["stacks"])
    states = found["states"]
    per_request = 1000 * measured["cpu"]["app"] / max(1, measured["requests"])
    split = ", ".join(
        f"{kind} {1000 * seconds / max(1, measured['requests']):.1f} ms"
        for kind, seconds in measured["cpu_threads"].items()
    )
    lines = [
        "### Where the time goes",
        f"py-spy (`record --idle --threads --nonblocking`, {profile['rate']} samples a second "
        f"per thread) on the {len(profile['pids'])} workers for {profile['seconds']} s of the "
        f"{run['users']}-user run with py-spy attached. In the {measured['users']}-user run "
        f"without it, the app used {measured['cpu']['app']:.1f} CPU-s for "
        f"{measured['requests']} requests: {per_request:.1f} ms of CPU per AI action, of "
        f"which (/proc, the workers' threads) {split}. What each "
        "kind of thread spent its time on (idle: the event loop waiting in epoll, a pool "
        "thread waiting for work; in the MariaDB client: C calls of mysqlclient, mostly "
        "waiting for the server; Python: running Python code or waiting for the GIL):",
        "",
        "| threads | how many | idle | in the MariaDB client | Python |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, count in sorted(found["threads"].items()):
        total = sum(n for (k, _), n in states.items() if k == kind) or 1
        shares = [
            f"{100 * states[kind, state] / total:.0f}%"
            for state in ("idle", "in the MariaDB client", "Python")
        ]
        lines.append(f"| {kind} | {count} | {' | '.join(shares)} |")
    loop = {category: n for (kind, category), n in found["busy"].items() if kind == "event loop"}
    loop_total = sum(n for (kind, _), n in states.items() if kind == "event loop") or 1
    threads_started = found["threads"].get(
        "asgiref's sync threads (sync middleware, sync views)", 0
    )
    requests = run.get("rate", 0) * profile["seconds"]
    lines += [
        "",
        f"{threads_started} of asgiref's sync threads appeared in the {profile['seconds']} s, "
        "about "
        f"{threads_started / max(1, requests):.1f} per request. A worker's event loop is "
        "its capacity: what it does while not idle, as a share of its time, by what the "
        'innermost known frame belongs to (bench/llm.py CATEGORIES; "idle" includes '
        "uvloop's and httptools' own C code, which py-spy cannot see):",
        "",
        "| the event loop's time | share |",
        "|---|---:|",
    ]
    for category, n in sorted(loop.items(), key=lambda item: -item[1]):
        lines.append(f"| {category} | {100 * n / loop_total:.1f}% |")
    lines += ["", "Its functions by own time (share of the event loop's time):", "", "```"]
    loop_leaves = Counter(
        {leaf: n for (kind, leaf), n in found["leaf"].items() if kind == "event loop"}
    )
    for leaf, n in loop_leaves.most_common(20):
        lines.append(f"{100 * n / loop_total:5.1f}%  {leaf}")
    lines.append("```")
    return lines


def main() -> None:
    """`python -m bench.llm`: only the realistic runs, printed (BENCHMARKS.md untouched)."""
    url = common.create_database(DATABASE)
    common.setup_django(url)
    print(section(run(url, DATABASE)))


if __name__ == "__main__":
    main()
