from django.dispatch import Signal

# Sent by the wallet inside the transaction of a debit or a hold, with `user_id`,
# `balance_before` and `balance_after`, while the user's row is locked. Receivers run in
# that transaction (the subscriptions app decides on the low-balance e-mail); anything
# they send out must wait for the commit (`transaction.on_commit`).
balance_lowered = Signal()
