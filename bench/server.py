"""The server under test: the `web:` command of the top-level Procfile, as production runs it.

`web_command()` reads the Procfile at run time, so the benchmark measures whatever
production runs today.
`running(url, env)` starts the command in its own process group on a free PORT against
the benchmark database and stops it afterwards; its stderr (tracebacks, warnings, the
access log if the configuration writes one there) goes to bench/out/<name>.log, which
`problems()` summarises for the report.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench import common

PROCFILE = common.ROOT / "Procfile"
# BENCH_WEB_CONCURRENCY sets WEB_CONCURRENCY (the Procfile's worker count) for the runs;
# unset, the server's own default applies, as in production.
WEB_CONCURRENCY = os.environ.get("BENCH_WEB_CONCURRENCY")


def web_command() -> tuple[str, str]:
    """(the command, where it came from)."""
    for line in PROCFILE.read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web" and command.strip():
            return command.strip(), "Procfile `web:`"
    raise SystemExit(f"{PROCFILE} has no `web:` line: nothing to benchmark")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class running:
    """`with running(url, env={...}, name="llm") as server:` → server.base, server.pids()."""

    def __init__(self, url: str, *, env: dict[str, str] | None = None, name: str = "server"):
        self.url, self.extra, self.name = url, env or {}, name
        self.command, self.source = web_command()

    def __enter__(self) -> running:
        self.port = free_port()
        venv_bin = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PORT": str(self.port),
            "DATABASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            # The benchmark measures the request path, not the per-user rate limit.
            "THROTTLE_AI": "1000000/s",
            **self.extra,
        }
        if WEB_CONCURRENCY:
            env["WEB_CONCURRENCY"] = WEB_CONCURRENCY
        self.web_concurrency = env.get("WEB_CONCURRENCY", "")
        common.OUT.mkdir(parents=True, exist_ok=True)
        self.log_path = common.OUT / f"{self.name}.log"
        self.log = self.log_path.open("w+")
        self.process = subprocess.Popen(
            ["sh", "-c", self.command],
            cwd=common.ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait_until_up(self.base + "/api/plans")
        # What actually serves: a Procfile or a gunicorn.conf.py that is not read would
        # show here (gunicorn names its worker class when it starts).
        found = re.search(r"Using worker: (\S+)", self.log_path.read_text(errors="replace"))
        self.worker_class = found.group(1) if found else "unknown"
        return self

    def mark(self) -> int:
        """Where the log ends now: `problems(since=mark)` reads only what follows."""
        return self.log_path.stat().st_size

    def pids(self) -> list[int]:
        """The server's processes (the shell, the master, the workers)."""
        return descendants(self.process.pid, include_self=True)

    def workers(self) -> list[int]:
        """The processes that serve requests: the leaves of the process tree."""
        pids = self.pids()
        parents = {_ppid(pid) for pid in pids}
        return [pid for pid in pids if pid not in parents]

    def problems(self, since: int = 0) -> dict:
        """What the server's log says after `since`: tracebacks, errors, 5xx, warnings."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        found = Counter()
        examples = {}
        for line in text.splitlines():
            kind = None
            if line.startswith("Traceback"):
                kind = "traceback"
            elif re.search(r"\b(CRITICAL|ERROR)\b", line):
                kind = "error"
            elif re.search(r'HTTP/[\d.]+" 5\d\d\b', line):
                kind = "5xx in access log"
            elif re.search(r"\bWARNING\b", line):
                kind = "warning"
            if kind:
                found[kind] += 1
                examples.setdefault(kind, line.strip()[:300])
        return {"counts": dict(found), "examples": examples, "log": str(self.log_path)}

    def _wait_until_up(self, url: str) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"`{self.command}` exited:\n{self.log.read()[-5000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"`{self.command}` did not answer {url} within 90 s")

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


# --- processes, from /proc -------------------------------------------------------


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int, *, include_self: bool = False) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            children.setdefault(_ppid(int(entry.name)), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found if include_self else found[1:]


def cpu_seconds(pid: int, path: str = "") -> float:
    """User + system CPU time of `pid` so far, its threads' included (0 once it is gone);
    with `path` "task/<tid>", of that thread alone."""
    try:
        fields = Path(f"/proc/{pid}/{path}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """{thread id: CPU seconds} of the live threads of `pid`."""
    try:
        tids = [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return {}
    return {tid: cpu_seconds(pid, f"task/{tid}") for tid in tids}


def pids_named(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found
