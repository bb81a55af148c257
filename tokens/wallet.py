"""The wallet: the one path by which a user's token balance changes.

`users.tokens_remaining` is a cache of SUM(token_ledger.delta) for the user. Every change
writes the new balance and its ledger entry in the same transaction, and never two
changes of one user at once: the statement that changes the balance takes the user's row
lock and holds it until the commit. A spend is one conditional statement,
`UPDATE users … WHERE tokens_remaining + delta >= 0`: the check and the write cannot be
separated, so concurrent debits are exact (the old system read, checked in Python and
wrote: two requests spent the same tokens). The ledger entry is then copied from that row
(`INSERT … SELECT … RETURNING`), so its balance_after is the balance the UPDATE left.

Two statements per spend, as few as the database needs: `make bench` compares this with
raw SQL. Changes that must read the balance first (a credit with an idempotency key, a
forfeit, a refund reversal) lock the row with `SELECT … FOR UPDATE`. Lock order,
everywhere in Volx: the user row first, then any other row (subscription, payment) — but
a hold's settle or release claims the hold row first and then touches the user row;
nothing else locks a hold, so no cycle forms.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import User
from tokens.models import LedgerEntry, TokenHold, TokenUsage
from tokens.signals import balance_lowered
from volx.db import retry_transaction

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
        self._lock()
        if idempotency_key and (done := self._entry_with_key(idempotency_key)):
            return done
        return self._write(amount, kind, reference, idempotency_key, actor, note)

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

        With `action`, the spending is also written to the usage history (rule 2).
        """
        _require_positive(amount)
        if idempotency_key:
            self._lock()
            if done := self._entry_with_key(idempotency_key):
                return done
        entry = self._spend(amount, kind, reference, idempotency_key, actor, note)
        if action:
            self._usage(action, amount, article_id, None)
        return entry

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
        """Take back up to `amount` without going below 0 (a refund reversal, rule 11).

        The shortfall is written in the entry's note; at a balance of 0 the entry has
        delta 0, so the reversal and what could not be taken back are still on record.
        """
        _require_positive(amount)
        balance = self._lock()
        if idempotency_key and (done := self._entry_with_key(idempotency_key)):
            return done
        taken = min(balance, amount)
        if taken < amount:
            note = f"{note} (shortfall {amount - taken}: balance was {balance})".strip()
        return self._write(-taken, kind, reference, idempotency_key, actor, note)

    @retry_transaction
    def forfeit(self, *, reference: str = "", note: str = "", actor: User | None = None):
        """Take the whole balance (plan reset, expiry with forfeit). None when already 0."""
        balance = self._lock()
        if balance == 0:
            return None
        return self._write(-balance, Kind.FORFEIT, reference, None, actor, note)

    # --- holds for AI actions -------------------------------------------------

    @retry_transaction
    def hold(self, amount: int, *, action: str) -> TokenHold:
        """Set `amount` aside before running an AI action; raises InsufficientTokens."""
        _require_positive(amount)
        self._change(-amount)  # the user row first: creating the hold also reads it (FK)
        now = timezone.now()
        hold_id = self._insert(HOLD_SQL, [self.user_id, amount, action, now])
        hold = _loaded(
            TokenHold,
            id=hold_id,
            user_id=self.user_id,
            amount=amount,
            action=action,
            status=TokenHold.Status.HELD,
            created_at=now,
            closed_at=None,
        )
        entry = self._append(-amount, Kind.HOLD, f"hold:{hold.pk}", None, None, "")
        self._announce(entry)
        hold.balance_after = entry.balance_after  # not a column: the balance the hold left
        return hold

    @retry_transaction
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
        self._close(hold, TokenHold.Status.SETTLED)
        if cost < hold.amount:
            unused = hold.amount - cost
            self._write(
                unused, Kind.RELEASE, f"hold:{hold.pk}", None, None, "unused part of the hold"
            )
        return self._usage(hold.action, cost, article_id, provider_tokens)

    @retry_transaction
    def release(self, hold: TokenHold) -> None:
        """Give a hold back in full (the AI action failed: it costs nothing, rule I5)."""
        self._close(hold, TokenHold.Status.RELEASED)
        self._write(hold.amount, Kind.RELEASE, f"hold:{hold.pk}", None, None, "")

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
        self._users().update(tokens_remaining=restored)
        note = f"NULL balance restored from {source}"
        self._append(restored - total, Kind.OPENING_BALANCE, "", None, None, note)
        return restored

    def _spend(self, amount, kind, reference, idempotency_key, actor, note) -> LedgerEntry:
        """Take `amount` or raise InsufficientTokens."""
        return self._announce(self._write(-amount, kind, reference, idempotency_key, actor, note))

    def _announce(self, entry: LedgerEntry) -> LedgerEntry:
        """Tell other apps that spending lowered the balance (the low-balance e-mail).

        Only spending announces it (a debit, a hold), not refund reversals or forfeits:
        the notice is about the user's own spending. Receivers run in this transaction,
        under the row lock, and get the plan allowance with it.
        """
        balance_lowered.send(
            sender=Wallet,
            user_id=self.user_id,
            balance_before=entry.balance_after - entry.delta,
            balance_after=entry.balance_after,
            tokens_limit=entry.tokens_limit,
        )
        return entry

    def _write(self, delta, kind, reference, idempotency_key, actor, note) -> LedgerEntry:
        """Change the balance by `delta` and write its entry, or raise InsufficientTokens."""
        entry = self._apply_and_append(delta, kind, reference, idempotency_key, actor, note)
        if entry is None:
            self._refused(delta)
            entry = self._append(delta, kind, reference, idempotency_key, actor, note)
        return entry

    def _apply_and_append(self, delta, kind, reference, idempotency_key, actor, note):
        """_apply() and, if it changed the balance, _append(); None if it did not.

        On MariaDB both statements go to the server in one query: the INSERT copies the
        row only if the UPDATE changed it (ROW_COUNT()), so the row lock is held for one
        round trip fewer and a debit costs the ORM one execute() less (make bench).
        """
        if connection.vendor != "mysql":
            if not self._apply(delta):
                return None
            return self._append(delta, kind, reference, idempotency_key, actor, note)
        values = _entry_values(delta, kind, reference, idempotency_key, actor, note)
        with connection.cursor() as cursor:
            cursor.execute(
                f"{APPLY_SQL}; {APPEND_IF_APPLIED_SQL}",
                [delta, self.user_id, delta, *values, self.user_id, self.user_id],
            )
            cursor.nextset()  # from the UPDATE's result to the INSERT's
            row = cursor.fetchone()
        return None if row is None else self._entry(values, *row)

    def _change(self, delta: int) -> None:
        """Add `delta` to the balance, or raise InsufficientTokens if it would go below 0."""
        if not self._apply(delta):
            self._refused(delta)

    def _refused(self, delta: int) -> None:
        """_apply() changed nothing: raise InsufficientTokens, or apply `delta` after all."""
        balance = self._lock()  # too low, NULL (restored here), or no such user (raises)
        if balance + delta < 0:
            raise InsufficientTokens(remaining=balance, required=-delta)
        self._apply(delta)  # it was NULL; restored under the lock, it fits now

    def _apply(self, delta: int) -> bool:
        """One statement checks, changes and locks: False (nothing changed) below 0."""
        with connection.cursor() as cursor:
            cursor.execute(APPLY_SQL, [delta, self.user_id, delta])
            return cursor.rowcount == 1

    def _append(self, delta, kind, reference, idempotency_key, actor, note) -> LedgerEntry:
        """The ledger entry of the change just applied, with the balance that it left.

        The same statement reads the plan allowance (`entry.tokens_limit`, not a column),
        so announcing a lower balance costs no query.
        """
        values = _entry_values(delta, kind, reference, idempotency_key, actor, note)
        with connection.cursor() as cursor:
            cursor.execute(APPEND_SQL, [*values, self.user_id, self.user_id])
            return self._entry(values, *cursor.fetchone())

    def _entry(self, values, entry_id, balance_after, tokens_limit) -> LedgerEntry:
        delta, kind, reference, idempotency_key, actor_id, note, now = values
        entry = _loaded(
            LedgerEntry,
            id=entry_id,
            user_id=self.user_id,
            delta=delta,
            balance_after=balance_after,
            kind=kind,
            reference=reference,
            idempotency_key=idempotency_key,
            actor_id=actor_id,
            note=note,
            created_at=now,
        )
        entry.tokens_limit = tokens_limit
        return entry

    def _usage(self, action, tokens_used, article_id, provider_tokens) -> TokenUsage:
        """The usage-history row of a spending (rule 2)."""
        now = timezone.now()
        usage_id = self._insert(
            USAGE_SQL, [self.user_id, article_id, tokens_used, action, provider_tokens, now]
        )
        return _loaded(
            TokenUsage,
            id=usage_id,
            user_id=self.user_id,
            article_id=article_id,
            tokens_used=tokens_used,
            action=action,
            provider_tokens=provider_tokens,
            created_at=now,
        )

    def _insert(self, sql: str, params: list) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def _entry_with_key(self, key: str) -> LedgerEntry | None:
        return LedgerEntry.objects.filter(user_id=self.user_id, idempotency_key=key).first()

    def _close(self, hold: TokenHold, status: str) -> None:
        """Claim an open hold for settling or releasing, or raise HoldClosed.

        One conditional UPDATE both checks that the hold is still open and locks it, so
        of a settle and a release racing for one hold exactly one proceeds.
        """
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, [status, now, hold.pk, self.user_id])
            claimed = cursor.rowcount == 1
        if not claimed:
            current = TokenHold.objects.filter(pk=hold.pk).values_list("status", flat=True).first()
            raise HoldClosed(f"hold {hold.pk} is already {current}")
        hold.status, hold.closed_at = status, now


# The balance changes only when it stays at or above 0; the row lock the UPDATE takes is
# held until the commit. `+ 0 >= 0` also refuses a NULL balance, which _lock() restores.
APPLY_SQL = (
    "UPDATE users SET tokens_remaining = tokens_remaining + %s "
    "WHERE id = %s AND tokens_remaining + %s >= 0"
)
_APPEND = (
    "INSERT INTO token_ledger "
    "(user_id, delta, balance_after, kind, reference, idempotency_key, actor_id, note, created_at) "
    "SELECT id, %s, tokens_remaining, %s, %s, %s, %s, %s, %s FROM users WHERE id = %s{applied} "
    "RETURNING id, balance_after, (SELECT tokens_limit FROM user_subscriptions WHERE user_id = %s)"
)
APPEND_SQL = _APPEND.format(applied="")
# MariaDB, in one query after APPLY_SQL: ROW_COUNT() is the number of rows that UPDATE matched.
APPEND_IF_APPLIED_SQL = _APPEND.format(applied=" AND ROW_COUNT() = 1")

# The rows of an AI action, written by hand as the statements above are: the ORM would
# compile each of them anew on every request (make bench: about a tenth of its CPU time).
HOLD_SQL = (
    "INSERT INTO token_holds (user_id, amount, action, status, created_at) "
    "VALUES (%s, %s, %s, 'held', %s) RETURNING id"
)
CLAIM_SQL = (
    "UPDATE token_holds SET status = %s, closed_at = %s "
    "WHERE id = %s AND user_id = %s AND status = 'held'"
)
USAGE_SQL = (
    "INSERT INTO token_usage_history "
    "(user_id, article_id, tokens_used, action, provider_tokens, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)


def _entry_values(delta, kind, reference, idempotency_key, actor, note) -> list:
    """The values of a ledger entry's columns, in APPEND_SQL's order."""
    actor_id = actor.pk if actor else None
    return [delta, kind, reference, idempotency_key, actor_id, note[:255], timezone.now()]


def _loaded(model, **values):
    """A model instance for a row just written by hand, as if read from the database.

    Every column must be given (a KeyError otherwise): a new column fails here, loudly.
    """
    names = [field.attname for field in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, [values[name] for name in names])


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
