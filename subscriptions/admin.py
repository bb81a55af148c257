from django.contrib import admin

from subscriptions.models import Plan, UserSubscription


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tokens", "articles_limit", "price_monthly", "price_annual"]
    list_editable = ["tokens", "articles_limit", "price_monthly", "price_annual"]
    ordering = ["sort_order"]


@admin.register(UserSubscription)
class UserSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "plan_type", "tokens_limit", "billing_cycle", "is_active", "expires_at"]
    list_filter = ["plan_type", "is_active", "billing_cycle"]
    search_fields = ["user__email", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    # The allowance changes only through a plan change (SPEC I3).
    readonly_fields = ["tokens_limit", "created_at", "updated_at"]
    show_full_result_count = False
