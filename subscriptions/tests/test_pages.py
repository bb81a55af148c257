"""The plans page: the catalogue side by side, the current plan marked."""

import re

import pytest
from django.conf import settings

from subscriptions.models import Plan, UserSubscription

pytestmark = pytest.mark.django_db


def card(html: str, slug: str) -> str:
    match = re.search(rf'<article class="plan[^"]*" id="plan-{slug}".*?</article>', html, re.S)
    assert match, f"no card for {slug}"
    return match.group(0)


def test_visitors_see_the_plans_with_a_sign_up_link(client):
    response = client.get("/plans/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "⚡ 2,000,000" in card(html, "professional")
    assert 'href="/register/"' in card(html, "professional")
    assert "/upgrade/" not in html  # buying needs an account
    assert "per month, or per year on annual billing" in card(html, "starter")


def test_plans_page_shows_the_catalogue(signed_in):
    html = signed_in.get("/plans/").content.decode()

    for plan in Plan.objects.all():
        assert f'id="plan-{plan.slug}"' in html
    professional = card(html, "professional")
    assert "Professional" in professional
    assert "⚡ 2,000,000" in professional
    assert "50 articles" in professional
    assert "50 USD" in professional and "500 USD" in professional
    assert "Priority support" in professional
    assert "⚡ 6,500,000" in card(html, "enterprise")
    assert "⚡ 10,000" in card(html, "free")


def test_the_current_plan_is_marked_and_paid_plans_have_an_upgrade_button(signed_in):
    html = signed_in.get("/plans/").content.decode()

    free = card(html, "free")
    assert 'class="plan current"' in free and "Current plan" in free
    assert "/upgrade/" not in free  # the free plan is not sold
    for slug in ("starter", "grow", "professional", "business", "enterprise"):
        paid = card(html, slug)
        assert "Current plan" not in paid
        assert f'href="/plans/{slug}/upgrade/"' in paid and "Upgrade" in paid
    assert html.count("current") >= 1 and html.count('class="plan current"') == 1


def test_the_mark_follows_a_plan_change(signed_in, user):
    UserSubscription.objects.get(user=user).change_plan(
        Plan.objects.get(slug="grow"), reference="test"
    )

    html = signed_in.get("/plans/").content.decode()

    assert 'class="plan current"' in card(html, "grow")
    assert "Renew" in card(html, "grow")
    assert 'class="plan current"' not in card(html, "free")


def test_plans_page_in_vietnamese(signed_in):
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get("/plans/").content.decode()

    assert "Gói hiện tại" in card(html, "free") and "Miễn phí" in card(html, "free")
    assert "⚡ 2.000.000" in card(html, "professional")
    assert "Nâng cấp" in card(html, "professional")
    assert "Hỗ trợ ưu tiên" in card(html, "professional")
