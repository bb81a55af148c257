"""What the login lockout (django-axes, settings AXES_*) counts failures against: the
account, whatever the client, and the client's address, whatever the account."""

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from accounts.models import User


def lockout_key(request: HttpRequest, credentials: dict | None) -> str | None:
    """The account a login attempt is for: its username, however the login was typed.

    A login may name the account by e-mail (in any case) or by username. Counting the
    typed text would give an attacker 30 guesses per spelling, and make
    `axes_reset_username` miss some of them; resolving it to the account counts them all
    together and names the lock after the username the admin sees. A login that names no
    account is counted under its normalised text, so probing it is limited too.
    """
    login = (credentials or {}).get("username")
    if not login:
        return None
    try:
        return User.objects.get_by_login(login).username
    except User.DoesNotExist:
        login = login.strip()
        return User.objects.normalize_email(login) if "@" in login else login


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the throttles see it (DRF's, by NUM_PROXIES): REMOTE_ADDR,
    or behind NUM_PROXIES proxies the X-Forwarded-For entry the nearest of them added.

    Not axes' default (django-ipware when installed, which trusts the client's own
    X-Forwarded-For, else REMOTE_ADDR, the proxy's address behind one): a forged header
    would make every guess a new address, and behind a proxy every client would share one.
    """
    return BaseThrottle().get_ident(request) or None


class LoginLockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per account and a higher one per address.

    AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"] makes axes count failures per
    account and per address, but against one limit (AXES_FAILURE_LIMIT). One address may be
    an office or a carrier's NAT, with many people behind it, so it gets its own, higher
    limit (LOGIN_LOCKOUT_ADDRESS_FAILURES). Axes decides `get_failures() >= the limit`, so
    an address at its limit is reported as the account limit's worth of failures.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        per_account, per_address = (
            sum(attempts.values_list("failures_since_start", flat=True))
            for attempts in self.get_user_attempts(request, credentials)
        )
        if per_address >= settings.LOGIN_LOCKOUT_ADDRESS_FAILURES:
            return max(per_account, settings.AXES_FAILURE_LIMIT)
        return per_account

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """A successful login forgets the account's failures only: forgetting the address's
        too would let an attacker clear it by logging in to an account of their own."""
        account_attempts = self.filter_user_attempts(request, credentials)[0]
        deleted, _ = account_attempts.delete()
        return deleted
