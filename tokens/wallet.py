"""The wallet: the one path by which a user's token balance changes.

`users.tokens_remaining` is a cache of SUM(token_ledger.delta) for the user. Every change
is two steps in one transaction, the same statements on every database:

1. `_add(delta)`: one conditional UPDATE, `tokens_remaining + delta WHERE tokens_remaining
   + delta >= 0`, checked by its row count. The check and the write cannot be separated,
   so concurrent debits are exact (the old system read, checked in Python and wrote back:
   two requests spent the same tokens). The UPDATE takes the user's row lock and keeps it
   until the commit.
2. `_write_entry(delta, entry)`: read the balance the UPDATE left (under that lock nothing
   else can change it) and append the ledger row that records it.

Changes that must know the balance or look for an earlier entry before deciding (a
credit, a refund reversal, a forfeit, anything with an idempotency key) first lock the
row with `lock()`. Lock order, everywhere in Volx: the user row first, then any other row
(subscription, payment). A hold's settle or release claims the hold row first, with a
conditional UPDATE, and then touches the user row; nothing else locks a hold, so no
cycle forms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from accounts.models import User
from tokens import references
from tokens.models import LedgerEntry, TokenHold, TokenUsage
from tokens.signals import balance_lowered
from volx.db import retry_transaction

Kind = LedgerEntry.Kind


class InsufficientTokens(Exception):
    """A debit would take the balance below zero (refused with HTTP 402)."""

    def __init__(self, remaining: int, required: int):
        self.remaining = remaining
        self.required = required
        self.missing = required - remaining
        super().__init__(f"{required} tokens required, {remaining} remaining")


class HoldClosed(Exception):
    """The hold was already settled or released."""


@dataclass(frozen=True)
class Entry:
    """What a ledger entry says besides its amount: why the tokens moved and who moved them."""

    kind: str
    reference: str = ""
    idempotency_key: str | None = None
    actor: User | None = None
    note: str = ""


class Wallet:
    def __init__(self, user: User | int):
        self.user_id: int = getattr(user, "pk", user)

    # --- reading --------------------------------------------------------------

    def balance(self) -> int:
        """The spendable balance; a NULL balance is restored first."""
        balance = self._user().values_list("tokens_remaining", flat=True).get()
        if balance is None:
            with transaction.atomic():
                balance = self.lock()
        return balance

    def lock(self) -> int:
        """Lock the user's row for the rest of the caller's transaction; return the balance.

        A NULL balance is restored here. Callers that change other rows together with the
        balance (a plan change, a payment) take this lock first, to keep the lock order.
        """
        balance = self._user().select_for_update().values_list("tokens_remaining", flat=True).get()
        if balance is None:
            balance = self._restore_null()
        return balance

    def has_entry(self, idempotency_key: str) -> bool:
        return LedgerEntry.objects.filter(
            user_id=self.user_id, idempotency_key=idempotency_key
        ).exists()

    # --- moving tokens --------------------------------------------------------

    @retry_transaction
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
        entry = Entry(kind, reference, idempotency_key, actor, note)
        self.lock()  # before looking for the key: two credits with it cannot both miss it
        return self._earlier(entry) or self._change(amount, entry)

    @retry_transaction
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

        With `action`, the spending is also written to the usage history.
        """
        _require_positive(amount)
        entry = Entry(kind, reference, idempotency_key, actor, note)
        if idempotency_key:
            self.lock()
            if done := self._earlier(entry):
                return done
        written = self._change(-amount, entry, announce=True)
        if action:
            self._record_usage(action, amount, article_id=article_id)
        return written

    @retry_transaction
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
        """Take back up to `amount` without going below 0 (a refund reversal).

        The shortfall is written in the entry's note; at a balance of 0 the entry has
        delta 0, so the reversal and what could not be taken back are still on record.
        """
        _require_positive(amount)
        entry = Entry(kind, reference, idempotency_key, actor, note)
        balance = self.lock()
        if done := self._earlier(entry):
            return done
        taken = min(balance, amount)
        if taken < amount:
            shortfall = f"(shortfall {amount - taken}: balance was {balance})"
            entry = replace(entry, note=f"{note} {shortfall}".strip())
        return self._change(-taken, entry)

    @retry_transaction
    def forfeit(
        self, *, reference: str = "", note: str = "", actor: User | None = None
    ) -> LedgerEntry | None:
        """Take the whole balance (plan reset, expiry with forfeit). None when already 0."""
        balance = self.lock()
        if balance == 0:
            return None
        return self._change(-balance, Entry(Kind.FORFEIT, reference, actor=actor, note=note))

    # --- holds for AI actions -------------------------------------------------

    @retry_transaction
    def hold(self, amount: int, *, action: str) -> TokenHold:
        """Set `amount` aside before running an AI action; raises InsufficientTokens.

        `hold.balance_after` (not a column) is the balance the hold left.
        """
        _require_positive(amount)
        # The user row first: inserting the hold takes a shared lock on it too (its
        # foreign key), and two holds each holding that would deadlock on the UPDATE.
        self._add(-amount)
        hold = TokenHold.objects.create(user_id=self.user_id, amount=amount, action=action)
        entry = Entry(Kind.HOLD, references.hold(hold.pk))
        hold.balance_after = self._write_entry(-amount, entry, announce=True).balance_after
        return hold

    @retry_transaction
    def settle(
        self,
        hold: TokenHold,
        *,
        cost: int | None = None,
        article_id: int | None = None,
        provider_tokens: int | None = None,
        result: str = "",
    ) -> TokenUsage:
        """Charge the AI action its hold was for: close the hold, write the usage row for
        `cost` (by default all of it), with the `result` it paid for, and give back the
        unused part."""
        cost = hold.amount if cost is None else cost
        if not 0 <= cost <= hold.amount:
            raise ValueError(f"cost {cost} outside 0..{hold.amount} held")
        self._claim(hold, TokenHold.Status.SETTLED)
        if cost < hold.amount:
            unused = Entry(Kind.RELEASE, references.hold(hold.pk), note="unused part of the hold")
            self._change(hold.amount - cost, unused)
        return self._record_usage(
            hold.action,
            cost,
            article_id=article_id,
            provider_tokens=provider_tokens,
            result=result,
        )

    @retry_transaction
    def release(self, hold: TokenHold) -> None:
        """Give a hold back in full: a failed AI action costs nothing."""
        self._claim(hold, TokenHold.Status.RELEASED)
        self._change(hold.amount, Entry(Kind.RELEASE, references.hold(hold.pk)))

    # --- internals ------------------------------------------------------------

    def _user(self):
        return User.objects.filter(pk=self.user_id)

    def _change(self, delta: int, entry: Entry, *, announce: bool = False) -> LedgerEntry:
        self._add(delta)
        return self._write_entry(delta, entry, announce=announce)

    def _add(self, delta: int) -> None:
        """Add `delta` to the balance, or raise InsufficientTokens and change nothing.

        The conditional UPDATE matches no row when the balance is too low, NULL, or the
        user is gone; the locked read then tells which (it raises DoesNotExist for a
        missing user) and restores a NULL balance, which may now cover `delta`.
        """
        fits = self._user().filter(tokens_remaining__gte=-delta)
        if fits.update(tokens_remaining=F("tokens_remaining") + delta):
            return
        balance = self.lock()
        if balance + delta < 0:
            raise InsufficientTokens(remaining=balance, required=-delta)
        self._user().update(tokens_remaining=F("tokens_remaining") + delta)

    def _write_entry(self, delta: int, entry: Entry, *, announce: bool = False) -> LedgerEntry:
        """Append the ledger entry of the `delta` just added, with the balance it left.

        With `announce`, tell the other apps that spending lowered the balance (the
        low-balance e-mail): only a debit or a hold, not refund reversals or forfeits,
        as the notice is about the user's own spending. The receivers run in this
        transaction, under the row lock, and get the plan allowance read with the balance.
        """
        balance_after, tokens_limit = (
            self._user().values_list("tokens_remaining", "subscription__tokens_limit").get()
        )
        written = LedgerEntry.objects.create(
            user_id=self.user_id,
            delta=delta,
            balance_after=balance_after,
            kind=entry.kind,
            reference=entry.reference,
            idempotency_key=entry.idempotency_key,
            actor=entry.actor,
            note=entry.note[:255],
        )
        if announce:
            balance_lowered.send(
                sender=Wallet,
                user_id=self.user_id,
                balance_before=balance_after - delta,
                balance_after=balance_after,
                tokens_limit=tokens_limit,
            )
        return written

    def _restore_null(self) -> int:
        """NULL becomes the ledger sum if there is a ledger, else the plan allowance.

        Only NULL: 0 is a real balance and is never refilled (the old system refilled
        users at 0, giving free tokens forever). The opening_balance entry records the
        restoration and keeps SUM(delta) equal to the balance.
        """
        ledger = LedgerEntry.objects.filter(user_id=self.user_id).aggregate(
            total=Sum("delta"), entries=Count("id")
        )
        total = ledger["total"] or 0
        if ledger["entries"]:
            restored, source = max(0, total), "the ledger"
        else:
            limit = self._user().values_list("subscription__tokens_limit", flat=True).get()
            restored, source = limit or 0, "the plan allowance"
        self._user().update(tokens_remaining=restored)
        note = f"NULL balance restored from {source}"
        self._write_entry(restored - total, Entry(Kind.OPENING_BALANCE, note=note))
        return restored

    def _earlier(self, entry: Entry) -> LedgerEntry | None:
        """The entry already written with `entry`'s idempotency key, if it has one.
        Called holding the row lock, so that two changes with one key cannot both miss it."""
        if not entry.idempotency_key:
            return None
        key = entry.idempotency_key
        return LedgerEntry.objects.filter(user_id=self.user_id, idempotency_key=key).first()

    def _claim(self, hold: TokenHold, status: str) -> None:
        """Close an open hold as `status`, or raise HoldClosed.

        One conditional UPDATE both checks that the hold is still open and locks it, so
        of a settle and a release racing for one hold exactly one proceeds.
        """
        now = timezone.now()
        claimed = TokenHold.objects.filter(
            pk=hold.pk, user_id=self.user_id, status=TokenHold.Status.HELD
        ).update(status=status, closed_at=now)
        if not claimed:
            current = TokenHold.objects.filter(pk=hold.pk).values_list("status", flat=True).first()
            raise HoldClosed(f"hold {hold.pk} is already {current}")
        hold.status, hold.closed_at = status, now

    def _record_usage(
        self,
        action: str,
        tokens_used: int,
        *,
        article_id: int | None = None,
        provider_tokens: int | None = None,
        result: str = "",
    ) -> TokenUsage:
        """The usage-history row of a spending, written with its ledger entry."""
        return TokenUsage.objects.create(
            user_id=self.user_id,
            action=action,
            tokens_used=tokens_used,
            article_id=article_id,
            provider_tokens=provider_tokens,
            result=result,
        )


def balance_summary(user) -> dict:
    """You have / Your plan / Used, where Used = max(0, limit − remaining)."""
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
