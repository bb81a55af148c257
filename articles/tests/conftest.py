import pytest
from django.db.models import Sum

from tokens.models import LedgerEntry, TokenHold, TokenUsage


@pytest.fixture
def api(user, client_for):
    """The API as `user` (registered: 10,000 tokens, free plan)."""
    return client_for(user)


@pytest.fixture
def wallet_state():
    """What a user would check after an action: balance, ledger sum, usage rows, open holds."""

    def state(user) -> dict:
        user.refresh_from_db()
        return {
            "balance": user.tokens_remaining,
            "ledger_sum": LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"],
            "usage_rows": TokenUsage.objects.filter(user=user).count(),
            "open_holds": TokenHold.objects.filter(user=user, status=TokenHold.Status.HELD).count(),
        }

    return state
