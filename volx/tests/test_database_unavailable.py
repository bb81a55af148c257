"""A database that cannot do the work now (volx/db.py `is_unavailable`): a lost or
refused connection, or a transient error still there after DB_RETRY_ATTEMPTS runs, is a
503 with Retry-After (JSON under /api/, a page elsewhere) that changed nothing; a Galera
node that is not ready yet (1047) runs the transaction again. Any other error stays a
500. The killed connection itself: test_connection_killed.py."""

import logging

import pytest
from django.db import OperationalError, connection
from django.db.models import QuerySet

from tokens.models import IdempotencyRecord, LedgerEntry
from volx.db import NEW_CONNECTION_PAUSES, retry_on_a_new_connection, retry_transaction
from volx.tests.test_deadlock_retry import RowLock, lock_wait_timeout  # noqa: F401 (fixture)

BUSY = "The service is busy or its database is unavailable. Please try again shortly."
SEO_TITLE = "/api/ai/generate-seo-title"
TEXT = "Volx writes SEO titles. Volx writes meta descriptions for long articles."


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_an_ai_action_still_locked_out_after_the_retries_is_503_and_free(
    lock_wait_timeout,  # noqa: F811
    settings,
    user,
    client_for,
    wallet_state,
):
    settings.DB_RETRY_ATTEMPTS = 2
    api = client_for(user)
    api.raise_request_exception = False
    before = wallet_state(user)
    lock_wait_timeout(1)

    with RowLock("users", [user.pk]):  # another transaction keeps the balance locked
        response = api.post(SEO_TITLE, {"text": TEXT}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": BUSY}
    assert wallet_state(user) == before
    assert api.post(SEO_TITLE, {"text": TEXT}, format="json").status_code == 200


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_a_galera_node_not_ready_runs_the_transaction_again(user, caplog):
    caplog.set_level(logging.WARNING, logger="volx.db")
    runs = []

    @retry_transaction
    def write() -> None:
        runs.append(1)
        LedgerEntry.objects.create(user=user, delta=0, balance_after=10_000, kind="bonus")
        if len(runs) == 1:
            with connection.cursor() as cursor:  # what a node that is joining answers
                cursor.execute(
                    "SIGNAL SQLSTATE '08S01' SET MYSQL_ERRNO = 1047, "
                    "MESSAGE_TEXT = 'WSREP has not yet prepared node for application use'"
                )

    write()

    assert len(runs) == 2
    assert LedgerEntry.objects.filter(user=user, kind="bonus").count() == 1  # the first undone
    assert "WSREP has not yet prepared node" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Back in a moment"), ("vi", "Quay lại sau ít phút")]
)
def test_a_page_whose_database_is_gone_is_a_503_page(client, user, monkeypatch, language, heading):
    def gone(user):
        raise OperationalError(2006, "Server has gone away")

    monkeypatch.setattr("tokens.views.balance_summary", gone)
    user.language = language  # the pages' language (accounts/middleware.py)
    user.save(update_fields=["language"])
    client.force_login(user)
    client.raise_request_exception = False

    response = client.get("/dashboard/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert heading in response.content.decode()


@pytest.mark.django_db
def test_any_other_error_is_still_a_500(client, user, monkeypatch):
    def broken(user):
        raise ValueError("a bug")

    monkeypatch.setattr("tokens.views.balance_summary", broken)
    client.force_login(user)
    client.raise_request_exception = False

    response = client.get("/dashboard/")

    assert response.status_code == 500
    assert "Retry-After" not in response


@pytest.mark.django_db(transaction=True)
def test_what_a_failed_request_gives_back_is_tried_again_on_a_new_connection(user, monkeypatch):
    """The Idempotency-Key of a request that failed with the database is dropped on a new
    connection (volx/db.py retry_on_a_new_connection): its retry runs instead of waiting
    ABANDONED_AFTER and answering 409."""
    record, _ = IdempotencyRecord.claim(user, "key-1", "fingerprint")
    real_delete, calls = QuerySet.delete, []

    def lost_twice(queryset):
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError(2013, "Lost connection to server during query")
        return real_delete(queryset)

    monkeypatch.setattr(QuerySet, "delete", lost_twice)
    closed, paused = [], []
    monkeypatch.setattr(connection, "close", lambda: closed.append(1))
    monkeypatch.setattr("volx.db.time.sleep", paused.append)
    record.abandon()

    assert (len(calls), len(closed), paused) == (3, 2, list(NEW_CONNECTION_PAUSES[:2]))
    assert not IdempotencyRecord.objects.filter(pk=record.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_key_whose_claim_landed_unanswered_is_given_back(user, monkeypatch):
    """The insert that claims an Idempotency-Key commits, and its answer is lost: the
    claim undoes it before the error goes up, so the retry with the key runs instead of
    finding it in progress, unowned, for ABANDONED_AFTER."""
    real_commit = connection.commit

    def landed_unanswered():
        real_commit()
        raise OperationalError(2013, "Lost connection to server during query")

    with monkeypatch.context() as patched, pytest.raises(OperationalError):
        patched.setattr(connection, "commit", landed_unanswered)
        IdempotencyRecord.claim(user, "key-1", "fingerprint")

    assert not IdempotencyRecord.objects.filter(user=user, key="key-1").exists()
    record, claimed = IdempotencyRecord.claim(user, "key-1", "fingerprint")
    assert claimed


def test_a_new_connection_is_tried_after_each_pause_and_never_for_other_errors(monkeypatch):
    monkeypatch.setattr(connection, "close", lambda: None)
    monkeypatch.setattr("volx.db.time.sleep", lambda seconds: None)
    calls = []

    def fails_with(code):
        def run():
            calls.append(code)
            raise OperationalError(code, "")

        return run

    with pytest.raises(OperationalError):
        retry_on_a_new_connection(fails_with(2013))  # lost, every time
    with pytest.raises(OperationalError):
        retry_on_a_new_connection(fails_with(1054))  # unknown column: a bug, not an outage
    assert calls == [2013] * (len(NEW_CONNECTION_PAUSES) + 1) + [1054]


@pytest.mark.django_db(transaction=True)
def test_an_ai_answer_whose_key_cannot_be_stored_is_not_charged(
    user, client_for, wallet_state, monkeypatch
):
    """The charge and the answer stored for its Idempotency-Key are one transaction: when
    the answer cannot be stored the charge is undone, and the retry with the key is
    charged once. (With two transactions the first was charged, answered 503, and its
    key dropped: the retry charged again.)"""
    api = client_for(user)
    api.raise_request_exception = False
    before = wallet_state(user)
    real_complete = IdempotencyRecord.complete

    def lost(record, status_code, body):
        raise OperationalError(2013, "Lost connection to server during query")

    monkeypatch.setattr(IdempotencyRecord, "complete", lost)
    headers = {"HTTP_IDEMPOTENCY_KEY": "seo-1"}
    failed = api.post(SEO_TITLE, {"text": TEXT}, format="json", **headers)
    after_failure = wallet_state(user)
    monkeypatch.setattr(IdempotencyRecord, "complete", real_complete)
    retried = api.post(SEO_TITLE, {"text": TEXT}, format="json", **headers)
    replayed = api.post(SEO_TITLE, {"text": TEXT}, format="json", **headers)

    assert failed.status_code == 503
    assert after_failure == before
    assert retried.status_code == 200
    assert replayed.json() == retried.json()
    assert wallet_state(user) == {
        **before,
        "balance": before["balance"] - retried.json()["tokens_used"],
        "ledger_sum": before["balance"] - retried.json()["tokens_used"],
        "usage_rows": before["usage_rows"] + 1,
    }


@pytest.mark.django_db(transaction=True)
def test_a_done_request_whose_answer_cannot_be_stored_at_once_stores_it_on_a_new_connection(
    admin_user, user, client_for, monkeypatch
):
    """A bonus granted, then the connection lost before its answer is stored for its key:
    stored on a new connection, so the answer is 200 and a retry with the key replays it
    (before: a 503 for work that was done, and the key in progress for ABANDONED_AFTER)."""
    real_complete, calls = IdempotencyRecord.complete, []

    def lost_once(record, status_code, body):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError(2013, "Lost connection to server during query")
        real_complete(record, status_code, body)

    monkeypatch.setattr(IdempotencyRecord, "complete", lost_once)
    monkeypatch.setattr("volx.db.time.sleep", lambda seconds: None)
    api = client_for(admin_user)
    api.raise_request_exception = False
    bonus = {"tokens": 500, "reason": "goodwill"}
    url = f"/api/admin/users/{user.pk}/bonus"

    first = api.post(url, bonus, format="json", HTTP_IDEMPOTENCY_KEY="bonus-1")
    again = api.post(url, bonus, format="json", HTTP_IDEMPOTENCY_KEY="bonus-1")

    assert (first.status_code, again.status_code, len(calls)) == (200, 200, 2)
    assert again["Idempotent-Replayed"] == "true"
    assert LedgerEntry.objects.filter(user=user, kind="bonus").count() == 1
