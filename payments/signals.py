from django.dispatch import Signal

# Sent with `payment` inside Payment.confirm()'s transaction, after the payment row is
# locked and marked approved; the subscriptions app applies the plan change and grant.
payment_confirmed = Signal()

# Sent with `payment` and `tokens_taken` (what the wallet gave back) inside
# Payment.refund()'s transaction after the grant is reversed; the subscriptions app takes
# the payment out of the plan (plan_state_after_refund).
payment_refunded = Signal()
