from datetime import timedelta

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Least


def backfill(apps, schema_editor):
    """When each subscription's current plan began, as well as the rows can tell.

    - Free: the last change of the subscription (`updated_at`), which is the drop to free
      for a plan that expired or was refunded, and the registration for one never
      changed. (Counting from `created_at` was the bug: the articles of an expired paid
      plan used up the free plan's.)
    - Paid: the start of the current billing cycle, `expires_at` minus one cycle, but not
      after the last change: a plan bought again early ends a cycle later, and its
      current cycle began before that.
    - Paid without an end (a hand-edited row): its last change.

    Two UPDATEs over the table, the same SQL on SQLite, MariaDB and MySQL.
    """
    subscriptions = apps.get_model("subscriptions", "UserSubscription").objects
    cycles = {"monthly": timedelta(days=30), "annual": timedelta(days=365)}
    subscriptions.filter(models.Q(plan_type="free") | models.Q(expires_at=None)).update(
        plan_started_at=F("updated_at")
    )
    for cycle, length in cycles.items():
        subscriptions.exclude(plan_type="free").filter(
            billing_cycle=cycle, expires_at__isnull=False
        ).update(plan_started_at=Least(F("expires_at") - length, F("updated_at")))


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0003_low_balance_notice_and_admin_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="usersubscription",
            name="plan_started_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(),
                default=django.utils.timezone.now,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
