"""volx/mysql: a transaction begins with START TRANSACTION and the session's autocommit
never changes, yet atomic() is still all-or-nothing and invisible until the commit."""

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.tests.factories import UserFactory

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
