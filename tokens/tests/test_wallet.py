"""The seed numbers and the wallet's rules (docs/rules.md, Rules)."""

import pytest

from accounts.models import User
from subscriptions.models import Plan
from tokens.models import LedgerEntry, TokenHold, TokenUsage
from tokens.wallet import HoldClosed, InsufficientTokens, Wallet


def numbers(user) -> tuple[int, int]:
    """(remaining, limit) as the user sees them."""
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return user.tokens_remaining, user.subscription.tokens_limit


def fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


pytestmark = pytest.mark.django_db


def test_register_gives_10000_of_10000(user, ledger_sum):
    assert numbers(user) == (10_000, 10_000)
    assert ledger_sum(user) == 10_000


def test_a_300_debit_leaves_9700_of_10000(user, ledger_sum):
    entry = Wallet(user).debit(300, action="seo_title")

    assert numbers(user) == (9_700, 10_000)
    assert (entry.delta, entry.balance_after) == (-300, 9_700)
    assert TokenUsage.objects.get(user=user).tokens_used == 300
    assert ledger_sum(user) == 9_700


def test_debit_refused_below_zero_changes_nothing(user, ledger_sum):
    Wallet(user).debit(9_900)

    with pytest.raises(InsufficientTokens) as refused:
        Wallet(user).debit(300, action="seo_title")

    assert (refused.value.remaining, refused.value.required, refused.value.missing) == (
        100,
        300,
        200,
    )
    assert numbers(user) == (100, 10_000)
    assert not TokenUsage.objects.exists()
    assert ledger_sum(user) == 100


def test_a_user_at_zero_stays_at_zero_and_is_refused(user, ledger_sum):
    Wallet(user).debit(10_000)
    assert numbers(user) == (0, 10_000)

    assert Wallet(user).balance() == 0  # 0 is a real balance: never "re-initialised"
    with pytest.raises(InsufficientTokens):
        Wallet(user).debit(1)
    assert numbers(user) == (0, 10_000)
    assert ledger_sum(user) == 0


@pytest.mark.parametrize("amount", [0, -5, 1.5, "300", True])
def test_amounts_must_be_positive_integers(user, amount):
    with pytest.raises(ValueError):
        Wallet(user).debit(amount)
    with pytest.raises(ValueError):
        Wallet(user).credit(amount)
    assert numbers(user) == (10_000, 10_000)


def test_the_database_refuses_a_negative_balance(user):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(tokens_remaining=-1)


def test_null_balance_is_restored_from_the_ledger(user, ledger_sum):
    Wallet(user).debit(300)
    User.objects.filter(pk=user.pk).update(tokens_remaining=None)  # a hand-edited row

    assert Wallet(user).balance() == 9_700
    assert numbers(user) == (9_700, 10_000)
    opening = LedgerEntry.objects.filter(user=user).latest("id")
    assert (opening.kind, opening.delta, opening.balance_after) == ("opening_balance", 0, 9_700)
    assert ledger_sum(user) == 9_700


def test_null_balance_without_ledger_is_restored_from_the_plan_allowance(user):
    LedgerEntry.objects.filter(user=user).delete()  # a legacy user from the old system
    User.objects.filter(pk=user.pk).update(tokens_remaining=None)

    assert Wallet(user).balance() == 10_000
    opening = LedgerEntry.objects.get(user=user)
    assert (opening.kind, opening.delta, opening.balance_after) == (
        "opening_balance",
        10_000,
        10_000,
    )


def test_null_balance_is_restored_before_a_debit(user, ledger_sum):
    User.objects.filter(pk=user.pk).update(tokens_remaining=None)
    Wallet(user).debit(300)
    assert numbers(user) == (9_700, 10_000)
    assert ledger_sum(user) == 9_700


def test_professional_plan_for_a_user_at_10000(user, ledger_sum):
    user.subscription.change_plan(Plan.objects.get(slug="professional"), reference="test")
    assert numbers(user) == (2_010_000, 2_010_000)
    assert ledger_sum(user) == 2_010_000


def test_professional_plan_for_a_user_at_9700(user):
    Wallet(user).debit(300)
    user.subscription.change_plan(Plan.objects.get(slug="professional"), reference="test")
    assert numbers(user) == (2_009_700, 2_009_700)


def test_bonus_500000_at_2000000_keeps_the_limit(user, admin_user, client_for):
    reset_to(user, plan="professional", tokens=2_000_000)
    assert numbers(user) == (2_000_000, 2_000_000)

    response = client_for(admin_user).post(
        f"/api/admin/users/{user.pk}/bonus",
        {"tokens": 500_000, "reason": "launch promotion"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["tokens_remaining"] == 2_500_000
    assert response.json()["subscription"]["tokens_limit"] == 2_000_000
    assert numbers(user) == (2_500_000, 2_000_000)
    bonus = LedgerEntry.objects.filter(user=user).latest("id")
    assert (bonus.kind, bonus.delta, bonus.actor, bonus.note) == (
        "bonus",
        500_000,
        admin_user,
        "launch promotion",
    )


def reset_to(user, *, plan: str, tokens: int):
    """A professional subscriber at exactly 2,000,000 / 2,000,000 (the reset policy)."""
    from django.test import override_settings

    with override_settings(TOKENS_ON_PLAN_CHANGE="reset"):
        user.subscription.change_plan(Plan.objects.get(slug=plan), reference="test")
    assert numbers(user) == (tokens, tokens)


def test_reset_policy_forfeits_the_old_balance_in_the_ledger(user, ledger_sum):
    Wallet(user).debit(300)
    reset_to(user, plan="professional", tokens=2_000_000)

    forfeit = LedgerEntry.objects.get(user=user, kind="forfeit")
    assert forfeit.delta == -9_700
    assert ledger_sum(user) == 2_000_000


def test_plan_change_with_the_same_idempotency_key_applies_once(user):
    professional = Plan.objects.get(slug="professional")
    assert user.subscription.change_plan(professional, reference="p", idempotency_key="payment:1")
    assert not user.subscription.change_plan(
        professional, reference="p", idempotency_key="payment:1"
    )
    assert numbers(user) == (2_010_000, 2_010_000)


def test_plan_change_sets_the_plan_fields(user):
    starter = Plan.objects.get(slug="starter")
    user.subscription.change_plan(starter, reference="t", billing_cycle="annual")
    sub = User.objects.get(pk=user.pk).subscription
    assert (sub.plan_type, sub.articles_limit, sub.billing_cycle) == (
        "starter",
        starter.articles_limit,
        "annual",
    )
    assert sub.features == starter.features


def test_credit_with_an_idempotency_key_applies_once(user):
    first = Wallet(user).credit(50, kind="bonus", idempotency_key="k1")
    again = Wallet(user).credit(50, kind="bonus", idempotency_key="k1")
    assert first.pk == again.pk
    assert numbers(user) == (10_050, 10_000)


class TestHolds:
    def test_hold_then_settle_charges_once_and_writes_usage(self, user, ledger_sum):
        hold = Wallet(user).hold(400, action="meta_description")
        assert numbers(user)[0] == 9_600

        usage = Wallet(user).settle(hold)

        assert numbers(user) == (9_600, 10_000)
        assert (usage.action, usage.tokens_used) == ("meta_description", 400)
        assert TokenHold.objects.get(pk=hold.pk).status == "settled"
        assert ledger_sum(user) == 9_600

    def test_settle_for_less_returns_the_rest(self, user, ledger_sum):
        hold = Wallet(user).hold(2_000, action="rewrite")
        Wallet(user).settle(hold, cost=1_200)
        assert numbers(user)[0] == 8_800
        assert TokenUsage.objects.get().tokens_used == 1_200
        assert ledger_sum(user) == 8_800

    def test_release_costs_nothing_and_writes_no_usage(self, user, ledger_sum):
        hold = Wallet(user).hold(300, action="seo_title")
        Wallet(user).release(hold)
        assert numbers(user)[0] == 10_000
        assert not TokenUsage.objects.exists()
        assert ledger_sum(user) == 10_000

    def test_a_hold_closes_once(self, user):
        hold = Wallet(user).hold(300, action="seo_title")
        Wallet(user).settle(hold)
        with pytest.raises(HoldClosed):
            Wallet(user).release(hold)
        with pytest.raises(HoldClosed):
            Wallet(user).settle(hold)
        assert numbers(user)[0] == 9_700
        assert TokenUsage.objects.filter(user=user).count() == 1

    def test_the_rows_returned_are_the_rows_written(self, user):
        """hold() and settle() return exactly the rows the database holds, and the hold's
        ledger entry names the hold and the balance it left."""
        hold = Wallet(user).hold(400, action="meta_description")
        usage = Wallet(user).settle(hold, provider_tokens=57)

        assert fields(TokenHold.objects.get(pk=hold.pk)) == fields(hold)
        assert fields(TokenUsage.objects.get(pk=usage.pk)) == fields(usage)
        assert (usage.user_id, usage.tokens_used, usage.provider_tokens) == (user.pk, 400, 57)
        entry = LedgerEntry.objects.get(user=user, kind=LedgerEntry.Kind.HOLD)
        assert (entry.reference, entry.delta, entry.balance_after) == (
            f"hold:{hold.pk}",
            -400,
            hold.balance_after,
        )

    def test_a_hold_on_a_null_balance_restores_it_first(self, user, ledger_sum):
        User.objects.filter(pk=user.pk).update(tokens_remaining=None)
        hold = Wallet(user).hold(300, action="seo_title")
        assert (hold.balance_after, numbers(user)[0], ledger_sum(user)) == (9_700, 9_700, 9_700)
        entry = LedgerEntry.objects.filter(user=user).latest("id")
        assert (entry.kind, entry.reference) == ("hold", f"hold:{hold.pk}")

    def test_hold_refused_when_short(self, user):
        Wallet(user).debit(9_800)
        with pytest.raises(InsufficientTokens):
            Wallet(user).hold(300, action="seo_title")
        assert not TokenHold.objects.exists()
        assert numbers(user)[0] == 200

    def test_settle_cannot_charge_more_than_held(self, user):
        hold = Wallet(user).hold(300, action="seo_title")
        with pytest.raises(ValueError):
            Wallet(user).settle(hold, cost=301)
        assert numbers(user)[0] == 9_700
