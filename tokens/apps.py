from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"

    def ready(self):
        # The database version check (the wallet's locking needs those servers) and
        # the SQLite CRC32() of the sync report.
        from tokens import signals  # noqa: F401
        from volx import checks  # noqa: F401
