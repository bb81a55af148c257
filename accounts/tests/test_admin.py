"""The users list of the admin and its "Grant bonus tokens" action."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.tests.factories import AdminFactory, UserFactory
from payments.tests.factories import PaymentFactory
from tokens.models import MAX_BALANCE, LedgerEntry
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/accounts/user/"


def state(user) -> tuple[int, int]:
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return user.tokens_remaining, user.subscription.tokens_limit


def shown(response) -> list[str]:
    return [u.username for u in response.context["cl"].result_list]


def test_list_shows_balance_plan_and_expiry(admin_client):
    paid = PaymentFactory(user__username="paid").user
    paid.payments.get().confirm()
    UserFactory(username="free")

    page = admin_client.get(CHANGELIST)

    html = page.content.decode()
    assert page.status_code == 200
    for column in ("Balance", "Plan", "Expires"):
        assert f">{column}<" in html
    assert "2,010,000</a>" in html and "10,000</a>" in html
    assert "professional" in html and "free" in html
    assert f"?user__id__exact={paid.pk}" in html  # the balance links to the user's ledger


def test_list_queries_do_not_grow_with_the_users(admin_client):
    UserFactory.create_batch(2)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(CHANGELIST)
    UserFactory.create_batch(8)
    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(CHANGELIST)
    assert len(page.context["cl"].result_list) == 11
    assert len(many) == len(few)  # the subscription comes with the user (select_related)


def test_search_by_email_or_username(admin_client):
    alice = UserFactory(username="alice", email="alice@example.org")
    UserFactory(username="bob", email="bob@example.org")

    assert shown(admin_client.get(CHANGELIST, {"q": "alice@example.org"})) == [alice.username]
    assert shown(admin_client.get(CHANGELIST, {"q": "ali"})) == [alice.username]
    assert shown(admin_client.get(CHANGELIST, {"q": "ALICE@"})) == [alice.username]


def test_filters_by_role_and_plan(admin_client, admin_user):
    paid = PaymentFactory().user
    paid.payments.get().confirm()
    UserFactory(username="free")

    admins = admin_client.get(CHANGELIST, {"role__exact": "admin"})
    assert shown(admins) == [admin_user.username]
    professional = admin_client.get(CHANGELIST, {"subscription__plan_type__exact": "professional"})
    assert shown(professional) == [paid.username]
    free = admin_client.get(CHANGELIST, {"subscription__plan_type__exact": "free"})
    assert set(shown(free)) == {"free", admin_user.username}


def bonus_post(*users, **form) -> dict:
    return {"action": "grant_bonus", "_selected_action": [u.pk for u in users], **form}


def test_grant_bonus_asks_for_amount_and_reason_first(admin_client):
    alice, bob = UserFactory(), UserFactory()

    page = admin_client.post(CHANGELIST, bonus_post(alice, bob))

    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="amount"' in html and 'name="reason"' in html and 'name="grant_id"' in html
    assert alice.email in html and bob.email in html
    assert state(alice) == state(bob) == (10_000, 10_000)


@pytest.mark.parametrize(
    "form, error",
    [
        ({"amount": "0", "reason": "goodwill"}, "greater than or equal to 1"),
        ({"amount": "-5", "reason": "goodwill"}, "greater than or equal to 1"),
        ({"amount": "500", "reason": ""}, "This field is required"),
        ({"amount": "", "reason": "goodwill"}, "This field is required"),
    ],
)
def test_grant_bonus_refuses_a_bad_amount_or_no_reason(admin_client, form, error):
    alice = UserFactory()
    grant = {"grant_id": "a" * 32, "apply": "Grant bonus", **form}

    page = admin_client.post(CHANGELIST, bonus_post(alice, **grant))

    assert page.status_code == 200
    assert error in page.content.decode()
    assert state(alice) == (10_000, 10_000)
    assert not LedgerEntry.objects.filter(user=alice, kind="bonus").exists()


def test_grant_bonus_refuses_an_amount_past_a_balance_columns_range(admin_client):
    """A balance is an INT: the bonus may take the largest selected balance to
    2,147,483,647 and no further (MariaDB refused the UPDATE)."""
    alice, bob = UserFactory(), UserFactory()
    Wallet(bob).credit(MAX_BALANCE - 10_000 - 100, kind="bonus")
    grant = {"grant_id": "f" * 32, "apply": "Grant bonus", "amount": "101", "reason": "x"}

    page = admin_client.post(CHANGELIST, bonus_post(alice, bob, **grant))

    assert page.status_code == 200
    assert "At most 100" in page.content.decode()
    assert not LedgerEntry.objects.filter(kind="bonus", note="x").exists()


def test_grant_bonus_credits_each_selected_user_and_records_who(admin_client, admin_user):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    grant = {"amount": "5000", "reason": "sorry for the outage", "grant_id": "b" * 32}

    done = admin_client.post(
        CHANGELIST, bonus_post(alice, bob, apply="Grant bonus", **grant), follow=True
    )

    messages = [str(m) for m in done.context["messages"]]
    assert f"Granted 5,000 bonus tokens to {alice}: balance 15,000." in messages
    assert f"Granted 5,000 bonus tokens to {bob}: balance 15,000." in messages
    assert state(alice) == state(bob) == (15_000, 10_000)  # the allowance stays
    assert state(carol) == (10_000, 10_000)
    entry = LedgerEntry.objects.get(user=alice, kind="bonus")
    assert (entry.delta, entry.actor, entry.note) == (5_000, admin_user, "sorry for the outage")
    assert entry.reference == f"bonus by {admin_user.username}"
    log = LogEntry.objects.get(object_id=str(alice.pk))
    assert (log.user_id, log.change_message) == (
        admin_user.pk,
        "Granted 5,000 bonus tokens: sorry for the outage",
    )


def test_grant_bonus_submitted_twice_grants_once(admin_client):
    alice = UserFactory()
    form = bonus_post(alice, apply="Grant bonus", amount="700", reason="x", grant_id="c" * 32)

    admin_client.post(CHANGELIST, form)
    again = admin_client.post(CHANGELIST, form, follow=True)

    assert state(alice) == (10_700, 10_000)
    assert f"Skipped {alice}: this bonus was already granted." in [
        str(m) for m in again.context["messages"]
    ]


def test_grant_bonus_needs_the_csrf_token(admin_user):
    alice = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    form = bonus_post(alice, apply="Grant bonus", amount="700", reason="x", grant_id="d" * 32)

    assert client.post(CHANGELIST, form).status_code == 403
    assert state(alice) == (10_000, 10_000)


def test_a_plain_user_cannot_open_the_list_or_grant(client, user):
    client.force_login(user)
    assert client.get(CHANGELIST).status_code == 302  # to the admin login
    form = bonus_post(user, apply="Grant bonus", amount="700", reason="x", grant_id="e" * 32)
    client.post(CHANGELIST, form)
    assert state(user) == (10_000, 10_000)


def test_the_balance_cannot_be_edited_by_hand(admin_client):
    alice = AdminFactory()
    page = admin_client.get(f"{CHANGELIST}{alice.pk}/change/").content.decode()
    assert 'name="tokens_remaining"' not in page
    assert "ledger</a>" in page and "usage</a>" in page


def test_take_back_asks_first_then_takes_from_each_user_never_below_zero(admin_client, admin_user):
    alice, bob = UserFactory(), UserFactory()
    Wallet(bob).debit(9_000)
    selected = {"action": "take_back_tokens", "_selected_action": [alice.pk, bob.pk]}

    asked = admin_client.post(CHANGELIST, selected)
    assert 'value="Take back"' in asked.content.decode()
    assert state(alice) == (10_000, 10_000)

    form = {**selected, "apply": "Take back", "amount": "2500", "reason": "granted twice"}
    done = admin_client.post(CHANGELIST, {**form, "grant_id": "e" * 32}, follow=True)

    messages = [str(m) for m in done.context["messages"]]
    assert f"Took back 2,500 tokens from {alice}: balance 7,500." in messages
    assert f"Took back 1,000 tokens from {bob}: balance 0." in messages
    assert state(alice) == (7_500, 10_000) and state(bob) == (0, 10_000)
    entry = LedgerEntry.objects.get(user=bob, kind="taken_back")
    assert (entry.delta, entry.actor, entry.note[:13]) == (-1_000, admin_user, "granted twice")
    assert "shortfall 1500" in entry.note

    again = admin_client.post(CHANGELIST, {**form, "grant_id": "e" * 32}, follow=True)
    assert f"Skipped {alice}: this was already taken back." in [
        str(m) for m in again.context["messages"]
    ]
    assert state(alice) == (7_500, 10_000)
