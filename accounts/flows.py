"""The e-mails of the flows a person runs on their own account (README, Accounts):
verifying the address, changing it, resetting the password. The links are absolute,
built on SITE_URL."""

from axes.utils import reset as reset_lockout
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext_lazy as _

from accounts import emails
from accounts.models import User
from tokens.wallet import Wallet


def send_verification(user: User, *, welcome: bool = False) -> None:
    """A new link to verify the user's address (the earlier one stops working): in the
    welcome e-mail at registration, or alone when the user asks again."""
    token = user.new_verification_token()
    context = {"verify_url": emails.site_url(reverse("accounts:verify-email", args=[token]))}
    if welcome:
        context["tokens"] = Wallet(user).balance()  # the free plan's, granted just now
        emails.send(user, "welcome", _("Welcome to Volx: please confirm your e-mail"), context)
    else:
        emails.send(user, "verify_email", _("Confirm your e-mail address for Volx"), context)


def request_email_change(user: User, new_email: str) -> None:
    """The change waits for the link sent to the new address; until it is opened the
    account keeps its address (and its verified state)."""
    token = user.new_verification_token(email=new_email)
    context = {
        "verify_url": emails.site_url(reverse("accounts:verify-email", args=[token])),
        "new_email": user.pending_email,
    }
    emails.send(
        user,
        "email_change",
        _("Confirm your new e-mail address for Volx"),
        context,
        to=user.pending_email,
    )


def send_password_reset(user: User) -> None:
    """A link that sets a new password once: Django's token covers the password hash
    and the last login, so it stops working when either changes (and after
    PASSWORD_RESET_TIMEOUT)."""
    path = reverse(
        "accounts:password-reset-confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    emails.send(
        user, "password_reset", _("Reset your Volx password"), {"reset_url": emails.site_url(path)}
    )


def password_was_reset(user: User) -> None:
    """The owner proved they hold the address: the account's login lockout ends (the
    address's, which counts every account, stays)."""
    reset_lockout(username=user.username)
