"""The signals one app sends another: a missing receiver is a failed system check, and a
confirmed payment that granted nothing rolls back instead of taking the money silently."""

from contextlib import contextmanager

import pytest
from django.core.checks import run_checks

from payments.models import Payment, PlanNotGranted
from payments.signals import payment_confirmed
from payments.tests.factories import PaymentFactory
from subscriptions import signals as receivers
from tokens.models import LedgerEntry
from volx import checks


@contextmanager
def disconnected(signal, receiver, dispatch_uid: str):
    assert signal.disconnect(dispatch_uid=dispatch_uid)
    try:
        yield
    finally:
        signal.connect(receiver, dispatch_uid=dispatch_uid)


def test_every_required_receiver_is_connected():
    assert [e for e in run_checks() if e.id == "volx.E002"] == []


@pytest.mark.parametrize(("signal", "dispatch_uid", "why"), checks.REQUIRED_RECEIVERS)
def test_a_missing_receiver_fails_the_system_check(signal, dispatch_uid, why):
    receiver = next(r() for key, r, *_ in signal.receivers if key[0] == dispatch_uid)

    with disconnected(signal, receiver, dispatch_uid):
        errors = [e for e in run_checks() if e.id == "volx.E002"]

    assert len(errors) == 1
    assert dispatch_uid in errors[0].msg and why in errors[0].msg


@pytest.mark.django_db
def test_a_confirmation_that_grants_nothing_raises_and_changes_nothing(wallet_state):
    payment = PaymentFactory()
    before = wallet_state(payment.user)

    with (
        disconnected(payment_confirmed, receivers.apply_paid_plan, "subscriptions.apply_paid_plan"),
        pytest.raises(PlanNotGranted, match="professional"),
    ):
        payment.confirm()

    payment.refresh_from_db()
    assert (payment.status, payment.decided_at, payment.granted_tokens) == ("pending", None, 0)
    assert wallet_state(payment.user) == before
    assert not LedgerEntry.objects.filter(idempotency_key=payment.ledger_key).exists()
    assert payment.user.subscription.plan_type == "free"


@pytest.mark.django_db
def test_a_paid_plan_without_tokens_needs_no_grant(settings):
    """A plan the operator sells for its articles alone: confirming it grants 0 tokens."""
    from subscriptions.models import Plan

    Plan.objects.filter(slug="professional").update(tokens=0)
    payment = PaymentFactory()

    payment.confirm()

    payment.refresh_from_db()
    assert (payment.status, payment.granted_tokens) == (Payment.Status.APPROVED, 0)
    assert payment.user.subscription.plan_type == "professional"
