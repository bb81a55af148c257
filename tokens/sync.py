"""The token sync report: the old operations handbook's checks plus ledger drift.

The three monitoring queries are kept verbatim (SPEC §4); only a LIMIT is appended so a
report over a million users stays readable. On SQLite, which has no `INTERVAL`, the
24-hour window is written the SQLite way.

On MariaDB the report is built to run in little more time than one `GROUP BY user_id` over
the ledger (make bench), as it must on a million users:
- one pass over the subscriptions, each user found by primary key, gives the statuses and
  the ids of the handbook's 50 largest differences (the handbook's query itself sorts a
  million-row join to show 50 of them);
- drift is found by checksums, the way pt-table-checksum compares tables: per bucket of
  BUCKET user ids, the count, sum and CRC32 sum of (user id, balance) from `users` and of
  (user id, ledger sum) from the ledger's GROUP BY. Only buckets that differ are compared
  user by user (DRIFT_QUERY), so a clean report reads no ledger row twice;
- the ledger's checksums run on a second connection while this one does the rest.
The result is the same as the portable report's (a test compares them on MariaDB).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from django.db import DEFAULT_DB_ALIAS, connection, connections

from tokens.wallet import Wallet

DIFFERENCE_QUERY = """SELECT u.id, u.email, u.tokens_remaining, us.tokens_limit,
       (us.tokens_limit - u.tokens_remaining) as difference
FROM users u LEFT JOIN user_subscriptions us ON u.id = us.user_id
WHERE us.is_active = 1 ORDER BY difference DESC"""

RECENT_USAGE_QUERY = """SELECT u.email, tuh.action, tuh.tokens_used, tuh.created_at, u.tokens_remaining as current_balance
FROM token_usage_history tuh JOIN users u ON tuh.user_id = u.id
WHERE tuh.created_at >= NOW() - INTERVAL 24 HOUR ORDER BY tuh.created_at DESC"""

NULL_BALANCE_QUERY = """SELECT u.id, u.email, u.tokens_remaining, us.tokens_limit, us.plan_type
FROM users u LEFT JOIN user_subscriptions us ON u.id = us.user_id
WHERE u.tokens_remaining IS NULL AND us.is_active = 1"""

# Balance ≠ ledger sum (SPEC I1) for the users with ids in [%s, %s): each one's sum read
# from the ledger's (user_id, id, delta) index alone. Not a join to a derived `GROUP BY
# user_id` table: MariaDB runs that as a LATERAL DERIVED table, rebuilt once per user, 13×
# slower on 100k users. MAX() of a user's own columns: valid under ONLY_FULL_GROUP_BY too.
DRIFT_QUERY = """SELECT u.id, MAX(u.email) AS email, MAX(u.tokens_remaining) AS tokens_remaining,
       COALESCE(SUM(l.delta), 0) AS ledger_sum
FROM users u LEFT JOIN token_ledger l ON l.user_id = u.id
WHERE u.tokens_remaining IS NOT NULL AND u.id >= %s AND u.id < %s
GROUP BY u.id HAVING MAX(u.tokens_remaining) <> COALESCE(SUM(l.delta), 0)
ORDER BY u.id"""
EVERY_ID = (0, 2**63 - 1)

# One pass over users for the status of each: SPEC §1 says remaining > limit (a bonus)
# is a valid state, not a mismatch; only NULL and drift need an operator.
STATUS_QUERY = """SELECT
  SUM(CASE WHEN u.tokens_remaining IS NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN us.id IS NULL AND u.tokens_remaining IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN u.tokens_remaining = us.tokens_limit THEN 1 ELSE 0 END),
  SUM(CASE WHEN u.tokens_remaining < us.tokens_limit THEN 1 ELSE 0 END),
  SUM(CASE WHEN u.tokens_remaining > us.tokens_limit THEN 1 ELSE 0 END),
  COUNT(*)
FROM users u LEFT JOIN user_subscriptions us ON u.id = us.user_id"""


# MariaDB: the statuses of subscribed users and the ids of the handbook's first query's
# LIMIT largest differences (NULLs last, as its ORDER BY … DESC puts them), in one pass.
SUBSCRIBED_QUERY = """SELECT
  SUM(u.tokens_remaining = us.tokens_limit),
  SUM(u.tokens_remaining < us.tokens_limit),
  SUM(u.tokens_remaining > us.tokens_limit),
  SUM(u.tokens_remaining IS NOT NULL),
  GROUP_CONCAT(CASE WHEN us.is_active = 1 THEN u.id END
               ORDER BY us.tokens_limit - u.tokens_remaining DESC LIMIT %s)
FROM user_subscriptions us STRAIGHT_JOIN users u ON u.id = us.user_id"""

DIFFERENCE_ROWS_QUERY = """SELECT u.id, u.email, u.tokens_remaining, us.tokens_limit,
       (us.tokens_limit - u.tokens_remaining) as difference
FROM users u JOIN user_subscriptions us ON u.id = us.user_id
WHERE u.id IN %s ORDER BY difference DESC"""

BUCKET = 1000  # user ids per checksum: a differing bucket costs one DRIFT_QUERY of 1000 users
# Per bucket: users, NULL balances, then (count, sum, CRC32 sum) over non-zero balances;
# a user with balance 0 and no ledger entries is in sync and in neither side.
USER_BUCKETS_QUERY = """SELECT id DIV %s AS bucket, COUNT(*), SUM(tokens_remaining IS NULL),
  SUM(tokens_remaining <> 0),
  SUM(CASE WHEN tokens_remaining <> 0 THEN tokens_remaining END),
  SUM(CASE WHEN tokens_remaining <> 0 THEN CRC32(CONCAT(id, ':', tokens_remaining)) END)
FROM users GROUP BY bucket"""
LEDGER_BUCKETS_QUERY = """SELECT user_id DIV %s AS bucket,
  COUNT(*), SUM(total), SUM(CRC32(CONCAT(user_id, ':', total)))
FROM (SELECT user_id, SUM(delta) AS total FROM token_ledger GROUP BY user_id) sums
WHERE total <> 0 GROUP BY bucket"""


@dataclass
class SyncReport:
    users: int
    statuses: dict[str, int]
    difference: list[dict] = field(default_factory=list)
    recent_usage: list[dict] = field(default_factory=list)
    null_balances: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    drift_count: int = 0

    @property
    def clean(self) -> bool:
        return self.drift_count == 0

    def as_dict(self) -> dict:
        return {**asdict(self), "clean": self.clean}


def sync_report(limit: int = 50) -> SyncReport:
    if connection.vendor == "mysql":
        return _checksummed_report(limit)
    return portable_report(limit)


def portable_report(limit: int = 50) -> SyncReport:
    """Every check as one plain query: SQLite, and the reference the MariaDB report is
    tested against."""
    with connection.cursor() as cursor:
        cursor.execute(STATUS_QUERY)
        null, no_subscription, synced, used_some, bonus, users = (v or 0 for v in cursor.fetchone())
        drift = _rows(cursor, DRIFT_QUERY, None, EVERY_ID)
        difference = _rows(cursor, DIFFERENCE_QUERY, limit)
        statuses = (synced, used_some, bonus, null, no_subscription)
        return _report(cursor, limit, users, statuses, difference, drift)


def _checksummed_report(limit: int) -> SyncReport:
    with ThreadPoolExecutor(max_workers=1) as elsewhere:
        # A second connection cannot see the caller's uncommitted rows: inside a
        # transaction, everything runs on this one.
        ledger = None if connection.in_atomic_block else elsewhere.submit(_ledger_buckets)
        with connection.cursor() as cursor:
            cursor.execute(SUBSCRIBED_QUERY, [limit])
            synced, used_some, bonus, subscribed, top = cursor.fetchone()
            ids = [int(i) for i in top.split(",")] if top else []
            difference = _rows(cursor, DIFFERENCE_ROWS_QUERY, None, [ids]) if ids else []
            cursor.execute(USER_BUCKETS_QUERY, [BUCKET])
            user_buckets = {row[0]: row[1:] for row in cursor.fetchall()}
            ledger_buckets = ledger.result() if ledger else _ledger_buckets(cursor)
            drift = []
            for start, end in _differing(user_buckets, ledger_buckets):
                drift += _rows(cursor, DRIFT_QUERY, None, [start, end])
            users = sum(row[0] for row in user_buckets.values())
            null = sum(row[1] for row in user_buckets.values())
            statuses = (synced, used_some, bonus, null, users - null - (subscribed or 0))
            return _report(cursor, limit, users, statuses, difference, drift)


def _ledger_buckets(cursor=None) -> dict:
    """LEDGER_BUCKETS_QUERY by bucket: on `cursor`, or on a connection of its own."""
    if cursor is not None:
        cursor.execute(LEDGER_BUCKETS_QUERY, [BUCKET])
        return {row[0]: row[1:] for row in cursor.fetchall()}
    own = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with own.cursor() as cursor:
            return _ledger_buckets(cursor)
    finally:
        own.close()


def _differing(user_buckets: dict, ledger_buckets: dict) -> list[tuple[int, int]]:
    """The id ranges [start, end) of the buckets whose checksums differ, adjacent ones
    joined. A bucket with a NULL balance differs too when that user has ledger entries;
    DRIFT_QUERY leaves NULL balances out (they are the report's NULL status)."""
    ranges = []
    for bucket in sorted(user_buckets.keys() | ledger_buckets.keys()):
        balances = user_buckets.get(bucket, (0, 0, 0, 0, 0))[2:]
        sums = ledger_buckets.get(bucket, (0, 0, 0))
        if [v or 0 for v in balances] == [v or 0 for v in sums]:
            continue
        start, end = bucket * BUCKET, (bucket + 1) * BUCKET
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def _report(cursor, limit, users, statuses, difference, drift) -> SyncReport:
    synced, used_some, bonus, null, no_subscription = (int(v or 0) for v in statuses)
    return SyncReport(
        users=int(users),
        statuses={
            "Synced": synced,
            "Used some": used_some,
            "Bonus": bonus,
            "NULL": null,
            "No subscription": no_subscription,
            "Drift": len(drift),
        },
        difference=difference[:limit],
        recent_usage=_rows(cursor, _portable(RECENT_USAGE_QUERY), limit),
        # Without a NULL balance it would read every user to list nothing.
        null_balances=_rows(cursor, NULL_BALANCE_QUERY, limit) if null else [],
        drift=drift[:limit],
        drift_count=len(drift),
    )


def fix_null_balances() -> int:
    """Apply rule 6 to every user whose balance is NULL; returns how many were restored."""
    from accounts.models import User

    ids = list(User.objects.filter(tokens_remaining__isnull=True).values_list("pk", flat=True))
    for user_id in ids:
        Wallet(user_id).balance()  # restores under the row lock; a no-op if already done
    return len(ids)


def _portable(sql: str) -> str:
    if connection.vendor == "sqlite":
        return sql.replace("NOW() - INTERVAL 24 HOUR", "datetime('now', '-24 hours')")
    return sql


def _rows(cursor, sql: str, limit: int | None, params=None) -> list[dict]:
    cursor.execute(sql if limit is None else f"{sql} LIMIT {int(limit)}", params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
