from django.dispatch import receiver

from accounts.signals import user_registered
from payments.signals import payment_confirmed, payment_refunded


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
