"""References and idempotency keys fit the ledger's columns, whatever they are built from."""

import pytest

from tokens import references
from tokens.models import LedgerEntry

LONG = "x" * 500
BUILDERS = [
    references.stripe_invoice,
    references.admin_bonus,
    references.bonus_by,
    references.plan,
    references.expiry,
]


def test_the_length_is_the_columns():
    for column in ("reference", "idempotency_key"):
        assert LedgerEntry._meta.get_field(column).max_length == references.MAX_LENGTH


@pytest.mark.parametrize("build", BUILDERS, ids=lambda build: build.__name__)
def test_a_long_one_is_cut_to_the_column_and_keeps_its_beginning(build):
    short, long = build("abc"), build(LONG)
    assert len(long) == references.MAX_LENGTH
    assert long.startswith(short.removesuffix("abc") + "xxxx")


@pytest.mark.parametrize("build", BUILDERS, ids=lambda build: build.__name__)
def test_two_long_ones_with_the_same_beginning_stay_apart(build):
    assert build(LONG + "a") != build(LONG + "b")


def test_a_short_one_is_unchanged():
    assert references.bonus_by("ana") == "bonus by ana"
    assert references.stripe_invoice("in_1") == "stripe-invoice:in_1"
