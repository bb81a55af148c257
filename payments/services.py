"""Buying a plan: what POST /api/auth/upgrade-plan and the upgrade page both do."""

from payments.gateways import GatewayError, paypal, stripe
from payments.models import Payment
from subscriptions.models import Plan


def start_purchase(user, plan: Plan, *, billing_cycle: str, method: str):
    """A pending payment for `plan` and where the user pays it: the provider's page, or
    None for a bank transfer. Grants nothing. A provider failure marks the payment failed
    and raises GatewayError."""
    payment = Payment.start(user, plan, billing_cycle=billing_cycle, method=method)
    try:
        if method == Payment.Method.STRIPE:
            checkout_url = stripe.start_checkout(payment)
        elif method == Payment.Method.PAYPAL:
            checkout_url = paypal.start_checkout(payment)
        else:
            checkout_url = None
    except GatewayError as error:
        payment.reject(reason=f"checkout failed: {error}", status=Payment.Status.FAILED)
        raise
    return payment, checkout_url
