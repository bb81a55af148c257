"""What the API and the pages both do: buying a plan, cancelling a pending payment, turning
auto-renew on or off."""

from payments.gateways import GatewayError, paypal, stripe
from payments.models import Payment, PaymentAlreadyDecided
from subscriptions.models import FREE_PLAN, Plan, UserSubscription


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


def cancel_pending(payment: Payment) -> None:
    """The buyer cancels their pending payment; nothing was granted, nothing is.

    A Stripe checkout is closed at Stripe first, so the cancelled payment cannot be paid
    after all (a PayPal payment is only taken when Volx executes it, a bank transfer when an
    admin approves it). Raises PaymentAlreadyDecided if it is no longer pending, and
    GatewayError, changing nothing, if Stripe could not close the checkout.
    """
    payment.refresh_from_db()
    if payment.status != Payment.Status.PENDING:
        raise PaymentAlreadyDecided(payment)
    if payment.method == Payment.Method.STRIPE:
        stripe.expire_checkout(payment)
    payment.reject(reason="cancelled by the buyer", status=Payment.Status.CANCELLED)


class AutoRenewUnavailable(Exception):
    """Auto-renew is on only where something renews: a Stripe subscription bills the next
    period. A bank transfer or a PayPal payment is renewed by buying the plan again."""


def stripe_subscription_of(subscription: UserSubscription) -> str:
    """The Stripe subscription that bills the user's current plan, or ""."""
    if not subscription.payment_id.isdigit() or subscription.plan_type == FREE_PLAN:
        return ""
    payment = Payment.objects.filter(
        pk=subscription.payment_id, method=Payment.Method.STRIPE, to_plan=subscription.plan_type
    ).first()
    return payment.provider_subscription_id if payment else ""


def set_auto_renew(user, renew: bool) -> UserSubscription:
    """Turn auto-renew on or off (the subscription page, PATCH /api/subscription).

    With a Stripe subscription, Stripe is told first (`cancel_at_period_end`) and the
    subscription changes only if it agreed: GatewayError otherwise, nothing changed.
    Turning it on with nothing to renew raises AutoRenewUnavailable. The allowance and the
    period are untouched: only the next period is concerned.
    """
    subscription = UserSubscription.of_user(user)
    stripe_subscription = stripe_subscription_of(subscription)
    if renew and not stripe_subscription:
        raise AutoRenewUnavailable(
            "Auto-renew needs a card subscription (Stripe). A plan paid by bank transfer or "
            "PayPal is renewed by buying it again."
        )
    if stripe_subscription:
        stripe.set_renewal(stripe_subscription, renew=renew)
    # A queryset update, not save(): updated_at marks a new allowance (the low-balance
    # notice counts from it), and this is not one.
    UserSubscription.objects.filter(pk=subscription.pk).update(auto_renew=renew)
    subscription.refresh_from_db()
    return subscription
