from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User
from payments.models import Payment
from subscriptions.models import Plan, UserSubscription
from tokens.models import LedgerEntry, TokenUsage
from tokens.sync import sync_report
from tokens.wallet import Wallet

on_mariadb = pytest.mark.skipif(
    connection.vendor != "mysql", reason="bulk SQL for MariaDB (its sequence engine)"
)


def generate(*args: str) -> str:
    out = StringIO()
    call_command("generate_scale_data", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_refuses_anything_but_mariadb():
    if connection.vendor == "mysql":
        pytest.skip("this database is the one it runs on")
    with pytest.raises(CommandError, match="MariaDB only"):
        generate("--users", "10", "--ledger-rows", "100")


@on_mariadb
@pytest.mark.django_db(transaction=True)
def test_generated_data_is_consistent_and_complete():
    generate("--users", "200", "--ledger-rows", "2000")

    paid = UserSubscription.objects.exclude(plan_type="free").count()
    assert User.objects.count() == 200
    assert LedgerEntry.objects.count() == 2000
    assert TokenUsage.objects.count() == LedgerEntry.objects.filter(kind="debit").count()
    assert TokenUsage.objects.count() == 2000 - 200 - paid
    assert Payment.objects.filter(status="approved").count() == paid
    assert Payment.objects.count() == paid + paid // 5
    report = sync_report()
    assert report.clean and report.statuses["NULL"] == report.statuses["No subscription"] == 0
    # Each balance_after is the previous one plus delta, from 0, and never negative.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), MIN(balance_after) FROM (SELECT balance_after, SUM(delta) "
            "OVER (PARTITION BY user_id ORDER BY id) AS running FROM token_ledger) chain "
            "WHERE running <> balance_after"
        )
        assert cursor.fetchone() == (0, None)
    assert not LedgerEntry.objects.filter(balance_after__lt=0).exists()
    # A paid plan's allowance is what a paid plan change gives: the free tokens plus the plan's.
    free = Plan.objects.get(slug="free").tokens
    for subscription in UserSubscription.objects.exclude(plan_type="free")[:20]:
        plan = Plan.objects.get(slug=subscription.plan_type)
        assert subscription.tokens_limit == free + plan.tokens

    # The wallet works on a generated user as on any other.
    user = User.objects.order_by("-tokens_remaining").first()
    Wallet(user).debit(300, action="generate_seo_title")
    assert sync_report().clean


@on_mariadb
@pytest.mark.django_db(transaction=True)
def test_refuses_a_database_with_users_unless_appending():
    generate("--users", "20", "--ledger-rows", "200")

    with pytest.raises(CommandError, match="already has users"):
        generate("--users", "20", "--ledger-rows", "200")

    generate("--users", "30", "--ledger-rows", "300", "--append")
    assert User.objects.count() == 50
    assert LedgerEntry.objects.count() == 500
    assert sync_report().clean
