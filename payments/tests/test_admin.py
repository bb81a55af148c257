"""The operator's path in the Django admin: list, filter, search, approve, reject."""

import pytest

from accounts.models import User
from payments.models import Payment
from payments.tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/payments/payment/"


def balance(user) -> tuple[int, int]:
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return user.tokens_remaining, user.subscription.tokens_limit


def test_list_filters_and_search(admin_client):
    pending = PaymentFactory(user__username="alice")
    PaymentFactory(status="rejected")
    PaymentFactory(method="stripe")

    assert admin_client.get(CHANGELIST).status_code == 200
    by_status = admin_client.get(CHANGELIST, {"status__exact": "rejected"})
    assert by_status.context["cl"].result_count == 1
    by_method = admin_client.get(CHANGELIST, {"method__exact": "stripe"})
    assert by_method.context["cl"].result_count == 1
    for term in (pending.reference_code, "alice", pending.user.email):
        found = admin_client.get(CHANGELIST, {"q": term})
        assert [p.pk for p in found.context["cl"].result_list] == [pending.pk]


def test_approve_action_asks_first_then_grants_once(admin_client, admin_user):
    payment = PaymentFactory()
    skipped = PaymentFactory(status="approved")
    selected = {"action": "approve_payments", "_selected_action": [payment.pk, skipped.pk]}

    confirm_page = admin_client.post(CHANGELIST, selected)
    assert confirm_page.status_code == 200
    assert "Yes, approve" in confirm_page.content.decode()
    assert balance(payment.user) == (10_000, 10_000)  # nothing happens before the confirmation

    done = admin_client.post(CHANGELIST, {**selected, "post": "yes"}, follow=True)

    shown = [str(m) for m in done.context["messages"]]
    assert any(m.startswith(f"Approved {payment.reference_code}") for m in shown)
    assert any(m.startswith(f"Skipped {skipped.reference_code}: already approved") for m in shown)
    assert balance(payment.user) == (2_010_000, 2_010_000)
    payment.refresh_from_db()
    assert (payment.status, payment.decided_by) == ("approved", admin_user)

    admin_client.post(CHANGELIST, {**selected, "post": "yes"})  # a second click
    assert balance(payment.user) == (2_010_000, 2_010_000)


def test_reject_action_requires_a_reason(admin_client):
    payment = PaymentFactory()
    selected = {"action": "reject_payments", "_selected_action": [payment.pk], "post": "yes"}

    without_reason = admin_client.post(CHANGELIST, selected)
    assert "A reason is required." in without_reason.content.decode()
    assert Payment.objects.get(pk=payment.pk).status == "pending"

    admin_client.post(CHANGELIST, {**selected, "reason": "transfer never arrived"})
    payment.refresh_from_db()
    assert (payment.status, payment.reason) == ("rejected", "transfer never arrived")
    assert balance(payment.user) == (10_000, 10_000)


def test_buttons_on_a_pending_payment_page(admin_client):
    payment = PaymentFactory()
    page = admin_client.get(f"{CHANGELIST}{payment.pk}/change/").content.decode()
    assert 'id="approve-payment"' in page and 'id="reject-payment"' in page

    assert admin_client.get(f"{CHANGELIST}{payment.pk}/approve/").status_code == 200  # asks
    assert balance(payment.user) == (10_000, 10_000)
    admin_client.post(f"{CHANGELIST}{payment.pk}/approve/", {"post": "yes"})
    assert balance(payment.user) == (2_010_000, 2_010_000)

    page = admin_client.get(f"{CHANGELIST}{payment.pk}/change/").content.decode()
    assert 'id="approve-payment"' not in page


def test_reject_button(admin_client):
    payment = PaymentFactory()
    admin_client.post(f"{CHANGELIST}{payment.pk}/reject/", {"post": "yes", "reason": "fraud"})
    assert Payment.objects.get(pk=payment.pk).status == "rejected"


def test_a_plain_user_cannot_approve(client, user):
    payment = PaymentFactory()
    client.force_login(user)
    client.post(f"{CHANGELIST}{payment.pk}/approve/", {"post": "yes"})
    assert Payment.objects.get(pk=payment.pk).status == "pending"
    assert balance(payment.user) == (10_000, 10_000)


def test_payments_cannot_be_added_or_deleted_in_the_admin(admin_client):
    payment = PaymentFactory()
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert (
        admin_client.post(f"{CHANGELIST}{payment.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Payment.objects.filter(pk=payment.pk).exists()
