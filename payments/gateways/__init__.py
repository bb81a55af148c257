"""Payment providers (Stripe, PayPal): starting a checkout and acting on what they report."""

from decimal import Decimal

from django.utils import timezone

from payments.models import Payment, PaymentAlreadyDecided
from tokens.wallet import Wallet
from volx.db import retry_transaction


class GatewayError(Exception):
    """The provider refused the request or could not be reached."""


class UnverifiedEvent(Exception):
    """A webhook that is not provably from the provider: nothing may act on it."""


class IgnoredEvent(Exception):
    """A verified event about nothing Volx knows (a payment, subscription or charge of
    another integration on the same account, or one no longer current). Delivering it again
    cannot change that, so it is acknowledged and recorded as ignored, not failed: a failure
    would be delivered again for days, and the provider may disable the endpoint."""


# Decided without a grant: money the provider reports for one of these was taken for nothing.
UNGRANTED = {Payment.Status.REJECTED, Payment.Status.FAILED, Payment.Status.CANCELLED}


def money_mismatch(payment: Payment, *, amount: Decimal, currency: str, source: str) -> str | None:
    """Why `amount` `currency`, reported by `source`, is not `payment`'s money; None when it is.

    The one test of every amount a provider reports for a payment: the checkout or sale that
    pays it, a renewal invoice of the subscription it bought, a refund of it. Anything but
    the payment's own amount in its own currency grants nothing and takes nothing back: the
    payment is flagged for review with this reason (docs/rules.md, Only verified money
    grants tokens).
    """
    if amount == payment.amount and currency.upper() == payment.currency.upper():
        return None
    return (
        f"{source} reported {amount} {currency.upper()}, "
        f"expected {payment.amount} {payment.currency}"
    )


@retry_transaction
def settle(
    payment: Payment, *, amount: Decimal, currency: str, transaction_id: str, source: str
) -> bool:
    """A verified provider report that `amount` `currency` was paid for `payment`.

    Confirms the payment (its grant, exactly once) when amount and currency are the
    payment's (`money_mismatch`), and returns True if this call confirmed it. A mismatch is
    flagged for review and grants nothing. A payment that is already decided is left alone,
    unless it was rejected, failed or cancelled: then money was taken without a grant and a
    person has to look at it.
    """
    paid = f"{amount} {currency.upper()}"
    # The user row first, as Payment.confirm() takes it: flagging writes the payment row,
    # and taking the two locks in the other order could deadlock with a confirmation.
    Wallet(payment.user_id).lock()
    payment.refresh_from_db()
    if mismatch := money_mismatch(payment, amount=amount, currency=currency, source=source):
        if payment.status == Payment.Status.PENDING:
            payment.flag_for_review(mismatch)
        return False
    try:
        payment.confirm(transaction_id=transaction_id)
    except PaymentAlreadyDecided as decided:
        if decided.payment.status in UNGRANTED:
            payment.flag_for_review(
                f"{source} reported {paid} ({transaction_id}) for a "
                f"{decided.payment.status} payment"
            )
        return False
    return True


def record_references(payment: Payment, **references: str | None) -> None:
    """Fill in provider ids the payment does not have yet (e.g. the money movement of a
    payment that was refunded before its completion arrived). Known ids are never replaced."""
    for field, value in references.items():
        if value:
            Payment.objects.filter(pk=payment.pk, **{field: ""}).update(
                **{field: value, "updated_at": timezone.now()}
            )
    payment.refresh_from_db()
