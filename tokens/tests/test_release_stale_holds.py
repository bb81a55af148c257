"""release_stale_holds: tokens set aside by an AI action whose process died are given back."""

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from accounts.tests.factories import UserFactory
from tokens.models import LedgerEntry, TokenHold
from tokens.wallet import HoldClosed, Wallet


def age(hold: TokenHold, minutes: int) -> None:
    TokenHold.objects.filter(pk=hold.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


def release_stale(*args) -> str:
    out = StringIO()
    call_command("release_stale_holds", *args, stdout=out)
    return out.getvalue()


def assert_books_balance(user, balance: int) -> None:
    user.refresh_from_db()
    assert user.tokens_remaining == balance
    assert LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"] == balance


@pytest.mark.django_db
def test_releases_only_holds_older_than_the_limit(user):
    wallet = Wallet(user)
    stale, fresh = wallet.hold(300, action="rewrite"), wallet.hold(400, action="rewrite")
    settled = wallet.hold(100, action="find_image")
    wallet.settle(settled)
    age(stale, 16)
    age(settled, 60)

    out = release_stale()

    assert f"Released hold {stale.pk}: 300 tokens back to user {user.pk}" in out
    assert out.endswith("Released 1 stale hold(s).\n")
    statuses = dict(TokenHold.objects.values_list("pk", "status"))
    assert statuses == {stale.pk: "released", fresh.pk: "held", settled.pk: "settled"}
    assert_books_balance(user, 10_000 - 400 - 100)


@pytest.mark.django_db
def test_a_second_run_and_a_late_settle_change_nothing(user):
    wallet = Wallet(user)
    hold = wallet.hold(300, action="rewrite")
    age(hold, 30)
    release_stale()

    assert release_stale().endswith("Released 0 stale hold(s).\n")
    with pytest.raises(HoldClosed):
        wallet.settle(hold)  # the action's process came back after all: it is too late
    assert_books_balance(user, 10_000)


@pytest.mark.django_db
def test_older_than_minutes_is_an_option(user):
    hold = Wallet(user).hold(300, action="rewrite")
    age(hold, 10)

    assert release_stale().endswith("Released 0 stale hold(s).\n")
    assert release_stale("--older-than-minutes", "5").endswith("Released 1 stale hold(s).\n")


@pytest.mark.django_db
def test_refuses_a_limit_that_running_actions_could_reach(settings):
    settings.AI_TIMEOUT = 120.0
    with pytest.raises(CommandError, match="must exceed AI_TIMEOUT"):
        release_stale("--older-than-minutes", "2")


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_release_each_hold_once():
    users = UserFactory.create_batch(5)
    for user in users:
        for _ in range(4):
            age(Wallet(user).hold(100, action="find_image"), 20)
    start = threading.Barrier(4)
    outputs = []

    def run() -> None:
        start.wait()
        try:
            outputs.append(release_stale())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    released = sum(int(out.rsplit("Released ", 1)[1].split()[0]) for out in outputs)
    assert (len(outputs), released) == (4, 20)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RELEASE).count() == 20
    for user in users:
        assert_books_balance(user, 10_000)


# --- a real crash: a process SIGKILLed between hold and settle -----------------------

CRASHING_ACTION = """
import asyncio
import time
from accounts.models import User
from articles.actions import ACTIONS, Run, hold
from articles.providers.local import LocalProvider

def hang(provider, action, text):
    print("provider running", flush=True)
    time.sleep(600)

async def run(held):
    await Run(held, ACTIONS["generate_seo_title"], "A text to title.").task

LocalProvider.run = hang
user = User.objects.get(pk={user_id})
asyncio.run(run(hold(user, ACTIONS["generate_seo_title"], "A text to title.")))
"""


def database_url() -> str:
    """DATABASE_URL of the test database, for a process started by the test."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return (
        f"mysql://{quote(db['USER'])}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 3306}/{db['NAME']}"
    )


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_a_process_killed_between_hold_and_settle_is_made_whole():
    user = UserFactory()
    action = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            CRASHING_ACTION.format(user_id=user.pk),
        ],
        cwd=Path(settings.BASE_DIR),
        env={**os.environ, "DATABASE_URL": database_url()},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert action.stdout.readline() == "provider running\n"  # the hold is committed
    finally:
        action.send_signal(signal.SIGKILL)
        action.wait(timeout=60)
    hold = TokenHold.objects.get(user=user)
    assert hold.status == TokenHold.Status.HELD
    assert_books_balance(user, 10_000 - 300)  # set aside, and nothing will give it back

    age(hold, 16)
    out = release_stale()

    assert f"Released hold {hold.pk}: 300 tokens back to user {user.pk}" in out
    hold.refresh_from_db()
    assert hold.status == TokenHold.Status.RELEASED
    assert_books_balance(user, 10_000)
