from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from subscriptions.models import Plan, UserSubscription
from volx.admin_utils import LargeTableAdmin


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tokens", "articles_limit", "price_monthly", "price_annual"]
    list_editable = ["tokens", "articles_limit", "price_monthly", "price_annual"]
    ordering = ["sort_order"]
    show_full_result_count = False


class AllowanceFilter(admin.SimpleListFilter):
    """Ranges of tokens_limit (indexed), wide enough to hold the catalogue's plans."""

    title = "allowance"
    parameter_name = "allowance"
    RANGES = {
        "0": (0, 0),
        "1-10000": (1, 10_000),
        "10001-1000000": (10_001, 1_000_000),
        "1000001-5000000": (1_000_001, 5_000_000),
        "5000001-": (5_000_001, None),
    }

    def lookups(self, request, model_admin):
        return [
            ("0", "0"),
            ("1-10000", "1 – 10,000"),
            ("10001-1000000", "10,001 – 1,000,000"),
            ("1000001-5000000", "1,000,001 – 5,000,000"),
            ("5000001-", "over 5,000,000"),
        ]

    def queryset(self, request, queryset):
        if self.value() not in self.RANGES:
            return queryset
        low, high = self.RANGES[self.value()]
        queryset = queryset.filter(tokens_limit__gte=low)
        return queryset if high is None else queryset.filter(tokens_limit__lte=high)


class ExpiryFilter(admin.SimpleListFilter):
    """What an operator asks of expires_at (indexed): ended, ending soon, or none."""

    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [
            ("expired", "Expired"),
            ("7d", "Ends within 7 days"),
            ("30d", "Ends within 30 days"),
            ("none", "No expiry"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "expired":
                return queryset.filter(expires_at__lte=now)
            case "7d":
                return queryset.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=7))
            case "30d":
                return queryset.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=30))
            case "none":
                return queryset.filter(expires_at__isnull=True)
        return queryset


@admin.register(UserSubscription)
class UserSubscriptionAdmin(LargeTableAdmin):
    list_display = [
        "user", "plan_type", "tokens_limit", "billing_cycle", "is_active", "auto_renew",
        "expires_at", "low_balance_notified_at",
    ]  # fmt: skip
    # Indexed columns only (see the model's Meta.indexes).
    list_filter = ["plan_type", AllowanceFilter, ExpiryFilter]
    search_fields = ["^user__email", "^user__username"]
    sortable_by = ["tokens_limit", "expires_at"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    # The allowance changes only through a plan change (docs/rules.md, The allowance changes
    # only with the plan).
    readonly_fields = [
        "tokens_limit", "plan_started_at", "low_balance_notified_at", "created_at", "updated_at",
    ]  # fmt: skip

    # Every user has exactly one, made at registration; without it the wallet has no plan.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
