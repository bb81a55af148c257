"""Buying a plan from the pages, and the user's payments (README, Payments and Pages).

The purchase is made exactly as POST /api/auth/upgrade-plan makes it, by
payments.services.start_purchase(). It changes no plan and no balance; only verified money
does (docs/rules.md, Only verified money grants tokens).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from payments import receipts
from payments.forms import UpgradeForm
from payments.gateways import GatewayError
from payments.methods import REQUIRED_SETTINGS, bank_details, configured_methods, missing_settings
from payments.models import Payment, PaymentAlreadyDecided, PaymentPending
from payments.services import (
    AutoRenewUnavailable,
    cancel_pending,
    set_auto_renew,
    start_purchase,
    stripe_subscription_of,
)
from subscriptions.models import Plan, TokensOnPlanChange, UserSubscription
from tokens.wallet import Wallet

PAYMENTS_PAGE_SIZE = 25


def own_payment(request: HttpRequest, pk: int) -> Payment:
    return get_object_or_404(Payment, pk=pk, user=request.user)  # another user's → 404


def with_labels(payment: Payment, plan_names: dict[str, str]) -> Payment:
    """Attach the plan's name in the user's language (the status, method and billing cycle
    are shown by the models' get_…_display)."""
    name = plan_names.get(payment.to_plan, payment.to_plan)
    payment.plan_name = _(name) if name else ""
    return payment


def plan_names() -> dict[str, str]:
    return dict(Plan.objects.values_list("slug", "name"))


@login_required
@require_http_methods(["GET", "POST"])
def upgrade(request: HttpRequest, slug: str) -> HttpResponse:
    """/plans/<slug>/upgrade/: choose the billing cycle and one of the configured methods;
    the POST creates the pending payment and sends the user to pay."""
    plan = get_object_or_404(Plan.objects.buyable(), slug=slug)
    methods = configured_methods()
    form = UpgradeForm(request.POST or None, plan=plan, methods=methods)
    if request.method == "POST" and form.is_valid():
        method = form.cleaned_data["payment_method"]
        try:
            payment, checkout_url = start_purchase(
                request.user, plan, billing_cycle=form.cleaned_data["billing_cycle"], method=method
            )
        except PaymentPending as pending:
            messages.info(
                request,
                _(
                    "A payment for this plan is already waiting: %(code)s. Pay it as shown "
                    "here; a new one can be started once it is decided."
                )
                % {"code": pending.payment.reference_code},
            )
            return redirect("payments:detail-page", pk=pending.payment.pk)
        except GatewayError:
            messages.error(
                request,
                _(
                    "%(method)s could not start the payment. Nothing was charged; try again "
                    "in a moment or choose another method."
                )
                % {"method": Payment.Method(method).label},
            )
        else:
            if checkout_url:
                return redirect(checkout_url)
            return redirect("payments:detail-page", pk=payment.pk)

    remaining = Wallet(request.user).balance()
    context = {
        "plan": plan,
        "form": form,
        "methods_configured": bool(methods),
        "remaining": remaining,
        "tokens_after": TokensOnPlanChange.of(remaining, plan).after,
        "running": UserSubscription.objects.filter(user=request.user).first(),
    }
    # Buying the plan one is on renews it (a cycle more), it does not upgrade.
    context["renewal"] = bool(context["running"] and context["running"].plan_type == plan.slug)
    if context["running"] and (unused := context["running"].time_ended_by(plan)):
        context["unused_days"] = unused.days
        context["running_name"] = _(plan_names().get(context["running"].plan_type, ""))
    if not methods and request.user.is_admin:
        # The operator sees what to set; a user only sees that paying is not possible yet.
        context["missing"] = {
            Payment.Method(m).label: missing_settings(m) for m in REQUIRED_SETTINGS
        }
    return render(request, "payments/upgrade.html", context)


@login_required
@require_GET
def payment_list(request: HttpRequest) -> HttpResponse:
    """/payments/: the user's payments. Stripe and PayPal send the buyer back to
    `?paid=<id>` (and `&error=paypal` when PayPal could not complete it)."""
    payments = Payment.objects.filter(user=request.user)
    paid_id = request.GET.get("paid", "")
    paid = payments.filter(pk=paid_id).first() if paid_id.isdigit() else None
    if request.GET.get("error") == "paypal":
        messages.error(
            request,
            _(
                "PayPal could not complete the payment. If money was taken, the payment is "
                "confirmed as soon as PayPal reports it; otherwise try again."
            ),
        )
    elif paid and paid.status == Payment.Status.APPROVED:
        messages.success(request, _("Payment received: your new plan and tokens are active."))
    elif paid and paid.status == Payment.Status.PENDING:
        messages.info(
            request,
            _(
                "Thank you! The payment is being confirmed by the provider; your plan and "
                "tokens are added as soon as the confirmation arrives. Reload this page in "
                "a moment."
            ),
        )
    page = Paginator(payments, PAYMENTS_PAGE_SIZE).get_page(request.GET.get("page"))
    names = plan_names()
    for payment in page:
        with_labels(payment, names)
    return render(request, "payments/list.html", {"page": page})


@login_required
@require_GET
def payment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """/payments/<id>/: status; for a pending bank transfer, what to transfer and where."""
    payment = with_labels(own_payment(request, pk), plan_names())
    return render(
        request,
        "payments/detail.html",
        {
            "payment": payment,
            "plan": Plan.objects.filter(slug=payment.to_plan).first(),
            "bank": bank_details() if payment.method == Payment.Method.BANK_TRANSFER else None,
        },
    )


@login_required
@require_GET
def payment_cancelled(request: HttpRequest, pk: int) -> HttpResponse:
    """Where Stripe's cancel_url and the PayPal cancel view send the buyer."""
    payment = with_labels(own_payment(request, pk), plan_names())
    return render(request, "payments/cancelled.html", {"payment": payment})


# Shown on the subscription page; the payments page has them all.
SUBSCRIPTION_HISTORY = 10


@login_required
@require_http_methods(["GET", "POST"])
def subscription(request: HttpRequest) -> HttpResponse:
    """/subscription/: the plan, its allowance and period, auto-renew on/off (the POST), and
    the latest payments with a cancel button on a pending one (SPEC §13). Here rather than
    in subscriptions: auto-renew reaches the Stripe subscription, which the payments know."""
    if request.method == "POST":
        choice = request.POST.get("auto_renew")
        if choice not in ("on", "off"):
            messages.error(request, _("Choose whether the plan renews."))
        else:
            _set_auto_renew(request, choice == "on")
        return redirect("payments:subscription-page")
    current = UserSubscription.of_user(request.user)
    names = plan_names()
    history = [
        with_labels(p, names)
        for p in Payment.objects.filter(user=request.user)[:SUBSCRIPTION_HISTORY]
    ]
    context = {
        "subscription": current,
        "plan_name": _(names.get(current.plan_type, current.plan_type)),
        "period_start": current.period_start(),
        "can_auto_renew": bool(stripe_subscription_of(current)),
        "payments": history,
        "more_payments": Payment.objects.filter(user=request.user).count() > SUBSCRIPTION_HISTORY,
    }
    return render(request, "payments/subscription.html", context)


def _set_auto_renew(request: HttpRequest, renew: bool) -> None:
    try:
        set_auto_renew(request.user, renew)
    except AutoRenewUnavailable:
        messages.error(
            request,
            _(
                "Auto-renew needs a card subscription. A plan paid by bank transfer or PayPal "
                "is renewed by buying it again."
            ),
        )
    except GatewayError:
        messages.error(
            request, _("The card provider could not be reached; nothing changed. Try again.")
        )
    else:
        if renew:
            messages.success(
                request, _("Auto-renew is on: the plan renews at the end of the period.")
            )
        else:
            messages.success(
                request, _("Auto-renew is off: the plan ends with the period you paid for.")
            )


@login_required
@require_POST
def cancel_payment(request: HttpRequest, pk: int) -> HttpResponse:
    """The cancel button of a pending payment (the subscription page)."""
    payment = own_payment(request, pk)
    try:
        cancel_pending(payment)
    except PaymentAlreadyDecided:
        messages.info(request, _("This payment is no longer pending; nothing changed."))
    except GatewayError:
        messages.error(
            request, _("The card provider could not be reached; nothing changed. Try again.")
        )
    else:
        messages.success(
            request,
            _("Payment %(code)s cancelled. You were not charged.")
            % {"code": payment.reference_code},
        )
    return redirect("payments:subscription-page")


# A receipt is for money that was confirmed; a refund later does not take it away.
RECEIPTED = [Payment.Status.APPROVED, Payment.Status.REFUNDED]


@login_required
@require_GET
def receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """/payments/<id>/receipt/: the printable receipt of the user's own confirmed payment
    (others 404), in the page's language; a refunded one says so."""
    payment = own_payment(request, pk)
    if payment.status not in RECEIPTED or payment.decided_at is None:
        raise Http404("no receipt: the payment was not confirmed")
    payment.ensure_receipt_number()
    with_labels(payment, plan_names())
    return render(
        request, "payments/receipt.html", {"payment": payment, "seller": receipts.seller()}
    )
