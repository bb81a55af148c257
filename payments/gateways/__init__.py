"""Payment providers (Stripe, PayPal): starting a checkout and acting on what they report."""

from decimal import Decimal

from django.db import transaction

from payments.models import Payment, PaymentAlreadyDecided
from tokens.wallet import Wallet


class GatewayError(Exception):
    """The provider refused the request or could not be reached."""


# Decided without a grant: money the provider reports for one of these was taken for nothing.
UNGRANTED = {Payment.Status.REJECTED, Payment.Status.FAILED, Payment.Status.CANCELLED}


def settle(
    payment: Payment, *, amount: Decimal, currency: str, transaction_id: str, source: str
) -> None:
    """A verified provider report that `amount` `currency` was paid for `payment`.

    Confirms the payment (its grant, exactly once) when amount and currency are the
    payment's; otherwise flags it for review and grants nothing. A payment that is already
    decided is left alone, unless it was rejected, failed or cancelled: then the money was
    taken without a grant, and a person has to look at it.
    """
    paid = f"{amount} {currency.upper()}"
    with transaction.atomic():
        # The user row first, as Payment.confirm() takes it: flagging writes the payment row,
        # and taking the two locks in the other order could deadlock with a confirmation.
        Wallet(payment.user_id).lock()
        payment.refresh_from_db()
        if amount != payment.amount or currency.upper() != payment.currency.upper():
            if payment.status == Payment.Status.PENDING:
                payment.flag_for_review(
                    f"{source} reported {paid}, expected {payment.amount} {payment.currency}"
                )
            return
        try:
            payment.confirm(transaction_id=transaction_id)
        except PaymentAlreadyDecided as decided:
            if decided.payment.status in UNGRANTED:
                payment.flag_for_review(
                    f"{source} reported {paid} ({transaction_id}) for a "
                    f"{decided.payment.status} payment"
                )
