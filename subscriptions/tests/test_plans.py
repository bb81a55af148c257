import pytest

from subscriptions.models import Plan

pytestmark = pytest.mark.django_db

CATALOGUE = {
    "free": 10_000,
    "starter": 400_000,
    "grow": 1_000_000,
    "professional": 2_000_000,
    "business": 4_000_000,
    "enterprise": 6_500_000,
}


def test_the_migration_seeds_the_catalogue():
    assert dict(Plan.objects.values_list("slug", "tokens")) == CATALOGUE
    free = Plan.objects.get(slug="free")
    assert (free.articles_limit, free.price_monthly) == (2, 0)
    professional = Plan.objects.get(slug="professional")
    assert (professional.articles_limit, professional.price_monthly) == (50, 50)


def test_plans_api_is_public_and_ordered(api_client):
    response = api_client.get("/api/plans")

    assert response.status_code == 200
    plans = response.json()
    assert [p["slug"] for p in plans] == list(CATALOGUE)
    assert set(plans[0]) == {
        "slug", "name", "tokens", "articles_limit", "price_monthly", "price_annual",
        "currency", "features",
    }  # fmt: skip
    assert plans[3]["tokens"] == 2_000_000
    assert plans[3]["currency"] == "USD"


def test_an_edited_plan_is_what_the_api_shows(api_client):
    Plan.objects.filter(slug="starter").update(tokens=450_000)
    plans = {p["slug"]: p for p in api_client.get("/api/plans").json()}
    assert plans["starter"]["tokens"] == 450_000


def test_buyable_plans_have_a_price_and_are_never_the_free_plan():
    Plan.objects.filter(slug="starter").update(price_monthly=0)
    Plan.objects.filter(slug="free").update(price_monthly=1)  # an operator's slip

    assert list(Plan.objects.buyable().values_list("slug", flat=True)) == [
        "grow", "professional", "business", "enterprise",
    ]  # fmt: skip
    assert [plan.is_buyable for plan in Plan.objects.all()] == [
        False, False, True, True, True, True,
    ]  # fmt: skip
