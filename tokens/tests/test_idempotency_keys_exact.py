"""Idempotency keys are exact strings: another case, accent or a trailing space is another
key. MySQL's default collation (utf8mb4_unicode_ci) compares them loosely, so the key
columns are binary there (SQLite compares bytes already)."""

import pytest

from accounts.tests.factories import UserFactory
from tokens.models import IdempotencyRecord, LedgerEntry
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db

LOOKALIKES = ["Click-x-A", "click-x-á", "click-x-a ", "CLICK-X-A"]


@pytest.mark.parametrize("other", LOOKALIKES)
def test_a_key_that_only_looks_the_same_is_another_request(other):
    user = UserFactory()
    first, created = IdempotencyRecord.claim(user, "click-x-a", "fingerprint-1")
    assert created

    record, created = IdempotencyRecord.claim(user, other, "fingerprint-2")

    assert created  # runs: not a replay of click-x-a, not a 422 for another body
    assert record.key == other
    assert IdempotencyRecord.objects.filter(user=user).count() == 2
    assert IdempotencyRecord.objects.get(user=user, key="click-x-a") == first


@pytest.mark.parametrize("other", LOOKALIKES)
def test_ledger_keys_are_exact_too(other):
    user = UserFactory()
    wallet = Wallet(user)
    first = wallet.credit(5, kind=LedgerEntry.Kind.BONUS, idempotency_key="click-x-a")

    second = wallet.credit(7, kind=LedgerEntry.Kind.BONUS, idempotency_key=other)

    assert second.pk != first.pk
    user.refresh_from_db()
    assert user.tokens_remaining == 10_000 + 5 + 7
    # The same key again is still one credit.
    assert wallet.credit(5, kind=LedgerEntry.Kind.BONUS, idempotency_key="click-x-a") == first
