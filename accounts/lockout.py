"""What the login lockout (django-axes, settings AXES_*) counts failures against."""

from django.http import HttpRequest

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
