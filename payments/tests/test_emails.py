"""The buyer's e-mails (payments/emails.py): approved with the receipt attached, rejected
with the reason, refunded; each once, in the buyer's language, after the commit, and
none when the transaction rolls back."""

import pytest
from django.db import transaction
from django.test import Client

from payments.gateways import paypal as paypal_gateway
from payments.models import Payment
from payments.tests.factories import PaymentFactory
from payments.tests.test_paypal import return_url
from payments.tests.test_stripe import deliver, event, session

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/payments/payment/"


def receipt_of(mail) -> tuple[str, str, str]:
    assert len(mail.attachments) == 1
    return mail.attachments[0]


def test_an_admin_approval_emails_the_receipt_once_after_the_commit(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory(user__language="en", user__full_name="Lan")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"{CHANGELIST}{payment.pk}/approve/", {"post": "yes"})
        admin_client.post(f"{CHANGELIST}{payment.pk}/approve/", {"post": "yes"})  # again
    payment.refresh_from_db()

    assert payment.status == "approved" and len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [payment.user.email]
    assert mail.subject == "Your Volx payment is confirmed"
    assert "Hello Lan," in mail.body
    assert "50 USD (Bank transfer) for the Professional plan is confirmed" in mail.body
    assert "2,000,000 tokens were added" in mail.body
    assert f"Your receipt {payment.receipt_number} is attached" in mail.body
    assert f"http://127.0.0.1:8000/payments/{payment.pk}/receipt/" in mail.body
    html, _ = mail.alternatives[0]
    assert f'href="http://127.0.0.1:8000/payments/{payment.pk}/receipt/"' in html

    filename, content, mimetype = receipt_of(mail)
    assert filename == f"volx-receipt-{payment.receipt_number}.html"
    assert mimetype == "text/html"
    assert f'<span id="receipt-number">{payment.receipt_number}</span>' in content
    assert payment.reference_code in content and "50 USD" in content
    assert payment.user.email in content
    assert "window.print" not in content  # the document, not the page's buttons


def test_the_approval_email_and_its_receipt_are_in_the_buyers_language(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory(user__language="vi")
    with django_capture_on_commit_callbacks(execute=True):
        payment.approve(by=admin_user)
    payment.refresh_from_db()

    mail = mailoutbox[0]
    assert mail.subject == "Thanh toán Volx của bạn đã được xác nhận"
    assert "2.000.000 token đã được cộng vào số dư của bạn." in mail.body
    assert "Chuyển khoản ngân hàng" in mail.body
    _, content, _ = receipt_of(mail)
    assert '<html lang="vi">' in content and "Biên nhận" in content


def test_an_approval_that_rolls_back_sends_nothing(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        payment.approve(by=admin_user)
        raise RuntimeError("rolled back")
    assert callbacks == [] and mailoutbox == []
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_nothing_leaves_before_the_commit(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payment.approve(by=admin_user)
    assert len(callbacks) == 1 and mailoutbox == []


def test_a_stripe_webhook_confirmation_emails_once_however_often_it_comes(
    fake_stripe, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory(method=Payment.Method.STRIPE)
    payload = event("checkout.session.completed", session(payment))
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(payload).status_code == 200
        assert deliver(payload).status_code == 200  # Stripe delivers again

    assert len(mailoutbox) == 1
    assert "50 USD (Card (Stripe)) for the Professional plan is confirmed" in mailoutbox[0].body
    receipt_of(mailoutbox[0])


def test_a_paypal_execution_emails_the_receipt(
    fake_paypal, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory(method=Payment.Method.PAYPAL)
    paypal_gateway.start_checkout(payment)
    payment.refresh_from_db()
    buyer = Client()
    buyer.force_login(payment.user)
    with django_capture_on_commit_callbacks(execute=True):
        buyer.get(return_url(payment))
        buyer.get(return_url(payment))  # a reload of the return page

    assert len(mailoutbox) == 1
    assert "(PayPal) for the Professional plan is confirmed" in mailoutbox[0].body
    receipt_of(mailoutbox[0])


def test_an_admin_rejection_emails_the_reason_once(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory(user__language="vi")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            f"{CHANGELIST}{payment.pk}/reject/", {"post": "yes", "reason": "Sai số tiền"}
        )
        admin_client.post(f"{CHANGELIST}{payment.pk}/reject/", {"post": "yes", "reason": "x"})

    payment.refresh_from_db()
    assert payment.status == "rejected" and len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.subject == "Thanh toán Volx của bạn không được chấp nhận"
    assert "Lý do: Sai số tiền" in mail.body
    assert payment.reference_code in mail.body and "50 USD" in mail.body
    assert "<strong>Sai số tiền</strong>" in mail.alternatives[0][0]
    assert mail.attachments == []


def test_a_rejection_that_rolls_back_sends_nothing(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        payment.reject(by=admin_user, reason="no transfer")
        raise RuntimeError("rolled back")
    assert mailoutbox == []


@pytest.mark.parametrize(
    "status", [Payment.Status.CANCELLED, Payment.Status.FAILED], ids=["cancelled", "failed"]
)
def test_a_cancel_or_a_failed_checkout_sends_no_rejection(
    status, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory()
    with django_capture_on_commit_callbacks(execute=True):
        payment.reject(reason="cancelled by the buyer", status=status)
    assert mailoutbox == []


def test_a_refund_emails_once_what_was_taken_back(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory(user__language="en")
    payment.approve(by=admin_user)  # its e-mail is not captured: only the refund's is read
    with django_capture_on_commit_callbacks(execute=True):
        assert payment.refund(reason="asked by the buyer") is True
        assert payment.refund(reason="again") is False

    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.subject == "Your Volx payment was refunded"
    assert "Your payment of 50 USD for the Professional plan" in mail.body
    assert payment.reference_code in mail.body
    assert "The 2,000,000 tokens it added were taken back from your balance." in mail.body
    assert f"http://127.0.0.1:8000/payments/{payment.pk}/receipt/" in mail.body
    assert "http://127.0.0.1:8000/subscription/" in mail.body


def test_the_refund_email_is_in_the_buyers_language(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory(user__language="vi")
    payment.approve(by=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        payment.refund()
    assert mailoutbox[0].subject == "Thanh toán Volx của bạn đã được hoàn tiền"
    assert "2.000.000 token" in mailoutbox[0].body


def test_a_refund_that_rolls_back_sends_nothing(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    payment = PaymentFactory()
    payment.approve(by=admin_user)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        payment.refund()
        raise RuntimeError("rolled back")
    assert mailoutbox == []
    payment.refresh_from_db()
    assert payment.status == "approved"
