"""PayPal REST payments: create, execute when the buyer returns, and webhooks.

The only module that imports paypalrestsdk (deprecated by PayPal), so that PayPal's newer
SDK can replace it here without touching the views.
"""

import functools
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, urlencode, urlsplit

import paypalrestsdk
import requests
from django.conf import settings
from paypalrestsdk import exceptions as paypal_errors

from payments.gateways import (
    GatewayError,
    IgnoredEvent,
    UnverifiedEvent,
    money_mismatch,
    record_references,
    settle,
)
from payments.models import Payment
from tokens.wallet import Wallet

TIMEOUT = 20  # seconds per request; the buyer is waiting for the redirect
ZERO_DECIMAL = {"HUF", "JPY", "TWD"}  # PayPal refuses decimals for these
SIGNATURE_HEADERS = [
    "PAYPAL-TRANSMISSION-ID",
    "PAYPAL-TRANSMISSION-TIME",
    "PAYPAL-TRANSMISSION-SIG",
    "PAYPAL-CERT-URL",
    "PAYPAL-AUTH-ALGO",
]
# What the SDK raises: its HTTP errors, network errors, bad JSON or configuration.
SDK_ERRORS = (paypal_errors.ConnectionError, requests.RequestException, ValueError)


# PayPal's access tokens live about 9 hours and it rate-limits requests for new ones. Each
# process keeps one per configuration (`_api_for`) and asks for the next this long before
# the current one expires, so that no request leaves with a token about to lapse.
TOKEN_RENEWAL_MARGIN = 300  # seconds


class _Api(paypalrestsdk.Api):
    def __init__(self, options: dict) -> None:
        super().__init__(options)
        # One client serves the process's threads (the ASGI server's sync workers too).
        self._token_lock = threading.Lock()

    # The SDK calls requests without a timeout: a PayPal that does not answer would hold
    # the worker forever.
    def http_call(self, url, method, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return super().http_call(url, method, **kwargs)

    def get_token_hash(self, authorization_code=None, refresh_token=None, headers=None):
        """The SDK's cached client-credentials token, asked for by one thread at a time."""
        if authorization_code or refresh_token:
            return super().get_token_hash(authorization_code, refresh_token, headers)
        with self._token_lock:
            self.validate_token_hash()
            token = self.token_hash  # the SDK forgets it on a 401: keep the one checked
            return token if token is not None else super().get_token_hash(headers=headers)

    def validate_token_hash(self) -> None:
        """Forget the token TOKEN_RENEWAL_MARGIN before it expires (the SDK waits until
        the second it does)."""
        lifetime = (self.token_hash or {}).get("expires_in")
        if self.token_request_at and lifetime is not None:
            age = (datetime.now() - self.token_request_at).total_seconds()
            if age > lifetime - TOKEN_RENEWAL_MARGIN:
                self.token_hash = None


def _api() -> _Api:
    """The process's client for the configured account: the SDK's default one is a global
    configured from os.environ, and a client per call asked PayPal for a token per call."""
    return _api_for(
        settings.PAYPAL_MODE,
        settings.PAYPAL_CLIENT_ID,
        settings.PAYPAL_CLIENT_SECRET,
        settings.PAYPAL_API_BASE.rstrip("/"),
    )


@functools.lru_cache(maxsize=8)
def _api_for(mode: str, client_id: str, client_secret: str, endpoint: str) -> _Api:
    options = {"mode": mode, "client_id": client_id, "client_secret": client_secret}
    if endpoint:
        options["endpoint"] = endpoint  # OAuth follows it
    return _Api(options)


def _amount(amount: Decimal, currency: str) -> dict:
    places = 0 if currency.upper() in ZERO_DECIMAL else 2
    return {"total": f"{amount:.{places}f}", "currency": currency.upper()}


def start_checkout(payment: Payment) -> str:
    """Create the PayPal payment for `payment`, save its id and approval URL, return the URL."""
    site = settings.SITE_URL.rstrip("/")
    query = urlencode({"payment": payment.pk})
    try:
        paypal_payment = paypalrestsdk.Payment(
            {
                "intent": "sale",
                "payer": {"payment_method": "paypal"},
                "redirect_urls": {
                    "return_url": f"{site}/payments/paypal/return?{query}",
                    "cancel_url": f"{site}/payments/paypal/cancel?{query}",
                },
                "transactions": [
                    {
                        "amount": _amount(payment.amount, payment.currency),
                        "description": f"Volx {payment.plan.name} ({payment.billing_cycle})",
                        "invoice_number": payment.reference_code,
                        "custom": str(payment.pk),
                    }
                ],
            },
            api=_api(),
        )
        created = paypal_payment.create()
    except SDK_ERRORS as error:
        raise GatewayError(str(error)) from error
    if not created:
        raise GatewayError(f"PayPal refused the payment: {paypal_payment.error}")
    links = paypal_payment.links or []
    approval_url = next((link.href for link in links if link.rel == "approval_url"), None)
    if not approval_url:
        raise GatewayError(f"PayPal returned payment {paypal_payment.id} without approval_url")
    payment.provider_reference = paypal_payment.id
    payment.checkout_url = approval_url
    payment.save(update_fields=["provider_reference", "checkout_url", "updated_at"])
    return approval_url


def checkout_token(payment: Payment) -> str:
    """The token of the approval URL PayPal answered for `payment` ("" without one).

    PayPal adds the same token to the cancel_url when the buyer gives up: only a buyer who
    was at PayPal for this payment has it, a link on another site does not.
    """
    query = parse_qs(urlsplit(payment.checkout_url).query)
    return (query.get("token") or [""])[0]


def execute(payment: Payment, *, paypal_payment_id: str, payer_id: str) -> None:
    """The buyer approved at PayPal and came back: take the money and settle the payment.

    Confirms only what PayPal reports as approved with a completed sale of the payment's
    amount. Raises GatewayError when PayPal refuses or cannot be reached (nothing changes).
    """
    if not paypal_payment_id or paypal_payment_id != payment.provider_reference:
        raise GatewayError(f"PayPal payment {paypal_payment_id!r} is not payment {payment.pk}'s")
    try:
        paypal_payment = paypalrestsdk.Payment.find(paypal_payment_id, api=_api())
        if not paypal_payment.success():
            raise GatewayError(f"PayPal did not find the payment: {paypal_payment.error}")
        # Already executed (the return page reloaded, or its first answer was lost):
        # executing again would fail, and what PayPal holds is the answer anyway.
        if paypal_payment.state != "approved" and not paypal_payment.execute(
            {"payer_id": payer_id}
        ):
            raise GatewayError(f"PayPal did not execute the payment: {paypal_payment.error}")
        answer = paypal_payment.to_dict()
    except SDK_ERRORS as error:
        raise GatewayError(str(error)) from error
    try:
        transaction = answer["transactions"][0]
        amount = Decimal(transaction["amount"]["total"])
        currency = transaction["amount"]["currency"]
        sale = transaction["related_resources"][0]["sale"]
    except (KeyError, IndexError, TypeError, InvalidOperation) as error:
        raise GatewayError(f"unexpected answer from PayPal: {error!r}") from error
    if answer.get("state") != "approved" or sale.get("state") != "completed":
        return  # not money yet (e.g. an eCheck): PAYMENT.SALE.COMPLETED will bring it
    settle(payment, amount=amount, currency=currency, transaction_id=sale["id"], source="PayPal")


# --- webhooks -------------------------------------------------------------------------


def is_paypal_url(url: str) -> bool:
    """https on paypal.com or one of its subdomains, with no user info and no port."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.netloc.lower() == host  # rules out "paypal.com@evil.example", ports
        and (host == "paypal.com" or host.endswith(".paypal.com"))
    )


def verified_event(payload: bytes, headers: Mapping[str, str]) -> dict:
    """The event in `payload` if PayPal confirms the transmission's signature.

    Raises UnverifiedEvent for a forgery, GatewayError if PayPal cannot be asked. The
    headers are checked before any outbound call: a certificate URL off PayPal's hosts is
    refused without being passed on.
    """
    if missing := [name for name in SIGNATURE_HEADERS if not headers.get(name)]:
        raise UnverifiedEvent(f"missing headers: {', '.join(missing)}")
    if not is_paypal_url(headers["PAYPAL-CERT-URL"]):
        raise UnverifiedEvent("PAYPAL-CERT-URL is not an https URL on a PayPal host")
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise UnverifiedEvent("the body is not JSON") from error
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise UnverifiedEvent("not a PayPal event")
    verification = {
        "auth_algo": headers["PAYPAL-AUTH-ALGO"],
        "cert_url": headers["PAYPAL-CERT-URL"],
        "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
        "webhook_id": settings.PAYPAL_WEBHOOK_ID,
        "webhook_event": event,
    }
    try:
        answer = _api().post("v1/notifications/verify-webhook-signature", verification)
    except SDK_ERRORS as error:
        raise GatewayError(str(error)) from error
    if answer.get("verification_status") != "SUCCESS":
        status = answer.get("verification_status") or answer.get("error")
        raise UnverifiedEvent(f"PayPal did not verify the signature: {status}")
    return event


def process_event(event: dict) -> None:
    """Act on a verified event. Unknown types are ignored; an event about a payment Volx
    does not know raises IgnoredEvent; any other failure raises, so that it is recorded as
    failed and PayPal delivers it again."""
    handler = HANDLERS.get(event.get("event_type"))
    if handler:
        handler(event["resource"])


def _sale_completed(sale: dict) -> None:
    parent = sale.get("parent_payment")
    payment = None
    if parent:
        payment = Payment.objects.filter(
            method=Payment.Method.PAYPAL, provider_reference=parent
        ).first()
    if payment is None:
        raise IgnoredEvent(f"no payment for PayPal payment {parent} (sale {sale.get('id')})")
    if sale.get("state") != "completed":
        return
    settle(
        payment,
        amount=Decimal(sale["amount"]["total"]),
        currency=sale["amount"]["currency"],
        transaction_id=sale["id"],
        source="PayPal",
    )
    record_references(payment, provider_transaction_id=sale["id"])


def _sale_refunded(refund: dict) -> None:
    sale_id, parent = refund.get("sale_id"), refund.get("parent_payment")
    payment = None
    if sale_id:
        payment = Payment.objects.filter(
            method=Payment.Method.PAYPAL, provider_transaction_id=sale_id
        ).first()
    if payment is None and parent:
        # Refunded before its completion was processed: the sale is not recorded yet.
        payment = Payment.objects.filter(
            method=Payment.Method.PAYPAL, provider_reference=parent
        ).first()
    if payment is None:
        raise IgnoredEvent(f"no payment for PayPal sale {sale_id} (refund {refund.get('id')})")
    Wallet(payment.user_id).lock()  # lock order: the user row before the payment's
    refunded = abs(Decimal(refund["amount"]["total"]))  # PayPal may send it negative
    source = f"PayPal refund {refund.get('id')} of sale {sale_id}"
    currency = refund["amount"].get("currency") or ""
    # A refund reverses a whole grant (docs/rules.md, Refund): only the payment's own amount
    # in its own currency. What a partial refund, or one in another currency, takes back
    # is the operator's call.
    if mismatch := money_mismatch(payment, amount=refunded, currency=currency, source=source):
        payment.flag_for_review(mismatch)
    else:
        payment.refund(reason=f"PayPal refunded sale {sale_id}")
    record_references(payment, provider_transaction_id=sale_id)


HANDLERS = {
    "PAYMENT.SALE.COMPLETED": _sale_completed,
    "PAYMENT.SALE.REFUNDED": _sale_refunded,
}
