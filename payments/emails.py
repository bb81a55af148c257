"""The buyer's e-mails about a payment: approved (with the receipt attached), rejected
(with the reason), refunded. Sent through accounts.emails, after the commit, in the
buyer's language; queued by the receivers in payments/signals.py."""

from functools import partial

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import emails
from payments import receipts
from payments.models import Payment
from subscriptions.models import Plan


def queue_payment_approved(payment: Payment) -> None:
    """Called from `payment_confirmed`, before confirm() has numbered the receipt and saved
    the payment: the e-mail is built after the commit, from the payment as committed. A
    confirmation that rolls back queues nothing."""
    transaction.on_commit(partial(send_payment_approved, payment.pk), robust=True)


def send_payment_approved(payment_id: int) -> None:
    payment = Payment.objects.select_related("user").get(pk=payment_id)
    if payment.status != Payment.Status.APPROVED:
        return  # refunded in between: the refund's e-mail says what happened
    context = {
        **payment_context(payment),
        "tokens": payment.granted_tokens,
        "seller": receipts.seller(),  # for the attached receipt
    }
    attachment = (
        f"volx-receipt-{payment.receipt_number}.html",
        "emails/receipt_attachment.html",
        "text/html",
    )
    emails.send(
        payment.user,
        "payment_approved",
        _("Your Volx payment is confirmed"),
        context,
        attachments=[attachment],
    )


def send_payment_rejected(payment: Payment) -> None:
    context = {
        **payment_context(payment),
        "plans_url": emails.site_url(reverse("subscriptions:plans-page")),
    }
    emails.send(payment.user, "payment_rejected", _("Your Volx payment was not accepted"), context)


def send_payment_refunded(payment: Payment, *, tokens_taken: int) -> None:
    context = {
        **payment_context(payment),
        "tokens_taken": tokens_taken,
        "subscription_url": emails.site_url(reverse("payments:subscription-page")),
    }
    emails.send(payment.user, "payment_refunded", _("Your Volx payment was refunded"), context)


def payment_context(payment: Payment) -> dict:
    """Plain values and the payment itself (its user loaded): the templates render on the
    mail thread without the database."""
    name = Plan.objects.filter(slug=payment.to_plan).values_list("name", flat=True).first()
    # Lazy: translated when the template renders, in the buyer's language.
    payment.plan_name = _(name) if name else payment.to_plan
    return {
        "payment": payment,
        "payment_url": emails.site_url(reverse("payments:detail-page", args=[payment.pk])),
        "receipt_url": emails.site_url(reverse("payments:receipt", args=[payment.pk])),
    }
