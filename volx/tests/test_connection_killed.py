"""The database connection killed in the middle of a request, on MariaDB.

Right after statement N of an admin approval or an AI action, a second connection runs
`KILL <id>` on the request's connection. Requests go through Django's WSGIHandler, as
under gunicorn: its request_started / request_finished signals run
`close_old_connections`, which the test client leaves out. The request must fail cleanly
(503 with Retry-After, or 200 if the killed statement was its last), leave no partial
state, and the next request must reconnect and work.

The wallet's own transactions get the same treatment below, each statement of a debit,
a hold, a settlement and a release: killed between two statements, a change is all or
nothing.
"""

import json
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import DatabaseError, connection, connections
from django.db.models import Sum
from django.test import RequestFactory
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import AdminFactory, UserFactory
from payments.models import Payment, ReceiptCounter
from payments.tests.factories import PaymentFactory
from tokens.models import LedgerEntry, TokenHold, TokenUsage
from tokens.wallet import Wallet
from volx.tests.faults import StatementLog, database_rows, learn_statements, run_logged
from volx.throttling import ScopedRateThrottle

pytestmark = [pytest.mark.locks, pytest.mark.django_db(transaction=True)]

# Statements per request: the connection is a persistent one (CONN_MAX_AGE), already set
# up, and the outermost transactions have no savepoint statements. Beginning and ending
# a transaction are client calls (autocommit off, COMMIT), not statements.
# With the receipt number (its counter's UPDATE and read), and after the commit the
# payment-approved e-mail's reads (payment, plan name, user: payments/emails.py).
APPROVAL_STATEMENTS = 30
# auth; the hold's UPDATE, hold INSERT, balance read and ledger INSERT; the claim and usage row
AI_ACTION_STATEMENTS = 7
TEXT = "Volx writes SEO titles. Volx writes meta descriptions for long articles."


@pytest.fixture(autouse=True)
def _unthrottled(monkeypatch):
    """The throttle's counter out of the statements: a key's first request inserts its row,
    later ones update it, and a fault there precedes the work (volx/tests/test_throttling.py
    tests the throttle)."""
    monkeypatch.setattr(ScopedRateThrottle, "allow_request", lambda self, request, view: True)


def request(method: str, path: str, user, data: dict | None = None) -> int:
    """One request through the WSGI handler, as a WSGI server makes it; its status."""
    return answer(method, path, user, data)[0]


def answer(method: str, path: str, user, data: dict | None = None) -> tuple[int, dict, bytes]:
    """One request through the WSGI handler: its status, headers and body."""
    token = RefreshToken.for_user(user).access_token
    environ = (
        RequestFactory()
        .generic(
            method,
            path,
            json.dumps(data or {}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        .environ
    )
    started = []
    response = WSGIHandler()(environ, lambda *start, exc_info=None: started.append(start))
    try:
        body = b"".join(response)
    finally:
        response.close()  # request_finished, as the server sends it
    ((line, headers),) = started
    return int(line.split()[0]), dict(headers), body


@pytest.fixture(autouse=True)
def _receipt_counter_of_this_year(transactional_db):
    """As every confirmation but the year's first finds it (volx/tests/faults.py)."""
    ReceiptCounter.objects.get_or_create(year=timezone.now().year)


@pytest.fixture
def kill_connection():
    """A strike for StatementLog: KILL the request's connection from another one, and
    wait until the server has dropped it."""
    killer = connections.create_connection("default")
    killer.inc_thread_sharing()  # a provider kills from the event loop's thread

    def kill(statement: int, sql: str, of=None) -> None:
        victim = (of or connection).connection.thread_id()
        with killer.cursor() as cursor:
            cursor.execute("KILL %s", [victim])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s", [victim]
                )
                if not cursor.fetchone()[0]:
                    return
                time.sleep(0.02)
        raise AssertionError(f"connection {victim} survived KILL")

    yield kill
    killer.dec_thread_sharing()
    killer.close()


def fault_points(count: int) -> list:
    return [pytest.param(n, id=f"after-statement-{n:02d}") for n in range(1, count + 1)]


def answered(log: StatementLog, kill_at: int) -> int:
    """200 only if the request needed its connection no more: killed after its last
    statement, with no commit pending; else the lost connection is a 503."""
    done = kill_at == len(log) and log.transactions[-1] is None
    return 200 if done else 503


def ledger_matches_balance(user) -> bool:
    user.refresh_from_db()
    total = LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"]
    return total == user.tokens_remaining


@pytest.mark.parametrize("kill_at", fault_points(APPROVAL_STATEMENTS))
def test_approval_survives_a_killed_connection(kill_at, kill_connection):
    admin = AdminFactory()

    def approve(payment):
        return lambda: request("POST", f"/api/admin/payments/{payment.pk}/approve", admin)

    log = learn_statements(approve(PaymentFactory()), APPROVAL_STATEMENTS)
    payment = PaymentFactory()
    before = database_rows()

    status = run_logged(approve(payment), StatementLog(kill_at, kill_connection))

    assert status == answered(log, kill_at)
    payment.refresh_from_db()
    if log.committed(kill_at):
        assert payment.status == Payment.Status.APPROVED
        assert approve(payment)() == 409  # the next request reconnects
    else:
        assert database_rows() == before  # still pending, nothing granted
        assert approve(payment)() == 200  # the next request reconnects
    assert LedgerEntry.objects.filter(idempotency_key=payment.ledger_key).count() == 1
    assert ledger_matches_balance(payment.user)
    assert payment.user.tokens_remaining == 2_010_000


def seo_title(user):
    return lambda: request("POST", "/api/ai/generate-seo-title", user, {"text": TEXT})


@pytest.mark.parametrize("kill_at", fault_points(AI_ACTION_STATEMENTS))
def test_ai_action_survives_a_killed_connection(kill_at, kill_connection):
    """Killed in the hold's transaction: nothing happened. In the settlement's: the hold
    is released on a new connection, free. After the settlement committed: charged once."""
    log = learn_statements(seo_title(UserFactory()), AI_ACTION_STATEMENTS)
    user = UserFactory()
    before = database_rows()

    status = run_logged(seo_title(user), StatementLog(kill_at, kill_connection))

    assert status == answered(log, kill_at)
    committed = log.committed(kill_at)
    user.refresh_from_db()
    if committed == 0:
        assert database_rows() == before
    else:
        assert user.tokens_remaining == (10_000 if committed == 1 else 9_700)
        assert TokenUsage.objects.filter(user=user).count() == committed - 1
    assert not TokenHold.objects.filter(user=user, status=TokenHold.Status.HELD).exists()
    assert ledger_matches_balance(user)
    assert seo_title(user)() == 200  # the next request reconnects


def test_connection_killed_while_the_provider_works(kill_connection, monkeypatch):
    """The hold is committed, then the connection dies while the provider runs. The
    settlement's first statement fails (2013): the answer is a 503 with Retry-After. The
    release fails on that connection too and runs again on a new one: the action costs
    nothing (docs/rules.md, A failed action costs nothing) and no hold is left for
    release_stale_holds."""
    from articles.providers.local import LocalProvider

    run = LocalProvider.run
    # The request's database work runs on this thread (the WSGI handler's), the
    # provider in the event loop's: kill this thread's connection.
    request_connection = connections["default"]

    def provider_outliving_its_connection(provider, action, text):
        kill_connection(0, "", of=request_connection)
        return run(provider, action, text)

    monkeypatch.setattr(LocalProvider, "run", provider_outliving_its_connection)
    user = UserFactory()

    status, headers, body = answer("POST", "/api/ai/generate-seo-title", user, {"text": TEXT})

    assert (status, headers["Retry-After"]) == (503, "5")
    assert json.loads(body) == {
        "error": "The service is busy or its database is unavailable. Please try again shortly."
    }
    hold = TokenHold.objects.get(user=user)
    assert hold.status == TokenHold.Status.RELEASED
    assert ledger_matches_balance(user)
    assert user.tokens_remaining == 10_000
    assert not TokenUsage.objects.filter(user=user).exists()
    monkeypatch.setattr(LocalProvider, "run", run)
    assert seo_title(user)() == 200  # the next request works
    assert ledger_matches_balance(user)
    assert user.tokens_remaining == 9_700


# --- the wallet's transactions, killed between two statements ----------------------------


def debit(user, hold):
    return lambda: Wallet(user).debit(300, action="generate_seo_title")


def take_hold(user, hold):
    return lambda: Wallet(user).hold(300, action="generate_seo_title")


def settle(user, hold):
    return lambda: Wallet(user).settle(hold)


def settle_part(user, hold):
    return lambda: Wallet(user).settle(hold, cost=100)


def release(user, hold):
    return lambda: Wallet(user).release(hold)


# (operation, its statements, the balance once it is done, usage rows, open holds). A
# settlement or release starts from a hold of 300 taken beforehand.
WALLET_CHANGES = {
    # UPDATE users, read the balance it left, INSERT ledger, INSERT usage
    "debit": (debit, 4, 9_700, 1, 0),
    # UPDATE users, INSERT hold, read the balance, INSERT ledger
    "hold": (take_hold, 4, 9_700, 0, 1),
    # claim the hold, INSERT usage
    "settle": (settle, 2, 9_700, 1, 0),
    # claim the hold, UPDATE users (the unused 200), read, INSERT ledger, INSERT usage
    "settle-part": (settle_part, 5, 9_900, 1, 0),
    # claim the hold, UPDATE users, read, INSERT ledger
    "release": (release, 4, 10_000, 0, 0),
}
NEEDS_A_HOLD = {"settle", "settle-part", "release"}


def wallet_fault_points() -> list:
    return [
        pytest.param(name, n, id=f"{name}-after-statement-{n}")
        for name, (_, statements, *_) in WALLET_CHANGES.items()
        for n in range(1, statements + 1)
    ]


def wallet_case(name: str):
    user = UserFactory()
    hold = Wallet(user).hold(300, action="generate_seo_title") if name in NEEDS_A_HOLD else None
    return user, WALLET_CHANGES[name][0](user, hold)


@pytest.mark.parametrize("name, kill_at", wallet_fault_points())
def test_a_wallet_change_killed_between_statements_is_all_or_nothing(
    name, kill_at, kill_connection
):
    """The connection is killed right after statement N: the server rolls the open
    transaction back, so every table is as before; run again on a new connection, the
    change is made once, and the balance is its ledger sum."""
    _, statements, balance, usage_rows, open_holds = WALLET_CHANGES[name]
    learn_statements(wallet_case(name)[1], statements)
    user, change = wallet_case(name)
    before = database_rows()

    with pytest.raises(DatabaseError):  # the next statement, or the COMMIT, finds it gone
        run_logged(change, StatementLog(kill_at, kill_connection))
    connection.close()

    assert database_rows() == before
    change()
    user.refresh_from_db()
    assert user.tokens_remaining == balance
    assert ledger_matches_balance(user)
    assert TokenUsage.objects.filter(user=user).count() == usage_rows
    assert TokenHold.objects.filter(user=user, status=TokenHold.Status.HELD).count() == open_holds
