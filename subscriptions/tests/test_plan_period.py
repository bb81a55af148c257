"""The plan period: when it starts (what the article limit counts from), and the
migration that stored each subscription's plan start."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from accounts.tests.factories import UserFactory
from subscriptions.models import UserSubscription

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def subscription(**fields) -> UserSubscription:
    sub = UserFactory().subscription
    for field, value in fields.items():
        setattr(sub, field, value)
    return sub


NOW = timezone.now()


@pytest.mark.parametrize(
    ("started_days_ago", "expires_in_days", "cycle", "period_began_days_ago"),
    [
        (10, None, "monthly", 10),  # no end (free): since the plan began
        (5, 25, "monthly", 5),  # the first cycle
        (100, 25, "monthly", 5),  # a later cycle: counted back from the end
        (20, 40, "monthly", 20),  # bought again early: the first cycle goes on
        (35, 25, "monthly", 5),  # ... and the second begins where the first ended
        (65, 300, "annual", 65),
        (400, 300, "annual", 65),
        (3, 10, "annual", 3),  # never before the plan began
        (40, -1, "monthly", 31),  # past the end (grace hours): the last cycle goes on
    ],
)
def test_period_start(started_days_ago, expires_in_days, cycle, period_began_days_ago):
    sub = subscription(
        plan_started_at=NOW - started_days_ago * DAY,
        expires_at=None if expires_in_days is None else NOW + expires_in_days * DAY,
        billing_cycle=cycle,
    )

    assert sub.period_start(now=NOW) == NOW - period_began_days_ago * DAY


def test_the_migration_backfills_when_each_plan_began():
    backfill = importlib.import_module("subscriptions.migrations.0004_plan_started_at").backfill
    registered = subscription()  # free, never changed
    expired = subscription()  # free again after a paid plan
    monthly = subscription(plan_type="professional", billing_cycle="monthly")
    annual = subscription(plan_type="business", billing_cycle="annual")
    bought_twice = subscription(plan_type="starter", billing_cycle="monthly")
    rows = {
        registered: {"updated_at": NOW - 90 * DAY},
        expired: {"updated_at": NOW - 3 * DAY},
        monthly: {"updated_at": NOW - 12 * DAY, "expires_at": NOW + 18 * DAY},
        annual: {"updated_at": NOW - 65 * DAY, "expires_at": NOW + 300 * DAY},  # renewed
        bought_twice: {"updated_at": NOW - 5 * DAY, "expires_at": NOW + 50 * DAY},
    }
    for sub, fields in rows.items():
        UserSubscription.objects.filter(pk=sub.pk).update(plan_started_at=NOW, **fields)

    backfill(apps, None)

    started = dict(UserSubscription.objects.values_list("pk", "plan_started_at"))
    assert started[registered.pk] == NOW - 90 * DAY
    assert started[expired.pk] == NOW - 3 * DAY
    assert started[monthly.pk] == NOW - 12 * DAY
    assert started[annual.pk] == NOW - 65 * DAY
    assert started[bought_twice.pk] == NOW - 5 * DAY  # not the future start 50 − 30 days on
