from django.dispatch import Signal

# Sent inside the registration transaction with `user`; receivers (the free
# subscription, the wallet grant) run in that same transaction.
user_registered = Signal()
