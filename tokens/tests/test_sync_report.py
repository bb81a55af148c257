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
