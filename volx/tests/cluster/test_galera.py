"""Volx on a 3-node MariaDB Galera cluster behind HAProxy (deploy/galera/), served by three
app servers (the Procfile's web command) whose DATABASE_URL is HAProxy.

`make test-cluster` starts the cluster (deploy/galera/localcluster.py) and runs this
module with DATABASE_URL at HAProxy: pytest creates and migrates its test database once,
through HAProxy, and Galera replicates it to every node. Every check afterwards runs on
every node, each read directly (not through HAProxy).

- 200 concurrent 300-token actions on 10,000 tokens, round-robin over the three servers:
  exactly 33 answered 200 and 167 answered 402, no 5xx; the balance is 100 and equals
  the ledger sum on every node.
- The mixed workload of volx/tests/live/test_mixed_workload.py (AI actions, bonuses,
  bank transfers decided by 4 admins at once, Stripe events delivered several times)
  for CLUSTER_WORKLOAD_SECONDS, while the node HAProxy writes to is killed with SIGKILL
  and started again, and a mariadb-backup of another node is taken. The clients do what
  the README asks of a client: an answer 503 is sent again after its Retry-After, AI
  actions and bonuses with the same Idempotency-Key. Afterwards, on every node: every
  answer is in the database exactly once (an answer 200 charged once, a 503 charged
  nothing), every balance equals its ledger sum, token_sync_report exits 0 (and the
  admin's report, read over and over during the load, found no drift); the backup,
  restored into a new single server, passes token_sync_report too.
- A balance read on a node that lags shows the debit committed on another node before
  it (DB_WSREP_SYNC_WAIT), and does not with the setting at 0.
- The health check admits only a Synced node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from io import StringIO

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import F

from accounts.tests.factories import AdminFactory, UserFactory
from deploy.galera import localcluster
from payments.models import Payment
from subscriptions.models import Plan
from tokens.management.commands.release_stale_holds import DEFAULT_MINUTES
from tokens.models import TokenHold
from tokens.wallet import Wallet
from volx.tests.live.test_mixed_workload import (
    BONUS_ADMINS,
    CUSTOMERS,
    DECIDING_ADMINS,
    SPENDERS_PER_CUSTOMER,
    STRIPE_ENV,
    Workload,
    assert_database_agrees,
    bearer,
    fake_stripe_api,  # noqa: F401 (a fixture)
)
from volx.tests.live.test_races_http import seo_titles

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.locks,
    pytest.mark.django_db(transaction=True),
]

SECONDS = float(os.environ.get("CLUSTER_WORKLOAD_SECONDS", "20"))
KILL_AFTER = 5  # seconds into the workload
DOWN_FOR = 4  # seconds the killed node stays down
RETRY_FOR = 90  # seconds a client keeps sending a request answered 503
APP_SERVERS = 3
# One worker process per app server: three servers, three database nodes, HAProxy and the
# clients share two cores.
SERVER_ENV = {"WEB_CONCURRENCY": "1"}
STATUS = ("wsrep_local_cert_failures", "wsrep_local_bf_aborts", "wsrep_flow_control_paused_ns")


@pytest.fixture(autouse=True)
def _through_haproxy():
    if str(connection.settings_dict["PORT"]) != str(localcluster.HAPROXY_PORT):
        pytest.fail("the cluster suite runs with DATABASE_URL at HAProxy: `make test-cluster`")


def on_every_node(sql: str, params=()) -> dict[int, list[tuple]]:
    """`sql` run on each node directly, in the test database, once the node has applied
    every write committed before it (wsrep_sync_wait)."""
    rows = {}
    for number in localcluster.NODES:
        with localcluster.Node(number).connect(database=connection.settings_dict["NAME"]) as db:
            cursor = db.cursor()
            cursor.execute("SET SESSION wsrep_sync_wait = 1")
            cursor.execute(sql, params)
            rows[number] = list(cursor.fetchall())
    return rows


def cluster_status() -> dict[int, dict[str, int]]:
    return {
        n: {k: int(float(v)) for k, v in localcluster.Node(n).status().items() if k in STATUS}
        for n in localcluster.NODES
    }


def retries_logged(servers) -> int:
    """The transactions the app servers ran again (volx/db.py retry_transaction's log)."""
    return sum(
        s.log.read_text(errors="replace").count("running the transaction again") for s in servers
    )


def assert_every_node_exact() -> None:
    """On every node: every balance equals its ledger sum and none is negative, and all
    nodes hold the same balances and ledger."""
    drift = on_every_node(
        "SELECT u.id, u.tokens_remaining, COALESCE(SUM(l.delta), 0) FROM users u "
        "LEFT JOIN token_ledger l ON l.user_id = u.id GROUP BY u.id, u.tokens_remaining "
        "HAVING u.tokens_remaining <> COALESCE(SUM(l.delta), 0) OR u.tokens_remaining < 0"
    )
    assert drift == {n: [] for n in localcluster.NODES}
    contents = on_every_node(
        "SELECT (SELECT COUNT(*) FROM token_ledger), (SELECT SUM(delta) FROM token_ledger), "
        "(SELECT SUM(tokens_remaining) FROM users), (SELECT MAX(id) FROM token_ledger)"
    )
    assert len(set(map(tuple, contents.values()))) == 1, contents


def standby() -> int:
    """A node HAProxy does not write to now (the writer moves when a test kills it)."""
    return max(n for n in localcluster.NODES if n != localcluster.writer())


def sync_report(database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": settings.SECRET_KEY}
    return subprocess.run(
        [sys.executable, "manage.py", "token_sync_report"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )


def test_200_concurrent_actions_over_three_app_servers(gunicorn_server):
    servers = [gunicorn_server(**SERVER_ENV) for _ in range(APP_SERVERS)]
    user = UserFactory()
    assert Wallet(user).balance() == 10_000
    before = cluster_status()

    statuses = seo_titles([s.url for s in servers], user)

    after = cluster_status()
    print(
        f"retries {retries_logged(servers)}; per node before → after: "
        + "; ".join(f"node{n} {before[n]} → {after[n]}" for n in localcluster.NODES)
    )
    assert statuses == {200: 33, 402: 167}
    assert on_every_node("SELECT tokens_remaining FROM users WHERE id = %s", [user.pk]) == {
        n: [(100,)] for n in localcluster.NODES
    }
    assert_every_node_exact()


class ThroughFailover(Workload):
    """The mixed workload's clients, each a careful client of a service whose database
    fails over: a request answered 503 is sent again after Retry-After, to the next
    server, with the same Idempotency-Key where the endpoint takes one; so is one that
    got no whole answer (counted, and printed)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.statuses: Counter = Counter()  # every answer, the ones sent again included
        self.unavailable: list[float] = []  # when each 503 came
        self.no_answer: list[tuple[str, str]] = []  # requests with no whole answer, sent again
        self.answered_after: list[float] = []  # when each answer other than 503 came
        self.reports: list[tuple[int, bool | None]] = []  # (status, clean) of each report
        # Answered 503 and then "already done" (a decision 409, a webhook "duplicate"):
        # the first try may have been the one that did it, its answer lost.
        self.lost_answers: list[str] = []  # their paths, and the webhooks' event ids

    def post(self, path, headers, expected, **kwargs):
        if path.startswith("/api/ai/") or path.endswith("/bonus"):
            headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        deadline = time.monotonic() + RETRY_FOR
        unavailable = 0
        while True:
            try:
                response = super().post(path, headers, expected | {503}, **kwargs)
            except requests.RequestException as error:  # no answer, or a cut one
                self.statuses[type(error).__name__] += 1
                self.no_answer.append((path, repr(error)[:200]))
                time.sleep(1)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code != 503:
                self.answered_after.append(time.monotonic())
                break
            unavailable += 1
            self.unavailable.append(time.monotonic())
            if time.monotonic() > deadline:
                break
            time.sleep(float(response.headers.get("Retry-After", 1)))
        if unavailable and response.status_code == 409 and "/api/admin/payments/" in path:
            self.lost_answers.append(path)
        if unavailable and path.endswith("/webhook") and response.status_code == 200:
            self.lost_answers.append(json.loads(kwargs["data"])["id"])
        if response.status_code not in expected:
            self.unexpected.append((path, response.status_code, response.text[:300]))
        return response

    def settle_lost_answers(self) -> int:
        """Where nobody was told that a payment was decided or an event processed, it was
        done by a request whose answer was lost to a 503 (the database says which): that
        request's answer is counted as the one that did it."""
        settled = 0
        for payment_id, decisions in self.bank_decisions.items():
            if all(status != 200 for _, status in decisions):
                status = Payment.objects.get(pk=payment_id).status
                won = {"approved": "approve", "rejected": "reject"}[status]
                assert f"/api/admin/payments/{payment_id}/{won}" in self.lost_answers
                decisions[decisions.index((won, 409))] = (won, 200)
                settled += 1
        for event_id, answers in self.webhook_answers.items():
            if (200, "processed") not in answers:
                assert event_id in self.lost_answers
                answers[answers.index((200, "duplicate"))] = (200, "processed")
                settled += 1
        return settled

    def reporter(self, admin_auth: dict) -> None:
        """An admin reading the token sync report over and over, as the load runs."""
        while self.running():
            with self.host_lock:
                host = next(self.hosts)
            try:
                answer = requests.get(
                    f"{host}/api/admin/token-sync", headers=admin_auth, timeout=60
                )
            except requests.RequestException as error:
                self.no_answer.append(("/api/admin/token-sync", repr(error)[:200]))
                continue
            self.reports.append(
                (answer.status_code, answer.json().get("clean") if answer.ok else None)
            )
            if answer.status_code == 503:
                time.sleep(float(answer.headers.get("Retry-After", 1)))


def test_mixed_workload_through_a_node_failure(gunicorn_server, fake_stripe_api, tmp_path):  # noqa: F811
    environment = {**SERVER_ENV, **STRIPE_ENV, "STRIPE_API_BASE": fake_stripe_api.url}
    servers = [gunicorn_server(**environment) for _ in range(APP_SERVERS)]
    customers = UserFactory.create_batch(CUSTOMERS)
    Wallet(customers[0]).debit(10_000, note="start the workload at 0")
    opening = {customer.pk: Wallet(customer).balance() for customer in customers}
    admins = AdminFactory.create_batch(DECIDING_ADMINS)
    plan_tokens = Plan.objects.get(slug="starter").tokens
    load = ThroughFailover([s.url for s in servers], customers, admins, fake_stripe_api)
    load.deadline = time.monotonic() + SECONDS
    writer, backed_up = localcluster.writer(), standby()
    before = cluster_status()
    events: dict[str, float] = {}

    def fail_and_recover():
        time.sleep(KILL_AFTER)
        events["killed"] = time.monotonic()
        localcluster.kill(writer)
        time.sleep(DOWN_FOR)
        events["restarting"] = time.monotonic()
        localcluster.restart(writer)
        events["synced"] = time.monotonic()

    def take_backup():
        time.sleep(KILL_AFTER / 2)
        localcluster.backup(backed_up, tmp_path / "backup")
        events["backed up"] = time.monotonic()

    clients = [
        *(partial(load.spender, c) for c in customers * SPENDERS_PER_CUSTOMER),
        *(partial(load.bonus_giver, load.admin_auth[i], seed=i) for i in range(BONUS_ADMINS)),
        partial(load.bank_buyer, seed=100),
        partial(load.stripe_buyer, seed=200),
        partial(load.reporter, load.admin_auth[0]),
    ]
    started = time.monotonic()
    failure = threading.Thread(target=fail_and_recover)
    backup = threading.Thread(target=take_backup)
    failure.start()
    backup.start()
    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(client) for client in clients]:
            future.result()
    failure.join()
    backup.join()
    elapsed = time.monotonic() - started
    connection.close()  # the test's own connection went through the killed node

    after = cluster_status()
    killed = events["killed"]
    last_503 = max(load.unavailable, default=killed)
    # The service answers again: the first answer after the last 503.
    back = min((t for t in load.answered_after if t > last_503), default=None)
    print(
        f"{load.requests} requests in {elapsed:.1f}s: answers {dict(load.statuses)}; "
        f"AI {dict(Counter(load.ai_statuses))}; retries {retries_logged(servers)}; "
        f"node {writer} killed at {killed - started:.1f}s, rejoined (Synced) after "
        f"{events['synced'] - events['restarting']:.1f}s; {len(load.unavailable)} x 503, "
        f"the last {last_503 - killed:.2f}s after the kill; answering again "
        f"{(back - killed) if back else float('nan'):.2f}s after the kill; backup "
        f"done at {events['backed up'] - started:.1f}s; per node before → after: "
        + "; ".join(f"node{n} {before[n]} → {after[n]}" for n in localcluster.NODES)
    )
    assert load.unexpected == []
    assert back is not None
    # The admin's report, read as the load ran, never blocked it and never saw drift.
    print(f"sync reports during the load: {dict(Counter(load.reports))}")
    print(f"requests sent again for want of a whole answer: {load.no_answer}")
    assert {clean for status, clean in load.reports if status == 200} == {True}
    assert {status for status, _ in load.reports} <= {200, 503}

    # Holds of actions caught by the kill that could not be given back at once: what
    # release_stale_holds gives back once they are old enough (aged here instead of
    # waiting 15 minutes).
    held = TokenHold.objects.filter(status=TokenHold.Status.HELD)
    print(f"holds left open by the kill: {held.count()}")
    held.update(created_at=F("created_at") - timedelta(minutes=DEFAULT_MINUTES + 1))
    call_command("release_stale_holds", stdout=StringIO())
    assert not held.exists()

    print(f"answers that did the work, lost to a 503: {load.settle_lost_answers()}")
    assert_database_agrees(load, opening, plan_tokens)
    assert_every_node_exact()
    for number in localcluster.NODES:
        url = localcluster.database_url(
            connection.settings_dict["NAME"], port=localcluster.Node(number).port
        )
        report = sync_report(url)
        assert report.returncode == 0, report.stdout + report.stderr

    localcluster.restore(tmp_path / "backup")
    restored = connection.settings_dict["NAME"], localcluster.RESTORED_PORT
    try:
        report = sync_report(localcluster.database_url(*restored))
        assert report.returncode == 0, report.stdout + report.stderr
        assert "OK: every balance equals its ledger sum." in report.stdout
    finally:
        localcluster.stop_restored()


def test_health_check_admits_only_synced_nodes():
    """HAProxy's check (deploy/galera/clustercheck.py) answers 200 for a Synced node and
    503 for a node that is not, here one desynced by hand (as a donor is)."""
    checks = {n: f"http://127.0.0.1:{localcluster.Node(n).check_port}/" for n in localcluster.NODES}
    assert {n: requests.get(url, timeout=5).status_code for n, url in checks.items()} == {
        1: 200,
        2: 200,
        3: 200,
    }
    desynced = standby()  # not the writer: HAProxy would move the writes
    with localcluster.Node(desynced).connect() as db:
        db.cursor().execute("SET GLOBAL wsrep_desync = ON")
        try:
            answer = requests.get(checks[desynced], timeout=5)
            assert answer.status_code == 503
            assert "wsrep_local_state_comment=Donor/Desynced" in answer.text
        finally:
            db.cursor().execute("SET GLOBAL wsrep_desync = OFF")


def test_a_balance_read_on_another_node_shows_the_write_before_it(gunicorn_server):
    """After a failover a user's next request reads on another node than the one it wrote
    on. A standby node is kept from applying the cluster's writes (FLUSH TABLES WITH READ
    LOCK pauses its applier, as a slow node lags) while a debit commits through HAProxy
    on the writing node. A server on the standby with DB_WSREP_SYNC_WAIT=0 answers the
    balance from before the debit; with the default (1) it waits until the standby has
    applied it, and shows it."""
    name = connection.settings_dict["NAME"]
    lagging = standby()
    reader = localcluster.database_url(name, port=localcluster.Node(lagging).port)
    waiting = gunicorn_server(**SERVER_ENV, DATABASE_URL=reader)
    not_waiting = gunicorn_server(**SERVER_ENV, DATABASE_URL=reader, DB_WSREP_SYNC_WAIT="0")
    user = UserFactory()
    headers = bearer(user)

    def balance(server) -> int:
        answer = requests.get(f"{server.url}/api/tokens/balance", headers=headers, timeout=30)
        return answer.json()["tokens_remaining"]

    assert balance(waiting) == balance(not_waiting) == 10_000
    with localcluster.Node(lagging).connect() as paused:
        paused.cursor().execute("FLUSH TABLES WITH READ LOCK")
        Wallet(user).debit(300, note="written on the writing node")
        stale = balance(not_waiting)
        threading.Timer(1, lambda: paused.cursor().execute("UNLOCK TABLES")).start()
        started = time.monotonic()
        fresh = balance(waiting)
        waited = time.monotonic() - started

    assert (stale, fresh) == (10_000, 9_700)
    assert waited >= 0.5  # it waited for node 2 to apply the debit
