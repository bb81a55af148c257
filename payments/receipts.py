"""What a receipt shows besides the payment: the seller, from settings. Shared by the
receipt page and the payment-approved e-mail's attachment."""

from django.conf import settings


def seller() -> dict:
    return {
        "name": settings.RECEIPT_SELLER_NAME,
        "address_lines": [
            line.strip()
            for line in settings.RECEIPT_SELLER_ADDRESS.replace("\\n", "\n").splitlines()
            if line.strip()
        ],
        "tax_id": settings.RECEIPT_SELLER_TAX_ID,
    }
