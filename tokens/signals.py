from django.db.backends.signals import connection_created
from django.dispatch import Signal, receiver

# Sent by the wallet inside the transaction of a debit or a hold, with `user_id`,
# `balance_before`, `balance_after` and `tokens_limit` (the plan allowance, None without a
# subscription), while the user's row is locked. Receivers run in
# that transaction (the subscriptions app decides on the low-balance e-mail); anything
# they send out must wait for the commit (`transaction.on_commit`).
balance_lowered = Signal()


@receiver(connection_created, dispatch_uid="tokens.sqlite_crc32")
def add_crc32_to_sqlite(sender, connection, **kwargs):
    """The sync report's checksums use CRC32(), which MariaDB and MySQL have and SQLite
    has not: SQLite gets the same function, so the report runs the same SQL everywhere."""
    if connection.vendor == "sqlite":
        from tokens.sync import crc32

        connection.connection.create_function("CRC32", 1, crc32, deterministic=True)
