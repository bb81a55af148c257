"""Tools for the failure tests: number an operation's SQL statements, strike after one of
them, and compare the database before and after.

A test runs the operation once to learn its statements and where its transactions end,
then again on fresh data with a failure right after statement N. The failure is one-shot:
whatever the code does to recover (releasing a hold, recording a webhook's error) runs
against a working database, as it would after a real, passing fault.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection

# Every table a payment, a webhook or an AI action may write, and what they read.
TABLES = (
    "users",
    "user_subscriptions",
    "plans",
    "payments",
    "webhook_events",
    "token_ledger",
    "token_holds",
    "token_usage_history",
    "idempotency_records",
    "articles",
    "receipt_counters",  # a confirmation rolled back must not use up a receipt number
)


class Fault(Exception):
    """The injected failure. Not a database error, so nothing retries or handles it."""


def raise_fault(statement: int, sql: str) -> None:
    raise Fault(f"injected after statement {statement}: {sql[:60]}")


# What Django's MySQL backend sends on a new connection (init_connection_state).
CONNECTION_SET_UP = "SET SESSION TRANSACTION ISOLATION LEVEL"


class StatementLog:
    """An execute wrapper (`with connection.execute_wrapper(log):`) that numbers the
    statements and notes which of the operation's transactions each one ran in.

    With `strike_after=N`, `strike(N, sql)` is called once, right after statement N ran.
    Transactions are told apart by their outermost `atomic` block entered after the log
    was created, so the same log works inside a test's own transaction: there each of the
    operation's transactions is a savepoint, and its RELEASE SAVEPOINT stands for COMMIT.
    """

    def __init__(
        self,
        strike_after: int | None = None,
        strike: Callable[[int, str], None] = raise_fault,
    ) -> None:
        self.strike_after = strike_after
        self.strike = strike
        self.statements: list[str] = []
        self.transactions: list[int | None] = []  # per statement, None: outside any
        self._depth = len(connection.atomic_blocks)
        self._blocks: list[object] = []  # kept alive so that identity stays meaningful

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith(CONNECTION_SET_UP):
            return result  # a new connection's, not the operation's (the first test's)
        self.statements.append(sql)
        self.transactions.append(self._transaction())
        if len(self.statements) == self.strike_after:
            self.strike(self.strike_after, sql)
        return result

    def __len__(self) -> int:
        return len(self.statements)

    def ends(self) -> list[int]:
        """The last statement of each of the operation's transactions, in order."""
        ends = {txn: number for number, txn in enumerate(self.transactions, 1) if txn is not None}
        return list(ends.values())

    def committed(self, statement: int) -> int:
        """How many of the operation's transactions had committed when a failure struck
        right after `statement` (they run one after another, so a count says which)."""
        return sum(end < statement for end in self.ends())

    def listing(self) -> str:
        lines = zip(self.transactions, self.statements, strict=True)
        return "\n".join(
            f"{number:3} {'-' if txn is None else txn} {sql[:100]}"
            for number, (txn, sql) in enumerate(lines, 1)
        )

    def _transaction(self) -> int | None:
        blocks = connection.atomic_blocks
        if len(blocks) <= self._depth:
            return None
        block = blocks[self._depth]
        for index, known in enumerate(self._blocks):
            if known is block:
                return index
        self._blocks.append(block)
        return len(self._blocks) - 1


def run_logged(operation: Callable, log: StatementLog):
    with connection.execute_wrapper(log):
        return operation()


def learn_statements(operation: Callable, expected: int) -> StatementLog:
    """Run `operation` cleanly; its statement count must be `expected`, the number of
    fault points the tests are parametrized with, so that every statement is one."""
    log = StatementLog()
    run_logged(operation, log)
    assert len(log) == expected, (
        f"the operation now runs {len(log)} statements, not {expected}: update the count "
        f"so that each one stays a fault point\n{log.listing()}"
    )
    return log


def database_rows(exclude: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every row of TABLES, ordered by the primary key (the first column: id, or a
    receipt counter's year): equal snapshots mean an unchanged database."""
    quote = connection.ops.quote_name
    rows = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            if table not in exclude:
                cursor.execute(f"SELECT * FROM {quote(table)} ORDER BY 1")
                rows[table] = list(cursor.fetchall())
    return rows


def seed_receipt_counter() -> None:
    """This year's receipt counter row, as every confirmation after the year's first finds
    it: the first one creates it (a savepoint and an INSERT more), so without it the learned
    run and the faulted one would not run the same statements."""
    from django.utils import timezone

    from payments.models import ReceiptCounter

    ReceiptCounter.objects.get_or_create(year=timezone.now().year)
