"""Stripe Checkout: the session that takes the money, and the webhook events that report it.

The signature-verified event is the proof of payment (docs/rules.md, Only verified money grants
tokens): nothing here calls Stripe
back to ask. Events come in any order and any number of times; each handler is safe to
repeat, and the webhook view runs it inside one transaction.
"""

import json
import time
from contextlib import suppress
from decimal import ROUND_HALF_UP, Decimal

import stripe
from django.conf import settings
from django.utils import timezone

from payments.gateways import (
    GatewayError,
    IgnoredEvent,
    UnverifiedEvent,
    money_mismatch,
    record_references,
    settle,
)
from payments.models import Payment, PaymentAlreadyDecided
from subscriptions.models import UserSubscription
from tokens import references
from tokens.wallet import Wallet

TIMEOUT = 20  # seconds per request; the buyer is waiting for the redirect
# Currencies Stripe counts in whole units (docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip


def minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in the currency's smallest unit: Stripe's `unit_amount` and `amount_total`."""
    exponent = 0 if currency.upper() in ZERO_DECIMAL else 2
    return int(amount.scaleb(exponent).to_integral_value(ROUND_HALF_UP))


def from_minor_units(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(0 if currency.upper() in ZERO_DECIMAL else -2)


def _client() -> stripe.StripeClient:
    # A client per call rather than the module-level stripe.api_key / stripe.api_base: those
    # are globals of the process, shared by every thread and every settings override.
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None,
        http_client=stripe.RequestsClient(timeout=TIMEOUT),
        max_network_retries=2,  # the library sends an Idempotency-Key, so a retry is safe
    )


def start_checkout(payment: Payment) -> str:
    """Create the Checkout Session for `payment`, save its id and URL, return the URL."""
    site = settings.SITE_URL.rstrip("/")
    reference = {"payment_id": str(payment.pk), "reference_code": payment.reference_code}
    line_item = {
        "quantity": 1,
        "price_data": {
            "currency": payment.currency.lower(),
            "unit_amount": minor_units(payment.amount, payment.currency),
            "product_data": {"name": f"{payment.plan.name} ({payment.billing_cycle})"},
        },
    }
    try:
        session = _client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [line_item],
                "client_reference_id": str(payment.pk),
                "metadata": reference,
                # Stripe copies the PaymentIntent's metadata to its charge, so a refund
                # that arrives before the session completes still names the payment.
                "payment_intent_data": {"metadata": reference},
                "customer_email": payment.user.email,
                "success_url": f"{site}/payments/?paid={payment.pk}",
                "cancel_url": f"{site}/payments/{payment.pk}/cancelled/",
            }
        )
    except stripe.StripeError as error:
        raise GatewayError(error.user_message or str(error)) from error
    if not session.url:
        raise GatewayError(f"Stripe returned checkout session {session.id} without a URL")
    payment.provider_reference = session.id
    payment.checkout_url = session.url
    payment.save(update_fields=["provider_reference", "checkout_url", "updated_at"])
    return session.url


def set_renewal(subscription_id: str, *, renew: bool) -> None:
    """Whether Stripe bills the subscription's next period: `cancel_at_period_end` is the
    opposite. The period already paid for runs to its end either way."""
    try:
        _client().v1.subscriptions.update(
            subscription_id, params={"cancel_at_period_end": not renew}
        )
    except stripe.StripeError as error:
        raise GatewayError(error.user_message or str(error)) from error


def expire_checkout(payment: Payment) -> None:
    """Close the payment's Checkout Session, so that nobody can pay it any more."""
    if not payment.provider_reference:
        return  # the session was never created
    try:
        _client().v1.checkout.sessions.expire(payment.provider_reference)
    except stripe.StripeError as error:
        raise GatewayError(error.user_message or str(error)) from error


# --- webhooks -------------------------------------------------------------------------


def verified_event(payload: bytes, signature: str | None) -> dict:
    """The event in `payload` if `signature` (the Stripe-Signature header) proves it is
    Stripe's and recent; raises UnverifiedEvent otherwise."""
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE
    try:
        stripe.Webhook.construct_event(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=tolerance
        )
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise UnverifiedEvent(str(error)) from error
    # The library refuses only timestamps older than the tolerance. One far in the future
    # is as suspect: a signature made in advance stays replayable for that long.
    signed_at = int(next(item[2:] for item in signature.split(",") if item.startswith("t=")))
    if abs(time.time() - signed_at) > tolerance:
        raise UnverifiedEvent(f"timestamp {signed_at} is outside the tolerance ({tolerance} s)")
    event = json.loads(payload)
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise UnverifiedEvent("not a Stripe event")
    return event


def process_event(event: dict) -> None:
    """Act on a verified event. Unknown types are ignored; an event about an object Volx
    does not know raises IgnoredEvent; any other failure raises, so that it is recorded as
    failed and Stripe delivers it again."""
    handler = HANDLERS.get(event["type"])
    if handler:
        handler(event["data"]["object"])


def _payment_for_session(session: dict) -> Payment | None:
    payment_id = session.get("client_reference_id") or (session.get("metadata") or {}).get(
        "payment_id"
    )
    if not str(payment_id or "").isdigit():
        return None  # not a Volx checkout: another integration on the same Stripe account
    payment = Payment.objects.filter(pk=payment_id, method=Payment.Method.STRIPE).first()
    if payment is None:
        raise IgnoredEvent(f"no payment for checkout session {session['id']} ({payment_id})")
    return payment


def _session_paid(session: dict) -> None:
    payment = _payment_for_session(session)
    if payment is None:
        return
    currency = session["currency"]
    intent = session.get("payment_intent") or ""
    confirmed = settle(
        payment,
        amount=from_minor_units(session["amount_total"], currency),
        currency=currency,
        transaction_id=intent,
        source="Stripe",
    )
    subscription = session.get("subscription")
    record_references(
        payment, provider_transaction_id=intent, provider_subscription_id=subscription
    )
    if confirmed and subscription:
        # Stripe bills the next periods itself (invoice.paid); expiry waits for them.
        UserSubscription.objects.filter(user_id=payment.user_id, payment_id=str(payment.pk)).update(
            auto_renew=True, updated_at=timezone.now()
        )


def _checkout_completed(session: dict) -> None:
    # "unpaid" is a delayed method (bank debit): async_payment_succeeded brings the money.
    if session.get("payment_status") == "paid":
        _session_paid(session)


def _async_payment_failed(session: dict) -> None:
    payment = _payment_for_session(session)
    if payment is None:
        return
    with suppress(PaymentAlreadyDecided):
        payment.reject(reason="Stripe: the delayed payment failed", status=Payment.Status.FAILED)


def _invoice_subscription(invoice: dict) -> str | None:
    # API versions from 2025-03-31 moved it under parent.subscription_details.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return invoice.get("subscription") or details.get("subscription")


# The only invoice that pays for a new plan period: Stripe's renewal of the subscription.
RENEWAL = "subscription_cycle"


def _invoice_paid(invoice: dict) -> None:
    """A renewal grants a period (docs/rules.md, Renewal) only for a `subscription_cycle`
    invoice of the payment's own amount and currency (`money_mismatch`, the checkout's
    rule). Any other paid invoice of the subscription (a proration, a manual invoice, a
    usage threshold, another amount) flags the payment for review and grants nothing."""
    reason = invoice.get("billing_reason")
    if reason == "subscription_create":
        # The first period's invoice. The checkout that created the subscription was
        # settled by checkout.session.completed, its amount checked and its period granted;
        # granting here as well would pay one period twice.
        return
    subscription_id = _invoice_subscription(invoice)
    if not subscription_id:
        return  # a one-off invoice, not a plan period
    payment = (
        Payment.objects.filter(
            method=Payment.Method.STRIPE, provider_subscription_id=subscription_id
        )
        .order_by("-pk")
        .first()
    )
    if payment is None:
        raise IgnoredEvent(f"no payment for subscription {subscription_id} ({invoice['id']})")
    Wallet(payment.user_id).lock()
    currency = invoice.get("currency") or ""
    paid = from_minor_units(invoice.get("amount_paid") or 0, currency)
    source = f"Stripe invoice {invoice['id']} ({reason})"
    if reason != RENEWAL:
        payment.flag_for_review(f"{source}: {paid} {currency.upper()} paid, not a renewal")
        return
    if mismatch := money_mismatch(payment, amount=paid, currency=currency, source=source):
        payment.flag_for_review(mismatch)
        return
    subscription = UserSubscription.objects.get(user_id=payment.user_id)
    if subscription.payment_id != str(payment.pk) or subscription.plan_type != payment.to_plan:
        # Refunded, expired or replaced by another purchase: renewing the plan the user
        # has now would grant tokens nobody paid for.
        raise IgnoredEvent(
            f"invoice {invoice['id']}: the subscription of user {payment.user_id} is no longer "
            f"the one payment {payment.pk} bought"
        )
    key = references.stripe_invoice(invoice["id"])
    subscription.renew(reference=key, idempotency_key=key)


def _charge_refunded(charge: dict) -> None:
    intent = charge.get("payment_intent") or ""
    payment = None
    if intent:
        payment = Payment.objects.filter(
            method=Payment.Method.STRIPE, provider_transaction_id=intent
        ).first()
    payment_id = (charge.get("metadata") or {}).get("payment_id")
    if payment is None and str(payment_id or "").isdigit():
        # Refunded before its completion was processed: the intent is not recorded yet.
        payment = Payment.objects.filter(pk=payment_id, method=Payment.Method.STRIPE).first()
    if payment is None:
        raise IgnoredEvent(f"no payment for charge {charge['id']} (payment intent {intent})")
    Wallet(payment.user_id).lock()
    # A refund reverses a whole grant (docs/rules.md, Refund): only of the whole charge, and
    # only of the payment's own amount in its own currency. What a partial refund, or one
    # of other money, takes back is the operator's call.
    if not charge.get("refunded"):
        mismatch = (
            f"Stripe partially refunded charge {charge['id']}: "
            f"{charge.get('amount_refunded')} of {charge.get('amount')}"
        )
    else:
        currency = charge.get("currency") or ""
        mismatch = money_mismatch(
            payment,
            amount=from_minor_units(charge.get("amount_refunded") or 0, currency),
            currency=currency,
            source=f"Stripe refund of charge {charge['id']}",
        )
    if mismatch:
        payment.flag_for_review(mismatch)
    else:
        payment.refund(reason=f"Stripe refunded charge {charge['id']}")
    record_references(payment, provider_transaction_id=intent)


def _subscription_deleted(subscription: dict) -> None:
    paid_by = Payment.objects.filter(
        method=Payment.Method.STRIPE, provider_subscription_id=subscription["id"]
    ).values_list("pk", flat=True)
    UserSubscription.objects.filter(payment_id__in=[str(pk) for pk in paid_by]).update(
        auto_renew=False, updated_at=timezone.now()
    )


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _session_paid,
    "checkout.session.async_payment_failed": _async_payment_failed,
    "invoice.paid": _invoice_paid,
    "charge.refunded": _charge_refunded,
    "customer.subscription.deleted": _subscription_deleted,
}
