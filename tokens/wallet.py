"""The wallet: the one path by which a user's token balance changes.

`users.tokens_remaining` is a cache of SUM(token_ledger.delta) for the user. Every method
here locks the user's row (`SELECT … FOR UPDATE`), checks, then writes the new balance
and its ledger entry in the same transaction. The row lock is what makes concurrent
debits exact on MySQL/MariaDB: without it two requests read the same balance and both
spend it (the old system's lost update). Lock order, everywhere in Volx: the user row
first, then any other row (hold, subscription, payment).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import User
from tokens.models import LedgerEntry, TokenHold, TokenUsage
from tokens.signals import balance_lowered

Kind = LedgerEntry.Kind


class InsufficientTokens(Exception):
    """A debit would take the balance below zero (SPEC §2 rule 5)."""

    def __init__(self, remaining: int, required: int):
        self.remaining = remaining
        self.required = required
        self.missing = required - remaining
        super().__init__(f"{required} tokens required, {remaining} remaining")


class HoldClosed(Exception):
    """The hold was already settled or released."""


class Wallet:
    def __init__(self, user: User | int):
        self.user_id: int = getattr(user, "pk", user)

    # --- reading --------------------------------------------------------------

    def balance(self) -> int:
        """The spendable balance; a NULL balance is restored first (rule 6)."""
        balance = self._users().values_list("tokens_remaining", flat=True).get()
        if balance is None:
            with transaction.atomic():
                balance = self._lock()
        return balance

    def lock(self) -> int:
        """Lock the user's row for the rest of the caller's transaction; return the balance.

        For callers that change other rows together with the balance (a plan change):
        taking this lock first keeps the lock order the same everywhere.
        """
        return self._lock()

    def has_entry(self, idempotency_key: str) -> bool:
        return LedgerEntry.objects.filter(
            user_id=self.user_id, idempotency_key=idempotency_key
        ).exists()

    # --- moving tokens --------------------------------------------------------

    def credit(
        self,
        amount: int,
        *,
        kind: str = Kind.GRANT,
        reference: str = "",
        idempotency_key: str | None = None,
        actor: User | None = None,
        note: str = "",
    ) -> LedgerEntry:
        """Add tokens. With an idempotency key, a repeated credit returns the first entry."""
        _require_positive(amount)
        with transaction.atomic():
            balance = self._lock()
            if idempotency_key and (done := self._entry_with_key(idempotency_key)):
                return done
            return self._write(balance, amount, kind, reference, idempotency_key, actor, note)

    def debit(
        self,
        amount: int,
        *,
        kind: str = Kind.DEBIT,
        reference: str = "",
        idempotency_key: str | None = None,
        actor: User | None = None,
        note: str = "",
        action: str | None = None,
        article_id: int | None = None,
    ) -> LedgerEntry:
        """Spend tokens, or raise InsufficientTokens and change nothing.

        With `action`, the spending is also written to the usage history (rule 2).
        """
        _require_positive(amount)
        with transaction.atomic():
            balance = self._lock()
            if idempotency_key and (done := self._entry_with_key(idempotency_key)):
                return done
            if balance < amount:
                raise InsufficientTokens(remaining=balance, required=amount)
            entry = self._write(balance, -amount, kind, reference, idempotency_key, actor, note)
            if action:
                TokenUsage.objects.create(
                    user_id=self.user_id, action=action, tokens_used=amount, article_id=article_id
                )
            self._lowered(balance, entry.balance_after)
            return entry

    def debit_up_to(
        self,
        amount: int,
        *,
        kind: str,
        reference: str = "",
        idempotency_key: str | None = None,
        actor: User | None = None,
        note: str = "",
    ) -> LedgerEntry:
        """Take back up to `amount` without going below 0 (a refund reversal, rule 11).

        The shortfall is written in the entry's note; at a balance of 0 the entry has
        delta 0, so the reversal and what could not be taken back are still on record.
        """
        _require_positive(amount)
        with transaction.atomic():
            balance = self._lock()
            if idempotency_key and (done := self._entry_with_key(idempotency_key)):
                return done
            taken = min(balance, amount)
            if taken < amount:
                note = f"{note} (shortfall {amount - taken}: balance was {balance})".strip()
            return self._write(balance, -taken, kind, reference, idempotency_key, actor, note)

    def forfeit(self, *, reference: str = "", note: str = "", actor: User | None = None):
        """Take the whole balance (plan reset, expiry with forfeit). None when already 0."""
        with transaction.atomic():
            balance = self._lock()
            if balance == 0:
                return None
            return self._write(balance, -balance, Kind.FORFEIT, reference, None, actor, note)

    # --- holds for AI actions -------------------------------------------------

    def hold(self, amount: int, *, action: str) -> TokenHold:
        """Set `amount` aside before running an AI action; raises InsufficientTokens."""
        _require_positive(amount)
        with transaction.atomic():
            balance = self._lock()
            if balance < amount:
                raise InsufficientTokens(remaining=balance, required=amount)
            hold = TokenHold.objects.create(user_id=self.user_id, amount=amount, action=action)
            self._write(balance, -amount, Kind.HOLD, f"hold:{hold.pk}", None, None, "")
            self._lowered(balance, balance - amount)
            return hold

    def settle(
        self,
        hold: TokenHold,
        *,
        cost: int | None = None,
        article_id: int | None = None,
        provider_tokens: int | None = None,
    ) -> TokenUsage:
        """Charge a hold: the usage row is written and any unused part returned."""
        cost = hold.amount if cost is None else cost
        if not 0 <= cost <= hold.amount:
            raise ValueError(f"cost {cost} outside 0..{hold.amount} held")
        with transaction.atomic():
            balance = self._lock()
            hold = self._lock_open_hold(hold.pk)
            if cost < hold.amount:
                self._write(
                    balance,
                    hold.amount - cost,
                    Kind.RELEASE,
                    f"hold:{hold.pk}",
                    None,
                    None,
                    "unused part of the hold",
                )
            self._close(hold, TokenHold.Status.SETTLED)
            return TokenUsage.objects.create(
                user_id=self.user_id,
                action=hold.action,
                tokens_used=cost,
                article_id=article_id,
                provider_tokens=provider_tokens,
            )

    def release(self, hold: TokenHold) -> None:
        """Give a hold back in full (the AI action failed: it costs nothing, rule I5)."""
        with transaction.atomic():
            balance = self._lock()
            hold = self._lock_open_hold(hold.pk)
            self._write(balance, hold.amount, Kind.RELEASE, f"hold:{hold.pk}", None, None, "")
            self._close(hold, TokenHold.Status.RELEASED)

    # --- internals ------------------------------------------------------------

    def _users(self):
        return User.objects.filter(pk=self.user_id)

    def _lock(self) -> int:
        """Lock the user's row until the transaction ends; return its balance."""
        balance = self._users().select_for_update().values_list("tokens_remaining", flat=True).get()
        if balance is None:
            balance = self._restore_null()
        return balance

    def _restore_null(self) -> int:
        """Rule 6: NULL becomes the ledger sum if there is a ledger, else the plan allowance.

        Only NULL: 0 is a real balance and is never refilled. The opening_balance entry
        records the restoration and keeps SUM(delta) equal to the balance.
        """
        ledger = LedgerEntry.objects.filter(user_id=self.user_id).aggregate(
            total=Sum("delta"), entries=Count("id")
        )
        total = ledger["total"] or 0
        if ledger["entries"]:
            restored, source = max(0, total), "the ledger"
        else:
            limit = self._users().values_list("subscription__tokens_limit", flat=True).get()
            restored, source = limit or 0, "the plan allowance"
        note = f"NULL balance restored from {source}"
        self._write(total, restored - total, Kind.OPENING_BALANCE, "", None, None, note)
        return restored

    def _write(self, balance, delta, kind, reference, idempotency_key, actor, note) -> LedgerEntry:
        new_balance = balance + delta
        self._users().update(tokens_remaining=new_balance)
        return LedgerEntry.objects.create(
            user_id=self.user_id,
            delta=delta,
            balance_after=new_balance,
            kind=kind,
            reference=reference,
            idempotency_key=idempotency_key,
            actor=actor,
            note=note[:255],
        )

    def _lowered(self, balance_before: int, balance_after: int) -> None:
        """Tell other apps that spending lowered the balance (the low-balance e-mail).

        Only debits and holds send it, not refund reversals or forfeits: the notice is
        about the user's own spending. It costs no query here; receivers run in this
        transaction, under this row lock.
        """
        balance_lowered.send(
            sender=Wallet,
            user_id=self.user_id,
            balance_before=balance_before,
            balance_after=balance_after,
        )

    def _entry_with_key(self, key: str) -> LedgerEntry | None:
        return LedgerEntry.objects.filter(user_id=self.user_id, idempotency_key=key).first()

    def _lock_open_hold(self, hold_id: int) -> TokenHold:
        hold = TokenHold.objects.select_for_update().get(pk=hold_id, user_id=self.user_id)
        if hold.status != TokenHold.Status.HELD:
            raise HoldClosed(f"hold {hold_id} is already {hold.status}")
        return hold

    def _close(self, hold: TokenHold, status: str) -> None:
        hold.status = status
        hold.closed_at = timezone.now()
        hold.save(update_fields=["status", "closed_at"])


def balance_summary(user) -> dict:
    """You have / Your plan / Used (SPEC §1): Used = max(0, limit − remaining)."""
    remaining = Wallet(user).balance()
    subscription = getattr(user, "subscription", None)
    limit = subscription.tokens_limit if subscription else 0
    used = max(0, limit - remaining)
    return {
        "remaining": remaining,
        "limit": limit,
        "used": used,
        "used_percent": min(100, round(100 * used / limit)) if limit else 0,
        "subscription": subscription,
    }


def _require_positive(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"amount must be a positive integer, got {amount!r}")
