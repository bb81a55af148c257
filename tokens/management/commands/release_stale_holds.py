from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tokens.models import TokenHold
from tokens.wallet import HoldClosed, Wallet

# An AI action settles or releases its hold within AI_TIMEOUT seconds (30 by default) of
# taking it; a hold still open after this long belongs to a process that died in between.
DEFAULT_MINUTES = 15


class Command(BaseCommand):
    help = (
        "Give back tokens set aside by AI actions that never finished: releases every "
        "token hold still open after --older-than-minutes (default 15). Idempotent; safe "
        "to run from cron on several hosts at once and alongside the app."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=DEFAULT_MINUTES,
            help="Release holds taken longer ago than this; it must exceed AI_TIMEOUT.",
        )

    def handle(self, *args, older_than_minutes: int, **options):
        if older_than_minutes * 60 <= settings.AI_TIMEOUT:
            raise CommandError(
                f"--older-than-minutes must exceed AI_TIMEOUT ({settings.AI_TIMEOUT:g} s): "
                "a younger hold may belong to an action that is still running."
            )
        cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
        stale = TokenHold.objects.filter(status=TokenHold.Status.HELD, created_at__lt=cutoff)
        released = 0
        for hold in stale.order_by("pk"):
            try:
                Wallet(hold.user_id).release(hold)
            except HoldClosed:
                continue  # settled late, or released by a run on another host
            released += 1
            self.stdout.write(
                f"Released hold {hold.pk}: {hold.amount} tokens back to user {hold.user_id} "
                f"({hold.action}, held since {hold.created_at.isoformat(timespec='seconds')})."
            )
        self.stdout.write(f"Released {released} stale hold(s).")
