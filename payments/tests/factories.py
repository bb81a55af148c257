import factory

from accounts.tests.factories import UserFactory
from payments.models import Payment
from subscriptions.models import Plan


class PaymentFactory(factory.django.DjangoModelFactory):
    """A pending payment made the way upgrade-plan makes it (Payment.start)."""

    class Meta:
        model = Payment

    user = factory.SubFactory(UserFactory)
    plan = "professional"
    billing_cycle = "monthly"
    method = Payment.Method.BANK_TRANSFER

    @classmethod
    def _create(cls, model_class, *, user, plan, billing_cycle, method, **kwargs):
        payment = Payment.start(
            user, Plan.objects.get(slug=plan), billing_cycle=billing_cycle, method=method
        )
        if kwargs:
            Payment.objects.filter(pk=payment.pk).update(**kwargs)
            payment.refresh_from_db()
        return payment
