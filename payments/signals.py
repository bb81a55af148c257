from django.dispatch import Signal, receiver

# Sent with `payment` inside Payment.confirm()'s transaction, after the payment row is
# locked and marked approved; the subscriptions app applies the plan change and grant.
payment_confirmed = Signal()

# Sent with `payment` and `tokens_taken` (what the wallet gave back) inside
# Payment.refund()'s transaction after the grant is reversed; the subscriptions app takes
# the payment out of the plan (plan_state_after_refund).
payment_refunded = Signal()

# Sent with `payment` inside Payment.reject()'s transaction, after the payment row is
# saved with its new status (rejected, failed or cancelled) and reason.
payment_rejected = Signal()


# --- receivers: the buyer is told -------------------------------------------------------
# The e-mails hang on the payments' own signals rather than sit in confirm(), reject() and
# refund(): the money code stays as it was, and every path that ends there (the admin, the
# admin API, Stripe, PayPal) is covered. Each e-mail leaves after the commit.


@receiver(payment_confirmed, dispatch_uid="payments.email_payment_approved")
def email_payment_approved(sender, payment, **kwargs):
    from payments import emails

    emails.queue_payment_approved(payment)


@receiver(payment_rejected, dispatch_uid="payments.email_payment_rejected")
def email_payment_rejected(sender, payment, **kwargs):
    from payments import emails

    # Only an admin's rejection: a failed checkout or the buyer's own cancel is no news.
    if payment.status == payment.Status.REJECTED:
        emails.send_payment_rejected(payment)


@receiver(payment_refunded, dispatch_uid="payments.email_payment_refunded")
def email_payment_refunded(sender, payment, tokens_taken, **kwargs):
    from payments import emails

    emails.send_payment_refunded(payment, tokens_taken=tokens_taken)
