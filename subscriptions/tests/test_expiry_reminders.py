"""send_expiry_reminders: a paid plan that does not auto-renew gets an e-mail 7 days and 1
day before its end, each once per plan period, however many runs and hosts
(docs/rules.md, Expiry reminders)."""

import io
import threading
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from subscriptions.models import ExpiryReminder, UserSubscription

DAY = timedelta(days=1)


def paid_user(*, ends_in: timedelta, auto_renew: bool = False, language: str = "en", **fields):
    user = UserFactory(language=language, **fields)
    UserSubscription.objects.filter(user=user).update(
        plan_type="professional",
        tokens_limit=2_010_000,
        expires_at=timezone.now() + ends_in,
        auto_renew=auto_renew,
    )
    return user


def run(capture) -> int:
    with capture(execute=True):
        return UserSubscription.send_expiry_reminders()


@pytest.mark.django_db
def test_the_week_reminder_goes_once_in_the_users_language(
    mailoutbox, django_capture_on_commit_callbacks
):
    user = paid_user(ends_in=6 * DAY + timedelta(hours=20), full_name="Lan")

    assert run(django_capture_on_commit_callbacks) == 1
    assert run(django_capture_on_commit_callbacks) == 0  # the next hour's run

    assert len(mailoutbox) == 1
    sent = mailoutbox[0]
    assert sent.to == [user.email]
    assert sent.subject == "Your Volx plan ends in 7 days"
    assert "Hello Lan," in sent.body
    assert "Your Professional plan ends on" in sent.body
    assert "does not renew by itself" in sent.body
    assert "you keep the tokens left in your balance" in sent.body
    assert "http://127.0.0.1:8000/plans/" in sent.body
    assert "<strong>Professional</strong>" in sent.alternatives[0][0]
    assert ExpiryReminder.objects.get().days_before == 7


@pytest.mark.django_db
def test_the_day_reminder_in_vietnamese_names_the_end_in_the_users_time_zone(
    mailoutbox, django_capture_on_commit_callbacks
):
    user = paid_user(ends_in=20 * timedelta(hours=1), language="vi", time_zone="Asia/Ho_Chi_Minh")
    end = UserSubscription.objects.get(user=user).expires_at
    end = timezone.localtime(end, timezone=zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"))

    assert run(django_capture_on_commit_callbacks) == 1

    sent = mailoutbox[0]
    assert sent.subject == "Gói Volx của bạn sẽ hết hạn sau 1 ngày"
    assert "Gói Professional của bạn sẽ hết hạn vào" in sent.body
    assert "không tự động gia hạn" in sent.body
    assert f"{end:%H:%M}" in sent.body  # the hour in Ho Chi Minh City, not UTC
    # Found with less than a day left: the 1-day reminder only, not the week's as well.
    assert list(ExpiryReminder.objects.values_list("days_before", flat=True)) == [1]


@pytest.mark.django_db
def test_a_plan_gets_the_week_then_the_day_reminder(mailoutbox, django_capture_on_commit_callbacks):
    user = paid_user(ends_in=7 * DAY)
    end = UserSubscription.objects.get(user=user).expires_at

    for hours_before in range(7 * 24 + 1, 0, -1):  # every hour of the last week
        with django_capture_on_commit_callbacks(execute=True):
            UserSubscription.send_expiry_reminders(now=end - timedelta(hours=hours_before))

    assert [m.subject for m in mailoutbox] == [
        "Your Volx plan ends in 7 days",
        "Your Volx plan ends in 1 day",
    ]


@pytest.mark.django_db
def test_a_new_period_gets_its_own_reminders(mailoutbox, django_capture_on_commit_callbacks):
    user = paid_user(ends_in=5 * DAY)
    run(django_capture_on_commit_callbacks)
    # Bought again: the end moves a cycle on; that period's last week gets its reminder.
    UserSubscription.objects.filter(user=user).update(expires_at=timezone.now() + 35 * DAY)
    assert run(django_capture_on_commit_callbacks) == 0
    later = timezone.now() + 30 * DAY
    with django_capture_on_commit_callbacks(execute=True):
        assert UserSubscription.send_expiry_reminders(now=later) == 1
    assert len(mailoutbox) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "case",
    [
        {"ends_in": 3 * DAY, "auto_renew": True},  # renews by itself
        {"ends_in": 8 * DAY},  # not yet
        {"ends_in": -DAY},  # past its end: expire_subscriptions drops it to free
    ],
    ids=["auto-renew", "more-than-7-days", "ended"],
)
def test_no_reminder(case, mailoutbox, django_capture_on_commit_callbacks):
    paid_user(**case)
    UserFactory()  # the free plan never ends
    assert run(django_capture_on_commit_callbacks) == 0
    assert mailoutbox == [] and not ExpiryReminder.objects.exists()


@pytest.mark.django_db
def test_a_rolled_back_run_sends_nothing_and_claims_nothing(
    mailoutbox, django_capture_on_commit_callbacks
):
    paid_user(ends_in=3 * DAY)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        UserSubscription.send_expiry_reminders()
        raise RuntimeError("rolled back")
    assert mailoutbox == [] and not ExpiryReminder.objects.exists()

    assert run(django_capture_on_commit_callbacks) == 1  # the next run sends it
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_command_run_twice_sends_each_reminder_once(mailoutbox):
    paid_user(ends_in=3 * DAY)
    paid_user(ends_in=12 * timedelta(hours=1))

    first, second = io.StringIO(), io.StringIO()
    call_command("send_expiry_reminders", stdout=first)
    call_command("send_expiry_reminders", stdout=second)

    assert first.getvalue().strip() == "Queued 2 reminder(s)."
    assert second.getvalue().strip() == "Queued 0 reminder(s)."
    assert sorted(m.subject for m in mailoutbox) == [
        "Your Volx plan ends in 1 day",
        "Your Volx plan ends in 7 days",
    ]


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_runs_racing_on_several_hosts_send_each_reminder_once():
    """Without the user's row lock and the check under it, the runs do race: each inserts
    the claim, and the unique constraint turns all but one into an IntegrityError (seen
    when the lock and the check are taken out). Either way, one e-mail per reminder."""
    users = [paid_user(ends_in=3 * DAY) for _ in range(5)]
    mail.outbox = []
    start = threading.Barrier(4)

    def host(_):
        start.wait()
        try:
            return UserSubscription.send_expiry_reminders()
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        queued = list(pool.map(host, range(4)))

    assert sum(queued) == 5
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in users)
    assert ExpiryReminder.objects.count() == 5
