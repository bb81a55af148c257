"""`make bench`: every benchmark in one run, printed and written to BENCHMARKS.md.

First the realistic figures, against their targets (bench/llm.py): AI actions at a real
model's latency through the Procfile's `web:` command, with a fake OpenAI-compatible
provider (bench/fake_llm.py). Then, without targets, the local-engine and raw-SQL
figures: debits against raw SQL (bench/db.py), wrk against the same server with the
local engine (bench/http.py), a pyinstrument profile of that path in process, and the
million-user scale figures (bench/scale.py).

Environment:

- BENCH_LLM_SECONDS (per loop run, default 30), BENCH_USERS (the loop runs' user counts,
  default 128,512), BENCH_STREAM_USERS (64), BENCH_STREAM_ROUNDS (streamed rewrites per
  user, 5), BENCH_PROFILE=0 to skip py-spy; FAKE_LLM_LATENCY (1.0 s),
  FAKE_LLM_FIRST_CHUNK (0.1 s), FAKE_LLM_CHUNKS (20) shape the fake provider;
- BENCH_WEB_CONCURRENCY: WEB_CONCURRENCY for the server under test (unset: the
  Procfile's own default, as in production);
- BENCH_SECONDS (per debit case, default 5), BENCH_ROUNDS (3), BENCH_HTTP_SECONDS (per
  wrk run, 10), BENCH_LOCAL=0 to skip the debits, wrk and the in-process profile;
- BENCH_SCALE=0 to skip the million-user part, BENCH_SCALE_USERS /
  BENCH_SCALE_LEDGER_ROWS to size it.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

from bench import common

DATABASE = "volx_bench"
SECONDS = float(os.environ.get("BENCH_SECONDS", 5))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
HTTP_SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", 10))
# The benchmark measures the request path, not the per-user rate limit.
os.environ["THROTTLE_AI"] = "1000000/s"


def main() -> None:
    started = time.monotonic()
    url = common.create_database(DATABASE)
    common.setup_django(url)
    from bench import db, http, llm, profile

    print("AI actions at LLM latency, through the Procfile's web command …", flush=True)
    sections = [llm.section(llm.run(url, DATABASE))]
    secondary = []
    if os.environ.get("BENCH_LOCAL", "1") != "0":
        print(f"debits: {ROUNDS} rounds × 6 cases × {SECONDS:g} s …", flush=True)
        debits = db.run(database=DATABASE, seconds=SECONDS, rounds=ROUNDS)
        drift = {name: db.drift(name) for name in db.IMPLEMENTATIONS}
        print("HTTP: wrk against the Procfile's web command, local engine …", flush=True)
        tokens = http.prepare_users()
        requests, served_by = http.measure(url, tokens, seconds=HTTP_SECONDS)
        print("profile …", flush=True)
        tree = profile.run(requests=300)
        secondary += [
            debit_section(debits, drift),
            http_section(requests, debits["baseline", "spread"].median, served_by),
            profile_section(tree),
        ]
    if os.environ.get("BENCH_SCALE", "1") != "0":
        from bench import scale

        secondary.append(
            scale.run(
                users=int(os.environ.get("BENCH_SCALE_USERS", 1_000_000)),
                ledger_rows=int(os.environ.get("BENCH_SCALE_LEDGER_ROWS", 10_000_000)),
                regenerate=False,
            )
        )
    if secondary:
        sections.append(
            "## Without targets: the local engine and raw SQL\n"
            "What the wallet and the request path cost when the provider answers at once "
            "(the local engine) and MariaDB is the only wait: where a regression in Volx's "
            "own code shows first. Ratios to raw SQL measured in the same run."
        )
        sections += [_demote(section) for section in secondary]
    report = "\n\n".join(
        [
            "# Benchmarks",
            f"`make bench`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{(time.monotonic() - started) / 60:.0f} minutes. Machine:\n\n{common.machine()}",
            *sections,
        ]
    )
    (common.ROOT / "BENCHMARKS.md").write_text(report + "\n")
    print(report)


def _demote(section: str) -> str:
    """One heading level down: the section sits under "Without targets"."""
    return re.sub(r"^(#+) ", r"#\1 ", section, flags=re.MULTILINE)


def debit_section(results, drift) -> str:
    baseline = {mode: results["baseline", mode].median for mode in ("hot", "spread")}
    rows = []
    for (name, mode), result in results.items():
        runs = ", ".join(f"{ops:.0f}" for ops in result.ops_per_second)
        ratio = result.median / baseline[mode]
        users, tokens = drift[name]
        drifting = f"{users} user{'s' * (users != 1)} drift"
        exact = "exact" if users == 0 else f"**{tokens:,} tokens lost** ({drifting})"
        rows.append(f"| {name} | {mode} | {result.median:,.0f} | {ratio:.2f}× | {runs} | {exact} |")
    from bench.db import THREADS

    return "\n".join(
        [
            "## Debits: the wallet against raw SQL",
            f"{THREADS} client threads, 300-token debits, median of {ROUNDS} rounds of "
            f"{SECONDS:g} s (cases interleaved). Hot: all threads on one user; spread: one user "
            "per thread.",
            "",
            "| implementation | mode | debits/s | × baseline | rounds | ledger vs balance |",
            "|---|---|---:|---:|---|---|",
            *rows,
        ]
    )


def http_section(results, baseline_spread: float, served_by: dict) -> str:
    rows = []
    for (server, mode, connections), figures in results.items():
        ratio = figures["rps"] / baseline_spread
        errors = figures["non_2xx"] or ""
        if figures["socket_errors"]:
            errors = f"{errors} sockets: {figures['socket_errors']}".strip()
        rows.append(
            f"| {server} | {mode} | {connections} | {figures['rps']:,.0f} | {ratio:.3f}× | "
            f"{figures['p50']:.1f} | {figures['p99']:.1f} | {errors} |"
        )
    return "\n".join(
        [
            "## HTTP: POST /api/ai/generate-seo-title, local engine",
            f"`{served_by['command']}` ({served_by['source']}, WEB_CONCURRENCY="
            f"{served_by['web_concurrency']}, {served_by['workers']} worker processes, "
            f"{served_by['worker_class']}), "
            f"`AI_PROVIDER=local`, wrk for {HTTP_SECONDS} s per row. "
            "`app` is the AI action; `floor` is a bare DRF view with JWT auth running only "
            "the baseline SQL (bench/urls.py). × baseline = requests/s ÷ raw-SQL spread "
            "debits/s of the section above.",
            "",
            "| server | mode | conns | req/s | × baseline spread | p50 ms | p99 ms | errors |",
            "|---|---|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
    )


def profile_section(tree: str) -> str:
    """The flat profile, with its time split into waiting for MariaDB and the rest."""
    lines = [line for line in tree.splitlines() if re.match(r"\s*\d+\.\d+ ", line)]
    seconds = {line: float(line.split()[0]) for line in lines}
    total = sum(seconds.values())
    calls = {
        "query": "Connection.query ",
        "autocommit": "Connection.autocommit ",
        "commit": "Connection.commit ",
        "ping": "Connection.ping ",
    }
    waits = {
        name: sum(t for line, t in seconds.items() if marker in line and "<built-in>" in line)
        for name, marker in calls.items()
    }
    python = total - sum(waits.values())
    split = ", ".join(f"{name} {100 * t / total:.0f}%" for name, t in waits.items())
    return "\n".join(
        [
            "## Where a local-engine request's time goes, in process",
            "pyinstrument over 300 seo-title requests through Django's test client (the WSGI "
            "handler, no server) in one process "
            f"(bench/profile.py). Waiting for MariaDB: {split} (each statement; the "
            "SET autocommit with which Django's backend begins and ends a transaction; the "
            "COMMIT; the ping that checks a reused connection); Python: "
            f"{100 * python / total:.0f}%. Functions by own time:",
            "",
            "```",
            *lines[:25],
            "```",
        ]
    )


if __name__ == "__main__":
    main()
