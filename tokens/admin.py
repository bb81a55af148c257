from django.contrib import admin

from tokens.models import IdempotencyRecord, LedgerEntry, TokenHold, TokenUsage


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only: rows are shown, never added, edited or deleted here."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "delta", "balance_after", "reference", "actor"]
    list_filter = ["kind"]
    search_fields = ["user__email", "user__username", "reference"]
    list_select_related = ["user", "actor"]


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "action", "tokens_used", "article"]
    list_filter = ["action"]
    search_fields = ["user__email", "user__username"]
    list_select_related = ["user", "article"]


@admin.register(TokenHold)
class TokenHoldAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "action", "amount", "status", "closed_at"]
    list_filter = ["status"]
    list_select_related = ["user"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "key", "status", "response_status"]
    list_filter = ["status"]
    search_fields = ["key", "user__email", "user__username"]
    list_select_related = ["user"]
