from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, InterfaceError, OperationalError, models, transaction
from django.utils import timezone

from volx.db import is_unavailable, retry_on_a_new_connection

# The largest balance a user can have: users.tokens_remaining and the ledger's
# balance_after are INT columns (MySQL's signed 32 bits).
MAX_BALANCE = 2**31 - 1


class LedgerEntry(models.Model):
    """One movement of a user's tokens. Rows are appended, never edited.

    For every user, SUM(delta) equals users.tokens_remaining (docs/rules.md, Balance equals the
    ledger) and each row's
    balance_after is the previous row's balance_after plus its delta.
    """

    class Kind(models.TextChoices):
        GRANT = "grant", "Plan grant"
        BONUS = "bonus", "Admin bonus"
        TAKEN_BACK = "taken_back", "Taken back by an admin"
        DEBIT = "debit", "Debit"
        HOLD = "hold", "Hold for an AI action"
        RELEASE = "release", "Hold released"
        REFUND = "refund", "Refund reversal"
        FORFEIT = "forfeit", "Forfeited"
        OPENING_BALANCE = "opening_balance", "Opening balance"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ledger_entries"
    )
    delta = models.IntegerField()
    balance_after = models.IntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reference = models.CharField(max_length=100, blank=True, default="")
    # NULL, not "": many entries have no key, and UNIQUE ignores NULLs. Compared exactly
    # (a binary collation on MySQL/MariaDB, migration 0008), as the keys are.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who caused the movement when it was not the user (an admin, for a bonus).",
    )
    note = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "token_ledger"
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"], name="token_ledger_unique_idempotency_key"
            ),
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="token_ledger_balance_not_negative"
            ),
        ]
        indexes = [
            # A user's entries in order, and with delta in the index, SUM(delta) per user
            # (the sync report's drift check) reads this index alone, never the rows.
            models.Index(fields=["user", "id", "delta"], name="token_ledger_user_delta_idx"),
            # The admin's "kind" filter: its count and rows (with the date filter too).
            models.Index(fields=["kind", "created_at"], name="token_ledger_kind_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.delta:+d} → {self.balance_after}"


class TokenHold(models.Model):
    """Tokens set aside for an AI action until it succeeds (settle) or fails (release)."""

    class Status(models.TextChoices):
        HELD = "held"
        SETTLED = "settled"
        RELEASED = "released"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    amount = models.IntegerField()
    action = models.CharField(max_length=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "token_holds"
        # The admin's "status" filter (finding holds still open).
        indexes = [models.Index(fields=["status", "created_at"], name="token_holds_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="token_holds_amount_positive"
            )
        ]

    def __str__(self) -> str:
        return f"hold {self.amount} for {self.action} ({self.status})"


class TokenUsage(models.Model):
    """What a user spent tokens on (the old system's table, columns kept)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_usage"
    )
    article = models.ForeignKey(
        "articles.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tokens_used = models.IntegerField()
    action = models.CharField(max_length=50)
    # What the AI provider itself reported, when it reports anything.
    provider_tokens = models.IntegerField(null=True, blank=True)
    # The result the tokens paid for, as text (find-image: its search queries, one a
    # line), so that a user finds it again on the usage page. Rows older than the
    # column, and spending that is not an AI action, have none. A database default too:
    # SQL written for the old table inserts rows without this column (docs: SPEC §4).
    result = models.TextField(blank=True, db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "token_usage_history"
        verbose_name_plural = "token usage"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tokens_used__gte=0), name="token_usage_tokens_used_not_negative"
            )
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="tuh_user_created_idx"),
            models.Index(fields=["created_at"], name="tuh_created_idx"),
            # The admin's "action" filter: its choices (DISTINCT action) and its counts.
            models.Index(fields=["action", "created_at"], name="tuh_action_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.tokens_used}"


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an `Idempotency-Key` header (docs/rules.md,
    Exactly once).

    UNIQUE(user, key) decides which of several concurrent duplicates runs: the one whose
    insert commits first. The others wait for it to be DONE and replay its answer. The
    HTTP side (fingerprints, waiting, replaying) is in `volx.idempotency`.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    # Keys are promised to clients for at least this long; older records may be replaced.
    RETENTION = timedelta(hours=24)
    # An in-progress record this old belongs to a process that died mid-request: no
    # request runs this long (AI actions time out in seconds), so it is taken over.
    ABANDONED_AFTER = timedelta(minutes=10)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # An exact string: `Click-x-A` is not `click-x-a` (a binary collation on MySQL/MariaDB,
    # migration 0008; not db_collation, which SQLite would refuse).
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="sha256 of the method, the path and the canonical JSON body."
    )
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    # Not auto_now_add: a replaced record starts a new retention period.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "idempotency_records"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_records_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"

    @classmethod
    def claim(cls, user, key: str, fingerprint: str) -> tuple["IdempotencyRecord | None", bool]:
        """Try to become the request that runs for (user, key).

        Returns (new in-progress record, True) when this call won, (the existing record,
        False) when another request holds the key, and (None, False) when the existing
        record was gone or outdated and has been cleared: the caller claims again.
        The insert commits on its own, so the other requests see it at once.

        An insert whose outcome is unknown (the connection lost before its answer) is
        undone before the error goes up, or the key would stay in progress, unowned,
        for ABANDONED_AFTER: the row, if it landed, is the one with this call's
        created_at to the microsecond, which no other request's has.
        """
        record = cls(user=user, key=key, fingerprint=fingerprint)
        try:
            with transaction.atomic():
                record.save(force_insert=True)
            return record, True
        except IntegrityError:
            pass
        except (OperationalError, InterfaceError) as error:
            if is_unavailable(error):
                mine = cls.objects.filter(
                    user=user, key=key, created_at=record.created_at, status=cls.Status.IN_PROGRESS
                )
                retry_on_a_new_connection(mine.delete)
            raise
        existing = cls.objects.filter(user=user, key=key).first()
        if existing is not None and existing.is_outdated():
            cls.objects.filter(pk=existing.pk).delete()
            return None, False
        return existing, False

    def is_outdated(self) -> bool:
        age = timezone.now() - self.created_at
        if self.status == self.Status.IN_PROGRESS:
            return age > self.ABANDONED_AFTER
        return age > self.RETENTION

    def complete(self, status_code: int, body) -> None:
        """Store the answer to replay; `body` must be JSON (what the client received)."""
        self.status = self.Status.DONE
        self.response_status = status_code
        self.response_body = body
        self.save(update_fields=["status", "response_status", "response_body"])

    def abandon(self) -> None:
        """Forget an in-progress request that ended without an answer worth replaying,
        so that a retry with the same key runs instead of waiting ABANDONED_AFTER; again
        on a new connection while the database is unavailable (most often the request
        failed with it, and its retry comes after Retry-After)."""
        pending = type(self).objects.filter(pk=self.pk, status=self.Status.IN_PROGRESS)
        retry_on_a_new_connection(pending.delete)

    @classmethod
    def purge_expired(cls) -> int:
        """Delete records past their retention (for a periodic job); returns how many."""
        deleted, _ = cls.objects.filter(created_at__lt=timezone.now() - cls.RETENTION).delete()
        return deleted


class SyncReportRun(models.Model):
    """A stored run of the token sync report, for the admin's page: on a million users the
    report takes seconds, too long to run on every page load. The command stores each
    run (cron), and so does the page's "Run now" button."""

    KEEP = 50  # the most recent runs kept; older ones are deleted as new ones are stored

    started_at = models.DateTimeField(db_index=True)
    seconds = models.FloatField(help_text="How long the report took.")
    ran_by = models.CharField(max_length=150, help_text="The command, or the admin who ran it.")
    report = models.JSONField(encoder=DjangoJSONEncoder, help_text="SyncReport.as_dict()")

    class Meta:
        db_table = "token_sync_runs"
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"sync report of {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def clean(self) -> bool:
        return bool(self.report.get("clean"))
