import logging
from uuid import uuid4

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.db import models
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User
from tokens.api import bonus_room
from tokens.models import MAX_BALANCE
from volx.admin_utils import LargeTableAdmin

logger = logging.getLogger(__name__)

# The admin site as a whole. Admin rights come from users.role alone: no groups.
admin.site.unregister(Group)
admin.site.site_header = admin.site.site_title = "Volx back office"
admin.site.index_title = "Users, plans, payments and tokens"
# The lists are wide (balances, plans, filters on the right): the whole width is theirs.
admin.site.enable_nav_sidebar = False


class GrantBonusForm(forms.Form):
    amount = forms.IntegerField(label="Tokens", min_value=1, max_value=1_000_000_000)
    reason = forms.CharField(
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in each user's ledger with your name.",
    )
    # One id per rendering of the form: submitting it twice (a double click, a reload)
    # grants once, because the wallet keeps one entry per (user, idempotency key).
    grant_id = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.users = users

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if self.users and amount > (room := bonus_room(self.users)):
            raise forms.ValidationError(
                f"At most {room:,} for these users: a balance cannot exceed {MAX_BALANCE:,} tokens."
            )
        return amount


@admin.register(User)
class UserAdmin(LargeTableAdmin):
    list_display = [
        "username", "email", "role", "balance", "plan", "expires", "is_active", "created_at",
    ]  # fmt: skip
    list_select_related = ["subscription"]
    # Indexed columns only: users.role, user_subscriptions.plan_type.
    list_filter = ["role", "subscription__plan_type"]
    # Prefix search (LIKE 'term%') can use the unique indexes; '%term%' reads every row.
    search_fields = ["^email", "^username"]
    sortable_by = ["username", "email"]
    actions = ["grant_bonus", "take_back_tokens"]
    # Granting more than this many users at once belongs in a script, not in one request.
    MAX_BONUS_USERS = 500
    # The balance moves only through the wallet (the actions below, payments), never by hand.
    readonly_fields = [
        "tokens_remaining", "plan", "expires", "history", "last_login", "created_at",
        "updated_at", "pending_email",
    ]  # fmt: skip
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # avatar_url
    fields = [
        "username", "email", "pending_email", "full_name", "avatar_url", "bio", "role",
        "is_active", "is_verified", "language", "time_zone", "tokens_remaining", "plan",
        "expires", "history", "last_login", "created_at", "updated_at",
    ]  # fmt: skip

    def has_add_permission(self, request):
        # A user is made by registration (or createsuperuser): with the free plan and its
        # tokens, which a bare admin form would skip.
        return False

    @admin.display(description="balance")
    def balance(self, user: User):
        shown = "NULL" if user.tokens_remaining is None else f"{user.tokens_remaining:,}"
        ledger = reverse("admin:tokens_ledgerentry_changelist")
        return format_html('<a href="{}?user__id__exact={}">{}</a>', ledger, user.pk, shown)

    @admin.display(description="plan")
    def plan(self, user: User) -> str:
        subscription = getattr(user, "subscription", None)
        return subscription.plan_type if subscription else "—"

    @admin.display(description="expires")
    def expires(self, user: User):
        subscription = getattr(user, "subscription", None)
        return subscription.expires_at if subscription and subscription.expires_at else "—"

    @admin.display(description="history")
    def history(self, user: User):
        return format_html(
            '<a href="{}?user__id__exact={}">ledger</a> · <a href="{}?user__id__exact={}">usage</a>'
            ' · <a href="{}?user__id__exact={}">payments</a>',
            reverse("admin:tokens_ledgerentry_changelist"), user.pk,
            reverse("admin:tokens_tokenusage_changelist"), user.pk,
            reverse("admin:payments_payment_changelist"), user.pk,
        )  # fmt: skip

    @admin.action(description="Grant bonus tokens")
    def grant_bonus(self, request, queryset):
        """Ask for the amount and the reason, then credit each selected user
        (docs/rules.md, Admin bonus)."""
        return self._adjust(request, queryset, "grant_bonus")

    @admin.action(description="Take back tokens")
    def take_back_tokens(self, request, queryset):
        """Ask for the amount and the reason, then take up to that many from each selected
        user: never below 0, the ledger entry names you."""
        return self._adjust(request, queryset, "take_back_tokens")

    ADJUSTMENTS = {
        "grant_bonus": {
            "title": "Grant bonus tokens",
            "submit": "Grant bonus",
            "submit_id": "confirm-grant-bonus",
            "explanation": "A bonus adds tokens to each user's balance now. Their plan "
            "allowance stays as it is, so a balance above the allowance is expected afterwards.",
        },
        "take_back_tokens": {
            "title": "Take back tokens",
            "submit": "Take back",
            "submit_id": "confirm-take-back",
            "explanation": "Takes up to this many tokens from each user's balance now, never "
            "below 0 (what could not be taken is noted in the ledger). Their plan allowance "
            "stays as it is.",
        },
    }

    def _adjust(self, request, queryset, action: str):
        users = list(queryset.select_related("subscription")[: self.MAX_BONUS_USERS + 1])
        if len(users) > self.MAX_BONUS_USERS:
            self.message_user(
                request,
                f"Select at most {self.MAX_BONUS_USERS} users at once.",
                messages.ERROR,
            )
            return None
        if "apply" in request.POST:
            # Only a bonus can reach the balance column's limit.
            form = GrantBonusForm(request.POST, users=users if action == "grant_bonus" else ())
            if form.is_valid():
                sign = 1 if action == "grant_bonus" else -1
                for user in users:
                    self._apply(request, user, sign=sign, **form.cleaned_data)
                return None
        else:
            form = GrantBonusForm(initial={"grant_id": uuid4().hex})
        return TemplateResponse(
            request,
            "admin/accounts/user/grant_bonus.html",
            {
                **self.admin_site.each_context(request),
                **self.ADJUSTMENTS[action],
                "opts": self.model._meta,
                "action": action,
                "users": users,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _apply(self, request, user: User, *, sign: int, amount: int, reason: str, grant_id: str):
        try:
            entry = user.adjust_tokens(sign * amount, reason=reason, by=request.user, key=grant_id)
        except Exception as error:  # one failure must not hide the other users' results
            logger.exception("token adjustment for user %s failed", user.pk)
            self.message_user(request, f"Failed {user}: {error}", messages.ERROR)
            return
        if entry is None:
            done = "this bonus was already granted" if sign > 0 else "this was already taken back"
            self.message_user(request, f"Skipped {user}: {done}.", messages.WARNING)
            return
        tokens = f"{abs(entry.delta):,}"
        if sign > 0:
            self.log_change(request, user, f"Granted {tokens} bonus tokens: {reason}")
            message = f"Granted {tokens} bonus tokens to {user}: balance {entry.balance_after:,}."
        else:
            self.log_change(request, user, f"Took back {tokens} tokens: {reason}")
            message = f"Took back {tokens} tokens from {user}: balance {entry.balance_after:,}."
        self.message_user(request, message, messages.SUCCESS)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(LargeTableAdmin, AxesAccessAttemptAdmin):
    """The login lockout's failure counts (settings AXES_*), by account and client.
    Deleting an account's rows unlocks it early. Axes' access and failure logs are not
    kept, so they have no admin."""
