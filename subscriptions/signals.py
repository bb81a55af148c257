from django.dispatch import receiver

from accounts.signals import user_registered
from payments.signals import payment_confirmed, payment_refunded
from tokens.signals import balance_lowered


@receiver(user_registered, dispatch_uid="subscriptions.start_free_plan")
def start_free_plan(sender, user, **kwargs):
    from subscriptions.models import UserSubscription

    UserSubscription.start_free(user)


@receiver(payment_confirmed, dispatch_uid="subscriptions.apply_paid_plan")
def apply_paid_plan(sender, payment, **kwargs):
    from subscriptions.models import UserSubscription

    UserSubscription.objects.get(user_id=payment.user_id).apply_payment(payment)


@receiver(payment_refunded, dispatch_uid="subscriptions.revert_refunded_plan")
def revert_refunded_plan(sender, payment, tokens_taken, **kwargs):
    from subscriptions.models import UserSubscription

    subscription = UserSubscription.objects.get(user_id=payment.user_id)
    subscription.revert_payment(payment, tokens_taken=tokens_taken)


@receiver(balance_lowered, dispatch_uid="subscriptions.notice_low_balance")
def notice_low_balance(sender, user_id, balance_before, balance_after, tokens_limit, **kwargs):
    """Most spending crosses no line: decided from the allowance the wallet read, with no
    query; the subscription is loaded only for the one debit that crosses it."""
    from subscriptions.models import UserSubscription, crosses_low_balance_line

    # None: a legacy user without a subscription has no allowance.
    if crosses_low_balance_line(tokens_limit, balance_before, balance_after):
        subscription = UserSubscription.objects.select_related("user").get(user_id=user_id)
        subscription.notice_low_balance(balance_before=balance_before, balance_after=balance_after)
