"""An exception after each SQL statement of a payment confirmation and of an AI action.

Each test id is one fault point: the operation runs on fresh data and fails right after
statement N (see `volx.tests.faults`). The tests run in pytest-django's transaction, so
each of the operation's own transactions is a savepoint and its RELEASE SAVEPOINT stands
for its COMMIT: the last fault point of a transaction is a failure right after it
committed, when nothing can be undone any more. The promise checked is all or nothing:
before that point the database is exactly as before, from it on the work is done once.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import UserFactory
from payments.models import Payment, WebhookEvent
from payments.tests.factories import PaymentFactory
from payments.tests.test_stripe import deliver, event, session
from tokens.models import LedgerEntry, TokenHold, TokenUsage
from volx.tests.faults import (
    Fault,
    StatementLog,
    database_rows,
    learn_statements,
    run_logged,
    seed_receipt_counter,
)
from volx.throttling import ScopedRateThrottle

pytestmark = pytest.mark.django_db

# Statements per operation, the same on every database. If the code changes,
# `learn_statements` fails with the new listing: update the number so that every
# statement stays a fault point. The wallet's (tokens/wallet.py): a grant is the balance
# UPDATE, the read of the balance it left and the ledger INSERT; a hold is the UPDATE, the
# hold INSERT, the read and the ledger INSERT; a settlement claims the hold and writes
# the usage row.
GRANT_QUERIES, HOLD_QUERIES, SETTLE_QUERIES = 3, 4, 2
# A confirmation numbers its receipt: the UPDATE of the year's counter and its read.
RECEIPT_QUERIES = 2
APPROVAL_STATEMENTS = 25 + GRANT_QUERIES + RECEIPT_QUERIES  # auth, load, Payment.confirm() …
WEBHOOK_STATEMENTS = 35 + GRANT_QUERIES + RECEIPT_QUERIES  # store the event, process it
# auth, then hold and settlement: each one transaction, its savepoint and release here
AI_ACTION_STATEMENTS = 1 + (2 + HOLD_QUERIES) + (2 + SETTLE_QUERIES)
TEXT = "Volx writes SEO titles. Volx writes meta descriptions for long articles."
SEO_TITLE_COST = 300


@pytest.fixture(autouse=True)
def _unthrottled(monkeypatch):
    """The throttle's counter out of the statements: a key's first request inserts its row,
    later ones update it, and a fault there precedes the work (volx/tests/test_throttling.py
    tests the throttle)."""
    monkeypatch.setattr(ScopedRateThrottle, "allow_request", lambda self, request, view: True)


@pytest.fixture(autouse=True)
def _receipt_counter_of_this_year(db):
    seed_receipt_counter()


def fault_points(count: int) -> list:
    return [pytest.param(n, id=f"after-statement-{n:02d}") for n in range(1, count + 1)]


@pytest.mark.parametrize("fault_at", fault_points(APPROVAL_STATEMENTS))
def test_admin_approval_is_all_or_nothing(fault_at, admin_user, client_for, assert_granted_once):
    """A fault anywhere up to the commit leaves every table exactly as before, and the
    admin's retry grants once; a fault after it leaves one grant, and the retry is a 409."""
    api = client_for(admin_user)
    api.raise_request_exception = False

    def approve(payment):
        return lambda: api.post(f"/api/admin/payments/{payment.pk}/approve")

    log = learn_statements(approve(PaymentFactory()), APPROVAL_STATEMENTS)
    payment = PaymentFactory()
    before = database_rows()

    response = run_logged(approve(payment), StatementLog(strike_after=fault_at))

    assert response.status_code == 500
    if log.committed(fault_at):
        assert_granted_once(payment)
        assert approve(payment)().status_code == 409
    else:
        assert database_rows() == before
        assert approve(payment)().status_code == 200
    assert_granted_once(payment)


@pytest.fixture
def stripe_webhooks(settings):
    """Enough Stripe settings to verify webhooks; processing these events calls no API."""
    settings.STRIPE_SECRET_KEY = "sk_test_volx"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_volx"
    settings.STRIPE_WEBHOOK_TOLERANCE = 300


@pytest.mark.parametrize("fault_at", fault_points(WEBHOOK_STATEMENTS))
def test_stripe_webhook_is_all_or_nothing(fault_at, stripe_webhooks, assert_granted_once):
    """The affected rows are every table but `webhook_events`: the event is stored in a
    first transaction of its own, by design, and a failure of the processing is recorded
    on it (`error`), so the redelivered event can be processed. A fault before that
    commit leaves no event row either; one after the processing committed leaves the
    grant, once. Whatever the fault point, Stripe's redelivery ends with one grant.
    """
    completed = event("checkout.session.completed", session(PaymentFactory(method="stripe")))
    log = learn_statements(lambda: deliver(completed), WEBHOOK_STATEMENTS)
    payment = PaymentFactory(method=Payment.Method.STRIPE)
    payload = event("checkout.session.completed", session(payment), event_id="evt_faulty")
    before = database_rows()

    client = Client(raise_request_exception=False)
    response = run_logged(
        lambda: deliver(payload, client=client), StatementLog(strike_after=fault_at)
    )

    assert response.status_code == 500
    stored = WebhookEvent.objects.filter(event_id="evt_faulty").first()
    committed = log.committed(fault_at)
    if committed == 0:
        assert database_rows() == before
    elif committed == 1:
        assert database_rows(exclude=("webhook_events",)) == {
            table: rows for table, rows in before.items() if table != "webhook_events"
        }
        assert stored.processed_at is None
        # Recorded if the fault struck the processing; not if it struck between the two.
        assert stored.error == "" or stored.error.startswith("Fault: injected")
    else:
        assert stored.processed_at is not None
        assert_granted_once(payment)

    again = deliver(payload)

    assert again.status_code == 200
    assert again.json()["status"] == ("duplicate" if committed == 2 else "processed")
    assert_granted_once(payment)


# --- an AI action: hold → provider → settle, release on failure ---------------------


def seo_title(api):
    return lambda: api.post("/api/ai/generate-seo-title", {"text": TEXT}, format="json")


def assert_hold_released(user, before: dict) -> None:
    """Balance, usage history and every hold that was there are exactly as before; the
    ledger gained precisely the audit pair hold + release, netting 0, and the holds
    table the one closed hold they name. Nothing else changed."""
    after = database_rows()
    unchanged = [t for t in before if t not in ("token_ledger", "token_holds")]
    assert {t: after[t] for t in unchanged} == {t: before[t] for t in unchanged}
    for table in ("token_ledger", "token_holds"):
        assert after[table][: len(before[table])] == before[table]
    hold = TokenHold.objects.get(pk=after["token_holds"][-1][0])
    assert (len(after["token_holds"]), hold.user_id, hold.status) == (
        len(before["token_holds"]) + 1,
        user.pk,
        TokenHold.Status.RELEASED,
    )
    new_entries = LedgerEntry.objects.filter(pk__gt=before["token_ledger"][-1][0]).order_by("pk")
    assert [(e.user_id, e.kind, e.delta, e.reference) for e in new_entries] == [
        (user.pk, LedgerEntry.Kind.HOLD, -SEO_TITLE_COST, f"hold:{hold.pk}"),
        (user.pk, LedgerEntry.Kind.RELEASE, SEO_TITLE_COST, f"hold:{hold.pk}"),
    ]


def assert_charged_once(user) -> None:
    user.refresh_from_db()
    assert user.tokens_remaining == 10_000 - SEO_TITLE_COST
    assert TokenUsage.objects.filter(user=user).count() == 1
    assert not TokenHold.objects.filter(user=user, status=TokenHold.Status.HELD).exists()
    assert LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"] == (
        user.tokens_remaining
    )


@pytest.mark.parametrize("fault_at", fault_points(AI_ACTION_STATEMENTS))
def test_ai_action_is_free_when_it_fails(fault_at, user, client_for):
    """A fault before the hold commits leaves every table exactly as before. From then
    until the settlement commits, the hold is released (see `assert_hold_released`).

    Two fault points cannot be undone by the request itself. Right at the hold's commit
    the exception leaves `Wallet.hold()` before `perform` has the hold to release, as a
    process killed there would: the hold stays open until `release_stale_holds` gives it
    back, and then the same is true. Right at the settlement's commit the action is
    charged once, nothing half-done, although the client is answered 500 for it.
    """
    log = learn_statements(seo_title(client_for(UserFactory())), AI_ACTION_STATEMENTS)
    api = client_for(user)
    api.raise_request_exception = False
    before = database_rows()

    response = run_logged(seo_title(api), StatementLog(strike_after=fault_at))

    assert response.status_code == 500
    committed = log.committed(fault_at)
    if committed == 0:
        assert database_rows() == before
    elif committed == 1 and fault_at == log.ends()[0] + 1:
        held = TokenHold.objects.get(user=user, status=TokenHold.Status.HELD)
        user.refresh_from_db()
        assert user.tokens_remaining == 10_000 - SEO_TITLE_COST
        TokenHold.objects.filter(pk=held.pk).update(created_at=timezone.now() - timedelta(hours=1))
        call_command("release_stale_holds", stdout=StringIO())
        assert_hold_released(user, before)
    elif committed == 1:
        assert_hold_released(user, before)
    else:
        assert_charged_once(user)


def test_ai_action_is_free_when_the_provider_raises(user, client_for, monkeypatch):
    """Not a ProviderError: an unexpected exception in the provider is a 500, and free."""

    def broken_provider(provider, action, text):
        raise Fault("injected in the provider")

    monkeypatch.setattr("articles.providers.local.LocalProvider.run", broken_provider)
    api = client_for(user)
    api.raise_request_exception = False
    before = database_rows()

    response = seo_title(api)()

    assert response.status_code == 500
    assert_hold_released(user, before)
