"""The subscriptions list of the admin: plan, allowance and expiry filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from payments.tests.factories import PaymentFactory
from subscriptions.models import UserSubscription

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/subscriptions/usersubscription/"


@pytest.fixture
def subscriptions(admin_user):
    """free (the admin's and one user's), professional ending in 5 days, one expired."""
    now = timezone.now()
    soon = PaymentFactory(user__username="soon").user
    soon.payments.get().confirm()
    UserSubscription.objects.filter(user=soon).update(expires_at=now + timedelta(days=5))
    ended = PaymentFactory(user__username="ended", plan="starter").user
    ended.payments.get().confirm()
    UserSubscription.objects.filter(user=ended).update(expires_at=now - timedelta(days=1))
    UserFactory(username="freebie")
    return {"soon": soon, "ended": ended}


def usernames(admin_client, **params) -> set[str]:
    page = admin_client.get(CHANGELIST, params)
    assert page.status_code == 200
    return {s.user.username for s in page.context["cl"].result_list}


def test_filters_by_plan(admin_client, subscriptions, admin_user):
    assert usernames(admin_client, plan_type__exact="professional") == {"soon"}
    assert usernames(admin_client, plan_type__exact="free") == {"freebie", admin_user.username}


def test_filters_by_allowance(admin_client, subscriptions, admin_user):
    assert usernames(admin_client, allowance="1-10000") == {"freebie", admin_user.username}
    assert usernames(admin_client, allowance="10001-1000000") == {"ended"}  # 410,000
    assert usernames(admin_client, allowance="1000001-5000000") == {"soon"}  # 2,010,000
    assert usernames(admin_client, allowance="5000001-") == set()


def test_filters_by_expiry(admin_client, subscriptions, admin_user):
    assert usernames(admin_client, expiry="expired") == {"ended"}
    assert usernames(admin_client, expiry="7d") == {"soon"}
    assert usernames(admin_client, expiry="30d") == {"soon"}
    assert usernames(admin_client, expiry="none") == {"freebie", admin_user.username}


def test_search_and_the_allowance_is_read_only(admin_client, subscriptions):
    assert usernames(admin_client, q="soo") == {"soon"}
    subscription = UserSubscription.objects.get(user=subscriptions["soon"])
    page = admin_client.get(f"{CHANGELIST}{subscription.pk}/change/").content.decode()
    assert 'name="tokens_limit"' not in page
