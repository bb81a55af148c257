"""The plans page (README, Pages): the catalogue side by side, the current plan marked."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET

from subscriptions.models import Plan

# The seeded catalogue's names and features (subscriptions/migrations/0002_seed_plans.py),
# for the translation catalogue. Templates pass them through {% translate %}; text the
# operator writes in the admin is shown as written.
CATALOGUE_TEXT = [
    gettext_noop("Free"),
    gettext_noop("Starter"),
    gettext_noop("Grow"),
    gettext_noop("Professional"),
    gettext_noop("Business"),
    gettext_noop("Enterprise"),
    gettext_noop("All four AI actions"),
    gettext_noop("2 articles"),
    gettext_noop("10 articles / month"),
    gettext_noop("25 articles / month"),
    gettext_noop("50 articles / month"),
    gettext_noop("120 articles / month"),
    gettext_noop("300 articles / month"),
    gettext_noop("Priority support"),
    gettext_noop("Bank transfer invoicing"),
]


@require_GET
def plans(request: HttpRequest) -> HttpResponse:
    """Open to visitors too: they see the prices, and a sign-up link instead of buying."""
    subscription = getattr(request.user, "subscription", None)
    current = subscription.plan_type if subscription else None
    catalogue = list(Plan.objects.all())
    for plan in catalogue:
        plan.is_current = plan.slug == current
    return render(
        request,
        "subscriptions/plans.html",
        {
            "plans": catalogue,
            "subscription": subscription,
            # docs/rules.md, Paid plan change: "add" (default) or "reset".
            "tokens_replace": settings.TOKENS_ON_PLAN_CHANGE == "reset",
        },
    )
