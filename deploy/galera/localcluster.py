"""A 3-node MariaDB Galera cluster on this machine, behind HAProxy, for the cluster suite
(`make test-cluster`, volx/tests/cluster/) and for trying Volx on Galera by hand:

    python -m deploy.galera.localcluster start     # DATABASE_URL=mysql://root@127.0.0.1:13300/…
    python -m deploy.galera.localcluster status
    python -m deploy.galera.localcluster stop      # and its data is deleted

Node n (1, 2, 3) keeps its data in $VOLX_CLUSTER_DIR/node<n> (default /tmp/volx-cluster)
and listens on 127.0.0.1:13300+n for clients, 14500+10n for Galera's group traffic,
+1 for incremental state transfers (IST) and +2 for full ones (SST); its clustercheck
(deploy/galera/clustercheck.py) on 19200+n. HAProxy (deploy/galera/haproxy.cfg) listens
on 127.0.0.1:13300. The nodes run with deploy/galera/galera.cnf, the file a real node
would have, plus their addresses and small memory sizes for a 2-core test machine.

Node 1 starts a new cluster; nodes 2 and 3 join it and copy its data (SST, rsync). A node
killed with `kill(n)` comes back with `restart(n)`: it recovers its last committed
position from InnoDB (`--wsrep-recover`) and catches up by IST. `backup(n, dir)` takes a
mariadb-backup of a running node, `restore(dir)` starts it as a new single server.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import MySQLdb

from deploy.galera.clustercheck import healthy

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("VOLX_CLUSTER_DIR", "/tmp/volx-cluster"))
NODES = (1, 2, 3)
HAPROXY_PORT = 13300
RESTORED_PORT = 13309
# The servers run as Debian's `mysql` user, not as root: a joiner's rsync daemon (SST)
# started by root would write as `nobody`.
USER = "mysql"
START_SECONDS = 120  # a joining node's SST included, on a loaded 2-core machine
# Sizes for three nodes, three app servers and the tests on one small machine.
SMALL = [
    "--innodb-buffer-pool-size=128M",
    "--innodb-log-file-size=48M",
    "--performance-schema=OFF",
    "--max-connections=300",
    "--skip-log-bin",
]


@dataclass(frozen=True)
class Node:
    number: int

    @property
    def port(self) -> int:
        return 13300 + self.number

    @property
    def group_port(self) -> int:
        return 14500 + 10 * self.number

    @property
    def check_port(self) -> int:
        return 19200 + self.number

    @property
    def datadir(self) -> Path:
        return ROOT / f"node{self.number}"

    @property
    def log(self) -> Path:
        return ROOT / f"node{self.number}.log"

    @property
    def pid_file(self) -> Path:
        return ROOT / f"node{self.number}.pid"

    def arguments(self) -> list[str]:
        group = ",".join(f"127.0.0.1:{Node(n).group_port}" for n in NODES)
        provider = (
            f"gmcast.listen_addr=tcp://127.0.0.1:{self.group_port};"
            f"ist.recv_addr=127.0.0.1:{self.group_port + 1};gcache.size=64M"
        )
        return [
            "/usr/sbin/mariadbd",
            f"--defaults-file={HERE / 'galera.cnf'}",
            f"--user={USER}",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={ROOT / f'node{self.number}.sock'}",
            # Its own: at start a server deletes the temporary files in its tmpdir, which
            # in /tmp would be the other servers' on this machine.
            f"--tmpdir={self.datadir}.tmp",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.log}",
            f"--wsrep-node-name=node{self.number}",
            f"--wsrep-node-address=127.0.0.1:{self.group_port}",
            f"--wsrep-cluster-address=gcomm://{group}",
            f"--wsrep-provider-options={provider}",
            f"--wsrep-sst-receive-address=127.0.0.1:{self.group_port + 2}",
            *SMALL,
        ]

    def connect(self, **options):
        return MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", **options)

    def status(self) -> dict[str, str]:
        """SHOW GLOBAL STATUS LIKE 'wsrep%', or {} if the node does not answer."""
        try:
            connection = self.connect(connect_timeout=2)
        except MySQLdb.Error:
            return {}
        with connection:
            cursor = connection.cursor()
            cursor.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
            return {name: str(value) for name, value in cursor.fetchall()}

    def synced(self) -> bool:
        return healthy(self.status())  # what HAProxy's check admits


def database_url(name: str = "test", port: int = HAPROXY_PORT) -> str:
    return f"mysql://root@127.0.0.1:{port}/{name}"


# --- the cluster ---------------------------------------------------------------------


def start() -> None:
    """Start the three nodes, their clustercheck and HAProxy; return once HAProxy routes."""
    stop()
    ROOT.mkdir(parents=True)
    shutil.chown(ROOT, USER, USER)
    for name in [*(f"node{n}.tmp" for n in NODES), "restored.tmp"]:
        (ROOT / name).mkdir()
        shutil.chown(ROOT / name, USER, USER)
    first = Node(1)
    _run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={first.datadir}",
            f"--user={USER}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
    )
    _start_node(first, "--wsrep-new-cluster")
    for number in NODES[1:]:
        Node(number).datadir.mkdir()
        shutil.chown(Node(number).datadir, USER, USER)
        _start_node(Node(number))
    for number in NODES:
        _spawn(
            "clustercheck",
            number,
            [
                sys.executable,
                str(HERE / "clustercheck.py"),
                f"--listen=127.0.0.1:{Node(number).check_port}",
                f"--node=127.0.0.1:{Node(number).port}",
            ],
        )
    for number in NODES:  # or HAProxy's first checks fail and mark the nodes down
        _wait(lambda n=number: _checks_healthy(Node(n)), f"node {number}'s clustercheck")
    _spawn("haproxy", 0, ["haproxy", "-db", "-f", str(HERE / "haproxy.cfg")], _haproxy_env())
    _wait(lambda: _answers(HAPROXY_PORT), "HAProxy to route to a synced node")


def stop() -> None:
    """Stop everything this module started and delete the cluster's data."""
    for pid_file in sorted(ROOT.glob("*.pid")):
        _stop(pid_file)
    shutil.rmtree(ROOT, ignore_errors=True)


def writer() -> int:
    """The node HAProxy sends the connections to now."""
    with MySQLdb.connect(host="127.0.0.1", port=HAPROXY_PORT, user="root") as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT @@wsrep_node_name")
        return int(cursor.fetchone()[0].removeprefix("node"))


def kill(number: int) -> None:
    """SIGKILL node `number`'s server, as a machine failure would stop it."""
    _stop(Node(number).pid_file, signal.SIGKILL)


def restart(number: int) -> None:
    """Start a killed node again; return once it is Synced (it caught up by IST)."""
    target = Node(number)
    recovered = subprocess.run(
        [*target.arguments(), "--wsrep-recover", f"--log-error={ROOT / 'recover.log'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    log = (ROOT / "recover.log").read_text() + recovered.stdout + recovered.stderr
    positions = re.findall(r"WSREP: Recovered position: (\S+)", log)
    _start_node(target, f"--wsrep-start-position={positions[-1]}" if positions else "")


def backup(number: int, target: Path) -> None:
    """A consistent copy of node `number`'s data while it serves, ready to start."""
    source = Node(number)
    common = ["mariadb-backup", "--no-defaults", f"--target-dir={target}"]
    _run(
        [
            *common,
            "--backup",
            "--galera-info",
            f"--datadir={source.datadir}",
            "--host=127.0.0.1",
            f"--port={source.port}",
            "--user=root",
        ]
    )
    _run([*common, "--prepare"])


def restore(backup_dir: Path) -> None:
    """Start a prepared backup as a new single server (no Galera) on RESTORED_PORT."""
    datadir = ROOT / "restored"
    shutil.rmtree(datadir, ignore_errors=True)
    _run(
        [
            "mariadb-backup",
            "--no-defaults",
            "--copy-back",
            f"--target-dir={backup_dir}",
            f"--datadir={datadir}",
        ]
    )
    _run(["chown", "-R", f"{USER}:{USER}", str(datadir)])
    pid_file = ROOT / "restored.pid"
    _spawn(
        "restored",
        None,
        [
            "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--user={USER}",
            f"--datadir={datadir}",
            f"--port={RESTORED_PORT}",
            "--bind-address=127.0.0.1",
            f"--socket={ROOT / 'restored.sock'}",
            f"--tmpdir={ROOT / 'restored.tmp'}",
            f"--pid-file={pid_file}",
            f"--log-error={ROOT / 'restored.log'}",
            *SMALL,
        ],
        own_pid_file=True,
    )
    _wait(lambda: _answers(RESTORED_PORT), "the restored server to answer")


def stop_restored() -> None:
    _stop(ROOT / "restored.pid")


# --- helpers -------------------------------------------------------------------------


def _start_node(target: Node, *extra: str) -> None:
    _spawn(
        f"node{target.number}", None, [*target.arguments(), *filter(None, extra)], own_pid_file=True
    )
    _wait(target.synced, f"node {target.number} to be Synced")


def _spawn(name: str, number: int | None, command: list[str], env=None, own_pid_file=False):
    label = name if number is None else f"{name}{number}"
    with (ROOT / f"{label}.out").open("ab") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # outlives `localcluster start`
        )
    if not own_pid_file:  # mariadbd writes its own (after it has opened its files)
        (ROOT / f"{label}.pid").write_text(str(process.pid))
    return process


def _haproxy_env() -> dict[str, str]:
    env = {**os.environ, "VOLX_DB_LISTEN": f"127.0.0.1:{HAPROXY_PORT}"}
    for number in NODES:
        env[f"VOLX_DB{number}"] = f"127.0.0.1:{Node(number).port}"
        env[f"VOLX_DB{number}_CHECK"] = str(Node(number).check_port)
    return env


def _answers(port: int) -> bool:
    try:
        connection = MySQLdb.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2)
    except MySQLdb.Error:
        return False
    with connection:
        connection.cursor().execute("SELECT 1")
    return True


def _stop(pid_file: Path, sig: int = signal.SIGTERM) -> None:
    """Signal the process of `pid_file` (if it still runs) and wait until it is gone."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, sig)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    _wait(lambda: not _alive(pid), f"process {pid} to stop", seconds=60)
    pid_file.unlink(missing_ok=True)  # mariadbd deletes its own as it stops; not when killed


def _checks_healthy(target: Node) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{target.check_port}/", timeout=2) as answer:
            return answer.status == 200
    except OSError:  # not listening yet, or 503 (HTTPError)
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of this process that has exited stays a zombie until it is reaped.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _wait(condition, what: str, seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {seconds:g} s waiting for {what} (logs: {ROOT})")
        time.sleep(0.2)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}):\n{result.stderr[-3000:]}")


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["start"]:
            start()
            print(f"3 nodes synced; HAProxy on {database_url()}")
        case ["stop"]:
            stop()
        case ["status"]:
            for number in NODES:
                state = Node(number).status()
                print(
                    f"node{number} 127.0.0.1:{Node(number).port}",
                    state.get("wsrep_local_state_comment", "down"),
                    f"cluster size {state.get('wsrep_cluster_size', '-')}",
                )
        case _:
            sys.exit(f"usage: {sys.argv[0]} start|stop|status")
