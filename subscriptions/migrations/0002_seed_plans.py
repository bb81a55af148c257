"""The plan catalogue (docs/rules.md, Plan catalogue). Prices other than professional's and article limits
other than free's are Volx's defaults (README); the operator edits them in the admin.
Annual price = 10 × monthly (two months free)."""

from decimal import Decimal

from django.db import migrations

CATALOGUE = [
    # slug, name, tokens, articles, monthly USD, features
    ("free", "Free", 10_000, 2, "0", ["All four AI actions", "2 articles"]),
    ("starter", "Starter", 400_000, 10, "9", ["All four AI actions", "10 articles / month"]),
    ("grow", "Grow", 1_000_000, 25, "19", ["All four AI actions", "25 articles / month"]),
    (
        "professional", "Professional", 2_000_000, 50, "50",
        ["All four AI actions", "50 articles / month", "Priority support"],
    ),
    (
        "business", "Business", 4_000_000, 120, "89",
        ["All four AI actions", "120 articles / month", "Priority support"],
    ),
    (
        "enterprise", "Enterprise", 6_500_000, 300, "129",
        ["All four AI actions", "300 articles / month", "Priority support", "Bank transfer invoicing"],
    ),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("subscriptions", "Plan")
    for order, (slug, name, tokens, articles, monthly, features) in enumerate(CATALOGUE):
        Plan.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "tokens": tokens,
                "articles_limit": articles,
                "price_monthly": Decimal(monthly),
                "price_annual": Decimal(monthly) * 10,
                "currency": "USD",
                "features": features,
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
