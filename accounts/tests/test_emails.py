"""accounts/emails.py: every e-mail in the recipient's language, after the commit, through
EMAIL_URL; the low-balance notice goes the same way."""

import time

import environ
import pytest
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts import emails
from accounts.tests.factories import UserFactory
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db


def test_an_email_is_in_the_recipients_language_not_the_requests(
    mailoutbox, django_capture_on_commit_callbacks
):
    user = UserFactory(language="vi", full_name="Lan")
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        emails.send(
            user,
            "verify_email",
            _("Confirm your e-mail address for Volx"),
            {"verify_url": "http://x/v/1/"},
        )

    mail = mailoutbox[0]
    assert mail.subject == "Xác nhận địa chỉ e-mail của bạn cho Volx"
    assert "Xin chào Lan," in mail.body
    assert "http://x/v/1/" in mail.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html" and '<html lang="vi">' in html
    assert mail.extra_headers["Content-Language"] == "vi"


def test_nothing_leaves_before_the_commit_and_nothing_after_a_rollback(
    mailoutbox, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        emails.send(user, "verify_email", "subject", {"verify_url": "x"})
        raise RuntimeError("rolled back")
    assert callbacks == [] and mailoutbox == []

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        emails.send(user, "verify_email", "subject", {"verify_url": "x"})
    assert len(callbacks) == 1 and mailoutbox == []  # queued for the commit


def test_the_low_balance_email_goes_in_the_users_language(
    mailoutbox, django_capture_on_commit_callbacks
):
    user = UserFactory(language="vi")
    with django_capture_on_commit_callbacks(execute=True):
        Wallet(user).debit(9_500, action="seo_title")

    mail = mailoutbox[0]
    assert mail.subject == "Số dư token Volx của bạn sắp hết"
    assert "500" in mail.body and "10.000" in mail.body  # Vietnamese thousands separator
    assert "http://127.0.0.1:8000/plans/" in mail.body


def test_filemail_email_url_writes_each_email_to_a_file(tmp_path, settings):
    """EMAIL_URL=filemail://<path> (django-environ), delivered off the request thread."""
    config = environ.Env.email_url_config(f"filemail:///{tmp_path}")  # four slashes: absolute
    settings.EMAIL_BACKEND = config["EMAIL_BACKEND"]
    settings.EMAIL_FILE_PATH = config["EMAIL_FILE_PATH"]
    user = UserFactory(email="file@example.com")

    emails.deliver(
        lambda: emails.render(
            "verify_email", "Hi", {"name": "x", "verify_url": "http://v/"}, user.email, "en", "UTC"
        )
    )

    deadline = time.monotonic() + 10
    while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    (written,) = tmp_path.iterdir()
    assert "To: file@example.com" in written.read_text() and "http://v/" in written.read_text()


class SlowBackend:
    """A mail server that takes its time."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        time.sleep(1.5)
        return len(messages)


def test_a_slow_mail_server_does_not_hold_the_request(api_client, settings):
    settings.EMAIL_BACKEND = "accounts.tests.test_emails.SlowBackend"
    UserFactory(email="slow@example.com")

    started = time.monotonic()
    response = api_client.post(
        "/api/auth/password-reset", {"email": "slow@example.com"}, format="json"
    )

    assert response.status_code == 202
    assert time.monotonic() - started < 1.0
