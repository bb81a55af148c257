"""`retry_transaction` against real lock-wait timeouts and a real deadlock on MariaDB.

A second connection (a thread) holds rows with `SELECT … FOR UPDATE` while the app's
connection, with `innodb_lock_wait_timeout = 1`, runs a wrapped operation; the lock is
let go once the operation has timed out and started again. The operation must then
succeed and do its work exactly once; give up after
DB_RETRY_ATTEMPTS when it never goes; and not retry errors that are not transient.
"""

import logging
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.db.models import Sum

from accounts.tests.factories import UserFactory
from payments.models import Payment, WebhookEvent
from payments.tests.factories import PaymentFactory
from payments.tests.test_stripe import deliver, event, session
from tokens.models import LedgerEntry
from tokens.wallet import Wallet
from volx.db import retry_transaction

pytestmark = [pytest.mark.locks, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 30  # for a thread or a lock that should take a fraction of that


@pytest.fixture
def lock_wait_timeout():
    """Set the app connection's innodb_lock_wait_timeout (seconds) for this test."""

    def set_timeout(seconds: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [seconds])

    yield set_timeout
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")


@pytest.fixture
def retries(caplog):
    """The retry warnings `retry_transaction` logs, one per transaction run again."""
    caplog.set_level(logging.WARNING, logger="volx.db")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "volx.db"]


class RowLock:
    """Another connection holding `SELECT … FOR UPDATE` on rows of a table until
    `release_when()` is true (polled), or else until the `with` block ends."""

    def __init__(self, table: str, ids: list[int], release_when=None):
        self.sql = f"SELECT id FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))}) FOR UPDATE"
        self.ids = ids
        self.release_when = release_when or (lambda: False)
        self.locked = threading.Event()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def __enter__(self) -> "RowLock":
        self.thread.start()
        assert self.locked.wait(WAIT_SECONDS)
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.thread.join(WAIT_SECONDS)

    def _hold(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(self.sql, self.ids)
                self.locked.set()
                deadline = time.monotonic() + WAIT_SECONDS
                while not (self.released.wait(0.02) or self.release_when()):
                    assert time.monotonic() < deadline
        finally:
            connection.close()


def test_a_debit_waiting_too_long_runs_again_and_charges_once(lock_wait_timeout, retries):
    user = UserFactory()
    lock_wait_timeout(1)

    with RowLock("users", [user.pk], release_when=retries):
        Wallet(user).debit(300, action="generate_seo_title")

    assert any("Lock wait timeout" in message for message in retries())
    user.refresh_from_db()
    assert user.tokens_remaining == 9_700
    assert LedgerEntry.objects.filter(user=user, kind="debit").count() == 1
    assert LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"] == 9_700


def test_a_confirmation_waiting_too_long_runs_again_and_grants_once(
    lock_wait_timeout, retries, assert_granted_once
):
    payment = PaymentFactory()
    lock_wait_timeout(1)

    with RowLock("payments", [payment.pk], release_when=retries):
        payment.confirm()

    assert any("Lock wait timeout" in message for message in retries())
    assert_granted_once(payment)


def test_a_webhook_waiting_too_long_runs_again_and_grants_once(
    lock_wait_timeout, retries, settings, assert_granted_once
):
    settings.STRIPE_SECRET_KEY = "sk_test_volx"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_volx"
    payment = PaymentFactory(method=Payment.Method.STRIPE)
    payload = event("checkout.session.completed", session(payment), event_id="evt_waiting")
    lock_wait_timeout(1)

    with RowLock("users", [payment.user_id], release_when=retries):
        response = deliver(payload)

    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    assert any("Lock wait timeout" in message for message in retries())
    assert WebhookEvent.objects.get(event_id="evt_waiting").error == ""
    assert_granted_once(payment)


def test_the_victim_of_a_deadlock_runs_again_and_grants_once(
    lock_wait_timeout, retries, assert_granted_once
):
    """Payment.confirm() locks the user row, then the payment row. The other connection
    locks the payment row, waits until the confirmation waits for it, then asks for the
    user row: a cycle. InnoDB rolls back the transaction that did less work; the other
    one first updates a few rows, so the victim is the confirmation."""
    payment = PaymentFactory()
    bystanders = [user.pk for user in UserFactory.create_batch(5)]
    lock_wait_timeout(WAIT_SECONDS)
    app_connection = connection.connection.thread_id()
    errors = []

    def other_transaction() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE payments SET updated_at = NOW(6) WHERE id = %s", [payment.pk]
                )
                cursor.execute(
                    f"UPDATE users SET updated_at = NOW(6) WHERE id IN ({', '.join(['%s'] * 5)})",
                    bystanders,
                )
                started.set()
                wait_for_a_lock_wait(cursor, app_connection)
                cursor.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", [payment.user_id])
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    started = threading.Event()
    thread = threading.Thread(target=other_transaction)
    thread.start()
    assert started.wait(WAIT_SECONDS)
    payment.confirm()
    thread.join(WAIT_SECONDS)

    assert errors == []
    assert any("Deadlock found" in message for message in retries())
    assert_granted_once(payment)


def wait_for_a_lock_wait(cursor, connection_id: int) -> None:
    """Until the transaction of that connection waits for a lock (the server is shared)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        cursor.execute(
            "SELECT trx_state FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = %s",
            [connection_id],
        )
        if cursor.fetchone() == ("LOCK WAIT",):
            return
        # InnoDB refreshes this table's cache only when it was not read for 0.1 s.
        time.sleep(0.2)
    raise AssertionError("the confirmation never waited for the payment row")


def test_gives_up_after_db_retry_attempts(lock_wait_timeout, retries, settings):
    settings.DB_RETRY_ATTEMPTS = 2
    user = UserFactory()
    lock_wait_timeout(1)

    with RowLock("users", [user.pk]), pytest.raises(OperationalError) as raised:
        Wallet(user).debit(300, action="generate_seo_title")

    assert raised.value.args[0] == 1205  # ER_LOCK_WAIT_TIMEOUT, surfacing
    assert len(retries()) == 1  # two runs in all
    user.refresh_from_db()
    assert user.tokens_remaining == 10_000
    assert LedgerEntry.objects.filter(user=user).count() == 1  # the registration grant


def test_inside_another_transaction_the_error_goes_to_its_owner(lock_wait_timeout, retries):
    """Only the outermost transaction can run again: the caller's work is rolled back too."""
    user = UserFactory()
    lock_wait_timeout(1)

    with RowLock("users", [user.pk]), pytest.raises(OperationalError), transaction.atomic():
        Wallet(user).debit(300, action="generate_seo_title")

    assert retries() == []


def test_an_error_that_is_not_transient_is_not_retried(retries):
    runs = []

    @retry_transaction
    def interrupted() -> None:
        runs.append(1)
        with connection.cursor() as cursor:  # a real server error: 1317, not 1205 or 1213
            cursor.execute(
                "SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1317, "
                "MESSAGE_TEXT = 'Query execution was interrupted'"
            )

    with pytest.raises(OperationalError) as raised:
        interrupted()

    assert raised.value.args[0] == 1317
    assert (len(runs), retries()) == (1, [])
