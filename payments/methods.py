"""Which payment methods are configured, and what each one lacks."""

from django.conf import settings
from django.utils.translation import gettext

from payments.models import Payment

REQUIRED_SETTINGS = {
    Payment.Method.BANK_TRANSFER: [
        "BANK_TRANSFER_BANK_NAME",
        "BANK_TRANSFER_ACCOUNT_NAME",
        "BANK_TRANSFER_ACCOUNT_NUMBER",
    ],
    Payment.Method.STRIPE: ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"],
    Payment.Method.PAYPAL: ["PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID"],
}


def missing_settings(method: str) -> list[str]:
    return [name for name in REQUIRED_SETTINGS[method] if not getattr(settings, name, "")]


def configured_methods() -> list[str]:
    return [method for method in REQUIRED_SETTINGS if not missing_settings(method)]


def bank_details() -> dict:
    return {
        "bank_name": settings.BANK_TRANSFER_BANK_NAME,
        "account_name": settings.BANK_TRANSFER_ACCOUNT_NAME,
        "account_number": settings.BANK_TRANSFER_ACCOUNT_NUMBER,
        "swift": settings.BANK_TRANSFER_SWIFT,
        "instructions": instructions(),
    }


# volx/settings.py's default for BANK_TRANSFER_INSTRUCTIONS, in the translation
# catalogue; text the operator sets is shown as written.
DEFAULT_INSTRUCTIONS = (
    "Put the reference code in the transfer memo; an admin approves the payment when the "
    "money arrives."
)


def instructions() -> str:
    text = settings.BANK_TRANSFER_INSTRUCTIONS
    return gettext(DEFAULT_INSTRUCTIONS) if text == DEFAULT_INSTRUCTIONS else text
