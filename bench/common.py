"""What every benchmark needs: its own MariaDB database, Django pointed at it, timing."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SERVER_URL = os.environ.get("BENCH_DATABASE_SERVER", "mysql://root@127.0.0.1:3306")


def database_url(name: str) -> str:
    return f"{SERVER_URL}/{name}"


def create_database(name: str) -> str:
    """A fresh, migrated database `name` on the benchmark server; returns its URL."""
    import MySQLdb

    url = database_url(name)
    server = _connect(None)
    cursor = server.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    server.close()
    manage(url, "migrate", "--noinput", "-v0")
    assert MySQLdb  # imported for its error early: the benchmarks need mysqlclient
    return url


def manage(url: str, *args: str, env: dict | None = None) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, **(env or {})},
        check=True,
    )


def setup_django(url: str) -> None:
    """Point this process's Django at `url` (call once, before importing models)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volx.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def connect(name: str):
    """A raw mysqlclient connection to database `name`, autocommit off."""
    connection = _connect(name)
    connection.autocommit(False)
    return connection


def _connect(name: str | None):
    import MySQLdb
    from environ import Env

    config = Env.db_url_config(f"{SERVER_URL}/{name or ''}")
    return MySQLdb.connect(
        host=config["HOST"] or "127.0.0.1",
        port=int(config["PORT"] or 3306),
        user=config["USER"],
        password=config["PASSWORD"] or "",
        database=name or "",
        charset="utf8mb4",
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    """The machine, for BENCHMARKS.md: the numbers mean little without it."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    server = _connect(None)
    cursor = server.cursor()
    cursor.execute(
        "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@innodb_buffer_pool_size, "
        "@@sync_binlog, @@log_bin"
    )
    version, flush, pool, sync_binlog, log_bin = cursor.fetchone()
    server.close()
    return (
        f"- CPU: {os.cpu_count()} × {cpu}; RAM {memory_kb / 1024 / 1024:.0f} GiB; "
        f"Linux {platform.release()}\n"
        f"- Python {platform.python_version()}; MariaDB {version} on 127.0.0.1 (same machine), "
        f"innodb_flush_log_at_trx_commit={flush}, buffer pool {int(pool) // 2**20} MiB, "
        f"binary log {'on' if log_bin else 'off'} (sync_binlog={sync_binlog})\n"
        "- A shared VM: absolute figures move from run to run, so every figure is compared "
        "with a baseline measured in the same run."
    )
