from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.dateparse import parse_datetime

from tokens.models import IdempotencyRecord, LedgerEntry, SyncReportRun, TokenHold, TokenUsage
from tokens.sync import fix_null_balances, run_and_store
from volx.admin_utils import ReadOnlyAdmin

# What each status of the sync report means, in the order the page shows them.
SYNC_STATUSES = [
    ("Synced", "balance equals the plan allowance", False),
    ("Used some", "balance below the allowance: tokens were spent", False),
    ("Bonus", "balance above the allowance: an admin bonus, a valid state", False),
    ("NULL", "no balance (legacy or hand-edited row): restored on first use or below", True),
    ("No subscription", "a balance but no plan row", True),
    ("Drift", "balance differs from the ledger sum: needs an operator", True),
]


class UserRecordAdmin(ReadOnlyAdmin):
    """A user's records (ledger, usage, holds, keys), read-only.

    Lists are newest first by primary key; filters, search and sorting use indexed
    columns only (kind/action with created_at, created_at, the user's e-mail/username
    by prefix), so each stays fast on a million rows.
    """

    ordering = ["-id"]
    sortable_by = ["created_at"]
    search_fields = ["^user__email", "^user__username"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(UserRecordAdmin):
    list_display = [
        "created_at", "user", "kind", "delta", "balance_after", "reference", "actor", "note",
    ]  # fmt: skip
    list_filter = ["kind", "created_at"]
    list_select_related = ["user", "actor"]

    def get_urls(self):
        report = path(
            "sync-report/",
            self.admin_site.admin_view(self.sync_report_view),
            name="tokens_sync_report",
        )
        return [report, *super().get_urls()]

    def sync_report_view(self, request):
        """The last stored run of the token sync report (GET); running it now and
        restoring NULL balances (POST), for admins. The page never runs the report by
        itself: on a million users it takes seconds."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            if "fix_null" in request.POST:
                restored = fix_null_balances()
                self.message_user(
                    request,
                    f"Restored {restored} NULL balance{'s' if restored != 1 else ''} "
                    "from the ledger or the plan allowance.",
                    messages.SUCCESS,
                )
            elif "run" not in request.POST:
                return HttpResponseBadRequest("Nothing to do: run or fix_null.")
            _, run = run_and_store(ran_by=f"admin {request.user.get_username()}")
            self.message_user(request, f"The report ran in {run.seconds:.1f} s.", messages.INFO)
            return redirect("admin:tokens_sync_report")
        run = SyncReportRun.objects.order_by("-started_at", "-id").first()
        report = run.report if run else None
        if report:
            for row in report["recent_usage"]:
                row["created_at"] = parse_datetime(row["created_at"]) or row["created_at"]
        statuses = (
            [
                {
                    "name": name,
                    "count": report["statuses"][name],
                    "meaning": meaning,
                    "alert": alert,
                }
                for name, meaning, alert in SYNC_STATUSES
            ]
            if report
            else []
        )
        return TemplateResponse(
            request,
            "admin/tokens/sync_report.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Token sync report",
                "run": run,
                "report": report,
                "statuses": statuses,
            },
        )


@admin.register(TokenUsage)
class TokenUsageAdmin(UserRecordAdmin):
    list_display = ["created_at", "user", "action", "tokens_used", "provider_tokens", "article"]
    # The action choices are SELECT DISTINCT action: read from the (action, created_at) index.
    list_filter = ["action", "created_at"]
    list_select_related = ["user", "article"]


@admin.register(TokenHold)
class TokenHoldAdmin(UserRecordAdmin):
    list_display = ["created_at", "user", "action", "amount", "status", "closed_at"]
    list_filter = ["status"]
    list_select_related = ["user"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(UserRecordAdmin):
    list_display = ["created_at", "user", "key", "status", "response_status"]
    list_filter = ["status"]
    search_fields = ["=key", "^user__email", "^user__username"]
    list_select_related = ["user"]
