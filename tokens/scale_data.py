"""Synthetic data at production scale, written by MariaDB itself (bulk SQL).

For the scale benchmark (`bench/scale.py`): a million users and ten million ledger rows
in minutes, where the ORM would need hours. Every row is made by an
`INSERT … SELECT` over MariaDB's sequence engine (`seq_1_to_N`); Python only sends the
statements. What `generate(users=U, ledger_rows=L)` writes:

- **U users** (`user<id>` / `user<id>@example.com`, unusable password, 80 % verified),
  registered one after another over the last two years (ids in registration order).
- **U subscriptions**, one per user, plans from the `plans` table in the mix of
  PLAN_MIX (85 % free). A paid user bought the plan once with an approved payment
  (monthly or, for 30 %, annual); about a fifth of the paid periods have already ended
  (`expires_at` in the past, not yet dropped to free by `expire_subscriptions`).
- **Payments**: one approved payment per paid user (Stripe, PayPal or bank transfer),
  plus one more for every five paid users that granted nothing (pending or rejected bank
  transfers, failed or cancelled card/PayPal payments).
- **L ledger rows**, per user in this order (ids ascending): the registration grant of
  the free plan's tokens (`idempotency_key='registration'`); for a paid user the plan
  grant of the paid plan change (docs/rules.md, `payment:<id>`); then the user's AI
  actions as `debit` entries, spread evenly over the time from registration (or
  payment) to now (or expiry).
  Actions and prices come from `articles.actions.ACTIONS` (the rewrite's length-based
  price varies between its base and its cap). A user's share of the actions follows a
  heavy-tailed weight, higher on bigger plans: most users have a handful, a few paid
  users hundreds.
- **One token_usage_history row per debit** (same action, cost and time).

What holds, by construction: every `balance_after` is the previous one plus `delta`
(each chain starts at 0), so each user's last `balance_after` and `users.tokens_remaining`
equal SUM(delta); no balance is ever negative (a user never spends past what the plan
allowed); `tokens_limit` is what a paid plan change gives (free tokens + plan tokens for a paid
user); `token_sync_report` finds no drift. The counts are exact (L ledger rows,
L − U − paid users usage rows) unless L is so large for U that the users could not
afford that many actions; the generator then writes fewer and says so.

The same arguments give the same data: "random" values are CRC32 hashes of the row
number, not RAND(), so they do not depend on the order MariaDB reads rows in.

A ledger is clustered by user here (each user's rows have consecutive ids), as if each
user's history had been loaded at once; in production the rows of many users
interleave. Benchmarks that read one user's rows see fewer pages than they would there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from articles.actions import ACTIONS

# (plan slug, share of users, relative number of AI actions its users take)
PLAN_MIX = [
    ("free", 0.85, 1),
    ("starter", 0.07, 3),
    ("grow", 0.04, 5),
    ("professional", 0.025, 8),
    ("business", 0.01, 12),
    ("enterprise", 0.005, 16),
]
ACTION_MIX = [
    ("generate_seo_title", 0.35),
    ("generate_meta_description", 0.30),
    ("rewrite", 0.20),
    ("find_image", 0.15),
]
# Users follow one of this many sequences of actions (see _spend_patterns).
PATTERNS = 16
# At most this many actions per user: enough for the heavy tail, small enough that
# the pattern table (PATTERNS × this) is built in a moment.
MAX_ACTIONS_PER_USER = 5000
PAYMENT_METHODS = [("stripe", 0.5), ("bank_transfer", 0.3), ("paypal", 0.2)]
# Payment reference codes: "VOLX-" and 8 letters of this alphabet (payments.models).
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class ScaleDataError(Exception):
    pass


@dataclass
class Generated:
    users: int
    paid_users: int
    payments: int
    ledger_rows: int
    usage_rows: int
    seconds: float


def generate(
    *, users: int, ledger_rows: int, append: bool = False, log: Callable[[str], None] = print
) -> Generated:
    """Write the data described in the module docstring; returns what was written.

    Refuses anything but MariaDB, and a database that has users unless `append`.
    On an empty database the checks of unique and foreign keys are off for this
    session only: the data is unique and consistent by construction, and that lets
    InnoDB sort each index once instead of inserting 10M rows into it one by one.
    Appending keeps every check and is much slower. Each table is one statement (its own
    transaction): a run that fails leaves the tables it finished, so start again from a
    fresh database.
    """
    if connection.vendor != "mysql" or not connection.mysql_is_mariadb:
        raise ScaleDataError(
            "generate_scale_data runs on MariaDB only (it uses MariaDB's sequence engine); "
            f"this database is {connection.display_name}."
        )
    if users < 1 or ledger_rows < users:
        raise ScaleDataError("need at least 1 user and one ledger row (the grant) per user")
    started = time.monotonic()
    with connection.cursor() as cursor:
        run = _Runner(cursor, log)
        cursor.execute("SELECT COUNT(*) FROM users")
        if cursor.fetchone()[0] and not append:
            raise ScaleDataError("the database already has users; pass --append to add more")
        if not append:
            cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        try:
            cursor.execute("SET @now = UTC_TIMESTAMP(6), @users = %s", [users])
            for table in ["users", "user_subscriptions", "payments", "token_ledger"]:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) INTO @{table}_base FROM {table}")
            cursor.execute("SELECT COALESCE(MAX(id), 0) INTO @usage_base FROM token_usage_history")
            run("action patterns", _spend_patterns())
            run("staging: plans and times per user", *_plan_users(users))
            paid = run.value("SELECT SUM(paid) FROM scale_users")
            cursor.execute("SET @paid = %s", [paid])
            spends = ledger_rows - users - paid
            if spends < 0:
                raise ScaleDataError(f"need at least {users + paid} ledger rows for the grants")
            run("staging: actions per user", *_share_actions(spends))
            remainder = spends - run.value("SELECT SUM(spends) FROM scale_users")
            while remainder > 0:  # what flooring the shares left over: one more each
                cursor.execute(
                    "UPDATE scale_users SET spends = spends + 1 WHERE spends < capacity "
                    "ORDER BY n LIMIT %s",
                    [remainder],
                )
                if not cursor.rowcount:
                    log(f"  {remainder:,} actions left out: the users cannot afford more")
                    break
                remainder -= cursor.rowcount
            run("staging: ids and balances", _offsets())
            run("users", _users())
            run("user_subscriptions", _subscriptions())
            run("payments", _payments(paid // 5))
            run("token_ledger", _ledger())
            run("token_usage_history", _usage())
            tables = "users, user_subscriptions, payments, token_ledger, token_usage_history"
            run("statistics (ANALYZE TABLE)", f"ANALYZE TABLE {tables}")
            cursor.fetchall()
            debits = run.value("SELECT SUM(spends) FROM scale_users")
            generated = Generated(
                users=users,
                paid_users=paid,
                payments=paid + paid // 5,
                ledger_rows=users + paid + debits,
                usage_rows=debits,
                seconds=time.monotonic() - started,
            )
        finally:
            cursor.execute("DROP TEMPORARY TABLE IF EXISTS scale_patterns, scale_users")
            cursor.execute("SET SESSION unique_checks = 1, foreign_key_checks = 1")
    return generated


class _Runner:
    """Runs statements, logging each step with its time."""

    def __init__(self, cursor, log: Callable[[str], None]):
        self.cursor, self.log = cursor, log

    def __call__(self, label: str, *statements: str) -> None:
        started = time.monotonic()
        for sql in statements:
            self.cursor.execute(sql)
        self.log(f"  {label:<40} {time.monotonic() - started:7.1f} s")

    def value(self, sql: str) -> int:
        self.cursor.execute(sql)
        return int(self.cursor.fetchone()[0] or 0)


def _uniform(expr: str, salt: str) -> str:
    """SQL for a number in [0, 1) that depends only on `expr` and `salt`."""
    return f"(CRC32(CONCAT({expr}, ':{salt}')) / 4294967296)"


def _pick(uniform: str, choices: list[tuple]) -> str:
    """SQL choosing a value from (value, share, …) tuples by a uniform number."""
    cases, bound = [], 0.0
    for value, share, *_ in choices[:-1]:
        bound += share
        cases.append(f"WHEN {uniform} < {bound:.4f} THEN '{value}'")
    return f"CASE {' '.join(cases)} ELSE '{choices[-1][0]}' END"


def _spend_patterns() -> str:
    """PATTERNS sequences of actions with their running cost: `spent` after action p.

    Users share them, so a user's balance after any number of actions is one lookup,
    and no window function over ten million rows is needed. A user's first n actions
    are one range of `step` (pattern × MAX_ACTIONS_PER_USER + p): with (pattern, p) as
    the key, MariaDB looked them up by pattern alone and read thousands of rows per user.
    """
    costs = " ".join(
        f"WHEN '{name}' THEN {action.base_cost}"
        + (
            f" + FLOOR({_uniform('pattern * 100000 + p', 'length')}"
            f" * {action.max_cost - action.base_cost + 1})"
            if action.max_cost
            else ""
        )
        for name, action in ACTIONS.items()
    )
    return f"""
CREATE TEMPORARY TABLE scale_patterns (
  step BIGINT PRIMARY KEY, pattern INT, p INT, action VARCHAR(50), cost INT, spent BIGINT,
  KEY (pattern, spent)
) AS SELECT pattern * {MAX_ACTIONS_PER_USER} + p AS step, pattern, p, action, cost,
            SUM(cost) OVER (PARTITION BY pattern ORDER BY p) AS spent
FROM (
  SELECT pattern, p, action, CASE action {costs} END AS cost
  FROM (
    SELECT a.seq AS pattern, b.seq AS p,
           {_pick(_uniform("a.seq * 100000 + b.seq", "action"), ACTION_MIX)} AS action
    FROM seq_0_to_{PATTERNS - 1} a JOIN seq_1_to_{MAX_ACTIONS_PER_USER} b
  ) chosen
) priced"""


def _plan_users(users: int) -> list[str]:
    """One staging row per new user: plan, billing, dates, action pattern and weight."""
    weight = " ".join(f"WHEN '{slug}' THEN {w}" for slug, _, w in PLAN_MIX)
    return [
        """
CREATE TEMPORARY TABLE scale_users (
  n INT PRIMARY KEY, plan VARCHAR(20), paid TINYINT, annual TINYINT, method VARCHAR(20),
  pattern INT, weight DOUBLE, opening INT, capacity INT, spends INT,
  registered_at DATETIME(6), paid_at DATETIME(6), expires_at DATETIME(6),
  spend_from DATETIME(6), spend_seconds BIGINT, balance INT,
  payment_id BIGINT, ledger_offset BIGINT, usage_offset BIGINT,
  KEY (pattern, opening)
)""",
        # Registered over the last two years, oldest first; a paid user paid a while
        # after registering (at most one billing period ago, or up to two months more
        # for a period that has ended).
        f"""
INSERT INTO scale_users (n, plan, paid, annual, method, pattern, weight, opening,
                         registered_at, paid_at, expires_at)
SELECT n, plan, paid, annual, method, pattern, weight, opening, registered_at, paid_at,
       paid_at + INTERVAL IF(annual, 365, 30) DAY
FROM (
  SELECT n, plan, paid, annual, method, pattern, weight, opening, registered_at,
         IF(paid, GREATEST(registered_at + INTERVAL 1 HOUR,
                           @now - INTERVAL FLOOR(IF({_uniform("n", "expired")} < 0.2,
                               (IF(annual, 365, 30) + {_uniform("n", "late")} * 60),
                               {_uniform("n", "paid")} * IF(annual, 365, 30)) * 86400) SECOND),
            NULL) AS paid_at
  FROM (
    SELECT chosen.seq AS n, chosen.plan, chosen.plan <> 'free' AS paid,
           chosen.plan <> 'free' AND {_uniform("chosen.seq", "cycle")} < 0.3 AS annual,
           IF(chosen.plan <> 'free',
              {_pick(_uniform("chosen.seq", "method"), PAYMENT_METHODS)}, '') AS method,
           chosen.seq % {PATTERNS} AS pattern,
           CASE chosen.plan {weight} END
             * (0.2 + 10 * POW({_uniform("chosen.seq", "weight")}, 6)) AS weight,
           free.tokens + IF(chosen.plan <> 'free', plan.tokens, 0) AS opening,
           @now - INTERVAL (86400 + FLOOR(729 * 86400 * (@users - chosen.seq + 1) / @users))
             SECOND AS registered_at
    FROM (SELECT seq, {_pick(_uniform("seq", "plan"), PLAN_MIX)} AS plan
          FROM seq_1_to_{users}) chosen
    JOIN plans plan ON plan.slug = chosen.plan
    JOIN plans free ON free.slug = 'free'
  ) base
) dated""",
    ]


def _share_actions(spends: int) -> list[str]:
    """Give each user a share of `spends` actions by weight, capped by what the user's
    tokens (free grant + plan grant) can pay for along the user's pattern."""
    return [
        """
UPDATE scale_users s LEFT JOIN (
  SELECT o.pattern, o.opening, MAX(t.p) AS capacity
  FROM (SELECT DISTINCT pattern, opening FROM scale_users) o
  JOIN scale_patterns t ON t.pattern = o.pattern AND t.spent <= o.opening
  GROUP BY o.pattern, o.opening
) c ON c.pattern = s.pattern AND c.opening = s.opening
SET s.capacity = COALESCE(c.capacity, 0)""",
        "SELECT SUM(weight) INTO @weights FROM scale_users",
        f"UPDATE scale_users SET spends = LEAST(capacity, FLOOR({spends} * weight / @weights))",
    ]


def _offsets() -> str:
    """Ids (each user's rows consecutive), payment ids, final balances, action times."""
    return f"""
UPDATE scale_users s
JOIN (
  SELECT n, SUM(1 + paid + spends) OVER w - (1 + paid + spends) AS ledger_offset,
         SUM(spends) OVER w - spends AS usage_offset, SUM(paid) OVER w AS paid_rank
  FROM scale_users WINDOW w AS (ORDER BY n)
) o ON o.n = s.n
LEFT JOIN scale_patterns t ON t.step = s.pattern * {MAX_ACTIONS_PER_USER} + s.spends
SET s.ledger_offset = @token_ledger_base + o.ledger_offset,
    s.usage_offset = @usage_base + o.usage_offset,
    s.payment_id = IF(s.paid, @payments_base + o.paid_rank, NULL),
    s.balance = s.opening - COALESCE(t.spent, 0),
    s.spend_from = COALESCE(s.paid_at, s.registered_at),
    s.spend_seconds = TIMESTAMPDIFF(SECOND, COALESCE(s.paid_at, s.registered_at),
                                    LEAST(@now, COALESCE(s.expires_at, @now)))"""


def _users() -> str:
    return f"""
INSERT INTO users (id, password, last_login, email, username, full_name, avatar_url, bio,
                   is_active, is_verified, role, tokens_remaining, verification_token,
                   created_at, updated_at)
SELECT @users_base + n, '!unusable', NULL, CONCAT('user', @users_base + n, '@example.com'),
       CONCAT('user', @users_base + n), CONCAT('User ', @users_base + n), '', '',
       1, {_uniform("n", "verified")} < 0.8, 'user', balance, NULL,
       registered_at, registered_at
FROM scale_users"""


def _subscriptions() -> str:
    return f"""
INSERT INTO user_subscriptions (id, user_id, plan_type, tokens_limit, articles_limit, features,
                                billing_cycle, is_active, auto_renew, payment_method, payment_id,
                                expires_at, created_at, updated_at, low_balance_notified_at)
SELECT @user_subscriptions_base + s.n, @users_base + s.n, s.plan, s.opening,
       plan.articles_limit, plan.features, IF(s.annual, 'annual', 'monthly'), 1,
       s.method = 'stripe' AND {_uniform("s.n", "renew")} < 0.6, s.method,
       COALESCE(s.payment_id, ''), s.expires_at, s.registered_at,
       COALESCE(s.paid_at, s.registered_at), NULL
FROM scale_users s JOIN plans plan ON plan.slug = s.plan"""


def _reference_code(id_sql: str) -> str:
    """SQL for a unique "VOLX-XXXXXXXX" per id: the id times an odd number modulo 32⁸
    is a one-to-one scramble, written in base 32 with the payments' alphabet."""
    scrambled = f"(({id_sql}) * 2654435761 % 1099511627776)"
    letters = ", ".join(
        f"SUBSTRING('{REFERENCE_ALPHABET}', 1 + ({scrambled} >> {5 * k} & 31), 1)" for k in range(8)
    )
    return f"CONCAT('VOLX-', {letters})"


def _payments(others: int) -> str:
    """The paid users' approved payments, then `others` that granted nothing."""
    previous = """JSON_OBJECT('plan_type', 'free', 'tokens_limit', free.tokens,
        'articles_limit', free.articles_limit, 'features', JSON_EXTRACT(free.features, '$'),
        'billing_cycle', 'monthly', 'auto_renew', FALSE, 'payment_method', '',
        'payment_id', '', 'expires_at', NULL)"""
    status = _pick(
        _uniform("o.seq", "status"),
        [("pending", 0.35), ("failed", 0.25), ("cancelled", 0.25), ("rejected", 0.15)],
    )
    card = _pick(_uniform("o.seq", "method"), [("stripe", 0.7), ("paypal", 0.3)])
    to_plan = _pick(_uniform("o.seq", "to_plan"), [(slug, 0.2) for slug, *_ in PLAN_MIX[1:]])
    other_payments = (
        f"""
UNION ALL
SELECT o.id, o.from_plan, o.to_plan, o.cycle,
       IF(o.cycle = 'annual', plan.price_annual, plan.price_monthly), plan.currency,
       IF(o.status IN ('pending', 'rejected'), 'bank_transfer', o.card), o.status,
       {_reference_code("o.id")}, '', '', '', '', 0,
       IF(o.status = 'rejected', 'transfer not received', ''),
       IF(o.status = 'pending', NULL, o.created_at + INTERVAL 1 DAY), 0, NULL, NULL,
       o.created_at, o.created_at, NULL, o.user_id
FROM (
  SELECT id, user_id, from_plan, to_plan, cycle, status, card,
         GREATEST(registered_at, @now - INTERVAL FLOOR(
           when_share * IF(status = 'pending', 14, 365) * 86400) SECOND) AS created_at
  FROM (
    SELECT @payments_base + @paid + o.seq AS id, @users_base + s.n AS user_id,
           s.plan AS from_plan, {to_plan} AS to_plan,
           IF({_uniform("o.seq", "cycle")} < 0.3, 'annual', 'monthly') AS cycle,
           {status} AS status, {card} AS card, s.registered_at,
           {_uniform("o.seq", "when")} AS when_share
    FROM seq_1_to_{others} o
    JOIN scale_users s ON s.n = 1 + FLOOR({_uniform("o.seq", "payer")} * @users)
  ) chosen
) o JOIN plans plan ON plan.slug = o.to_plan"""
        if others
        else ""
    )
    return f"""
INSERT INTO payments (id, from_plan, to_plan, billing_cycle, amount, currency, method, status,
                      reference_code, provider_reference, provider_transaction_id,
                      provider_subscription_id, checkout_url, needs_review, reason, decided_at,
                      granted_tokens, previous_subscription, refunded_at, created_at,
                      updated_at, decided_by_id, user_id)
SELECT s.payment_id, 'free', s.plan, IF(s.annual, 'annual', 'monthly'),
       IF(s.annual, plan.price_annual, plan.price_monthly), plan.currency, s.method, 'approved',
       {_reference_code("s.payment_id")},
       CASE s.method WHEN 'stripe' THEN CONCAT('cs_scale_', s.payment_id)
                     WHEN 'paypal' THEN CONCAT('PAYID-SCALE', s.payment_id) ELSE '' END,
       CASE s.method WHEN 'stripe' THEN CONCAT('pi_scale_', s.payment_id)
                     WHEN 'paypal' THEN CONCAT('SALE-SCALE', s.payment_id) ELSE '' END,
       '', '', 0, '', s.paid_at, plan.tokens, {previous}, NULL,
       s.paid_at - INTERVAL 10 MINUTE, s.paid_at, NULL, @users_base + s.n
FROM scale_users s JOIN plans plan ON plan.slug = s.plan JOIN plans free ON free.slug = 'free'
WHERE s.paid{other_payments}"""


def _ledger() -> str:
    """Registration grant, plan grant, then the debits: each chain from 0, in id order."""
    debits = _debits(
        "s.ledger_offset + 1 + s.paid + t.p, @users_base + s.n, -t.cost, s.opening - t.spent, "
        "'debit', t.action, NULL, NULL, ''"
    )
    return f"""
INSERT INTO token_ledger (id, user_id, delta, balance_after, kind, reference, idempotency_key,
                          actor_id, note, created_at)
SELECT s.ledger_offset + 1, @users_base + s.n, free.tokens, free.tokens, 'grant', 'plan:free',
       'registration', NULL, 'free tokens on registration', s.registered_at
FROM scale_users s JOIN plans free ON free.slug = 'free'
UNION ALL
SELECT s.ledger_offset + 2, @users_base + s.n, s.opening - free.tokens, s.opening, 'grant',
       CONCAT('payment:', s.payment_id), CONCAT('payment:', s.payment_id), NULL,
       CONCAT('plan free → ', s.plan), s.paid_at
FROM scale_users s JOIN plans free ON free.slug = 'free'
WHERE s.paid
UNION ALL
{debits}"""


def _usage() -> str:
    return f"""
INSERT INTO token_usage_history (id, user_id, article_id, tokens_used, action,
                                 provider_tokens, created_at)
{_debits("s.usage_offset + t.p, @users_base + s.n, NULL, t.cost, t.action, NULL")}"""


def _debits(columns: str) -> str:
    """SELECT `columns` and the time for each of a user's actions (the first `spends` of
    the user's pattern), spread evenly over the user's spending period.

    STRAIGHT_JOIN: users first, then each user's range of steps ("range checked for each
    record"); left to itself MariaDB chose a block nested loop over both whole tables.
    """
    return f"""
SELECT {columns},
       s.spend_from + INTERVAL FLOOR(s.spend_seconds * t.p / (s.spends + 1)) SECOND
FROM scale_users s STRAIGHT_JOIN scale_patterns t
  ON t.step BETWEEN s.pattern * {MAX_ACTIONS_PER_USER} + 1
                AND s.pattern * {MAX_ACTIONS_PER_USER} + s.spends"""
