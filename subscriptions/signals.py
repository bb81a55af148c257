from django.dispatch import receiver

from accounts.signals import user_registered


@receiver(user_registered, dispatch_uid="subscriptions.start_free_plan")
def start_free_plan(sender, user, **kwargs):
    from subscriptions.models import UserSubscription

    UserSubscription.start_free(user)
