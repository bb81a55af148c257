"""The token admin: read-only ledger and usage history, and the token sync report page."""

from datetime import timedelta
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from tokens.models import LedgerEntry, TokenUsage
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db
LEDGER = "/admin/tokens/ledgerentry/"
USAGE = "/admin/tokens/tokenusage/"
REPORT = "/admin/tokens/ledgerentry/sync-report/"


def listed(response) -> list:
    return list(response.context["cl"].result_list)


# --- ledger and usage history ----------------------------------------------------------


@pytest.mark.parametrize("changelist", [LEDGER, USAGE])
def test_history_is_read_only(admin_client, user, changelist):
    Wallet(user).debit(300, action="seo_title")
    row = listed(admin_client.get(changelist))[0]

    assert admin_client.get(f"{changelist}add/").status_code == 403
    view = admin_client.get(f"{changelist}{row.pk}/change/")
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert admin_client.post(f"{changelist}{row.pk}/change/", {}).status_code == 403
    assert admin_client.post(f"{changelist}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.filter(user=user).count() == 2  # registration grant + debit
    assert TokenUsage.objects.filter(user=user).count() == 1


def test_ledger_filters_by_kind_user_and_date(admin_client, user, admin_user):
    other = UserFactory()
    Wallet(user).credit(500, kind="bonus", actor=admin_user, note="thanks")
    Wallet(user).debit(300, action="seo_title")
    old = LedgerEntry.objects.filter(user=other).get()
    LedgerEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))

    bonus = listed(admin_client.get(LEDGER, {"kind__exact": "bonus"}))
    assert [(e.user, e.delta, e.actor) for e in bonus] == [(user, 500, admin_user)]
    mine = listed(admin_client.get(LEDGER, {"user__id__exact": user.pk}))
    assert [e.kind for e in mine] == ["debit", "bonus", "grant"]  # newest first
    # The "Past 7 days" choice of the date filter (aware bounds, as the filter links them).
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    week = {
        "created_at__gte": str(today - timedelta(days=7)),
        "created_at__lt": str(today + timedelta(days=1)),
    }
    links = admin_client.get(LEDGER).content.decode()
    assert f'href="?{urlencode(week)}"'.replace("&", "&amp;") in links
    recent = listed(admin_client.get(LEDGER, week))
    assert old.pk not in [e.pk for e in recent]
    assert len(recent) == 4  # the user's three and the signed-in admin's registration grant


def test_usage_filters_by_action_and_search(admin_client, user):
    other = UserFactory(username="zed")
    Wallet(user).debit(300, action="seo_title")
    Wallet(other).debit(100, action="find_image")

    page = admin_client.get(USAGE)
    assert 'href="?action=find_image"' in page.content.decode()  # the filter's choices
    by_action = listed(admin_client.get(USAGE, {"action": "find_image"}))
    assert [(u.user, u.tokens_used) for u in by_action] == [(other, 100)]
    assert [u.user for u in listed(admin_client.get(USAGE, {"q": "zed"}))] == [other]


def test_the_lists_offer_no_facet_counts(admin_client, user):
    page = admin_client.get(LEDGER, {"_facets": "True"})
    assert page.status_code == 200
    assert "Show counts" not in page.content.decode()


# --- the token sync report ----------------------------------------------------------


@pytest.fixture
def troubled_users():
    """One user of each status that needs an operator, and two that do not."""
    synced = UserFactory(username="synced")
    used = UserFactory(username="used")
    Wallet(used).debit(300, action="seo_title")
    null = UserFactory(username="nullbalance")
    User.objects.filter(pk=null.pk).update(tokens_remaining=None)
    drifted = UserFactory(username="drifted")
    User.objects.filter(pk=drifted.pk).update(tokens_remaining=123)  # a raw edit: no ledger
    return {"synced": synced, "used": used, "null": null, "drifted": drifted}


def test_report_shows_the_statuses_and_links_to_the_users(admin_client, troubled_users):
    page = admin_client.post(REPORT, {"run": "1"}, follow=True)

    assert page.redirect_chain[-1][0] == REPORT
    assert page.status_code == 200
    counts = {s["name"]: s["count"] for s in page.context["statuses"]}
    # the signed-in admin is one more synced user; the drifted one also used some
    assert counts == {
        "Synced": 2, "Used some": 2, "Bonus": 0, "NULL": 1, "No subscription": 0, "Drift": 1,
    }  # fmt: skip
    html = page.content.decode()
    for key in ("null", "drifted"):
        assert f'href="/admin/accounts/user/{troubled_users[key].pk}/change/"' in html
    assert troubled_users["drifted"].email in html
    assert 'id="fix-null-balances"' in html


def test_the_page_shows_the_last_stored_run_without_running_it(admin_client, troubled_users):
    from django.core.management import CommandError, call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert "The report has not run yet." in admin_client.get(REPORT).content.decode()
    with pytest.raises(CommandError):  # the drifted user
        call_command("token_sync_report", stdout=StringIO())
    User.objects.filter(pk=troubled_users["synced"].pk).update(tokens_remaining=5)

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(REPORT)

    assert not [q for q in queries if "token_ledger" in q["sql"]]  # nothing re-run
    counts = {s["name"]: s["count"] for s in page.context["statuses"]}
    assert counts["Drift"] == 1  # as stored, not yet the second drifted user
    html = page.content.decode()
    assert "by manage.py token_sync_report" in html
    assert f'datetime="{page.context["run"].started_at.isoformat()}' in html
    assert 'id="run-sync-report"' in html

    rerun = admin_client.post(REPORT, {"run": "1"}, follow=True)

    assert {s["name"]: s["count"] for s in rerun.context["statuses"]}["Drift"] == 2
    assert "The report ran in" in rerun.content.decode()
    assert "by admin " in rerun.content.decode()


def test_only_the_latest_runs_are_kept(monkeypatch):
    from tokens.models import SyncReportRun
    from tokens.sync import run_and_store

    monkeypatch.setattr(SyncReportRun, "KEEP", 3)
    runs = [run_and_store(ran_by="test")[1].pk for _ in range(5)]
    assert list(SyncReportRun.objects.order_by("id").values_list("id", flat=True)) == runs[2:]


def test_a_post_without_an_action_changes_nothing(admin_client, troubled_users):
    assert admin_client.post(REPORT, {}).status_code == 400
    assert User.objects.get(pk=troubled_users["null"].pk).tokens_remaining is None


def test_fix_null_restores_the_balances(admin_client, troubled_users):
    done = admin_client.post(REPORT, {"fix_null": "1"}, follow=True)

    assert done.redirect_chain[-1][0] == REPORT
    assert "Restored 1 NULL balance from the ledger" in done.content.decode()
    null = User.objects.get(pk=troubled_users["null"].pk)
    assert null.tokens_remaining == 10_000  # the ledger sum: the registration grant
    assert {s["name"]: s["count"] for s in done.context["statuses"]}["NULL"] == 0
    assert 'id="fix-null-balances"' not in done.content.decode()
    assert User.objects.get(pk=troubled_users["drifted"].pk).tokens_remaining == 123


def test_fix_null_needs_the_csrf_token(admin_user, troubled_users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(REPORT, {"fix_null": "1"}).status_code == 403
    assert User.objects.get(pk=troubled_users["null"].pk).tokens_remaining is None


def test_report_is_for_admins_only(client, user):
    assert client.get(REPORT).status_code == 302  # anonymous: to the admin login
    client.force_login(user)
    assert client.get(REPORT)["Location"].startswith("/admin/login/")
    User.objects.filter(pk=user.pk).update(tokens_remaining=None)
    client.post(REPORT, {"fix_null": "1"})
    assert User.objects.get(pk=user.pk).tokens_remaining is None


def test_report_is_linked_from_the_admin_index_and_the_ledger(admin_client):
    for page in ("/admin/", "/admin/tokens/", LEDGER):
        assert f'href="{REPORT}"' in admin_client.get(page).content.decode(), page
    assert f'href="{REPORT}"' not in admin_client.get("/admin/payments/").content.decode()
