from django.core.management.base import BaseCommand

from subscriptions.models import UserSubscription


class Command(BaseCommand):
    help = (
        "E-mail the users whose paid plan ends within 7 days, and again within 1 day, and does "
        "not auto-renew (docs/rules.md, Expiry reminders). Each reminder once per plan "
        "period; safe from cron every hour on several hosts."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Queued {UserSubscription.send_expiry_reminders()} reminder(s).")
