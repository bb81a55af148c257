from django.dispatch import Signal

# Sent by the wallet inside the transaction of a debit or a hold, with `user_id`,
# `balance_before`, `balance_after` and `tokens_limit` (the plan allowance, None without a
# subscription), while the user's row is locked. Receivers run in
# that transaction (the subscriptions app decides on the low-balance e-mail); anything
# they send out must wait for the commit (`transaction.on_commit`).
balance_lowered = Signal()
