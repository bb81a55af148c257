"""The AI tools page: a text box and the four actions (docs/rules.md, Charging for AI
actions; README, Pages).

The page only renders; static/js/tools.js calls /api/ai/<action> with the session
cookie, the CSRF token and a fresh Idempotency-Key per click, and shows the answer, the
new balance or the insufficient-tokens dialog.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from articles.actions import ACTIONS, TEXT_MAX_CHARS
from subscriptions.models import Plan
from tokens.wallet import Wallet


def action_buttons() -> list[dict]:
    buttons = []
    for action in ACTIONS.values():
        buttons.append(
            {
                "name": action.name,
                "slug": action.slug,
                "url": reverse(f"articles:{action.name}"),
                "label": action.label,
                "action": action,
                "by_length": action.chars_per_token is not None,
            }
        )
    return buttons


@login_required
@require_GET
def tools(request: HttpRequest) -> HttpResponse:
    subscription = getattr(request.user, "subscription", None)
    plans = {plan.slug: plan for plan in Plan.objects.all()}
    current_plan = plans.get(subscription.plan_type) if subscription else None
    return render(
        request,
        "articles/tools.html",
        {
            "actions": action_buttons(),
            "text_max_chars": TEXT_MAX_CHARS,
            "remaining": Wallet(request.user).balance(),
            "subscription": subscription,
            "current_plan": current_plan,
            # For the dialog: the 402 answer names the plan by its slug.
            "plan_names": {slug: _(plan.name) for slug, plan in plans.items()},
        },
    )
