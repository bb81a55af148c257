"""What a ledger entry names as its cause (`reference`) and the key that makes a grant happen
once (`idempotency_key`), spelled in one place: the code that writes an entry and the code
that looks for it later (a refund finding its grant, a replayed webhook) must agree.

Each fits its column: one built from something longer (a 150-character username, a
provider's id) is cut, and ends in a digest of the whole so that two long ones that share
their beginning stay apart, as keys must.
"""

import hashlib

# The ledger's reference and idempotency_key columns (tokens/models.py).
MAX_LENGTH = 100
_DIGEST = 16


def _fitted(text: str) -> str:
    if len(text) <= MAX_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:_DIGEST]
    return f"{text[: MAX_LENGTH - _DIGEST - 1]}~{digest}"


# The free tokens given at registration: one such entry per user.
REGISTRATION = "registration"


def hold(hold_id: int) -> str:
    """A hold's entries: the debit that set the tokens aside and any release."""
    return f"hold:{hold_id}"


def payment(payment_id: int) -> str:
    """A confirmed payment's grant, as its reference and its idempotency key."""
    return f"payment:{payment_id}"


def refund(payment_id: int) -> str:
    """The reversal of a refunded payment's grant (its reference is the payment's)."""
    return f"refund:{payment_id}"


def stripe_invoice(invoice_id: str) -> str:
    """A renewal paid by a Stripe subscription invoice, as reference and key."""
    return _fitted(f"stripe-invoice:{invoice_id}")


def admin_bonus(grant_id: str) -> str:
    """A bonus granted in the admin; the id comes with the form, so a resubmitted form
    grants nothing twice."""
    return _fitted(f"admin-bonus:{grant_id}")


def admin_take_back(grant_id: str) -> str:
    """Tokens an admin took back, keyed like a bonus."""
    return _fitted(f"admin-take-back:{grant_id}")


def bonus_by(username: str) -> str:
    return _fitted(f"bonus by {username}")


def taken_back_by(username: str) -> str:
    return _fitted(f"taken back by {username}")


def plan(slug: str) -> str:
    """A plan's own grant when no payment caused it (the free plan at registration)."""
    return _fitted(f"plan:{slug}")


def expiry(plan_slug: str) -> str:
    """The forfeit of an expired paid plan's balance."""
    return _fitted(f"expiry:{plan_slug}")
