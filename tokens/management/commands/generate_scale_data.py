from django.core.management.base import BaseCommand, CommandError

from tokens.scale_data import ScaleDataError, generate


class Command(BaseCommand):
    help = (
        "Fill a MariaDB database with synthetic users, subscriptions, payments, ledger and "
        "usage rows by bulk SQL, consistent (balance == ledger sum, never negative), for the "
        "scale benchmark. What it writes: tokens/scale_data.py. Refuses a database with "
        "users unless --append. Never run it against a production database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=1_000_000)
        parser.add_argument(
            "--ledger-rows",
            type=int,
            default=10_000_000,
            help="ledger rows in all; a usage row is written for each debit among them",
        )
        parser.add_argument(
            "--append",
            action="store_true",
            help="add to a database that has users (keeps key checks on: much slower)",
        )

    def handle(self, *args, users: int, ledger_rows: int, append: bool, **options):
        self.stdout.write(f"Generating {users:,} users and {ledger_rows:,} ledger rows…")
        try:
            made = generate(
                users=users, ledger_rows=ledger_rows, append=append, log=self.stdout.write
            )
        except ScaleDataError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"{made.users:,} users ({made.paid_users:,} paid), {made.payments:,} payments, "
                f"{made.ledger_rows:,} ledger rows, {made.usage_rows:,} usage rows "
                f"in {made.seconds:.0f} s."
            )
        )
