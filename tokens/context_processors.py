"""The header badge `⚡ <balance> Token` on every signed-in page (README, Pages)."""

from functools import cached_property

from django.http import HttpRequest

from tokens.wallet import Wallet


class TokenWallet:
    """The signed-in user's balance, read when a template first asks for it.

    Lazy, so a page that shows no badge (the admin, an error page) costs no query; read
    through Wallet.balance() so that a NULL balance is restored first (docs/rules.md, NULL is
    not 0).
    """

    def __init__(self, user):
        self.user = user

    @cached_property
    def balance(self) -> int:
        return Wallet(self.user).balance()


def token_wallet(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"token_wallet": TokenWallet(user)}
