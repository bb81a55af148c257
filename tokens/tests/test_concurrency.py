"""Concurrent debits against MariaDB: the database is the only arbiter (docs/rules.md, Never
below zero, however many at once).

Real threads, each with its own database connection, against a committed user row.
The same test is run twice: with the wallet (must be exact), and with the naive
read-check-write pattern of the old system, which is expected to fail — that variant is
`xfail(strict=True)`, so if it ever passed (the race not reproduced, or the assertions
unable to see it) the suite would go red.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from accounts.models import User
from accounts.tests.factories import UserFactory
from tokens.models import LedgerEntry
from tokens.wallet import InsufficientTokens, Wallet

DEBITS = 200
COST = 300
THREADS = 16


def wallet_debit(user_id: int) -> None:
    Wallet(user_id).debit(COST, action="seo_title")


def naive_debit(user_id: int) -> None:
    """The old system: read the balance, check it, write it back — no lock."""
    with transaction.atomic():
        balance = User.objects.values_list("tokens_remaining", flat=True).get(pk=user_id)
        if balance < COST:
            raise InsufficientTokens(remaining=balance, required=COST)
        User.objects.filter(pk=user_id).update(tokens_remaining=balance - COST)
        LedgerEntry.objects.create(
            user_id=user_id, delta=-COST, balance_after=balance - COST, kind="debit"
        )


def run_concurrently(debit, user_id: int) -> tuple[int, int]:
    start = threading.Barrier(THREADS)

    def worker(share: int) -> tuple[int, int]:
        ok = refused = 0
        start.wait()  # all threads hit the row at once
        try:
            for _ in range(share):
                try:
                    debit(user_id)
                    ok += 1
                except InsufficientTokens:
                    refused += 1
        finally:
            connection.close()
        return ok, refused

    shares = [DEBITS // THREADS + (i < DEBITS % THREADS) for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, shares))
    return sum(r[0] for r in results), sum(r[1] for r in results)


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "debit",
    [
        wallet_debit,
        pytest.param(
            naive_debit,
            marks=pytest.mark.xfail(strict=True, reason="read-check-write loses updates"),
        ),
    ],
)
def test_200_concurrent_300_token_debits_on_10000(debit):
    user = UserFactory()

    succeeded, refused = run_concurrently(debit, user.pk)

    balance = User.objects.get(pk=user.pk).tokens_remaining
    ledger = LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"]
    assert (succeeded, refused) == (33, 167)
    assert balance == 100
    assert ledger == balance
    chain = list(
        LedgerEntry.objects.filter(user=user).order_by("id").values_list("delta", "balance_after")
    )
    running = 0
    for delta, balance_after in chain:
        running += delta
        assert balance_after == running


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_and_debits_lose_nothing():
    user = UserFactory()

    def work(i: int) -> None:
        try:
            if i % 2:
                Wallet(user.pk).credit(7, kind="bonus")
            else:
                Wallet(user.pk).debit(5)
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(400)))

    balance = User.objects.get(pk=user.pk).tokens_remaining
    assert balance == 10_000 + 200 * 7 - 200 * 5
    assert LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"] == balance
