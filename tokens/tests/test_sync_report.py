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


# --- the checksums: drift of every kind is found, and a clean report compares nothing ----


def users_in_every_state() -> dict[str, User]:
    """Every status, and drift of every kind: alone, two opposite drifts that leave the
    ledger's total unchanged, and two balances swapped (only the CRC32 part of the
    checksums can tell those)."""
    from subscriptions.models import UserSubscription

    names = ["synced", "used", "bonus", "null", "orphan", "zero", "ahead", "behind"]
    users = {name: UserFactory() for name in names + ["plus", "minus", "swap1", "swap2"]}
    Wallet(users["used"]).debit(300, action="seo_title")
    Wallet(users["bonus"]).credit(500, kind="bonus")
    Wallet(users["zero"]).debit(10_000)
    Wallet(users["swap1"]).debit(100)
    Wallet(users["swap2"]).debit(200)
    User.objects.filter(pk=users["null"].pk).update(tokens_remaining=None)
    UserSubscription.objects.filter(user=users["orphan"]).delete()
    User.objects.filter(pk=users["ahead"].pk).update(tokens_remaining=10_300)
    User.objects.filter(pk=users["behind"].pk).update(tokens_remaining=0)
    User.objects.filter(pk=users["plus"].pk).update(tokens_remaining=10_500)
    User.objects.filter(pk=users["minus"].pk).update(tokens_remaining=9_500)
    User.objects.filter(pk=users["swap1"].pk).update(tokens_remaining=9_800)
    User.objects.filter(pk=users["swap2"].pk).update(tokens_remaining=9_900)
    return users


def drift_by_the_orm() -> list[int]:
    """The users whose balance is not their ledger sum, computed in Python."""
    from django.db.models import Sum

    sums = dict(
        LedgerEntry.objects.values("user_id").annotate(s=Sum("delta")).values_list("user_id", "s")
    )
    return [
        pk
        for pk, balance in User.objects.order_by("pk").values_list("pk", "tokens_remaining")
        if balance is not None and balance != sums.get(pk, 0)
    ]


def handbook_rows(sql: str, limit: int) -> list[dict]:
    from tokens.sync import _rows

    with connection.cursor() as cursor:
        return _rows(cursor, sql, limit)


def test_every_drift_is_found_and_named():
    from tokens.sync import DRIFT_QUERY

    users = users_in_every_state()

    report = sync_report()

    drifted = [users[name].pk for name in ("ahead", "behind", "plus", "minus", "swap1", "swap2")]
    assert [row["id"] for row in report.drift] == drifted == drift_by_the_orm()
    assert report.drift_count == 6 == report.statuses["Drift"]
    assert report.statuses["NULL"] == report.statuses["No subscription"] == 1
    assert report.users == User.objects.count()
    assert report.drift == handbook_rows(DRIFT_QUERY, None)


def test_the_largest_differences_are_the_handbook_querys_first_rows():
    users_in_every_state()
    report = sync_report(limit=5)
    expected = handbook_rows(DIFFERENCE_QUERY, 5)
    assert [r["difference"] for r in report.difference] == [r["difference"] for r in expected]
    assert set(report.difference[0]) == set(expected[0])


def test_a_clean_report_compares_no_user_by_user():
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        Wallet(UserFactory()).debit(300)
    with CaptureQueriesContext(connection) as queries:
        assert sync_report().clean
    assert not [q for q in queries if "HAVING MAX(u.tokens_remaining)" in q["sql"]]


def test_a_balance_without_any_ledger_entry_is_drift_and_0_is_not():
    legacy, at_zero = UserFactory(), UserFactory()
    LedgerEntry.objects.filter(user__in=[legacy, at_zero]).delete()
    User.objects.filter(pk=at_zero.pk).update(tokens_remaining=0)

    report = sync_report()

    assert [row["id"] for row in report.drift] == [legacy.pk]


def test_a_null_balance_with_ledger_entries_is_null_not_drift():
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(tokens_remaining=None)
    report = sync_report()
    assert (report.statuses["NULL"], report.drift_count) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_the_report_runs_on_the_callers_connection():
    """No second connection: inside a transaction the report sees its uncommitted rows."""
    from django.db import transaction

    user = UserFactory()
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(tokens_remaining=1)
        assert [row["id"] for row in sync_report().drift] == [user.pk]
        transaction.set_rollback(True)
    assert sync_report().clean
