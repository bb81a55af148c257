"""The dashboard (badge, balance card, chart, recent usage) and the usage history."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import dateformat, timezone

from accounts.tests.factories import UserFactory
from subscriptions.models import UserSubscription
from tokens import views
from tokens.models import LedgerEntry, TokenUsage
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db

SIGNED_IN_PAGES = [
    "/dashboard/",
    "/tools/",
    "/plans/",
    "/plans/professional/upgrade/",
    "/usage/",
    "/payments/",
]


def spend(user, amount: int, action: str = "generate_seo_title", days_ago: int = 0):
    Wallet(user).debit(amount, action=action)
    usage = TokenUsage.objects.filter(user=user).latest("id")
    if days_ago:
        TokenUsage.objects.filter(pk=usage.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    return usage


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with this id (tags removed, whitespace collapsed)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no element #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


@pytest.mark.parametrize("url", ["/dashboard/", "/usage/", "/usage/export.csv"])
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"/login/?next={url}"


@pytest.mark.parametrize("url", SIGNED_IN_PAGES)
def test_every_signed_in_page_shows_the_token_badge(signed_in, user, url):
    spend(user, 300)

    response = signed_in.get(url)

    assert response.status_code == 200
    assert '<a id="token-badge"' in response.content.decode()
    assert text_of(response.content.decode(), "token-badge") == "⚡ 9,700 Token"


def test_dashboard_balance_card_after_a_300_debit(signed_in, user):
    spend(user, 300)

    html = signed_in.get("/dashboard/").content.decode()

    assert "⚡ 9,700 Token" in html
    assert "You have" in html and "Your plan" in html and "Used" in html
    assert text_of(html, "balance-remaining") == "9,700"
    assert text_of(html, "balance-limit").startswith("10,000")
    assert text_of(html, "balance-used") == "300"


def test_dashboard_used_is_never_negative_when_a_bonus_exceeds_the_plan(signed_in, user):
    Wallet(user).credit(5_000, kind=LedgerEntry.Kind.BONUS, note="thanks")

    html = signed_in.get("/dashboard/").content.decode()

    assert text_of(html, "balance-remaining") == "15,000"
    assert text_of(html, "balance-limit").startswith("10,000")
    assert text_of(html, "balance-used") == "0"


def test_dashboard_shows_a_paid_plan(signed_in, user):
    subscription = UserSubscription.objects.get(user=user)
    from subscriptions.models import Plan

    subscription.change_plan(Plan.objects.get(slug="professional"), reference="test")

    html = signed_in.get("/dashboard/").content.decode()

    assert text_of(html, "token-badge") == "⚡ 2,010,000 Token"
    assert text_of(html, "balance-limit") == "2,010,000 Professional · 2,000,000 tokens"
    assert text_of(html, "balance-used") == "0"
    # The 10,000 free tokens were added to, and the dashboard says where they came from.
    assert "plus 10,000 you had before it started" in text_of(html, "carried-over")


def test_dashboard_banners_for_a_low_balance_and_a_pending_payment(signed_in, user):
    from payments.tests.factories import PaymentFactory

    html = signed_in.get("/dashboard/").content.decode()
    assert 'id="low-balance-banner"' not in html and 'id="pending-payment-banner"' not in html

    Wallet(user).debit(9_001)  # 999 left: under a tenth of 10,000
    payment = PaymentFactory(user=user, plan="starter")

    html = signed_in.get("/dashboard/").content.decode()
    assert "Only 999 tokens left" in text_of(html, "low-balance-banner")
    assert payment.reference_code in text_of(html, "pending-payment-banner")
    assert f'href="/payments/{payment.pk}/"' in html


def test_a_null_balance_is_restored_before_it_is_shown(signed_in, user):
    type(user).objects.filter(pk=user.pk).update(tokens_remaining=None)

    html = signed_in.get("/dashboard/").content.decode()

    assert text_of(html, "token-badge") == "⚡ 10,000 Token"
    assert LedgerEntry.objects.filter(user=user, kind="opening_balance").count() == 1


def test_a_zero_balance_is_shown_as_zero(signed_in, user):
    spend(user, 10_000)

    html = signed_in.get("/dashboard/").content.decode()

    assert text_of(html, "token-badge") == "⚡ 0 Token"
    assert text_of(html, "balance-used") == "10,000"


def test_dashboard_in_vietnamese(signed_in, user):
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get("/dashboard/").content.decode()

    assert '<html lang="vi">' in html
    assert "⚡ 10.000 Token" in html
    for label in ("Bạn có", "Gói của bạn", "Đã dùng"):
        assert label in html
    assert text_of(html, "balance-remaining") == "10.000"
    assert "Miễn phí" in text_of(html, "balance-limit")


def test_dashboard_chart_has_30_daily_bars_with_accessible_labels(signed_in, user):
    spend(user, 300)
    spend(user, 400, action="generate_meta_description")
    spend(user, 100, action="find_image", days_ago=3)
    spend(user, 500, action="rewrite", days_ago=45)  # outside the chart

    html = signed_in.get("/dashboard/").content.decode()

    svg = html[html.index('<svg class="chart"') : html.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="usage-chart-title usage-chart-desc"' in svg
    assert "Tokens used per day, last 30 days" in svg
    assert "800 tokens in total; at most 700 tokens on one day." in svg
    assert svg.count('<rect class="bar"') == 30
    today = dateformat.format(timezone.localdate(), "j M Y")  # volx/formats/en
    three_days_ago = dateformat.format(timezone.localdate() - timedelta(days=3), "j M Y")
    assert f"<title>{today}: 700 tokens</title>" in svg
    assert f"<title>{three_days_ago}: 100 tokens</title>" in svg


def test_chart_geometry_scales_bars_to_the_busiest_day():
    today = timezone.localdate()
    chart = views.UsageChart.from_series(
        [(today - timedelta(days=2), 0), (today - timedelta(days=1), 50), (today, 1_000)]
    )

    assert [bar.height for bar in chart.bars] == [0, chart.plot_height / 20, chart.plot_height]
    assert all(bar.y + bar.height == chart.baseline for bar in chart.bars)
    assert (chart.peak, chart.total) == (1_000, 1_050)


def test_chart_coordinates_are_not_localised_in_vietnamese(signed_in, user):
    spend(user, 300)
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get("/dashboard/").content.decode()

    svg = html[html.index('<svg class="chart"') : html.index("</svg>")]
    assert not re.search(r'(x|y|width|height)="\d+,\d', svg)
    assert re.search(r'width="14\.0?"', svg) or 'width="14"' in svg


def test_dashboard_shows_the_last_10_usage_rows_and_only_the_users_own(signed_in, user):
    other = UserFactory()
    spend(other, 1_234, action="rewrite")
    for _ in range(12):
        spend(user, 100, action="find_image")

    response = signed_in.get("/dashboard/")

    html = response.content.decode()
    assert html.count('class="usage-row"') == 10
    assert "Find image" in html
    assert "1,234" not in html


def test_dashboard_without_usage_says_so(signed_in):
    html = signed_in.get("/dashboard/").content.decode()

    assert 'class="usage-row"' not in html
    assert "No usage yet." in html


# --- /usage/ ----------------------------------------------------------------------------


def test_usage_is_paginated_by_25(signed_in, user):
    for _ in range(30):
        spend(user, 100)

    first = signed_in.get("/usage/").content.decode()
    second = signed_in.get("/usage/?page=2").content.decode()

    assert first.count('class="usage-row"') == 25
    assert second.count('class="usage-row"') == 5
    assert "30 actions" in first
    assert "Page 1 of 2" in first and 'href="?page=2"' in first


def test_usage_never_shows_another_users_rows(signed_in, user):
    spend(UserFactory(), 1_234, action="rewrite")
    spend(user, 300)

    html = signed_in.get("/usage/").content.decode()

    assert html.count('class="usage-row"') == 1
    assert "1,234" not in html


def test_usage_filter_by_action(signed_in, user):
    spend(user, 300)
    spend(user, 400, action="generate_meta_description")
    spend(user, 100, action="find_image")

    html = signed_in.get("/usage/?action=generate_meta_description").content.decode()

    assert html.count('class="usage-row"') == 1
    assert "Meta description" in html and ">400<" in html
    assert 'href="?action=generate_meta_description&amp;page=2"' not in html  # one page only


def test_usage_filter_by_date_range_keeps_the_filters_in_the_links(signed_in, user):
    for _ in range(26):
        spend(user, 100, days_ago=10)
    spend(user, 300, days_ago=1)
    spend(user, 400, days_ago=20)
    start = (timezone.localdate() - timedelta(days=15)).isoformat()
    end = (timezone.localdate() - timedelta(days=5)).isoformat()

    html = signed_in.get(f"/usage/?date_from={start}&date_to={end}").content.decode()

    assert "26 actions" in html
    assert f'href="?date_from={start}&amp;date_to={end}&amp;page=2"' in html
    assert f'href="/usage/export.csv?date_from={start}&amp;date_to={end}"' in html


def test_usage_filter_shows_a_reversed_range_as_an_error(signed_in, user):
    spend(user, 300)

    html = signed_in.get("/usage/?date_from=2030-01-10&date_to=2030-01-01").content.decode()

    assert "The end date is before the start date." in html


def test_usage_in_vietnamese(signed_in, user):
    spend(user, 1_500, action="rewrite")
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get("/usage/").content.decode()

    assert "Lịch sử sử dụng" in html
    assert "Viết lại" in html and ">1.500<" in html
    assert "⚡ 8.500 Token" in html


# --- CSV export -------------------------------------------------------------------------


def csv_rows(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize("url", ["/usage/export.csv", "/usage/?format=csv"])
def test_csv_export_of_the_users_own_usage(signed_in, user, url):
    spend(UserFactory(), 1_234, action="rewrite")
    spend(user, 300)
    spend(user, 100, action="find_image")

    response = signed_in.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="volx-usage-')
    rows = csv_rows(response)
    assert rows[0] == ["created_at", "action", "tokens_used", "article_id", "result"]
    assert [row[1:] for row in rows[1:]] == [
        ["find_image", "100", "", ""],
        ["generate_seo_title", "300", "", ""],
    ]


def test_csv_export_applies_the_filters(signed_in, user):
    spend(user, 300, days_ago=2)
    spend(user, 400, action="generate_meta_description", days_ago=2)
    spend(user, 300, days_ago=40)
    start = (timezone.localdate() - timedelta(days=7)).isoformat()

    rows = csv_rows(signed_in.get(f"/usage/export.csv?action=generate_seo_title&date_from={start}"))

    assert [row[1:] for row in rows[1:]] == [["generate_seo_title", "300", "", ""]]


def test_csv_export_streams_every_row_in_batches(signed_in, user, monkeypatch):
    monkeypatch.setattr(views, "CSV_BATCH", 2)
    for amount in (100, 200, 300, 400, 500):
        spend(user, amount)

    rows = csv_rows(signed_in.get("/usage/export.csv"))

    assert [row[2] for row in rows[1:]] == ["500", "400", "300", "200", "100"]


def test_csv_export_refuses_an_invalid_filter(signed_in):
    response = signed_in.get("/usage/export.csv?date_from=yesterday")

    assert response.status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "date_to=9999-12-31",
        "date_from=9999-12-31",
        "date_from=0001-01-01",
        "date_from=0001-01-01&date_to=9999-12-31",
    ],
)
def test_usage_filter_refuses_days_at_the_ends_of_the_calendar(signed_in, user, query):
    """The day after 9999-12-31 does not exist (OverflowError), nor 0001-01-01 before
    midnight in a time zone east of UTC: such days are shown as errors and ignored."""
    spend(user, 300)

    page = signed_in.get(f"/usage/?{query}")
    export = signed_in.get(f"/usage/export.csv?{query}")

    assert page.status_code == 200
    assert "1 action" in page.content.decode()
    assert "Ensure this value is" in page.content.decode()
    assert export.status_code == 400
    assert "Invalid filter" in export.content.decode()
