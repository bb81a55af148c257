from django import forms
from django.utils.translation import gettext_lazy as _

from payments.models import Payment
from subscriptions.models import BillingCycle, Plan
from tokens.templatetags.numbers import amount

# The labels of methods, statuses and billing cycles are the models' choices.
METHOD_HELP = {
    Payment.Method.BANK_TRANSFER: _(
        "Transfer the amount with the reference code in the memo. Your plan starts when an "
        "administrator confirms that the money arrived."
    ),
    Payment.Method.STRIPE: _(
        "Pay by card on Stripe's secure page. Your plan starts as soon as Stripe confirms."
    ),
    Payment.Method.PAYPAL: _(
        "Pay with your PayPal account. Your plan starts as soon as PayPal confirms."
    ),
}


class UpgradeForm(forms.Form):
    """Billing cycle and payment method for a plan purchase; only configured methods."""

    billing_cycle = forms.ChoiceField(
        label=_("Billing cycle"), widget=forms.RadioSelect, initial=BillingCycle.MONTHLY
    )
    payment_method = forms.ChoiceField(label=_("Payment method"), widget=forms.RadioSelect)

    def __init__(self, *args, plan: Plan, methods: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["billing_cycle"].choices = [
            (cycle, f"{label} · {amount(plan.price(cycle))} {plan.currency}")
            for cycle, label in BillingCycle.choices
        ]
        self.fields["payment_method"].choices = [(m, Payment.Method(m).label) for m in methods]
        if len(methods) == 1:
            self.fields["payment_method"].initial = methods[0]

    def method_choices(self) -> list[dict]:
        """The method radios with their explanations, for the template."""
        return [
            {"radio": radio, "help": METHOD_HELP[radio.data["value"]]}
            for radio in self["payment_method"]
        ]
