from django.contrib import admin, messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.models import User
from payments.models import NotApprovedByHand, Payment, PaymentAlreadyDecided, WebhookEvent
from volx.admin_utils import LargeTableAdmin, ReadOnlyAdmin


@admin.register(Payment)
class PaymentAdmin(LargeTableAdmin):
    list_display = [
        "reference_code", "user", "plan_and_cycle", "amount_and_currency", "method", "status",
        "needs_review", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "method", "needs_review"]
    # Prefix search (LIKE 'term%') uses the unique indexes; '%term%' reads every row.
    # get_search_results below runs it.
    search_fields = ["^reference_code", "^user__email", "^user__username"]
    list_select_related = ["user"]
    # Newest first by the primary key: no index leads with created_at, and sorting a
    # million rows by it would be a filesort on every page load.
    ordering = ["-id"]
    sortable_by = []
    actions = ["approve_payments", "reject_payments"]
    change_form_template = "admin/payments/payment/change_form.html"
    readonly_fields = [f.name for f in Payment._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        """The reference code, or the payer's e-mail or username, each by prefix.

        Django's own search ORs the three over payments ⋈ users, which no index serves:
        2.5–4 s a search on 180k payments and 1M users (bench/scale.py). Matching the
        payers first, by the users' unique indexes, and their payments by user id does not
        read the join.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        payers = User.objects.filter(
            Q(email__istartswith=term) | Q(username__istartswith=term)
        ).values("pk")
        return queryset.filter(Q(reference_code__istartswith=term) | Q(user__in=payers)), False

    @admin.display(description="plan")
    def plan_and_cycle(self, payment: Payment) -> str:
        return f"{payment.to_plan} / {payment.billing_cycle}"

    @admin.display(description="amount")
    def amount_and_currency(self, payment: Payment) -> str:
        return f"{payment.amount} {payment.currency}"

    # Payments are records of money: they are decided, never added or deleted by hand.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve selected payments")
    def approve_payments(self, request, queryset):
        if request.POST.get("post") != "yes":
            return self._confirmation(request, queryset, "approve_payments")
        for payment in queryset:
            self._approve(request, payment)
        return None

    @admin.action(description="Reject selected payments")
    def reject_payments(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("post") != "yes" or not reason:
            return self._confirmation(
                request, queryset, "reject_payments", missing_reason="post" in request.POST
            )
        for payment in queryset:
            self._reject(request, payment, reason)
        return None

    def get_urls(self):
        own = [
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view),
                 name="payments_payment_approve"),
            path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view),
                 name="payments_payment_reject"),
        ]  # fmt: skip
        return own + super().get_urls()

    def approve_view(self, request, pk: int):
        """The Approve button of a payment's page: confirm (GET), then approve (POST)."""
        payment = get_object_or_404(Payment, pk=pk)
        if request.method != "POST" or request.POST.get("post") != "yes":
            return self._confirmation(request, [payment], "approve_payments", single=True)
        self._approve(request, payment)
        return redirect(reverse("admin:payments_payment_change", args=[pk]))

    def reject_view(self, request, pk: int):
        payment = get_object_or_404(Payment, pk=pk)
        reason = request.POST.get("reason", "").strip()
        if request.method != "POST" or request.POST.get("post") != "yes" or not reason:
            return self._confirmation(
                request, [payment], "reject_payments", single=True,
                missing_reason=request.method == "POST",
            )  # fmt: skip
        self._reject(request, payment, reason)
        return redirect(reverse("admin:payments_payment_change", args=[pk]))

    def _approve(self, request, payment: Payment) -> None:
        try:
            payment.approve(by=request.user)
        except NotApprovedByHand as error:
            self.message_user(
                request, f"Skipped {payment.reference_code}: {error}", messages.WARNING
            )
        except PaymentAlreadyDecided as error:
            self.message_user(
                request,
                f"Skipped {payment.reference_code}: already {error.payment.status}.",
                messages.WARNING,
            )
        except Exception as error:  # one failure must not hide the other payments' results
            self.message_user(request, f"Failed {payment.reference_code}: {error}", messages.ERROR)
        else:
            payment.user.refresh_from_db()
            self.message_user(
                request,
                f"Approved {payment.reference_code}: {payment.user} is on {payment.to_plan} "
                f"with {payment.user.tokens_remaining:,} tokens.",
                messages.SUCCESS,
            )

    def _reject(self, request, payment: Payment, reason: str) -> None:
        try:
            payment.reject(by=request.user, reason=reason)
        except PaymentAlreadyDecided as error:
            self.message_user(
                request,
                f"Skipped {payment.reference_code}: already {error.payment.status}.",
                messages.WARNING,
            )
        else:
            self.message_user(request, f"Rejected {payment.reference_code}.", messages.SUCCESS)

    def _confirmation(self, request, payments, action: str, *, single=False, missing_reason=False):
        return TemplateResponse(
            request,
            "admin/payments/payment/action_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Approve payments" if action == "approve_payments" else "Reject payments",
                "payments": list(payments),
                "action": action,
                "approve": action == "approve_payments",
                "single": single,
                "missing_reason": missing_reason,
            },
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "type", "event_id", "processed_at", "has_error"]
    list_filter = ["provider", "type"]
    search_fields = ["event_id"]
    ordering = ["-id"]
    sortable_by = ["received_at"]

    @admin.display(boolean=True, description="error")
    def has_error(self, event: WebhookEvent) -> bool:
        return bool(event.error)
