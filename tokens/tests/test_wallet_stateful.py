"""Hypothesis drives the wallet through random sequences of operations and checks the
invariants after every step: balance ≥ 0, ledger sum == balance, the balance_after chain
is consistent, and a model of the wallet agrees with the database."""

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from accounts.models import User
from accounts.tests.factories import UserFactory
from tokens.models import LedgerEntry
from tokens.wallet import InsufficientTokens, Wallet

amounts = st.integers(min_value=1, max_value=4_000)


class WalletMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    @initialize()
    def register(self):
        self.user = UserFactory()
        self.wallet = Wallet(self.user)
        self.expected = 10_000

    @rule(amount=amounts)
    def credit(self, amount):
        self.wallet.credit(amount, kind="grant")
        self.expected += amount

    @rule(amount=amounts)
    def bonus(self, amount):
        self.wallet.credit(amount, kind="bonus", note="stateful test")
        self.expected += amount

    @rule(amount=amounts)
    def debit(self, amount):
        if amount > self.expected:
            with pytest.raises(InsufficientTokens):
                self.wallet.debit(amount)
        else:
            self.wallet.debit(amount, action="rewrite")
            self.expected -= amount

    @rule(target=holds, amount=amounts)
    def hold(self, amount):
        if amount > self.expected:
            with pytest.raises(InsufficientTokens):
                self.wallet.hold(amount, action="rewrite")
            return None
        self.expected -= amount
        return self.wallet.hold(amount, action="rewrite")

    @rule(hold=consumes(holds), fraction=st.floats(min_value=0, max_value=1))
    def settle(self, hold, fraction):
        if hold is None:
            return
        cost = int(hold.amount * fraction)
        self.wallet.settle(hold, cost=cost)
        self.expected += hold.amount - cost

    @rule(hold=consumes(holds))
    def release(self, hold):
        if hold is None:
            return
        self.wallet.release(hold)
        self.expected += hold.amount

    @rule()
    def forget_balance(self):
        """A hand-edited NULL: restored from the ledger on the next read (docs/rules.md, NULL
        is not 0)."""
        User.objects.filter(pk=self.user.pk).update(tokens_remaining=None)
        assert self.wallet.balance() == self.expected

    @invariant()
    def balance_matches_model_and_ledger(self):
        balance = User.objects.values_list("tokens_remaining", flat=True).get(pk=self.user.pk)
        assert balance == self.expected
        assert balance >= 0
        ledger = LedgerEntry.objects.filter(user=self.user)
        assert ledger.aggregate(s=Sum("delta"))["s"] == balance

    @invariant()
    def balance_after_chain_is_consistent(self):
        running = 0
        for delta, balance_after in (
            LedgerEntry.objects.filter(user=self.user)
            .order_by("id")
            .values_list("delta", "balance_after")
        ):
            running += delta
            assert balance_after == running >= 0


@pytest.mark.django_db
def test_wallet_state_machine():
    run_state_machine_as_test(
        WalletMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
