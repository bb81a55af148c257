"""The health check HAProxy asks about one Galera node (deploy/galera/haproxy.cfg).

    python deploy/galera/clustercheck.py --listen 0.0.0.0:9200 --node 127.0.0.1:3306

GET / answers 200 while the node is Synced and wsrep_ready, 503 otherwise (joining, a
donor, desynced, not in the primary component, or not answering), with the state in the
body. Run one beside each node; it needs mysqlclient and a user that may run SHOW STATUS
(MYSQL_USER, MYSQL_PASSWORD; default root with no password, as on a test machine).
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import MySQLdb

STATE_QUERY = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_ready')"
)
CONNECT_TIMEOUT = 2  # seconds; HAProxy checks every second and times out after 2


class Node:
    """One connection to the node, opened again after any error."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.connection = None
        self.lock = threading.Lock()

    def state(self) -> dict[str, str]:
        with self.lock:
            try:
                return self._query()
            except MySQLdb.Error:
                self.connection = None
                try:
                    return self._query()  # the node restarted: a new connection
                except MySQLdb.Error as error:
                    self.connection = None
                    return {"error": str(error)}

    def _query(self) -> dict[str, str]:
        if self.connection is None:
            self.connection = MySQLdb.connect(
                host=self.host,
                port=self.port,
                user=os.environ.get("MYSQL_USER", "root"),
                password=os.environ.get("MYSQL_PASSWORD", ""),
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=CONNECT_TIMEOUT,
            )
        cursor = self.connection.cursor()
        cursor.execute(STATE_QUERY)
        return {name: str(value) for name, value in cursor.fetchall()}


def healthy(state: dict[str, str]) -> bool:
    return state.get("wsrep_local_state_comment") == "Synced" and state.get("wsrep_ready") == "ON"


def serve(listen: tuple[str, int], node: Node) -> None:
    class Check(BaseHTTPRequestHandler):
        def do_GET(self):
            state = node.state()
            body = " ".join(f"{k}={v}" for k, v in sorted(state.items())).encode() + b"\n"
            self.send_response(200 if healthy(state) else 503)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # HAProxy asks every second: no log line each time
            pass

    ThreadingHTTPServer(listen, Check).serve_forever()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=_address, default=("0.0.0.0", 9200))
    parser.add_argument("--node", type=_address, default=("127.0.0.1", 3306))
    arguments = parser.parse_args()
    serve(arguments.listen, Node(*arguments.node))
