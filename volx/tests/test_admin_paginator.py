"""Admin lists of big tables never COUNT(*) the whole table: the count of an unfiltered
list comes from the database statistics (volx.admin_utils)."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.tests.factories import UserFactory
from payments.models import Payment
from payments.tests.factories import PaymentFactory
from tokens.models import LedgerEntry, TokenUsage
from tokens.wallet import Wallet
from volx import admin_utils
from volx.admin_utils import EXACT_COUNT_BELOW, EstimatedCountPaginator, estimated_row_count

pytestmark = pytest.mark.django_db
BIG = 2_000_000
BIG_TABLES = {
    User: "/admin/accounts/user/",
    LedgerEntry: "/admin/tokens/ledgerentry/",
    TokenUsage: "/admin/tokens/tokenusage/",
    Payment: "/admin/payments/payment/",
}


@pytest.fixture
def statistics(monkeypatch):
    """Pretend the database statistics say each table holds `rows` rows."""
    estimates = {}

    def fake(model, using="default"):
        return estimates.get(model)

    monkeypatch.setattr(admin_utils, "estimated_row_count", fake)
    return estimates


@pytest.fixture
def some_rows():
    user = UserFactory(username="zoe")
    Wallet(user).debit(300, action="seo_title")
    PaymentFactory(user=user)
    return user


def counts(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize("model", BIG_TABLES)
def test_an_unfiltered_list_takes_the_estimate_and_counts_nothing(
    admin_client, statistics, some_rows, model
):
    statistics[model] = BIG
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(BIG_TABLES[model])

    assert page.status_code == 200
    assert page.context["cl"].result_count == BIG
    assert counts(queries) == []
    assert f"about {BIG} " in page.content.decode()  # "about 2000000 users" under the list


@pytest.mark.parametrize(
    "model, params",
    [
        (User, {"q": "zoe"}),
        (User, {"role__exact": "user", "q": "zo"}),
        (LedgerEntry, {"kind__exact": "debit"}),
        (TokenUsage, {"action": "seo_title"}),
        (Payment, {"status__exact": "pending"}),
    ],
)
def test_a_filtered_list_counts_exactly(admin_client, statistics, some_rows, model, params):
    statistics[model] = BIG
    page = admin_client.get(BIG_TABLES[model], params)
    assert page.context["cl"].result_count == 1
    assert "about" not in page.content.decode()  # counted, not estimated
    assert page.context["cl"].full_result_count is None  # no "N total" of the whole table


@pytest.mark.skipif(connection.vendor != "mysql", reason="SQLite has no planner estimate")
def test_a_filtered_list_past_the_cap_says_about_above_and_below(admin_client, monkeypatch):
    """The count beside the search box is the paginator's too: an estimate says so."""
    UserFactory.create_batch(5, role="user")
    monkeypatch.setattr(admin_utils, "EXACT_COUNT_BELOW", 3)
    page = admin_client.get(BIG_TABLES[User], {"role__exact": "user", "q": "user"})
    cl = page.context["cl"]
    assert cl.paginator.estimated
    html = page.content.decode()
    assert f"about {cl.result_count} result" in html  # beside the search box
    assert f"about {cl.result_count} user" in html  # under the list


def test_small_or_unknown_tables_are_counted(statistics):
    UserFactory.create_batch(3)
    statistics[User] = EXACT_COUNT_BELOW - 1  # the statistics of a small table may lag
    assert EstimatedCountPaginator(User.objects.order_by("pk"), 100).count == 3
    del statistics[User]  # SQLite: no statistics
    assert EstimatedCountPaginator(User.objects.order_by("pk"), 100).count == 3
    assert EstimatedCountPaginator([1, 2], 100).count == 2  # not a queryset


def test_the_estimate_paginates(statistics):
    statistics[User] = BIG
    paginator = EstimatedCountPaginator(User.objects.order_by("pk"), 100)
    assert (paginator.count, paginator.num_pages) == (BIG, BIG // 100)


def test_the_database_statistics_are_read(user):
    estimate = estimated_row_count(User)
    if connection.vendor == "mysql":
        assert isinstance(estimate, int) and estimate >= 0  # information_schema.TABLES
    else:
        assert estimate is None  # SQLite keeps no row count: lists count exactly


def test_every_admin_list_skips_the_full_count():
    for model, model_admin in admin.site._registry.items():
        assert model_admin.show_full_result_count is False, model
    for model in BIG_TABLES:
        model_admin = admin.site._registry[model]
        assert model_admin.paginator is EstimatedCountPaginator, model
        assert model_admin.show_facets is admin.ShowFacets.NEVER, model


def test_a_filter_matching_many_rows_is_counted_up_to_a_cap_then_planned(monkeypatch):
    """Past the cap, the planner's estimate (MariaDB) or an exact count (SQLite)."""
    UserFactory.create_batch(5, role="user")
    monkeypatch.setattr(admin_utils, "EXACT_COUNT_BELOW", 3)
    many = User.objects.filter(role="user").order_by("-pk")
    paginator = EstimatedCountPaginator(many, 100)
    with CaptureQueriesContext(connection) as queries:
        count = paginator.count
    if connection.vendor == "mysql":
        assert count >= 3 and paginator.estimated  # the planner's, never below the counted
        assert any(q["sql"].startswith("EXPLAIN") for q in queries)
        assert "LIMIT 3" in counts(queries)[0]  # the COUNT read at most 3 rows
    else:
        assert (count, paginator.estimated) == (5, False)
    few = User.objects.filter(role="user", username__startswith="nobody")
    assert EstimatedCountPaginator(few, 100).count == 0
