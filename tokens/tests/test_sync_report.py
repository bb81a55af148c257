import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User
from accounts.tests.factories import UserFactory
from tokens.models import LedgerEntry
from tokens.sync import (
    DIFFERENCE_QUERY,
    NULL_BALANCE_QUERY,
    RECENT_USAGE_QUERY,
    _portable,
    sync_report,
)
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("token_sync_report", *args, stdout=out)
    return out.getvalue()


def test_the_handbook_queries_run_verbatim_on_mysql():
    if connection.vendor != "mysql":
        pytest.skip("the handbook's SQL is MySQL's (INTERVAL); SQLite runs a portable variant")
    assert _portable(RECENT_USAGE_QUERY) == RECENT_USAGE_QUERY
    with connection.cursor() as cursor:
        for sql in (DIFFERENCE_QUERY, RECENT_USAGE_QUERY, NULL_BALANCE_QUERY):
            cursor.execute(sql)


def test_clean_report_with_every_status():
    synced = UserFactory()
    used = UserFactory()
    Wallet(used).debit(300, action="seo_title")
    bonus = UserFactory()
    Wallet(bonus).credit(500, kind="bonus")
    null = UserFactory()
    User.objects.filter(pk=null.pk).update(tokens_remaining=None)

    report = sync_report()

    assert report.statuses == {
        "Synced": 1,
        "Used some": 1,
        "Bonus": 1,
        "NULL": 1,
        "No subscription": 0,
        "Drift": 0,
    }
    assert report.clean
    assert [r["id"] for r in report.null_balances] == [null.pk]
    assert report.difference[0] == {
        "id": used.pk,
        "email": used.email,
        "tokens_remaining": 9_700,
        "tokens_limit": 10_000,
        "difference": 300,
    }
    assert [(r["email"], r["tokens_used"]) for r in report.recent_usage] == [(used.email, 300)]
    assert synced.pk in [r["id"] for r in report.difference]
    out = run()
    assert "OK: every balance equals its ledger sum." in out


def test_drift_exits_non_zero_and_names_the_user():
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(tokens_remaining=12_345)  # behind the wallet's back

    with pytest.raises(CommandError) as failed:
        run()

    assert failed.value.returncode == 1
    report = sync_report()
    assert report.drift == [
        {"id": user.pk, "email": user.email, "tokens_remaining": 12_345, "ledger_sum": 10_000}
    ]


def test_fix_null_restores_every_null_balance_by_rule_6():
    from_ledger = UserFactory()
    Wallet(from_ledger).debit(300)
    legacy = UserFactory()
    LedgerEntry.objects.filter(user=legacy).delete()
    zero = UserFactory()
    Wallet(zero).debit(10_000)
    User.objects.filter(pk__in=[from_ledger.pk, legacy.pk]).update(tokens_remaining=None)

    out = run("--fix-null")

    assert "Restored 2 NULL balance(s)." in out
    balances = dict(User.objects.values_list("pk", "tokens_remaining"))
    assert balances[from_ledger.pk] == 9_700
    assert balances[legacy.pk] == 10_000
    assert balances[zero.pk] == 0  # 0 is a real balance, left alone
    assert sync_report().clean
    assert "Restored 0 NULL balance(s)." in run("--fix-null")  # idempotent


def test_purge_idempotency_keys_deletes_only_expired_records(user):
    from datetime import timedelta
    from io import StringIO

    from django.utils import timezone

    from tokens.models import IdempotencyRecord

    IdempotencyRecord.objects.create(user=user, key="old", fingerprint="f")
    IdempotencyRecord.objects.create(user=user, key="new", fingerprint="f")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    out = StringIO()
    call_command("purge_idempotency_keys", stdout=out)
    assert "Deleted 1 expired key(s)." in out.getvalue()
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


# --- MariaDB: the checksummed report against the portable one ------------------------

needs_mariadb = pytest.mark.skipif(
    connection.vendor != "mysql", reason="the checksummed report is MariaDB's"
)


def users_in_every_state() -> dict[str, User]:
    """Every status, and drift of every kind: alone, and two opposite drifts that leave the
    ledger's total unchanged (only the CRC32 part of the checksums can tell)."""
    from subscriptions.models import UserSubscription

    users = {name: UserFactory() for name in ("synced", "used", "bonus", "null", "orphan")}
    users |= {name: UserFactory() for name in ("zero", "ahead", "behind", "plus", "minus")}
    Wallet(users["used"]).debit(300, action="seo_title")
    Wallet(users["bonus"]).credit(500, kind="bonus")
    Wallet(users["zero"]).debit(10_000)
    User.objects.filter(pk=users["null"].pk).update(tokens_remaining=None)
    UserSubscription.objects.filter(user=users["orphan"]).delete()
    User.objects.filter(pk=users["ahead"].pk).update(tokens_remaining=10_300)
    User.objects.filter(pk=users["behind"].pk).update(tokens_remaining=0)
    User.objects.filter(pk=users["plus"].pk).update(tokens_remaining=10_500)
    User.objects.filter(pk=users["minus"].pk).update(tokens_remaining=9_500)
    return users


def assert_same_report(report, reference) -> None:
    assert report.users == reference.users
    assert report.statuses == reference.statuses
    assert report.drift == reference.drift
    assert report.drift_count == reference.drift_count
    assert [r["difference"] for r in report.difference] == [
        r["difference"] for r in reference.difference
    ]
    assert report.null_balances == reference.null_balances
    assert report.recent_usage == reference.recent_usage


@needs_mariadb
@pytest.mark.parametrize("bucket", [2, 1000])
def test_checksums_find_every_drift_the_plain_queries_find(bucket, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    from tokens import sync

    monkeypatch.setattr(sync, "BUCKET", bucket)
    users = users_in_every_state()

    with CaptureQueriesContext(connection) as queries:
        report = sync_report()

    drifted = [users[name].pk for name in ("ahead", "behind", "plus", "minus")]
    assert [row["id"] for row in report.drift] == drifted
    assert report.statuses["NULL"] == report.statuses["No subscription"] == 1
    assert_same_report(report, sync.portable_report())
    # Only buckets whose checksums differ are compared user by user.
    checked = [q["sql"] for q in queries if "HAVING MAX(u.tokens_remaining)" in q["sql"]]
    ranges = {user_id // bucket for user_id in drifted + [users["null"].pk]}
    assert 1 <= len(checked) <= len(ranges)


@needs_mariadb
def test_a_clean_report_compares_no_user_by_user():
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        Wallet(UserFactory()).debit(300)
    with CaptureQueriesContext(connection) as queries:
        assert sync_report().clean
    assert not [q for q in queries if "HAVING MAX(u.tokens_remaining)" in q["sql"]]


@needs_mariadb
@pytest.mark.django_db(transaction=True)
def test_the_ledger_checksums_run_on_a_second_connection(monkeypatch):
    """Outside a transaction the ledger's GROUP BY runs on a connection of its own, in a
    thread, while this one reads the users: the same report."""
    from tokens import sync

    opened = []
    create = sync.connections.create_connection
    monkeypatch.setattr(
        sync.connections, "create_connection", lambda alias: opened.append(alias) or create(alias)
    )
    users_in_every_state()

    report = sync_report()

    assert opened == ["default"]
    assert report.drift_count == 4
    assert_same_report(report, sync.portable_report())


@needs_mariadb
def test_opposite_drifts_in_one_bucket_are_found(monkeypatch):
    """Count and sum of the bucket unchanged: the CRC32 sum tells."""
    from tokens import sync

    monkeypatch.setattr(sync, "BUCKET", 10**9)  # every user in one bucket
    plus, minus = UserFactory(), UserFactory()
    User.objects.filter(pk=plus.pk).update(tokens_remaining=10_500)
    User.objects.filter(pk=minus.pk).update(tokens_remaining=9_500)

    assert [row["id"] for row in sync_report().drift] == [plus.pk, minus.pk]
