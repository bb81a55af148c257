"""Stripe and PayPal webhooks, and the pages PayPal sends the buyer back to.

Provider specifics (signatures, SDKs, event types) live in `payments.gateways`; this module
is the HTTP side: verify, store the event under its unique id, process it once.
"""

import logging
import secrets
from collections.abc import Callable
from contextlib import suppress

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from payments.gateways import GatewayError, IgnoredEvent, UnverifiedEvent
from payments.gateways import paypal as paypal_gateway
from payments.gateways import stripe as stripe_gateway
from payments.methods import missing_settings
from payments.models import Payment, PaymentAlreadyDecided, WebhookEvent
from volx.db import is_unavailable, retry_transaction

logger = logging.getLogger(__name__)

# How a WebhookEvent's `error` begins when the event was acknowledged and ignored.
IGNORED = "ignored: "


def _not_configured(method: str) -> JsonResponse | None:
    if missing := missing_settings(method):
        return JsonResponse(
            {"error": f"{method} is not configured: set {', '.join(missing)}.",
             "missing_settings": missing},
            status=503,
        )  # fmt: skip
    return None


def _receive(
    provider: str, event: dict, event_type: str, process: Callable[[dict], None]
) -> JsonResponse:
    """Store a verified event under its unique id, then process it exactly once.

    The UNIQUE(provider, event_id) insert, in its own transaction, records the delivery;
    the processing locks that row, so of two concurrent deliveries one processes and the
    other waits and finds it done. A failure rolls the processing back, is recorded on the
    row and answered with 500 (503, unrecorded, when the database is unavailable): the
    provider delivers again and the event is retried. An event about nothing Volx knows
    (IgnoredEvent) is answered 200 "ignored" and recorded as such (`error` starts with
    IGNORED, `processed_at` stays empty): nothing retries it, and a delivery sent again
    by hand is processed again.
    """
    event_id = event["id"]
    with suppress(IntegrityError), transaction.atomic():
        WebhookEvent.objects.create(
            provider=provider, event_id=event_id, type=event_type[:100], payload=event
        )
    try:
        processed = _process_once(provider, event_id, event, process)
    except IgnoredEvent as reason:
        logger.info("%s event %s ignored: %s", provider, event_id, reason)
        WebhookEvent.objects.filter(provider=provider, event_id=event_id).update(
            error=f"{IGNORED}{reason}"
        )
        return JsonResponse({"status": "ignored", "reason": str(reason)})
    except Exception as error:
        if is_unavailable(error):
            raise  # answered 503 with Retry-After (volx/views.py): delivered again later
        logger.exception("%s event %s failed", provider, event_id)
        WebhookEvent.objects.filter(provider=provider, event_id=event_id).update(
            error=f"{type(error).__name__}: {error}"
        )
        return JsonResponse({"error": f"processing failed: {error}"}, status=500)
    return JsonResponse({"status": "processed" if processed else "duplicate"})


@retry_transaction
def _process_once(
    provider: str, event_id: str, event: dict, process: Callable[[dict], None]
) -> bool:
    """Process the stored event unless it was processed already; True if this call did.

    One transaction, so the processing and its `processed_at` commit together or not at
    all, run again from the start on a deadlock or lock-wait timeout.
    """
    # Only webhooks lock this row, always before the user row: no lock cycle.
    stored = WebhookEvent.objects.select_for_update().get(provider=provider, event_id=event_id)
    if stored.processed_at:
        return False
    process(event)
    stored.processed_at = timezone.now()
    stored.error = ""
    stored.save(update_fields=["processed_at", "error"])
    return True


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    """POST /api/payments/stripe/webhook: events signed with STRIPE_WEBHOOK_SECRET."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        if answer := _not_configured(Payment.Method.STRIPE):
            return answer
        try:
            event = stripe_gateway.verified_event(
                request.body, request.headers.get("Stripe-Signature")
            )
        except UnverifiedEvent as error:
            return JsonResponse({"error": f"unverified Stripe event: {error}"}, status=400)
        return _receive(
            WebhookEvent.Provider.STRIPE, event, event["type"], stripe_gateway.process_event
        )


@method_decorator(csrf_exempt, name="dispatch")
class PayPalWebhookView(View):
    """POST /api/payments/paypal/webhook: events PayPal's verify API confirms."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        if answer := _not_configured(Payment.Method.PAYPAL):
            return answer
        try:
            event = paypal_gateway.verified_event(request.body, request.headers)
        except UnverifiedEvent as error:
            return JsonResponse({"error": f"unverified PayPal event: {error}"}, status=400)
        except GatewayError as error:
            # Not a forgery, just unanswered: a 5xx makes PayPal deliver it again later.
            logger.warning("PayPal webhook verification unavailable: %s", error)
            return JsonResponse({"error": f"could not verify with PayPal: {error}"}, status=502)
        return _receive(
            WebhookEvent.Provider.PAYPAL,
            event,
            str(event.get("event_type", "")),
            paypal_gateway.process_event,
        )


def _own_paypal_payment(request: HttpRequest) -> Payment:
    payment_id = request.GET.get("payment", "")
    if not payment_id.isdigit():
        raise Http404("no such payment")
    return get_object_or_404(
        Payment, pk=payment_id, user=request.user, method=Payment.Method.PAYPAL
    )


@require_GET
@login_required
def paypal_return(request: HttpRequest) -> HttpResponse:
    """PayPal's return_url: execute the approved payment, then show the payments page."""
    payment = _own_paypal_payment(request)
    paid = f"/payments/?paid={payment.pk}"
    if payment.status != Payment.Status.PENDING:
        return redirect(paid)  # settled already: a reload, or the webhook came first
    try:
        if missing_settings(Payment.Method.PAYPAL):
            raise GatewayError("PayPal is not configured")
        paypal_gateway.execute(
            payment,
            paypal_payment_id=request.GET.get("paymentId", ""),
            payer_id=request.GET.get("PayerID", ""),
        )
    except GatewayError as error:
        logger.warning("PayPal execution of payment %s failed: %s", payment.pk, error)
        return redirect(f"{paid}&error=paypal")
    return redirect(paid)


@require_GET
@login_required
def paypal_cancel(request: HttpRequest) -> HttpResponse:
    """PayPal's cancel_url: the buyer gave up, so the pending payment is cancelled.

    Only with the token PayPal adds to it, the approval URL's: the payment id alone is in
    any link another site shows the buyer, which would cancel what they are paying.
    """
    payment = _own_paypal_payment(request)
    expected = paypal_gateway.checkout_token(payment)
    given = request.GET.get("token", "").encode()  # bytes: compare_digest refuses non-ASCII str
    if not expected or not secrets.compare_digest(given, expected.encode()):
        return render(request, "payments/cancel_refused.html", {"payment": payment}, status=400)
    with suppress(PaymentAlreadyDecided):
        payment.reject(reason="cancelled at PayPal", status=Payment.Status.CANCELLED)
    return redirect(f"/payments/{payment.pk}/cancelled/")
