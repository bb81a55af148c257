"""volx/mysql: a transaction begins with START TRANSACTION, sent in one query with its
first statement, and the session's autocommit never changes, yet atomic() is still
all-or-nothing and invisible until the commit."""

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.tests.factories import UserFactory
from tokens.models import LedgerEntry, TokenHold
from tokens.wallet import InsufficientTokens, Wallet

pytestmark = [pytest.mark.locks, pytest.mark.django_db(transaction=True)]


def balance_seen_by_another_connection(user_id: int) -> int:
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT tokens_remaining FROM users WHERE id = %s", [user_id])
            return cursor.fetchone()[0]
    finally:
        other.close()


def test_a_transaction_begins_without_touching_autocommit():
    user = UserFactory()
    assert connection.settings_dict["ENGINE"] == "volx.mysql"
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(tokens_remaining=7)
        assert connection.connection.get_autocommit()  # the server session: still on
        assert balance_seen_by_another_connection(user.pk) == 10_000  # not committed yet
    assert balance_seen_by_another_connection(user.pk) == 7


def test_a_failed_transaction_leaves_nothing_and_the_next_statement_autocommits():
    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(tokens_remaining=7)
        raise RuntimeError
    assert balance_seen_by_another_connection(user.pk) == 10_000
    with CaptureQueriesContext(connection) as queries:
        User.objects.filter(pk=user.pk).update(tokens_remaining=8)  # outside any atomic()
    assert balance_seen_by_another_connection(user.pk) == 8  # committed by itself
    assert not any("autocommit" in q["sql"].lower() for q in queries)


@pytest.fixture
def round_trips():
    """What the connection sends to the server: queries, and COMMIT / ROLLBACK. The
    connection is closed afterwards (mysqlclient cannot take the wrappers off again)."""
    connection.ensure_connection()
    raw, sent = connection.connection, []
    for name in ("query", "commit", "rollback"):
        real = getattr(raw, name)

        def send(*args, real=real, name=name):
            sent.append(args[0] if args else name.upper())
            return real(*args)

        setattr(raw, name, send)
    yield sent
    connection.close()


def test_a_refused_debit_writes_no_entry(round_trips):
    user = UserFactory()
    round_trips.clear()
    with pytest.raises(InsufficientTokens):
        Wallet(user).debit(10_001)
    # the refused UPDATE, the balance read under the lock for the error, ROLLBACK
    assert len(round_trips) == 3
    assert b"FOR UPDATE" in round_trips[1]
    assert round_trips[2] == "ROLLBACK"
    assert not LedgerEntry.objects.filter(user=user, kind=LedgerEntry.Kind.DEBIT).exists()
    assert Wallet(user).debit(10_000).balance_after == 0


def test_a_refused_hold_writes_no_hold(round_trips):
    user = UserFactory()
    round_trips.clear()
    with pytest.raises(InsufficientTokens):
        Wallet(user).hold(10_001, action="rewrite")
    assert len(round_trips) == 3  # the refused UPDATE, the locked read, ROLLBACK
    assert round_trips[2] == "ROLLBACK"
    assert not TokenHold.objects.filter(user=user).exists()


def test_a_transaction_without_statements_sends_nothing(round_trips):
    with transaction.atomic():
        pass
    with pytest.raises(RuntimeError), transaction.atomic():
        raise RuntimeError
    assert round_trips == []


def test_a_failed_first_statement_is_mapped_and_rolled_back(round_trips):
    user = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():  # CHECK tokens_remaining >= 0
        User.objects.filter(pk=user.pk).update(tokens_remaining=-1)
    assert round_trips[-1] == "ROLLBACK"
    with pytest.raises(InsufficientTokens):
        Wallet(user).debit(20_000)
    assert balance_seen_by_another_connection(user.pk) == 10_000
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(tokens_remaining=5)
    assert balance_seen_by_another_connection(user.pk) == 5
