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
def revert_refunded_plan(sender, payment, **kwargs):
    from subscriptions.models import UserSubscription

    UserSubscription.objects.get(user_id=payment.user_id).revert_payment(payment)


@receiver(balance_lowered, dispatch_uid="subscriptions.notice_low_balance")
def notice_low_balance(sender, user_id, balance_before, balance_after, **kwargs):
    from subscriptions.models import UserSubscription

    subscription = UserSubscription.objects.select_related("user").filter(user_id=user_id).first()
    if subscription is not None:  # a legacy user without a subscription has no allowance
        subscription.notice_low_balance(balance_before=balance_before, balance_after=balance_after)
