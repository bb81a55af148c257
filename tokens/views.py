"""The dashboard and the usage history pages (README, Pages)."""

import csv
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from articles.actions import action_label
from subscriptions.models import LOW_BALANCE_PERCENT, Plan
from tokens.forms import UsageFilterForm, start_of
from tokens.models import TokenUsage
from tokens.wallet import balance_summary

CHART_DAYS = 30
RECENT_ROWS = 10
USAGE_PAGE_SIZE = 25
CSV_BATCH = 1000


@dataclass(frozen=True)
class Bar:
    day: date
    tokens: int
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class UsageChart:
    """Tokens used per day as SVG bars, drawn on the server (no JavaScript, no CDN)."""

    bars: list[Bar]
    peak: int
    total: int
    width: int = 600
    height: int = 200
    top: int = 24  # room for the peak label
    plot_height: int = 140  # the bars' area; the axis labels go below it

    @property
    def baseline(self) -> int:
        return self.top + self.plot_height

    @property
    def first_day(self) -> date:
        return self.bars[0].day

    @property
    def last_day(self) -> date:
        return self.bars[-1].day

    @classmethod
    def for_user(cls, user, *, days: int = CHART_DAYS) -> "UsageChart":
        today = timezone.localdate()
        first = today - timedelta(days=days - 1)
        rows = (
            TokenUsage.objects.filter(user=user, created_at__gte=start_of(first))
            .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
            .values("day")
            .annotate(tokens=Sum("tokens_used"))
            .order_by()
        )
        per_day = {row["day"]: row["tokens"] for row in rows}
        series = [
            (first + timedelta(days=n), per_day.get(first + timedelta(days=n), 0))
            for n in range(days)
        ]
        return cls.from_series(series)

    @classmethod
    def from_series(cls, series: list[tuple[date, int]]) -> "UsageChart":
        peak = max((tokens for _day, tokens in series), default=0)
        slot = cls.width / len(series)
        bars = []
        for index, (day, tokens) in enumerate(series):
            height = round(cls.plot_height * tokens / peak, 1) if peak else 0
            if tokens and height < 1:
                height = 1  # a day with usage is never invisible
            y = cls.top + cls.plot_height - height
            bars.append(Bar(day, tokens, round(index * slot + slot * 0.15, 1), y, height))
        return cls(bars=bars, peak=peak, total=sum(tokens for _day, tokens in series))

    @property
    def bar_width(self) -> float:
        return round(self.width / len(self.bars) * 0.7, 1)


def own_usage(user):
    return TokenUsage.objects.filter(user=user).order_by("-created_at", "-id")


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    recent = list(own_usage(request.user)[:RECENT_ROWS])
    for usage in recent:
        usage.label = action_label(usage.action)
    summary = balance_summary(request.user)
    subscription, limit = summary["subscription"], summary["limit"]
    plan = Plan.objects.filter(slug=subscription.plan_type).first() if subscription else None
    return render(
        request,
        "tokens/dashboard.html",
        {
            **summary,
            "chart": UsageChart.for_user(request.user),
            "recent": recent,
            "plan": plan,
            # The allowance beyond the plan's own tokens: the balance a paid plan change
            # added to (docs/rules.md, Paid plan change).
            "carried_over": max(0, limit - plan.tokens) if plan else 0,
            # The low-balance e-mail's line (subscriptions.LOW_BALANCE_PERCENT).
            "low_balance": bool(limit) and summary["remaining"] * 100 < limit * LOW_BALANCE_PERCENT,
            # The reverse relation: tokens does not import payments (it is above tokens).
            "pending_payment": request.user.payments.filter(status="pending")
            .order_by("-created_at", "-id")
            .first(),
        },
    )


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    """The whole usage history, 25 rows a page, filtered; `?format=csv` exports it."""
    if request.GET.get("format") == "csv":
        return usage_export(request)
    form = UsageFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()
    page = Paginator(form.filter(own_usage(request.user)), USAGE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for row in page:
        row.label = action_label(row.action)
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "tokens/usage.html",
        {"form": form, "page": page, "filters": filters.urlencode()},
    )


@login_required
@require_GET
def usage_export(request: HttpRequest) -> HttpResponse:
    """The usage history as CSV with the page's filters, streamed in batches so that a
    long history never sits in memory. Column names are stable identifiers (like the
    API's fields), not translated: spreadsheets and scripts read them."""
    form = UsageFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        errors = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponseBadRequest(
            _("Invalid filter: %(errors)s") % {"errors": errors},
            content_type="text/plain; charset=utf-8",
        )
    rows = form.filter(TokenUsage.objects.filter(user=request.user)).order_by("-id")
    columns = ("id", "created_at", "action", "tokens_used", "article_id", "result")
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(columns[1:])
        batch = list(rows.values_list(*columns)[:CSV_BATCH])
        while batch:
            for _id, created_at, action, tokens_used, article_id, result in batch:
                yield writer.writerow(
                    [
                        created_at.isoformat(),
                        action,
                        tokens_used,
                        article_id,
                        spreadsheet_safe(result),
                    ]
                )
            if len(batch) < CSV_BATCH:
                break
            # Keyset pagination: each batch is one indexed range read, however deep.
            batch = list(rows.filter(id__lt=batch[-1][0]).values_list(*columns)[:CSV_BATCH])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="volx-usage-{timezone.localdate()}.csv"'
    )
    return response


# A cell starting with one of these is a formula to a spreadsheet; a result is written
# from the user's text by a model, so it could be one (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """`text` as a CSV cell that a spreadsheet shows instead of running: a leading
    apostrophe before what would start a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class Echo:
    """A file-like object for csv.writer that hands each line back instead of storing it."""

    def write(self, value: str) -> str:
        return value
