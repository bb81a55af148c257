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
raw SQL. On MariaDB they reach the server as one query (`_chained`), and so do a hold's
UPDATE and its two INSERTs, and a settlement's claim and usage row. Changes that must
read the balance first (a credit with an idempotency key, a forfeit, a refund reversal)
lock the row with `SELECT … FOR UPDATE`. Lock order, everywhere in Volx: the user row
first, then any other row (subscription, payment) — but a hold's settle or release
claims the hold row first and then touches the user row; nothing else locks a hold, so
no cycle forms.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connection, transaction
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
        now = timezone.now()
        written = self._apply_and_hold(amount, action, now)
        if written is None:
            self._refused(-amount)
            written = self._hold_and_append(amount, action, now)
        hold_id, entry = written
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
        usage = [hold.action, cost, article_id, provider_tokens]
        if cost == hold.amount:  # every AI action: one query on MariaDB
            return self._close_and_record(hold, usage)
        self._close(hold, TokenHold.Status.SETTLED)
        unused = hold.amount - cost
        self._write(unused, Kind.RELEASE, f"hold:{hold.pk}", None, None, "unused part of the hold")
        return self._usage(*usage)

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

        On MariaDB both statements go to the server in one query (see _chained): the row
        lock is held for one round trip fewer and a debit costs one execute() less.
        """
        if not _one_query():
            if not self._apply(delta):
                return None
            return self._append(delta, kind, reference, idempotency_key, actor, note)
        values = _entry_values(delta, kind, reference, idempotency_key, actor, note)
        row = _chained(
            [APPLY_SQL, APPEND_IF_APPLIED_SQL],
            [delta, self.user_id, delta, *values, self.user_id, self.user_id],
        )
        return None if row is None else self._entry(values, *row)

    def _apply_and_hold(self, amount: int, action: str, now):
        """_apply(-amount) and, if it changed the balance, _hold_and_append(); else None.

        On MariaDB the three statements are one query: the ledger entry names the hold
        just inserted by LAST_INSERT_ID(), and returns its id with the entry's columns.
        """
        if not _one_query():
            if not self._apply(-amount):
                return None
            return self._hold_and_append(amount, action, now)
        values = _entry_values(-amount, Kind.HOLD, "hold:", None, None, "")
        row = _chained(
            [APPLY_SQL, HOLD_IF_APPLIED_SQL, APPEND_HOLD_IF_APPLIED_SQL],
            [-amount, self.user_id, -amount, self.user_id, amount, action, now]
            + [*values, self.user_id, self.user_id],
        )
        if row is None:
            return None
        *entry_row, hold_id = row
        values[2] += str(hold_id)  # the reference, as CONCAT() wrote it: "hold:<id>"
        return hold_id, self._entry(values, *entry_row)

    def _hold_and_append(self, amount: int, action: str, now) -> tuple[int, LedgerEntry]:
        """The hold row and its ledger entry, for the `amount` just taken: (hold id, entry)."""
        hold_id = self._insert(HOLD_SQL, [self.user_id, amount, action, now])
        return hold_id, self._append(-amount, Kind.HOLD, f"hold:{hold_id}", None, None, "")

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
        values = [self.user_id, article_id, tokens_used, action, provider_tokens, timezone.now()]
        return _usage_row(values, self._insert(USAGE_SQL, values))

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
            raise self._closed_already(hold)
        hold.status, hold.closed_at = status, now

    def _close_and_record(self, hold: TokenHold, usage: list) -> TokenUsage:
        """_close(hold, SETTLED) and _usage(*usage); on MariaDB one query (see _chained)."""
        if not _one_query():
            self._close(hold, TokenHold.Status.SETTLED)
            return self._usage(*usage)
        now = timezone.now()
        action, tokens_used, article_id, provider_tokens = usage
        values = [self.user_id, article_id, tokens_used, action, provider_tokens, now]
        row = _chained(
            [CLAIM_SQL, USAGE_IF_CLAIMED_SQL],
            [TokenHold.Status.SETTLED, now, hold.pk, self.user_id, *values],
        )
        if row is None:
            raise self._closed_already(hold)
        hold.status, hold.closed_at = TokenHold.Status.SETTLED, now
        return _usage_row(values, row[0])

    def _closed_already(self, hold: TokenHold) -> HoldClosed:
        current = TokenHold.objects.filter(pk=hold.pk).values_list("status", flat=True).first()
        return HoldClosed(f"hold {hold.pk} is already {current}")


# The balance changes only when it stays at or above 0; the row lock the UPDATE takes is
# held until the commit. `+ 0 >= 0` also refuses a NULL balance, which _lock() restores.
APPLY_SQL = (
    "UPDATE users SET tokens_remaining = tokens_remaining + %s "
    "WHERE id = %s AND tokens_remaining + %s >= 0"
)
# The statements below that end in `ROW_COUNT() = 1` follow another in one MariaDB query
# (_chained) and write their row only if that statement changed one: ROW_COUNT() is the
# number of rows the UPDATE before matched, or the INSERT before wrote.
_APPEND = (
    "INSERT INTO token_ledger "
    "(user_id, delta, balance_after, kind, reference, idempotency_key, actor_id, note, created_at) "
    "SELECT id, %s, tokens_remaining, %s, {reference}, %s, %s, %s, %s "
    "FROM users WHERE id = %s{if_} "
    "RETURNING id, balance_after, (SELECT tokens_limit FROM user_subscriptions WHERE user_id = %s)"
)
APPEND_SQL = _APPEND.format(reference="%s", if_="")
APPEND_IF_APPLIED_SQL = _APPEND.format(reference="%s", if_=" AND ROW_COUNT() = 1")
# After HOLD_IF_APPLIED_SQL: the reference is "hold:" and the hold's id, which it returns too.
APPEND_HOLD_IF_APPLIED_SQL = (
    _APPEND.format(reference="CONCAT(%s, LAST_INSERT_ID())", if_=" AND ROW_COUNT() = 1")
    + ", LAST_INSERT_ID()"
)

# The rows of an AI action, written by hand as the statements above are: the ORM would
# compile each of them anew on every request (make bench: about a tenth of its CPU time).
_HOLD = (
    "INSERT INTO token_holds (user_id, amount, action, status, created_at) "
    "SELECT %s, %s, %s, 'held', %s"
)
HOLD_SQL = f"{_HOLD} RETURNING id"
HOLD_IF_APPLIED_SQL = f"{_HOLD} FROM DUAL WHERE ROW_COUNT() = 1"
CLAIM_SQL = (
    "UPDATE token_holds SET status = %s, closed_at = %s "
    "WHERE id = %s AND user_id = %s AND status = 'held'"
)
_USAGE = (
    "INSERT INTO token_usage_history "
    "(user_id, article_id, tokens_used, action, provider_tokens, created_at) "
    "SELECT %s, %s, %s, %s, %s, %s{if_} RETURNING id"
)
USAGE_SQL = _USAGE.format(if_="")
USAGE_IF_CLAIMED_SQL = _USAGE.format(if_=" FROM DUAL WHERE ROW_COUNT() = 1")


def _chained(statements: list[str], params: list) -> tuple | None:
    """MariaDB: `statements` sent as one query, each after the first written to run only
    if the one before changed a row; the last one's RETURNING row, None if any refused.

    One round trip instead of one per statement, and a row lock taken by the first is
    held that much shorter (volx/mysql sends START TRANSACTION in the same packet).
    """
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
        for _ in statements[1:]:
            cursor.nextset()  # from one statement's result to the next one's
        return cursor.fetchone()


def _entry_values(delta, kind, reference, idempotency_key, actor, note) -> list:
    """The values of a ledger entry's columns, in APPEND_SQL's order."""
    actor_id = actor.pk if actor else None
    return [delta, kind, reference, idempotency_key, actor_id, note[:255], timezone.now()]


def _usage_row(values: list, usage_id: int) -> TokenUsage:
    """The TokenUsage just written with `values`, in USAGE_SQL's order."""
    user_id, article_id, tokens_used, action, provider_tokens, created_at = values
    return _loaded(
        TokenUsage,
        id=usage_id,
        user_id=user_id,
        article_id=article_id,
        tokens_used=tokens_used,
        action=action,
        provider_tokens=provider_tokens,
        created_at=created_at,
    )


def _loaded(model, **values):
    """A model instance for a row just written by hand, as if read from the database.

    Every column must be given (a KeyError otherwise): a new column fails here, loudly.
    """
    names = _columns(model)
    return model.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])


@functools.cache
def _columns(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def _one_query() -> bool:
    """Whether the statements of a change go to the server as one query (_chained): on
    MariaDB, whose client sends several statements at once."""
    return connection.vendor == "mysql"


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
