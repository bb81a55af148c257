"""Debit throughput: the wallet against raw SQL on the same MariaDB, in the same run.

Three ways to spend 300 tokens, each from THREADS client threads for SECONDS seconds:

- **baseline**: what the database can do at best — `UPDATE users … WHERE id = ? AND
  tokens_remaining >= 300`, the ledger `INSERT … SELECT` (its balance_after read from
  the row just updated), `COMMIT`, on raw mysqlclient connections;
- **wallet**: `Wallet(user).debit(300)`, the application's one path;
- **naive**: the old system's read the balance, check, write, with no lock and no
  transaction — it loses updates under concurrency, which the run counts.

Hot: every thread spends from one user (they queue on its row). Spread: one user per
thread. The cases are interleaved over ROUNDS rounds and each figure is the median, so
a noisy moment of the machine hits all three alike.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bench import common

THREADS = 8
COST = 300
START_BALANCE = 2_000_000_000  # the column is a signed INT; this lasts millions of debits
BASELINE_SQL = (
    "UPDATE users SET tokens_remaining = tokens_remaining - %s "
    "WHERE id = %s AND tokens_remaining >= %s",
    "INSERT INTO token_ledger (user_id, delta, balance_after, kind, reference, note, created_at) "
    "SELECT id, -%s, tokens_remaining, 'debit', '', '', NOW(6) FROM users WHERE id = %s",
)


@dataclass
class Result:
    name: str
    mode: str
    ops_per_second: list[float]

    @property
    def median(self) -> float:
        return common.median(self.ops_per_second)


def run(*, database: str, seconds: float, rounds: int) -> dict[tuple[str, str], Result]:
    """Measure every (implementation, mode); Django must be set up on `database`."""
    users = {name: _users(name) for name in IMPLEMENTATIONS}
    results = {
        (name, mode): Result(name, mode, [])
        for name in IMPLEMENTATIONS
        for mode in ("hot", "spread")
    }
    for _ in range(rounds):
        for mode in ("hot", "spread"):
            for name, spend in IMPLEMENTATIONS.items():
                ids = users[name]
                targets = [ids[0]] * THREADS if mode == "hot" else ids[1:]
                ops = _drive(spend, targets, seconds, database)
                results[name, mode].ops_per_second.append(ops / seconds)
    return results


def drift(name: str) -> tuple[int, int]:
    """(users whose balance differs from their ledger sum, tokens of difference)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(ABS(u.tokens_remaining - l.total)), 0) FROM users u "
            "JOIN (SELECT user_id, SUM(delta) AS total FROM token_ledger GROUP BY user_id) l "
            "ON l.user_id = u.id WHERE u.username LIKE %s AND u.tokens_remaining <> l.total",
            [f"bench-{name}-%"],
        )
        users, tokens = cursor.fetchone()
    return int(users), int(tokens)


# --- the three implementations: each makes one spender per thread ------------------


def baseline(database: str):
    connection = common.connect(database)
    cursor = connection.cursor()
    update, insert = BASELINE_SQL

    def spend(user_id: int) -> None:
        cursor.execute(update, (COST, user_id, COST))
        if cursor.rowcount == 1:
            cursor.execute(insert, (COST, user_id))
        connection.commit()

    return spend, connection.close


def wallet(database: str):
    from django.db import connection

    from tokens.wallet import Wallet

    def spend(user_id: int) -> None:
        Wallet(user_id).debit(COST)

    return spend, connection.close


def naive(database: str):
    """The old system: read, check in Python, write the computed value; autocommit."""
    from django.db import connection

    from accounts.models import User
    from tokens.models import LedgerEntry

    def spend(user_id: int) -> None:
        balance = User.objects.values_list("tokens_remaining", flat=True).get(pk=user_id)
        if balance >= COST:
            User.objects.filter(pk=user_id).update(tokens_remaining=balance - COST)
            LedgerEntry.objects.create(
                user_id=user_id, delta=-COST, balance_after=balance - COST, kind="debit"
            )

    return spend, connection.close


IMPLEMENTATIONS = {"baseline": baseline, "wallet": wallet, "naive": naive}


# --- driving ---------------------------------------------------------------------


def _users(name: str) -> list[int]:
    """One hot user and THREADS spread users for `name`, each with START_BALANCE tokens."""
    from accounts.models import User
    from tokens.wallet import Wallet

    ids = []
    for index in range(THREADS + 1):
        username = f"bench-{name}-{index}"
        user = User.objects.create_user(username, f"{username}@bench.local", "x")
        Wallet(user).credit(START_BALANCE - Wallet(user).balance(), kind="bonus")
        ids.append(user.pk)
    return ids


def _drive(make_spender, targets: list[int], seconds: float, database: str) -> int:
    """Run one spender per target in its own thread for `seconds`; total operations."""
    counts = [0] * len(targets)
    ready = threading.Barrier(len(targets) + 1)
    stop = threading.Event()

    def client(index: int, user_id: int) -> None:
        spend, close = make_spender(database)
        try:
            spend(user_id)  # connect and warm up outside the measured window
            ready.wait()
            done = 0
            while not stop.is_set():
                spend(user_id)
                done += 1
            counts[index] = done
        finally:
            close()

    threads = [
        threading.Thread(target=client, args=(index, user_id))
        for index, user_id in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts)
