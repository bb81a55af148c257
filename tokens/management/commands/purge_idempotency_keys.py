from django.core.management.base import BaseCommand

from tokens.models import IdempotencyRecord


class Command(BaseCommand):
    help = (
        "Delete Idempotency-Key records older than their 24-hour retention. "
        "Idempotent; run it daily from cron."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {IdempotencyRecord.purge_expired()} expired key(s).")
