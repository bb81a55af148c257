from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"

    def ready(self):
        # Registers the database version check: the wallet's locking needs those servers.
        from volx import checks  # noqa: F401
