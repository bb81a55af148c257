from django.dispatch import Signal

# Sent with `payment` inside Payment.confirm()'s transaction, after the payment row is
# locked and marked approved; the subscriptions app applies the plan change and grant.
payment_confirmed = Signal()

# Sent with `payment` inside Payment.refund()'s transaction after the grant is reversed;
# the subscriptions app puts back the plan the payment replaced.
payment_refunded = Signal()
