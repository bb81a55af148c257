"""A database that cannot do the work now (volx/db.py `is_unavailable`): a lost or
refused connection, or a transient error still there after DB_RETRY_ATTEMPTS runs, is a
503 with Retry-After (JSON under /api/, a page elsewhere) that changed nothing; a Galera
node that is not ready yet (1047) runs the transaction again. Any other error stays a
500. The killed connection itself: test_connection_killed.py."""

import logging

import pytest
from django.db import OperationalError, connection

from tokens.models import LedgerEntry
from volx.db import retry_transaction
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
