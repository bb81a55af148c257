"""Every e-mail Volx sends goes through `send()`: rendered from templates/emails/<name>.txt
and .html in the recipient's language and time zone, sent after the commit through
EMAIL_URL (any django-environ scheme: smtp+tls://, consolemail://, filemail://…).

Sent after the commit (STYLE.md, Side effects after commit): a transaction that rolls
back sends nothing. Delivered on a background thread: a slow mail server must not hold
the request, and the password reset must answer in the same time whether or not it
found an account to write to.
"""

import logging
import zoneinfo
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.functional import Promise

from accounts.models import User

logger = logging.getLogger(__name__)

# Two threads per process: mail is a trickle, and a stuck server then delays only mail.
_delivery = ThreadPoolExecutor(max_workers=2, thread_name_prefix="volx-mail")
IN_PROCESS_BACKENDS = {"django.core.mail.backends.locmem.EmailBackend"}


def site_url(path: str = "/") -> str:
    """An absolute link for an e-mail: SITE_URL, never the request's Host header."""
    return settings.SITE_URL.rstrip("/") + path


def send(
    user: User,
    name: str,
    subject: str | Promise,
    context: dict | None = None,
    *,
    to: str | None = None,
    attachments: list[tuple[str, str, str]] | None = None,
) -> None:
    """Queue e-mail `name` to `user` (or to the address `to`) for after the commit.

    `subject` is a lazy translation (gettext_lazy), read in the user's language. The
    templates get `context` plus `user`, `name` (how to greet them) and `site_url`.
    `attachments`: (filename, template, mimetype), each rendered like the body, from the
    same context in the same language and time zone (a payment's receipt).
    """
    address = to or user.email
    if not address or not user.is_active:  # a deleted account's address is a placeholder
        return
    context = {
        "user": user,
        "name": user.full_name or user.username,
        "site_url": site_url(),
        **(context or {}),
    }
    language, time_zone = user.language, user.time_zone

    def send_after_commit() -> None:  # a named function: Django logs failures by name
        deliver(
            lambda: render(
                name, subject, context, address, language, time_zone, attachments=attachments
            )
        )

    # robust: a failure is logged; it never fails the request that caused the e-mail.
    transaction.on_commit(send_after_commit, robust=True)


def render(
    name: str,
    subject,
    context: dict,
    address: str,
    language: str,
    time_zone: str,
    *,
    attachments: list[tuple[str, str, str]] | None = None,
) -> EmailMultiAlternatives:
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    with translation.override(language), timezone.override(zone):
        message = EmailMultiAlternatives(
            subject=str(subject),
            body=render_to_string(f"emails/{name}.txt", context),
            to=[address],
            headers={"Content-Language": language},
        )
        message.attach_alternative(render_to_string(f"emails/{name}.html", context), "text/html")
        for filename, template, mimetype in attachments or ():
            message.attach(filename, render_to_string(template, context), mimetype)
    return message


def deliver(message: Callable[[], EmailMultiAlternatives]) -> None:
    """Render and send `message` on a background thread: the templates need no database
    (their context is plain values), and the request answers without waiting for either."""
    # The locmem backend (the tests') keeps mail in this process's memory: nothing to
    # wait for, and the test reads the outbox right after the request.
    if settings.EMAIL_BACKEND in IN_PROCESS_BACKENDS:
        message().send()
        return
    _delivery.submit(_send_logged, message)


def _send_logged(message: Callable[[], EmailMultiAlternatives]) -> None:
    try:
        message().send()
    except Exception:
        logger.exception("could not send an e-mail")
