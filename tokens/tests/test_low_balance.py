"""The low-balance e-mail: spending that takes the balance below 10% of the plan
allowance sends one e-mail per plan period, after the commit."""

import pytest
from django.db import transaction

from accounts.models import User
from payments.tests.factories import PaymentFactory
from subscriptions.models import UserSubscription, crosses_low_balance_line
from tokens.wallet import InsufficientTokens, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def spend(django_capture_on_commit_callbacks):
    """Debit as a committed request would: the on-commit callbacks (the e-mail) run."""

    def spend(user, amount: int, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return Wallet(user).debit(amount, action="seo_title", **kwargs)

    return spend


def test_crossing_ten_percent_sends_one_email(user, spend, mailoutbox):
    spend(user, 8_900)  # 10,000 → 1,100: still above 1,000
    assert mailoutbox == []

    spend(user, 200)  # 1,100 → 900: below 10% of 10,000

    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [user.email]
    assert mail.subject == "Your Volx token balance is running low"
    assert "You have 900 tokens left of the 10,000 in your plan" in mail.body
    assert "http://127.0.0.1:8000/plans/" in mail.body or "/plans/" in mail.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html" and "<strong>900</strong>" in html
    assert UserSubscription.objects.get(user=user).low_balance_notified_at is not None


@pytest.mark.parametrize(
    ("limit", "before", "after", "crosses"),
    [
        (10_000, 1_000, 999, True),  # from the line to under it
        (10_000, 1_001, 1_000, False),  # to the line: not under it
        (10_000, 999, 500, False),  # under it already
        (10_005, 1_001, 1_000, True),  # 10% is 1,000.5: no rounding
        (0, 10, 0, False),
        (None, 10, 0, False),  # no subscription, no allowance
    ],
)
def test_the_low_balance_line(limit, before, after, crosses):
    """One rule for the signal's quick test and the notice itself."""
    assert crosses_low_balance_line(limit, before, after) is crosses


def test_exactly_ten_percent_is_not_below(user, spend, mailoutbox):
    spend(user, 9_000)  # 10,000 → 1,000 = 10%, not below
    assert mailoutbox == []
    spend(user, 1)
    assert len(mailoutbox) == 1


def test_a_second_debit_in_the_same_period_sends_none(user, spend, mailoutbox):
    spend(user, 9_500)
    spend(user, 100)
    spend(user, 400)  # down to 0
    with pytest.raises(InsufficientTokens):
        spend(user, 1)
    assert len(mailoutbox) == 1


def test_a_hold_crossing_again_after_a_release_sends_none(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    Wallet(user).debit(8_500)  # 1,500 left
    wallet = Wallet(user)
    with django_capture_on_commit_callbacks(execute=True):
        hold = wallet.hold(600, action="rewrite")  # 1,500 → 900: crosses
    wallet.release(hold)  # the action failed: back to 1,500
    with django_capture_on_commit_callbacks(execute=True):
        wallet.hold(600, action="rewrite")  # crosses again, same period
    assert len(mailoutbox) == 1


def test_a_new_plan_period_allows_one_more(user, spend, mailoutbox):
    spend(user, 9_500)
    assert len(mailoutbox) == 1

    PaymentFactory(user=user).confirm()  # professional: 500 + 2,000,000 = 2,000,500 / 2,000,500
    spend(user, 1_800_000)  # 200,500: still above 200,050
    assert len(mailoutbox) == 1
    spend(user, 1_000)  # 199,500: below 10% of the new allowance

    assert len(mailoutbox) == 2
    assert "You have 199,500 tokens left of the 2,000,500 in your plan" in mailoutbox[1].body
    spend(user, 1_000)
    assert len(mailoutbox) == 2


def test_a_renewal_starts_a_new_period(user, spend, mailoutbox):
    PaymentFactory(user=user).confirm()  # 2,010,000 / 2,010,000
    spend(user, 1_900_000)  # 110,000: crosses 201,000
    assert len(mailoutbox) == 1

    UserSubscription.objects.get(user=user).renew(reference="invoice:1", idempotency_key="inv:1")
    spend(user, 2_000_000)  # 2,110,000 → 110,000: below 211,000 again, new period

    assert len(mailoutbox) == 2


def test_a_rolled_back_debit_sends_nothing(user, mailoutbox, django_capture_on_commit_callbacks):
    class Failed(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Failed),
        transaction.atomic(),
    ):
        Wallet(user).debit(9_500, action="seo_title")
        raise Failed

    assert mailoutbox == []
    user.refresh_from_db()
    assert user.tokens_remaining == 10_000
    assert UserSubscription.objects.get(user=user).low_balance_notified_at is None


def test_a_zero_allowance_never_sends_and_never_crashes(user, spend, mailoutbox):
    UserSubscription.objects.filter(user=user).update(tokens_limit=0)
    spend(user, 9_999)
    spend(user, 1)
    assert mailoutbox == []


def test_a_user_without_a_subscription_never_crashes(user, spend, mailoutbox):
    UserSubscription.objects.filter(user=user).delete()
    spend(user, 9_999)
    assert mailoutbox == []
    assert User.objects.get(pk=user.pk).tokens_remaining == 1


def test_a_null_balance_is_restored_then_the_debit_notices(user, spend, mailoutbox):
    User.objects.filter(pk=user.pk).update(tokens_remaining=None)  # restored from the ledger
    spend(user, 9_500)
    assert len(mailoutbox) == 1


def test_bonus_refunds_and_forfeits_send_nothing(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        Wallet(user).debit_up_to(9_500, kind="refund")
        Wallet(user).forfeit(note="test")
    assert mailoutbox == []


@pytest.mark.django_db(transaction=True)
def test_the_email_leaves_after_a_real_commit(user, mailoutbox):
    Wallet(user).debit(9_500, action="seo_title")  # autocommit: its own transaction
    assert len(mailoutbox) == 1


def test_an_email_that_fails_to_send_does_not_fail_the_debit(
    user, spend, mailoutbox, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", broken)
    entry = spend(user, 9_500)
    assert entry.balance_after == 500
    assert "no SMTP server" in caplog.text
