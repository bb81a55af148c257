from django.core.management.base import BaseCommand, CommandError

from tokens.sync import fix_null_balances, run_and_store


class Command(BaseCommand):
    help = (
        "Check every wallet: the monitoring queries of the operations handbook and "
        "balance == ledger sum. Exits 1 when any balance drifts from its ledger. "
        "--fix-null restores NULL balances (the ledger sum, else the plan allowance). "
        "Each run is stored for the admin's token sync report page."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix-null", action="store_true", help="restore NULL balances first")
        parser.add_argument("--limit", type=int, default=20, help="rows shown per section")

    def handle(self, *args, fix_null: bool, limit: int, **options):
        if fix_null:
            self.stdout.write(f"Restored {fix_null_balances()} NULL balance(s).")
        report, _ = run_and_store(ran_by="manage.py token_sync_report", limit=limit)
        self.stdout.write(self.style.MIGRATE_HEADING(f"Token sync report — {report.users} users"))
        for status, count in report.statuses.items():
            self.stdout.write(f"  {status:<16} {count:>10}")
        self._section("Largest limit − remaining (active subscriptions)", report.difference)
        self._section("Usage in the last 24 hours", report.recent_usage)
        self._section("NULL balances (run with --fix-null)", report.null_balances)
        self._section("Drift: balance ≠ ledger sum", report.drift)
        if not report.clean:
            raise CommandError(f"{report.drift_count} user(s) drift from their ledger.")
        self.stdout.write(self.style.SUCCESS("OK: every balance equals its ledger sum."))

    def _section(self, title: str, rows: list[dict]) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"\n{title}: {len(rows)} shown"))
        for row in rows:
            self.stdout.write("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
