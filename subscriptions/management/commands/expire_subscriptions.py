from django.core.management.base import BaseCommand

from subscriptions.models import UserSubscription


class Command(BaseCommand):
    help = (
        "Drop paid subscriptions whose period has ended to the free plan (docs/rules.md, Expiry; "
        "EXPIRED_TOKENS_POLICY keep|forfeit). Idempotent; safe from cron on several hosts."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Expired {UserSubscription.expire_due()} subscription(s).")
