import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from accounts.models import User
from payments.models import Payment, PaymentAlreadyDecided
from payments.tests.factories import PaymentFactory
from tokens.models import LedgerEntry


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_10_concurrent_approvals_grant_exactly_once(admin_user):
    payment = PaymentFactory()
    start = threading.Barrier(10)

    def approve(_):
        start.wait()
        try:
            Payment.objects.get(pk=payment.pk).confirm(by=admin_user)
            return "approved"
        except PaymentAlreadyDecided:
            return "409"
        finally:
            connection.close()

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(approve, range(10)))

    assert sorted(results) == ["409"] * 9 + ["approved"]
    user = User.objects.select_related("subscription").get(pk=payment.user_id)
    assert (user.tokens_remaining, user.subscription.tokens_limit) == (2_010_000, 2_010_000)
    assert LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"] == 2_010_000
    assert LedgerEntry.objects.filter(user=user, kind="grant").count() == 2  # free + paid
