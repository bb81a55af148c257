"""User.adjust_tokens: an admin's bonus or take-back, the one method behind the admin
API and the admin action (the allowance stays: docs/rules.md, "Admin bonus")."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import User
from tokens.models import LedgerEntry

pytestmark = pytest.mark.django_db


def numbers(user) -> tuple[int, int]:
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return user.tokens_remaining, user.subscription.tokens_limit


def test_a_bonus_adds_to_the_balance_and_names_the_admin(user, admin_user, ledger_sum):
    entry = user.adjust_tokens(5_000, reason="sorry for the outage", by=admin_user)

    assert numbers(user) == (15_000, 10_000)
    assert (entry.kind, entry.delta, entry.balance_after) == ("bonus", 5_000, 15_000)
    assert (entry.actor, entry.note, entry.reference) == (
        admin_user,
        "sorry for the outage",
        f"bonus by {admin_user.username}",
    )
    assert ledger_sum(user) == 15_000


def test_the_same_key_adjusts_once(user, admin_user):
    first = user.adjust_tokens(5_000, reason="x", by=admin_user, key="grant-1")
    again = user.adjust_tokens(5_000, reason="x", by=admin_user, key="grant-1")

    assert first is not None and again is None
    assert numbers(user) == (15_000, 10_000)
    assert LedgerEntry.objects.filter(user=user, kind="bonus").count() == 1


def test_taking_back_lowers_the_balance_and_names_the_admin(user, admin_user, ledger_sum):
    entry = user.adjust_tokens(-3_000, reason="granted by mistake", by=admin_user)

    assert numbers(user) == (7_000, 10_000)  # the allowance stays
    assert (entry.kind, entry.delta, entry.balance_after) == ("taken_back", -3_000, 7_000)
    assert (entry.actor, entry.note, entry.reference) == (
        admin_user,
        "granted by mistake",
        f"taken back by {admin_user.username}",
    )
    assert ledger_sum(user) == 7_000


def test_taking_back_never_goes_below_zero_and_records_the_shortfall(user, admin_user, ledger_sum):
    entry = user.adjust_tokens(-25_000, reason="abuse", by=admin_user)

    assert numbers(user) == (0, 10_000)
    assert entry.delta == -10_000
    assert entry.note.startswith("abuse") and "shortfall 15000" in entry.note
    assert ledger_sum(user) == 0


def test_taking_back_with_the_same_key_takes_once(user, admin_user):
    user.adjust_tokens(-1_000, reason="x", by=admin_user, key="back-1")
    assert user.adjust_tokens(-1_000, reason="x", by=admin_user, key="back-1") is None
    assert numbers(user) == (9_000, 10_000)


@pytest.mark.parametrize("tokens", [0, 1.5, True])
def test_an_adjustment_is_a_whole_number_of_tokens(user, admin_user, tokens):
    with pytest.raises(ValueError):
        user.adjust_tokens(tokens, reason="x", by=admin_user)
    assert numbers(user) == (10_000, 10_000)


def test_an_adjustment_needs_a_reason(user, admin_user):
    with pytest.raises(ValueError):
        user.adjust_tokens(100, reason="  ", by=admin_user)
    assert numbers(user) == (10_000, 10_000)


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_adjustments_with_one_key_apply_and_report_once():
    """Without the row lock before the key is looked for, every caller misses it: the
    wallet still credits once, but each caller reports a grant of its own."""
    from accounts.tests.factories import AdminFactory, UserFactory

    user, admin = UserFactory(), AdminFactory()
    start = threading.Barrier(5)

    def adjust(_):
        start.wait()
        try:
            return User.objects.get(pk=user.pk).adjust_tokens(
                1_000, reason="x", by=admin, key="same"
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(adjust, range(5)))

    assert sum(result is not None for result in results) == 1
    assert numbers(user) == (11_000, 10_000)
